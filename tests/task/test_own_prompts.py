"""``inspect eval empathy_task -T prompts=...``: a user's own prompt set through the same task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from empathy_task.ratings.logs import rating_table_from_logs
from empathy_task.resources import resource_path
from empathy_task.task.prompts import judge_prompt
from tests.data.test_prompt_sets import ROWS, write_set

INSPECT = shutil.which("inspect") or "inspect"


def inspect_eval(*args: str, log_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            INSPECT,
            "eval",
            "empathy_task/empathy_task",
            *args,
            "--log-dir",
            str(log_dir),
            "--display",
            "plain",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


def _dataset_folder(path: Path) -> Path:
    import datasets
    import pandas as pd

    frame = pd.DataFrame(ROWS)
    frame["turns"] = [t if isinstance(t, list) else [] for t in frame["turns"]]
    frame["human_rating"] = [
        json.dumps(v) if isinstance(v, list) else v for v in frame["human_rating"]
    ]
    datasets.Dataset.from_pandas(frame, preserve_index=False).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("kind", ["csv", "dataset folder"])
def test_a_prompt_set_runs_through_the_task_judge_and_export(tmp_path: Path, kind: str) -> None:
    if kind == "csv":
        spec = write_set(tmp_path / "support.csv", ROWS)
    else:  # a Hugging Face dataset written by save_to_disk, read offline
        spec = _dataset_folder(tmp_path / "support")
    logs = tmp_path / "logs"
    done = inspect_eval(
        "--model",
        "empathy/mock-responder",
        "--model-role",
        "grader=empathy/mock-judge",
        "-T",
        f"prompts={spec}",
        log_dir=logs,
    )
    assert done.returncode == 0, done.stderr
    [log_path] = logs.glob("*.eval")
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(log_path))
    assert log.status == "success"
    from empathy_task.data.prompt_sets import load_prompt_set

    sha = load_prompt_set(spec).sha256
    assert log.eval.metadata["prompt_set"] == "support"
    assert log.eval.metadata["prompt_set_sha256"] == sha
    assert "data_sha256" not in log.eval.metadata  # the study's pin is not what was run
    assert {s.metadata["prompt_set_sha256"] for s in log.samples} == {sha}
    table = rating_table_from_logs([log_path])
    # Every prompt has a human reply: the judge rated it too, as the human baseline.
    assert sorted(table["source"].unique()) == ["empathy/mock-responder", "human"]
    assert set(table["prompt_set"]) == {"support"} and set(table["prompt_set_sha256"]) == {sha}
    assert table["emotion"].isna().all()  # the set has none
    assert set(table["sentiment"]) == {"negative", "positive"}


def test_a_malformed_set_is_refused_before_any_model_call(tmp_path: Path) -> None:
    rows = [ROWS[0], {**ROWS[1], "id": "a1"}]  # a duplicate id in row 3 of the CSV
    spec = write_set(tmp_path / "bad.csv", rows)
    calls = tmp_path / "calls.txt"
    logs = tmp_path / "logs"
    done = inspect_eval(
        "--model",
        "empathy/mock-responder",
        "-M",
        f"calls_file={calls}",
        "--model-role",
        f"grader={{model: empathy/mock-judge, model_args: {{calls_file: {calls}}}}}",
        "-T",
        f"prompts={spec}",
        log_dir=logs,
    )
    assert done.returncode != 0
    said = " ".join((done.stdout + done.stderr).split())  # Inspect wraps its message's lines
    assert f"{spec}: row 3, column 'id': duplicate id" in said
    assert not calls.exists()  # neither the model nor the judge was called
    assert not list(logs.glob("*.eval"))


def test_the_calls_counter_counts_a_good_run(tmp_path: Path) -> None:
    # The counter the refusal test relies on does count: two prompts, two replies.
    spec = write_set(tmp_path / "ok.jsonl", ROWS[:2])
    calls = tmp_path / "calls.txt"
    done = inspect_eval(
        "--model",
        "empathy/mock-responder",
        "-M",
        f"calls_file={calls}",
        "--model-role",
        "grader=empathy/mock-judge",
        "-T",
        f"prompts={spec}",
        log_dir=tmp_path / "logs",
    )
    assert done.returncode == 0, done.stderr
    assert len(calls.read_text().splitlines()) == 2


def test_the_judge_sees_the_emotion_only_where_the_set_gives_one() -> None:
    without = judge_prompt(None, None, "It never arrived.", "Sorry!", turns=["Hi", "Hello"])
    assert "Emotion of the speaker" not in without and "Situation:" not in without
    assert "Speaker #1: Hi\nSpeaker #2: Hello\nSpeaker #1: It never arrived." in without
    given = judge_prompt("worried", "Lost parcel.", "It never arrived.", "Sorry!")
    assert "Emotion of the speaker: worried\nSituation: Lost parcel.\n\nSpeaker #1:" in given


@pytest.mark.parametrize("selection", [["-T", "emotions=anxious,worried"], ["-T", "sample=8"]])
def test_the_shipped_set_selects_by_its_own_emotions(tmp_path: Path, selection: list[str]) -> None:
    from empathy_task.task.dataset import own_prompt_set

    args = dict(a.split("=", 1) for a in selection[1::2])
    frame, pset = own_prompt_set(
        resource_path("prompt_sets/clinic_support.jsonl"),
        emotions=args.get("emotions"),
        sample=int(args["sample"]) if "sample" in args else None,
    )
    assert pset.name == "clinic_support"
    if "emotions" in args:
        assert set(frame["emotion"]) == {"anxious", "worried"} and len(frame) == 5
    else:
        assert len(frame) == 8 and frame["emotion"].nunique() == 8
