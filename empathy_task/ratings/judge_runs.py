"""A judge's ratings of the stored replies, and what its runs cost, read for calibration.

The inputs of a calibration (docs/design.md, "Judge calibration"): logs of the
``empathy_judge_validation`` task (the judge is the model under test), ``empathy_task`` logs whose
model replays a stored source (``empathy/human`` etc. are the stored sources), and any rating
table with the judge as rater. :func:`judge_pairs` pairs each judge rating of a stored reply with
the crowd's rating of it (the shipped ``human_baseline/crowd_ratings.csv``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from empathy_task.vocabulary import CROWD, STORED_SOURCES, rater_kinds

logger = logging.getLogger(__name__)

VALIDATION_TASK = "empathy_judge_validation"
VALIDATION_SCORER = "judge_agreement"
PAIR_COLUMNS = ("judge", "source", "dialog_id", "judge_rating", "crowd_rating")


def is_validation_log(task_name: str) -> bool:
    """Whether a log's task is the judge validation task."""
    return task_name.split("/")[-1] == VALIDATION_TASK


def stored_source(name: str) -> str | None:
    """The stored source a source name stands for (``empathy/human`` is ``human``), or None."""
    if name in STORED_SOURCES:
        return name
    if name.startswith("empathy/") and name.split("/", 1)[1] in STORED_SOURCES:
        return name.split("/", 1)[1]
    return None


def _rating(value: Any) -> int | None:
    if isinstance(value, int | float) and not math.isnan(value):
        return int(value)
    return None


def validation_rating_rows(log: Any, epoch: int | None = 1) -> list[dict[str, Any]]:
    """Rating-table rows of a validation log (``epoch=None``: every epoch, with ``epoch``)."""
    rows = []
    for sample in log.samples or []:
        if epoch is not None and sample.epoch != epoch:
            continue
        score = (sample.scores or {}).get(VALIDATION_SCORER)
        if score is None or not isinstance(score.value, dict):
            continue
        rating = _rating(score.value.get("rating"))
        if rating is None:
            continue
        md = sample.metadata
        row = {
            "dialog_id": md["dialog_id"],
            **{k: md[k] for k in ("emotion", "sentiment", "plutchik", "part_no")},
            "source": md["source"],
            "rater": log.eval.model,
            "rating": rating,
        }
        if epoch is None:
            row["epoch"] = sample.epoch
        rows.append(row)
    return rows


def judge_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """Every judge rating of a stored reply beside the crowd's rating of the same reply.

    Columns :data:`PAIR_COLUMNS`; ``source`` is the stored name. A reply rated twice by one judge
    (an ``empathy/human`` log carries the human replies twice) counts once, the first rating.
    """
    from empathy_task.data.study import crowd_ratings

    kinds = rater_kinds(table["rater"])
    judged = table.loc[kinds != CROWD, ["rater", "source", "dialog_id", "rating"]].copy()
    judged["judge"] = kinds[kinds != CROWD]
    judged["source"] = judged["source"].map(stored_source)
    judged = judged.dropna(subset=["source"])
    judged = judged.drop_duplicates(["judge", "source", "dialog_id"])
    crowd = crowd_ratings().rename(columns={"rating": "crowd_rating"})
    out = judged.merge(crowd[["dialog_id", "source", "crowd_rating"]], on=["dialog_id", "source"])
    out = out.rename(columns={"rating": "judge_rating"})
    return out[list(PAIR_COLUMNS)].reset_index(drop=True)


@dataclass(frozen=True)
class JudgeRunStats:
    """What a judge's logged runs asked of it: ratings, parsed answers, tokens and time."""

    judge: str
    runs: int
    asked: int  # replies put to the judge
    parsed: int  # answers that gave a rating
    input_tokens: int
    output_tokens: int
    seconds: float  # wall time of the runs (cache hits included)
    judge_prompt_versions: tuple[str, ...]
    data_sha256: tuple[str, ...]

    @property
    def parse_rate(self) -> float:
        return self.parsed / self.asked if self.asked else float("nan")

    def per_thousand(self, value: float) -> float:
        return value / self.asked * 1000 if self.asked else float("nan")


