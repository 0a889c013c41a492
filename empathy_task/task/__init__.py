"""The task: what Inspect runs, from the prompt set to the judge's scores.

- :mod:`.empathy_task`: the ``empathy_task`` Inspect task and its parameters;
- :mod:`.dataset`: the prompt set as Inspect samples and as a Hugging Face dataset;
- :mod:`.prompts`: every text sent to a model (generation and judge prompts, their versions);
- :mod:`.scorer`: the ``empathy_judge`` scorer, one blind judge call per reply;
- :mod:`.verdict`: a judge's answer read into a rating, and replies that address the judge flagged;
- :mod:`.metrics`: the Inspect metrics over the scorer's scores;
- :mod:`.provider`: the ``empathy`` model provider (replayed sources, the mock judge);
- :mod:`.export_hook`: ``-T export=`` at the end of a run.

Inspect imports this package in every run of every task (through ``empathy_task._registry``), so it
imports nothing heavy here: the task itself (for the register's lint), no pandas, plotting or web app.
"""

# The register lints the package that holds the task file (this one) and asks that it export the
# task. Inspect's entry point imports the task module anyway, so the export costs a run nothing.
from empathy_task.task.empathy_task import empathy_task

__all__ = ["empathy_task"]
