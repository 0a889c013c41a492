"""The Inspect task end to end with offline models: replay provider, judges, metrics, export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage, get_model

from empathy_task.cli import main as cli
from empathy_task.ratings.files import read_rating_table
from empathy_task.ratings.logs import rating_table_from_logs, replies_from_logs
from empathy_task.task.empathy_task import empathy_task
from tests.task.support import metric_values, run_task

REPO = Path(__file__).resolve().parents[2]
INSPECT = str(Path(sys.executable).with_name("inspect"))


def _judge(answers: list[str], calls: list[str] | None = None):
    """A mockllm grader whose outputs carry usage (no tiktoken) and cycle through ``answers``."""
    counter = {"n": 0}

    def respond(messages, tools, tool_choice, config) -> ModelOutput:
        text = answers[counter["n"] % len(answers)]
        counter["n"] += 1
        if calls is not None:
            calls.append(messages[-1].text)
        out = ModelOutput.from_content(model="mockllm/model", content=text)
        out.usage = ModelUsage(input_tokens=100, output_tokens=5, total_tokens=105)
        return out

    return get_model("mockllm/model", custom_outputs=respond, config=GenerateConfig())


def test_replay_provider_answers_with_the_stored_reply(study: pd.DataFrame) -> None:
    log = run_task("empathy/chatgpt_empathy", "empathy/mock-judge", sample=32)
    stored = dict(zip(study["dialog_id"], study["reply_chatgpt_empathy"]))
    assert len(log.samples) == 32
    for s in log.samples:
        assert s.output.completion == stored[s.id]
        assert s.output.usage and s.output.usage.output_tokens > 0
    m = metric_values(log)
    assert m["parse_rate"] == 1.0
    assert 0 <= m["good_rate"] <= 1 and 0 <= m["human_good_rate"] <= 1
    assert set(m) >= {
        "mean_rating",
        "Good",
        "Okay",
        "Bad",
        "relative_increase_good",
        "positive",
        "negative",
    }
    assert (
        log.eval.metadata["judge_prompt_version"]
        and log.eval.metadata["prompt_variant"] == "empathy"
    )


@pytest.mark.dataset_download
def test_export_is_a_valid_rating_table(tmp_path: Path) -> None:
    log = run_task("empathy/human", "empathy/mock-judge", sample=32, export=str(tmp_path / "auto"))
    table = rating_table_from_logs([log.location])
    assert len(table) == 64
    assert set(table["source"]) == {"empathy/human", "human"}
    assert set(table["rater"]) == {"empathy/mock-judge"}
    # The replayed human replies and the judge-rated baseline are the same replies, judged alike.
    wide = table.pivot(index="dialog_id", columns="source", values="rating")
    assert (wide["empathy/human"] == wide["human"]).all()
    # The hook wrote the same table at the end of the run.
    [auto] = list((tmp_path / "auto").iterdir())
    pd.testing.assert_frame_equal(read_rating_table(auto), table)
    for suffix in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"ratings.{suffix}"
        assert cli(["export", log.location, "--out", str(out)]) == 0
        pd.testing.assert_frame_equal(read_rating_table(out), table)
        before = out.read_bytes()
        assert cli(["export", log.location, "--out", str(out)]) == 2
        assert out.read_bytes() == before
        assert cli(["export", log.location, "--out", str(out), "--force"]) == 0
    replies = replies_from_logs([log.location])
    assert len(replies) == 32 and set(replies["source"]) == {"empathy/human"}


@pytest.mark.dataset_download
def test_unparsable_judge_answers_are_never_ratings() -> None:
    answers = ["RATING: Good", "I cannot rate this.", "RATING: Bad", "", "Okay"]
    log = run_task(
        "empathy/chatgpt", _judge(answers), sample=32, judge_cache=False, min_parse_rate=0
    )
    m = metric_values(log)
    assert 0 < m["parse_rate"] < 1
    table = rating_table_from_logs([log.location])
    unrated = [s for s in log.samples if s.scores["empathy_judge"].answer is None]
    assert unrated, "some model replies should have had unparsable judgements"
    for s in unrated:
        score = s.scores["empathy_judge"]
        assert score.reason == "grader_failed"
        rows = table[(table["dialog_id"] == s.id) & (table["source"] == "empathy/chatgpt")]
        assert rows.empty
    assert len(table) == sum(
        (s.scores["empathy_judge"].value["rated"] == 1)
        + (s.scores["empathy_judge"].value["human_rated"] == 1)
        for s in log.samples
    )


@pytest.mark.dataset_download
def test_human_judgements_are_cached_across_models() -> None:
    calls: list[str] = []
    grader = _judge(["RATING: Good", "RATING: Okay"], calls)
    run_task("empathy/chatgpt", grader, sample=16)
    assert len(calls) == 32  # 16 model replies + 16 human replies
    run_task("empathy/chatgpt_empathy", grader, sample=16)
    assert len(calls) == 48  # the human replies were not judged again


@pytest.mark.dataset_download
def test_judge_human_off() -> None:
    log = run_task("empathy/human", "empathy/mock-judge", sample=8, judge_human=False)
    table = rating_table_from_logs([log.location])
    assert set(table["source"]) == {"empathy/human"}


def _inspect_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INSPECT, "eval", *args, "--model-role", "grader=empathy/mock-judge", "--display", "plain"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


@pytest.mark.dataset_download
def test_cli_from_repo_root_and_from_anywhere(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    root = _inspect_cli(
        [
            "empathy_task",
            "--model",
            "empathy/human",
            "--limit",
            "3",
            "--log-dir",
            str(logs / "root"),
        ],
        REPO,
    )
    assert root.returncode == 0, root.stderr
    elsewhere = _inspect_cli(
        [
            "empathy_task/empathy_task",
            "--model",
            "empathy/chatgpt",
            "--limit",
            "3",
            "-T",
            "valence=negative",
            "-T",
            "judge_human=false",
            "--log-dir",
            str(logs / "else"),
        ],
        tmp_path,
    )
    assert elsewhere.returncode == 0, elsewhere.stderr
    for sub, n in (("root", 6), ("else", 3)):
        [log] = list((logs / sub).glob("*.eval"))
        out = tmp_path / f"{sub}.csv"
        assert cli(["export", str(log), "--out", str(out)]) == 0
        assert len(read_rating_table(out)) == n


def test_export_rejects_a_foreign_log(tmp_path: Path) -> None:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample

    [log] = inspect_eval(
        Task(dataset=[Sample(input="hi")], name="other"),
        model="empathy/mock-judge",
        display="none",
        log_dir=str(tmp_path),
    )
    assert cli(["export", log.location, "--out", str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()


def test_entry_point_stays_light() -> None:
    # Inspect imports the entry point at the start of every run of every task.
    code = (
        "import sys, inspect_ai; before = set(sys.modules); import empathy_task._registry; "
        "heavy = {m.split('.')[0] for m in set(sys.modules) - before} & "
        "{'pandas', 'datasets', 'matplotlib', 'scipy', 'pyarrow', 'statsmodels'}; "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.dataset_download
def test_without_a_judge_the_run_fails_before_any_reply(tmp_path: Path) -> None:
    # The default judge is openai/gpt-4o-mini; with no key (or no openai package) for it the run
    # must stop at task creation, name the override, exit non-zero and write no log.
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    logs = tmp_path / "logs"
    done = subprocess.run(
        [
            INSPECT,
            "eval",
            "empathy_task/empathy_task",
            "--model",
            "empathy/human",
            "--limit",
            "2",
            "--log-dir",
            str(logs),
            "--display",
            "plain",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode != 0
    assert "--model-role grader=" in " ".join((done.stdout + done.stderr).split())
    assert not list(logs.rglob("*.eval"))


@pytest.mark.dataset_download
def test_log_records_judge_and_generation_settings() -> None:
    log = run_task("empathy/human", "empathy/mock-judge", sample=2)
    assert log.eval.model_roles["grader"].model == "empathy/mock-judge"
    config = log.plan.config
    assert (config.temperature, config.max_tokens) == (0, 512)


@pytest.mark.dataset_download
def test_task_parameters_are_checked() -> None:
    import pytest
    from inspect_ai._util.error import PrerequisiteError

    with pytest.raises(PrerequisiteError, match="emotion"):
        empathy_task(emotion="sad")
    with pytest.raises(PrerequisiteError, match="-T sample="):
        empathy_task(sample="abc")
    task = empathy_task(emotions="Sad,LONELY")
    assert {s.metadata["emotion"] for s in task.dataset} == {"sad", "lonely"}


def test_unknown_parameter_fails_the_cli_run(tmp_path: Path) -> None:
    done = _inspect_cli(
        [
            "empathy_task/empathy_task",
            "--model",
            "empathy/human",
            "-T",
            "emotion=sad",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        tmp_path,
    )
    assert done.returncode != 0
    assert "unknown task parameter" in " ".join((done.stdout + done.stderr).split())
    assert not list((tmp_path / "logs").rglob("*.eval"))


@pytest.mark.dataset_download
def test_metrics_carry_standard_errors() -> None:
    import math

    log = run_task(
        "empathy/human", _judge(["RATING: Good", "RATING: Bad", "RATING: Okay"]), sample=32
    )
    [score] = log.results.scores
    metrics = {k: m.value for k, m in score.metrics.items()}
    rows = [s.scores["empathy_judge"].value for s in log.samples]
    good = [r["good"] for r in rows if r["rated"] == 1]
    n, p = len(good), sum(good) / len(good)
    assert math.isclose(metrics["good_rate_stderr"], math.sqrt(p * (1 - p) * n / (n - 1) / n))
    assert 0 < metrics["mean_rating_stderr"] < 1
    # Per valence, under their own names (no positive2/negative2 collisions).
    for valence in ("positive", "negative"):
        for key in ("good_rate_stderr", "mean_rating", "mean_rating_stderr"):
            assert math.isfinite(metrics[f"{valence}_{key}"])
    assert not any(k.endswith("2") for k in metrics)


def test_judge_ready_fails_a_sample_before_its_reply_when_no_judge_can_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.solver import generate

    from empathy_task.task.empathy_task import judge_ready

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    task = Task(dataset=[Sample(input="hello")], setup=judge_ready(), solver=generate())
    [log] = inspect_eval(task, model="mockllm/model", display="none", log_dir=str(tmp_path))
    assert log.status == "error"
    assert "--model-role grader=" in str(log.error)
    # The reply was never generated: the judge is made first.
    assert not log.samples or all(not s.output.completion for s in log.samples)
