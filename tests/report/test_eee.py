"""``empathy-task report --format eee``: Every Eval Ever records (schema 0.3.0, vendored) that carry
the judge, the prompt version, the crowd baseline, and crowd- and judge-scale numbers apart."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from empathy_task.cli import main as cli
from empathy_task.ratings.table import RATING_COLUMNS, study_rating_table
from empathy_task.report import eee

SCHEMA = Path(eee.__file__).parent / "schemas" / eee.SCHEMA_FILE
# The vendored file, as fetched from evaleval/every_eval_ever at 9bce4136 (schemas/README.md).
SCHEMA_SHA256 = "215f04c9a0d7a13f83c49ccd85f97018f39ad1e49af7a3a561841418e9ee08c9"
JUDGE = "openai/gpt-judge"
MODEL = "acme/new-model"


def test_the_vendored_schema_is_the_fetched_one_with_its_licence() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    doc = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert doc["version"] == eee.SCHEMA_VERSION == "0.3.0"
    jsonschema.Draft7Validator.check_schema(doc)
    notes = (SCHEMA.parent / "README.md").read_text(encoding="utf-8")
    assert "9bce4136e789ec006c62582f5f9d107d20f8b398" in notes and "MIT" in notes
    assert "MIT License" in (SCHEMA.parent / "every_eval_ever-LICENSE").read_text(encoding="utf-8")


def test_a_broken_record_is_refused_naming_where() -> None:
    with pytest.raises(eee.EEERecordError, match="model_info"):
        eee.validate({"schema_version": "0.3.0", "evaluation_id": "x", "retrieved_timestamp": "1",
                      "source_metadata": {"source_type": "evaluation_run",
                                          "source_organization_name": "o",
                                          "evaluator_relationship": "third_party"},
                      "eval_library": {"name": "n", "version": "1"},
                      "model_info": {"name": "m"}, "evaluation_results": []})  # fmt: skip


@pytest.mark.dataset_download
def test_report_format_eee_validates_and_keeps_the_scales_apart(tmp_path: Path) -> None:
    from empathy_task.data.study import load_study

    crowd = study_rating_table(load_study(os.environ["EMPATHY_TASK_DATA"]))
    rng = np.random.default_rng(7)
    # A judge that mostly agrees with the crowd on the stored sources (so it is calibrated from
    # them), and rates a new model's replies to 300 prompts.
    judged = crowd.groupby("source").head(300).copy()
    flip = rng.random(len(judged)) < 0.3
    judged.loc[flip, "rating"] = rng.integers(1, 4, int(flip.sum()))
    judged["rater"] = JUDGE
    new = judged[judged["source"] == "chatgpt_empathy"].copy()
    new["source"] = MODEL
    new["rating"] = rng.choice([1, 2, 3], size=len(new), p=[0.1, 0.3, 0.6])
    table = pd.concat([crowd, judged, new], ignore_index=True)[list(RATING_COLUMNS)]
    path = tmp_path / "ratings.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "report"
    code = cli(["report", str(path), "--format", "eee", "--out", str(out), "--resamples", "200"])
    assert code == 0
    files = sorted(p.name for p in out.glob("eee-*.json"))
    # One record per source but the baseline: the new model and every stored model source.
    assert len(files) == table["source"].nunique() - 1
    assert {"eee-acme__new-model.json", "eee-chatgpt.json", "eee-chatgpt_empathy.json"} <= set(
        files
    )
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    records = {}
    for name in files:
        record = json.loads((out / name).read_text(encoding="utf-8"))
        jsonschema.validate(record, schema)
        records[record["model_info"]["name"]] = record
        # Aggregates only: no prompt's or reply's text, no rater's id.
    study = load_study(os.environ["EMPATHY_TASK_DATA"])
    raters = {str(v) for v in study["rater_human"].head(50)}
    for column in ("situation", "speaker_turn", "reply_human", "reply_chatgpt_empathy"):
        sample = [str(v) for v in study[column].head(50) if len(str(v)) > 30]
        for record in records.values():
            text = json.dumps(record, ensure_ascii=False)
            assert not any(v in text for v in sample), column
            assert not any(f'"{r}"' in text for r in raters)

    by_metric = {r["metric_config"]["metric_id"]: r for r in records[MODEL]["evaluation_results"]}
    assert set(by_metric) == {
        "empathy_task/good_rate/judge",
        "empathy_task/relative_increase_good/judge",
        "empathy_task/crowd_equivalent_good_rate/crowd",
    }
    judge_rate = by_metric["empathy_task/good_rate/judge"]
    scoring = judge_rate["metric_config"]["llm_scoring"]
    # The judge from the ratings (an Inspect log's model roles), the prompt and its version.
    assert scoring["judges"][0]["model_info"]["id"] == JUDGE
    assert scoring["additional_details"]["judge_prompt_version"] == "judge-2"
    assert "{reply}" in scoring["input_prompt"] and "RATING:" in scoring["input_prompt"]
    # Judge scale: the baseline is the same judge's rating of the human replies.
    human_by_judge = judged[judged["source"] == "human"]["rating"].eq(3).mean()
    assert scoring["expert_baseline"] == pytest.approx(human_by_judge)
    assert judge_rate["score_details"]["score"] == pytest.approx(new["rating"].eq(3).mean())
    ci = judge_rate["score_details"]["uncertainty"]["confidence_interval"]
    assert (
        ci["method"] == "wilson"
        and ci["lower"] < judge_rate["score_details"]["score"] < ci["upper"]
    )
    rel = by_metric["empathy_task/relative_increase_good/judge"]
    assert rel["metric_config"]["metric_unit"] == "percent"
    assert rel["score_details"]["uncertainty"]["confidence_interval"]["method"] == (
        "katz-log-adjusted"
    )
    # Crowd scale: the crowd's 986 / 2,000 as baseline, a bootstrap interval with its resamples.
    ce = by_metric["empathy_task/crowd_equivalent_good_rate/crowd"]
    assert ce["metric_config"]["llm_scoring"]["expert_baseline"] == pytest.approx(0.493)
    unc = ce["score_details"]["uncertainty"]
    assert unc["num_bootstrap_samples"] == 200
    assert unc["confidence_interval"]["method"] == "percentile-bootstrap-widened-by-loso-rms"
    for r in records[MODEL]["evaluation_results"]:
        scale = r["metric_config"]["additional_details"]["scale"]
        assert r["metric_config"]["metric_id"].endswith("/" + scale)
        assert r["evaluation_name"] == f"empathy_task ({scale} scale)"
    # A stored source has both: the crowd's own ratings (no judge) and the judge's.
    stored = {r["metric_config"]["metric_id"]: r for r in records["chatgpt"]["evaluation_results"]}
    assert "llm_scoring" not in stored["empathy_task/good_rate/crowd"]["metric_config"]
    assert stored["empathy_task/good_rate/crowd"]["score_details"]["score"] == pytest.approx(
        1268 / 2000
    )
    assert "empathy_task/good_rate/judge" in stored
