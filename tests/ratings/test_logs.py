"""The reporter on Inspect logs made with the real task (offline: replay model, mock judge)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from empathy_task.cli import main as cli
from empathy_task.ratings.inputs import detect_kind

STUDY_CSV = os.environ["EMPATHY_TASK_DATA"]
FAST = ["--resamples", "200"]


def _strict_json(text: str) -> dict:
    def reject(name: str) -> None:
        raise AssertionError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.mark.dataset_download
def test_report_from_an_inspect_log(tmp_path: Path) -> None:
    from inspect_ai import eval as inspect_eval

    from empathy_task.task.empathy_task import empathy_task

    [log] = inspect_eval(
        empathy_task(sample=64),
        model="empathy/chatgpt_empathy",
        model_roles={"grader": "empathy/mock-judge"},
        display="none",
        log_dir=str(tmp_path / "logs"),
    )
    assert log.status == "success"
    assert detect_kind(log.location) == "log"
    out = tmp_path / "report"
    assert cli(["report", log.location, "--out", str(out), "--format", "json", *FAST]) == 0
    doc = _strict_json((out / "report.json").read_text())
    assert doc["primary_rater_kind"] == "empathy/mock-judge"
    assert set(doc["groups"]) == {"human", "empathy/chatgpt_empathy"}
    assert doc["groups"]["human"]["n"] == 64
    overall = [c for c in doc["comparisons"] if c["scope"] == "overall"]
    assert [(c["a"], c["b"]) for c in overall] == [("human", "empathy/chatgpt_empathy")]
    # Together with the authors' CSV: two kinds of rater, agreement on the human replies.
    both = cli(
        [
            "report",
            STUDY_CSV,
            log.location,
            "--out",
            str(tmp_path / "both"),
            "--format",
            "json",
            *FAST,
        ]
    )
    assert both == 0
    doc = _strict_json((tmp_path / "both" / "report.json").read_text())
    assert doc["primary_rater_kind"] == "crowd"
    [ag] = doc["agreement"]
    assert ag["reference"] == "crowd" and ag["other"] == "empathy/mock-judge"
    assert set(ag["per_source"]) == {"human"} and ag["n"] == 64


def test_a_file_that_is_not_a_log_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.eval"
    bad.write_bytes(b"not a zip")
    assert cli(["report", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "broken.eval: not a readable Inspect log" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
