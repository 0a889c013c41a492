"""Judge calibration on synthetic judges whose relation to the crowd is known."""

from __future__ import annotations

import numpy as np
import pytest

from empathy_task.analysis import calibration as cal

# P(crowd label | judge label), rows judge Bad/Okay/Good: a judge that means something.
P_TRUE = np.array([[0.45, 0.35, 0.20], [0.20, 0.40, 0.40], [0.05, 0.25, 0.70]])
# The judge's label shares per source: a harsh judge of humans, kinder to the LLMs.
SHARES = {
    "human": np.array([0.50, 0.42, 0.08]),
    "chatgpt": np.array([0.20, 0.45, 0.35]),
    "chatgpt_empathy": np.array([0.10, 0.40, 0.50]),
}
NEW = np.array([0.05, 0.30, 0.65])
BASE = {"baseline_good": 986, "baseline_n": 2000}  # the crowd's human group


def _draw(rng: np.random.Generator, share: np.ndarray, n: int = 2000) -> np.ndarray:
    """Judge x crowd counts of n replies: judge label from ``share``, crowd from P_TRUE."""
    judge = rng.choice(3, size=n, p=share)
    crowd = np.array([rng.choice(3, p=P_TRUE[j]) for j in judge]) if n < 50 else None
    if crowd is None:  # vectorised: inverse-CDF draw per row
        u = rng.random(n)
        crowd = (u[:, None] > np.cumsum(P_TRUE[judge], axis=1)).sum(axis=1)
    return cal.pair_counts(judge + 1, np.minimum(crowd, 2) + 1)


def _truth(share: np.ndarray) -> float:
    return float(share @ P_TRUE[:, 2])


def test_fit_is_a_distribution_per_judge_label() -> None:
    counts = np.array([[30, 10, 0], [5, 20, 5], [0, 0, 0]])
    fit = cal.fit_calibration(counts, smoothing=1.0)
    assert np.allclose(fit.p_crowd_given_judge.sum(axis=1), 1.0)
    assert (fit.p_crowd_given_judge >= 0).all()
    # A label the judge never gave falls back to the pooled crowd distribution.
    assert np.allclose(fit.p_crowd_given_judge[2], counts.sum(axis=0) / counts.sum())
    # By hand: row Bad = (30 + 35/70, 10 + 30/70, 0 + 5/70) / 41.
    assert fit.p_crowd_given_judge[0] == pytest.approx(np.array([30.5, 10 + 3 / 7, 1 / 14]) / 41)
    with pytest.raises(ValueError):
        cal.fit_calibration(np.zeros((3, 3)))


def test_soft_counts_from_answer_probabilities_equal_labels_when_one_hot() -> None:
    labels = np.array([1, 2, 3, 3])
    crowd = np.array([1, 3, 3, 2])
    probs = np.eye(3)[labels - 1]
    assert np.array_equal(cal.pair_counts(labels, crowd), cal.pair_counts(probs, crowd))
    soft = cal.pair_counts(np.array([[0.5, 0.5, 0.0]]), np.array([3]))
    assert soft[:, 2].tolist() == [0.5, 0.5, 0.0]


def test_calibration_recovers_the_crowd_good_rate_of_a_new_source() -> None:
    rng = np.random.default_rng(1)
    tables = [_draw(rng, s) for s in SHARES.values()]
    new = _draw(rng, NEW)
    est = cal.crowd_equivalent(
        tables, new.sum(axis=1), loso_rms=0.0, resamples=2000, seed=2, **BASE
    )
    truth = _truth(NEW)
    # Sampling error of the estimate: about sqrt(p(1-p)/n) from each side; 4 sd is generous.
    assert abs(est.good_rate - truth) < 4 * np.sqrt(truth * (1 - truth) / 2000) * 1.5
    assert est.good_rate_ci[0] < truth < est.good_rate_ci[1]
    assert sum(est.distribution) == pytest.approx(1.0)
    assert sum(est.counts) == pytest.approx(2000)
    base = 986 / 2000
    assert est.rel_increase_good == pytest.approx((est.good_rate - base) / base * 100)
    assert est.rel_increase_good_ci[0] < est.rel_increase_good < est.rel_increase_good_ci[1]


