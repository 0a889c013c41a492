"""Many runs, one honest comparison (issue 13): the readers and exporters side.

Runs are real and offline: Inspect's ``eval()`` and ``inspect eval`` / ``inspect score`` with the
replay models and the two mock judges (``empathy/mock-judge``, ``empathy/mock-judge-strict``),
lm-eval's ``dummy`` model, and the ``empathy-task`` command line on what they wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage, get_model

from empathy_task.cli import main as cli
from empathy_task.ratings.files import read_rating_table
from empathy_task.task.empathy_task import empathy_task
from empathy_task.task.provider import mock_verdict
from empathy_task.task.verdict import LABEL_TO_RATING

BIN = Path(sys.executable).parent
INSPECT = str(BIN / "inspect")
FAST = ["--resamples", "50", "--format", "json"]
N = 8


def _eval(model: str, grader: object = "empathy/mock-judge", **task_args: object):
    [log] = inspect_eval(
        empathy_task(sample=N, **task_args),
        model=model,
        model_roles={"grader": grader},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    return log


def _report(tmp_path: Path, *inputs: object, name: str = "report") -> tuple[int, dict | None]:
    out = tmp_path / name
    code = cli(["report", *map(str, inputs), "--out", str(out), *FAST])
    doc = json.loads((out / "report.json").read_text()) if code == 0 else None
    return code, doc


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=600, env=os.environ.copy()
    )


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stdout + done.stderr).split())


# --- 1. the identity of a rating -------------------------------------------------------------


@pytest.mark.dataset_download
def test_tables_of_separate_runs_report_together_the_human_ratings_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _eval("empathy/chatgpt_empathy")
    b = _eval("empathy/chatgpt")
    a_csv, b_csv = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cli(["export", a.location, "--out", str(a_csv)]) == 0
    assert cli(["export", b.location, "--out", str(b_csv)]) == 0
    capsys.readouterr()

    for inputs in ((a_csv, b_csv), (a.location, b.location), (a_csv, b_csv, a.location)):
        code, doc = _report(tmp_path, *inputs, name=f"r{len(inputs)}{Path(inputs[0]).suffix}")
        assert code == 0, capsys.readouterr().err
        assert doc is not None
        # The judge's ratings of the 8 human replies, carried by every input, count once.
        assert doc["groups"]["human"]["n"] == N
        assert doc["groups"]["empathy/chatgpt_empathy"]["n"] == N
        assert doc["groups"]["empathy/chatgpt"]["n"] == N
        repeats = [i["repeats"] for i in doc["inputs"]]
        assert repeats[0] == 0 and sum(repeats) == N * (len(inputs) - 1) + (
            N if len(inputs) == 3 else 0
        )
        # Said once per input that repeated something, in the report and on the terminal.
        notes = [n for i in doc["inputs"] for n in i["notes"]]
        assert len(notes) == len(inputs) - 1
        assert all("counted once" in n for n in notes)
        assert capsys.readouterr().out.count("counted once") == len(inputs) - 1


@pytest.mark.dataset_download
def test_inputs_that_disagree_on_a_rating_are_refused_naming_both_places(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _eval("empathy/chatgpt_empathy")
    b = _eval("empathy/chatgpt")
    a_csv, b_csv = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cli(["export", a.location, "--out", str(a_csv)]) == 0
    assert cli(["export", b.location, "--out", str(b_csv)]) == 0
    table = pd.read_csv(b_csv, dtype=str)
    at = int(table.index[table["source"] == "human"][3])
    table.loc[at, "rating"] = "1" if table.loc[at, "rating"] != "1" else "3"
    table.to_csv(b_csv, index=False)
    dialog = table.loc[at, "dialog_id"]
    a_row = int(
        pd.read_csv(a_csv, dtype=str).query("source == 'human' and dialog_id == @dialog").index[0]
    )
    capsys.readouterr()

    code, _ = _report(tmp_path, a_csv, b_csv)
    err = capsys.readouterr().err
    assert code == 2
    assert f"{b_csv}: row {at + 2}" in err and f"{a_csv}: row {a_row + 2}" in err
    assert "disagrees" in err and dialog in err
    assert not (tmp_path / "report").exists()


# --- 8. epochs ----------------------------------------------------------------------------------


def _cycling_judge(answers: list[str]):
    counter = {"n": 0}

    def respond(messages, tools, tool_choice, config) -> ModelOutput:
        text = answers[counter["n"] % len(answers)]
        counter["n"] += 1
        out = ModelOutput.from_content(model="mockllm/model", content=text)
        out.usage = ModelUsage(input_tokens=100, output_tokens=5, total_tokens=105)
        return out

    return get_model("mockllm/model", custom_outputs=respond, config=GenerateConfig())


def _kappa(a: list[int], b: list[int]) -> float:
    """Cohen's kappa, written out here (independent of the package's implementation)."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in (1, 2, 3)) / n**2
    return (observed - expected) / (1 - expected)


