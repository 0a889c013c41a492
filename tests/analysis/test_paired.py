"""Paired statistics (issue 13): a judge rates both replies to a prompt, so its ratings are paired.

McNemar's test and the Stuart-Maxwell test are checked against statsmodels and hand computations,
the prompt bootstrap against resampling prompt indices; then the analysis step and the report,
which call the same functions.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp
from statsmodels.stats.contingency_tables import SquareTable
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from empathy_task.analysis import paired
from empathy_task.analysis.results import AnalysisOptions
from empathy_task.analysis.steps import analyse
from empathy_task.cli import main as cli
from empathy_task.ratings.table import RATING_COLUMNS, study_rating_table
from empathy_task.report import render_markdown, sections

STUDY_CSV = os.environ["EMPATHY_TASK_DATA"]
JUDGE = "openai/gpt-judge"


# --- McNemar ------------------------------------------------------------------------------------


def test_mcnemar_matches_statsmodels_exact_below_25_discordant_pairs() -> None:
    rng = np.random.default_rng(0)
    tables = rng.integers(0, 40, size=(400, 2, 2))
    res = paired.mcnemar(tables)
    for i, t in enumerate(tables):
        exact = t[0, 1] + t[1, 0] < paired.MCNEMAR_EXACT_BELOW
        ref = sm_mcnemar(t, exact=exact, correction=True)
        assert res.exact[i] == exact
        assert res.statistic[i] == pytest.approx(ref.statistic, rel=1e-12)
        assert res.pvalue[i] == pytest.approx(ref.pvalue, rel=1e-10)
    # Both methods can be forced, as in statsmodels.
    for exact in (True, False):
        forced = paired.mcnemar(tables[:50] + 1, exact=exact)
        for i, t in enumerate(tables[:50] + 1):
            assert forced.pvalue[i] == pytest.approx(sm_mcnemar(t, exact=exact).pvalue, rel=1e-10)


def test_mcnemar_by_hand() -> None:
    # 3 vs 10 discordant pairs (13 < 25): exact, p = 2 P(Binomial(13, 1/2) <= 3).
    small = paired.mcnemar([[50, 3], [10, 40]])
    assert small.exact and small.statistic == 3
    assert small.pvalue == pytest.approx(2 * sum(sp.binom.pmf(k, 13, 0.5) for k in range(4)))
    assert (small.a_only, small.b_only, small.n) == (3, 10, 103)
    # 20 vs 40 (60 pairs): chi-squared with continuity correction, (|20 - 40| - 1)^2 / 60.
    large = paired.mcnemar([[5, 20], [40, 5]])
    assert not large.exact and large.statistic == pytest.approx(361 / 60)
    assert large.pvalue == pytest.approx(sp.chi2.sf(361 / 60, 1))
    # No discordant pair: nothing differs, p = 1.
    assert paired.mcnemar([[7, 0], [0, 3]]).pvalue == 1.0


def test_good_pair_tables_from_paired_ratings() -> None:
    a = [3, 3, 3, 2, 1, 1, 3]
    b = [3, 2, 1, 3, 3, 1, 3]
    joint = paired.joint_table(a, b)
    assert joint.sum() == 7 and joint[2, 2] == 2 and joint[0, 2] == 1 and joint[1, 2] == 1
    # [[both Good, A only], [B only, neither]]
    assert paired.good_pair_tables(joint).tolist() == [[2, 2], [2, 1]]
    with pytest.raises(ValueError, match="same length"):
        paired.joint_table([1, 2], [1])
    with pytest.raises(ValueError, match="1 \\(Bad\\)"):
        paired.joint_table([0], [1])


# --- Stuart-Maxwell -----------------------------------------------------------------------------


def test_stuart_maxwell_matches_statsmodels() -> None:
    rng = np.random.default_rng(1)
    tables = rng.integers(0, 30, size=(300, 3, 3))
    res = paired.stuart_maxwell(tables)
    assert res.statistic.shape == (300,)
    for i, t in enumerate(tables):
        ref = SquareTable(t, shift_zeros=False).homogeneity("stuart_maxwell")
        assert res.statistic[i] == pytest.approx(ref.statistic, rel=1e-10)
        assert res.pvalue[i] == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-15)
        assert res.df[i] == ref.df == 2


def test_stuart_maxwell_by_hand_and_in_degenerate_tables() -> None:
    # On a 2x2 table it is McNemar's test without continuity correction: (b - c)^2 / (b + c).
    two = paired.stuart_maxwell([[10, 4], [12, 9]])
    assert two.statistic == pytest.approx((4 - 12) ** 2 / 16) and two.df == 1
    # Pairs differ between Bad and Good only: the covariance is singular; its rank (1) is the df
    # and the statistic is McNemar's on those two categories, (2 - 9)^2 / 11.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from a singular solve
        bad_good = paired.stuart_maxwell([[5, 0, 2], [0, 6, 0], [9, 0, 7]])
    assert bad_good.statistic == pytest.approx(49 / 11) and bad_good.df == 1
    assert bad_good.pvalue == pytest.approx(sp.chi2.sf(49 / 11, 1))
    assert "df is the covariance's rank" in bad_good.reason
    same = paired.stuart_maxwell(np.diag([5, 6, 7]))
    assert (same.statistic, same.pvalue, same.df) == (0.0, 1.0, 0)
    assert same.reason == "no pair rated differently"
    empty = paired.stuart_maxwell(np.zeros((3, 3)))
    assert np.isnan(empty.statistic) and np.isnan(empty.pvalue) and empty.reason == "no pairs"
    # A stack keeps its shape, reasons included.
    stack = paired.stuart_maxwell(np.zeros((2, 4, 3, 3)))
    assert stack.statistic.shape == stack.reason.shape == (2, 4)


# --- the prompt bootstrap -----------------------------------------------------------------------


def _index_bootstrap(
    ga, na, gb, nb, resamples: int, seed: int
) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ga), size=(resamples, len(ga)))
    ra = ga[idx].sum(1) / na[idx].sum(1)
    rb = gb[idx].sum(1) / nb[idx].sum(1)
    d = np.quantile(rb - ra, [0.025, 0.975])
    r = np.quantile((rb - ra) / ra * 100, [0.025, 0.975])
    return d[0], d[1], r[0], r[1]


def test_paired_bootstrap_resamples_prompts_like_index_resampling() -> None:
    rng = np.random.default_rng(2)
    m = 400
    # Correlated by prompt: B is Good mostly where A is.
    ga = (rng.random(m) < 0.45).astype(int)
    gb = np.where(rng.random(m) < 0.8, ga, 1 - ga)
    gb[rng.random(m) < 0.1] = 1
    ones = np.ones(m, dtype=int)
    ci = paired.paired_bootstrap_ci(ga, ones, gb, ones, resamples=20_000, seed=0)
    ref = _index_bootstrap(ga, ones, gb, ones, 20_000, 1)
    assert ci.difference_low == pytest.approx(ref[0], abs=0.006)
    assert ci.difference_high == pytest.approx(ref[1], abs=0.006)
    assert ci.rel_increase_low == pytest.approx(ref[2], abs=1.5)
    assert ci.rel_increase_high == pytest.approx(ref[3], abs=1.5)
    assert ci.difference_low < (gb.mean() - ga.mean()) < ci.difference_high
    # Pairing narrows the interval: independent resampling of the two sides is wider.
    independent = np.quantile(
        rng.binomial(m, gb.mean(), 20_000) / m - rng.binomial(m, ga.mean(), 20_000) / m,
        [0.025, 0.975],
    )
    assert ci.difference_high - ci.difference_low < independent[1] - independent[0]
    # Several epochs per prompt: prompts (with all their epochs) are the unit.
    n = rng.integers(1, 4, m)
    ga3 = rng.binomial(n, 0.5)
    gb3 = rng.binomial(n, 0.6)
    ci3 = paired.paired_bootstrap_ci(ga3, n, gb3, n, resamples=20_000, seed=0)
    ref3 = _index_bootstrap(ga3, n, gb3, n, 20_000, 1)
    assert ci3.difference_low == pytest.approx(ref3[0], abs=0.008)
    assert ci3.difference_high == pytest.approx(ref3[1], abs=0.008)


def test_paired_bootstrap_identical_data_and_identical_replies() -> None:
    ga = np.array([1, 0, 1, 1, 0] * 20)
    ones = np.ones(100, dtype=int)
    same = paired.paired_bootstrap_ci(ga, ones, ga, ones)
    assert (same.difference_low, same.difference_high) == (0.0, 0.0)
    assert (same.rel_increase_low, same.rel_increase_high) == (0.0, 0.0)
    # Seeded by the data: the same data in another order get the same interval.
    gb = np.roll(ga, 1)
    order = np.random.default_rng(0).permutation(100)
    one = paired.paired_bootstrap_ci(ga, ones, gb, ones)
    two = paired.paired_bootstrap_ci(ga[order], ones, gb[order], ones)
    assert one == two
    with pytest.raises(ValueError, match="same length"):
        paired.paired_bootstrap_ci([1], [1], [1, 0], [1, 1])
    with pytest.raises(ValueError, match="more Good"):
        paired.paired_bootstrap_ci([2], [1], [1], [1])


# --- the analysis step and the report -----------------------------------------------------------


@pytest.fixture(scope="module")
def judged() -> pd.DataFrame:
    """A judge's ratings of three sources on 600 prompts, correlated by prompt, plus the crowd."""
    from empathy_task.data.study import load_study

    crowd = study_rating_table(load_study(STUDY_CSV))[list(RATING_COLUMNS)]
    rng = np.random.default_rng(5)
    human = crowd[crowd["source"] == "human"].head(600)
    parts = [crowd]
    base = human["rating"].to_numpy()
    for source, flip in (("human", 0.0), ("model-a", 0.3), ("model-b", 0.5)):
        r = base.copy()
        change = rng.random(len(r)) < flip
        r[change] = rng.choice([2, 3, 3], int(change.sum()))
        parts.append(human.assign(source=source, rater=JUDGE, rating=r))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.dataset_download
