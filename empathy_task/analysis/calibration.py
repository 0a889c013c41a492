"""Judge calibration: a judge's Bad/Okay/Good answers mapped onto the crowd's distribution.

Pure functions in the manner of ``scipy.stats`` (arrays in, small named results out, no printing);
the reporter and ``empathy-task calibrate`` call exactly these (docs/design.md, "The method").

**The model.** From (judge rating, crowd rating) pairs of the stored replies, fit
``P(crowd label | judge label)``: each row of the judge x crowd confusion matrix, smoothed towards
the pooled crowd distribution with ``smoothing`` pseudo-ratings (a Dirichlet prior), then
normalised. A new source's crowd distribution is predicted as ``sum_j share_j x P(crowd | j)``,
where ``share_j`` is the share of its replies the judge gave label ``j``. Nothing is inverted, so
every prediction is a distribution (the judge-given-crowd inverse produced negative rates on real
data). Where the judge gave answer probabilities, an ``(n, 3)`` array of them stands in for the
labels everywhere (soft counts).

**Validation.** Leave one stored source out: fit on the others, predict the held-out source's
crowd distribution; the RMS of the Good-rate errors is how well the map carries to a new source.

**Intervals.** A percentile bootstrap resamples the calibration pairs (within each stored source)
and the new source's judge ratings together, and the crowd's human baseline (binomial). The target
is the crowd's expected Good rate for the source's replies (what a fresh crowd would give on
average). The bootstrap does not see that the judge-crowd relation differs between sources, so
each side is widened by the *transfer error* (:func:`transfer_error`, issue 23): a random-effects
estimate of the between-source SD ``tau`` of the leave-one-source-out errors, each error's own
sampling variance (bootstrapped) subtracted, so that exact transfer adds nothing:
``tau^2 = max(0, mean(e_i^2 - v_i))`` over the ``k`` calibrating sources. As ``tau`` rests on ``k``
errors only, a side of half-width ``h`` (bootstrap, ``s = h / z``) becomes
``t_d * sqrt(s^2 + tau^2)`` with Student's t on the Welch-Satterthwaite degrees of freedom
``d = (s^2 + tau^2)^2 / (tau^4 / (k - 1))`` (``d`` is infinite, the interval the bootstrap's, when
``tau`` is 0; ``k - 1`` when ``tau`` dominates). The old form, ``loso_rms`` added in quadrature
with ``z`` (``lo = est - sqrt((est - q_lo)^2 + (z * rms)^2)``), stays for callers that pass only
``loso_rms``; it treats the spread of 3 errors as known and covered 0.84-0.90.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as _sp

from empathy_task.vocabulary import RATINGS

K = len(RATINGS)
GOOD_INDEX = RATINGS.index(3)
DEFAULT_SMOOTHING = 1.0
#: How :func:`crowd_equivalent`'s intervals are made (named in report.json and the EEE records).
CROWD_EQUIVALENT_INTERVAL = "percentile-bootstrap-widened-by-loso-rms"


def _soft(ratings: npt.ArrayLike) -> np.ndarray:
    """``(n, 3)`` rows: one-hot labels (1-D input of 1/2/3) or answer probabilities (2-D)."""
    x = np.asarray(ratings)
    if x.ndim == 2:
        p = x.astype(float)
        if p.shape[1] != K or (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError(
                "answer probabilities must be rows of 3 non-negative shares summing to 1"
            )
        return p
    labels = x.astype(np.int64).ravel()
    if labels.size and not np.isin(labels, RATINGS).all():
        raise ValueError(f"ratings must be among {RATINGS}")
    return np.eye(K)[labels - 1]


def pair_counts(judge: npt.ArrayLike, crowd: npt.ArrayLike) -> np.ndarray:
    """``3 x 3`` judge (rows) x crowd (columns) counts; soft when ``judge`` holds probabilities."""
    j = _soft(judge)
    c = _soft(crowd)
    if len(j) != len(c):
        raise ValueError("judge and crowd must rate the same replies")
    return j.T @ c


def judge_counts(judge: npt.ArrayLike) -> np.ndarray:
    """How many of a source's replies the judge gave each label (soft with probabilities)."""
    return _soft(judge).sum(axis=0)


