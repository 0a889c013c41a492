"""Prediction-powered inference (PPI) of a mean: a few human ratings plus a judge's ratings of all.

When the crowd rated part of a source's replies and a judge rated all of them, the Good rate the
crowd would give the whole source is estimated by (Angelopoulos et al., *Science* 2023; PPI++,
arXiv 2311.01453)::

    theta = lam * mean(f(X_unlabelled)) + mean(Y - lam * f(X_labelled))

where ``Y`` is the crowd's Good indicator of a labelled reply, ``f(X)`` the judge's prediction of
it (its P(Good) where it gave answer probabilities, else its Good label), the first mean runs over
the replies the crowd did not rate and the second, the *rectifier*, over those it did: the judge's
bias, measured where both rated, is subtracted. The variance is
``lam^2 var(f_unlabelled) / N + var(Y - lam f_labelled) / n`` (population variances, as
``ppi-python``) and the interval is normal. ``lam = 1`` is plain PPI; by default ``lam`` is
power-tuned (PPI++): ``cov(Y, f_labelled) / ((1 + n / N) var(f_all))`` clipped to [0, 1], which
makes the interval no wider than the crowd's alone, asymptotically, however poor the judge
(``lam = 0`` ignores it). The estimate and interval come from the ``ppi-python`` package
(``ppi_mean_pointestimate``, ``ppi_mean_ci``) at that ``lam``.

The classical interval is the normal (CLT) interval of the labelled ratings alone, computed the
same way, so that the *effective human sample size*, ``n * (classical width / PPI width)^2``, says
how many crowd ratings alone would give the PPI interval's width.

Crowd ratings come in clusters: a rater rates a batch of 10 replies, and a lenient rater makes a
batch Good. With ``clusters`` (each labelled item's batch) the two crowd terms, the rectifier's
and the classical mean's, get the cluster-robust (CR1) variance
``C / (C - 1) * sum_c (sum_{i in c} (r_i - mean r))^2 / n^2`` over the ``C`` batches, so that the
intervals hold when whole batches were rated; the judge's term stays per reply (the judge rates
each reply on its own). A variance from few clusters is itself uncertain, so the clustered
intervals take Student's t quantile with ``C - 1`` degrees of freedom, not the normal one (with 3
batches the normal quantile covered 0.79; ``benchmarks/interval_coverage.py``). Without ``clusters`` the interval is ``ppi-python``'s, for independent
items. Either way the labelled items must be a random sample of all items (the study kit's
batches chosen at random).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats


class PPIResult(NamedTuple):
    """A prediction-powered estimate of a mean, beside the labelled data's own."""

    estimate: float
    interval: tuple[float, float]
    n_labelled: int
    n_unlabelled: int
    classical_estimate: float  # the mean of the labelled outcomes alone
    classical_interval: tuple[float, float]  # their normal interval
    effective_n: float  # labelled outcomes alone that would give the PPI interval's width
    lam: float  # the power-tuning weight of the predictions (1 = plain PPI, 0 = ignored)
    n_clusters: int | None = None  # labelled clusters (batches), None for independent items


def _vector(values: npt.ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got shape {x.shape})")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def power_tuning_lambda(
    labels: npt.ArrayLike,
    predictions_labelled: npt.ArrayLike,
    predictions_unlabelled: npt.ArrayLike,
) -> float:
    """PPI++'s variance-minimising weight of the predictions for a mean, clipped to [0, 1].

    ``cov(Y, f_l) / ((1 + n / N) * var(f_l and f_u))``, the covariance over the labelled data
    (divided by n) and the variance over all predictions (divided by n + N - 1), as
    ``ppi-python`` computes it; 0 where the predictions do not vary.
    """
    y = _vector(labels, "labels")
    f = _vector(predictions_labelled, "predictions_labelled")
    g = _vector(predictions_unlabelled, "predictions_unlabelled")
    n, big_n = len(y), len(g)
    everything = np.concatenate([f, g])
    variance = everything.var(ddof=1) if len(everything) > 1 else 0.0
    if not variance > 0:
        return 0.0
    covariance = float(np.mean((y - y.mean()) * (f - f.mean())))
    return float(np.clip(covariance / ((1 + n / big_n) * variance), 0.0, 1.0))


