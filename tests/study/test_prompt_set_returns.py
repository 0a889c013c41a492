"""The study kit on a user's own prompt set: sheets for a sample of its batches, returns imported
with the set's identity, and the reporter's prediction-powered Good rate on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval

from empathy_task.cli import main as cli
from empathy_task.resources import resource_path
from empathy_task.study.sheets import read_key, read_sheets
from empathy_task.task.empathy_task import empathy_task

SET = resource_path("prompt_sets/clinic_support.jsonl")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clinic_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    logs = tmp_path_factory.mktemp("logs")
    [log] = inspect_eval(
        empathy_task(prompts=str(SET)),
        model="empathy/mock-responder",
        model_roles={"grader": "empathy/mock-judge"},
        display="none",
        log_dir=str(logs),
    )
    assert log.status == "success"
    return Path(log.location)


def collect(tmp_path: Path, log: Path, n: int) -> Path:
    """sheets --prompts --sample n, simulated returns, import-returns: the crowd's table."""
    sheets, key = tmp_path / "sheets", tmp_path / "key.csv"
    args = ["sheets", str(log), "--prompts", str(SET), "--sample", str(n), "--out", str(sheets)]
    assert cli([*args, "--key", str(key), "--seed", "3"]) == 0
    returns = tmp_path / "returns.csv"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "simulate_returns.py"),
            str(sheets),
            "--out",
            str(returns),
        ],
        check=True,
        env=os.environ.copy(),
        capture_output=True,
    )
    crowd = tmp_path / "crowd.csv"
    assert cli(["import-returns", str(returns), "--key", str(key), "--out", str(crowd)]) == 0
    return crowd


def test_sheets_of_a_prompt_set_sample_whole_batches_and_name_the_set(
    tmp_path: Path, clinic_log: Path
) -> None:
    collect(tmp_path, clinic_log, 20)
    key = read_key(tmp_path / "key.csv")
    assert len(key) == 20 and key["part_no"].nunique() == 2  # two whole batches of 10
    assert set(key["prompt_set"]) == {"clinic_support"}
    sheets = read_sheets(tmp_path / "sheets")
    # A prompt with earlier turns shows them before Speaker #1's turn.
    turns = [i.speaker_turn for s in sheets for i in s.items if "Speaker #2:" in i.speaker_turn]
    assert all("\nSpeaker #1: " in t for t in turns)


def test_the_report_gives_a_prediction_powered_good_rate_on_collected_returns(
    tmp_path: Path, clinic_log: Path
) -> None:
    export = tmp_path / "judge.csv"
    assert cli(["export", str(clinic_log), "--out", str(export)]) == 0
    out = tmp_path / "report"
    # 20 crowd-rated replies: too few for PPI, and the report says so.
    few = collect(tmp_path / "few", clinic_log, 20)
    assert cli(["report", str(export), str(few), "--out", str(out), "--resamples", "200"]) == 0
    doc = json.loads((out / "report.json").read_text())
    assert "ppi" not in doc
    assert any("needs at least 30" in n for i in doc["inputs"] for n in i["notes"]) or (
        "needs at least 30" in (out / "report.md").read_text()
    )
    crowd = collect(tmp_path / "enough", clinic_log, 30)
    args = ["report", str(export), str(crowd), "--out", str(out), "--resamples", "200", "--force"]
    assert cli(args) == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["prompt_set"]["name"] == "clinic_support"
    [row] = doc["ppi"]
    assert row["source"] == "empathy/mock-responder" and row["judge"] == "empathy/mock-judge"
    text = json.dumps(row)
    assert '"n_labelled": 30' in text and '"n_unlabelled": 10' in text
    md = (out / "report.md").read_text()
    assert "Prediction-powered" in md or "prediction-powered" in md
