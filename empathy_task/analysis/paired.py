"""Paired statistics: one judge rated both replies to the same prompt.

A judge rates the model's reply *and* the human reply to each prompt, so its ratings of two sources
are paired by prompt (a within-subjects design). The paper's tests (:mod:`.stats`) treat the two
groups as independent, as its crowd design was: different raters per source. For a judge these
tests use the pairing instead (docs/design.md, "The method"):

- :func:`mcnemar`: McNemar's test of Good vs not Good on the discordant pairs (exact binomial
  below :data:`MCNEMAR_EXACT_BELOW` discordant pairs, else chi-squared with continuity correction;
  ``statsmodels.stats.contingency_tables.mcnemar``'s two methods);
- :func:`stuart_maxwell`: the Stuart-Maxwell test of marginal homogeneity of the Bad/Okay/Good
  distribution (``SquareTable(...).homogeneity()``);
- :func:`paired_bootstrap_ci`: percentile bootstrap intervals of the Good-rate difference and the
  relative increase that resample prompts (a prompt carries both of its ratings).

In the manner of ``scipy.stats``: arrays in, small named results out, no printing. The tests take
stacks of tables (leading axes) so that the reporter tests every pair and scope in one call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as _sp

from empathy_task.analysis.stats import SeedLike, _content_seed, _rng, percentile_interval

#: McNemar's test is exact (binomial) below this many discordant pairs, chi-squared from it on.
MCNEMAR_EXACT_BELOW = 25


def _unwrap(x: np.ndarray) -> Any:
    return x.item() if np.ndim(x) == 0 else x


def joint_table(ratings_a: npt.ArrayLike, ratings_b: npt.ArrayLike) -> np.ndarray:
    """The 3x3 table of paired ratings: ``[i, j]`` counts pairs rated ``i + 1`` for A, ``j + 1``
    for B (1 Bad, 2 Okay, 3 Good)."""
    a = np.asarray(ratings_a, dtype=np.int64).ravel()
    b = np.asarray(ratings_b, dtype=np.int64).ravel()
    if a.shape != b.shape:
        raise ValueError("paired ratings must have the same length")
    if a.size and (min(a.min(), b.min()) < 1 or max(a.max(), b.max()) > 3):
        raise ValueError("ratings must be 1 (Bad), 2 (Okay) or 3 (Good)")
    return np.bincount((a - 1) * 3 + (b - 1), minlength=9).reshape(3, 3)


def good_pair_tables(joint: npt.ArrayLike) -> np.ndarray:
    """Good vs not Good from 3x3 joint tables ``[..., A rating, B rating]``: 2x2 tables
    ``[[both Good, A Good only], [B Good only, neither Good]]``."""
    t = np.asarray(joint, dtype=np.int64)
    if t.shape[-2:] != (3, 3):
        raise ValueError("joint tables must end in two axes of 3: A's and B's rating")
    both = t[..., 2, 2]
    a_only = t[..., 2, :2].sum(axis=-1)
    b_only = t[..., :2, 2].sum(axis=-1)
    neither = t[..., :2, :2].sum(axis=(-2, -1))
    return np.stack([np.stack([both, a_only], -1), np.stack([b_only, neither], -1)], -2)


class McNemarResult(NamedTuple):
    """McNemar's test (arrays for a stack of tables).

    ``statistic`` is the chi-squared statistic, or for the exact test (``exact`` true) the
    smaller discordant count, as ``statsmodels`` gives it. ``a_only`` / ``b_only`` are the
    discordant counts (A Good and B not; B Good and A not); ``n`` is the number of pairs. With
    no discordant pair the exact test gives p = 1.
    """

    statistic: Any
    pvalue: Any
    exact: Any
    a_only: Any
    b_only: Any
    n: Any


def mcnemar(
    tables: npt.ArrayLike, *, exact: bool | None = None, correction: bool = True
) -> McNemarResult:
    """McNemar's test on 2x2 paired tables ``[..., 2, 2]`` (discordant cells ``[0, 1]``, ``[1, 0]``).

    ``exact=None`` chooses per table: the exact binomial test when the discordant pairs number
    fewer than :data:`MCNEMAR_EXACT_BELOW`, else the chi-squared approximation (with Yates'
    continuity correction when ``correction``). The same numbers as
    ``statsmodels.stats.contingency_tables.mcnemar`` with that ``exact``, for every table at once.
    """
    t = np.asarray(tables, dtype=np.int64)
    if t.shape[-2:] != (2, 2):
        raise ValueError("McNemar's test needs 2x2 tables")
    if (t < 0).any():
        raise ValueError("counts must not be negative")
    b, c = t[..., 0, 1], t[..., 1, 0]
    discordant = b + c
    use_exact = (
        discordant < MCNEMAR_EXACT_BELOW
        if exact is None
        else np.full(discordant.shape, bool(exact))
    )
    low = np.minimum(b, c)
    exact_p = np.minimum(_sp.binom.cdf(low, discordant, 0.5) * 2.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = (np.abs(b - c) - int(correction)) ** 2 / discordant.astype(float)
    chi2_p = _sp.chi2.sf(chi2, 1)
    statistic = np.where(use_exact, low.astype(float), chi2)
    pvalue = np.where(use_exact, exact_p, chi2_p)
    return McNemarResult(
        _unwrap(statistic),
        _unwrap(pvalue),
        _unwrap(use_exact),
        _unwrap(b),
        _unwrap(c),
        _unwrap(t.sum(axis=(-2, -1))),
    )


class StuartMaxwellResult(NamedTuple):
    """The Stuart-Maxwell test of marginal homogeneity (arrays for a stack of tables).

    ``df`` is ``k - 1``, or the covariance's rank where it is singular (see
    :func:`stuart_maxwell`). ``statistic`` and ``pvalue`` are NaN, with a ``reason``, for a table
    without pairs; ``reason`` also says when the test is degenerate (p = 1: no pair rated
    differently) or reduced (singular covariance).
    """

    statistic: Any
    pvalue: Any
    df: Any
    n: Any
    reason: Any


def stuart_maxwell(tables: npt.ArrayLike) -> StuartMaxwellResult:
    """Stuart-Maxwell test on square paired tables ``[..., k, k]`` (rows A's rating, columns B's).

    The statistic is ``d' V^-1 d`` with ``d`` the differences of the column and row margins over
    the first ``k - 1`` categories and ``V`` their covariance (``V_ii = n_i. + n_.i - 2 n_ii``,
    ``V_ij = -(n_ij + n_ji)``), referred to chi2(``k - 1``): the same numbers as
    ``statsmodels``' ``SquareTable(table).homogeneity("stuart_maxwell")``, for every table at once.

    ``V`` is singular when pairs differ between only some of the categories (say Bad and Okay,
    never Good): then ``V``'s Moore-Penrose inverse is used and the test has as many degrees of
    freedom as ``V`` has rank (for discordance between two categories only, McNemar's statistic
    on them without correction, df 1); statsmodels' solve may return the same statistic or fail,
    depending on rounding, and keeps df ``k - 1``. With no pair rated differently, the margins are
    equal: statistic 0, p = 1, df 0.
    """
    t = np.asarray(tables, dtype=float)
    if t.ndim < 2 or t.shape[-1] != t.shape[-2] or t.shape[-1] < 2:
        raise ValueError("the Stuart-Maxwell test needs square tables of at least 2 categories")
    if (t < 0).any():
        raise ValueError("counts must not be negative")
    k = t.shape[-1]
    lead = t.shape[:-2]
    flat = t.reshape(-1, k, k)
    n = flat.sum(axis=(1, 2))
    row = flat.sum(axis=2)[:, :-1]
    col = flat.sum(axis=1)[:, :-1]
    inner = flat[:, :-1, :-1]
    d = col - row
    v = -(inner + np.swapaxes(inner, 1, 2))
    idx = np.arange(k - 1)
    v[:, idx, idx] = row + col - 2 * np.diagonal(inner, axis1=1, axis2=2)
    statistic = np.full(len(flat), np.nan)
    reason = np.full(len(flat), None, dtype=object)
    # Counts make singularity structural, so the rank finds it exactly (a solve would not).
    rank = np.linalg.matrix_rank(v) if len(v) else np.zeros(0, dtype=np.int64)
    full = (rank == k - 1) & (n > 0)
    if full.any():
        solved = np.linalg.solve(v[full], d[full][..., None])[..., 0]
        statistic[full] = (d[full] * solved).sum(axis=1)
    reduced = (rank < k - 1) & (rank > 0)
    if reduced.any():
        solved = np.einsum("pij,pj->pi", np.linalg.pinv(v[reduced]), d[reduced])
        statistic[reduced] = (d[reduced] * solved).sum(axis=1)
        reason[reduced] = "pairs differ in some categories only: df is the covariance's rank"
    none_differ = (rank == 0) & (n > 0)
    statistic[none_differ] = 0.0
    reason[none_differ] = "no pair rated differently"
    reason[n == 0] = "no pairs"
    df = np.where(n > 0, rank, k - 1)
    with np.errstate(invalid="ignore"):
        pvalue = np.where(df > 0, _sp.chi2.sf(statistic, np.maximum(df, 1)), 1.0)
    pvalue[n == 0] = np.nan
    return StuartMaxwellResult(
        _unwrap(statistic.reshape(lead)),
        _unwrap(pvalue.reshape(lead)),
        _unwrap(df.reshape(lead)),
        _unwrap(n.astype(np.int64).reshape(lead)),
        reason.reshape(lead) if lead else reason[0],
    )


class PairedBootstrapCI(NamedTuple):
    """Percentile intervals from resampling prompts: of the Good-rate difference ``rate_b -
    rate_a`` (a proportion) and of the relative increase ``(rate_b - rate_a) / rate_a`` (percent).

    ``dropped`` counts resamples in which A had no Good rating (no relative increase).
    """

    difference_low: float
    difference_high: float
    rel_increase_low: float
    rel_increase_high: float
    confidence: float
    resamples: int
    dropped: int


def paired_bootstrap_ci(
    good_a: npt.ArrayLike,
    n_a: npt.ArrayLike,
    good_b: npt.ArrayLike,
    n_b: npt.ArrayLike,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: SeedLike = 0,
) -> PairedBootstrapCI:
    """Bootstrap intervals that resample prompts, keeping each prompt's ratings of A and B together.

    Per prompt ``j``: ``good_a[j]`` of ``n_a[j]`` ratings of A are Good, and so for B (one
    rating each with one epoch; more with several). A resample draws as many prompts as there
    are, with replacement. Prompts with the same four numbers are interchangeable, so a resample
    is a multinomial draw over the distinct rows (the same distribution as drawing indices; with
    one rating per side there are at most four rows). An ``int`` seed is combined with the data,
    so identical data get identical intervals.
    """
    cols = [np.asarray(x, dtype=np.int64).ravel() for x in (good_a, n_a, good_b, n_b)]
    if len({c.shape for c in cols}) != 1:
        raise ValueError("good_a, n_a, good_b and n_b must have the same length")
    ga, na, gb, nb = cols
    if (na < 1).any() or (nb < 1).any() or (ga < 0).any() or (gb < 0).any():
        raise ValueError("each prompt needs n >= 1 rating per side and good >= 0")
    if (ga > na).any() or (gb > nb).any():
        raise ValueError("a prompt cannot have more Good ratings than ratings")
    if ga.size == 0:
        nan = float("nan")
        return PairedBootstrapCI(nan, nan, nan, nan, confidence, resamples, 0)
    # Distinct rows through one integer key per prompt (a 1-D unique is far faster than axis=0).
    base = int(max(na.max(), nb.max())) + 1
    key = ((ga * base + na) * base + gb) * base + nb
    unique_keys, freq = np.unique(key, return_counts=True)
    rows = np.stack(
        [
            unique_keys // base**3,
            unique_keys // base**2 % base,
            unique_keys // base % base,
            unique_keys % base,
        ],
        axis=1,
    )
    rng = _content_seed(seed, rows, freq) if isinstance(seed, int) else _rng(seed)
    weights = rng.multinomial(ga.size, freq / ga.size, size=resamples)  # (R, distinct rows)
    sums = weights @ rows  # (R, 4): Good A, n A, Good B, n B
    rate_a = sums[:, 0] / sums[:, 1]
    rate_b = sums[:, 2] / sums[:, 3]
    diff_low, diff_high = percentile_interval(rate_b - rate_a, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (rate_b - rate_a) / rate_a * 100.0
    dropped = int((sums[:, 0] == 0).sum())
    rel[~np.isfinite(rel)] = np.nan
    rel_low, rel_high = percentile_interval(rel, confidence)
    return PairedBootstrapCI(
        float(diff_low),
        float(diff_high),
        float(rel_low),
        float(rel_high),
        confidence,
        resamples,
        dropped,
    )
