"""The lm-eval plugin: tasks load offline, prompts are the Inspect task's, samples join back.

An in-process run uses a tiny ``LM`` that returns fixed replies, or replays the study's stored
GPT-4 replies (no hub, no tokenizer); the command-line runs use lm-eval's ``dummy`` model, judged
post hoc or, in ``empathy_task_judged``, inside the harness by the offline ``empathy/mock-judge``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("lm_eval")

from lm_eval import simple_evaluate  # noqa: E402
from lm_eval.api.model import LM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from empathy_task.data.study import manifest
from empathy_task.resources import resource_path
from empathy_task.task.prompts import EMPATHY_DEFINITION, MAX_WORDS, generation_prompt

PLUGIN = resource_path("plugins/lm_eval")
BIN = Path(sys.executable).parent
# A reply with a blank line in it: lm-eval's default stop sequence would cut it there.
REPLY = "That sounds really hard.\n\nI am glad you told me about it."


class FixedLM(LM):
    """Answers every request with the same reply and records what it was asked."""

    def __init__(self, reply: str = REPLY) -> None:
        super().__init__()
        self.reply = reply
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        self.requests += [r.arguments for r in requests]
        return [self.reply for _ in requests]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        raise NotImplementedError

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        raise NotImplementedError


@pytest.fixture(scope="module")
def task_manager() -> TaskManager:
    # Only the plugin's tasks: indexing lm-eval's thousands of built-in tasks takes seconds.
    return TaskManager(include_path=str(PLUGIN), include_defaults=False)


def _evaluate(
    tasks: list[str], lm: LM, tm: TaskManager, limit: int | None = 5, bootstrap_iters: int = 0
) -> dict[str, Any]:
    # bootstrap_iters=0: no standard errors, which lm-eval would otherwise bootstrap 100,000 times.
    return simple_evaluate(
        model=lm,
        tasks=tasks,
        limit=limit,
        log_samples=True,
        task_manager=tm,
        bootstrap_iters=bootstrap_iters,
    )


def test_task_uses_the_inspect_prompt_and_keeps_replies_whole(study, task_manager) -> None:
    lm = FixedLM()
    out = _evaluate(["empathy_task", "empathy_task_vanilla"], lm, task_manager)
    samples = out["samples"]["empathy_task"]
    assert len(samples) == 5
    # Tasks run in order; the vanilla prompt lacks the definition of empathy.
    vanilla = out["samples"]["empathy_task_vanilla"]
    assert {s["doc"]["prompt_variant"] for s in vanilla} == {"vanilla"}
    assert [s["doc"]["dialog_id"] for s in vanilla] == [s["doc"]["dialog_id"] for s in samples]
    vanilla_prompts = [p for p, _ in lm.requests if EMPATHY_DEFINITION not in p]
    assert len(vanilla_prompts) == 5
    lm.requests = [r for r in lm.requests if EMPATHY_DEFINITION in r[0]]
    by_id = study.set_index("dialog_id")
    known = set(manifest()["dialog_id"])
    for sample, (prompt, gen_kwargs) in zip(samples, lm.requests):
        doc = sample["doc"]
        # Docs are keyed by dialog id, with the study's labels, so samples join back.
        assert doc["dialog_id"] in known
        row = by_id.loc[doc["dialog_id"]]
        assert (doc["emotion"], doc["sentiment"], doc["part_no"]) == (
            row["emotion"],
            row["sentiment"],
            row["part_no"],
        )
        assert doc["prompt_variant"] == "empathy"
        # The same text as the Inspect task, from the same function.
        assert prompt == generation_prompt(row["situation"], row["speaker_turn"], "empathy")
        # No stop sequence cuts a reply at a blank line; room for a long reply.
        assert "\n\n" not in gen_kwargs["until"]
        assert gen_kwargs["max_gen_toks"] >= 512
        assert sample["filtered_resps"][0] == REPLY
        assert sample["reply_words"] == len(REPLY.split())
        assert sample["within_length_limit"] == 1
    assert "human_reply" not in samples[0]["doc"]
    metrics = out["results"]["empathy_task"]
    assert metrics["reply_words,none"] == len(REPLY.split())
    assert metrics["within_length_limit,none"] == 1.0
    # lm-eval's versions are numbers that a change bumps, not Inspect's version strings.
    assert out["configs"]["empathy_task"]["metadata"]["version"] == 1.0
    assert out["versions"]["empathy_task"] == 1.0
    assert isinstance(out["versions"]["empathy_task"], float)
    assert out["versions"]["empathy_task_vanilla"] == 1.0


@pytest.mark.dataset_download
def test_length_limit_metric_counts_words(task_manager) -> None:
    too_long = " ".join(["word"] * (MAX_WORDS + 1))
    out = _evaluate(["empathy_task"], FixedLM(too_long), task_manager, limit=2)
    assert out["results"]["empathy_task"]["within_length_limit,none"] == 0.0
    assert out["results"]["empathy_task"]["reply_words,none"] == MAX_WORDS + 1
    out = _evaluate(["empathy_task"], FixedLM("   "), task_manager, limit=2)
    # An empty reply is not a reply within the limit.
    assert out["results"]["empathy_task"]["within_length_limit,none"] == 0.0


@pytest.mark.dataset_download
def test_all_prompts_and_the_valence_group(task_manager) -> None:
    out = _evaluate(["empathy_task", "empathy_task_valence"], FixedLM(), task_manager, limit=None)
    ids = [s["doc"]["dialog_id"] for s in out["samples"]["empathy_task"]]
    assert len(ids) == len(set(ids)) == 2000
    assert set(ids) == set(manifest()["dialog_id"])
    positive = out["samples"]["empathy_task_positive"]
    negative = out["samples"]["empathy_task_negative"]
    assert {s["doc"]["sentiment"] for s in positive} == {"positive"}
    assert {s["doc"]["sentiment"] for s in negative} == {"negative"}
    assert (len(positive), len(negative)) == (881, 1119)
    assert "empathy_task_valence" in out["groups"]
    # lm-eval reports a group's version as a string.
    assert out["versions"]["empathy_task_valence"] == "1.0"


@pytest.mark.dataset_download
def test_lm_eval_command_then_post_hoc_judge(tmp_path: Path) -> None:
    """The documented workflow: lm_eval --log_samples, then empathy-task judge, offline."""
    from empathy_task.ratings.files import read_rating_table

    include = subprocess.run(
        [BIN / "empathy-task", "lm-eval-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(include) == PLUGIN
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    run = subprocess.run(
        [
            BIN / "lm_eval",
            "--model",
            "dummy",
            "--tasks",
            "empathy_task",
            "--include_path",
            include,
            "--limit",
            "5",
            "--log_samples",
            "--output_path",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    samples = sorted((tmp_path / "out").glob("**/samples_empathy_task_*.jsonl"))
    assert len(samples) == 1
    docs = [json.loads(line)["doc"] for line in samples[0].read_text().splitlines()]
    assert len(docs) == 5 and all(d["dialog_id"] for d in docs)

    out = tmp_path / "ratings.csv"
    judge = subprocess.run(
        [
            BIN / "empathy-task",
            "judge",
            *map(str, samples),
            "--grader",
            "empathy/mock-judge",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert judge.returncode == 0, judge.stderr[-3000:]
    table = read_rating_table(out)
    # lm-eval's dummy model names no model in its args: the backend's name is the source.
    assert set(table["source"]) == {"dummy", "human"}
    assert set(table["rater"]) == {"empathy/mock-judge"}
    assert set(table["dialog_id"]) == {d["dialog_id"] for d in docs}
    assert len(table) == 10
    assert "wrote 10 ratings by empathy/mock-judge" in judge.stdout


# --- --metadata selects, without colliding with dataset_kwargs -----------------------------------


def _manager(**metadata: Any) -> TaskManager:
    # What `lm_eval --metadata '{...}'` builds (lm_eval/_cli/run.py: cfg.process_tasks).
    return TaskManager(include_path=str(PLUGIN), include_defaults=False, metadata=metadata)


@pytest.mark.dataset_download
def test_metadata_selects_the_prompt_and_the_valence() -> None:
    """``--metadata '{"prompt": "vanilla"}'`` used to be a TypeError (a second ``prompt``)."""
    lm = FixedLM()
    tasks = ["empathy_task", "empathy_task_vanilla", "empathy_task_positive"]
    out = _evaluate(tasks, lm, _manager(prompt="vanilla", valence="Positive"), limit=4)
    for name in tasks:
        docs = [s["doc"] for s in out["samples"][name]]
        assert len(docs) == 4
        assert {d["prompt_variant"] for d in docs} == {"vanilla"}
        assert {d["sentiment"] for d in docs} == {"positive"}
    # The vanilla request, rendered by the Inspect task's function, is what the model was asked.
    assert lm.requests and all(EMPATHY_DEFINITION not in p for p, _ in lm.requests)
    # A task's own selection still holds without --metadata.
    out = _evaluate(["empathy_task_negative"], FixedLM(), _manager(), limit=3)
    docs = [s["doc"] for s in out["samples"]["empathy_task_negative"]]
    assert {(d["prompt_variant"], d["sentiment"]) for d in docs} == {("empathy", "negative")}


@pytest.mark.parametrize(
    ("tasks", "metadata", "message"),
    [
        (
            ["empathy_task_vanilla"],
            {"prompt": "empathy"},
            "^empathy_task_vanilla: .*prompt.*contradicts the task",
        ),
        # --metadata reaches every subtask of the group: the negative one cannot be positive.
        # (The positive subtask loads its prompts first, from the authors' CSV.)
        pytest.param(
            ["empathy_task_valence"],
            {"valence": "positive"},
            "^empathy_task_negative: .*valence.*contradicts the task",
            marks=pytest.mark.dataset_download,
        ),
        (["empathy_task"], {"sample": "abc"}, "empathy_task: --metadata sample must be a whole"),
    ],
)
def test_metadata_that_contradicts_a_task_is_a_clear_error(
    tasks: list[str], metadata: dict[str, str], message: str
) -> None:
    lm = FixedLM()
    # The plugin's TaskOptionError is a ValueError (lm-eval imports utils.py under its own name).
    with pytest.raises(ValueError, match=message) as caught:
        _evaluate(tasks, lm, _manager(**metadata), limit=2)
    assert type(caught.value).__name__ == "TaskOptionError"
    assert lm.requests == []


# --- metric directions, versions, README ---------------------------------------------------------


@pytest.mark.dataset_download
def test_reply_words_has_no_better_direction(task_manager) -> None:
    from lm_eval.utils import make_table

    out = _evaluate(["empathy_task", "empathy_task_valence"], FixedLM(), task_manager, limit=2)
    hib = out["higher_is_better"]
    # lm-eval 0.4 reads null as "no direction": no arrow in its table, null in the results file.
    assert hib["empathy_task"] == {"reply_words": None, "within_length_limit": True}
    assert hib["empathy_task_valence"]["reply_words"] is None
    rows = {
        cells[5].strip(): cells[6].strip()
        for line in make_table(out).splitlines()
        if len(cells := line.split("|")) > 7
    }
    assert rows["reply_words"] == "" and rows["within_length_limit"] == "↑"


def test_readme_follows_lm_eval_task_template_with_a_changelog() -> None:
    """The headings of lm-eval's task README template, in order, and a Changelog entry for the
    tasks' current version."""
    import re

    from empathy_task.resources import registry

    text = (PLUGIN / "README.md").read_text(encoding="utf-8")
    headings = [h.strip() for h in re.findall(r"^#{2,4} (.+)$", text, flags=re.MULTILINE)]
    template = ["Paper", "Citation", "Groups, Tags, and Tasks", "Checklist", "Changelog"]
    assert [h for h in headings if h in template] == template
    changelog = text.split("### Changelog", 1)[1]
    version = registry()["frameworks"]["lm_eval"]["version"]
    assert re.search(
        rf"^\* version {re.escape(str(version))} \(\d{{4}}-\d{{2}}-\d{{2}}\)", changelog, re.M
    )
    # Every task of the folder is listed.
    for task in registry()["frameworks"]["lm_eval"]["tasks"]:
        assert f"`{task}`" in text


