"""What the task's tests share: run the task through Inspect, read a log's metrics."""

from __future__ import annotations

import os
from typing import Any

from inspect_ai import eval as inspect_eval

from empathy_task.task.empathy_task import empathy_task


def run_task(model: str, grader: Any, **task_args: Any) -> Any:
    """One successful ``empathy_task`` run of ``model`` judged by ``grader``; its log."""
    [log] = inspect_eval(
        empathy_task(**task_args),
        model=model,
        model_roles={"grader": grader},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success", log.error
    return log


def metric_values(log: Any) -> dict[str, Any]:
    """The log's metrics by name (its one scorer's)."""
    [score] = log.results.scores
    return {k: m.value for k, m in score.metrics.items()}
