"""``analysis.between``: the models compared with each other, on generated ratings (no CSV needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from empathy_task.analysis.between import between_models, wins_matrix
from empathy_task.analysis.results import AnalysisOptions
from empathy_task.analysis.steps import analyse
from empathy_task.data.study import manifest
from empathy_task.vocabulary import authors_pseudonym


def _table(good: dict[str, float], boost: dict[str, str], seed: int = 3) -> pd.DataFrame:
    """Every source's replies to the 2,000 prompts, one crowd rating each, Good with the source's
    rate, and always Good at the emotion ``boost[source]``."""
    m = manifest()
    rng = np.random.default_rng(seed)
    parts = []
    for source, rate in good.items():
        rating = np.where(rng.random(len(m)) < rate, 3, rng.integers(1, 3, len(m)))
        rating[m["emotion"].to_numpy() == boost.get(source)] = 3
        raters = [authors_pseudonym(f"{source}-{k // 10}") for k in range(len(m))]
        parts.append(
            m[["dialog_id", "emotion", "sentiment", "plutchik", "part_no"]].assign(
                source=source, rater=raters, rating=rating
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_pairs_leave_the_baseline_out_and_name_the_better_model_per_emotion() -> None:
    table = _table({"human": 0.5, "m1": 0.5, "m2": 0.5, "m3": 0.5}, {"m2": "proud"})
    a = analyse(table, AnalysisOptions(resamples=20))
    result = between_models(a.comparisons, "none")
    assert result.sources == {"crowd": ("m1", "m2", "m3")}
    assert [(p.a, p.b) for p in result.pairs] == [("m1", "m2"), ("m1", "m3"), ("m2", "m3")]
    pairs = {(p.a, p.b): p for p in result.pairs}
    assert "proud" in pairs[("m1", "m2")].b_better and "proud" in pairs[("m2", "m3")].a_better
    assert all(p.emotions_tested == 32 for p in result.pairs)
    rows = result.rows
    assert not (rows["a"] == "human").any() and not (rows["b"] == "human").any()
    assert len(rows) == 3 * 35
    # Each row's test is the 2x2 chi-squared with Yates' correction on its counts.
    for r in rows[rows["level"] == "emotion"].head(12).to_dict("records"):
        table_2x2 = [[r["good_a"], r["n_a"] - r["good_a"]], [r["good_b"], r["n_b"] - r["good_b"]]]
        chi2, p, _, _ = chi2_contingency(table_2x2)
        assert r["good_chi2"] == pytest.approx(chi2) and r["good_p"] == pytest.approx(p)
        assert r["rel_increase_good_low"] < r["rel_increase_good"] < r["rel_increase_good_high"]
        higher = "B" if r["good_rate_b"] > r["good_rate_a"] else "A"
        assert r["better"] == (higher if r["good_p_adjusted"] < 0.05 else "")
    models, wins = wins_matrix(result, "crowd")
    assert models == ("m1", "m2", "m3")
    assert wins[1, 0] == len(pairs[("m1", "m2")].b_better) and wins[1, 1] == 0
    assert wins.sum() == sum(len(p.a_better) + len(p.b_better) for p in result.pairs)


def test_a_correction_adjusts_within_the_family_and_one_model_has_no_pairs() -> None:
    table = _table({"human": 0.5, "m1": 0.45, "m2": 0.55}, {"m2": "proud"})
    none = between_models(analyse(table, AnalysisOptions(resamples=20)).comparisons, "none")
    a = analyse(table, AnalysisOptions(resamples=20, correction="holm"))
    holm = between_models(a.comparisons, "holm")
    assert holm.correction == "holm" and "crowd / good / emotion" in holm.families
    assert (holm.rows["good_p_adjusted"] >= none.rows["good_p_adjusted"] - 1e-15).all()
    assert set(holm.pairs[0].b_better) <= set(none.pairs[0].b_better)
    alone = table[table["source"].isin(["human", "m1"])]
    single = between_models(analyse(alone, AnalysisOptions(resamples=20)).comparisons, "none")
    assert single.pairs == () and single.rows.empty and single.sources == {}
