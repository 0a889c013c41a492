"""The panel step: several calibrated judges pooled into one crowd-equivalent result.

Added to an :class:`~empathy_task.analysis.results.Analysis` after its calibrations
(:func:`empathy_task.analysis.crowd_equivalent.with_calibrations`), the way those add their rows:
the statistics are :mod:`empathy_task.analysis.panel`'s. A panel needs two or more calibrated
judges whose ratings of the same stored replies are among the inputs (a calibration file alone
keeps the counts, not which reply each judge rated, so it cannot show the judges' correlation).

Also here, for one judge or many: the self-preference check of every judge-rated source against
its judges (``task/judges.py``'s rules), and the panel without the judges that may favour it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from empathy_task.analysis import calibration as cal
from empathy_task.analysis import panel as pn
from empathy_task.analysis import stats
from empathy_task.task.judges import shared_origin
from empathy_task.vocabulary import CROWD, HUMAN, STORED_SOURCES, rater_kinds

if TYPE_CHECKING:
    from empathy_task.analysis.results import Analysis

logger = logging.getLogger(__name__)
JUDGE_SCALE_LABEL = "judge-scale (panel vote)"
# The card's cost columns: a panel asks every judge about every reply, so its cost is their sum.
COST_KEYS = (
    "input_tokens_per_1000",
    "output_tokens_per_1000",
    "seconds_per_1000",
    "price_per_1000",
)


def _first_epoch(table: pd.DataFrame) -> pd.DataFrame:
    if "epoch" not in table.columns:
        return table
    epoch = pd.to_numeric(table["epoch"], errors="coerce").fillna(1)
    return table[epoch == epoch.min()] if len(table) else table


def judge_ratings(table: pd.DataFrame, judges: Sequence[str]) -> pd.DataFrame:
    """The judges' ratings, one row per (source, dialog_id), one column per judge (first epoch);
    only prompts every judge rated."""
    kinds = pd.Series(rater_kinds(table["rater"]), index=table.index)
    part = _first_epoch(table[kinds.isin(list(judges))].assign(judge=kinds))
    wide = part.drop_duplicates(["judge", "source", "dialog_id"]).pivot_table(
        index=["source", "dialog_id"], columns="judge", values="rating", aggfunc="first"
    )
    return wide.reindex(columns=list(judges)).dropna().astype(int)


def calibration_ratings(table: pd.DataFrame, judges: Sequence[str]) -> dict[str, np.ndarray]:
    """Per stored source, ``(replies, judges + crowd)`` ratings of the replies every judge rated."""
    from empathy_task.ratings.judge_runs import judge_pairs

    pairs = judge_pairs(table)
    pairs = pairs[pairs["judge"].isin(list(judges))]
    wide = pairs.pivot_table(
        index=["source", "dialog_id"], columns="judge", values="judge_rating", aggfunc="first"
    ).reindex(columns=list(judges))
    crowd = pairs.drop_duplicates(["source", "dialog_id"]).set_index(["source", "dialog_id"])
    wide["crowd"] = crowd["crowd_rating"]
    wide = wide.dropna().astype(int)
    out = {}
    for source in STORED_SOURCES:
        if source in wide.index.get_level_values(0):
            out[source] = wide.loc[source].to_numpy()
    return out


def _counts(calib: dict[str, np.ndarray], j: int) -> dict[str, np.ndarray]:
    return {s: cal.pair_counts(a[:, j], a[:, -1]) for s, a in calib.items()}


def panel_result(
    calib: dict[str, np.ndarray],
    judges: Sequence[str],
    *,
    smoothing: float = cal.DEFAULT_SMOOTHING,
    weighting: str = "inverse_mse",
) -> dict[str, Any]:
    """The panel's validation: nested leave-one-source-out, weights, per-judge errors."""
    loso = pn.panel_leave_one_source_out(
        [_counts(calib, j) for j in range(len(judges))], smoothing=smoothing, weighting=weighting
    )
    weights = pn.panel_weights(loso.judge_rms_errors, weighting)
    return {
        "judges": list(judges),
        "weighting": weighting,
        "weights": dict(zip(judges, weights.tolist())),
        "loso": [
            {
                "source": r.source,
                "n": r.n,
                "crowd_good_rate": r.crowd_good_rate,
                "panel_good_rate": r.panel_good_rate,
                "error": r.error,
                "judge_calibrated_good_rates": dict(zip(judges, r.judge_calibrated_good_rates)),
                "weights": dict(zip(judges, r.weights)),
            }
            for r in loso.rows
        ],
        "loso_rms_error": loso.rms_error,
        "loso_max_abs_error": loso.max_abs_error,
        "judge_loso_rms_error": dict(zip(judges, loso.judge_rms_errors)),
        "_weights": weights,
        "_loso": loso,
    }


