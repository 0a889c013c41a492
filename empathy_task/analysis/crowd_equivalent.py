"""Judges calibrated to the crowd, and judge-rated sources in the crowd's units.

The steps around :mod:`empathy_task.analysis.calibration` (whose pure functions do the
statistics): a judge's ratings of the stored replies -> :class:`JudgeCalibration` (the fitted map,
its leave-one-source-out validation and the judge's report card), written to and read from a
small JSON file keyed by judge name, judge prompt version and data sha256; and an
:class:`~empathy_task.analysis.results.Analysis` plus calibrations -> crowd-equivalent rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from empathy_task.analysis import calibration as cal
from empathy_task.analysis import stats
from empathy_task.vocabulary import LABELS, RATINGS, STORED_SOURCES

if TYPE_CHECKING:
    from empathy_task.analysis.results import Analysis
    from empathy_task.ratings.judge_runs import JudgeRunStats

SCHEMA = "empathy-task-calibration/1"
KEY_FIELDS = ("judge", "judge_prompt_version", "data_sha256")


class CalibrationKeyError(ValueError):
    """A calibration file does not belong to the judge, prompt or data it is used with."""


@dataclass(frozen=True)
class JudgeCalibration:
    """One judge's calibration to the crowd: the counts it rests on, its validation and card."""

    judge: str
    judge_prompt_version: str
    data_sha256: str
    counts: dict[str, list[list[float]]]  # stored source -> judge (rows) x crowd (columns)
    smoothing: float = cal.DEFAULT_SMOOTHING
    card: dict[str, Any] = field(default_factory=dict)
    origin: str = ""

    @property
    def key(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in KEY_FIELDS}

    def tables(self) -> list[np.ndarray]:
        return [np.asarray(self.counts[s], dtype=float) for s in self.counts]

    def fit(self) -> cal.Calibration:
        return cal.fit_calibration(np.stack(self.tables()), smoothing=self.smoothing)

    def loso(self) -> cal.LosoResult:
        return cal.leave_one_source_out(
            {s: np.asarray(t, dtype=float) for s, t in self.counts.items()},
            smoothing=self.smoothing,
        )

    def to_json(self) -> dict[str, Any]:
        fit, loso = self.fit(), self.loso()
        return {
            "key": self.key,
            "reference": "crowd",
            "labels": list(LABELS),
            "smoothing": self.smoothing,
            "counts": self.counts,
            "p_crowd_given_judge": fit.p_crowd_given_judge.tolist(),
            "loso": [_loso_json(r) for r in loso.rows],
            "loso_rms_error": loso.rms_error,
            "card": self.card,
        }


def _loso_json(r: cal.LosoRow) -> dict[str, Any]:
    return {
        "source": r.source,
        "n": r.n,
        "crowd_good_rate": r.crowd_good_rate,
        "judge_good_rate": r.judge_good_rate,
        "calibrated_good_rate": r.calibrated_good_rate,
        "error": r.error,
        "crowd_distribution": dict(zip(LABELS, r.crowd_distribution)),
        "calibrated_distribution": dict(zip(LABELS, r.calibrated_distribution)),
    }


def counts_by_source(pairs: pd.DataFrame) -> dict[str, list[list[float]]]:
    """Judge x crowd counts per stored source, in the study's source order."""
    out = {}
    for source in STORED_SOURCES:
        part = pairs[pairs["source"] == source]
        if len(part):
            out[source] = cal.pair_counts(part["judge_rating"], part["crowd_rating"]).tolist()
    return out


