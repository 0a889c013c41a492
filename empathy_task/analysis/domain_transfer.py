"""Crowd units on a new domain: a judge's calibration, fitted on the study's prompts, applied to a
user's own prompt set is a *transfer*, and its interval says so.

The calibration (:mod:`empathy_task.analysis.calibration`) maps a judge's labels onto the crowd's
Bad/Okay/Good distribution, fitted on the stored replies to the study's EmpatheticDialogues
prompts; its leave-one-source-out error measures how well the map carries to a new *model* on
those prompts. On another domain (a clinic's or a support team's dialogues) the map can be off
in a way that error does not see. Where crowd ratings of some of the set's replies exist (the set's
``human_rating`` column, or returns of the study kit collected for a subsample), the transfer
error is measured there: for each source with crowd-rated replies, the calibrated prediction of
the crowd's Good rate on those replies against the crowd's observed Good rate; the RMS of those
differences (it includes the crowd sample's own noise, so it errs on the wide side) widens each
crowd-equivalent interval as a normal error in quadrature (:func:`widen_for_transfer`), on top of
the study-domain interval. Where no crowd rating of the set exists the error cannot be measured:
the rows say so and the report warns that the intervals understate the uncertainty.

The baseline of a set's crowd-equivalent relative increase is its own human replies (their crowd
ratings where the set gives them, else the judge's ratings of them in crowd units), never the
study's crowd human group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.stats as st

from empathy_task.analysis import calibration as cal
from empathy_task.analysis.results import Analysis
from empathy_task.vocabulary import CROWD, GOOD, HUMAN, LABELS, RATINGS, rater_kinds

#: Fewest crowd-rated replies of a source for its transfer error to count.
MIN_CROWD_REPLIES = 10


class SourceTransfer(NamedTuple):
    """One source's crowd-rated replies: the crowd's Good rate and the calibrated prediction."""

    source: str
    replies: int
    crowd_ratings: int
    crowd_good_rate: float
    calibrated_good_rate: float
    error: float  # calibrated - crowd


class TransferError(NamedTuple):
    """A calibration's measured error on a new domain (NaN where it could not be measured)."""

    rms_error: float
    crowd_ratings: int
    sources: tuple[SourceTransfer, ...]

    @property
    def measured(self) -> bool:
        return bool(self.sources)


def transfer_error(
    calibration: cal.Calibration,
    judge_counts: dict[str, Sequence[float]],
    crowd: dict[str, tuple[int, float, int]],
    *,
    min_replies: int = MIN_CROWD_REPLIES,
) -> TransferError:
    """The calibration's transfer error on a domain.

    ``judge_counts[source]``: the judge's Bad/Okay/Good counts of the source's crowd-rated
    replies; ``crowd[source]``: ``(replies, crowd Good rate (mean of the replies' Good shares),
    crowd ratings)`` of the same replies. Sources with fewer than ``min_replies`` are left out.
    """
    rows = []
    for source, (replies, crowd_rate, n_ratings) in crowd.items():
        counts = np.asarray(judge_counts.get(source, (0, 0, 0)), dtype=float)
        if replies < min_replies or counts.sum() <= 0:
            continue
        predicted = float(cal.predict_crowd(calibration, counts)[-1])
        rows.append(
            SourceTransfer(
                source, replies, n_ratings, crowd_rate, predicted, predicted - crowd_rate
            )
        )
    if not rows:
        return TransferError(float("nan"), 0, ())
    errors = np.array([r.error for r in rows])
    return TransferError(
        float(np.sqrt(np.mean(errors**2))), int(sum(r.crowd_ratings for r in rows)), tuple(rows)
    )