@pytest.mark.dataset_download
def test_every_epoch_is_exported_reported_and_its_repeatability_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grader = _cycling_judge(["RATING: Good", "RATING: Bad", "RATING: Okay", "RATING: Good"])
    [log] = inspect_eval(
        empathy_task(sample=N, judge_cache=False),
        model="empathy/chatgpt_empathy",
        model_roles={"grader": grader},
        epochs=2,
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success"
    out = tmp_path / "epochs.csv"
    assert cli(["export", log.location, "--out", str(out)]) == 0
    table = read_rating_table(out)
    assert sorted(table["epoch"].unique()) == [1, 2]
    assert len(table) == 2 * 2 * N  # two epochs, model and human replies
    one = tmp_path / "epoch2.csv"
    assert cli(["export", log.location, "--out", str(one), "--epoch", "2"]) == 0
    assert set(read_rating_table(one)["epoch"]) == {2}

    for source in (out, log.location):
        code, doc = _report(tmp_path, source, name=f"rep-{Path(source).suffix[1:]}")
        assert code == 0, capsys.readouterr().err
        assert doc is not None
        # One rating per epoch in the counts.
        assert doc["groups"]["human"]["n"] == 2 * N
        [rep] = doc["repeatability"]
        assert rep["judge"] == "mockllm/model" and rep["epochs"] == 2 and rep["n"] == 2 * N
        pairs = table.pivot_table(
            index=["dialog_id", "source"], columns="epoch", values="rating"
        ).astype(int)
        assert rep["kappa"] == pytest.approx(_kappa(list(pairs[1]), list(pairs[2])))
        assert rep["exact_agreement"] == pytest.approx(float((pairs[1] == pairs[2]).mean()))


# --- 4. which judge -----------------------------------------------------------------------------


def _verdicts(table: pd.DataFrame, log) -> None:
    """Every rating in ``table`` is what its rater's mock judge gives that reply."""
    from empathy_task.task.prompts import judge_prompt

    samples = {s.id: s for s in log.samples}
    for row in table.itertuples():
        md = samples[row.dialog_id].metadata
        reply = (
            md["human_reply"] if row.source == "human" else samples[row.dialog_id].output.completion
        )
        prompt = judge_prompt(
            emotion=md["emotion"],
            situation=md["situation"],
            speaker_turn=md["speaker_turn"],
            reply=reply.strip(),
        )
        strict = row.rater == "empathy/mock-judge-strict"
        assert row.rating == LABEL_TO_RATING[mock_verdict(prompt, strict).lower()]


@pytest.mark.dataset_download
def test_a_rejudged_log_carries_the_new_judges_name(tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

    log = _eval("empathy/chatgpt_empathy")
    appended, overwritten = tmp_path / "appended.eval", tmp_path / "overwritten.eval"
    for action, out in (("append", appended), ("overwrite", overwritten)):
        done = _run(
            [
                INSPECT,
                "score",
                log.location,
                "--scorer",
                "empathy_task/empathy_judge",
                "--action",
                action,
                "--model-role",
                "grader=empathy/mock-judge-strict",
                "--output-file",
                str(out),
                "--display",
                "none",
            ],
            tmp_path,
        )
        assert done.returncode == 0, _said(done)

    both = tmp_path / "both.csv"
    assert cli(["export", str(appended), "--out", str(both)]) == 0
    table = read_rating_table(both)
    assert Counter(table["rater"]) == {
        "empathy/mock-judge": 2 * N,
        "empathy/mock-judge-strict": 2 * N,
    }
    full = read_eval_log(str(appended))
    _verdicts(table, full)

    strict = tmp_path / "strict.csv"
    assert cli(["export", str(appended), "--out", str(strict), "--scorer", "empathy_judge1"]) == 0
    assert set(read_rating_table(strict)["rater"]) == {"empathy/mock-judge-strict"}
    assert cli(["export", str(appended), "--out", str(tmp_path / "x.csv"), "--scorer", "nope"]) == 2

    # Overwritten: the log's grader role still names the first judge; the ratings do not.
    rescored = read_eval_log(str(overwritten))
    assert rescored.eval.model_roles["grader"].model == "empathy/mock-judge"
    over = tmp_path / "over.csv"
    assert cli(["export", str(overwritten), "--out", str(over)]) == 0
    over_table = read_rating_table(over)
    assert set(over_table["rater"]) == {"empathy/mock-judge-strict"}
    _verdicts(over_table, rescored)

    # The report sees two judges (two rater kinds) in the appended log, one with --scorer.
    code, doc = _report(tmp_path, appended, name="two-judges")
    assert code == 0 and doc is not None
    assert set(doc["rater_kinds"]) == {"empathy/mock-judge", "empathy/mock-judge-strict"}
    out = tmp_path / "one-judge"
    assert (
        cli(["report", str(appended), "--scorer", "empathy_judge1", "--out", str(out), *FAST]) == 0
    )
    assert json.loads((out / "report.json").read_text())["rater_kinds"] == [
        "empathy/mock-judge-strict"
    ]


# --- 5. incomplete logs -------------------------------------------------------------------------


@pytest.mark.dataset_download
def test_an_incomplete_log_is_refused_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = get_model("empathy/mock-judge", fail_after=7, memoize=False)
    [log] = inspect_eval(
        empathy_task(sample=N, judge_cache=False),
        model="empathy/chatgpt_empathy",
        model_roles={"grader": failing},
        max_samples=1,
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "error"
    complete = sum(1 for s in log.samples if s.error is None)
    assert 0 < complete < N
    capsys.readouterr()

    out = tmp_path / "part.csv"
    assert cli(["export", log.location, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "status 'error'" in err and f"{complete} of {N} samples" in err
    assert "--allow-incomplete" in err and not out.exists()
    assert _report(tmp_path, log.location)[0] == 2
    assert "status 'error'" in capsys.readouterr().err

    assert cli(["export", log.location, "--out", str(out), "--allow-incomplete"]) == 0
    said = capsys.readouterr().out
    assert f"{N - complete} of {N} samples missing from {log.location}" in said
    assert len(read_rating_table(out)) == 2 * complete
    code, doc = _report(tmp_path, log.location, "--allow-incomplete", name="allowed")
    assert code == 0 and doc is not None
    [entry] = doc["inputs"]
    assert any(f"{N - complete} of {N} samples missing" in n for n in entry["notes"])


# --- 6. the grader ------------------------------------------------------------------------------

_PYTHON_EVAL = """
import sys
from inspect_ai import eval
from empathy_task.task.empathy_task import empathy_task
roles = {{"grader": "empathy/mock-judge"}} if sys.argv[1] == "named" else None
[log] = eval(empathy_task(sample=3), model="empathy/human", model_roles=roles,
             display="none", log_dir={log_dir!r})
outputs = [s.output.completion for s in log.samples or []]
print("STATUS", log.status, "REPLIES", sum(1 for o in outputs if o.strip()))
print("ERROR", log.error.message if log.error else None)
"""


@pytest.mark.dataset_download
def test_the_grader_named_in_python_eval_is_used_and_a_missing_one_stops_every_reply(
    tmp_path: Path,
) -> None:
    script = tmp_path / "run.py"
    script.write_text(_PYTHON_EVAL.format(log_dir=str(tmp_path / "logs")))
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    named = subprocess.run(
        [sys.executable, str(script), "named"], capture_output=True, text=True, env=env, timeout=300
    )
    assert named.returncode == 0, named.stderr[-3000:]
    assert "STATUS success REPLIES 3" in named.stdout
    missing = subprocess.run(
        [sys.executable, str(script), "none"], capture_output=True, text=True, env=env, timeout=300
    )
    assert "STATUS error REPLIES 0" in missing.stdout, missing.stderr[-3000:]
    assert "--model-role grader=" in missing.stdout


@pytest.mark.dataset_download
@pytest.mark.parametrize("role", ["grader=openai/gpt-4o-mini"])
def test_a_missing_or_unusable_grader_on_the_command_line_fails_before_any_sample(
    tmp_path: Path, role: str | None
) -> None:
    # A named judge that cannot run (Inspect itself refuses to create it, with its own message);
    # no judge named at all is tests/task/test_task.py's
    # test_without_a_judge_the_run_fails_before_any_reply.
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
            *(["--model-role", role] if role else []),
            "--log-dir",
            str(logs),
            "--display",
            "plain",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode != 0
    if role is None:
        assert "--model-role grader=" in _said(done)
    assert not list(logs.rglob("*.eval"))


# --- 7. one naming of sources -------------------------------------------------------------------


@pytest.mark.dataset_download
def test_the_prompt_variant_is_part_of_the_source_in_inspect_and_lm_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = _eval("empathy/chatgpt")
    vanilla = _eval("empathy/chatgpt", prompt="vanilla")
    s_csv, v_csv = tmp_path / "study.csv", tmp_path / "vanilla.csv"
    assert cli(["export", study.location, "--out", str(s_csv)]) == 0
    assert cli(["export", vanilla.location, "--out", str(v_csv)]) == 0
    assert set(read_rating_table(s_csv)["source"]) == {"empathy/chatgpt", "human"}
    assert set(read_rating_table(v_csv)["source"]) == {"empathy/chatgpt [vanilla]", "human"}
    code, doc = _report(tmp_path, study.location, vanilla.location)
    assert code == 0 and doc is not None
    assert doc["groups"]["empathy/chatgpt"]["n"] == N
    assert doc["groups"]["empathy/chatgpt [vanilla]"]["n"] == N

    # lm-eval's vanilla task, judged post hoc under the same model name: the same source name.
    include = subprocess.run(
        [BIN / "empathy-task", "lm-eval-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    run = _run(
        [
            str(BIN / "lm_eval"),
            "--model",
            "dummy",
            "--tasks",
            "empathy_task_vanilla",
            "--include_path",
            include,
            "--limit",
            "3",
            "--log_samples",
            "--output_path",
            str(tmp_path / "lm"),
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    [samples] = sorted((tmp_path / "lm").glob("**/samples_empathy_task_vanilla_*.jsonl"))
    judged = tmp_path / "lm.csv"
    argv = ["judge", str(samples), "--grader", "empathy/mock-judge", "--no-progress"]
    assert cli([*argv, "--source", "empathy/chatgpt", "--out", str(judged)]) == 0
    assert set(read_rating_table(judged)["source"]) == {"empathy/chatgpt [vanilla]", "human"}
    unnamed = tmp_path / "lm-dummy.csv"
    assert cli([*argv, "--out", str(unnamed)]) == 0
    assert set(read_rating_table(unnamed)["source"]) == {"dummy [vanilla]", "human"}


# --- 3. -T export -------------------------------------------------------------------------------


def _inspect_eval(
    models: str, export: Path, logs: Path, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return _run(
        [
            INSPECT,
            "eval",
            "empathy_task/empathy_task",
            "--model",
            models,
            "--model-role",
            "grader=empathy/mock-judge",
            "--limit",
            "2",
            "-T",
            f"export={export}",
            "--log-dir",
            str(logs),
            "--display",
            "plain",
        ],
        cwd,
    )


@pytest.mark.dataset_download
def test_export_to_a_file_never_loses_a_table(tmp_path: Path) -> None:
    target = tmp_path / "ratings.csv"
    first = _inspect_eval("empathy/human", target, tmp_path / "logs1", tmp_path)
    assert first.returncode == 0, _said(first)
    written = target.read_bytes()
    # A rerun to the same file, and two models to one file: refused before any sample runs.
    again = _inspect_eval("empathy/chatgpt", target, tmp_path / "logs2", tmp_path)
    assert again.returncode != 0
    assert "exists" in _said(again) and "-T export=DIR" in _said(again)
    assert not list((tmp_path / "logs2").rglob("*.eval"))
    assert target.read_bytes() == written
    two = _inspect_eval(
        "empathy/human,empathy/chatgpt", tmp_path / "two.csv", tmp_path / "logs3", tmp_path
    )
    assert two.returncode != 0
    assert "would be lost" in _said(two)
    assert not (tmp_path / "two.csv").exists()
    assert not list((tmp_path / "logs3").rglob("*.eval"))


@pytest.mark.dataset_download
def test_export_to_a_folder_writes_one_table_per_log(tmp_path: Path) -> None:
    folder = tmp_path / "ratings"
    done = _inspect_eval("empathy/human,empathy/chatgpt", folder, tmp_path / "logs", tmp_path)
    assert done.returncode == 0, _said(done)
    logs = sorted((tmp_path / "logs").glob("*.eval"))
    tables = sorted(folder.glob("*.ratings.csv"))
    assert [t.name.removesuffix(".ratings.csv") for t in tables] == [p.stem for p in logs]
    sources = [set(read_rating_table(t)["source"]) - {"human"} for t in tables]
    assert sorted(map(sorted, sources)) == [["empathy/chatgpt"], ["empathy/human"]]
    # ... and reports together (the human replies judged in both runs count once).
    code, doc = _report(tmp_path, *tables)
    assert code == 0 and doc is not None
    assert doc["groups"]["human"]["n"] == 2


@pytest.mark.dataset_download
def test_replies_of_a_log_for_rating_sheets_are_one_per_prompt_whatever_the_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `empathy-task sheets LOG [--source NAME]` reads the replies of the first epoch only (a guard:
    # export reads every epoch now, the replies for a human study must not double).
    [log] = inspect_eval(
        empathy_task(sample=N),
        model="empathy/chatgpt",
        model_roles={"grader": "empathy/mock-judge"},
        epochs=2,
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    capsys.readouterr()
    assert cli(["sheets", log.location, "--out", str(tmp_path / "all"), "--seed", "1"]) == 0
    key = pd.read_csv(tmp_path / "all.key.csv", dtype=str)
    assert len(key) == N and set(key["source"]) == {"empathy/chatgpt"}
    named = ["--source", "empathy/chatgpt", "--seed", "1"]
    assert cli(["sheets", log.location, *named, "--out", str(tmp_path / "named")]) == 0
    assert len(pd.read_csv(tmp_path / "named.key.csv", dtype=str)) == N
