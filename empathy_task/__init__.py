"""empathy-task: the study of Welivita & Pu (2024) as an evaluation anyone can run on a new model.

The package is laid out by concern, in the order data flows (docs/design.md, "Layout"):
``data`` -> ``task`` -> ``ratings`` -> ``analysis`` -> ``report``, with ``study`` (the human-study kit)
and ``cli`` beside them, and ``vocabulary`` (the scale, valences, source and rater-kind names, the
pseudonyms) shared by all.

The names below are the public API. They are imported on first use: Inspect imports this package in
every run of every task, so importing it must not pull pandas, plotting or the web app.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from empathy_task.analysis import Analysis, AnalysisOptions, analyse
    from empathy_task.data import load_study, select_prompts
    from empathy_task.ratings import read_rating_table, write_rating_table
    from empathy_task.ratings.inputs import load_inputs
    from empathy_task.ratings.logs import rating_table_from_logs
    from empathy_task.report import render_report, write_report
    from empathy_task.task.empathy_task import empathy_task
    from empathy_task.task.scorer import empathy_judge

_API: dict[str, str] = {
    "empathy_task": "empathy_task.task.empathy_task",
    "empathy_judge": "empathy_task.task.scorer",
    "load_study": "empathy_task.data",
    "select_prompts": "empathy_task.data",
    "rating_table_from_logs": "empathy_task.ratings.logs",
    "read_rating_table": "empathy_task.ratings",
    "write_rating_table": "empathy_task.ratings",
    "load_inputs": "empathy_task.ratings.inputs",
    "analyse": "empathy_task.analysis",
    "Analysis": "empathy_task.analysis",
    "AnalysisOptions": "empathy_task.analysis",
    "render_report": "empathy_task.report",
    "write_report": "empathy_task.report",
}

__all__ = [
    "Analysis",
    "AnalysisOptions",
    "analyse",
    "empathy_judge",
    "empathy_task",
    "load_inputs",
    "load_study",
    "rating_table_from_logs",
    "read_rating_table",
    "render_report",
    "select_prompts",
    "write_rating_table",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'empathy_task' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
