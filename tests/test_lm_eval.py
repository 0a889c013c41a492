"""The lm-eval plugin: tasks load offline, prompts are the Inspect task's, samples join back.

An in-process run uses a tiny ``LM`` that returns fixed replies (no hub, no tokenizer); the
command-line run uses lm-eval's ``dummy`` model, then judges its samples file post hoc.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _evaluate(tasks: list[str], lm: LM, tm: TaskManager, limit: int | None = 5) -> dict[str, Any]:
    return simple_evaluate(
        model=lm, tasks=tasks, limit=limit, log_samples=True, task_manager=tm, bootstrap_iters=0
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
    assert out["configs"]["empathy_task"]["metadata"]["version"] == "1.0.0"


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