class Calibration(NamedTuple):
    """A fitted map from the judge's label to the crowd's distribution."""

    p_crowd_given_judge: np.ndarray  # rows: judge Bad/Okay/Good; columns: crowd Bad/Okay/Good
    counts: np.ndarray  # the pooled judge x crowd counts it was fitted on
    smoothing: float
    n: float


def fit_calibration(counts: npt.ArrayLike, *, smoothing: float = DEFAULT_SMOOTHING) -> Calibration:
    """Fit ``P(crowd | judge)`` from judge x crowd counts (``3 x 3``, or ``(S, 3, 3)`` summed)."""
    c = np.asarray(counts, dtype=float)
    if c.ndim == 3:
        c = c.sum(axis=0)
    if c.shape != (K, K) or (c < 0).any():
        raise ValueError("counts must be a 3 x 3 table of non-negative counts")
    if smoothing < 0:
        raise ValueError("smoothing must be non-negative")
    n = float(c.sum())
    if n == 0:
        raise ValueError("no judge-crowd pairs to calibrate on")
    pooled = c.sum(axis=0) / n
    rows = c + smoothing * pooled
    totals = rows.sum(axis=1, keepdims=True)
    # A judge label never given, with no smoothing: its row is the pooled crowd distribution.
    p = np.where(totals > 0, rows / np.where(totals > 0, totals, 1.0), pooled)
    return Calibration(p, c, float(smoothing), n)


def predict_crowd(calibration: Calibration, judge_share: npt.ArrayLike) -> np.ndarray:
    """The crowd distribution predicted for a source the judge rated with these label shares."""
    share = np.asarray(judge_share, dtype=float)
    total = share.sum(axis=-1, keepdims=True)
    if (total <= 0).any():
        raise ValueError("the source has no judge ratings")
    return (share / total) @ calibration.p_crowd_given_judge


class LosoRow(NamedTuple):
    """One held-out stored source: the crowd's Good rate, the judge's, and the calibrated one."""

    source: str
    n: float
    crowd_good_rate: float
    judge_good_rate: float
    calibrated_good_rate: float
    error: float  # calibrated - crowd
    crowd_distribution: tuple[float, float, float]
    calibrated_distribution: tuple[float, float, float]


class LosoResult(NamedTuple):
    rows: tuple[LosoRow, ...]
    rms_error: float
    max_abs_error: float


def leave_one_source_out(
    counts_by_source: Mapping[str, npt.ArrayLike], *, smoothing: float = DEFAULT_SMOOTHING
) -> LosoResult:
    """Fit on all stored sources but one, predict that one's crowd distribution; for each source.

    Needs at least two sources. The errors are of the Good rate (a share, not points).
    """
    sources = list(counts_by_source)
    if len(sources) < 2:
        raise ValueError(
            "leave-one-source-out validation needs judge ratings of two stored sources"
        )
    tables = {s: np.asarray(counts_by_source[s], dtype=float) for s in sources}
    rows = []
    for held in sources:
        fit = fit_calibration(
            np.stack([tables[s] for s in sources if s != held]), smoothing=smoothing
        )
        t = tables[held]
        n = float(t.sum())
        crowd = t.sum(axis=0) / n
        judge = t.sum(axis=1) / n
        pred = predict_crowd(fit, judge)
        rows.append(
            LosoRow(
                held,
                n,
                float(crowd[GOOD_INDEX]),
                float(judge[GOOD_INDEX]),
                float(pred[GOOD_INDEX]),
                float(pred[GOOD_INDEX] - crowd[GOOD_INDEX]),
                tuple(float(x) for x in crowd),
                tuple(float(x) for x in pred),
            )
        )
    errors = np.array([r.error for r in rows])
    return LosoResult(
        tuple(rows), float(np.sqrt(np.mean(errors**2))), float(np.max(np.abs(errors)))
    )