def _ppi_py() -> Any:
    # ppi-python calls warnings.simplefilter("ignore") when imported, which would silence every
    # warning in the process: the import runs inside catch_warnings, which restores the filters.
    with warnings.catch_warnings():
        import ppi_py
    return ppi_py


def ppi_mean(
    labels: npt.ArrayLike,
    predictions_labelled: npt.ArrayLike,
    predictions_unlabelled: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    lam: float | None = None,
    clusters: npt.ArrayLike | None = None,
) -> PPIResult:
    """The prediction-powered estimate and interval of the mean of ``labels`` over all items.

    Args:
        labels: The outcome on the labelled items (a crowd rating's Good indicator, or the mean of
            several crowd ratings of one reply).
        predictions_labelled: The judge's prediction of it on the same items, in the same order.
        predictions_unlabelled: The judge's prediction on the items without a label.
        confidence: Coverage of both intervals.
        lam: The predictions' weight; ``None`` tunes it (PPI++, :func:`power_tuning_lambda`),
            ``1`` is plain PPI.
        clusters: The cluster (batch) of each labelled item, for cluster-robust crowd terms;
            ``None`` for independent items.

    Raises:
        ValueError: fewer than two labelled items (or clusters), no unlabelled item, arrays of
            unequal length, non-finite values, or a confidence or ``lam`` outside (0, 1) / [0, 1].
    """
    y = _vector(labels, "labels")
    f = _vector(predictions_labelled, "predictions_labelled")
    g = _vector(predictions_unlabelled, "predictions_unlabelled")
    if len(y) != len(f):
        raise ValueError(
            f"labels and predictions_labelled differ in length ({len(y)} and {len(f)})"
        )
    if len(y) < 2:
        raise ValueError(f"PPI needs at least two labelled items (got {len(y)})")
    if len(g) < 1:
        raise ValueError("PPI needs at least one unlabelled item")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if lam is None:
        lam = power_tuning_lambda(y, f, g)
    elif not 0 <= lam <= 1:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    ppi_py = _ppi_py()
    alpha = 1 - confidence
    estimate = float(np.squeeze(ppi_py.ppi_mean_pointestimate(y, f, g, lam=lam)))
    n_clusters = None
    if clusters is None:
        low, high = (
            float(np.squeeze(b)) for b in ppi_py.ppi_mean_ci(y, f, g, alpha=alpha, lam=lam)
        )
        c_low, c_high = (float(np.squeeze(b)) for b in ppi_py.classical_mean_ci(y, alpha=alpha))
    else:
        labels_of = np.asarray(clusters)
        if labels_of.shape != y.shape:
            raise ValueError(
                f"clusters and labels differ in length ({labels_of.size} and {len(y)})"
            )
        _, inverse = np.unique(labels_of, return_inverse=True)
        n_clusters = int(inverse.max()) + 1
        if n_clusters < 2:
            raise ValueError("cluster-robust PPI needs at least two clusters")
        # t with C - 1 df: the crowd's variance rests on C cluster sums (issue 23).
        z = float(scipy_stats.t.ppf(1 - alpha / 2, n_clusters - 1))
        # The judge's term, per unlabelled item (population sd, as ppi-python).
        imputed_se = lam * g.std() / math.sqrt(len(g))
        se = math.hypot(imputed_se, _cluster_se(y - lam * f, inverse))
        low, high = estimate - z * se, estimate + z * se
        classical_se = _cluster_se(y, inverse)
        mean = float(y.mean())
        c_low, c_high = mean - z * classical_se, mean + z * classical_se
    width, classical_width = high - low, c_high - c_low
    effective = (
        len(y) * (classical_width / width) ** 2 if width > 0 and classical_width > 0 else math.nan
    )
    return PPIResult(
        estimate=estimate,
        interval=(low, high),
        n_labelled=len(y),
        n_unlabelled=len(g),
        classical_estimate=float(y.mean()),
        classical_interval=(c_low, c_high),
        effective_n=float(effective),
        lam=float(lam),
        n_clusters=n_clusters,
    )


def _cluster_se(values: np.ndarray, inverse: np.ndarray) -> float:
    """The CR1 cluster-robust standard error of the mean of ``values`` (clusters: ``inverse``)."""
    sums = np.bincount(inverse, weights=values - values.mean())
    c = len(sums)
    return math.sqrt(c / (c - 1) * float((sums**2).sum())) / len(values)