def test_intervals_cover_the_truth_at_about_their_nominal_rate() -> None:
    rng = np.random.default_rng(7)
    truth = _truth(NEW)
    draws, covered, covered_widened = 200, 0, 0
    for _ in range(draws):
        tables = [_draw(rng, s, 1000) for s in SHARES.values()]
        new = _draw(rng, NEW, 1000)
        loso = cal.leave_one_source_out(dict(zip(SHARES, tables)))
        est = cal.crowd_equivalent(
            tables, new.sum(axis=1), loso_rms=loso.rms_error, resamples=400, seed=rng, **BASE
        )
        lo, hi = est.good_rate_bootstrap_ci
        covered += lo <= truth <= hi
        covered_widened += est.good_rate_ci[0] <= truth <= est.good_rate_ci[1]
    # 95% nominal; with 200 draws the binomial sd of the coverage is 1.5 points.
    assert 0.90 <= covered / draws <= 0.99
    # Widening by the LOSO error only adds width: the reported interval covers at least as often.
    assert covered_widened >= covered and covered_widened / draws >= 0.93


# --- imperfect transfer (issue 23) ------------------------------------------------------------


def _perturbed(delta: float) -> np.ndarray:
    """P_TRUE with every row's Good odds shifted by ``delta`` (logit): a source-specific map."""
    good = 1 / (1 + np.exp(-(np.log(P_TRUE[:, 2] / (1 - P_TRUE[:, 2])) + delta)))
    rest = P_TRUE[:, :2] / P_TRUE[:, :2].sum(axis=1, keepdims=True) * (1 - good)[:, None]
    return np.column_stack([rest, good])