class TransferError(NamedTuple):
    """How far the calibration carries from the stored sources to a new one (random effects)."""

    sources: int  # k: the stored sources that calibrate
    errors: tuple[float, ...]  # leave-one-source-out errors of the Good rate (shares)
    sampling_variances: tuple[float, ...]  # each error's bootstrap variance (sampling alone)
    tau: float  # between-source SD of the transfer error (a share), >= 0
    df: int  # k - 1: the degrees of freedom tau rests on
    judge_good_range: tuple[float, float]  # the stored sources' judge Good rates, lowest, highest


def _fit_draws(boot: np.ndarray, smoothing: float) -> np.ndarray:
    """``(R, 3, 3)`` P(crowd | judge) from ``(R, 3, 3)`` resampled counts (as fit_calibration)."""
    pooled = boot.sum(axis=1)
    pooled = pooled / pooled.sum(axis=1, keepdims=True)
    rows = boot + smoothing * pooled[:, None, :]
    totals = rows.sum(axis=2, keepdims=True)
    return np.where(totals > 0, rows / np.where(totals > 0, totals, 1.0), pooled[:, None, :])


def transfer_error(
    counts_by_source: Mapping[str, npt.ArrayLike],
    *,
    smoothing: float = DEFAULT_SMOOTHING,
    resamples: int = 400,
    seed: int | np.random.Generator | None = 0,
) -> TransferError:
    """The between-source SD of the calibration's transfer error, from ``k >= 2`` stored sources.

    Each leave-one-source-out error ``e_i`` is transfer error plus sampling noise (the fit on the
    other sources, the held-out source's judge and crowd ratings); ``v_i``, its variance under
    resampling every source's pairs, is the noise alone. ``tau^2 = max(0, mean(e_i^2 - v_i))``
    (a method-of-moments random-effects estimate, as DerSimonian-Laird's with known mean 0).
    """
    loso = leave_one_source_out(counts_by_source, smoothing=smoothing)
    sources = list(counts_by_source)
    tables = [np.asarray(counts_by_source[s], dtype=float) for s in sources]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    boots = []
    for t in tables:
        m = int(round(t.sum()))
        draw = rng.multinomial(m, t.ravel() / t.sum(), size=resamples)
        boots.append(draw.reshape(resamples, K, K).astype(float))
    total = np.sum(boots, axis=0)
    variances = []
    for b in boots:
        p = _fit_draws(total - b, smoothing)
        n = b.sum(axis=(1, 2))
        judge = b.sum(axis=2) / n[:, None]
        crowd = b.sum(axis=1)[:, GOOD_INDEX] / n
        err = np.einsum("bj,bj->b", judge, p[:, :, GOOD_INDEX]) - crowd
        variances.append(float(err.var(ddof=1)) if resamples > 1 else 0.0)
    errors = np.array([r.error for r in loso.rows])
    tau2 = max(0.0, float(np.mean(errors**2 - np.array(variances))))
    judge_rates = [r.judge_good_rate for r in loso.rows]
    return TransferError(
        sources=len(sources),
        errors=tuple(float(e) for e in errors),
        sampling_variances=tuple(variances),
        tau=float(np.sqrt(tau2)),
        df=len(sources) - 1,
        judge_good_range=(float(min(judge_rates)), float(max(judge_rates))),
    )


def _widen_t(
    est: float, low: float, high: float, tau: float, df: int, confidence: float
) -> tuple[float, float]:
    """Each side of a bootstrap interval widened by a between-source SD ``tau`` known to ``df``."""
    z = float(_sp.norm.ppf(0.5 + confidence / 2))
    out = []
    for h in (est - low, high - est):
        s2 = (max(h, 0.0) / z) ** 2
        if tau <= 0:
            out.append(max(h, 0.0))
            continue
        d = (s2 + tau**2) ** 2 / (tau**4 / df)
        out.append(float(_sp.t.ppf(0.5 + confidence / 2, d)) * float(np.sqrt(s2 + tau**2)))
    return est - out[0], est + out[1]


