"""The result types of the analysis: what :func:`empathy_task.analysis.steps.analyse` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from empathy_task.analysis import ppi, stats
from empathy_task.analysis.repeatability import Repeatability
from empathy_task.vocabulary import HUMAN

OVERALL = "overall"


LEVELS: tuple[str, ...] = ("overall", "valence", "emotion")


TESTS: dict[str, str] = {
    "good": "Good vs not Good, 2x2 with Yates' correction",
    "dist": "Bad/Okay/Good distribution, 2x3",
}


FLAGGED_COLUMNS: tuple[str, ...] = ("rater_kind", "source", "checked", "flagged")


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse: the baseline, the correction, the cluster bootstrap and the power statement.

    ``detail_sources`` is how many sources per rater kind (highest Good rate first, besides the
    baseline) get forest plots and per-emotion tables in the report's document; every group and
    comparison in every scope, with its interval, is in the JSON regardless.
    """

    baseline: str = HUMAN
    correction: stats.Correction = "none"
    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0
    detail_sources: int = 4
    effect: float = 0.3  # the authors' w for the power statement
    alpha: float = 0.05
    sources: tuple[str, ...] | None = None  # keep only these sources


@dataclass(frozen=True)
class Family:
    """A family of tests within which p-values are adjusted: one rater kind, test and level."""

    rater_kind: str
    test: str  # "good" or "dist"
    level: str  # "overall", "valence" or "emotion"
    size: int  # tests with a p-value

    @property
    def name(self) -> str:
        return f"{self.rater_kind} / {self.test} / {self.level}"


@dataclass(frozen=True)
class KindAgreement:
    """How far rater kind ``other`` agrees with ``reference`` on the replies both rated."""

    reference: str
    other: str
    overall: stats.AgreementResult
    per_source: tuple[tuple[str, stats.AgreementResult], ...]
    rank: stats.RankAgreement  # over the sources' Good rates (NaN with fewer than 2 sources)
    duplicates_dropped: int  # extra ratings of one (dialog, source) by one kind, not paired


@dataclass(frozen=True)
class PPIRow:
    """The crowd's Good rate of one source from a few crowd ratings plus a judge's ratings of all
    its replies, by prediction-powered inference (:func:`empathy_task.analysis.ppi.ppi_mean`).

    ``prediction`` says what stood for the judge's prediction of a crowd Good: ``P(Good)`` (its
    answer probabilities), ``Good label``, or ``mixed`` (probabilities where it gave them).
    ``crowd_unjudged`` counts crowd-rated replies the judge did not rate (not used).
    """

    source: str
    judge: str
    prediction: str
    result: ppi.PPIResult
    crowd_unjudged: int = 0