# --- empathy_task_judged: the judge inside the harness -----------------------------------------


class ReplayLM(FixedLM):
    """Answers each prompt with the study's stored GPT-4 reply to it (the chatgpt_empathy group)."""

    def __init__(self, study: Any) -> None:
        super().__init__()
        self.by_prompt = {
            generation_prompt(s, t, variant): r
            for s, t, r in zip(
                study["situation"], study["speaker_turn"], study["reply_chatgpt_empathy"]
            )
            for variant in ("empathy", "vanilla")
        }

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        self.requests += [r.arguments for r in requests]
        return [self.by_prompt[r.arguments[0]] for r in requests]


@pytest.fixture
def judge_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The prompts the offline judge is asked, in this process (cache hits ask nothing)."""
    import empathy_task.task.provider as provider

    calls: list[str] = []
    real = provider.mock_judgement

    def counted(prompt: str, *args: object, **kwargs: object) -> str:
        calls.append(prompt)
        return real(prompt, *args, **kwargs)

    monkeypatch.setattr(provider, "mock_judgement", counted)
    return calls


def test_judged_task_reports_the_inspect_tasks_numbers_from_the_same_judge_and_cache(
    study, judge_calls
) -> None:
    """The Inspect task and empathy_task_judged on the same replies, under the same judge: the
    harness' results are the Inspect metrics, and every judgement comes from the Inspect run's
    cache (not one new judge call)."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import GenerateConfig, get_model

    from empathy_task.task.empathy_task import empathy_task

    grader = get_model("empathy/mock-judge", config=GenerateConfig(temperature=0))
    [log] = inspect_eval(
        empathy_task(sample=32),
        model="empathy/chatgpt_empathy",
        model_roles={"grader": grader},
        display="none",
    )
    assert log.status == "success" and log.results is not None
    inspect_metrics = {k: m.value for k, m in log.results.scores[0].metrics.items()}
    assert len(judge_calls) == 64  # 32 replies and 32 human replies

    lm = ReplayLM(study)
    tm = _manager(judge="empathy/mock-judge", sample=32)
    # bootstrap_iters=1: lm-eval's closed-form standard error of a mean (no bootstrap for it).
    out = _evaluate(["empathy_task_judged"], lm, tm, limit=None, bootstrap_iters=1)
    assert len(judge_calls) == 64, "lm-eval's judge missed the Inspect run's cache"
    results = out["results"]["empathy_task_judged"]
    assert results["sample_len"] == 32
    for key in (
        "good_rate",
        "mean_rating",
        "human_good_rate",
        "relative_increase_good",
        "parse_rate",
    ):
        assert results[f"{key},none"] == pytest.approx(inspect_metrics[key]), key
    for key in ("good_rate", "mean_rating"):
        stderr = results[f"{key}_stderr,none"]
        assert stderr == pytest.approx(inspect_metrics[f"{key}_stderr"]), key
    # Same prompts, same order of magnitude as the study: not a degenerate all-Good judge.
    assert 0 < results["good_rate,none"] < 1 and 0 < results["human_good_rate,none"] < 1

    # Per sample: the judge's rating of the reply and of the human reply, in the samples file.
    by_id = study.set_index("dialog_id")
    inspect_scores = {s.id: s.scores["empathy_judge"].value for s in log.samples or []}
    for sample in out["samples"]["empathy_task_judged"]:
        doc = sample["doc"]
        assert doc["judge"] == "empathy/mock-judge"
        assert doc["human_reply"] == by_id.loc[doc["dialog_id"], "reply_human"]
        assert sample["filtered_resps"] == [by_id.loc[doc["dialog_id"], "reply_chatgpt_empathy"]]
        score = inspect_scores[doc["dialog_id"]]
        assert sample["mean_rating"] == score["rating"]
        assert sample["good_rate"] == score["good"]
        assert sample["human_good_rate"] == score["human_good"]
        assert sample["relative_increase_good"] == [score["good"], score["human_good"]]