def extrapolation(judge_good_rate: float, judge_good_range: tuple[float, float]) -> float:
    """How far (a share) a source's judge Good rate lies outside the calibrating sources' range.

    0 inside the range; positive above the highest or below the lowest stored source. Outside it,
    the map extrapolates: its transfer error was measured between the stored sources only.
    """
    lo, hi = judge_good_range
    return float(max(0.0, judge_good_rate - hi, lo - judge_good_rate))


class CrowdEquivalent(NamedTuple):
    """A judge-rated source in the crowd's units."""

    n: float
    distribution: tuple[float, float, float]  # crowd-equivalent Bad/Okay/Good shares
    counts: tuple[float, float, float]  # the shares x n (estimated, not observed, counts)
    good_rate: float
    good_rate_ci: tuple[float, float]
    good_rate_bootstrap_ci: tuple[float, float]  # before widening by the LOSO error
    rel_increase_good: float  # percent, against the crowd's human baseline
    rel_increase_good_ci: tuple[float, float]
    loso_rms: float
    confidence: float
    resamples: int
    # With a transfer error (issue 23); NaN / 0 / None without one.
    transfer_sd: float = float("nan")  # tau: the between-source SD added to each side
    transfer_df: int = 0  # calibrating sources - 1
    calibrating_sources: int = 0
    extrapolation: float = float("nan")  # judge Good rate outside the sources' range (share)
    method: str = "bootstrap + z * rms"