def test_the_paired_frame_is_the_paired_functions_on_the_judges_pairs(judged: pd.DataFrame) -> None:
    a = analyse(judged, AnalysisOptions(resamples=500))
    pf = a.paired
    assert set(pf["rater_kind"]) == {JUDGE}  # the crowd is between-subjects: no paired rows
    judge = judged[judged["rater"] == JUDGE]
    for r in pf.itertuples():
        sub = judge
        if r.scope.startswith("valence:"):
            sub = judge[judge["sentiment"] == r.scope.split(":")[1]]
        elif r.scope.startswith("emotion:"):
            sub = judge[judge["emotion"] == r.scope.split(":")[1]]
        wide = sub.pivot(index="dialog_id", columns="source", values="rating")[[r.a, r.b]].dropna()
        joint = paired.joint_table(wide[r.a], wide[r.b])
        mc = paired.mcnemar(paired.good_pair_tables(joint))
        sm = paired.stuart_maxwell(joint)
        assert (r.n_pairs, r.n_prompts) == (len(wide), len(wide))
        assert (r.a_only_good, r.b_only_good) == (mc.a_only, mc.b_only)
        assert r.mcnemar_p == mc.pvalue and r.mcnemar_exact == mc.exact
        assert r.stuart_maxwell_p == pytest.approx(sm.pvalue, nan_ok=True)
        assert r.stuart_maxwell_df == sm.df
        assert r.good_rate_difference == pytest.approx(
            (wide[r.b] == 3).mean() - (wide[r.a] == 3).mean()
        )
        if r.vs_baseline and r.level in ("overall", "valence"):
            ones = np.ones(len(wide), dtype=int)
            ci = paired.paired_bootstrap_ci(
                (wide[r.a] == 3).to_numpy(int),
                ones,
                (wide[r.b] == 3).to_numpy(int),
                ones,
                resamples=500,
            )
            assert (r.good_rate_difference_low, r.good_rate_difference_high) == (
                ci.difference_low,
                ci.difference_high,
            )
            assert r.rel_increase_good_low <= r.rel_increase_good <= r.rel_increase_good_high
        else:
            assert np.isnan(r.good_rate_difference_low)
    overall = pf[(pf["scope"] == "overall") & pf["vs_baseline"]].set_index("b")
    assert list(overall.index) == ["model-a", "model-b"]
    # The judge's own human baseline against a model that is often better: the pairs show it.
    assert overall.loc["model-b", "mcnemar_p"] < 0.05
    # The paper's between-subjects tests stay in the comparisons, unchanged in kind.
    c = a.comparisons
    assert {"good_chi2", "good_p", "dist_chi2", "dist_p"} <= set(c.columns)


