"""Between models: the comparisons of the sources other than the baseline with each other.

The analysis already tests every pair of sources in every scope (``Analysis.comparisons``, rows with
``vs_baseline`` false), within one rater kind and with p-values adjusted within their family (one
rater kind x one test x one level). This module picks those pairs out and says, per pair, at which
emotions each side has a significantly higher Good rate (the Good test, 2x2 with Yates' correction,
at the family-adjusted p), the paper's "some LLMs are significantly better at responding to
specific emotions compared to others" as a table a reader can scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The columns of :attr:`BetweenModels.rows`, in order (taken from the comparisons, plus ``better``).
ROW_COLUMNS: tuple[str, ...] = (
    "rater_kind",
    "a",
    "b",
    "scope",
    "level",
    "n_a",
    "n_b",
    "good_a",
    "good_b",
    "good_rate_a",
    "good_rate_b",
    "good_rate_difference",
    "rel_increase_good",
    "rel_increase_good_low",
    "rel_increase_good_high",
    "good_chi2",
    "good_p",
    "good_p_adjusted",
    "good_marker",
    "dist_chi2",
    "dist_p",
    "dist_p_adjusted",
    "dist_marker",
    "family_good",
    "better",
)


@dataclass(frozen=True)
class PairSummary:
    """One pair of models of one rater kind: overall Good rates and test, and the emotions where
    A's (``a_better``) or B's (``b_better``) Good rate is significantly higher."""

    rater_kind: str
    a: str
    b: str
    good_rate_a: float
    good_rate_b: float
    rel_increase_good: float
    good_p_adjusted: float
    good_marker: str
    better: str  # overall: "A", "B" or ""
    a_better: tuple[str, ...]
    b_better: tuple[str, ...]
    emotions_tested: int  # emotions with a Good p-value


@dataclass(frozen=True)
class BetweenModels:
    """The comparisons between the models: per rater kind its models (``sources``), the pairs'
    summaries, and every pair's rows in every scope (:data:`ROW_COLUMNS`).

    ``better`` is ``"A"`` or ``"B"`` where that side's Good rate is higher at
    ``good_p_adjusted < alpha`` (p adjusted with ``correction`` within ``family_good``), else
    empty. The relative increase (B over A, percent) has the comparisons' Katz log interval
    (:func:`~empathy_task.analysis.stats.relative_increase_ci`), which treats the ratings as
    independent (the rater-cluster bootstrap interval is computed against the baseline only).
    """

    correction: str
    alpha: float
    sources: dict[str, tuple[str, ...]]
    pairs: tuple[PairSummary, ...]
    rows: pd.DataFrame
    families: tuple[str, ...]


def between_models(
    comparisons: pd.DataFrame,
    correction: str,
    *,
    alpha: float = 0.05,
) -> BetweenModels:
    """The pairs of non-baseline sources in ``comparisons`` (the analysis' frame), summarised.

    Sources are in the comparisons' order (a rater kind's order of appearance, the baseline
    left out); a kind with fewer than two models has no pairs.
    """
    c = comparisons
    if c.empty:
        frame = pd.DataFrame(columns=list(ROW_COLUMNS))
        return BetweenModels(correction, alpha, {}, (), frame, ())
    frame = c[~c["vs_baseline"].to_numpy(dtype=bool)].copy()
    # The comparisons' own Katz interval of B over A (every comparison has one).
    frame["good_rate_difference"] = frame["good_rate_b"].to_numpy(float) - frame[
        "good_rate_a"
    ].to_numpy(float)
    p = frame["good_p_adjusted"].to_numpy(float)
    significant = np.nan_to_num(p, nan=1.0) < alpha
    higher_b = frame["good_rate_b"].to_numpy(float) > frame["good_rate_a"].to_numpy(float)
    better = np.where(significant, np.where(higher_b, "B", "A"), "")
    frame["better"] = pd.Series(better, index=frame.index, dtype=object)
    frame = frame[list(ROW_COLUMNS)].reset_index(drop=True)

    sources: dict[str, tuple[str, ...]] = {}
    kinds, firsts, seconds = (frame[k].to_numpy(dtype=object) for k in ("rater_kind", "a", "b"))
    for kind in dict.fromkeys(kinds):
        mine = kinds == kind
        sources[str(kind)] = tuple(dict.fromkeys([*firsts[mine], *seconds[mine]]))
    # One pass over the rows (a report of fifty sources has 1,176 pairs x 35 scopes).
    codes = frame.groupby(["rater_kind", "a", "b"], sort=False).ngroup().to_numpy()
    n_pairs = int(codes.max()) + 1 if len(codes) else 0
    level = frame["level"].to_numpy(dtype=object)
    emo = level == "emotion"
    tested = np.bincount(codes[emo & ~np.isnan(p)], minlength=n_pairs)
    wins: list[tuple[list[str], list[str]]] = [([], []) for _ in range(n_pairs)]
    scopes = frame["scope"].to_numpy(dtype=object)
    for row in np.flatnonzero(emo & significant):
        wins[codes[row]][0 if better[row] == "A" else 1].append(_emotion(scopes[row]))
    head_of = np.full(n_pairs, -1)
    overall = np.flatnonzero(level == "overall")
    head_of[codes[overall]] = overall
    first_of = np.full(n_pairs, -1)
    first_of[codes[::-1]] = np.arange(len(codes))[::-1]
    records = frame.iloc[np.where(head_of >= 0, head_of, first_of)].to_dict("records")
    pairs = []
    for code, r in enumerate(records):
        has = head_of[code] >= 0  # a pair with no overall row has no overall numbers
        pairs.append(
            PairSummary(
                rater_kind=str(r["rater_kind"]),
                a=str(r["a"]),
                b=str(r["b"]),
                good_rate_a=float(r["good_rate_a"]) if has else np.nan,
                good_rate_b=float(r["good_rate_b"]) if has else np.nan,
                rel_increase_good=float(r["rel_increase_good"]) if has else np.nan,
                good_p_adjusted=float(r["good_p_adjusted"]) if has else np.nan,
                good_marker=str(r["good_marker"] or "") if has else "",
                better=str(r["better"]) if has else "",
                a_better=tuple(wins[code][0]),
                b_better=tuple(wins[code][1]),
                emotions_tested=int(tested[code]),
            )
        )
    families = tuple(dict.fromkeys(str(f) for f in frame["family_good"] if isinstance(f, str)))
    return BetweenModels(correction, alpha, sources, tuple(pairs), frame, families)


def _emotion(scope: str) -> str:
    return scope.split(":", 1)[1]


def wins_matrix(result: BetweenModels, rater_kind: str) -> tuple[tuple[str, ...], np.ndarray]:
    """``(models, wins)``: ``wins[i, j]`` counts the emotions where model i's Good rate is
    significantly higher than model j's (for the between-models figure)."""
    models = result.sources.get(rater_kind, ())
    index = {m: i for i, m in enumerate(models)}
    wins = np.zeros((len(models), len(models)), dtype=np.int64)
    for p in result.pairs:
        if p.rater_kind != rater_kind:
            continue
        i, j = index[p.a], index[p.b]
        wins[i, j] += len(p.a_better)
        wins[j, i] += len(p.b_better)
    return models, wins