@dataclass(frozen=True)
class Analysis:
    """Everything the reporter renders. Tables are pandas frames with one row per item.

    ``groups``: one row per (rater_kind, source, scope) with ratings: ``n, Bad, Okay, Good,
    good_rate, good_rate_low, good_rate_high, mean_rating``.

    ``clusters``: one row per (rater_kind, source), overall: the unit resampled (``rater`` for
    the crowd, whose raters each rate a batch; ``prompt`` for a judge, the one rater of all its
    ratings), ``clusters``, ``largest_cluster``, ``design_effect`` and the cluster bootstrap
    interval ``good_rate_cluster_low/high``. The comparisons' overall rows add the Rao-Scott
    design-effect-corrected Good test ``good_rs_chi2, good_rs_p`` beside the paper's.

    ``comparisons``: one row per (rater_kind, a, b, scope) where either side has ratings, its
    numbers on the prompts both sides have (``n_prompts`` of them; a judge's human baseline is its
    ratings of the human replies to the same prompts): ``n_a, n_b, good_a, good_b``,
    ``rel_increase_good`` (percent, of the Good rates; the paper's count-based figure whenever
    ``n_a == n_b``, as in the paper's data, where every source covers every prompt),
    ``rel_increase_good_rate`` (the same from float rates), its interval
    (comparisons with the baseline; :func:`empathy_task.analysis.stats.relative_increase_ci`),
    ``good_chi2, good_p, good_p_adjusted, good_marker, good_cramers_v, good_reason`` and the same
    with ``dist_``, plus ``family_good`` / ``family_dist`` and, for the overall rows against the
    baseline, the a-priori power of both tests at w = ``options.effect``. (Power at the observed
    w is not given: it is a fixed function of the p-value and says nothing more.)

    ``coverage``: one row per (rater_kind, source): ``prompts`` it covers, ``ratings``,
    ``prompts_with_baseline`` and ``kind_covers_different_prompts`` (then the comparisons of that
    kind each use their own shared prompts, and the report says so).

    ``paired``: the paired tests of the judges' comparisons (a judge rated both replies to a
    prompt), one row per (rater_kind, a, b, scope) with paired ratings; see
    :func:`empathy_task.analysis.steps._paired_frame` and :mod:`empathy_task.analysis.paired`.
    Empty for the crowd, whose raters differ between sources.

    ``published``: the paper's published rows (Good counts) of its models whose crowd ratings are
    not in the input, the leaderboard's labelled fallback
    (:func:`empathy_task.analysis.steps.published_rows`); a paper model whose ratings are there is
    a computed group like any other.

    Good-rate intervals are Wilson intervals (:func:`empathy_task.analysis.stats.wilson_interval`) of
    every group in every scope: closed forms, so identical counts give identical intervals.
    """

    options: AnalysisOptions
    n_ratings: int
    rater_kinds: tuple[str, ...]
    primary_kind: str
    sources: dict[str, tuple[str, ...]]
    detail_sources: dict[str, tuple[str, ...]]
    scopes: tuple[str, ...]
    groups: pd.DataFrame
    comparisons: pd.DataFrame
    clusters: pd.DataFrame
    descriptive_only: tuple[tuple[str, str, str], ...]  # (rater kind, source, reason)
    families: tuple[Family, ...]
    agreement: tuple[KindAgreement, ...]
    rater_quality: pd.DataFrame
    published: pd.DataFrame
    notes: tuple[str, ...] = field(default=())
    ppi: tuple[PPIRow, ...] = field(
        default=()
    )  # crowd sample + judge (analysis/steps.py, ppi_rows)
    # Added by empathy_task.analysis.crowd_equivalent.with_calibrations: the judges' calibrations
    # to the crowd (JudgeCalibration) and the judge-rated sources in crowd units (dicts).
    calibrations: tuple[Any, ...] = field(default=())
    crowd_equivalent: tuple[dict[str, Any], ...] = field(default=())
    # A judge's agreement with itself between epochs 1 and 2 (analysis/repeatability.py).
    repeatability: tuple[Repeatability, ...] = field(default=())
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    paired: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Added by empathy_task.analysis.judge_panel.with_panel: the calibrated judges pooled (a dict,
    # None without two of them) and the judges that share an origin with a source they rated.
    panel: dict[str, Any] | None = None
    self_preference: tuple[dict[str, Any], ...] = field(default=())
    # The user's prompt set the ratings are of (name, sha256, emotions, valence), None for the
    # study's prompts (analysis/steps.py, _for_prompt_set).
    prompt_set: dict[str, Any] | None = None

    def coverage_differs(self) -> dict[str, bool]:
        """Per rater kind: whether its sources cover different prompts."""
        c = self.coverage
        if c.empty:
            return {}
        first = c.drop_duplicates("rater_kind")
        return dict(zip(first["rater_kind"], first["kind_covers_different_prompts"].astype(bool)))

    # One row per (rater_kind, source) whose input recorded flags (the rating table's optional
    # ``flagged`` column): ``checked`` ratings with a flag, ``flagged`` ratings of a reply that
    # addressed the judge (its answer format or instructions to it; the rating stands).
    flagged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FLAGGED_COLUMNS))

    def overall_groups(self) -> pd.DataFrame:
        """The groups over all prompts (scope ``overall``)."""
        return self.groups[self.groups["scope"] == OVERALL]