def bootstrap_calibration(
    calibration_counts: Sequence[npt.ArrayLike] | npt.ArrayLike,
    *,
    smoothing: float = DEFAULT_SMOOTHING,
    resamples: int = 2000,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """``(resamples, 3, 3)`` maps P(crowd | judge), each fitted on resampled calibration pairs.

    Each stored source's pairs are resampled apart (multinomial over its 9 cells), as the
    replies of each source were rated apart.
    """
    tables = np.asarray(calibration_counts, dtype=float)
    if tables.ndim == 2:
        tables = tables[None]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    boot = np.zeros((resamples, K, K))
    for t in tables:
        m = int(round(t.sum()))
        boot += rng.multinomial(m, t.ravel() / t.sum(), size=resamples).reshape(resamples, K, K)
    return _fit_draws(boot, smoothing)


def _widen(est: float, low: float, high: float, extra: float) -> tuple[float, float]:
    return (
        est - float(np.hypot(est - low, extra)),
        est + float(np.hypot(high - est, extra)),
    )


def crowd_equivalent(
    calibration_counts: Sequence[npt.ArrayLike] | npt.ArrayLike,
    source_counts: npt.ArrayLike,
    *,
    loso_rms: float,
    baseline_good: int,
    baseline_n: int,
    smoothing: float = DEFAULT_SMOOTHING,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int | np.random.Generator | None = 0,
    calibration_draws: npt.ArrayLike | None = None,
    transfer: TransferError | None = None,
) -> CrowdEquivalent:
    """A source's crowd-equivalent distribution, Good rate and relative increase, with intervals.

    ``calibration_counts``: one judge x crowd ``3 x 3`` table per stored source (resampled
    separately); ``source_counts``: the judge's Bad/Okay/Good counts of the new source;
    ``baseline_good`` of ``baseline_n``: the crowd's human group (986 of 2,000). The
    intervals are percentile bootstrap intervals widened by ``loso_rms`` (module docstring); a
    NaN ``loso_rms`` leaves them unwidened. ``calibration_draws``: the calibration's bootstrap
    (:func:`bootstrap_calibration`), drawn once and shared by every source a judge rated.
    ``transfer`` (:func:`transfer_error`): widen by its between-source SD with a t quantile on
    its ``k - 1`` degrees of freedom instead of ``z * loso_rms``, and say how far the source lies
    outside the calibrating sources' range.
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    tables = np.asarray(calibration_counts, dtype=float)
    if tables.ndim == 2:
        tables = tables[None]
    share = np.asarray(source_counts, dtype=float)
    n = float(share.sum())
    if n <= 0:
        raise ValueError("the source has no judge ratings")
    fit = fit_calibration(tables, smoothing=smoothing)
    dist = predict_crowd(fit, share)
    good = float(dist[GOOD_INDEX])
    base = baseline_good / baseline_n
    rel = (good - base) / base * 100.0

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if calibration_draws is None:
        calibration_draws = bootstrap_calibration(
            tables, smoothing=smoothing, resamples=resamples, seed=rng
        )
    p = np.asarray(calibration_draws, dtype=float)
    if p.shape != (resamples, K, K):
        raise ValueError(f"calibration_draws must be {resamples} fitted 3 x 3 maps")
    # Resample the new source's judge ratings (over its 3 labels) and the crowd's human group
    # (binomial) beside the calibration's draws.
    shares = rng.multinomial(max(int(round(n)), 1), share / n, size=resamples).astype(float)
    shares /= shares.sum(axis=1, keepdims=True)
    good_star = np.einsum("bj,bj->b", shares, p[:, :, GOOD_INDEX])
    base_star = rng.binomial(baseline_n, base, size=resamples) / baseline_n
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_star = (good_star - base_star) / base_star * 100.0
    tail = (1 - confidence) / 2
    q = [tail, 1 - tail]
    g_lo, g_hi = (float(x) for x in np.quantile(good_star, q))
    r_lo, r_hi = (float(x) for x in np.nanquantile(rel_star, q))
    z = float(_sp.norm.ppf(1 - tail))
    more: dict[str, object] = {}
    if transfer is not None:
        lo, hi = _widen_t(good, g_lo, g_hi, transfer.tau, transfer.df, confidence)
        rlo, rhi = _widen_t(rel, r_lo, r_hi, transfer.tau / base * 100.0, transfer.df, confidence)
        more = {
            "transfer_sd": transfer.tau,
            "transfer_df": transfer.df,
            "calibrating_sources": transfer.sources,
            "extrapolation": extrapolation(float(share[GOOD_INDEX] / n), transfer.judge_good_range),
            "method": "bootstrap + random-effects transfer SD, t (k - 1 df)",
        }
    else:
        extra = 0.0 if np.isnan(loso_rms) else z * float(loso_rms)
        lo, hi = _widen(good, g_lo, g_hi, extra)
        rlo, rhi = _widen(rel, r_lo, r_hi, extra / base * 100.0)
    return CrowdEquivalent(
        n=n,
        distribution=tuple(float(x) for x in dist),
        counts=tuple(float(x) * n for x in dist),
        good_rate=good,
        good_rate_ci=(max(lo, 0.0), min(hi, 1.0)),
        good_rate_bootstrap_ci=(g_lo, g_hi),
        rel_increase_good=rel,
        rel_increase_good_ci=(max(rlo, -100.0), rhi),
        loso_rms=float(loso_rms),
        confidence=confidence,
        resamples=resamples,
        **more,  # type: ignore[arg-type]
    )


# --- the judge's report card --------------------------------------------------------------------


class JudgeAgreement(NamedTuple):
    """How far a judge agrees with single crowd ratings of the same replies."""

    n: int
    exact: float
    kappa_quadratic: float
    alpha_ordinal: float


def judge_agreement(judge: npt.ArrayLike, crowd: npt.ArrayLike) -> JudgeAgreement:
    """Exact agreement, quadratic kappa and ordinal Krippendorff's alpha (``analysis.stats``)."""
    from empathy_task.analysis import stats

    j = np.asarray(judge, dtype=np.int64).ravel()
    c = np.asarray(crowd, dtype=np.int64).ravel()
    if j.shape != c.shape:
        raise ValueError("judge and crowd must rate the same replies")
    if j.size == 0:
        return JudgeAgreement(0, float("nan"), float("nan"), float("nan"))
    a = stats.agreement(c, j)
    return JudgeAgreement(int(j.size), float((j == c).mean()), a.kappa_quadratic, a.alpha_ordinal)


class SourceBias(NamedTuple):
    source: str
    judge_good_rate: float
    crowd_good_rate: float
    difference: float  # judge - crowd


def source_bias(counts_by_source: Mapping[str, npt.ArrayLike]) -> tuple[SourceBias, ...]:
    """Per stored source: the judge's Good rate minus the crowd's, on the same replies."""
    out = []
    for source, t in counts_by_source.items():
        t = np.asarray(t, dtype=float)
        n = t.sum()
        j, c = t.sum(axis=1)[GOOD_INDEX] / n, t.sum(axis=0)[GOOD_INDEX] / n
        out.append(SourceBias(source, float(j), float(c), float(j - c)))
    return tuple(out)


class LengthBias(NamedTuple):
    """How the judge's odds of Good move with reply length, at a fixed crowd rating."""

    n: int
    odds_ratio_per_doubling: float
    ci: tuple[float, float]
    pvalue: float


def length_bias(
    judge: npt.ArrayLike, crowd: npt.ArrayLike, words: npt.ArrayLike, *, confidence: float = 0.95
) -> LengthBias:
    """Logistic regression ``judge Good ~ log2(words) + crowd rating (categorical)``.

    The odds ratio is per doubling of the reply's length in words: 1 means no length bias.
    NaN when the judge gave all or no replies Good (the model is not identified).
    """
    # The model class alone: statsmodels.api imports its plotting and time-series modules (~3 s).
    from statsmodels.discrete.discrete_model import Logit

    j = np.asarray(judge, dtype=np.int64).ravel()
    c = np.asarray(crowd, dtype=np.int64).ravel()
    w = np.asarray(words, dtype=float).ravel()
    if not (j.shape == c.shape == w.shape):
        raise ValueError("judge, crowd and words must describe the same replies")
    nan = LengthBias(int(j.size), float("nan"), (float("nan"), float("nan")), float("nan"))
    y = (j == 3).astype(float)
    if j.size < 10 or y.min() == y.max():
        return nan
    present = [r for r in RATINGS if (c == r).any()]
    columns = [np.ones_like(w), np.log2(np.maximum(w, 1.0))]
    columns += [(c == r).astype(float) for r in present[1:]]
    x = np.column_stack(columns)
    try:
        fit = Logit(y, x).fit(disp=0)
    except Exception:  # perfect separation, a singular design: no estimate
        return nan
    lo, hi = fit.conf_int(alpha=1 - confidence)[1]
    return LengthBias(
        int(j.size), float(np.exp(fit.params[1])), (float(np.exp(lo)), float(np.exp(hi))),
        float(fit.pvalues[1]),
    )  # fmt: skip


class Repeatability(NamedTuple):
    """How often a judge gives the same reply the same rating when asked twice."""

    n: int
    exact: float
    kappa_quadratic: float


def repeatability(first: npt.ArrayLike, second: npt.ArrayLike) -> Repeatability:
    """Exact agreement and quadratic kappa between two ratings of the same replies by one judge."""
    from empathy_task.analysis import stats

    a = np.asarray(first, dtype=np.int64).ravel()
    b = np.asarray(second, dtype=np.int64).ravel()
    if a.shape != b.shape:
        raise ValueError("both passes must rate the same replies")
    if a.size == 0:
        return Repeatability(0, float("nan"), float("nan"))
    return Repeatability(
        int(a.size), float((a == b).mean()), stats.weighted_kappa(a, b, weights="quadratic")
    )
