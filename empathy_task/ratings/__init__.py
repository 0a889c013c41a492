"""The rating table, the one interface between producers of ratings and the reporter.

- :mod:`.table`: the schema and its validation (naming file, row and column);
- :mod:`.files`: CSV, JSONL and Parquet through one suffix dispatch, bounded readers, the writer;
- :mod:`.logs`: Inspect logs -> ratings and replies;
- :mod:`.replies`: the one reader of replies made elsewhere (reply tables, lm-eval samples);
- :mod:`.posthoc`: judging those replies with the task's judge;
- :mod:`.inputs`: the reporter's inputs of every kind as one rating table.
"""

from empathy_task.ratings.files import read_rating_table, write_rating_table
from empathy_task.ratings.table import (
    RATING_COLUMNS,
    RatingTableError,
    study_rating_table,
    validate_rating_table,
)

__all__ = [
    "RATING_COLUMNS",
    "RatingTableError",
    "read_rating_table",
    "study_rating_table",
    "validate_rating_table",
    "write_rating_table",
]
