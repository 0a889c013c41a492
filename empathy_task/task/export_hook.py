"""``-T export=DIR``: write the rating table when an ``empathy_task`` run ends.

A convenience over ``empathy-task export`` (the dependable path): Inspect's hooks are global to
every task in the process, so this acts only for this package's task and only when asked; it does
not fire when the task fails. The task registers the hook only when ``export`` is set
(:func:`register_export_hook`), so other runs in the environment neither load nor announce it.
"""

from __future__ import annotations

import logging

from inspect_ai.hooks import Hooks, TaskEnd, hooks

logger = logging.getLogger(__name__)


class EmpathyExportHook(Hooks):
    async def on_task_end(self, data: TaskEnd) -> None:
        spec = data.log.eval
        target = (spec.task_args or {}).get("export")
        if not target:
            return
        from empathy_task.ratings.logs import is_empathy_log

        if not is_empathy_log(spec.task) or not data.log.location:
            return
        from inspect_ai.log import read_eval_log

        from empathy_task.ratings.files import write_rating_table
        from empathy_task.ratings.logs import default_export_path, rating_table_from_logs

        # The log handed to the hook may hold only the header: read the samples from disk.
        log = read_eval_log(data.log.location)
        if log.status != "success":
            return
        out = default_export_path(data.log.location, str(target))
        write_rating_table(rating_table_from_logs([data.log.location]), out)
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
