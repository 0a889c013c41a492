"""The judge panel's statistics (analysis/panel.py): generated ratings, no data needed."""

from __future__ import annotations

import numpy as np
import pytest

from empathy_task.analysis import calibration as cal
from empathy_task.analysis import panel as pn
from empathy_task.task.judges import judge_slots, model_family, shared_origin

SOURCES = ("human", "chatgpt", "chatgpt_empathy")


def _world(n: int = 600, seed: int = 3, judges: int = 2) -> dict[str, np.ndarray]:
    """Per stored source, (n, judges + crowd) ratings: each judge the crowd's rating plus noise."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in SOURCES:
        crowd = rng.integers(1, 4, n)
        cols = [np.clip(crowd + rng.integers(-1, 2, n), 1, 3) for _ in range(judges)]
        out[s] = np.column_stack([*cols, crowd])
    return out


def _counts(world: dict[str, np.ndarray], j: int) -> dict[str, np.ndarray]:
    return {s: cal.pair_counts(a[:, j], a[:, -1]) for s, a in world.items()}


def test_fit_many_is_the_single_judge_map() -> None:
    world = _world()
    tables = np.stack(list(_counts(world, 0).values()))
    expected = cal.fit_calibration(tables).p_crowd_given_judge
    assert np.allclose(pn.fit_many(tables.sum(axis=0)), expected)
    assert pn.fit_many(np.stack([tables.sum(axis=0)] * 4)).shape == (4, 3, 3)


def test_a_panel_weighing_one_judge_is_that_judges_crowd_equivalent() -> None:
    world = _world()
    new = np.random.default_rng(9).integers(1, 4, (400, 2))
    for j in range(2):
        single = cal.crowd_equivalent(
            list(_counts(world, j).values()),
            cal.judge_counts(new[:, j]),
            loso_rms=0.0,
            baseline_good=986,
            baseline_n=2000,
        )
        w = np.eye(2)[j]
        est = pn.panel_crowd_equivalent(
            world, new, weights=w, loso_rms=0.0, loso_df=3, baseline_good=986, baseline_n=2000
        )
        assert est.good_rate == pytest.approx(single.good_rate)
        assert est.rel_increase_good == pytest.approx(single.rel_increase_good)
        # Same resampling design: the bootstrap intervals agree to Monte Carlo error.
        assert est.good_rate_bootstrap_ci == pytest.approx(single.good_rate_bootstrap_ci, abs=0.01)


def test_the_joint_bootstrap_keeps_the_judges_correlation() -> None:
    # Two copies of one judge: perfectly correlated errors; averaging them gains nothing.
    world = _world(judges=1)
    twin = {s: np.column_stack([a[:, 0], a[:, 0], a[:, 1]]) for s, a in world.items()}
    new1 = np.random.default_rng(5).integers(1, 4, (400, 1))
    kw = dict(loso_rms=float("nan"), loso_df=3, baseline_good=986, baseline_n=2000)
    one = pn.panel_crowd_equivalent(world, new1, weights=[1.0], **kw)
    two = pn.panel_crowd_equivalent(twin, np.hstack([new1, new1]), weights=[0.5, 0.5], **kw)
    assert two.judge_error_correlation[0][1] == pytest.approx(1.0)
    width = lambda e: e.good_rate_ci[1] - e.good_rate_ci[0]  # noqa: E731
    assert width(two) == pytest.approx(width(one), rel=0.1)
    # Two judges with independent noise: correlation well below 1, a narrower pooled interval.
    indep = _world(judges=2)
    new2 = np.random.default_rng(5).integers(1, 4, (400, 2))
    both = pn.panel_crowd_equivalent(indep, new2, weights=[0.5, 0.5], **kw)
    assert both.judge_error_correlation[0][1] < 0.9


def test_the_interval_is_widened_by_a_t_quantile_of_the_transfer_error() -> None:
    world = _world()
    new = np.random.default_rng(1).integers(1, 4, (300, 2))
    kw = dict(weights=[0.5, 0.5], baseline_good=986, baseline_n=2000)
    narrow = pn.panel_crowd_equivalent(world, new, loso_rms=float("nan"), loso_df=3, **kw)
    wide = pn.panel_crowd_equivalent(world, new, loso_rms=0.05, loso_df=3, **kw)
    assert wide.transfer_quantile == pytest.approx(3.182, abs=1e-3)  # t(3), 97.5%
    lo, hi = wide.good_rate_ci
    assert lo < narrow.good_rate_ci[0] and hi > narrow.good_rate_ci[1]
    assert hi - wide.good_rate >= 3.18 * 0.05 - 1e-9


def test_nested_loso_never_lets_the_held_out_source_choose_its_weights() -> None:
    world = _world(judges=3)
    counts = [_counts(world, j) for j in range(3)]
    base = pn.panel_leave_one_source_out(counts)
    # Make judge 0 terrible on the held-out source only: its weights for that source stay put.
    spoiled = [dict(c) for c in counts]
    spoiled[0]["human"] = np.array([[0, 0, 200], [0, 0, 200], [200, 0, 0]], dtype=float)
    after = pn.panel_leave_one_source_out(spoiled)
    assert after.rows[0].weights == pytest.approx(base.rows[0].weights)
    assert after.rows[1].weights != pytest.approx(base.rows[1].weights)
    assert base.rms_error == pytest.approx(np.sqrt(np.mean([r.error**2 for r in base.rows])))
    assert len(base.judge_rms_errors) == 3


def test_weights_and_the_vote() -> None:
    assert pn.panel_weights([0.1, 0.1]) == pytest.approx([0.5, 0.5])
    w = pn.panel_weights([0.02, 0.04])
    assert w.sum() == pytest.approx(1.0) and w[0] > w[1]
    assert pn.panel_weights([0.02, float("nan")]) == pytest.approx([0.5, 0.5])
    assert pn.panel_weights([0.02, 0.04], "equal") == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="weighting"):
        pn.panel_weights([0.1], "best")
    assert pn.vote([[1, 3, 3], [1, 1, 2]]).tolist() == [3, 1]
    assert pn.vote([[1, 3], [2, 3], [1, 2], [3, 3]]).tolist() == [2, 2, 2, 3]


def test_bad_input_is_refused() -> None:
    world = _world()
    kw = dict(loso_rms=0.0, loso_df=3, baseline_good=986, baseline_n=2000)
    with pytest.raises(ValueError, match="one weight per judge"):
        pn.panel_crowd_equivalent(world, np.ones((5, 2), int), weights=[1.0], **kw)
    with pytest.raises(ValueError, match="1, 2 or 3"):
        pn.panel_crowd_equivalent(world, np.zeros((5, 2), int), weights=[0.5, 0.5], **kw)
    with pytest.raises(ValueError, match="same stored sources"):
        c = _counts(world, 0)
        pn.panel_leave_one_source_out([c, {"human": c["human"], "chatgpt": c["chatgpt"]}])


def test_self_preference_rules() -> None:
    assert shared_origin("openai/x", "openai/y") == (
        "shares the provider 'openai' with the model under test"
    )
    assert "family 'llama'" in shared_origin("hf/meta-llama/Llama-3-8B", "together/llama-3-70b")
    assert shared_origin("openai/gpt-4o [vanilla]", "openai/gpt-4o") == "is the model under test"
    # A host provider is no shared origin; the replay provider and its mock judges neither.
    assert shared_origin("hf/org/foo", "hf/other/bar") is None
    assert shared_origin("empathy/chatgpt", "empathy/mock-judge") is None
    assert shared_origin("anthropic/claude-3-haiku", "openai/gpt-4o-mini") is None
    assert model_family("openai/gpt-4o-mini") == "gpt"
    assert model_family("empathy/mock-judge-a") is None


def test_judge_slots_from_roles() -> None:
    roles = {"grader": "a", "grader_b": "b", "other": "x", "grader2": "c"}
    assert [s.role for s in judge_slots(None, roles)] == ["grader", "grader2", "grader_b"]
    assert [tuple(s) for s in judge_slots(None, {"grader": ["a", "b"]})] == [
        ("grader", 0),
        ("grader", 1),
    ]
    assert [s.role for s in judge_slots("grader_b,grader", roles)] == ["grader_b", "grader"]
    assert [s.role for s in judge_slots(None, {})] == ["grader"]
    with pytest.raises(ValueError, match="does not define"):
        judge_slots("grader,grader_z", roles)
    with pytest.raises(ValueError, match="twice"):
        judge_slots("grader,grader", roles)