@pytest.mark.dataset_download
def test_judged_task_judges_each_reply_once_and_leaves_empty_replies_unrated(
    judge_calls,
) -> None:
    tm = _manager(judge="empathy/mock-judge")
    out = _evaluate(["empathy_task_judged"], FixedLM("  "), tm, limit=3)
    results = out["results"]["empathy_task_judged"]
    # Only the 3 human replies were asked about: an empty reply is unrated, never Bad.
    assert len(judge_calls) == 3
    assert results["parse_rate,none"] == 0.0
    # No rated reply, no Good rate (not 0): lm-eval reports no value for it.
    assert "good_rate,none" not in results and "mean_rating,none" not in results
    assert math.isnan(results["relative_increase_good,none"])
    for sample in out["samples"]["empathy_task_judged"]:
        assert "good_rate" not in sample and sample["relative_increase_good"][0] is None
    assert 0 <= results["human_good_rate,none"] <= 1
    # A second run in the same cache asks nothing again.
    out = _evaluate(["empathy_task_judged"], FixedLM(), tm, limit=3)
    assert len(judge_calls) == 6  # the 3 new replies; the human replies came from the cache
    assert out["results"]["empathy_task_judged"]["parse_rate,none"] == 1.0


def test_relative_increase_stderr_is_a_prompt_bootstrap() -> None:
    sys.path.insert(0, str(PLUGIN))
    try:
        import utils
    finally:
        sys.path.pop(0)
    rng = np.random.default_rng(1)
    pairs = [[int(a), int(b)] for a, b in rng.random((400, 2)) < [0.6, 0.5]]
    se = utils.relative_increase_good_stderr(pairs)
    # Near the delta method's for two independent proportions (the pairs are independent here).
    p, q, n = 0.6, 0.5, 400
    delta = 100 * (p / q) * math.sqrt((1 - p) / (p * n) + (1 - q) / (q * n))
    assert se == pytest.approx(delta, rel=0.2)
    assert se == utils.relative_increase_good_stderr(pairs)  # seeded
    assert math.isnan(utils.relative_increase_good_stderr([[1, 1]]))
    assert math.isnan(utils.relative_increase_good_stderr([[None, 0], [1, 0]]))