@pytest.mark.dataset_download
def test_epochs_pair_by_prompt_and_epoch(judged: pd.DataFrame) -> None:
    judge = judged[judged["rater"] == JUDGE]
    two = pd.concat([judge.assign(epoch=1), judge.assign(epoch=2)], ignore_index=True)
    a = analyse(two, AnalysisOptions(resamples=200))
    one = analyse(judge, AnalysisOptions(resamples=200))
    row = a.paired[(a.paired["scope"] == "overall") & (a.paired["b"] == "model-a")].iloc[0]
    ref = one.paired[(one.paired["scope"] == "overall") & (one.paired["b"] == "model-a")].iloc[0]
    assert row["n_pairs"] == 2 * ref["n_pairs"] and row["n_prompts"] == ref["n_prompts"]
    assert row["a_only_good"] == 2 * ref["a_only_good"]
    # A rating without an epoch (an input without the column) is of the first epoch.
    mixed = pd.concat([judge, judge.assign(epoch=2)], ignore_index=True)
    again = analyse(mixed, AnalysisOptions(resamples=200)).paired
    assert (
        again[(again["scope"] == "overall") & (again["b"] == "model-a")].iloc[0]["n_pairs"]
        == 2 * ref["n_pairs"]
    )


@pytest.mark.dataset_download
def test_report_json_and_document_have_the_paired_tests(tmp_path: Path, judged: pd.DataFrame):
    path = tmp_path / "judged.csv"
    judged.to_csv(path, index=False)
    out = tmp_path / "report"
    assert (
        cli(["report", str(path), "--out", str(out), "--format", "json", "--resamples", "200"]) == 0
    )
    doc = json.loads((out / "report.json").read_text())
    rows = doc["paired"]["rows"]
    assert rows and {r["rater_kind"] for r in rows} == {JUDGE}
    first = rows[0]
    for key in (
        "mcnemar_p",
        "mcnemar_exact",
        "stuart_maxwell_p",
        "good_rate_difference_low",
        "rel_increase_good_low",
        "n_pairs",
        "a_only_good",
        "b_only_good",
    ):
        assert key in first
    assert "McNemar" in doc["paired"]["note"]
    a = analyse(judged, AnalysisOptions(resamples=200))
    md = render_markdown(sections.build_document(a, {}))
    assert "## Paired tests (judges)" in md
    method = md[md.index("## Method") :]
    assert "Crowd raters: between-subjects" in method and "A judge: paired by prompt" in method
    assert "McNemar" in method and "Stuart-Maxwell" in method


@pytest.mark.dataset_download
def test_crowd_only_reports_say_why_there_are_no_paired_tests(tmp_path: Path) -> None:
    from empathy_task.data.study import load_study

    crowd = study_rating_table(load_study(STUDY_CSV))
    a = analyse(crowd, AnalysisOptions(resamples=50))
    assert a.paired.empty
    md = render_markdown(sections.build_document(a, {}))
    assert "between-subjects (different raters per source)" in md
