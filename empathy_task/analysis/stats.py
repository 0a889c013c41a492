"""The study's statistics as pure functions of counts and arrays, in the manner of ``scipy.stats``.

Nothing here prints, reads files or needs pandas. Ratings are 1 = Bad, 2 = Okay, 3 = Good; a
source's ratings are summarised as counts ``[Bad, Okay, Good]``. Functions that take counts accept
arrays of them (the last axis holding the three categories) so that the reporter can test
thousands of tables in one call.

The method (docs/design.md, "The method"):

- relative increase in Good, ``(good_b - good_a) / good_a * 100``;
- the 2x2 chi-squared test of Good vs not Good with Yates' correction
  (``scipy.stats.chi2_contingency``'s default) and the 2x3 test of the Bad/Okay/Good distribution;
- what the paper lacks: Cramer's V, bootstrap confidence intervals, multiple-comparison correction,
  power and sample size, agreement between raters, and rater quality from the TEQ.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as _sp

from empathy_task.study import teq
from empathy_task.vocabulary import RATINGS

#: 1-based TEQ items scored in reverse (Spreng et al., 2009).
REVERSE_KEYED_ITEMS: tuple[int, ...] = tuple(sorted(teq.REVERSE_KEYED))
TEQ_ITEMS = teq.N_ITEMS
#: Raw TEQ answer from which a rater "often or always" agrees with an item (0 Never .. 4 Always).
OFTEN = 3

Correction = Literal["none", "holm", "bh"]
CORRECTIONS: tuple[str, ...] = ("none", "holm", "bh")
_MULTIPLETESTS_METHOD = {"holm": "holm", "bh": "fdr_bh"}

SeedLike = int | np.random.Generator | None


# --- counts -------------------------------------------------------------------------------------


class RatingSummary(NamedTuple):
    """Counts of a group's ratings and what follows from them (arrays for a stack of groups)."""

    n: Any
    bad: Any
    okay: Any
    good: Any
    good_rate: Any
    mean_rating: Any


