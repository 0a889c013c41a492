"""Inspect metrics over the judge's scores.

Each sample's score value is a dict (so that it survives epoch reduction): ``rating`` (1-3),
indicator keys ``bad``/``okay``/``good``, ``rated`` (1 if the judge's answer parsed), ``flagged``
(1 if the reply addressed the judge, :func:`empathy_task.task.verdict.injection_flags`), and the same
for the judge-rated human reply under ``human_*``. With ``-T judge_logprobs=true`` the judge's
answer probabilities ``p_bad``/``p_okay``/``p_good`` too (NaN where the provider gave none): the
mean rating is then the expected rating ``P(Bad) + 2 P(Okay) + 3 P(Good)`` for each reply that
has them, the label elsewhere; the Good rate and the distribution stay counts of labels, as the
study's. Unrated keys hold NaN and are skipped. Every metric handles an empty list and has no side
effects (Inspect recomputes metrics).
"""

from __future__ import annotations

import math

from inspect_ai.scorer import Metric, SampleScore, grouped, metric

from empathy_task.vocabulary import LABELS, RATINGS


def _values(scores: list[SampleScore], key: str) -> list[float]:
    out = []
    for s in scores:
        value = s.score.value
        if isinstance(value, dict):
            v = value.get(key)
            if isinstance(v, int | float) and not math.isnan(v):
                out.append(float(v))
    return out


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not math.isnan(value)


def _rating_values(scores: list[SampleScore], prefix: str = "") -> list[float]:
    """Each rated reply's rating: the expected rating under the judge's answer probabilities
    where the score has all three, else the label's value."""
    out = []
    keys = [f"{prefix}p_{label.lower()}" for label in LABELS]
    for s in scores:
        value = s.score.value
        if not isinstance(value, dict):
            continue
        probabilities = [value.get(k) for k in keys]
        if all(_finite(p) for p in probabilities):
            out.append(sum(r * float(p) for r, p in zip(RATINGS, probabilities)))
        elif _finite(value.get(f"{prefix}rating")):
            out.append(float(value[f"{prefix}rating"]))
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _stderr(values: list[float]) -> float:
    # Standard error of the mean over rated replies (sample sd, n - 1), as Inspect's stderr().
    n = len(values)
    if n < 2:
        return float("nan")
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def _good_rate(scores: list[SampleScore], prefix: str = "") -> float:
    return _mean(_values(scores, f"{prefix}good"))


@metric
def good_rate() -> Metric:
    """Share of rated replies the judge rated Good, on the judge's scale (not the crowd's)."""

    def compute(scores: list[SampleScore]) -> float:
        return _good_rate(scores)

    return compute


@metric
def mean_rating() -> Metric:
    """Mean rating of the rated replies (1 Bad, 2 Okay, 3 Good), on the judge's scale; where the
    judge gave answer probabilities, each reply counts with its expected rating."""

    def compute(scores: list[SampleScore]) -> float:
        return _mean(_rating_values(scores))

    return compute


@metric
def good_rate_stderr() -> Metric:
    """Standard error of the Good rate over the rated replies."""

    def compute(scores: list[SampleScore]) -> float:
        return _stderr(_values(scores, "good"))

    return compute


@metric
def mean_rating_stderr() -> Metric:
    """Standard error of the mean rating over the rated replies."""

    def compute(scores: list[SampleScore]) -> float:
        return _stderr(_rating_values(scores))

    return compute