def report_card(
    judge: str,
    pairs: pd.DataFrame,
    *,
    words: pd.DataFrame | None = None,
    run_stats: JudgeRunStats | None = None,
    repeats: pd.DataFrame | None = None,
    smoothing: float = cal.DEFAULT_SMOOTHING,
) -> dict[str, Any]:
    """The judge's report card (AlpacaEval's evaluator-leaderboard row, for the crowd)."""
    from empathy_task.resources import human_ceiling_kappa

    counts = counts_by_source(pairs)
    ag = cal.judge_agreement(pairs["judge_rating"], pairs["crowd_rating"])
    bias = cal.source_bias(counts)
    loso = cal.leave_one_source_out(counts, smoothing=smoothing) if len(counts) >= 2 else None
    rank = stats.rank_agreement(
        [b.crowd_good_rate for b in bias], [b.judge_good_rate for b in bias]
    )
    card: dict[str, Any] = {
        "judge": judge,
        "pairs": int(len(pairs)),
        "sources": list(counts),
        "exact_agreement": ag.exact,
        "kappa_quadratic": ag.kappa_quadratic,
        "alpha_ordinal": ag.alpha_ordinal,
        "human_ceiling_kappa": human_ceiling_kappa(),
        "loso_rms_error": loso.rms_error if loso else float("nan"),
        "loso_max_abs_error": loso.max_abs_error if loso else float("nan"),
        "same_order_as_crowd": rank.same_order if len(bias) >= 2 else None,
        "kendall_tau": rank.tau,
        "source_bias": [b._asdict() for b in bias],
        "parse_rate": float("nan"),
        "runs": 0,
        "input_tokens_per_1000": float("nan"),
        "output_tokens_per_1000": float("nan"),
        "seconds_per_1000": float("nan"),
        "length_bias": None,
        "repeatability": None,
    }
    if run_stats is not None and run_stats.asked:
        card.update(
            parse_rate=run_stats.parse_rate,
            runs=run_stats.runs,
            input_tokens_per_1000=run_stats.per_thousand(run_stats.input_tokens),
            output_tokens_per_1000=run_stats.per_thousand(run_stats.output_tokens),
            seconds_per_1000=run_stats.per_thousand(run_stats.seconds),
        )
    if words is not None:
        joined = pairs.merge(words, on=["source", "dialog_id"], how="inner")
        if len(joined):
            lb = cal.length_bias(joined["judge_rating"], joined["crowd_rating"], joined["words"])
            card["length_bias"] = {
                "n": lb.n,
                "odds_ratio_per_doubling": lb.odds_ratio_per_doubling,
                "ci": list(lb.ci),
                "p": lb.pvalue,
            }
    if repeats is not None:
        mine = repeats[repeats["judge"] == judge]
        if len(mine):
            rep = cal.repeatability(mine["first"], mine["second"])
            card["repeatability"] = rep._asdict()
    return card


def calibrate_judges(
    table: pd.DataFrame,
    log_paths: Sequence[str | os.PathLike[str]] = (),
    *,
    data: str | os.PathLike[str] | None = None,
    smoothing: float = cal.DEFAULT_SMOOTHING,
    judges: Sequence[str] | None = None,
    origin: str = "",
) -> list[JudgeCalibration]:
    """A calibration for every judge in ``table`` that rated replies of two or more stored sources.

    ``log_paths`` (the logs among the inputs) give the card's parse rate, tokens, time and
    repeats, and the judge prompt version and data sha256 of the key (the package's own when no
    log names them; logs that disagree are an error).
    """
    from empathy_task.ratings.judge_runs import (
        judge_pairs,
        judge_run_stats,
        repeated_ratings,
        reply_words,
    )
    from empathy_task.resources import data_pin
    from empathy_task.task.prompts import JUDGE_PROMPT_VERSION

    pairs = judge_pairs(table)
    if judges is not None:
        pairs = pairs[pairs["judge"].isin(list(judges))]
    sources = pairs.groupby("judge")["source"].nunique()
    pairs = pairs[pairs["judge"].isin(sources.index[sources >= 2])]
    if pairs.empty:
        return []  # before reading any log again: nothing to calibrate
    run_stats = judge_run_stats(log_paths) if log_paths else {}
    repeats = repeated_ratings(log_paths) if log_paths else None
    words = reply_words(data)
    out = []
    for judge, part in pairs.groupby("judge", sort=False):
        counts = counts_by_source(part)
        if len(counts) < 2:
            continue
        rs = run_stats.get(str(judge))
        versions = rs.judge_prompt_versions if rs else ()
        shas = rs.data_sha256 if rs else ()
        if len(versions) > 1 or len(shas) > 1:
            raise CalibrationKeyError(
                f"the logs of judge {judge} disagree on the judge prompt version "
                f"({', '.join(versions)}) or the data ({', '.join(shas)}): calibrate each apart"
            )
        out.append(
            JudgeCalibration(
                judge=str(judge),
                judge_prompt_version=versions[0] if versions else JUDGE_PROMPT_VERSION,
                data_sha256=shas[0] if shas else data_pin().sha256,
                counts=counts,
                smoothing=smoothing,
                card=report_card(
                    str(judge),
                    part,
                    words=words,
                    run_stats=rs,
                    repeats=repeats,
                    smoothing=smoothing,
                ),  # fmt: skip
                origin=origin,
            )
        )
    return out


# --- the calibration file -----------------------------------------------------------------------


def calibration_json(calibrations: Sequence[JudgeCalibration]) -> str:
    """The calibration file's text: every judge's calibration, keyed by its :data:`KEY_FIELDS`."""
    from empathy_task.report.report_json import _json_safe

    doc = {"schema": SCHEMA, "calibrations": [c.to_json() for c in calibrations]}
    return json.dumps(_json_safe(doc), indent=1, allow_nan=False) + "\n"