def rating_counts(ratings: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``[Bad, Okay, Good]`` counts of an array of ratings in 1..3."""
    r = np.asarray(ratings, dtype=np.int64).ravel()
    if r.size and (r.min() < 1 or r.max() > 3):
        raise ValueError("ratings must be 1 (Bad), 2 (Okay) or 3 (Good)")
    return np.bincount(r, minlength=4)[1:]


def summarise_counts(counts: npt.ArrayLike) -> RatingSummary:
    """Summary of ``[Bad, Okay, Good]`` counts, or of a stack ``[..., 3]`` of them.

    Rates are NaN for an empty group. One group gives Python numbers; a stack gives arrays (the
    report's groups are summarised this way, all at once).
    """
    c = np.asarray(counts, dtype=np.int64)
    if c.shape[-1:] != (3,):
        raise ValueError("counts must end in an axis of 3: Bad, Okay, Good")
    n = c.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        good_rate = np.where(n > 0, c[..., 2] / np.where(n > 0, n, 1), np.nan)
        mean = np.where(
            n > 0, (c * np.asarray(RATINGS)).sum(axis=-1) / np.where(n > 0, n, 1), np.nan
        )
    if c.ndim == 1:
        return RatingSummary(int(n), int(c[0]), int(c[1]), int(c[2]), float(good_rate), float(mean))
    return RatingSummary(n, c[..., 0], c[..., 1], c[..., 2], good_rate, mean)


def relative_increase(good_a: npt.ArrayLike, good_b: npt.ArrayLike) -> np.ndarray | float:
    """Relative increase in Good, in percent: ``(good_b - good_a) / good_a * 100``.

    NaN where ``good_a`` is 0. Works element-wise on arrays.
    """
    a = np.asarray(good_a, dtype=float)
    b = np.asarray(good_b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(a > 0, (b - a) / np.where(a > 0, a, 1.0) * 100.0, np.nan)
    return float(out) if out.ndim == 0 else out


# --- chi-squared --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChiSquaredResult:
    """One chi-squared test of independence.

    ``statistic`` and ``pvalue`` are what ``scipy.stats.chi2_contingency`` gives (Yates-corrected for
    a 2x2 table when ``correction``); ``cramers_v`` is computed from the uncorrected statistic, as an
    effect size should not depend on a small-sample correction. A degenerate table (a row or column of
    zeros, where scipy raises) gives NaN statistics and a ``reason``.
    """

    statistic: float
    pvalue: float
    dof: int
    n: int
    cramers_v: float
    reason: str | None = None


@dataclass(frozen=True)
class ChiSquaredResults:
    """Many chi-squared tests at once: arrays aligned with the leading axis of the tables."""

    statistic: np.ndarray
    pvalue: np.ndarray
    dof: int
    n: np.ndarray
    cramers_v: np.ndarray
    reason: np.ndarray  # object array: None, or why the statistic is NaN

    def __len__(self) -> int:
        return len(self.statistic)

    def __getitem__(self, i: int) -> ChiSquaredResult:
        return ChiSquaredResult(
            float(self.statistic[i]),
            float(self.pvalue[i]),
            self.dof,
            int(self.n[i]),
            float(self.cramers_v[i]),
            self.reason[i],
        )


EMPTY_ROW = "a group has no ratings in this scope"
EMPTY_COLUMN = "a rating category is empty in both groups"


def chi2_tests(tables: npt.ArrayLike, *, correction: bool = True) -> ChiSquaredResults:
    """Chi-squared tests of independence on a stack of ``r x c`` tables, shape ``(k, r, c)``.

    Each table gives exactly what ``scipy.stats.chi2_contingency(table, correction)`` gives, with
    Yates' correction for 1 degree of freedom (each ``|observed - expected|`` reduced by up to 0.5),
    computed for all tables in one pass.
    """
    obs = np.asarray(tables, dtype=float)
    if obs.ndim == 2:
        obs = obs[None]
    if obs.ndim != 3:
        raise ValueError("tables must have shape (k, rows, columns)")
    if (obs < 0).any():
        raise ValueError("contingency tables must hold non-negative counts")
    k, r, c = obs.shape
    dof = (r - 1) * (c - 1)
    rows = obs.sum(axis=2, keepdims=True)
    cols = obs.sum(axis=1, keepdims=True)
    n = obs.sum(axis=(1, 2))
    empty_row = (rows == 0).any(axis=(1, 2))
    empty_col = (cols == 0).any(axis=(1, 2))
    ok = ~(empty_row | empty_col)
    safe_n = np.where(n > 0, n, 1.0)[:, None, None]
    expected = rows * cols / safe_n
    safe_expected = np.where(expected > 0, expected, 1.0)
    diff = obs - expected
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = (diff**2 / safe_expected).sum(axis=(1, 2))
        if correction and dof == 1:
            corrected = np.maximum(np.abs(diff) - 0.5, 0.0)
            statistic = (corrected**2 / safe_expected).sum(axis=(1, 2))
        else:
            statistic = plain
        v = cramers_v(plain, safe_n[:, 0, 0], (r, c))
    statistic = np.where(ok, statistic, np.nan)
    pvalue = np.where(ok, _sp.chi2.sf(statistic, dof) if dof > 0 else 1.0, np.nan)
    effect = np.where(ok, v, np.nan)
    reason = np.full(k, None, dtype=object)
    reason[empty_col] = EMPTY_COLUMN
    reason[empty_row] = EMPTY_ROW
    return ChiSquaredResults(statistic, pvalue, dof, n.astype(np.int64), effect, reason)


def chi2_test(table: npt.ArrayLike, *, correction: bool = True) -> ChiSquaredResult:
    """One chi-squared test of independence (see :func:`chi2_tests`)."""
    t = np.asarray(table)
    if t.ndim != 2:
        raise ValueError("a contingency table must be 2-dimensional")
    return chi2_tests(t[None], correction=correction)[0]


def good_tables(counts_a: npt.ArrayLike, counts_b: npt.ArrayLike) -> np.ndarray:
    """2x2 tables ``[[Good_a, not Good_a], [Good_b, not Good_b]]`` from ``[..., 3]`` counts."""
    a = np.asarray(counts_a)
    b = np.asarray(counts_b)
    row_a = np.stack([a[..., 2], a[..., 0] + a[..., 1]], axis=-1)
    row_b = np.stack([b[..., 2], b[..., 0] + b[..., 1]], axis=-1)
    return np.stack([row_a, row_b], axis=-2)


def distribution_tables(counts_a: npt.ArrayLike, counts_b: npt.ArrayLike) -> np.ndarray:
    """2x3 tables ``[[Bad_a, Okay_a, Good_a], [Bad_b, Okay_b, Good_b]]`` from ``[..., 3]`` counts."""
    return np.stack([np.asarray(counts_a), np.asarray(counts_b)], axis=-2)


def good_test(counts_a: npt.ArrayLike, counts_b: npt.ArrayLike) -> ChiSquaredResult:
    """The paper's test of the Good increase: 2x2 Good vs not Good, Yates-corrected."""
    return chi2_test(good_tables(counts_a, counts_b), correction=True)


def distribution_test(counts_a: npt.ArrayLike, counts_b: npt.ArrayLike) -> ChiSquaredResult:
    """The paper's test of the rating distribution: 2x3 Bad/Okay/Good."""
    return chi2_test(distribution_tables(counts_a, counts_b), correction=True)


def cramers_v(statistic: npt.ArrayLike, n: npt.ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    """Cramer's V, ``sqrt(chi2 / (n * (min(r, c) - 1)))``; for a 2-row table it equals Cohen's w."""
    k = max(min(shape) - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.asarray(statistic, dtype=float) / (np.asarray(n, dtype=float) * k))


# --- multiple comparisons and markers -----------------------------------------------------------


def adjust_pvalues(pvalues: npt.ArrayLike, method: Correction = "none") -> np.ndarray:
    """p-values adjusted within one family: ``none``, ``holm`` or ``bh`` (Benjamini-Hochberg).

    NaN p-values (degenerate tables) stay NaN and do not count towards the family's size.
    """
    p = np.asarray(pvalues, dtype=float)
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}: use one of {', '.join(CORRECTIONS)}")
    if method == "none":
        return p.copy()
    from statsmodels.stats.multitest import multipletests

    out = np.full_like(p, np.nan)
    valid = ~np.isnan(p)
    if valid.any():
        out[valid] = multipletests(p[valid], method=_MULTIPLETESTS_METHOD[method])[1]
    return out


def significance_marker(pvalue: float) -> str:
    """``***`` for p < .001, ``**`` for p < .01, ``*`` for p < .05, else ``""`` (also for NaN)."""
    if pvalue is None or np.isnan(pvalue):
        return ""
    if pvalue < 0.001:
        return "***"
    if pvalue < 0.01:
        return "**"
    if pvalue < 0.05:
        return "*"
    return ""


def significance_markers(pvalues: npt.ArrayLike) -> np.ndarray:
    """:func:`significance_marker` element-wise (an object array of strings)."""
    p = np.asarray(pvalues, dtype=float)
    with np.errstate(invalid="ignore"):
        out = np.select([p < 0.001, p < 0.01, p < 0.05], ["***", "**", "*"], default="")
    return out.astype(object)


# --- bootstrap ----------------------------------------------------------------------------------


class BootstrapCI(NamedTuple):
    """A percentile bootstrap interval (arrays when the inputs are arrays).

    ``dropped`` is how many resamples had no value and were left out (for the relative increase:
    those in which the baseline drew no Good rating), per interval.
    """

    low: np.ndarray | float
    high: np.ndarray | float
    confidence: float
    resamples: int
    dropped: np.ndarray | int = 0


def _rng(seed: SeedLike) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def bootstrap_good_counts(
    good: npt.ArrayLike, n: npt.ArrayLike, *, resamples: int = 10_000, seed: SeedLike = 0
) -> np.ndarray:
    """Good counts of ``resamples`` bootstrap resamples of each group, shape ``(*good.shape, R)``.

    Resampling ``n`` ratings with replacement and counting Good is a Binomial(n, good / n) draw,
    so the draws are made directly (exactly the same distribution as index resampling, and fast).
    The draws are integers; if any group is empty they are floats with NaN for that group.
    """
    g = np.asarray(good, dtype=np.int64)
    size = np.asarray(n, dtype=np.int64)
    g, size = np.broadcast_arrays(g, size)
    rate = np.divide(g, size, out=np.zeros(g.shape), where=size > 0)
    draws = _rng(seed).binomial(size[..., None], rate[..., None], size=(*g.shape, resamples))
    empty = size == 0
    if empty.any():
        draws = draws.astype(float)
        draws[empty] = np.nan
    return draws


def percentile_interval(
    draws: np.ndarray, confidence: float = 0.95, *, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the last axis; NaN draws are ignored (all NaN gives NaN).

    ``overwrite=True`` lets the computation reorder ``draws`` in place instead of copying it
    (the same values; for draws the caller no longer needs).
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    tail = (1 - confidence) / 2
    if draws.dtype.kind in "iu" or not np.isnan(draws).any():
        low, high = np.quantile(draws, [tail, 1 - tail], axis=-1, overwrite_input=overwrite)
        return low, high
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, as intended
        low, high = np.nanquantile(draws, [tail, 1 - tail], axis=-1, overwrite_input=overwrite)
    return low, high


def _unwrap(x: np.ndarray) -> np.ndarray | float:
    return float(x) if np.ndim(x) == 0 else x


def bootstrap_good_rate_ci(
    good: npt.ArrayLike,
    n: npt.ArrayLike,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: SeedLike = 0,
) -> BootstrapCI:
    """Seeded percentile bootstrap interval of the Good rate ``good / n`` (element-wise).

    The report uses :func:`wilson_interval` (closed form, sound at small counts); this is the
    reference it was chosen against, in ``benchmarks/interval_coverage.py``.
    """
    size = np.asarray(n, dtype=float)
    draws = bootstrap_good_counts(good, n, resamples=resamples, seed=seed)
    # Percentiles commute with dividing by n > 0: take them on the counts, then scale.
    low, high = percentile_interval(draws, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(size > 0, size, np.nan)
        return BootstrapCI(_unwrap(low / scale), _unwrap(high / scale), confidence, resamples)


def relative_increase_interval(
    draws_a: np.ndarray, draws_b: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval of the relative increase from bootstrap Good counts of A and B.

    A resample where A has no Good rating has no relative increase and is left out; the third
    array counts them per interval, so that a caller can say how many were dropped.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.subtract(draws_b, draws_a, dtype=float)
        ratio /= draws_a
        ratio *= 100.0
    dropped = (np.asarray(draws_a) == 0).sum(axis=-1)
    ratio[np.isinf(ratio)] = np.nan  # A drew no Good rating (0 / 0 is NaN already)
    low, high = percentile_interval(ratio, confidence, overwrite=True)
    return low, high, dropped


def bootstrap_relative_increase_ci(
    good_a: npt.ArrayLike,
    n_a: npt.ArrayLike,
    good_b: npt.ArrayLike,
    n_b: npt.ArrayLike,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: SeedLike = 0,
) -> BootstrapCI:
    """Seeded percentile bootstrap interval of the relative increase in Good, in percent.

    The report uses :func:`relative_increase_ci` (closed form); this is its reference in
    ``benchmarks/interval_coverage.py``.

    The two groups are resampled independently (the study is between-subjects).
    """
    rng = _rng(seed)
    draws_a = bootstrap_good_counts(good_a, n_a, resamples=resamples, seed=rng)
    draws_b = bootstrap_good_counts(good_b, n_b, resamples=resamples, seed=rng)
    low, high, dropped = relative_increase_interval(draws_a, draws_b, confidence)
    dropped = int(dropped) if np.ndim(dropped) == 0 else dropped
    return BootstrapCI(_unwrap(low), _unwrap(high), confidence, resamples, dropped)


# --- closed-form intervals that hold at small counts ---------------------------------------------

#: The intervals the reporter shows, named in report.json and the Method section.
GOOD_RATE_INTERVAL = "wilson"
REL_INCREASE_INTERVAL = "katz-log-adjusted"


class Interval(NamedTuple):
    """A confidence interval (arrays when the inputs are arrays) and the method that made it."""

    low: np.ndarray | float
    high: np.ndarray | float
    confidence: float
    method: str


def wilson_interval(good: npt.ArrayLike, n: npt.ArrayLike, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval of the Good rate ``good / n`` (element-wise; NaN where ``n`` is 0).

    Unlike the percentile bootstrap it does not collapse to ``[0, 0]`` at 0 Good, and it keeps
    close to its nominal coverage at small counts (``statsmodels``' ``proportion_confint``).
    """
    from statsmodels.stats.proportion import proportion_confint

    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    g = np.asarray(good, dtype=float)
    size = np.asarray(n, dtype=float)
    g, size = np.broadcast_arrays(g, size)
    ok = size > 0
    low = np.full(g.shape, np.nan)
    high = np.full(g.shape, np.nan)
    if ok.any():
        lo, hi = proportion_confint(g[ok], size[ok], alpha=1 - confidence, method="wilson")
        low[ok], high[ok] = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
    return Interval(_unwrap(low), _unwrap(high), confidence, GOOD_RATE_INTERVAL)


def relative_increase_ci(
    good_a: npt.ArrayLike,
    n_a: npt.ArrayLike,
    good_b: npt.ArrayLike,
    n_b: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    of: Literal["counts", "rates"] = "counts",
) -> Interval:
    """Interval of the relative increase in Good, in percent, of B over the baseline A.

    The Katz log interval of the ratio of two independent proportions ``rate_b / rate_a``, with
    0.5 added to each count (``statsmodels``' ``confint_proportions_2indep(compare="ratio",
    method="log-adjusted")``), so that it needs no resampling and stays finite when B has no Good.
    With ``of="counts"`` it is converted to the paper's count-based relative increase,
    ``(good_b - good_a) / good_a``, by the factor ``n_b / n_a``; with ``of="rates"`` it is of
    ``(rate_b - rate_a) / rate_a`` (the report's, on the prompts both groups share). The two agree
    when the groups are the same size. Where A has no Good rating the relative increase itself is
    undefined (a division by 0), but the adjusted interval is not: it is given (a finite lower
    bound, a large upper one), so that every comparison has an interval (issue 23: leaving those
    draws out made the interval cover 0.58 of all draws at a baseline rate of 1/60 in 60, 0.948
    with them). NaN only where a group is empty.
    """
    if of not in ("counts", "rates"):
        raise ValueError("of must be 'counts' or 'rates'")
    from statsmodels.stats.proportion import confint_proportions_2indep

    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    ga, na, gb, nb = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (good_a, n_a, good_b, n_b))
    )
    ok = (na > 0) & (nb > 0)
    low = np.full(ga.shape, np.nan)
    high = np.full(ga.shape, np.nan)
    if ok.any():
        lo, hi = confint_proportions_2indep(
            gb[ok],
            nb[ok],
            ga[ok],
            na[ok],
            compare="ratio",
            method="log-adjusted",
            alpha=1 - confidence,
        )
        scale = nb[ok] / na[ok] if of == "counts" else 1.0
        low[ok] = (np.asarray(lo) * scale - 1.0) * 100.0
        high[ok] = (np.asarray(hi) * scale - 1.0) * 100.0
    return Interval(_unwrap(low), _unwrap(high), confidence, REL_INCREASE_INTERVAL)


# --- power --------------------------------------------------------------------------------------


def chi2_power(
    effect: npt.ArrayLike, n: npt.ArrayLike, *, alpha: float = 0.05, df: int = 1
) -> np.ndarray | float:
    """Power of a chi-squared test with ``df`` degrees of freedom, effect size w and ``n`` in all.

    G*Power's method, as ``statsmodels.stats.power.GofChisquarePower`` computes it: the critical
    value of chi2(df) at ``alpha``, exceeded by a noncentral chi2(df, w**2 * n). Element-wise on
    arrays; NaN where w or n is not positive.
    """
    w = np.asarray(effect, dtype=float)
    size = np.asarray(n, dtype=float)
    critical = _sp.chi2.isf(alpha, df)
    with np.errstate(invalid="ignore"):
        ok = (w > 0) & (size > 0)
        power = np.where(ok, _sp.ncx2.sf(critical, df, np.where(ok, w**2 * size, 1.0)), np.nan)
    return float(power) if power.ndim == 0 else power


@functools.lru_cache(maxsize=64)  # a report asks for the same few (Brent's method: ~10 ms each)
def chi2_sample_size(
    effect: float, *, alpha: float = 0.05, power: float = 0.95, df: int = 1
) -> int:
    """Total sample size a chi-squared test needs (G*Power's method, rounded up).

    ``chi2_sample_size(0.3, alpha=0.05, power=0.95, df=8) == 253``, the study's number.
    """
    if effect <= 0:
        raise ValueError("the effect size w must be positive")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be between 0 and 1")
    if df < 1:
        raise ValueError("df must be at least 1")
    from statsmodels.stats.power import GofChisquarePower

    n = GofChisquarePower().solve_power(
        effect_size=effect, nobs=None, alpha=alpha, power=power, n_bins=df + 1
    )
    return int(np.ceil(float(np.asarray(n).ravel()[0]) - 1e-9))


# --- agreement between two raters ---------------------------------------------------------------


def confusion_matrix(
    ratings_a: npt.ArrayLike, ratings_b: npt.ArrayLike, categories: Sequence[int] = RATINGS
) -> np.ndarray:
    """``k x k`` counts: rows are rater A's category, columns rater B's."""
    a = np.asarray(ratings_a, dtype=np.int64).ravel()
    b = np.asarray(ratings_b, dtype=np.int64).ravel()
    if a.shape != b.shape:
        raise ValueError("both raters must rate the same units")
    cats = np.asarray(categories)
    if a.size and (not np.isin(a, cats).all() or not np.isin(b, cats).all()):
        raise ValueError(f"ratings must be among {tuple(categories)}")
    # Category positions via searchsorted on the sorted categories: no Python loop over ratings.
    order = np.argsort(cats)
    pa = order[np.searchsorted(cats[order], a)]
    pb = order[np.searchsorted(cats[order], b)]
    k = len(cats)
    return np.bincount(pa * k + pb, minlength=k * k).reshape(k, k)


def weighted_kappa(
    ratings_a: npt.ArrayLike,
    ratings_b: npt.ArrayLike,
    *,
    weights: Literal["linear", "quadratic"] | None = "linear",
    categories: Sequence[int] = RATINGS,
) -> float:
    """Cohen's kappa, unweighted or with linear / quadratic disagreement weights.

    ``kappa = 1 - sum(w * observed) / sum(w * expected)`` with ``w_ij = |i - j|`` (linear),
    ``(i - j)**2`` (quadratic) or ``i != j`` (unweighted). NaN when chance agreement is perfect.
    """
    return kappa_from_confusion(confusion_matrix(ratings_a, ratings_b, categories), weights=weights)


def kappa_from_confusion(
    confusion: npt.ArrayLike, *, weights: Literal["linear", "quadratic"] | None = "linear"
) -> float:
    """Cohen's (weighted) kappa of a ``k x k`` confusion matrix (see :func:`weighted_kappa`)."""
    observed = np.asarray(confusion, dtype=float)
    n = observed.sum()
    if n == 0:
        return float("nan")
    k = observed.shape[0]
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j).astype(float)
    elif weights == "quadratic":
        w = ((i - j) ** 2).astype(float)
    else:
        raise ValueError(f"unknown weights {weights!r}: use linear, quadratic or None")
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / n
    denominator = (w * expected).sum()
    if denominator == 0:
        return float("nan")
    return float(1.0 - (w * observed).sum() / denominator)


def krippendorff_alpha(
    reliability_data: npt.ArrayLike,
    *,
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "ordinal",
    value_domain: Sequence[int] | None = RATINGS,
) -> float:
    """Krippendorff's alpha of ``(raters, units)`` data (NaN = not rated), via ``krippendorff``."""
    import krippendorff

    data = np.asarray(reliability_data, dtype=float)
    values = data[~np.isnan(data)]
    if values.size == 0 or np.unique(values).size < 2:
        return float("nan")  # no variation: alpha is undefined
    return float(
        krippendorff.alpha(
            reliability_data=data,
            level_of_measurement=level,
            value_domain=None if value_domain is None else list(value_domain),
        )
    )


class RankAgreement(NamedTuple):
    """Whether two raters order the sources alike by Good rate."""

    tau: float
    pvalue: float
    same_order: bool


def rank_agreement(rates_a: npt.ArrayLike, rates_b: npt.ArrayLike) -> RankAgreement:
    """Kendall's tau between two raters' Good rates of the same sources, and "same order"."""
    a = np.asarray(rates_a, dtype=float)
    b = np.asarray(rates_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("both raters must rate the same sources")
    # Ties share a rank, so two raters that tie the same sources still agree on the order.
    same = bool(np.array_equal(_sp.rankdata(-a, "min"), _sp.rankdata(-b, "min")))
    if a.size < 2 or np.unique(a).size < 2 or np.unique(b).size < 2:
        return RankAgreement(float("nan"), float("nan"), same)
    res = _sp.kendalltau(a, b)
    return RankAgreement(float(res.statistic), float(res.pvalue), same)


@dataclass(frozen=True)
class AgreementResult:
    """How far rater B agrees with rater A on the same units (ratings 1..3)."""

    n: int
    kappa_linear: float
    kappa_quadratic: float
    alpha_ordinal: float
    confusion: tuple[tuple[int, ...], ...]  # rows: A's Bad/Okay/Good, columns: B's
    good_rate_a: float
    good_rate_b: float
    good_rate_difference: float  # b - a


def agreement(ratings_a: npt.ArrayLike, ratings_b: npt.ArrayLike) -> AgreementResult:
    """Weighted kappas, ordinal Krippendorff's alpha, confusion matrix and Good-rate difference."""
    a = np.asarray(ratings_a, dtype=np.int64).ravel()
    b = np.asarray(ratings_b, dtype=np.int64).ravel()
    cm = confusion_matrix(a, b)
    n = int(cm.sum())
    good_a = float((a == 3).mean()) if n else float("nan")
    good_b = float((b == 3).mean()) if n else float("nan")
    return AgreementResult(
        n=n,
        kappa_linear=kappa_from_confusion(cm, weights="linear"),
        kappa_quadratic=kappa_from_confusion(cm, weights="quadratic"),
        alpha_ordinal=krippendorff_alpha(np.vstack([a, b]).astype(float)) if n else float("nan"),
        confusion=tuple(tuple(int(x) for x in row) for row in cm),
        good_rate_a=good_a,
        good_rate_b=good_b,
        good_rate_difference=good_b - good_a,
    )


# --- rater quality (Toronto Empathy Questionnaire) ----------------------------------------------


def _teq(answers: npt.ArrayLike) -> np.ndarray:
    x = np.asarray(answers, dtype=np.int64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != TEQ_ITEMS:
        raise ValueError(f"TEQ answers must have {TEQ_ITEMS} items per rater")
    if x.size and (x.min() < 0 or x.max() > teq.MAX_ANSWER):
        raise ValueError("TEQ answers must be scored 0 (Never) to 4 (Always)")
    return x


_REVERSED = np.isin(np.arange(1, TEQ_ITEMS + 1), REVERSE_KEYED_ITEMS)


def teq_totals(answers: npt.ArrayLike) -> np.ndarray:
    """TEQ totals (0-64) of raters' 16 answers (0-4), reverse-keyed items scored ``4 - answer``."""
    x = _teq(answers)
    return np.where(_REVERSED, teq.MAX_ANSWER - x, x).sum(axis=1)


def reverse_keyed_often(answers: npt.ArrayLike) -> np.ndarray:
    """Per rater, how many reverse-keyed items they answered Often or Always (raw answer >= 3)."""
    x = _teq(answers)
    return (x[:, _REVERSED] >= OFTEN).sum(axis=1)


class TeqSummary(NamedTuple):
    """TEQ totals and the reverse-keyed attention check of one group of raters."""

    raters: int
    mean_total: float
    sd_total: float
    min_total: float
    max_total: float
    share_reverse_often: float  # share of raters with at least one reverse-keyed item Often/Always
    mean_reverse_often: float  # mean number of such items per rater


def summarise_teq(answers: npt.ArrayLike) -> TeqSummary:
    """:class:`TeqSummary` of one answer list per rater (count each rater once before calling)."""
    x = _teq(answers)
    if x.shape[0] == 0:
        nan = float("nan")
        return TeqSummary(0, nan, nan, nan, nan, nan, nan)
    totals = teq_totals(x)
    often = reverse_keyed_often(x)
    return TeqSummary(
        raters=int(x.shape[0]),
        mean_total=float(totals.mean()),
        sd_total=float(totals.std(ddof=1)) if x.shape[0] > 1 else float("nan"),
        min_total=float(totals.min()),
        max_total=float(totals.max()),
        share_reverse_often=float((often > 0).mean()),
        mean_reverse_often=float(often.mean()),
    )


# --- rater clusters -----------------------------------------------------------------------------


def _content_seed(seed: int, *arrays: npt.ArrayLike) -> np.random.Generator:
    """A generator seeded by ``seed`` and the data themselves, so identical data draw alike."""
    import hashlib

    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(np.asarray(a, dtype=np.int64)).tobytes())
        digest.update(b"|")
    words = np.frombuffer(digest.digest()[:16], dtype=np.uint32).tolist()
    return np.random.default_rng([int(seed), *words])


def cluster_bootstrap_good_rate_ci(
    good_per_cluster: npt.ArrayLike,
    n_per_cluster: npt.ArrayLike,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile cluster bootstrap interval of the Good rate: whole clusters (raters) resampled.

    ``good_per_cluster[j]`` of ``n_per_cluster[j]`` ratings of cluster ``j`` are Good. A resample
    draws as many clusters as there are, with replacement, and takes ``sum(good) / sum(n)``.
    Clusters with the same ``(good, n)`` are interchangeable, so a resample is a multinomial draw
    over the distinct pairs (exactly the same distribution, and cheap: a crowd rater's batch of
    10 gives at most 66 pairs). Seeded by ``seed`` and the data, so identical data get identical
    intervals.
    """
    if np.asarray(good_per_cluster).size == 0 and np.asarray(n_per_cluster).size == 0:
        return BootstrapCI(float("nan"), float("nan"), confidence, resamples)
    rates = _cluster_rates(good_per_cluster, n_per_cluster, resamples, seed)
    low, high = percentile_interval(rates, confidence)
    return BootstrapCI(float(low), float(high), confidence, resamples)


def _cluster_rates(
    good_per_cluster: npt.ArrayLike, n_per_cluster: npt.ArrayLike, resamples: int, seed: int
) -> np.ndarray:
    """Good rates of ``resamples`` cluster-bootstrap resamples (empty input: NaN)."""
    g = np.asarray(good_per_cluster, dtype=np.int64).ravel()
    m = np.asarray(n_per_cluster, dtype=np.int64).ravel()
    if g.shape != m.shape:
        raise ValueError("good_per_cluster and n_per_cluster must have the same length")
    if (m < 1).any() or (g < 0).any() or (g > m).any():
        raise ValueError("each cluster needs 0 <= good <= n and n >= 1")
    if g.size == 0:
        return np.full(resamples, np.nan)
    # The distinct (good, n) pairs in lexicographic order, via one integer key (np.unique over
    # rows sorts a structured view, several times slower).
    base = int(m.max()) + 1
    keys, freq = np.unique(g * base + m, return_counts=True)
    pairs = np.stack([keys // base, keys % base], axis=1)
    return _cluster_rate_draws(pairs.tobytes(), freq.tobytes(), seed, resamples).copy()


# The same data and seed draw the same resamples: a source's Good-rate interval and its relative
# increase share them, and a baseline's serve every comparison against it.
@functools.lru_cache(maxsize=128)
def _cluster_rate_draws(pairs: bytes, freq: bytes, seed: int, resamples: int) -> np.ndarray:
    """Good rates of ``resamples`` multinomial draws over the distinct (good, n) cluster pairs."""
    p = np.frombuffer(pairs, dtype=np.int64).reshape(-1, 2)
    f = np.frombuffer(freq, dtype=np.int64)
    rng = _content_seed(seed, p, f)
    weights = rng.multinomial(int(f.sum()), f / f.sum(), size=resamples)
    return (weights @ p[:, 0]) / (weights @ p[:, 1])


#: The relative increase's interval where ratings come in rater clusters (the crowd's).
CLUSTER_REL_INCREASE_INTERVAL = "rater-cluster-bootstrap"


def cluster_bootstrap_relative_increase_ci(
    good_a: npt.ArrayLike,
    n_a: npt.ArrayLike,
    good_b: npt.ArrayLike,
    n_b: npt.ArrayLike,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile cluster bootstrap interval of the relative increase of B's Good rate over A's.

    ``good_a[j]`` of ``n_a[j]`` ratings of A's cluster ``j`` are Good (likewise B). Whole clusters
    (crowd raters, who each rate one batch of one source) are resampled within each group, the
    groups independently (between-subjects); a resample is ``(rate_b - rate_a) / rate_a * 100``.
    Resamples in which A has no Good rating have none and are dropped (counted in ``dropped``).
    Seeded by ``seed`` and the data, as :func:`cluster_bootstrap_good_rate_ci`.
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    # B's draws are those of its Good-rate interval (same seed); A's are seeded apart, so that
    # identical groups still resample independently.
    ra = _cluster_rates(good_a, n_a, resamples, seed + 1)
    rb = _cluster_rates(good_b, n_b, resamples, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (rb - ra) / ra * 100.0
    dropped = int((ra == 0).sum())
    ratio[~np.isfinite(ratio)] = np.nan
    low, high = percentile_interval(ratio, confidence, overwrite=True)
    return BootstrapCI(float(low), float(high), confidence, resamples, dropped)


def design_effect(good_per_cluster: npt.ArrayLike, n_per_cluster: npt.ArrayLike) -> float:
    """Design effect of the Good rate under clustering: its cluster-robust variance over the
    variance it would have were all ratings independent, ``p (1 - p) / N``.

    The cluster-robust (ratio-estimator, linearised) variance is
    ``C / (C - 1) * sum_j (good_j - p n_j)**2 / N**2`` over the ``C`` clusters. NaN with fewer
    than two clusters or a rate of 0 or 1 (no variance to compare).
    """
    g = np.asarray(good_per_cluster, dtype=float).ravel()
    m = np.asarray(n_per_cluster, dtype=float).ravel()
    clusters, total = g.size, m.sum()
    if clusters < 2 or total == 0:
        return float("nan")
    p = g.sum() / total
    if p in (0.0, 1.0):
        return float("nan")
    robust = clusters / (clusters - 1) * ((g - p * m) ** 2).sum() / total**2
    return float(robust / (p * (1 - p) / total))


def rao_scott_good_tests(
    counts_a: npt.ArrayLike,
    deff_a: npt.ArrayLike,
    counts_b: npt.ArrayLike,
    deff_b: npt.ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Rao-Scott (first-order) design-effect-corrected 2x2 test of Good vs not Good.

    The uncorrected Pearson statistic of the 2x2 table divided by the design effect of the
    difference in Good rates, ``d = (deff_a / n_a + deff_b / n_b) / (1 / n_a + 1 / n_b)``, and
    referred to chi2(1) (Rao & Scott, 1981). With independent ratings (``deff = 1``) it is the
    plain Pearson test. Returns ``(statistic, pvalue)`` arrays; NaN where a design effect is.
    """
    res = chi2_tests(good_tables(counts_a, counts_b), correction=False)
    n_a = np.asarray(counts_a, dtype=float).sum(axis=-1).ravel()
    n_b = np.asarray(counts_b, dtype=float).sum(axis=-1).ravel()
    da = np.asarray(deff_a, dtype=float).ravel()
    db = np.asarray(deff_b, dtype=float).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (da / n_a + db / n_b) / (1 / n_a + 1 / n_b)
        statistic = res.statistic / d
    pvalue = _sp.chi2.sf(statistic, 1)
    return statistic, pvalue