def _draw_map(rng: np.random.Generator, share: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    judge = rng.multinomial(n, share)
    return np.stack([rng.multinomial(judge[j], p[j]) for j in range(3)]).astype(float)


def _coverage(k: int, sd: float, draws: int, seed: int) -> tuple[float, float]:
    """Coverage of the reported interval (with transfer_error) and of the old z * rms one."""
    rng = np.random.default_rng(seed)
    good = np.linspace(0.1, 0.5, k)
    shares = [np.array([0.4 * (1 - g), 0.6 * (1 - g), g]) for g in good]
    new_hits = old_hits = 0
    for _ in range(draws):
        delta = rng.normal(0.0, sd, k + 1)
        tables = {f"s{i}": _draw_map(rng, shares[i], _perturbed(delta[i]), 1000) for i in range(k)}
        share = shares[0] + rng.uniform() * (shares[-1] - shares[0])  # inside the range
        new = rng.multinomial(1000, share).astype(float)
        truth = float(share @ _perturbed(delta[k])[:, 2])
        loso = cal.leave_one_source_out(tables)
        common = {"loso_rms": loso.rms_error, "resamples": 300, "seed": rng, **BASE}
        transfer = cal.transfer_error(tables, resamples=200, seed=rng)
        est = cal.crowd_equivalent(list(tables.values()), new, transfer=transfer, **common)
        old = cal.crowd_equivalent(list(tables.values()), new, **common)
        new_hits += est.good_rate_ci[0] <= truth <= est.good_rate_ci[1]
        old_hits += old.good_rate_ci[0] <= truth <= old.good_rate_ci[1]
    return new_hits / draws, old_hits / draws


def test_interval_holds_when_the_map_differs_between_six_sources() -> None:
    # The judge-crowd relation differs a little between sources (Good odds SD 0.3 on the logit):
    # 3 or 6 errors' RMS used as known with z covered 0.84-0.91.
    new, old = _coverage(6, 0.3, 250, seed=23)
    # 250 draws: the coverage's sd is about 0.014 (measured: 0.928, the former interval 0.884;
    # 1,000 draws in benchmarks/results.md).
    assert new >= 0.915 and new > old + 0.02


def test_exact_transfer_adds_nothing_to_the_bootstrap() -> None:
    # The map is the same for every source: the LOSO errors are sampling noise, which the
    # bootstrap already holds; widening by their RMS over-covered (0.99).
    new, old = _coverage(3, 0.0, 250, seed=5)
    assert 0.92 <= new <= 0.975 and old > new


def test_transfer_error_counts_sources_and_measures_extrapolation() -> None:
    rng = np.random.default_rng(9)
    shares = {
        f"s{i}": np.array([0.4 * (1 - g), 0.6 * (1 - g), g]) for i, g in enumerate((0.1, 0.3))
    }
    tables = {s: _draw_map(rng, sh, P_TRUE, 1000) for s, sh in shares.items()}
    t = cal.transfer_error(tables, resamples=100, seed=1)
    assert t.sources == 2 and t.df == 1 and len(t.errors) == 2 and t.tau >= 0
    low, high = t.judge_good_range
    assert low < high
    assert cal.extrapolation((low + high) / 2, t.judge_good_range) == 0
    assert cal.extrapolation(high + 0.2, t.judge_good_range) == pytest.approx(0.2)
    assert cal.extrapolation(low - 0.05, t.judge_good_range) == pytest.approx(0.05)
    new = _draw_map(rng, np.array([0.1, 0.2, 0.7]), P_TRUE, 1000).sum(axis=1)
    est = cal.crowd_equivalent(
        list(tables.values()), new, loso_rms=0.0, transfer=t, resamples=200, **BASE
    )
    assert est.calibrating_sources == 2 and est.transfer_df == 1
    assert est.extrapolation == pytest.approx(new[2] / new.sum() - high)


def test_leave_one_source_out_table() -> None:
    rng = np.random.default_rng(3)
    tables = {s: _draw(rng, share) for s, share in SHARES.items()}
    loso = cal.leave_one_source_out(tables)
    assert [r.source for r in loso.rows] == list(SHARES)
    for r in loso.rows:
        t = tables[r.source]
        assert r.crowd_good_rate == pytest.approx(t[:, 2].sum() / t.sum())
        assert r.judge_good_rate == pytest.approx(t[2].sum() / t.sum())
        # By hand: fit on the other two, predict from the held-out judge shares.
        fit = cal.fit_calibration(np.stack([tables[s] for s in tables if s != r.source]))
        assert r.calibrated_good_rate == pytest.approx(
            float(t.sum(axis=1) / t.sum() @ fit.p_crowd_given_judge[:, 2])
        )
        assert r.error == pytest.approx(r.calibrated_good_rate - r.crowd_good_rate)
    # The model holds: the held-out errors are sampling error (a few points at most) ...
    assert loso.rms_error < 0.03
    assert loso.max_abs_error == pytest.approx(max(abs(r.error) for r in loso.rows))
    # ... and much smaller than the raw judge's error on the human replies.
    human = loso.rows[0]
    assert abs(human.judge_good_rate - human.crowd_good_rate) > 5 * abs(human.error)
    with pytest.raises(ValueError, match="two stored sources"):
        cal.leave_one_source_out({"human": tables["human"]})


def test_a_judge_whose_map_differs_between_sources_shows_in_the_loso_error() -> None:
    rng = np.random.default_rng(4)
    tables = {s: _draw(rng, share) for s, share in SHARES.items()}
    # The held-out human replies: the crowd likes them far more than the map says.
    t = tables["human"].copy()
    t[:, 2] += t[:, 0]
    t[:, 0] = 0
    tables["human"] = t
    assert cal.leave_one_source_out(tables).rms_error > 0.1


def test_report_card_parts() -> None:
    rng = np.random.default_rng(5)
    crowd = rng.integers(1, 4, size=3000)
    judge = np.where(rng.random(3000) < 0.6, crowd, rng.integers(1, 4, size=3000))
    ag = cal.judge_agreement(judge, crowd)
    assert ag.exact == pytest.approx((judge == crowd).mean())
    assert 0.3 < ag.kappa_quadratic < 0.9 and 0.3 < ag.alpha_ordinal < 0.9

    words = rng.integers(5, 100, size=3000)
    # The judge's Good depends on length beyond the crowd's rating: odds x 2 per doubling.
    logit = -1.0 + 0.8 * (crowd - 2) + np.log(2) * (np.log2(words) - 5)
    good = rng.random(3000) < 1 / (1 + np.exp(-logit))
    lb = cal.length_bias(np.where(good, 3, 2), crowd, words)
    assert 1.6 < lb.odds_ratio_per_doubling < 2.5 and lb.pvalue < 1e-6
    assert lb.ci[0] < lb.odds_ratio_per_doubling < lb.ci[1]
    unbiased = cal.length_bias(judge, crowd, words)
    assert unbiased.ci[0] < 1 < unbiased.ci[1] or unbiased.pvalue > 0.001

    rep = cal.repeatability(judge, judge)
    assert rep.exact == 1.0 and rep.kappa_quadratic == pytest.approx(1.0)
    [b] = cal.source_bias({"human": cal.pair_counts(judge, crowd)})
    assert b.difference == pytest.approx((judge == 3).mean() - (crowd == 3).mean())