def widen_for_transfer(
    estimate: float,
    interval: tuple[float, float],
    error: float,
    confidence: float = 0.95,
    *,
    scale: float = 1.0,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> tuple[float, float]:
    """``interval`` widened on each side by the transfer ``error`` as a normal error in
    quadrature: ``lo = est - sqrt((est - lo)^2 + (z * error * scale)^2)``, likewise ``hi``;
    clipped to ``bounds``. A NaN error leaves the interval as it is."""
    low, high = interval
    if np.isnan(error):
        return low, high
    extra = float(st.norm.ppf(0.5 + confidence / 2)) * float(error) * scale
    lo = estimate - float(np.hypot(estimate - low, extra))
    hi = estimate + float(np.hypot(high - estimate, extra))
    return max(lo, bounds[0]), min(hi, bounds[1])


def _crowd_by_source(table: pd.DataFrame, crowd: np.ndarray) -> pd.DataFrame:
    """Per (source, dialog) the crowd rated: its share of Good ratings and how many."""
    part = table[crowd]
    good = (part["rating"].to_numpy() == GOOD).astype(float)
    return (
        part.assign(good=good)
        .groupby(["source", "dialog_id"], sort=False)["good"]
        .agg(["mean", "size"])
        .reset_index()
    )


def with_domain_transfer(a: Analysis, table: pd.DataFrame) -> Analysis:
    """The analysis of a user's prompt set with its crowd-equivalent rows as transfers.

    Replaces ``a.crowd_equivalent`` (which :func:`empathy_task.analysis.crowd_equivalent.
    with_calibrations` computed against the study's crowd human group) by one row per
    (calibrated judge, source the judge rated in the set), each with ``transfer``: the measured
    error (or that it was not measured), the crowd ratings it rests on, and the study-domain
    interval beside the widened one. Adds a note saying so.
    """
    if a.prompt_set is None or not a.calibrations:
        return a
    o = a.options
    kinds = rater_kinds(pd.Index(table["rater"].astype(str)))
    crowd = kinds == CROWD
    crowd_replies = _crowd_by_source(table, crowd)
    groups = a.overall_groups()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for c in a.calibrations:
        fit = c.fit()
        loso = c.loso()
        judged = table[(kinds == c.judge)]
        judge_counts: dict[str, list[float]] = {}
        crowd_of: dict[str, tuple[int, float, int]] = {}
        for source, reps in crowd_replies.groupby("source", sort=False):
            on = judged[
                (judged["source"] == source) & judged["dialog_id"].isin(set(reps["dialog_id"]))
            ]
            judge_counts[str(source)] = [float((on["rating"] == r).sum()) for r in RATINGS]
            crowd_of[str(source)] = (
                len(reps),
                float(reps["mean"].mean()),
                int(reps["size"].sum()),
            )
        transfer = transfer_error(fit, judge_counts, crowd_of)
        tables = c.tables()
        rng = np.random.default_rng(o.seed)
        draws = cal.bootstrap_calibration(
            tables, smoothing=c.smoothing, resamples=o.resamples, seed=rng
        )
        part = groups[groups["rater_kind"] == c.judge]
        by_source = {str(r["source"]): r for r in part.to_dict("records") if r["n"]}
        baseline = _baseline(a, by_source, fit, crowd_replies, groups)
        if baseline is None:
            notes.append(
                f"{c.judge}: no human replies in the prompt set rated by the judge or the crowd: "
                "no crowd-equivalent baseline."
            )
            continue
        base_rate, base_n, base_from = baseline
        for source, r in by_source.items():
            est = cal.crowd_equivalent(
                tables,
                [r[label] for label in LABELS],
                loso_rms=loso.rms_error,
                baseline_good=int(round(base_rate * base_n)),
                baseline_n=int(base_n),
                smoothing=c.smoothing,
                confidence=o.confidence,
                resamples=o.resamples,
                seed=rng,
                calibration_draws=draws,
            )
            ci = widen_for_transfer(
                est.good_rate, est.good_rate_ci, transfer.rms_error, o.confidence
            )
            rel_ci = widen_for_transfer(
                est.rel_increase_good,
                est.rel_increase_good_ci,
                transfer.rms_error,
                o.confidence,
                scale=100.0 / base_rate if base_rate > 0 else float("nan"),
                bounds=(-100.0, float("inf")),
            )
            rows.append(
                {
                    "source": source,
                    "judge": c.judge,
                    "good_rate": est.good_rate,
                    "good_rate_ci": list(ci),
                    "rel_increase_good": est.rel_increase_good,
                    "rel_increase_good_ci": list(rel_ci),
                    "counts": dict(zip(LABELS, est.counts)),
                    "n": int(r["n"]),
                    "distribution": dict(zip(LABELS, est.distribution)),
                    "mean_rating": float(np.dot(est.distribution, RATINGS)),
                    "judge_good_rate": float(r["good_rate"]),
                    "good_rate_bootstrap_ci": list(est.good_rate_bootstrap_ci),
                    "loso_rms_error": est.loso_rms,
                    "baseline": {
                        "source": HUMAN,
                        "rater": base_from,
                        "good_rate": base_rate,
                        "n": int(base_n),
                        "prompt_set": a.prompt_set["name"],
                    },
                    "calibration": c.origin,
                    "transfer": {
                        "from": "the study's prompts (EmpatheticDialogues)",
                        "to": a.prompt_set["name"],
                        "measured": transfer.measured,
                        "error": transfer.rms_error,
                        "crowd_ratings": transfer.crowd_ratings,
                        "sources": [s._asdict() for s in transfer.sources],
                        "good_rate_ci_study_domain": list(est.good_rate_ci),
                        "rel_increase_good_ci_study_domain": list(est.rel_increase_good_ci),
                    },
                }
            )
        notes.append(transfer_note(c.judge, a.prompt_set["name"], transfer))
    return dataclasses.replace(a, crowd_equivalent=tuple(rows), notes=(*a.notes, *notes))


def transfer_note(judge: str, prompt_set: str, transfer: TransferError) -> str:
    """What the report says about a calibration applied to a user's prompt set."""
    head = (
        f"Domain transfer: {judge}'s calibration to the crowd was fitted on the study's prompts "
        f"(EmpatheticDialogues) and is applied to the prompt set {prompt_set!r}, another domain."
    )
    if not transfer.measured:
        return (
            f"{head} Its transfer error is NOT measured (no crowd ratings of enough of this set's "
            "replies): the crowd-equivalent intervals carry only the study-domain error and "
            "understate the uncertainty. Collect crowd ratings of a subsample (empathy-task "
            "sheets --prompts, the rating app, import-returns) to measure it."
        )
    per = ", ".join(
        f"{s.source}: crowd {s.crowd_good_rate:.1%} vs calibrated {s.calibrated_good_rate:.1%} "
        f"on {s.replies} replies"
        for s in transfer.sources
    )
    return (
        f"{head} Measured transfer error (RMS of calibrated minus crowd Good rate on the "
        f"crowd-rated replies, {transfer.crowd_ratings} crowd ratings; {per}): "
        f"{transfer.rms_error:.3f}; every crowd-equivalent interval is widened by it."
    )


def _baseline(
    a: Analysis,
    judge_groups: dict[str, dict[str, Any]],
    fit: cal.Calibration,
    crowd_replies: pd.DataFrame,
    groups: pd.DataFrame,
) -> tuple[float, float, str] | None:
    """The set's human replies in crowd units: the crowd's own Good rate where it rated them,
    else the judge's ratings of them through the calibration."""
    crowd_human = groups[(groups["rater_kind"] == CROWD) & (groups["source"] == HUMAN)]
    human = judge_groups.get(HUMAN)
    if len(crowd_human):
        g = crowd_human.iloc[0]
        return float(g["Good"]) / float(g["n"]), float(g["n"]), CROWD
    if human is None:
        return None
    share = [human[label] for label in LABELS]
    return float(cal.predict_crowd(fit, share)[-1]), float(human["n"]), "judge, calibrated"
