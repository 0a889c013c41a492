"""The task's metrics read scores as Inspect's epoch reducer leaves them (pytest-inspect-evals).

A metric gets the reduced score, not the scorer's: these run a real eval on mockllm whose scorer
replays the judge's score values (``rating_value``, as ``empathy_judge`` builds them) per epoch.
"""

from __future__ import annotations

import math

import pytest
from pytest_inspect_evals.metrics import assert_agreeing_epochs_change_nothing, run_metrics

from empathy_task.task.metrics import (
    JUDGE_METRICS,
    flagged_rate,
    good_rate,
    good_rate_by_emotion,
    good_rate_by_valence,
    good_rate_stderr,
    human_good_rate,
    mean_rating,
    mean_rating_stderr,
    parse_rate,
    rating_distribution,
    relative_increase_good,
    valence_uncertainty,
)
from empathy_task.task.scorer import rating_value

METRICS = [
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


@pytest.fixture(autouse=True)
def _offline_token_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    # The helpers run mockllm, which counts tokens with tiktoken, whose encoding is a download;
    # the tests are offline and no metric reads a token count, so words serve.
    import inspect_ai.model._model as model_module

    monkeypatch.setattr(model_module, "count_text_tokens", lambda text: max(1, len(text.split())))


def _value(rating: int | None, human: int | None, flagged: bool = False) -> dict[str, float]:
    return rating_value(rating) | rating_value(human, "human_") | {"flagged": float(flagged)}


# Every kind of sample: each rating, an unparsed judge answer, a flagged reply, both valences.
SCORES = [
    _value(3, 2),
    _value(1, 3),
    _value(2, 1, flagged=True),
    _value(None, 3),
    _value(3, None),
    _value(3, 3),
]
METADATA = [
    {"emotion": "sad", "sentiment": "negative"},
    {"emotion": "sad", "sentiment": "negative"},
    {"emotion": "proud", "sentiment": "positive"},
    {"emotion": "proud", "sentiment": "positive"},
    {"emotion": "afraid", "sentiment": "negative"},
    {"emotion": "joyful", "sentiment": "positive"},
]


def test_the_metric_list_is_the_scorers() -> None:
    assert [m.__registry_info__.name for m in METRICS] == [  # type: ignore[attr-defined]
        m.__registry_info__.name  # type: ignore[attr-defined]
        for m in JUDGE_METRICS
    ]


def test_agreeing_epochs_change_no_metric() -> None:
    assert_agreeing_epochs_change_nothing(METRICS, SCORES, metadata=METADATA)


def test_disagreeing_epochs_are_averaged_before_the_metrics() -> None:
    # Two epochs per sample under the default mean reducer: Good then Bad is half a Good.
    epochs = [
        [_value(3, 3), _value(1, 3)],
        [_value(3, 1), _value(3, 1)],
    ]
    values = run_metrics(
        [good_rate(), mean_rating(), human_good_rate(), relative_increase_good()],
        epochs,
        metadata=METADATA[:2],
    )
    assert values["good_rate"] == pytest.approx(0.75)
    assert values["mean_rating"] == pytest.approx(2.5)
    assert values["human_good_rate"] == pytest.approx(0.5)
    assert values["relative_increase_good"] == pytest.approx(50.0)
    assert not any(isinstance(v, float) and math.isnan(v) for v in values.values())


# The judge validation task's metrics (empathy_judge_validation) and the crowd-equivalent metric
# (-T calibration=): judge_agreement's score values, and a judge named in the score's metadata.
def _agreement(rating: int | None, crowd: int) -> dict[str, float]:
    nan = float("nan")
    return {
        "crowd_rating": float(crowd),
        "crowd_good": float(crowd == 3),
        "rated": 0.0 if rating is None else 1.0,
        "rating": nan if rating is None else float(rating),
        "good": nan if rating is None else float(rating == 3),
        "exact": nan if rating is None else float(rating == crowd),
    }


AGREEMENT = [_agreement(3, 3), _agreement(2, 3), _agreement(1, 1), _agreement(None, 2)]
SOURCES = [{"source": "human"}, {"source": "human"}, {"source": "chatgpt"}, {"source": "chatgpt"}]


def test_the_validation_metrics_under_epochs() -> None:
    from empathy_task.task.judge_validation import (
        exact_agreement,
        good_rate_by_source,
        quadratic_kappa,
    )

    metrics = [exact_agreement(), quadratic_kappa(), good_rate_by_source()]
    assert_agreeing_epochs_change_nothing(metrics, AGREEMENT, metadata=SOURCES)
    values = run_metrics(metrics, [[v] for v in AGREEMENT], metadata=SOURCES)
    assert values["exact_agreement"] == pytest.approx(2 / 3)
    assert values["human_judge"] == pytest.approx(0.5)
    assert values["human_crowd"] == pytest.approx(1.0)
    assert values["chatgpt_judge"] == pytest.approx(0.0)


def test_the_crowd_equivalent_good_rate_under_epochs() -> None:
    from inspect_ai.scorer import Score

    from empathy_task.task.metrics import crowd_equivalent_good_rate

    p_good = {"judge/a": [0.1, 0.4, 0.8]}
    scores = [Score(value=_value(r, 2), metadata={"judge": "judge/a"}) for r in (1, 2, 3, None)] + [
        Score(value=_value(3, 2), metadata={"judge": "judge/uncalibrated"})
    ]
    metric = [crowd_equivalent_good_rate(p_good)]
    assert_agreeing_epochs_change_nothing(metric, scores, metadata=METADATA[:5])
    values = run_metrics(metric, [[s] for s in scores], metadata=METADATA[:5])
    # The mean of P(crowd Good | label) over the three rated replies of the calibrated judge.
    assert values["crowd_equivalent_good_rate"] == pytest.approx((0.1 + 0.4 + 0.8) / 3)
    # Bad then Good in two epochs reduces to a rating of 2, read as Okay's P(Good).
    two = run_metrics(metric, [[scores[0], scores[2]]], metadata=METADATA[:1])
    assert two["crowd_equivalent_good_rate"] == pytest.approx(0.4)
