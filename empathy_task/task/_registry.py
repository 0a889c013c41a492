"""Inspect's entry point (``[project.entry-points.inspect_ai]``): :mod:`empathy_task._registry`.

The register lints the package that holds the listed task file, ``empathy_task/task``, and counts
the evaluation as registered only when the entry point names a module of that package: this one.
"""

from empathy_task._registry import empathy, empathy_judge, empathy_judge_validation, empathy_task

__all__ = ["empathy", "empathy_judge", "empathy_judge_validation", "empathy_task"]
