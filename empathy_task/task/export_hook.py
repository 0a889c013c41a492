"""``-T export=DIR`` or ``-T export=FILE``: write the rating table when an ``empathy_task`` run ends.

A convenience over ``empathy-task export`` (the dependable path): Inspect's hooks are global to
every task in the process, so this acts only for this package's task and only when asked; it does
not fire when the task fails. The task registers the hook only when ``export`` is set
(:func:`register_export_hook`), so other runs in the environment neither load nor announce it.

A table is never lost. In a folder each log gets its own file, named by the log. A file target
that already exists, or that two tasks of one run would both write (an eval-set, several
``--model``), is refused when the task is built, before any sample runs: Inspect turns an error
there into a failed run with a non-zero exit status, while an exception in a hook is only a
warning.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from inspect_ai.hooks import Hooks, RunStart, TaskEnd, hooks

logger = logging.getLogger(__name__)

TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".jsonl", ".parquet")

# File targets claimed by the tasks Inspect builds for one run (it builds every task, one per
# model, before any runs): a second claim of a file is a clash. Cleared when the run starts.
_claims: set[Path] = set()
_claims_lock = threading.Lock()


class ExportClashError(FileExistsError):
    """Two tables would go to one file: the second would be lost."""


def is_file_target(target: str) -> bool:
    """Whether ``-T export=TARGET`` names a table file (else a folder, one file per log)."""
    return Path(target).suffix.lower() in TABLE_SUFFIXES


# The target as the task read it when built (against the user's folder): the hook runs in the
# task's run folder, which the folder form sets to the task file's.
_resolved: dict[str, str] = {}


def resolved_target(target: str, *, building: bool = False) -> str:
    """``target`` against the user's folder: resolved anew while a task is built (``building``),
    then as the last build of a task with this target resolved it."""
    from empathy_task.task.paths import user_path

    if building or target not in _resolved:
        _resolved[target] = user_path(target)
    return _resolved[target]


def check_export_target(target: str) -> None:
    """Refuse a file target that exists or that another task of this run already claimed.

    Called when the task is built. Raises Inspect's ``PrerequisiteError`` (the run ends with its
    message and a non-zero exit status, before any sample runs).
    """
    path = Path(resolved_target(target, building=True)).resolve()  # for the hook, file or folder
    if not is_file_target(target):
        return
    from empathy_task.task.prerequisite import PrerequisiteError

    if path.exists():
        raise PrerequisiteError(
            f"empathy_task: -T export={target} exists; the run would not be able to write its "
            "table. Remove it, name another file, or export to a folder (-T export=DIR writes "
            "one file per log, named by the log)."
        )
    with _claims_lock:
        if path in _claims:
            # The run ends here, so the claim ends too (a later run may use the file).
            _claims.discard(path)
            raise PrerequisiteError(
                f"empathy_task: two tasks of this run (an eval-set, or several --model) would "
                f"write their tables to -T export={target}, and the second would be lost. Export "
                "to a folder instead (-T export=DIR writes one file per log, named by the log)."
            )
        _claims.add(path)


class EmpathyExportHook(Hooks):
    async def on_task_end(self, data: TaskEnd) -> None:
        spec = data.log.eval
        target = (spec.task_args or {}).get("export")
        if not target:
            return
        from empathy_task.ratings.logs import is_empathy_log

        if not is_empathy_log(spec.task) or not data.log.location:
            return
        self._export(data.log.location, resolved_target(str(target)))

    async def on_run_start(self, data: RunStart) -> None:
        # Every task of the run is built by now: the claims have done their work.
        with _claims_lock:
            _claims.clear()

    @staticmethod
    def _export(location: str, target: str) -> None:
        from inspect_ai.log import read_eval_log

        from empathy_task.ratings.files import write_rating_table
        from empathy_task.ratings.logs import default_export_path, rating_table_from_logs

        # The log handed to the hook may hold only the header: read the samples from disk.
        log = read_eval_log(location, header_only=True)
        if log.status != "success":
            logger.warning(
                "empathy-task: the run did not finish (status %r); no table written to %s. "
                "`empathy-task export %s --allow-incomplete` writes what it has.",
                log.status,
                target,
                location,
            )
            return
        out = default_export_path(location, target)
        if out.exists():
            # Only a Task object run for several models from Python (built once, so the claim
            # cannot see the second), or a file made while the run went, gets here: say so loudly.
            message = (
                f"empathy-task: error: {out} exists (another task of this run wrote it, or it was "
                f"made while the run went); this task's table was NOT written. Write it with "
                f"`empathy-task export {location} --out FILE`, and export to a folder "
                "(-T export=DIR: one file per log) when a run has several models."
            )
            logger.error(message)
            raise ExportClashError(message)
        write_rating_table(rating_table_from_logs([location]), out)
        logger.warning("empathy-task: wrote %s", out)  # Inspect shows warnings, not info


_registered = False


def register_export_hook() -> None:
    """Register :class:`EmpathyExportHook` with Inspect, once per process."""
    global _registered
    if not _registered:
        hooks(name="empathy_task_export", description="Writes the empathy_task rating table.")(
            EmpathyExportHook
        )
        _registered = True
