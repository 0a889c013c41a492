"""A panel of judges: each calibrated to the crowd on its own, pooled in the crowd's units.

Pure functions in the manner of ``scipy.stats`` (arrays in, small named results out, no printing);
the reporter calls exactly these (docs/design.md, "Several judges").

**The estimate.** Judge ``j``'s calibration (:func:`empathy_task.analysis.calibration.fit_calibration`,
fitted on its own ratings of the stored replies) maps its label shares of a new source to a
crowd-equivalent Good rate ``g_j``; the panel's estimate is ``sum_j w_j g_j`` with weights that
sum to 1. ``inverse_mse`` weights are ``1 / (rms_j^2 + mean_k rms_k^2)``, ``rms_j`` judge ``j``'s
leave-one-source-out RMS error: inverse-MSE weights shrunk half way towards equal ones, because a
handful of held-out sources measure each ``rms_j`` roughly. ``equal`` is the plain mean (PoLL's).

**Validation.** Leave one stored source out, nested: for the held-out source every judge is
fitted on the others, and the weights come from a leave-one-source-out run *within* those others
(with two others only, each judge's error on the other one), so the held-out source never chooses
the weights that predict it. The RMS of the panel's errors is its transfer error.

**The interval.** The judges rated the same replies, so their errors are correlated: a percentile
bootstrap resamples each stored source's calibration replies and the new source's prompts *with
every judge's rating of them together* (multinomial over the joint cells of all judges' labels,
and the crowd's), refits each judge's map in every draw, and resamples the crowd's human group
(binomial); the judges' covariance is in the draws. Each side is then widened in quadrature by the
panel's transfer error times a Student t quantile with as many degrees of freedom as held-out
sources (the RMS of ``k`` errors estimates their spread with ``k`` degrees of freedom), as the
single judge's interval is widened by its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as _sp

from empathy_task.analysis import calibration as cal

K = cal.K
GOOD = cal.GOOD_INDEX
WEIGHTINGS: tuple[str, ...] = ("inverse_mse", "equal")


def panel_weights(rms: Sequence[float], weighting: str = "inverse_mse") -> np.ndarray:
    """Weights summing to 1 from the judges' leave-one-source-out RMS errors (module docstring).

    A NaN error (a judge that could not be validated) gets equal weights for everyone.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}")
    r = np.asarray(rms, dtype=float)
    if r.ndim != 1 or r.size == 0:
        raise ValueError("a panel needs at least one judge")
    if weighting == "equal" or np.isnan(r).any():
        return np.full(r.size, 1.0 / r.size)
    mse = r**2
    w = 1.0 / (mse + mse.mean() + 1e-12)
    return w / w.sum()


def vote(ratings: npt.ArrayLike) -> np.ndarray:
    """The panel's label per reply on the judges' own scale: the median of the judges' ratings
    (rows: replies, columns: judges); an even panel whose two middle labels differ gives Okay
    (a half-way median, 1.5 or 2.5, lies beside Okay; Bad against Good is Okay already)."""
    r = np.asarray(ratings, dtype=float)
    if r.ndim != 2 or r.shape[1] == 0:
        raise ValueError("ratings must be (replies, judges)")
    med = np.median(r, axis=1)
    # A half-way median (2.5 or 1.5) lies between Okay and a neighbour: Okay.
    return np.where(med % 1 == 0, med, 2.0).astype(np.int64)


class PanelLosoRow(NamedTuple):
    """One held-out stored source: the crowd's Good rate, each judge's and the panel's prediction."""

    source: str
    n: float
    crowd_good_rate: float
    judge_calibrated_good_rates: tuple[float, ...]
    weights: tuple[float, ...]
    panel_good_rate: float
    error: float  # panel - crowd


class PanelLoso(NamedTuple):
    rows: tuple[PanelLosoRow, ...]
    rms_error: float
    max_abs_error: float
    judge_rms_errors: tuple[float, ...]  # each judge's own leave-one-source-out RMS error


def _tables(counts: Sequence[Mapping[str, npt.ArrayLike]]) -> tuple[list[str], np.ndarray]:
    """Stored sources and a (judges, sources, 3, 3) array; every judge must have every source."""
    if not counts:
        raise ValueError("a panel needs at least one judge")
    sources = list(counts[0])
    for c in counts[1:]:
        if sorted(c) != sorted(sources):
            raise ValueError("every judge of a panel must have rated the same stored sources")
    return sources, np.array([[np.asarray(c[s], dtype=float) for s in sources] for c in counts])


def _predict(tables: np.ndarray, fit_on: list[int], target: np.ndarray, smoothing: float) -> float:
    fit = cal.fit_calibration(tables[fit_on], smoothing=smoothing)
    return float(cal.predict_crowd(fit, target.sum(axis=1))[GOOD])


def _judge_errors(tables: np.ndarray, among: list[int], smoothing: float) -> np.ndarray:
    """(judges, len(among)) leave-one-out errors of each judge within the sources ``among``."""
    out = np.zeros((tables.shape[0], len(among)))
    for j, t in enumerate(tables):
        for i, held in enumerate(among):
            rest = [s for s in among if s != held]
            crowd = t[held].sum(axis=0)[GOOD] / t[held].sum()
            out[j, i] = _predict(t, rest, t[held], smoothing) - crowd
    return out


