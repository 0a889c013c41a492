"""Inspect's entry point: the task, the scorer and the ``empathy`` provider.

Inspect imports this module at the start of every run of every task, so it stays light: the
provider's heavy imports happen only when an ``empathy/...`` model is created. The export hook is
not registered here: Inspect announces every registered hook in every run (``hooks enabled: 1``),
so the task registers it only in a run that asks for ``-T export=``.
"""

from inspect_ai import task
from inspect_ai.model import modelapi

from empathy_task.task.empathy_task import empathy_task
from empathy_task.task.judge_validation import TASK_NAME, judge_validation
from empathy_task.task.prerequisite import says_why
from empathy_task.task.scorer import empathy_judge

# Registered by a call, not a decorator: `inspect eval empathy_task` from the repo root scans the
# folder for decorated tasks and would run this one too (docs/design.md, "Offline facts").
empathy_judge_validation = task(name=TASK_NAME)(says_why(judge_validation))


@modelapi(name="empathy")
def empathy():  # noqa: ANN201 - Inspect's provider factory protocol
    from empathy_task.task.provider import EmpathyProvider

    return EmpathyProvider


__all__ = ["empathy", "empathy_judge", "empathy_judge_validation", "empathy_task"]