@pytest.mark.dataset_download
def test_predict_only_makes_no_judge_call(judge_calls) -> None:
    tm = _manager(judge="empathy/mock-judge")
    lm = FixedLM()
    out = simple_evaluate(
        model=lm, tasks=["empathy_task_judged"], limit=3, task_manager=tm, predict_only=True,
        bootstrap_iters=0,
    )  # fmt: skip
    assert len(lm.requests) == 3  # the replies were generated
    assert judge_calls == []  # and not judged
    assert len(out["samples"]["empathy_task_judged"]) == 3
    # The judged task afterwards, in the same process, judges its own replies (3 new ones; the
    # human replies may be rated already in this process).
    out = _evaluate(["empathy_task_judged"], FixedLM("A reply only this test sends."), tm, limit=3)
    assert len(judge_calls) >= 3
    assert out["results"]["empathy_task_judged"]["parse_rate,none"] == 1.0


def test_judged_task_without_a_usable_default_judge_fails_before_generating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from empathy_task.task.empathy_task import DEFAULT_GRADER

    # No key for the default judge (and, here, no openai package): a clear error, no replies.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lm = FixedLM()
    with pytest.raises(ValueError, match=rf"judge '{DEFAULT_GRADER}' could not be created") as e:
        _evaluate(["empathy_task_judged"], lm, _manager(), limit=2)
    assert '--metadata \'{"judge": "<provider/model>"}\'' in str(e.value)
    assert "[bold]" not in str(e.value)
    assert lm.requests == []


