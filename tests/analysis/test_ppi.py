"""Prediction-powered inference of a source's crowd Good rate from a crowd sample plus a judge:
the estimator against a hand computation, its coverage on synthetic data, the analysis step, and
the report's section and ``ppi`` key."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from empathy_task.analysis.ppi import PPIResult, power_tuning_lambda, ppi_mean
from empathy_task.analysis.results import AnalysisOptions
from empathy_task.analysis.steps import PPI_MIN_LABELLED, analyse, ppi_rows
from empathy_task.cli import main as cli
from empathy_task.ratings.table import RATING_COLUMNS, study_rating_table

STUDY_CSV = os.environ["EMPATHY_TASK_DATA"]
Z95 = float(scipy_stats.norm.ppf(0.975))

# A small case to compute by hand: 6 crowd-rated replies, 8 judged only.
Y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
F = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
G = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0])


def _hand(lam: float) -> tuple[float, float, float]:
    """theta = lam mean(G) + mean(Y - lam F); se^2 = lam^2 var(G)/N + var(Y - lam F)/n (ddof 0)."""
    n, big_n = len(Y), len(G)
    theta = lam * G.sum() / big_n + (Y - lam * F).sum() / n
    var_g = ((lam * G - lam * G.mean()) ** 2).sum() / big_n
    r = Y - lam * F
    var_r = ((r - r.mean()) ** 2).sum() / n
    se = math.sqrt(var_g / big_n + var_r / n)
    return theta, theta - Z95 * se, theta + Z95 * se


def test_plain_ppi_is_the_hand_computation() -> None:
    # mean(G) = 5/8; mean(Y - F) = 1/6: theta = 0.625 + 0.1667 = 0.7917.
    res = ppi_mean(Y, F, G, lam=1.0)
    theta, low, high = _hand(1.0)
    assert theta == pytest.approx(5 / 8 + 1 / 6)
    assert res.estimate == pytest.approx(theta)
    assert res.interval == pytest.approx((low, high))
    assert (res.n_labelled, res.n_unlabelled, res.lam) == (6, 8, 1.0)
    # The classical interval: the crowd-rated replies alone, normal, population sd.
    sd = Y.std()
    assert res.classical_estimate == pytest.approx(4 / 6)
    assert res.classical_interval == pytest.approx(
        (4 / 6 - Z95 * sd / math.sqrt(6), 4 / 6 + Z95 * sd / math.sqrt(6))
    )
    # Effective sample size: n (classical width / PPI width)^2.
    width = high - low
    assert res.effective_n == pytest.approx(6 * (2 * Z95 * sd / math.sqrt(6) / width) ** 2)


def test_power_tuned_lambda_is_the_hand_computation_and_ppi_pythons() -> None:
    # lam = cov(Y, F) / ((1 + n/N) var(F and G)); cov over the 6 (divided by 6), var over all 14
    # (divided by 13).
    cov = ((Y - Y.mean()) * (F - F.mean())).sum() / 6
    both = np.concatenate([F, G])
    var = ((both - both.mean()) ** 2).sum() / 13
    lam = cov / ((1 + 6 / 8) * var)
    assert 0 < lam < 1
    assert power_tuning_lambda(Y, F, G) == pytest.approx(lam)
    res = ppi_mean(Y, F, G)
    assert res.lam == pytest.approx(lam)
    theta, low, high = _hand(lam)
    assert res.estimate == pytest.approx(theta)
    assert res.interval == pytest.approx((low, high))
    # ppi-python's own tuning (lam=None) gives the same interval.
    with warnings.catch_warnings():
        import ppi_py
    lo, hi = ppi_py.ppi_mean_ci(Y, F, G, alpha=0.05)
    assert res.interval == pytest.approx((float(lo[0]), float(hi[0])))


def test_lambda_is_clipped_and_zero_for_a_constant_judge() -> None:
    # A judge that says the opposite of the crowd gets no weight (negative covariance, clipped).
    assert power_tuning_lambda(Y, 1 - Y, G) == 0.0
    res = ppi_mean(Y, 1 - Y, G)
    assert res.estimate == pytest.approx(Y.mean())
    assert res.interval == pytest.approx(res.classical_interval)
    assert res.effective_n == pytest.approx(len(Y))
    # A judge that always says Good: nothing to learn from it.
    assert power_tuning_lambda(Y, np.ones(6), np.ones(8)) == 0.0


def test_importing_ppi_python_leaves_the_warning_filters_alone() -> None:
    before = list(warnings.filters)
    ppi_mean(Y, F, G)
    assert list(warnings.filters) == before
    with pytest.warns(UserWarning, match="still heard"):
        warnings.warn("still heard", UserWarning, stacklevel=1)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((Y, F[:5], G), {}, "differ in length"),
        ((Y[:1], F[:1], G), {}, "at least two labelled"),
        ((Y, F, G[:0]), {}, "at least one unlabelled"),
        ((Y, F, np.r_[G, np.nan]), {}, "NaN"),
        ((Y, F, G), {"confidence": 1.0}, "confidence"),
        ((Y, F, G), {"lam": 1.5}, "lam"),
        ((Y.reshape(2, 3), F, G), {}, "one-dimensional"),
    ],
)
def test_bad_input_is_a_clear_error(args, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        ppi_mean(*args, **kwargs)


def test_cluster_robust_intervals_are_the_hand_computation() -> None:
    # Y, F in three batches of two: {0, 1}, {2, 3}, {4, 5}.
    batches = np.array(["a", "a", "b", "b", "c", "c"])
    lam = 0.5
    res = ppi_mean(Y, F, G, lam=lam, clusters=batches)
    theta = lam * G.mean() + (Y - lam * F).mean()
    r = Y - lam * F
    sums = np.array([(r - r.mean())[i : i + 2].sum() for i in (0, 2, 4)])
    se_rect = math.sqrt(3 / 2 * (sums**2).sum()) / 6  # CR1: C / (C - 1)
    se_judge = lam * G.std() / math.sqrt(8)
    se = math.sqrt(se_rect**2 + se_judge**2)
    t2 = float(scipy_stats.t.ppf(0.975, 2))  # t with clusters - 1 = 2 df (issue 23)
    assert res.estimate == pytest.approx(theta)
    assert res.interval == pytest.approx((theta - t2 * se, theta + t2 * se))
    y_sums = np.array([(Y - Y.mean())[i : i + 2].sum() for i in (0, 2, 4)])
    se_y = math.sqrt(3 / 2 * (y_sums**2).sum()) / 6
    assert res.classical_interval == pytest.approx((Y.mean() - t2 * se_y, Y.mean() + t2 * se_y))
    assert res.n_clusters == 3
    # Singleton clusters: the independent variance with n / (n - 1).
    single = ppi_mean(Y, F, G, lam=lam, clusters=np.arange(6))
    plain = ppi_mean(Y, F, G, lam=lam)
    half = (single.interval[1] - single.interval[0]) / 2
    r_var = r.var(ddof=1) / 6
    t5 = float(scipy_stats.t.ppf(0.975, 5))
    assert half == pytest.approx(t5 * math.sqrt(r_var + se_judge**2))
    assert single.estimate == plain.estimate
    with pytest.raises(ValueError, match="two clusters"):
        ppi_mean(Y, F, G, clusters=np.zeros(6))
    with pytest.raises(ValueError, match="clusters and labels"):
        ppi_mean(Y, F, G, clusters=np.zeros(5))


# --- coverage on synthetic data -------------------------------------------------------------


def _draw(rng: np.random.Generator, n: int, big_n: int, shift: float) -> tuple[np.ndarray, ...]:
    """Replies with a latent quality; the crowd says Good with probability q, the judge's P(Good)
    is a noisy, biased function of it (shifted down: a harsh judge, as real ones are)."""
    quality = 3 * rng.normal(size=n + big_n)
    q = 1 / (1 + np.exp(-quality))
    y = (rng.random(n + big_n) < q).astype(float)
    f = 1 / (1 + np.exp(-(quality + rng.normal(scale=0.7, size=n + big_n) - shift)))
    return y[:n], f[:n], f[n:]


def test_intervals_cover_the_truth_at_their_nominal_rate() -> None:
    # E[Y] = E[logistic(3 Z)], Z standard normal: 0.5 by symmetry.
    truth = 0.5
    rng = np.random.default_rng(2024)
    reps, hits, classical_hits, ratio, biased = 400, 0, 0, [], []
    for _ in range(reps):
        y, f, g = _draw(rng, n=150, big_n=1850, shift=2.0)
        res = ppi_mean(y, f, g)
        hits += res.interval[0] <= truth <= res.interval[1]
        classical_hits += res.classical_interval[0] <= truth <= res.classical_interval[1]
        ratio.append((res.interval[1] - res.interval[0]) / np.ptp(res.classical_interval))
        biased.append(np.mean(np.r_[f, g]))
    # 400 draws: the coverage's sd is about 0.011; allow three.
    assert 0.917 <= hits / reps <= 0.983
    assert 0.917 <= classical_hits / reps <= 0.983
    # The judge alone is far off (a harsh judge) ...
    assert np.mean(biased) < truth - 0.2
    # ... yet the PPI interval is narrower than the crowd's alone.
    assert np.mean(ratio) < 0.9


def test_batches_rated_by_lenient_or_harsh_raters_need_the_cluster_robust_interval() -> None:
    # 200 batches of 10; the crowd rates 30 random batches, each by one rater whose leniency
    # shifts the whole batch; the judge sees the reply, not the rater. Truth: 0.5 by symmetry.
    rng = np.random.default_rng(11)
    reps, independent, clustered = 300, 0, 0
    batch = np.repeat(np.arange(200), 10)
    for _ in range(reps):
        quality = 3 * rng.normal(size=2000)
        rated = rng.choice(200, size=30, replace=False)
        leniency = rng.normal(scale=1.5, size=200)[batch]
        y = (rng.random(2000) < 1 / (1 + np.exp(-(quality + leniency)))).astype(float)
        f = 1 / (1 + np.exp(-(quality + rng.normal(scale=0.7, size=2000) - 2)))
        mask = np.isin(batch, rated)
        plain = ppi_mean(y[mask], f[mask], f[~mask])
        robust = ppi_mean(y[mask], f[mask], f[~mask], clusters=batch[mask])
        independent += plain.interval[0] <= 0.5 <= plain.interval[1]
        clustered += robust.interval[0] <= 0.5 <= robust.interval[1]
    # Ignoring the batches under-covers; the cluster-robust interval holds its level (300
    # draws: sd about 0.013; CR1 with 30 clusters runs a little short).
    assert independent / reps < 0.9
    assert 0.91 <= clustered / reps <= 0.99


def test_cluster_robust_interval_holds_at_three_batches() -> None:
    # Issue 23: the allowed minimum, 3 crowd-rated batches of 10 (rater leniency SD 1.0). A CR1
    # variance from 3 cluster sums with the normal quantile covered about 0.79.
    rng = np.random.default_rng(23)
    reps, hits = 400, 0
    batch = np.repeat(np.arange(200), 10)
    for _ in range(reps):
        quality = 3 * rng.normal(size=2000)
        rated = rng.choice(200, size=3, replace=False)
        leniency = rng.normal(scale=1.0, size=200)[batch]
        y = (rng.random(2000) < 1 / (1 + np.exp(-(quality + leniency)))).astype(float)
        f = 1 / (1 + np.exp(-(quality + rng.normal(scale=0.7, size=2000) - 2)))
        mask = np.isin(batch, rated)
        r = ppi_mean(y[mask], f[mask], f[~mask], clusters=batch[mask])
        hits += r.interval[0] <= 0.5 <= r.interval[1]
    # 400 draws: sd about 0.011.
    assert hits / reps >= 0.92


def test_plain_ppi_with_a_useless_judge_is_wider_than_the_crowd_alone() -> None:
    # Why lam is tuned: plain PPI (lam = 1) pays for a judge's noise.
    rng = np.random.default_rng(5)
    y = (rng.random(200) < 0.5).astype(float)
    f, g = rng.random(200), rng.random(1800)
    plain, tuned = ppi_mean(y, f, g, lam=1.0), ppi_mean(y, f, g)
    assert np.ptp(plain.interval) > np.ptp(plain.classical_interval)
    assert tuned.lam < 0.2
    assert np.ptp(tuned.interval) <= np.ptp(tuned.classical_interval) * 1.01


# --- the analysis step and the report -------------------------------------------------------

NEW = "acme/new-model"
JUDGE = "openai/acme-judge"  # a provider Inspect knows: other names are refused as ids


@pytest.fixture(scope="module")
def crowd() -> pd.DataFrame:
    from empathy_task.data.study import load_study

    return study_rating_table(load_study(STUDY_CSV))[list(RATING_COLUMNS)]


def _new_model_table(
    crowd: pd.DataFrame, batches: int = 30, with_p: bool = False, seed: int = 3
) -> tuple[pd.DataFrame, float]:
    """A 'new model' whose crowd ratings are the stored chatgpt_empathy ones (so the truth over
    all 2,000 is known: 1,295 Good), kept for the first ``batches`` batches only, and a harsh
    judge that rated all 2,000 replies and the human ones."""
    rng = np.random.default_rng(seed)
    full = crowd[crowd["source"] == "chatgpt_empathy"].assign(source=NEW)
    truth = float((full["rating"] == 3).mean())
    kept = full[full["part_no"] < batches]
    judged = []
    for source, rows in ((NEW, full), ("human", crowd[crowd["source"] == "human"])):
        j = rows.assign(rater=JUDGE, source=source).copy()
        # The judge gives Good to a third of the crowd's Goods, and Okay otherwise.
        good = (j["rating"] == 3).to_numpy() & (rng.random(len(j)) < 0.35)
        j["rating"] = np.where(good, 3, np.where(rng.random(len(j)) < 0.2, 1, 2))
        if with_p:
            p_good = np.clip(
                np.where(good, 0.7, 0.2) + rng.normal(scale=0.05, size=len(j)), 0.01, 0.98
            )
            j["p_good"] = p_good
            j["p_okay"] = (1 - p_good) * 0.8
            j["p_bad"] = 1 - p_good - j["p_okay"]
        judged.append(j)
    human = crowd[crowd["source"] == "human"]
    return pd.concat([human, kept, *judged], ignore_index=True), truth


@pytest.mark.dataset_download
def test_step_combines_the_crowd_sample_with_the_judge(crowd: pd.DataFrame) -> None:
    table, truth = _new_model_table(crowd)
    rows, notes = ppi_rows(table)
    assert notes == ()
    [row] = rows  # the human replies were crowd-rated in full: no PPI for them
    assert (row.source, row.judge, row.prediction) == (NEW, JUDGE, "Good label")
    r = row.result
    assert (r.n_labelled, r.n_unlabelled) == (300, 1700)
    # The same numbers as the estimator on the arrays assembled by hand.
    judged = table[(table["rater"] == JUDGE) & (table["source"] == NEW)].set_index("dialog_id")
    crowd_new = table[(table["source"] == NEW) & (table["rater"] != JUDGE)].set_index("dialog_id")
    labelled = judged.index.isin(crowd_new.index)
    expected = ppi_mean(
        (crowd_new.loc[judged.index[labelled], "rating"] == 3).to_numpy(float),
        (judged["rating"][labelled] == 3).to_numpy(float),
        (judged["rating"][~labelled] == 3).to_numpy(float),
        clusters=judged["part_no"][labelled].to_numpy(),
    )
    assert r == expected
    assert r.n_clusters == 30
    # The judge alone says about a third of the truth; PPI recovers it within its interval.
    assert (judged["rating"] == 3).mean() < truth / 2
    assert r.interval[0] <= truth <= r.interval[1]
    assert r.effective_n > r.n_labelled


@pytest.mark.dataset_download
def test_step_uses_the_judges_probabilities_where_present(crowd: pd.DataFrame) -> None:
    table, truth = _new_model_table(crowd, with_p=True)
    [row] = ppi_rows(table)[0]
    assert row.prediction == "P(Good)"
    judged = table[(table["rater"] == JUDGE) & (table["source"] == NEW)]
    unlabelled = judged[judged["part_no"] >= 30]
    # lam * mean(P(Good), unlabelled) + rectifier: the judge's probabilities went in.
    rectifier = row.result.estimate - row.result.lam * unlabelled["p_good"].mean()
    labelled = judged[judged["part_no"] < 30]
    crowd_good = crowd[(crowd["source"] == "chatgpt_empathy") & (crowd["part_no"] < 30)]
    y = (crowd_good.set_index("dialog_id").loc[labelled["dialog_id"], "rating"] == 3).to_numpy()
    assert rectifier == pytest.approx(np.mean(y - row.result.lam * labelled["p_good"].to_numpy()))
    assert row.result.interval[0] <= truth <= row.result.interval[1]


@pytest.mark.dataset_download
def test_step_needs_a_partial_crowd_sample(crowd: pd.DataFrame) -> None:
    # The stored sources, crowd-rated in full and judged in part: nothing to do.
    judge = crowd.head(500).assign(rater=JUDGE)
    assert ppi_rows(pd.concat([crowd, judge], ignore_index=True)) == ((), ())
    # No crowd at all, or no judge at all.
    assert ppi_rows(judge) == ((), ())
    assert ppi_rows(crowd) == ((), ())
    # Too few crowd ratings: a note, no row.
    table, _ = _new_model_table(crowd, batches=2)
    rows, notes = ppi_rows(table)
    assert rows == ()
    assert len(notes) == 1 and f"at least {PPI_MIN_LABELLED}" in notes[0] and NEW in notes[0]


@pytest.mark.dataset_download
def test_report_has_the_ppi_section_and_key_only_with_such_data(
    crowd: pd.DataFrame, tmp_path: Path
) -> None:
    table, truth = _new_model_table(crowd, with_p=True)
    path = tmp_path / "ratings.parquet"
    table.to_parquet(path, index=False)
    out = tmp_path / "report"
    assert cli(["report", str(path), "--out", str(out), "--resamples", "100"]) == 0
    doc = json.loads((out / "report.json").read_text())
    [entry] = doc["ppi"]
    assert entry["source"] == NEW and entry["judge"] == JUDGE and entry["prediction"] == "P(Good)"
    assert entry["n_labelled"] == 300 and entry["n_unlabelled"] == 1700
    lo, hi = entry["good_rate_ci"]
    assert lo <= entry["good_rate"] <= hi and lo <= truth <= hi
    assert entry["effective_n"] > 300
    a = analyse(table, AnalysisOptions(resamples=100))
    assert entry["good_rate"] == a.ppi[0].result.estimate
    markdown = (out / "report.md").read_text()
    assert "prediction-powered inference" in markdown
    assert f"{100 * entry['good_rate']:.1f}%" in markdown

    plain = tmp_path / "plain"
    assert cli(["report", STUDY_CSV, "--out", str(plain), "--resamples", "100"]) == 0
    assert "ppi" not in json.loads((plain / "report.json").read_text())
    assert "prediction-powered" not in (plain / "report.md").read_text()


def test_result_is_a_small_named_tuple() -> None:
    res = ppi_mean(Y, F, G)
    assert isinstance(res, PPIResult)
    assert set(res._fields) >= {
        "estimate",
        "interval",
        "n_labelled",
        "n_unlabelled",
        "classical_interval",
        "effective_n",
    }


@pytest.mark.dataset_download
def test_step_averages_several_crowd_ratings_and_counts_unjudged_replies(
    crowd: pd.DataFrame,
) -> None:
    table, _ = _new_model_table(crowd, with_p=True)
    is_judge = table["rater"] == JUDGE
    new_judged = table.index[is_judge & (table["source"] == NEW)]
    # Probabilities for half the judge's replies only: "mixed".
    table.loc[new_judged[::2], ["p_bad", "p_okay", "p_good"]] = np.nan
    # The judge skipped five crowd-rated replies.
    crowd_new = table[(table["source"] == NEW) & ~is_judge]
    skipped = crowd_new["dialog_id"].iloc[:5]
    table = table[~(is_judge & (table["source"] == NEW) & table["dialog_id"].isin(skipped))]
    # A second crowd rater (another pseudonym) rated batch 0 again, all Bad.
    again = crowd_new[crowd_new["part_no"] == 0].assign(rater="r-" + "a" * 32, rating=1)
    table = pd.concat([table, again], ignore_index=True)
    [row] = ppi_rows(table)[0]
    assert row.prediction == "mixed"
    assert row.crowd_unjudged == 5
    assert (row.result.n_labelled, row.result.n_unlabelled) == (295, 1700)
    judged = table[(table["rater"] == JUDGE) & (table["source"] == NEW)].set_index("dialog_id")
    f = judged["p_good"].fillna((judged["rating"] == 3).astype(float))
    crowd_all = table[(table["source"] == NEW) & (table["rater"] != JUDGE)]
    y = (crowd_all["rating"] == 3).groupby(crowd_all["dialog_id"]).mean()
    labelled = judged.index.isin(y.index)
    expected = ppi_mean(
        y.loc[judged.index[labelled]].to_numpy(),
        f[labelled].to_numpy(),
        f[~labelled].to_numpy(),
        clusters=judged["part_no"][labelled].to_numpy(),
    )
    assert row.result.estimate == pytest.approx(expected.estimate)
    assert row.result.interval == pytest.approx(expected.interval)
    # Batch 0's replies count half Good where the first rater said Good.
    assert y.loc[crowd_new[crowd_new["part_no"] == 0]["dialog_id"]].max() <= 0.5


@pytest.mark.dataset_download
def test_end_to_end_a_judged_log_with_probabilities_plus_crowd_returns(
    crowd: pd.DataFrame, tmp_path: Path
) -> None:
    """inspect eval (mock judge with answer probabilities) -> log; crowd returns for some batches
    of the same model -> rating table; empathy-task report over both -> the ppi key."""
    from inspect_ai import eval as inspect_eval

    from empathy_task.task.empathy_task import empathy_task

    [log] = inspect_eval(
        empathy_task(sample=200, judge_logprobs=True),
        model="empathy/chatgpt",
        model_roles={"grader": "empathy/mock-judge"},
        display="none",
        log_dir=str(tmp_path / "logs"),
    )
    assert log.status == "success"
    # The crowd's returns for batches 0-99 of the model's replies (stand-ins: the stored ratings).
    returns = crowd[(crowd["source"] == "chatgpt") & (crowd["part_no"] < 100)]
    returns = returns.assign(source="empathy/chatgpt")
    returns_path = tmp_path / "returns.csv"
    returns.to_csv(returns_path, index=False)
    out = tmp_path / "report"
    code = cli(
        ["report", log.location, str(returns_path), STUDY_CSV, "--out", str(out)]
        + ["--format", "json", "--resamples", "100"]
    )
    assert code == 0
    doc = json.loads((out / "report.json").read_text())
    [entry] = doc["ppi"]
    assert (entry["source"], entry["judge"], entry["prediction"]) == (
        "empathy/chatgpt",
        "empathy/mock-judge",
        "P(Good)",
    )
    sampled = {s.id for s in log.samples}
    crowd_rated = sampled & set(returns["dialog_id"])
    assert entry["n_labelled"] == len(crowd_rated) >= PPI_MIN_LABELLED
    assert entry["n_unlabelled"] == len(sampled) - len(crowd_rated)
    # The mock judge's verdicts are a hash: no help, so PPI leans on the crowd (lam near 0).
    assert entry["lam"] < 0.3
    lo, hi = entry["good_rate_ci"]
    assert lo <= entry["good_rate"] <= hi