def panel_leave_one_source_out(
    counts_by_judge: Sequence[Mapping[str, npt.ArrayLike]],
    *,
    smoothing: float = cal.DEFAULT_SMOOTHING,
    weighting: str = "inverse_mse",
) -> PanelLoso:
    """Nested leave-one-source-out validation of the panel (module docstring).

    ``counts_by_judge``: per judge, its judge x crowd ``3 x 3`` counts per stored source (the same
    sources for every judge; the same replies, for a fair comparison of judges). Needs two
    sources; with two, the weights of each held-out prediction are equal (nothing is left to
    validate them on).
    """
    sources, tables = _tables(counts_by_judge)
    if len(sources) < 2:
        raise ValueError(
            "leave-one-source-out validation needs judge ratings of two stored sources"
        )
    idx = list(range(len(sources)))
    all_errors = _judge_errors(tables, idx, smoothing)
    rows = []
    for held in idx:
        rest = [s for s in idx if s != held]
        t = tables[0][held]
        crowd = float(t.sum(axis=0)[GOOD] / t.sum())
        preds = np.array([_predict(tj, rest, tj[held], smoothing) for tj in tables])
        if len(rest) >= 2:
            inner = _judge_errors(tables, rest, smoothing)
            w = panel_weights(np.sqrt((inner**2).mean(axis=1)), weighting)
        else:
            w = panel_weights([np.nan] * len(tables), weighting)
        pred = float(w @ preds)
        rows.append(
            PanelLosoRow(
                sources[held],
                float(t.sum()),
                crowd,
                tuple(float(x) for x in preds),
                tuple(float(x) for x in w),
                pred,
                pred - crowd,
            )
        )
    errors = np.array([r.error for r in rows])
    return PanelLoso(
        tuple(rows),
        float(np.sqrt(np.mean(errors**2))),
        float(np.max(np.abs(errors))),
        tuple(float(x) for x in np.sqrt((all_errors**2).mean(axis=1))),
    )


def fit_many(tables: npt.ArrayLike, smoothing: float = cal.DEFAULT_SMOOTHING) -> np.ndarray:
    """``P(crowd | judge)`` of many ``3 x 3`` tables at once (``(..., 3, 3)``): the map of
    :func:`empathy_task.analysis.calibration.fit_calibration`, vectorised for the bootstrap."""
    c = np.asarray(tables, dtype=float)
    pooled = c.sum(axis=-2)
    pooled = pooled / pooled.sum(axis=-1, keepdims=True)
    rows = c + smoothing * pooled[..., None, :]
    totals = rows.sum(axis=-1, keepdims=True)
    return np.where(totals > 0, rows / np.where(totals > 0, totals, 1.0), pooled[..., None, :])


def _cells(ratings: np.ndarray) -> np.ndarray:
    """Joint cell index of each row of ratings 1..3 (column c contributes ``(r - 1) 3^c``)."""
    powers = K ** np.arange(ratings.shape[1])
    return (ratings.astype(np.int64) - 1) @ powers


class PanelEstimate(NamedTuple):
    """A judge-rated source in the crowd's units, by a panel of calibrated judges."""

    n: int  # prompts every judge rated
    weights: tuple[float, ...]
    judge_good_rates: tuple[float, ...]  # each judge's calibrated (crowd-equivalent) Good rate
    good_rate: float
    good_rate_ci: tuple[float, float]
    good_rate_bootstrap_ci: tuple[float, float]  # before widening by the transfer error
    rel_increase_good: float  # percent, against the crowd's human baseline
    rel_increase_good_ci: tuple[float, float]
    judge_error_correlation: tuple[tuple[float, ...], ...]  # of the judges' bootstrap estimates
    loso_rms: float
    transfer_quantile: float
    confidence: float
    resamples: int