def _lm_eval(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    include = subprocess.run(
        [BIN / "empathy-task", "lm-eval-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [BIN / "lm_eval", "--model", "dummy", "--include_path", include, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )


@pytest.mark.dataset_download
def test_lm_eval_command_prints_the_judged_rates_in_its_table(tmp_path: Path) -> None:
    """`lm_eval --tasks empathy_task_judged --metadata '{"judge": ..., "prompt": "vanilla"}'`,
    for real: the Good rates and the relative increase in the harness' results table and file,
    computed from the per-sample ratings; the samples file still re-judges post hoc."""
    from empathy_task.ratings.files import read_rating_table

    metadata = {"judge": "empathy/mock-judge", "prompt": "vanilla"}
    run = _lm_eval(
        tmp_path,
        "--tasks",
        "empathy_task_judged",
        "--metadata",
        json.dumps(metadata),
        "--limit",
        "6",
        "--log_samples",
        "--output_path",
        str(tmp_path / "out"),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    [samples_file] = (tmp_path / "out").glob("**/samples_empathy_task_judged_*.jsonl")
    [results_file] = (tmp_path / "out").glob("**/results_*.json")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert len(samples) == 6
    assert {s["doc"]["prompt_variant"] for s in samples} == {"vanilla"}
    results = json.loads(results_file.read_text())["results"]["empathy_task_judged"]

    good = [s["good_rate"] for s in samples]
    human = [s["human_good_rate"] for s in samples]
    rate, human_rate = sum(good) / 6, sum(human) / 6  # the mock judge parses: all rated
    assert results["good_rate,none"] == pytest.approx(rate)
    assert results["human_good_rate,none"] == pytest.approx(human_rate)
    expected = (rate - human_rate) / human_rate * 100 if human_rate else math.nan
    assert results["relative_increase_good,none"] == pytest.approx(expected, nan_ok=True)
    # lm-eval's standard error of a mean, for the rates.
    assert isinstance(results["human_good_rate_stderr,none"], float)

    # The harness' table on stdout, with the rows the study reports.
    table = {
        cells[5].strip(): cells[7].strip()
        for line in run.stdout.splitlines()
        if len(cells := line.split("|")) > 8
    }
    assert float(table["good_rate"]) == pytest.approx(rate, abs=5e-5)
    assert float(table["human_good_rate"]) == pytest.approx(human_rate, abs=5e-5)
    assert "relative_increase_good" in table and "parse_rate" in table
    # The relative increase has a standard error in the table's Stderr column (a bootstrap of
    # the prompts), as the rates have lm-eval's; its own "_stderr" result is no row of its own.
    stderr = {
        cells[5].strip(): cells[9].strip()
        for line in run.stdout.splitlines()
        if len(cells := line.split("|")) > 10
    }
    assert "relative_increase_good_stderr" not in stderr
    if math.isfinite(expected):
        assert float(stderr["relative_increase_good"]) >= 0  # a number, not lm-eval's N/A
        assert results["relative_increase_good_stderr,none"] == pytest.approx(
            float(stderr["relative_increase_good"]), abs=5e-5
        )

    # The post-hoc judge reads the judged samples file like any other, with the same ratings.
    out = tmp_path / "ratings.csv"
    judge = subprocess.run(
        [BIN / "empathy-task", "judge", str(samples_file), "--grader", "empathy/mock-judge"]
        + ["--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert judge.returncode == 0, judge.stderr[-3000:]
    table = read_rating_table(out)
    assert set(table["source"]) == {"dummy [vanilla]", "human"}
    posthoc = table.groupby("source")["rating"].apply(lambda r: (r == 3).mean())
    assert posthoc["dummy [vanilla]"] == pytest.approx(rate)
    assert posthoc["human"] == pytest.approx(human_rate)


def test_lm_eval_runs_a_users_prompt_set_through_metadata(tmp_path: Path) -> None:
    """`lm_eval --metadata '{"prompts": SET}'`: the docs are the set's (its turns in the
    prompt, its name and sha256 in every doc), and `empathy-task judge --prompts SET` rates them
    into a rating table of that set; the judged task rates them inside the harness."""
    from empathy_task.data.prompt_sets import load_prompt_set

    spec = resource_path("prompt_sets/clinic_support.jsonl")
    pset = load_prompt_set(spec)
    meta = json.dumps({"prompts": str(spec), "judge": "empathy/mock-judge"})
    run = _lm_eval(
        tmp_path,
        "--tasks",
        "empathy_task,empathy_task_judged",
        "--limit",
        "25",
        "--log_samples",
        "--output_path",
        "out",
        "--metadata",
        meta,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    [samples] = tmp_path.glob("out/*/samples_empathy_task_2*.jsonl")
    docs = [json.loads(line)["doc"] for line in samples.read_text().splitlines()]
    assert {d["prompt_set_sha256"] for d in docs} == {pset.sha256}
    with_turns = next(d for d in docs if d["turns"])  # cs-21 onwards give earlier turns
    assert with_turns["dialog_id"] in set(pset.frame["dialog_id"])
    [judged] = tmp_path.glob("out/*/results_*.json")
    results = json.loads(judged.read_text())["results"]["empathy_task_judged"]
    assert 0 <= results["good_rate,none"] <= 1 and 0 <= results["human_good_rate,none"] <= 1
    out = tmp_path / "ratings.csv"
    judge = subprocess.run(
        [
            BIN / "empathy-task",
            "judge",
            str(samples),
            "--grader",
            "empathy/mock-judge",
            "--prompts",
            str(spec),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert judge.returncode == 0, judge.stderr
    from empathy_task.ratings.files import read_rating_table

    table = read_rating_table(out)
    assert set(table["source"]) == {"dummy", "human"} and len(table) == 50
    assert set(table["prompt_set_sha256"]) == {pset.sha256}
    assert set(table["emotion"]) <= set(pset.frame["emotion"])
    # Without --prompts the ids are not the study's: refused, naming the id.
    bad = subprocess.run(
        [
            BIN / "empathy-task",
            "judge",
            str(samples),
            "--grader",
            "empathy/mock-judge",
            "--out",
            str(tmp_path / "x.csv"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "cs-01" in bad.stderr