def _estimate_row(
    source: str,
    new: np.ndarray,
    calib: dict[str, np.ndarray],
    result: dict[str, Any],
    a: Analysis,
    rng: np.random.Generator,
) -> dict[str, Any]:
    from empathy_task.resources import published_good_counts, registry

    base_good = int(published_good_counts()["human"])
    base_n = int(registry()["reference_results"]["n"])
    o = a.options
    judges = result["judges"]
    est = pn.panel_crowd_equivalent(
        calib,
        new,
        weights=result["_weights"],
        loso_rms=result["loso_rms_error"],
        loso_df=len(result["loso"]),
        baseline_good=base_good,
        baseline_n=base_n,
        confidence=o.confidence,
        resamples=o.resamples,
        seed=rng,
    )
    return {
        "source": source,
        "judges": list(judges),
        "n": est.n,
        "good_rate": est.good_rate,
        "good_rate_ci": list(est.good_rate_ci),
        "good_rate_bootstrap_ci": list(est.good_rate_bootstrap_ci),
        "rel_increase_good": est.rel_increase_good,
        "rel_increase_good_ci": list(est.rel_increase_good_ci),
        "weights": dict(zip(judges, est.weights)),
        "judge_good_rates": dict(zip(judges, est.judge_good_rates)),
        "judge_error_correlation": [list(r) for r in est.judge_error_correlation],
        "loso_rms_error": est.loso_rms,
        "transfer_quantile": est.transfer_quantile,
        "baseline": {"source": HUMAN, "rater": CROWD, "good": base_good, "n": base_n},
    }


def _judge_scale_row(source: str, wide: pd.DataFrame) -> dict[str, Any]:
    """The panel vote's Good rate of a source and of the human replies to the same prompts
    (``wide``: :func:`judge_ratings`)."""
    mine = wide.loc[source] if source in wide.index.get_level_values(0) else wide.iloc[:0]
    human = wide.loc[HUMAN] if HUMAN in wide.index.get_level_values(0) else wide.iloc[:0]
    shared = mine.index.intersection(human.index)
    good = float((pn.vote(mine.loc[shared].to_numpy()) == 3).mean()) if len(shared) else np.nan
    h = float((pn.vote(human.loc[shared].to_numpy()) == 3).mean()) if len(shared) else np.nan
    rel = (good - h) / h * 100 if h else np.nan
    return {
        "source": source,
        "rater": JUDGE_SCALE_LABEL,
        "n_prompts": int(len(shared)),
        "good_rate": good,
        "human_good_rate": h,
        "rel_increase_good": rel,
    }


