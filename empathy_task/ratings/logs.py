"""Inspect logs of ``empathy_task`` -> the rating table (and the replies, for human studies).

Model replies become rows with ``source`` = the model's name (with `` [vanilla]`` for the prompt
without the empathy definition, as lm-eval's path writes it); the judge-rated human replies become
rows with ``source = human``; ``rater`` is the judge model's name in both, and ``epoch`` the
Inspect epoch. Unrated replies (an
unparsable judge answer, an empty reply, an errored sample) give no row: a failure is never a
rating. A run with ``-T judge_logprobs=true`` also gives the judge's answer probabilities
(``p_bad, p_okay, p_good``), empty in rows whose provider returned none.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from empathy_task.ratings.files import FORMATS
from empathy_task.ratings.table import (
    PROBABILITY_COLUMNS,
    PROMPT_SET_COLUMNS,
    RATING_COLUMNS,
    STUDY_PROMPT,
    RatingTableError,
    combine_repeats,
    source_with_variant,
    validate_rating_table,
)
from empathy_task.vocabulary import HUMAN

logger = logging.getLogger(__name__)

SCORER = "empathy_judge"
# Inspect names a second scorer of the same name empathy_judge1, empathy_judge2, ... (``inspect
# score --action append``); a registry name may carry the package's namespace.
_JUDGE_SCORER = re.compile(r"^(?:.+/)?empathy_judge\d*$")


def is_empathy_log(task_name: str) -> bool:
    """Whether a log's task is this package's task (``empathy_task`` or ``empathy_task/...``)."""
    return task_name.split("/")[-1] == "empathy_task"


@dataclass(frozen=True)
class LogSummary:
    """How complete a log is: its status, the samples it should hold and those it holds whole."""

    path: str
    status: str
    expected: int
    complete: int

    @property
    def missing(self) -> int:
        return max(self.expected - self.complete, 0)

    def describe(self) -> str:
        return (
            f"status {self.status!r}, {self.complete} of {self.expected} samples complete "
            f"({self.missing} missing)"
        )


def _expected_samples(log: Any) -> int:
    spec = log.eval
    if spec.dataset.sample_ids is not None:
        n = len(spec.dataset.sample_ids)
    else:
        n = int(spec.dataset.samples or 0)
        limit = spec.config.limit
        if isinstance(limit, int):
            n = min(n, limit)
        elif isinstance(limit, list | tuple) and len(limit) == 2:
            n = min(n, int(limit[1]) - int(limit[0]))
    return n * int(spec.config.epochs or 1)


def log_summary(path: str | os.PathLike[str], log: Any) -> LogSummary:
    """The completeness of a log read with its samples."""
    complete = sum(1 for s in log.samples or [] if s.error is None)
    return LogSummary(str(path), str(log.status), _expected_samples(log), complete)


class IncompleteLogError(RatingTableError):
    """A log whose run did not finish: refused unless the caller allows incomplete logs."""


def read_log(path: str | os.PathLike[str], header_only: bool = False) -> Any:
    """An Inspect log, read once; a file that is not one is an error that names it."""
    from inspect_ai.log import read_eval_log

    try:
        return read_eval_log(str(path), header_only=header_only)
    except FileNotFoundError:
        raise
    except Exception as e:  # a truncated or foreign file: Inspect says only "EOCD not found"
        raise RatingTableError(
            str(path), f"not a readable Inspect log ({type(e).__name__}: {e})"
        ) from e


def _read_log(path: str | os.PathLike[str], allow_incomplete: bool) -> tuple[Any, LogSummary]:
    log = read_log(path)
    if not is_empathy_log(log.eval.task):
        raise RatingTableError(str(path), f"not an empathy_task log (task {log.eval.task!r})")
    summary = log_summary(path, log)
    if summary.status != "success":
        if not allow_incomplete:
            raise IncompleteLogError(
                str(path),
                f"the run did not finish ({summary.describe()}); finish it with `inspect "
                "eval-retry`, or pass --allow-incomplete to use the samples it has",
            )
        logger.info("%s: incomplete log, %s", path, summary.describe())
    return log, summary


def _samples(
    path: str | os.PathLike[str], epoch: int | None, allow_incomplete: bool = False
) -> Iterator[tuple[Any, Any]]:
    log, _ = _read_log(path, allow_incomplete)
    for sample in log.samples or []:
        if epoch is None or sample.epoch == epoch:
            yield log, sample


def judge_scorers(log: Any) -> list[str]:
    """The names of the judge's scores in a log, in the order Inspect wrote them.

    ``empathy_judge``, then ``empathy_judge1``, ... after ``inspect score --action append``.
    """
    names: dict[str, None] = {}
    if log.results is not None:
        names.update((s.name, None) for s in log.results.scores)
    for sample in log.samples or []:
        names.update((k, None) for k in sample.scores or {})
    return [n for n in names if _JUDGE_SCORER.match(n)]


def _grader(log: Any, origin: str) -> str:
    roles = log.eval.model_roles or {}
    grader = roles.get("grader")
    if grader is None:
        raise RatingTableError(origin, "the log has no grader model role")
    if isinstance(grader, list):
        grader = grader[0]
    return grader.model


def prompt_variant(log: Any) -> str:
    """The generation prompt a log's replies answered (``empathy``: the study's)."""
    variant = (log.eval.metadata or {}).get("prompt_variant")
    if variant is None:
        variant = (log.eval.task_args or {}).get("prompt") or STUDY_PROMPT
    return str(variant)


def _rating(value: Any) -> int | None:
    if isinstance(value, int | float) and not math.isnan(value):
        return int(value)
    return None


def rating_rows(
    path: str | os.PathLike[str],
    epoch: int | None = None,
    flagged: list[str] | None = None,
    *,
    scorer: str | None = None,
    allow_incomplete: bool = False,
    summaries: list[LogSummary] | None = None,
    scored: dict[tuple[str, str], list[int]] | None = None,
) -> list[dict[str, Any]]:
    """Rating-table rows of one log: every epoch (or ``epoch``), every judge scorer (or ``scorer``).

    The rater of a rating is the judge named in its score's metadata (what the scorer used, also
    after ``inspect score``), else the log's ``grader`` role (logs written before the scorer
    recorded it). Each row carries ``epoch`` and, for error messages, ``_place`` (log, sample,
    epoch and scorer). ``flagged`` collects the dialog ids of replies the scorer flagged for
    addressing the judge (``reply_flags``, :func:`empathy_task.task.verdict.injection_flags`).
    ``scored`` counts, per (judge, source), the replies scored and those of them rated: the
    parse rate beside each Good rate (an unrated reply gives no row).
    """
    from empathy_task.ratings.judge_runs import is_validation_log, validation_rating_rows

    header = read_log(path, header_only=True)
    if is_validation_log(header.eval.task):
        # The judge validation task: its model is the judge, its sources the stored ones.
        return validation_rating_rows(read_log(path), epoch)
    rows: list[dict[str, Any]] = []
    origin = str(path)
    log, summary = _read_log(path, allow_incomplete)
    if summaries is not None:
        summaries.append(summary)
    names = judge_scorers(log)
    if scorer is not None:
        if scorer not in names:
            raise RatingTableError(
                origin,
                f"no judge scorer {scorer!r} in the log (it has {', '.join(names) or 'none'})",
            )
        names = [scorer]
    source = source_with_variant(log.eval.model, prompt_variant(log))
    labels_of = ("emotion", "sentiment", "plutchik", "part_no")
    for sample in log.samples or []:
        if epoch is not None and sample.epoch != epoch:
            continue
        for name in names:
            score = (sample.scores or {}).get(name)
            if score is None or not isinstance(score.value, dict):
                continue  # errored or unscored sample
            metadata = score.metadata or {}
            if flagged is not None and metadata.get("reply_flags"):
                flagged.append(str(sample.id))
            rater = str(metadata.get("judge") or _grader(log, origin))
            labels = {k: sample.metadata[k] for k in labels_of}
            # A user's prompt set: its identity goes into every rating (README, "Your own
            # prompts"); the study's prompts leave the columns out.
            labels |= {k: sample.metadata[k] for k in PROMPT_SET_COLUMNS if k in sample.metadata}
            place = f"{origin}: sample {sample.id}, epoch {sample.epoch}, scorer {name}"
            flags = _reply_flags(metadata)
            for who, prefix in ((source, ""), (HUMAN, "human_")):
                rating = _rating(score.value.get(f"{prefix}rating"))
                if scored is not None and _rating(score.value.get(f"{prefix}rated")) is not None:
                    # Judged (rated 1 or 0); NaN: not asked (judge_human=false).
                    counts = scored.setdefault((rater, who), [0, 0])
                    counts[0] += 1
                    counts[1] += rating is not None
                if rating is not None:
                    rows.append(
                        {
                            "dialog_id": str(sample.id),
                            **labels,
                            "source": who,
                            "rater": rater,
                            "rating": rating,
                            "epoch": int(sample.epoch),
                            "_place": place,
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


def rating_table_from_logs(
    paths: Sequence[str | os.PathLike[str]],
    epoch: int | None = None,
    *,
    scorer: str | None = None,
    allow_incomplete: bool = False,
) -> pd.DataFrame:
    """The rating table of one or more ``empathy_task`` logs, with an ``epoch`` column.

    A rating is identified by (dialog, source, rater, epoch): the same human reply judged by the
    same judge in several logs (or by two scorers of one log) is one rating when the ratings
    agree, and an error naming both places when they differ. A log that did not finish is an
    :class:`IncompleteLogError` unless ``allow_incomplete``; then ``attrs["incomplete"]`` lists
    the :class:`LogSummary` of each such log. ``attrs["repeats"]`` counts ratings met more than
    once.
    """
    flagged: list[str] = []
    summaries: list[LogSummary] = []
    scored: dict[tuple[str, str], list[int]] = {}
    rows = [
        row
        for p in paths
        for row in rating_rows(
            p,
            epoch,
            flagged,
            scorer=scorer,
            allow_incomplete=allow_incomplete,
            summaries=summaries,
            scored=scored,
        )
    ]
    origin = ", ".join(map(str, paths))
    if not rows:
        raise RatingTableError(origin, "no rated samples in the log(s)")
    with_probabilities = any(PROBABILITY_COLUMNS[0] in row for row in rows)
    columns = [*RATING_COLUMNS, "epoch", "_place"]
    columns += [c for c in PROMPT_SET_COLUMNS if any(c in row for row in rows)]
    columns += [*(PROBABILITY_COLUMNS if with_probabilities else ()), "flagged"]
    frame = pd.DataFrame(rows, columns=columns)
    if with_probabilities:
        # The same rating from a run with probabilities and one without is one rating: keep the
        # row that has them (combine_repeats keeps the first of repeats).
        first = frame[PROBABILITY_COLUMNS[0]].notna().sort_values(ascending=False, kind="stable")
        frame = frame.loc[first.index]
    frame, repeats = combine_repeats(frame, lambda i: str(frame.at[i, "_place"]))
    frame = frame.sort_index().drop(columns="_place")
    if flagged:
        logger.warning(
            "%d scored repl%s addressed the judge (answer format or instructions; see "
            "reply_flags in the log)",
            len(flagged),
            "y" if len(flagged) == 1 else "ies",
        )
    table = validate_rating_table(frame, origin)
    table.attrs["flagged_replies"] = len(flagged)
    table.attrs["repeats"] = repeats
    table.attrs["incomplete"] = [s for s in summaries if s.status != "success"]
    # (judge, source, replies scored, replies rated) where the judge left some unrated.
    table.attrs["unrated"] = [(j, src, n, r) for (j, src), (n, r) in scored.items() if r < n]
    return table


def replies_from_logs(
    paths: Sequence[str | os.PathLike[str]], epoch: int = 1, *, allow_incomplete: bool = False
) -> pd.DataFrame:
    """The model replies of one epoch (the first by default) in one or more logs: columns
    ``dialog_id, source, reply``, the source named with its prompt variant."""
    rows = []
    for p in paths:
        for log, sample in _samples(p, epoch, allow_incomplete):
            if sample.error is None and sample.output and sample.output.completion.strip():
                rows.append(
                    {
                        "dialog_id": str(sample.id),
                        "source": source_with_variant(log.eval.model, prompt_variant(log)),
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
