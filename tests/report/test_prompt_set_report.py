"""``empathy-task report`` on a user's own prompt sets: scopes follow the set, sets are never
compared with each other, and crowd units on a new domain are a transfer that says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from empathy_task.cli import main as cli
from empathy_task.data.prompt_sets import load_prompt_set
from empathy_task.resources import resource_path
from tests.data.test_prompt_sets import write_set

JUDGE = "empathy/mock-judge"


def make_set(path: Path, n: int, *, valence: bool, ratings: bool = False) -> Path:
    """A prompt set of ``n`` prompts (ids p01...), optionally with valences and crowd ratings."""
    rng = np.random.default_rng(len(path.name))
    rows = []
    for i in range(n):
        row = {"id": f"p{i + 1:02d}", "speaker_turn": f"Turn {i}.", "human_reply": f"Reply {i}."}
        if valence:
            row["valence"] = "negative" if i % 3 else "positive"
        if ratings:
            row["human_rating"] = [int(x) for x in rng.choice([1, 2, 3], size=2, p=[0.2, 0.4, 0.4])]
        rows.append(row)
    return write_set(path, rows)


def judge_table(spec: Path, out: Path, seed: int = 0) -> Path:
    """A judge's ratings of a model's and the human replies to every prompt of a set, written
    as the export writes them (labels and the set's identity in every row)."""
    pset = load_prompt_set(spec)
    rng = np.random.default_rng(seed)
    rows = []
    for rec in pset.frame.to_dict("records"):
        for source, p in (("model-x", [0.1, 0.3, 0.6]), ("human", [0.3, 0.4, 0.3])):
            rows.append(
                {
                    "dialog_id": rec["dialog_id"],
                    "emotion": rec["emotion"],
                    "sentiment": rec["sentiment"],
                    "plutchik": None,
                    "part_no": rec["part_no"],
                    "source": source,
                    "rater": JUDGE,
                    "rating": int(rng.choice([1, 2, 3], p=p)),
                    **pset.identity(),
                }
            )
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


def stored_judge_ratings(out: Path) -> Path:
    """The same judge's ratings of the stored replies (for its calibration): the crowd's rating,
    moved one step now and then, of 600 replies of two stored sources."""
    crowd = pd.read_csv(resource_path("human_baseline/crowd_ratings.csv"))
    part = crowd[crowd["source"].isin(["human", "chatgpt"])].groupby("source").head(300)
    rng = np.random.default_rng(1)
    moved = np.clip(part["rating"].to_numpy() + rng.choice([-1, 0, 0, 1], size=len(part)), 1, 3)
    part.assign(rater=JUDGE, rating=moved).to_csv(out, index=False)
    return out


def report(tmp_path: Path, *inputs: Path | str, extra: tuple[str, ...] = ()) -> dict:
    out = tmp_path / "report"
    args = ["report", *map(str, inputs), "--out", str(out), "--resamples", "200", "--force"]
    assert cli([*args, *extra]) == 0
    return json.loads((out / "report.json").read_text())


def test_scopes_follow_what_the_set_has(tmp_path: Path) -> None:
    plain = judge_table(make_set(tmp_path / "plain.csv", 30, valence=False), tmp_path / "a.csv")
    doc = report(tmp_path, plain)
    assert doc["scopes"] == ["overall"]  # no valence, no emotion: overall only
    assert {c["scope"] for c in doc["comparisons"]} == {"overall"}
    assert doc["prompt_set"]["name"] == "plain" and doc["prompt_set"]["emotions"] == []
    assert doc["published"]["rows"] == []  # the paper's figures are of its own prompts
    with_valence = make_set(tmp_path / "val.csv", 30, valence=True)
    doc = report(tmp_path, judge_table(with_valence, tmp_path / "b.csv"))
    assert doc["scopes"] == ["overall", "valence:positive", "valence:negative"]
    assert {c["scope"] for c in doc["comparisons"]} == set(doc["scopes"])
    shipped = resource_path("prompt_sets/clinic_support.jsonl")
    doc = report(tmp_path, judge_table(shipped, tmp_path / "c.csv"))
    emotions = {s for s in doc["scopes"] if s.startswith("emotion:")}
    assert "emotion:anxious" in emotions and "emotion:sad" in emotions
    assert len(emotions) == len(load_prompt_set(shipped).frame["emotion"].unique())


def test_ratings_of_two_prompt_sets_are_never_compared(tmp_path: Path) -> None:
    # Two sets with the same prompt ids and sources: one report, two parts, nothing across.
    alpha = judge_table(make_set(tmp_path / "alpha.csv", 30, valence=True), tmp_path / "a.csv")
    beta = judge_table(make_set(tmp_path / "beta.csv", 20, valence=False), tmp_path / "b.csv", 5)
    doc = report(tmp_path, alpha, beta)
    parts = {p["name"]: p["report"] for p in doc["prompt_sets"]}
    assert set(parts) == {"alpha", "beta"}
    assert parts["alpha"]["groups"]["human"]["n"] == 30
    assert parts["beta"]["groups"]["human"]["n"] == 20  # not 50: p01 of beta is not p01 of alpha
    for part in parts.values():
        assert all(
            c["n_a"] == part["groups"][c["a"]]["n"]
            for c in part["comparisons"]
            if c["scope"] == "overall"
        )
    assert "never compared" in doc["prompt_sets_note"]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Ratings of different prompt sets are never compared" in md
    assert "Part 1: alpha" in md and "Part 2: beta" in md


def test_a_mixed_table_is_refused_by_the_analysis(tmp_path: Path) -> None:
    from empathy_task.analysis.steps import analyse
    from empathy_task.ratings.files import read_rating_table

    a = read_rating_table(
        judge_table(make_set(tmp_path / "x.csv", 10, valence=False), tmp_path / "a.csv")
    )
    b = read_rating_table(
        judge_table(make_set(tmp_path / "y.csv", 12, valence=False), tmp_path / "b.csv")
    )
    with pytest.raises(ValueError, match="never compared"):
        analyse(pd.concat([a, b], ignore_index=True))


def test_crowd_units_on_a_new_domain_are_a_transfer_and_say_so(tmp_path: Path) -> None:
    spec = make_set(tmp_path / "clinic.csv", 60, valence=True, ratings=True)
    judged = judge_table(spec, tmp_path / "clinic-judge.csv")
    calibration = [
        resource_path("human_baseline/crowd_ratings.csv"),
        stored_judge_ratings(tmp_path / "stored-judge.csv"),
    ]
    # Without crowd ratings of the set: the transfer error is not measured, and the report says
    # the intervals understate the uncertainty.
    doc = report(tmp_path, *calibration, judged)
    part = {p["name"]: p["report"] for p in doc["prompt_sets"]}["clinic"]
    rows = part["crowd_equivalent"]
    assert {r["source"] for r in rows} == {"model-x", "human"}
    assert all(r["transfer"]["measured"] is False for r in rows)
    assert all(r["baseline"]["prompt_set"] == "clinic" for r in rows)
    notes = " ".join(part["inputs"][0]["notes"]) + " ".join(
        n
        for n in (tmp_path / "report" / "report.md").read_text().splitlines()
        if "Domain transfer" in n
    )
    assert "is NOT measured" in notes and "understate the uncertainty" in notes
    # With the set's crowd ratings of its human replies: measured, and every interval widened.
    doc = report(tmp_path, *calibration, judged, extra=("--prompts", str(spec)))
    part = {p["name"]: p["report"] for p in doc["prompt_sets"]}["clinic"]
    row = next(r for r in part["crowd_equivalent"] if r["source"] == "model-x")
    t = row["transfer"]
    assert t["measured"] is True and t["crowd_ratings"] == 120 and t["error"] > 0
    lo, hi = row["good_rate_ci"]
    slo, shi = t["good_rate_ci_study_domain"]
    assert lo < slo and hi > shi
    assert row["baseline"]["rater"] == "crowd"  # the set's own crowd-rated human replies
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Measured transfer error" in md