def _card(
    calib: dict[str, np.ndarray], result: dict[str, Any], cards: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The panel's row of the report card: its vote against the crowd, its LOSO error, its cost."""
    from empathy_task.resources import human_ceiling_kappa

    votes = np.concatenate([pn.vote(a[:, :-1]) for a in calib.values()])
    crowd = np.concatenate([a[:, -1] for a in calib.values()])
    ag = cal.judge_agreement(votes, crowd)
    bias = cal.source_bias(
        {s: cal.pair_counts(pn.vote(a[:, :-1]), a[:, -1]) for s, a in calib.items()}
    )
    rank = stats.rank_agreement(
        [b.crowd_good_rate for b in bias], [b.judge_good_rate for b in bias]
    )
    card: dict[str, Any] = {
        "judge": "panel: " + " + ".join(result["judges"]),
        "pairs": int(len(votes)),
        "sources": list(calib),
        "agreement_of": "the panel's vote (median label), judge-scale",
        "exact_agreement": ag.exact,
        "kappa_quadratic": ag.kappa_quadratic,
        "alpha_ordinal": ag.alpha_ordinal,
        "human_ceiling_kappa": human_ceiling_kappa(),
        "loso_rms_error": result["loso_rms_error"],
        "loso_max_abs_error": result["loso_max_abs_error"],
        "same_order_as_crowd": rank.same_order if len(bias) >= 2 else None,
        "kendall_tau": rank.tau,
        "source_bias": [b._asdict() for b in bias],
        "parse_rate": float("nan"),
        "cost": "the sum of its judges' (every judge rates every reply)",
    }
    for key in COST_KEYS:
        values = [c.get(key) for c in cards]
        ok = all(isinstance(v, int | float) for v in values)
        card[key] = float(sum(values)) if ok else float("nan")  # type: ignore[arg-type]
    return card


def self_preference_rows(a: Analysis) -> list[dict[str, Any]]:
    """Every (judge-rated source, judge) pair where the judge may favour the source."""
    from empathy_task.ratings.judge_runs import stored_source

    rows = []
    for judge in [k for k in a.rater_kinds if k != CROWD]:
        for source in a.sources.get(judge, ()):
            if source == HUMAN or stored_source(source) is not None:
                continue
            why = shared_origin(source, judge)
            if why:
                rows.append({"source": source, "judge": judge, "reason": why})
    return rows


def with_panel(
    a: Analysis,
    table: pd.DataFrame,
    *,
    weighting: str = "inverse_mse",
) -> Analysis:
    """The analysis with its judge panel (two or more calibrated judges) and self-preference.

    Every judge with a calibration and ratings of the stored replies joins the panel; the panel
    rests on the stored replies every one of them rated.
    """
    from empathy_task.ratings.judge_runs import stored_source

    prefs = self_preference_rows(a)
    for p in prefs:
        logger.warning(
            "self-preference: the judge %s %s (%s); the report marks it",
            p["judge"],
            p["reason"],
            p["source"],
        )
    a = replace(a, self_preference=tuple(prefs))
    cards = {c.judge: c.card for c in a.calibrations}
    judges = [j for j in cards if j in a.rater_kinds]
    if len(judges) < 2:
        return a
    calib = calibration_ratings(table, judges)
    if len(calib) < 2:
        return replace(
            a,
            notes=(
                *a.notes,
                "No judge panel: its judges did not all rate replies of two or more stored "
                "sources (a calibration file keeps counts, not which reply each judge rated).",
            ),
        )
    result = panel_result(calib, judges, weighting=weighting)
    rng = np.random.default_rng(a.options.seed)
    wide = judge_ratings(table, judges)
    rows, scale = [], []
    sources = [s for s in dict.fromkeys(wide.index.get_level_values(0)) if s != HUMAN]
    for source in sources:
        if stored_source(str(source)) is not None:
            continue
        new = wide.loc[source].to_numpy()
        row = _estimate_row(str(source), new, calib, result, a, rng)
        flagged = [p["judge"] for p in prefs if p["source"] == source and p["judge"] in judges]
        row["without"] = None
        if flagged:
            rest = [j for j in judges if j not in flagged]
            row["without"] = _without(str(source), rest, table, a, rng)
            row["self_preference_judges"] = flagged
        rows.append(row)
        scale.append(_judge_scale_row(str(source), wide))
    panel = {k: v for k, v in result.items() if not k.startswith("_")}
    panel |= {
        "card": _card(calib, result, [cards[j] for j in judges]),
        "crowd_equivalent": rows,
        "judge_scale": scale,
        "source_bias": [
            {"judge": j, **b} for j in judges for b in (cards[j].get("source_bias") or [])
        ],  # fmt: skip
    }
    return replace(a, panel=panel)


def _without(
    source: str, rest: list[str], table: pd.DataFrame, a: Analysis, rng: np.random.Generator
) -> dict[str, Any] | None:
    """The source's crowd-equivalent result by the judges that do not share its origin."""
    if len(rest) >= 2:
        calib = calibration_ratings(table, rest)
        if len(calib) < 2:
            return None
        result = panel_result(calib, rest)
        new = judge_ratings(table, rest).loc[source].to_numpy()
        return _estimate_row(source, new, calib, result, a, rng)
    if len(rest) == 1:
        for ce in a.crowd_equivalent:
            if ce["source"] == source and ce["judge"] == rest[0]:
                keys = ("source", "good_rate", "good_rate_ci", "rel_increase_good")
                return {**{k: ce[k] for k in keys}, "judges": rest, "n": ce["n"],
                        "rel_increase_good_ci": ce["rel_increase_good_ci"]}  # fmt: skip
    return None


__all__ = ["JUDGE_SCALE_LABEL", "panel_result", "self_preference_rows", "with_panel"]
