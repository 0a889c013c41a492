"""The data: the authors' CSV found and verified, the study table, and the prompts a run selects.

- :mod:`.fetch`: where the CSV comes from (a path, ``EMPATHY_TASK_DATA``, the cache, a pinned download);
- :mod:`.study`: the study table, validated against the shipped manifest, and the crowd's ratings;
- :mod:`.selection`: emotions, valence and a seeded emotion-stratified sample.

The study text is read at run time and never shipped (docs/design.md, "Data rules").
"""

from empathy_task.data.fetch import DATA_ENV, FILE_NAME, DataError, cache_dir, resolve_data_file
from empathy_task.data.selection import select_prompts
from empathy_task.data.study import crowd_ratings, emotions, load_study, manifest

__all__ = [
    "DATA_ENV",
    "FILE_NAME",
    "DataError",
    "cache_dir",
    "crowd_ratings",
    "emotions",
    "load_study",
    "manifest",
    "resolve_data_file",
    "select_prompts",
]
