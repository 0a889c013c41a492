"""The judge validation task end to end with the offline mock judge, and its shared cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai._util.error import PrerequisiteError
from inspect_ai.event import ModelEvent
from inspect_ai.model import get_model

from empathy_task.analysis.stats import weighted_kappa
from empathy_task.data.study import crowd_ratings
from empathy_task.task.empathy_task import empathy_task
from empathy_task.task.judge_validation import judge_validation
from empathy_task.task.verdict import parse_rating
from empathy_task.vocabulary import STORED_SOURCES

REPO = Path(__file__).resolve().parent.parent
INSPECT = str(Path(sys.executable).with_name("inspect"))


def _validate(model: str = "empathy/mock-judge", **task_args):
    [log] = inspect_eval(
        judge_validation(**task_args),
        model=model,
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success", log.error
    return log


def _metrics(log) -> dict[str, float]:
    [score] = log.results.scores
    return {k: m.value for k, m in score.metrics.items()}


def _model_events(sample) -> list[ModelEvent]:
    return [e for e in sample.events if isinstance(e, ModelEvent)]


def test_validation_rates_every_stored_source_against_the_crowd() -> None:
    log = _validate(sample=96, seed=3)
    assert len(log.samples) == 96
    by_source: dict[str, list] = {}
    for s in log.samples:
        by_source.setdefault(s.metadata["source"], []).append(s)
    assert sorted(by_source) == sorted(STORED_SOURCES)
    assert {len(v) for v in by_source.values()} == {32}
    # Stratified by emotion: 32 prompts per source, one per emotion, the same prompts each.
    for samples in by_source.values():
        assert len({s.metadata["emotion"] for s in samples}) == 32
    prompts = [sorted(s.metadata["dialog_id"] for s in v) for v in by_source.values()]
    assert prompts[0] == prompts[1] == prompts[2]

    crowd = crowd_ratings().set_index(["dialog_id", "source"])["rating"]
    judge, truth = [], []
    for s in log.samples:
        md = s.metadata
        assert md["crowd_rating"] == crowd[(md["dialog_id"], md["source"])]
        assert s.target == ["Bad", "Okay", "Good"][md["crowd_rating"] - 1]
        judge.append(parse_rating(s.output.completion, md["reply"]))
        truth.append(md["crowd_rating"])
    m = _metrics(log)
    assert m["parse_rate"] == 1.0
    j, t = np.array(judge), np.array(truth)
    assert m["exact_agreement"] == pytest.approx((j == t).mean())
    assert m["quadratic_kappa"] == pytest.approx(weighted_kappa(t, j, weights="quadratic"))
    for source, samples in by_source.items():
        crowd_good = np.mean([s.metadata["crowd_rating"] == 3 for s in samples])
        assert m[f"{source}_crowd"] == pytest.approx(crowd_good)
    assert log.eval.metadata["judge_prompt_version"]
    assert log.eval.metadata["data_sha256"]


def test_a_cached_human_baseline_is_not_paid_for_again(tmp_path: Path) -> None:
    """The validation call is the scorer's call, byte for byte: Inspect's cache serves it."""
    calls_task, calls_validation = tmp_path / "task.txt", tmp_path / "validation.txt"
    grader = get_model("empathy/mock-judge", calls_file=str(calls_task))
    [task_log] = inspect_eval(
        empathy_task(sample=32, seed=5),
        model="empathy/human",
        model_roles={"grader": grader},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert task_log.status == "success"
    assert calls_task.read_text().count("\n") == 32  # the reply and the human reply are one call

    judge = get_model("empathy/mock-judge", calls_file=str(calls_validation))
    log = _validate(judge, sources="human", sample=32, seed=5)
    assert not calls_validation.exists()  # every call came from the cache
    task_events = {s.id: _model_events(s) for s in task_log.samples}
    for s in log.samples:
        [event] = _model_events(s)
        assert event.cache == "read"
        # The messages and the config the cache is keyed on are equal.
        [scorer_event] = [
            e
            for e in task_events[s.metadata["dialog_id"]]
            if e.input[-1].text == event.input[-1].text
        ][:1]
        assert [m.model_dump(exclude={"id"}) for m in event.input] == [
            m.model_dump(exclude={"id"}) for m in scorer_event.input
        ]
        assert event.config.temperature == scorer_event.config.temperature == 0


def test_a_judge_named_on_the_command_line_still_judges_at_temperature_zero() -> None:
    # A role model replaces the task's temperature-0 default: the scorer sets it on the call.
    [log] = inspect_eval(
        empathy_task(sample=2),
        model="empathy/chatgpt",
        model_roles={"grader": get_model("empathy/mock-judge")},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    judged = [e for s in log.samples for e in _model_events(s) if e.model == "empathy/mock-judge"]
    assert judged and all(e.config.temperature == 0 for e in judged)


def test_sources_and_parameters_are_checked() -> None:
    with pytest.raises(PrerequisiteError, match="unknown source"):
        judge_validation(sources="human,gpt5")
    with pytest.raises(PrerequisiteError, match="unknown task parameter"):
        judge_validation(sampel=3)
    with pytest.raises(PrerequisiteError, match="at least the number of sources"):
        judge_validation(sample=2)
    log = _validate(sources="chatgpt", sample=5)
    assert {s.metadata["source"] for s in log.samples} == {"chatgpt"}


def test_folder_spec_runs_only_the_main_task_and_the_name_runs_validation(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "INSPECT_LOG_DIR": str(tmp_path / "logs")}
    common = ["--display", "none", "--log-dir", str(tmp_path / "logs")]
    subprocess.run(
        [INSPECT, "eval", "empathy_task", "--limit", "2", "--model", "empathy/human",
         "--model-role", "grader=empathy/mock-judge", *common],
        cwd=REPO, env=env, check=True, capture_output=True,
    )  # fmt: skip
    logs = list((tmp_path / "logs").glob("*.eval"))
    assert len(logs) == 1 and "_empathy-task_" in logs[0].name
    subprocess.run(
        [INSPECT, "eval", "empathy_task/empathy_judge_validation", "-T", "sample=3",
         "--model", "empathy/mock-judge", *common],
        cwd=REPO, env=env, check=True, capture_output=True,
    )  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "logs").glob("*.eval"))
    assert len(names) == 2 and any("_empathy-judge-validation_" in n for n in names)