def _log_paths(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    return [str(p) for p in paths if str(p).lower().endswith((".eval", ".json"))]


def judge_run_stats(paths: Sequence[str | os.PathLike[str]]) -> dict[str, JudgeRunStats]:
    """Per judge, over the validation and ``empathy_task`` logs among ``paths``."""
    from empathy_task.ratings.logs import is_empathy_log, read_log

    acc: dict[str, dict[str, Any]] = {}
    for path in _log_paths(paths):
        log = read_log(path)
        task = log.eval.task
        if is_validation_log(task):
            judged = [(log.eval.model, VALIDATION_SCORER, ("rated",))]
        elif is_empathy_log(task):
            judged = _empathy_judges(log)
        else:
            continue
        for judge, scorer, keys in judged:
            _add_run(acc, log, judge, scorer, keys)
    return {
        judge: JudgeRunStats(
            judge,
            a["runs"],
            a["asked"],
            a["parsed"],
            a["in"],
            a["out"],
            a["s"],
            tuple(a["v"]),
            tuple(a["d"]),
        )  # fmt: skip
        for judge, a in acc.items()
    }


def _empathy_judges(log: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    """(judge, scorer, keys) of an ``empathy_task`` log: the ``grader`` role's judge, and with a
    panel (several judge scorers) the judge each scorer names in its scores."""
    from empathy_task.ratings.logs import judge_scorers

    keys = ("rated", "human_rated")
    scorers = judge_scorers(log)
    if len(scorers) > 1:
        out = []
        for scorer in scorers:
            for sample in log.samples or []:
                score = (sample.scores or {}).get(scorer)
                if score is not None and (score.metadata or {}).get("judge"):
                    out.append((str(score.metadata["judge"]), scorer, keys))
                    break
        return out
    roles = log.eval.model_roles or {}
    grader = roles.get("grader")
    if grader is None:
        return []
    return [((grader[0] if isinstance(grader, list) else grader).model, "empathy_judge", keys)]


def _add_run(
    acc: dict[str, dict[str, Any]], log: Any, judge: str, scorer: str, keys: tuple[str, ...]
) -> None:
    # A panel's judges ran side by side: each is charged the run's whole wall time.
    a = acc.setdefault(
        judge,
        {"runs": 0, "asked": 0, "parsed": 0, "in": 0, "out": 0, "s": 0.0, "v": [], "d": []},
    )
    a["runs"] += 1
    for sample in log.samples or []:
        score = (sample.scores or {}).get(scorer)
        if score is None or not isinstance(score.value, dict):
            continue
        for key in keys:
            v = score.value.get(key)
            if isinstance(v, int | float) and not math.isnan(v):
                a["asked"] += 1
                a["parsed"] += int(v == 1.0)
    usage = (log.stats.model_usage or {}).get(judge)
    if usage is not None:
        a["in"] += usage.input_tokens
        a["out"] += usage.output_tokens
    if log.stats.started_at and log.stats.completed_at:
        start = pd.Timestamp(log.stats.started_at)
        end = pd.Timestamp(log.stats.completed_at)
        a["s"] += (end - start).total_seconds()
    md = log.eval.metadata or {}
    for key, into in (("judge_prompt_version", "v"), ("data_sha256", "d")):
        if md.get(key) and md[key] not in a[into]:
            a[into].append(str(md[key]))


def repeated_ratings(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Pairs of ratings of the same stored reply by the same judge, asked twice.

    Repeats are epochs of a validation run (Inspect caches each epoch apart) and ratings in two
    validation runs whose calls were not cache hits (a cached answer repeats itself and says
    nothing about the judge). Columns ``judge, source, dialog_id, first, second``.
    """
    from inspect_ai.event import ModelEvent

    from empathy_task.ratings.logs import read_log

    rows = []
    for run, path in enumerate(_log_paths(paths)):
        log = read_log(path)
        if not is_validation_log(log.eval.task):
            continue
        for sample in log.samples or []:
            score = (sample.scores or {}).get(VALIDATION_SCORER)
            rating = (
                _rating(score.value.get("rating"))
                if score and isinstance(score.value, dict)
                else None
            )
            if rating is None:
                continue
            cached = any(
                isinstance(e, ModelEvent) and e.cache == "read" for e in (sample.events or [])
            )
            rows.append(
                (log.eval.model, sample.metadata["source"], sample.metadata["dialog_id"],
                 run, sample.epoch, cached, rating)
            )  # fmt: skip
    out_columns = ["judge", "source", "dialog_id", "first", "second"]
    if not rows:
        return pd.DataFrame(columns=out_columns)
    frame = pd.DataFrame(
        rows, columns=["judge", "source", "dialog_id", "run", "epoch", "cached", "rating"]
    )
    # A cache hit repeats the answer it was served from: it is not a second rating.
    frame = frame[~frame["cached"].astype(bool)]
    frame = frame.sort_values(["run", "epoch"], kind="stable")
    key = ["judge", "source", "dialog_id"]
    first = frame.drop_duplicates(key, keep="first")
    rest = frame[frame.duplicated(key, keep="first")].drop_duplicates(key, keep="first")
    pairs = first.merge(rest, on=key, suffixes=("_1", "_2"))
    return pd.DataFrame(
        {
            "judge": pairs["judge"],
            "source": pairs["source"],
            "dialog_id": pairs["dialog_id"],
            "first": pairs["rating_1"],
            "second": pairs["rating_2"],
        }
    )


def reply_words(data: str | os.PathLike[str] | None = None) -> pd.DataFrame | None:
    """Words per stored reply (``source, dialog_id, words``), or None without the authors' CSV."""
    from empathy_task.data.fetch import DataError
    from empathy_task.data.study import load_study

    try:
        study = load_study(data, allow_download=False)
    except (DataError, FileNotFoundError) as e:
        logger.info("no reply lengths (length bias not measured): %s", e)
        return None
    parts = [
        pd.DataFrame(
            {
                "source": s,
                "dialog_id": study["dialog_id"],
                "words": study[f"reply_{s}"].astype(str).str.split().str.len(),
            }
        )
        for s in STORED_SOURCES
        if f"reply_{s}" in study.columns  # the second file's sources only when it is here
    ]
    return pd.concat(parts, ignore_index=True)