@metric
def rating_distribution() -> Metric:
    """Shares of Bad, Okay and Good among the rated replies, on the judge's scale."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        return {label: _mean(_values(scores, label.lower())) for label in LABELS}

    return compute


@metric
def human_good_rate() -> Metric:
    """Share of the judge-rated human replies to the same prompts rated Good (judge's scale)."""

    def compute(scores: list[SampleScore]) -> float:
        return _good_rate(scores, "human_")

    return compute


@metric
def relative_increase_good() -> Metric:
    """``(Good rate - human Good rate) / human Good rate`` in percent, judge against judge."""

    def compute(scores: list[SampleScore]) -> float:
        model, human = _good_rate(scores), _good_rate(scores, "human_")
        if math.isnan(model) or math.isnan(human) or human == 0:
            return float("nan")
        return (model - human) / human * 100.0

    return compute


@metric
def crowd_equivalent_good_rate(p_good_given_judge: dict[str, list[float]]) -> Metric:
    """The Good rate in the crowd's units: the mean of P(crowd Good | the judge's label).

    ``p_good_given_judge``: per judge, P(crowd Good) for its Bad, Okay and Good, from its
    calibration (``-T calibration=FILE``; docs/design.md, "Judge calibration"); each score is
    read with the calibration of the judge its metadata names, and a judge without one gives no
    value. Its interval, which carries the calibration's own error, is in ``empathy-task report
    --calibration``.
    """
    maps = {judge: [float(x) for x in p] for judge, p in p_good_given_judge.items()}

    def compute(scores: list[SampleScore]) -> float:
        values = []
        for s in scores:
            p = maps.get(str((s.score.metadata or {}).get("judge")))
            value = s.score.value
            rating = value.get("rating") if isinstance(value, dict) else None
            if p is None or not isinstance(rating, int | float) or math.isnan(rating):
                continue
            # An epoch-averaged rating falls between labels: interpolate between their P(Good).
            low = min(max(math.floor(rating), 1), 3)
            high = min(low + 1, 3)
            values.append(p[low - 1] + (rating - low) * (p[high - 1] - p[low - 1]))
        return _mean(values)

    return compute


@metric
def parse_rate() -> Metric:
    """Share of replies that received a rating (unparsable judge answers are not ratings)."""

    def compute(scores: list[SampleScore]) -> float:
        return _mean(_values(scores, "rated"))

    return compute


#: The default of ``-T min_parse_rate=``. Dropping a share u of the verdicts can move the Good rate
#: of the rated replies by up to u / (1 - u) (every dropped verdict a Good, or none): 0.053 at
#: u = 0.05, about two standard errors of a 2,000-prompt run's Good rate and the size of the
#: smallest gaps between the study's sources. A working judge parses all (the mock judge, and
#: gpt-4o-mini on the study's 2,000 replies); a timeout or two in a long run stays under it.
MIN_PARSE_RATE = 0.95


class ParseRateError(RuntimeError):
    """The judge rated too few replies for the run's Good rate to mean anything."""


def check_parse_rate(rate: float, minimum: float, what: str = "replies") -> None:
    """Raise :class:`ParseRateError` when ``rate`` (not NaN) is below ``minimum``."""
    if not math.isnan(rate) and rate < minimum:
        why = (
            f"the unrated {what} could move their Good rate by up to {(1 - rate) / rate:.3f}"
            if rate > 0
            else f"the judge rated none of the {what}"
        )
        raise ParseRateError(
            f"empathy_task: the judge's parse rate of the {what} is {rate:.3f}, below "
            f"min_parse_rate={minimum:g}: {why}. "
            "Read the judge's answers (the explanation of each unrated score) or allow the run "
            "with -T min_parse_rate=0; its ratings are in the samples either way."
        )


@metric(name="min_parse_rate")
def parse_rate_floor(minimum: float = MIN_PARSE_RATE) -> Metric:
    """The run's ``min_parse_rate`` (its value): the run fails (status error, non-zero exit)
    when the parse rate of the model's replies, or of the judge-rated human replies (the
    baseline of ``relative_increase_good``), is below it. A metric, so that it judges the run's
    final parse rates."""

    def compute(scores: list[SampleScore]) -> float:
        check_parse_rate(_mean(_values(scores, "rated")), minimum, "model's replies")
        check_parse_rate(_mean(_values(scores, "human_rated")), minimum, "human replies")
        return float(minimum)

    return compute


@metric
def flagged_rate() -> Metric:
    """Share of replies flagged for addressing the judge (its answer format, instructions)."""

    def compute(scores: list[SampleScore]) -> float:
        return _mean(_values(scores, "flagged"))

    return compute


@metric
def good_rate_by_emotion() -> Metric:
    """Good rate per emotion (32 groups)."""
    return grouped(good_rate(), "emotion", all=False)


@metric
def good_rate_by_valence() -> Metric:
    """Good rate per valence (positive, negative)."""
    return grouped(good_rate(), "sentiment", all=False)


@metric
def valence_uncertainty() -> Metric:
    """Per valence: the Good rate's standard error, the mean rating and its standard error.

    Named keys (``positive_good_rate_stderr``, ...): Inspect's ``grouped`` would give every
    grouped metric the same ``positive``/``negative`` keys and number the repeats.
    """

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        groups: dict[str, list[SampleScore]] = {}
        for s in scores:
            group = (s.sample_metadata or {}).get("sentiment")
            if group is not None:
                groups.setdefault(str(group), []).append(s)
        out: dict[str, float] = {}
        for group, members in sorted(groups.items()):
            out[f"{group}_good_rate_stderr"] = _stderr(_values(members, "good"))
            out[f"{group}_mean_rating"] = _mean(_rating_values(members))
            out[f"{group}_mean_rating_stderr"] = _stderr(_rating_values(members))
        return out

    return compute


JUDGE_METRICS: list[Metric] = [
    good_rate(),
    good_rate_stderr(),
    mean_rating(),
    mean_rating_stderr(),
    rating_distribution(),
    human_good_rate(),
    relative_increase_good(),
    parse_rate(),
    flagged_rate(),
    good_rate_by_valence(),
    valence_uncertainty(),
    good_rate_by_emotion(),
]
