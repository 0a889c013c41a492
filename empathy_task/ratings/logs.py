"""Inspect logs of ``empathy_task`` -> the rating table (and the replies, for human studies).

Model replies become rows with ``source`` = the model's name; the judge-rated human replies become
rows with ``source = human``; ``rater`` is the judge model's name in both. Unrated replies (an
unparsable judge answer, an empty reply, an errored sample) give no row: a failure is never a
rating. A run with ``-T judge_logprobs=true`` also gives the judge's answer probabilities
(``p_bad, p_okay, p_good``), empty in rows whose provider returned none.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from empathy_task.ratings.files import FORMATS
from empathy_task.ratings.table import (
    PROBABILITY_COLUMNS,
    RATING_COLUMNS,
    RatingTableError,
    validate_rating_table,
)
from empathy_task.vocabulary import HUMAN

logger = logging.getLogger(__name__)

SCORER = "empathy_judge"


def is_empathy_log(task_name: str) -> bool:
    """Whether a log's task is this package's task (``empathy_task`` or ``empathy_task/...``)."""
    return task_name.split("/")[-1] == "empathy_task"


def _samples(path: str | os.PathLike[str], epoch: int) -> Iterator[tuple[Any, Any]]:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    if not is_empathy_log(log.eval.task):
        raise RatingTableError(str(path), f"not an empathy_task log (task {log.eval.task!r})")
    for sample in log.samples or []:
        if sample.epoch == epoch:
            yield log, sample


def _grader(log: Any, origin: str) -> str:
    roles = log.eval.model_roles or {}
    grader = roles.get("grader")
    if grader is None:
        raise RatingTableError(origin, "the log has no grader model role")
    if isinstance(grader, list):
        grader = grader[0]
    return grader.model


def _rating(value: Any) -> int | None:
    if isinstance(value, int | float) and not math.isnan(value):
        return int(value)
    return None


def rating_rows(
    path: str | os.PathLike[str], epoch: int = 1, flagged: list[str] | None = None
) -> list[dict[str, Any]]:
    """Rating-table rows of one log (first epoch by default).

    ``flagged`` collects the dialog ids of replies the scorer flagged for addressing the judge
    (``reply_flags``, :func:`empathy_task.task.verdict.injection_flags`).
    """
    from inspect_ai.log import read_eval_log

    from empathy_task.ratings.judge_runs import is_validation_log, validation_rating_rows

    header = read_eval_log(str(path), header_only=True)
    if is_validation_log(header.eval.task):
        # The judge validation task: its model is the judge, its sources the stored ones.
        return validation_rating_rows(read_eval_log(str(path)), epoch)
    rows: list[dict[str, Any]] = []
    origin = str(path)
    for log, sample in _samples(path, epoch):
        score = (sample.scores or {}).get(SCORER)
        if score is None or not isinstance(score.value, dict):
            continue  # errored or unscored sample
        if flagged is not None and (score.metadata or {}).get("reply_flags"):
            flagged.append(str(sample.id))
        rater = _grader(log, origin)
        labels = {k: sample.metadata[k] for k in ("emotion", "sentiment", "plutchik", "part_no")}
        flags = _reply_flags(score.metadata)
        for source, prefix in ((log.eval.model, ""), (HUMAN, "human_")):
            rating = _rating(score.value.get(f"{prefix}rating"))
            if rating is not None:
                rows.append(
                    {
                        "dialog_id": str(sample.id),
                        **labels,
                        "source": source,
                        "rater": rater,
                        "rating": rating,
                        **_probabilities(score.value, prefix),
                        "flagged": flags[prefix],
                    }
                )
    return rows


def _reply_flags(metadata: dict[str, Any] | None) -> dict[str, bool | None]:
    """Whether the scorer flagged the model's and the human reply (None: not recorded, as in
    logs written before the scorer checked them)."""
    md = metadata or {}

    def flagged(key: str) -> bool | None:
        value = md.get(key)
        return None if value is None else bool(value)

    return {"": flagged("reply_flags"), "human_": flagged("human_reply_flags")}


def _probabilities(value: dict[str, Any], prefix: str) -> dict[str, float]:
    """The score's answer probabilities under ``prefix`` (the scorer's ``p_*`` keys), if any."""
    if not any(f"{prefix}{c}" in value for c in PROBABILITY_COLUMNS):
        return {}
    return {c: value.get(f"{prefix}{c}", math.nan) for c in PROBABILITY_COLUMNS}


def rating_table_from_logs(paths: Sequence[str | os.PathLike[str]], epoch: int = 1) -> pd.DataFrame:
    """The rating table of one or more ``empathy_task`` logs.

    The same human reply judged by the same judge in several logs is one rating: identical rows
    are kept once; conflicting ones (a judge run without cache at temperature > 0) keep the first
    and are reported on stderr.
    """
    flagged: list[str] = []
    rows = [row for p in paths for row in rating_rows(p, epoch, flagged)]
    if not rows:
        raise RatingTableError(", ".join(map(str, paths)), "no rated samples in the log(s)")
    with_probabilities = any(PROBABILITY_COLUMNS[0] in row for row in rows)
    columns = [*RATING_COLUMNS, *(PROBABILITY_COLUMNS if with_probabilities else ()), "flagged"]
    frame = pd.DataFrame(rows, columns=columns)
    # The same rating in two logs is one, whether or not both logs recorded its flag.
    frame = frame.drop_duplicates(subset=[c for c in columns if c != "flagged"])
    key = ["dialog_id", "source", "rater"]
    if with_probabilities:
        # The same rating from a run with probabilities and one without is one rating: keep the
        # row that has them (and the first of rows that differ in their probabilities only).
        first = frame[PROBABILITY_COLUMNS[0]].notna().sort_values(ascending=False, kind="stable")
        frame = frame.loc[first.index].drop_duplicates([*key, "rating"]).sort_index()
    conflicts = frame.duplicated(key)
    if conflicts.any():
        logger.warning(
            "%d rating(s) of the same reply by the same judge differ between logs; kept the first "
            "of each",
            int(conflicts.sum()),
        )
        frame = frame[~conflicts]
    if flagged:
        logger.warning(
            "%d scored repl%s addressed the judge (answer format or instructions; see "
            "reply_flags in the log)",
            len(flagged),
            "y" if len(flagged) == 1 else "ies",
        )
    table = validate_rating_table(frame, ", ".join(map(str, paths)))
    table.attrs["flagged_replies"] = len(flagged)
    return table


def replies_from_logs(paths: Sequence[str | os.PathLike[str]], epoch: int = 1) -> pd.DataFrame:
    """The model replies in one or more logs: columns ``dialog_id, source, reply``."""
    rows = []
    for p in paths:
        for log, sample in _samples(p, epoch):
            if sample.error is None and sample.output and sample.output.completion.strip():
                rows.append(
                    {
                        "dialog_id": str(sample.id),
                        "source": log.eval.model,
                        "reply": sample.output.completion,
                    }
                )
    return pd.DataFrame(rows, columns=["dialog_id", "source", "reply"])


def default_export_path(log_location: str, target: str) -> Path:
    """Where ``-T export=TARGET`` writes: TARGET itself if it names a table file, else a file in it."""
    t = Path(target)
    if t.suffix.lower() in FORMATS:
        return t
    stem = Path(log_location).name.rsplit(".", 1)[0]
    return t / f"{stem}.ratings.csv"
