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

from empathy_task._registry import empathy_judge_validation as judge_validation
from empathy_task.analysis.stats import weighted_kappa
from empathy_task.data.study import crowd_ratings
from empathy_task.task.empathy_task import empathy_task
from empathy_task.task.verdict import parse_rating
from empathy_task.vocabulary import STORED_SOURCES
from tests.task.support import metric_values

REPO = Path(__file__).resolve().parents[2]
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


def _model_events(sample) -> list[ModelEvent]:
    return [e for e in sample.events if isinstance(e, ModelEvent)]


@pytest.mark.dataset_download
def test_validation_rates_every_stored_source_against_the_crowd() -> None:
    from empathy_task.data.study import load_study, study_sources

    # All six stored sources with the second study file, the authors' three without it.
    sources = study_sources(load_study())
    log = _validate(sample=32 * len(sources), seed=3)
    assert len(log.samples) == 32 * len(sources)
    by_source: dict[str, list] = {}
    for s in log.samples:
        by_source.setdefault(s.metadata["source"], []).append(s)
    assert sorted(by_source) == sorted(sources) and set(sources) <= set(STORED_SOURCES)
    assert {len(v) for v in by_source.values()} == {32}
    # Stratified by emotion: 32 prompts per source, one per emotion, the same prompts each.
    for samples in by_source.values():
        assert len({s.metadata["emotion"] for s in samples}) == 32
    prompts = [sorted(s.metadata["dialog_id"] for s in v) for v in by_source.values()]
    assert all(p == prompts[0] for p in prompts)

    crowd = crowd_ratings().set_index(["dialog_id", "source"])["rating"]
    judge, truth = [], []
    for s in log.samples:
        md = s.metadata
        assert md["crowd_rating"] == crowd[(md["dialog_id"], md["source"])]
        assert s.target == ["Bad", "Okay", "Good"][md["crowd_rating"] - 1]
        judge.append(parse_rating(s.output.completion, md["reply"]))
        truth.append(md["crowd_rating"])
    m = metric_values(log)
    assert m["parse_rate"] == 1.0
    j, t = np.array(judge), np.array(truth)
    assert m["exact_agreement"] == pytest.approx((j == t).mean())
    assert m["quadratic_kappa"] == pytest.approx(weighted_kappa(t, j, weights="quadratic"))
    for source, samples in by_source.items():
        crowd_good = np.mean([s.metadata["crowd_rating"] == 3 for s in samples])
        assert m[f"{source}_crowd"] == pytest.approx(crowd_good)
    assert log.eval.metadata["judge_prompt_version"]
    assert log.eval.metadata["data_sha256"]


@pytest.mark.dataset_download
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


@pytest.mark.dataset_download
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


@pytest.mark.dataset_download
def test_sources_and_parameters_are_checked() -> None:
    with pytest.raises(PrerequisiteError, match="unknown source"):
        judge_validation(sources="human,gpt5")
    with pytest.raises(PrerequisiteError, match="unknown task parameter"):
        judge_validation(sampel=3)
    with pytest.raises(PrerequisiteError, match="at least the number of sources"):
        judge_validation(sample=2)
    log = _validate(sources="chatgpt", sample=5)
    assert {s.metadata["source"] for s in log.samples} == {"chatgpt"}


@pytest.mark.dataset_download
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
        [INSPECT, "eval", "empathy_task/empathy_judge_validation", "-T", "sample=6",
         "--model", "empathy/mock-judge", *common],
        cwd=REPO, env=env, check=True, capture_output=True,
    )  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "logs").glob("*.eval"))
    assert len(names) == 2 and any("_empathy-judge-validation_" in n for n in names)


# --- calibrate, then report in crowd units ------------------------------------------------------


@pytest.fixture(scope="module")
def validation_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("validation-logs")
    [log] = inspect_eval(
        judge_validation(sample=300, seed=1),
        model="empathy/mock-judge",
        display="none",
        log_dir=str(folder),
    )
    assert log.status == "success"
    return Path(log.location)