def read_calibration(path: str | os.PathLike[str]) -> list[JudgeCalibration]:
    """The calibrations in a file written by ``empathy-task calibrate`` (errors name the file)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such calibration file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{p}: not a calibration file (invalid JSON: {e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"{p}: not a calibration file (schema is not {SCHEMA!r})")
    out = []
    for i, entry in enumerate(doc.get("calibrations") or []):
        try:
            key = entry["key"]
            counts = {
                str(s): [[float(x) for x in row] for row in t] for s, t in entry["counts"].items()
            }
            unknown = [s for s in counts if s not in STORED_SOURCES]
            bad = [s for s, t in counts.items() if np.asarray(t).shape != (len(RATINGS),) * 2]
            if unknown or bad or len(counts) < 2:
                raise ValueError("counts need 3 x 3 tables of two or more stored sources")
            out.append(
                JudgeCalibration(
                    judge=str(key["judge"]),
                    judge_prompt_version=str(key["judge_prompt_version"]),
                    data_sha256=str(key["data_sha256"]),
                    counts=counts,
                    smoothing=float(entry.get("smoothing", cal.DEFAULT_SMOOTHING)),
                    card=dict(entry.get("card") or {}),
                    origin=str(p),
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{p}: calibration {i + 1} is malformed ({e})") from None
    if not out:
        raise ValueError(f"{p}: the file holds no calibration")
    return out


def check_calibration_key(
    c: JudgeCalibration, judges: Sequence[str], prompt_versions: Sequence[str] = ()
) -> None:
    """Refuse a calibration that is not of a judge in the inputs, this judge prompt or this data.

    ``prompt_versions``: the judge prompt versions the inputs' logs name (besides the package's).
    """
    from empathy_task.resources import data_pin
    from empathy_task.task.prompts import JUDGE_PROMPT_VERSION

    where = c.origin or "the calibration"
    if c.judge not in judges:
        raise CalibrationKeyError(
            f"{where}: calibrates judge {c.judge!r}, but no input holds that judge's ratings "
            f"(judges in the inputs: {', '.join(judges) or 'none'})"
        )
    versions = {JUDGE_PROMPT_VERSION, *prompt_versions}
    if versions != {c.judge_prompt_version}:
        raise CalibrationKeyError(
            f"{where}: made with judge prompt {c.judge_prompt_version!r}, but the ratings use "
            f"{', '.join(sorted(versions))}: a judge's scale depends on its prompt; re-run "
            "the validation task and `empathy-task calibrate`"
        )
    if c.data_sha256 != data_pin().sha256:
        raise CalibrationKeyError(
            f"{where}: made against data {c.data_sha256[:12]}…, not the pinned authors' CSV "
            f"({data_pin().sha256[:12]}…)"
        )


# --- crowd-equivalent rows ----------------------------------------------------------------------


#: Resamples of the stored sources' pairs for the LOSO errors' sampling variances (a variance,
#: not a quantile: a few hundred are plenty).
TRANSFER_RESAMPLES = 1000


def transfer_warnings(est: cal.CrowdEquivalent) -> list[str]:
    """Why a crowd-equivalent interval rests on thin ground: few sources, extrapolation."""
    out = []
    if est.calibrating_sources == 2:
        out.append(
            "only 2 stored sources calibrate: the transfer error rests on 2 leave-one-source-out "
            "errors (1 degree of freedom), and the interval covered 0.85-0.90 instead of 0.95 "
            "when the judge-crowd relation differs between sources (benchmarks/results.md)"
        )
    if est.extrapolation > 0:
        out.append(
            f"extrapolates: the judge's Good rate of this source lies {100 * est.extrapolation:.1f} "
            "points outside the calibrating sources' range, where the transfer error was not "
            "measured"
        )
    return out


def crowd_equivalent_rows(
    a: Analysis, calibrations: Sequence[JudgeCalibration]
) -> list[dict[str, Any]]:
    """One row per (calibrated judge, judge-rated source that is not a stored source).

    Stored sources have crowd ratings of their own (and their out-of-sample predictions are the
    calibration's leave-one-source-out table), so they get no crowd-equivalent row.
    """
    from empathy_task.ratings.judge_runs import stored_source
    from empathy_task.resources import published_good_counts, registry

    base_good = int(published_good_counts()["human"])
    base_n = int(registry()["reference_results"]["n"])
    g = a.overall_groups()
    o = a.options
    rows = []
    for c in calibrations:
        loso = c.loso()
        tables = c.tables()
        rng = np.random.default_rng(o.seed)
        # One bootstrap of the calibration per judge, shared by its sources' intervals.
        draws = cal.bootstrap_calibration(
            tables, smoothing=c.smoothing, resamples=o.resamples, seed=rng
        )
        # The between-source spread of the transfer error, known to k - 1 df (issue 23).
        transfer = cal.transfer_error(
            {s: np.asarray(t, dtype=float) for s, t in c.counts.items()},
            smoothing=c.smoothing,
            resamples=min(o.resamples, TRANSFER_RESAMPLES),
            seed=rng,
        )
        part = g[g["rater_kind"] == c.judge].sort_values("good_rate", ascending=False)
        for r in part.to_dict("records"):
            if stored_source(str(r["source"])) is not None or not r["n"]:
                continue
            est = cal.crowd_equivalent(
                tables,
                [r[label] for label in LABELS],
                loso_rms=loso.rms_error,
                baseline_good=base_good,
                baseline_n=base_n,
                smoothing=c.smoothing,
                confidence=o.confidence,
                resamples=o.resamples,
                seed=rng,
                calibration_draws=draws,
                transfer=transfer,
            )
            rows.append(
                {
                    "source": str(r["source"]),
                    "judge": c.judge,
                    "good_rate": est.good_rate,
                    "good_rate_ci": list(est.good_rate_ci),
                    "rel_increase_good": est.rel_increase_good,
                    "rel_increase_good_ci": list(est.rel_increase_good_ci),
                    "counts": dict(zip(LABELS, est.counts)),
                    "n": int(r["n"]),
                    "distribution": dict(zip(LABELS, est.distribution)),
                    "mean_rating": float(np.dot(est.distribution, RATINGS)),
                    "judge_good_rate": float(r["good_rate"]),
                    "good_rate_bootstrap_ci": list(est.good_rate_bootstrap_ci),
                    "loso_rms_error": est.loso_rms,
                    "calibrating_sources": est.calibrating_sources,
                    "transfer_sd": est.transfer_sd,
                    "transfer_df": est.transfer_df,
                    "judge_good_range": list(transfer.judge_good_range),
                    "extrapolation": est.extrapolation,
                    "interval_method": est.method,
                    "warnings": transfer_warnings(est),
                    "baseline": {
                        "source": "human",
                        "rater": "crowd",
                        "good": base_good,
                        "n": base_n,
                    },
                    "calibration": c.origin,
                }
            )
    return rows


def with_calibrations(
    a: Analysis,
    table: pd.DataFrame,
    inputs: Sequence[str | os.PathLike[str]],
    calibration_files: Sequence[str | os.PathLike[str]] = (),
    *,
    data: str | os.PathLike[str] | None = None,
    prices: tuple[float, float] | None = None,
) -> Analysis:
    """The analysis with its judges' calibrations and crowd-equivalent rows.

    A judge whose ratings of two or more stored sources are in the inputs is calibrated from them
    (the crowd's ratings are the shipped ones); a calibration file given for a judge replaces that
    fit. Every file's key is checked against the inputs (:func:`check_calibration_key`).
    ``prices`` (per million input and output tokens) price the report card's 1,000 ratings.
    """
    from empathy_task.ratings.judge_runs import judge_run_stats
    from empathy_task.vocabulary import CROWD

    logs = [p for p in inputs if str(p).lower().endswith((".eval", ".json"))]
    judges = [k for k in a.rater_kinds if k != CROWD]
    if not judges:
        if calibration_files:
            raise CalibrationKeyError(
                "--calibration was given, but no input holds a judge's ratings"
            )
        return a
    stats_by_judge = judge_run_stats(logs) if logs and calibration_files else {}
    from_files: dict[str, JudgeCalibration] = {}
    for path in calibration_files:
        for c in read_calibration(path):
            rs = stats_by_judge.get(c.judge)
            check_calibration_key(c, judges, rs.judge_prompt_versions if rs else ())
            from_files[c.judge] = c
    fitted = calibrate_judges(table, logs, data=data, origin="fitted from the report's inputs")
    chosen = [c for c in fitted if c.judge not in from_files] + list(from_files.values())
    chosen.sort(key=lambda c: judges.index(c.judge) if c.judge in judges else len(judges))
    if not chosen:
        return a
    chosen = [replace(c, card=priced_card(c.card, prices)) for c in chosen]
    return replace(
        a,
        calibrations=tuple(chosen),
        crowd_equivalent=tuple(crowd_equivalent_rows(a, chosen)),
    )


def priced_card(card: dict[str, Any], prices: tuple[float, float] | None) -> dict[str, Any]:
    """The card with ``price_per_1000`` (the currency of ``prices``; NaN without prices)."""
    price = float("nan")
    if prices is not None:
        tin, tout = card.get("input_tokens_per_1000"), card.get("output_tokens_per_1000")
        if isinstance(tin, int | float) and isinstance(tout, int | float):
            price = (tin * prices[0] + tout * prices[1]) / 1e6
    return {**card, "price_per_1000": price, "prices_per_mtok": list(prices) if prices else None}
