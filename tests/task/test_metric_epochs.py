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