def _judged_table(path: Path, study) -> Path:
    """A rating table of a new model and the human replies, rated by the mock judge."""
    rng = np.random.default_rng(0)
    rows = []
    for source, shares in (("acme/model-1", [0.1, 0.3, 0.6]), ("human", [0.3, 0.4, 0.3])):
        ratings = rng.choice([1, 2, 3], size=len(study), p=shares)
        for rec, rating in zip(study.itertuples(), ratings):
            rows.append(
                {
                    "dialog_id": rec.dialog_id,
                    "emotion": rec.emotion,
                    "sentiment": rec.sentiment,
                    "plutchik": rec.plutchik,
                    "part_no": rec.part_no,
                    "source": source,
                    "rater": "empathy/mock-judge",
                    "rating": int(rating),
                }
            )
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_calibrate_then_report_in_crowd_units(
    tmp_path: Path, validation_log: Path, study, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from empathy_task.cli import main as cli
    from empathy_task.data.study import study_sources
    from empathy_task.resources import data_pin

    cal_file = tmp_path / "judge.calibration.json"
    assert cli(["calibrate", str(validation_log), "--out", str(cal_file)]) == 0
    assert "leave-one-source-out" in capsys.readouterr().out
    doc = json.loads(cal_file.read_text())
    [entry] = doc["calibrations"]
    assert entry["key"] == {
        "judge": "empathy/mock-judge",
        "judge_prompt_version": "judge-2",
        "data_sha256": data_pin().sha256,
    }
    sources = study_sources(study)  # six with the second study file, three without
    assert [r["source"] for r in entry["loso"]] == list(sources)
    assert sum(sum(sum(t, [])) for t in [entry["counts"][s] for s in sources]) == 300
    # An existing file is not overwritten without --force.
    assert cli(["calibrate", str(validation_log), "--out", str(cal_file)]) == 2

    table = _judged_table(tmp_path / "judged.csv", study)
    out = tmp_path / "report"
    args = ["report", str(table), "--calibration", str(cal_file), "--out", str(out)]
    assert cli([*args, "--resamples", "500", "--price-per-mtok", "0.15,0.6"]) == 0
    report = json.loads((out / "report.json").read_text())
    [c] = report["calibration"]
    assert c["judge"] == "empathy/mock-judge" and c["reference"] == "crowd"
    assert {"source", "crowd_good_rate", "judge_good_rate", "calibrated_good_rate"} <= set(
        c["loso"][0]
    )
    [ce] = report["crowd_equivalent"]
    assert ce["source"] == "acme/model-1" and ce["judge"] == "empathy/mock-judge"
    # The point estimate by hand: the judge's label shares times P(crowd Good | judge label).
    group = report["groups_by_rater"]["empathy/mock-judge"]["acme/model-1"]["counts"]
    shares = np.array([group[k] for k in ("Bad", "Okay", "Good")]) / 2000
    p_good = np.array(entry["p_crowd_given_judge"])[:, 2]
    assert ce["good_rate"] == pytest.approx(float(shares @ p_good))
    assert ce["rel_increase_good"] == pytest.approx((ce["good_rate"] - 0.493) / 0.493 * 100)
    lo, hi = ce["good_rate_ci"]
    assert lo < ce["good_rate"] < hi
    assert ce["rel_increase_good_ci"][0] < ce["rel_increase_good"] < ce["rel_increase_good_ci"][1]
    assert sum(ce["counts"].values()) == pytest.approx(2000)
    # Issue 23: how many sources calibrate, the transfer SD and how far the model lies outside
    # their range, in report.json and the report.
    assert (
        ce["calibrating_sources"] == len(STORED_SOURCES)
        and ce["transfer_df"] == len(STORED_SOURCES) - 1
    )
    assert ce["transfer_sd"] >= 0 and ce["extrapolation"] >= 0
    low, high = ce["judge_good_range"]
    inside = low <= ce["judge_good_rate"] <= high
    assert (ce["extrapolation"] == 0) == inside
    assert any("extrapolates" in w for w in ce["warnings"]) == (not inside)
    [card] = report["judge_card"]
    # The card comes with the file: the validation run's parse rate and tokens, priced here.
    assert card["human_ceiling_kappa"] == 0.28 and card["parse_rate"] == 1.0
    expected = (card["input_tokens_per_1000"] * 0.15 + card["output_tokens_per_1000"] * 0.6) / 1e6
    assert card["price_per_1000"] == pytest.approx(expected)
    md = (out / "report.md").read_text()
    assert "crowd-equivalent (judge empathy/mock-judge)" in md
    assert "judge empathy/mock-judge (judge's scale)" in md
    assert "Is the judge good enough?" in md
    assert "| calibrating sources |" in md and "outside the range (points)" in md


def test_a_calibration_whose_key_does_not_match_is_refused(
    tmp_path: Path, validation_log: Path, study, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from empathy_task.cli import main as cli

    cal_file = tmp_path / "cal.json"
    assert cli(["calibrate", str(validation_log), "--out", str(cal_file)]) == 0
    table = _judged_table(tmp_path / "judged.csv", study)
    doc = json.loads(cal_file.read_text())
    for field, value, message in (
        ("judge_prompt_version", "judge-1", "judge prompt"),
        ("data_sha256", "0" * 64, "pinned authors' CSV"),
        ("judge", "openai/gpt-4o-mini", "no input holds that judge's ratings"),
    ):
        bad = json.loads(json.dumps(doc))
        bad["calibrations"][0]["key"][field] = value
        bad_file = tmp_path / f"bad-{field}.json"
        bad_file.write_text(json.dumps(bad))
        out = tmp_path / f"report-{field}"
        capsys.readouterr()
        code = cli(["report", str(table), "--calibration", str(bad_file), "--out", str(out)])
        assert code == 2
        assert message in capsys.readouterr().err
        assert not out.exists()  # no half-written report


def test_the_reporter_calibrates_a_judge_from_its_inputs(
    tmp_path: Path, validation_log: Path, study
) -> None:
    import json

    from inspect_ai.model import ModelOutput, ModelUsage

    from empathy_task.cli import main as cli

    def reply(messages, tools, tool_choice, config) -> ModelOutput:
        out = ModelOutput.from_content(model="mockllm/model", content="I am so sorry to hear that.")
        out.usage = ModelUsage(input_tokens=50, output_tokens=7, total_tokens=57)
        return out

    # A new model's run judged by the same judge: its log carries the judge's human baseline too.
    [task_log] = inspect_eval(
        empathy_task(sample=40, seed=1),
        model=get_model("mockllm/model", custom_outputs=reply),
        model_roles={"grader": get_model("empathy/mock-judge")},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    out = tmp_path / "report"
    assert cli(["report", str(validation_log), task_log.location, "--out", str(out),
                "--resamples", "200", "--format", "json"]) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    [c] = report["calibration"]
    assert c["origin"] == "fitted from the report's inputs"
    [card] = report["judge_card"]
    # 300 stored replies, and the run's human replies that the validation sample did not hold.
    assert card["pairs"] >= 300 and card["parse_rate"] == 1.0
    assert card["input_tokens_per_1000"] > 0 and card["seconds_per_1000"] >= 0
    assert [ce["source"] for ce in report["crowd_equivalent"]] == ["mockllm/model"]


@pytest.mark.dataset_download
def test_task_reports_the_crowd_equivalent_good_rate_with_a_calibration(
    tmp_path: Path, validation_log: Path
) -> None:
    import json

    from empathy_task.cli import main as cli

    cal_file = tmp_path / "cal.json"
    assert cli(["calibrate", str(validation_log), "--out", str(cal_file)]) == 0
    p_good = np.array(json.loads(cal_file.read_text())["calibrations"][0]["p_crowd_given_judge"])
    [log] = inspect_eval(
        empathy_task(sample=20, calibration=str(cal_file)),
        model="empathy/chatgpt",
        model_roles={"grader": get_model("empathy/mock-judge")},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    m = metric_values(log)
    ratings = [s.scores["empathy_judge"].value["rating"] for s in log.samples]
    assert m["crowd_equivalent_good_rate"] == pytest.approx(
        float(np.mean([p_good[int(r) - 1, 2] for r in ratings]))
    )
    other = json.loads(cal_file.read_text())
    other["calibrations"][0]["key"]["judge"] = "openai/gpt-4o-mini"
    (tmp_path / "other.json").write_text(json.dumps(other))
    # Built inside the run (the task by name, as `inspect eval` does), the grader is known: a
    # calibration of another judge is refused before any sample.
    with pytest.raises(PrerequisiteError, match="no calibration of the judge"):
        inspect_eval(
            "empathy_task/empathy_task",
            task_args={"sample": 2, "calibration": str(tmp_path / "other.json")},
            model="empathy/chatgpt",
            model_roles={"grader": "empathy/mock-judge"},
            display="none",
            log_dir=os.environ["INSPECT_LOG_DIR"],
        )
    # Built before it (Python), the metric applies only a calibration of the judge that rated.
    [log] = inspect_eval(
        empathy_task(sample=2, calibration=str(tmp_path / "other.json")),
        model="empathy/chatgpt",
        model_roles={"grader": get_model("empathy/mock-judge")},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert np.isnan(metric_values(log)["crowd_equivalent_good_rate"])


@pytest.mark.dataset_download
def test_repeatability_from_epochs_and_not_from_cache_hits(tmp_path: Path) -> None:
    from empathy_task.ratings.judge_runs import judge_run_stats, repeated_ratings

    # The judge cache is shared across epochs (a cached answer would only repeat itself), so a
    # repeatability run asks afresh: without the cache, each epoch is its own judge call.
    [log] = inspect_eval(
        judge_validation(sources="human", sample=12, judge_cache=False),
        model="empathy/mock-judge",
        epochs=2,
        display="none",
        log_dir=str(tmp_path),
    )
    pairs = repeated_ratings([log.location])
    # 12 repeats, and the deterministic mock judge agrees with itself.
    assert len(pairs) == 12 and (pairs["first"] == pairs["second"]).all()
    # A second run is served from the cache: no new repeats.
    [again] = inspect_eval(
        judge_validation(sources="human", sample=12),
        model="empathy/mock-judge",
        display="none",
        log_dir=str(tmp_path),
    )
    assert len(repeated_ratings([log.location, again.location])) == 12
    stats = judge_run_stats([log.location, again.location])["empathy/mock-judge"]
    assert stats.runs == 2 and stats.asked == 36 and stats.parse_rate == 1.0


@pytest.mark.dataset_download
def test_judge_stored_reply_asks_the_model_the_scorers_question_about_the_stored_reply() -> None:
    from empathy_task.task.judge_validation import judge_stored_reply
    from empathy_task.task.provider import mock_judgement
    from empathy_task.task.scorer import judge_messages

    log = _validate(sample=6, seed=1)
    assert log.plan.steps[-1].solver.split("/")[-1] == judge_stored_reply.__name__
    for s in log.samples:
        [message] = judge_messages(s.metadata, s.metadata["reply"])
        assert s.output.completion == mock_judgement(message.text)


def test_judge_agreement_reads_the_judge_answer_beside_the_crowd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The scorer alone (no CSV): mockllm answers as a judge would, one sample per answer kind.
    import inspect_ai.model._model as model_module
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput
    from inspect_ai.solver import generate

    from empathy_task.task.judge_validation import judge_agreement

    # mockllm counts tokens with tiktoken, whose encoding is a download: words serve offline.
    monkeypatch.setattr(model_module, "count_text_tokens", lambda text: max(1, len(text.split())))
    answers = ["The reply listens.\nRATING: Good", "RATING: Bad", "I cannot say."]
    crowd = [3, 2, 1]
    samples = [
        Sample(
            id=i,
            input="rate it",
            metadata={"reply": "I am sorry.", "crowd_rating": c, "source": "human", "dialog_id": i},
        )
        for i, c in enumerate(crowd)
    ]
    model = get_model(
        "mockllm/model", custom_outputs=[ModelOutput.from_content("mockllm", a) for a in answers]
    )
    [log] = inspect_eval(
        Task(dataset=samples, solver=generate(), scorer=judge_agreement()),
        model=model,
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
        max_samples=1,
    )
    assert log.status == "success", log.error
    values = {s.id: s.scores["judge_agreement"].value for s in log.samples}
    assert values[0]["rating"] == 3.0 and values[0]["exact"] == 1.0
    assert values[1]["rating"] == 1.0 and values[1]["exact"] == 0.0
    assert values[2]["rated"] == 0.0 and np.isnan(values[2]["rating"])
    assert log.samples[2].scores["judge_agreement"].metadata["judge"] == "mockllm/model"
    metrics = metric_values(log)
    assert metrics["parse_rate"] == pytest.approx(2 / 3)
    assert metrics["exact_agreement"] == pytest.approx(0.5)