def panel_crowd_equivalent(
    calibration: Mapping[str, npt.ArrayLike],
    source_ratings: npt.ArrayLike,
    *,
    weights: npt.ArrayLike,
    loso_rms: float,
    loso_df: int,
    baseline_good: int,
    baseline_n: int,
    smoothing: float = cal.DEFAULT_SMOOTHING,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int | np.random.Generator | None = 0,
) -> PanelEstimate:
    """The panel's crowd-equivalent Good rate and relative increase, with intervals.

    ``calibration``: per stored source, an ``(n_s, J + 1)`` array of ratings 1..3 of its replies,
    the J judges' columns then the crowd's (only replies every judge rated); ``source_ratings``:
    ``(n, J)``, the judges' ratings of the new source's prompts, aligned by prompt. ``weights``
    and ``loso_rms`` come from :func:`panel_leave_one_source_out` (``loso_df``: its number of
    held-out sources; a NaN ``loso_rms`` leaves the interval unwidened).
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    new = np.asarray(source_ratings, dtype=np.int64)
    if new.ndim != 2 or not len(new):
        raise ValueError("the source has no ratings by every judge of the panel")
    n_judges = new.shape[1]
    w = np.asarray(weights, dtype=float)
    if w.shape != (n_judges,):
        raise ValueError("one weight per judge")
    cal_arrays = {s: np.asarray(a, dtype=np.int64) for s, a in calibration.items()}
    for s, arr in cal_arrays.items():
        if arr.ndim != 2 or arr.shape[1] != n_judges + 1 or not len(arr):
            raise ValueError(f"{s}: calibration ratings must be (replies, judges + crowd)")
    for arr in (new, *cal_arrays.values()):
        if not np.isin(arr, (1, 2, 3)).all():
            raise ValueError("ratings must be 1, 2 or 3")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def judge_tables(counts: np.ndarray) -> np.ndarray:
        """Joint counts (..., 3^(J+1)) -> per judge judge x crowd tables (..., J, 3, 3)."""
        shape = counts.shape[:-1]
        # Column c of the ratings is axis -1 - c after the reshape (C order, little-endian cells).
        cube = counts.reshape(*shape, *([K] * (n_judges + 1)))
        nd = len(shape)
        crowd_axis = nd  # the last column, the crowd, is the slowest-varying axis
        out = []
        for j in range(n_judges):
            axis_j = nd + n_judges - j
            keep = {crowd_axis, axis_j}
            drop = tuple(a for a in range(nd, nd + n_judges + 1) if a not in keep)
            t = cube.sum(axis=drop)  # (..., crowd, judge)
            out.append(np.swapaxes(t, -1, -2))
        return np.stack(out, axis=-3)

    def judge_shares(counts: np.ndarray) -> np.ndarray:
        """Joint counts (..., 3^J) of the new source -> per judge label shares (..., J, 3)."""
        shape = counts.shape[:-1]
        cube = counts.reshape(*shape, *([K] * n_judges))
        nd = len(shape)
        out = []
        for j in range(n_judges):
            axis_j = nd + n_judges - 1 - j
            drop = tuple(a for a in range(nd, nd + n_judges) if a != axis_j)
            out.append(cube.sum(axis=drop))
        s = np.stack(out, axis=-2)
        return s / s.sum(axis=-1, keepdims=True)

    n_cal_cells, n_new_cells = K ** (n_judges + 1), K**n_judges
    cal_counts = np.stack(
        [np.bincount(_cells(a), minlength=n_cal_cells) for a in cal_arrays.values()]
    ).astype(float)  # (sources, cells)
    new_counts = np.bincount(_cells(new), minlength=n_new_cells).astype(float)

    def good_rates(cal_c: np.ndarray, new_c: np.ndarray) -> np.ndarray:
        # Each judge's map fitted on every stored source together, as JudgeCalibration.fit().
        p = fit_many(judge_tables(cal_c).sum(axis=-4), smoothing)  # (..., J, 3, 3)
        return np.einsum("...jk,...jk->...j", judge_shares(new_c), p[..., GOOD])

    g = good_rates(cal_counts, new_counts)
    good = float(w @ g)
    base = baseline_good / baseline_n
    rel = (good - base) / base * 100.0

    boot_cal = np.stack(
        [
            rng.multinomial(int(c.sum()), c / c.sum(), size=resamples).astype(float)
            for c in cal_counts
        ],
        axis=1,
    )  # (B, sources, cells)
    boot_new = rng.multinomial(len(new), new_counts / len(new), size=resamples).astype(float)
    g_star = good_rates(boot_cal, boot_new)  # (B, J)
    good_star = g_star @ w
    base_star = rng.binomial(baseline_n, base, size=resamples) / baseline_n
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_star = (good_star - base_star) / base_star * 100.0
        corr = np.corrcoef(g_star, rowvar=False) if n_judges > 1 else np.ones((1, 1))
    tail = (1 - confidence) / 2
    q = [tail, 1 - tail]
    g_lo, g_hi = (float(x) for x in np.quantile(good_star, q))
    r_lo, r_hi = (float(x) for x in np.nanquantile(rel_star, q))
    quantile = float(_sp.t.ppf(1 - tail, max(int(loso_df), 1)))
    extra = 0.0 if np.isnan(loso_rms) else quantile * float(loso_rms)
    lo, hi = cal._widen(good, g_lo, g_hi, extra)
    rlo, rhi = cal._widen(rel, r_lo, r_hi, extra / base * 100.0)
    return PanelEstimate(
        n=int(len(new)),
        weights=tuple(float(x) for x in w),
        judge_good_rates=tuple(float(x) for x in g),
        good_rate=good,
        good_rate_ci=(max(lo, 0.0), min(hi, 1.0)),
        good_rate_bootstrap_ci=(g_lo, g_hi),
        rel_increase_good=rel,
        rel_increase_good_ci=(max(rlo, -100.0), rhi),
        judge_error_correlation=tuple(tuple(float(x) for x in row) for row in np.atleast_2d(corr)),
        loso_rms=float(loso_rms),
        transfer_quantile=quantile,
        confidence=confidence,
        resamples=resamples,
    )
