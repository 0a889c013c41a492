"""``empathy-task judge``: post-hoc judging of replies made elsewhere, through its command line.

Replies are built at run time from the shared CSV (the study text is never committed); the judge
is the offline ``empathy/mock-judge``, whose model args count calls and inject failures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.cli import main
from empathy_task.ratings.files import read_rating_table

N = 6


@pytest.fixture
def replies(tmp_path: Path, study: pd.DataFrame) -> Path:
    """A reply table: the stored chatgpt replies to N prompts, under a made-up model name."""
    rows = study.head(N)
    path = tmp_path / "replies.csv"
    pd.DataFrame(
        {"dialog_id": rows["dialog_id"], "source": "acme/model-1", "reply": rows["reply_chatgpt"]}
    ).to_csv(path, index=False)
    return path


def _samples_run(folder: Path, study: pd.DataFrame, model_args: str | dict, n: int = N) -> Path:
    """An lm-eval ``--log_samples`` output of n prompts with its results file."""
    folder.mkdir(parents=True)
    stamp = "2026-01-02T03-04-05.678901"
    with (folder / f"samples_empathy_task_{stamp}.jsonl").open("w") as f:
        for i, rec in enumerate(study.head(n).to_dict("records")):
            doc = {"dialog_id": rec["dialog_id"], "emotion": rec["emotion"]}
            doc["prompt_variant"] = "empathy"
            line = {"doc_id": i, "doc": doc, "resps": [[f"reply {i}"]]}
            line["filtered_resps"] = [f"reply {i}"]
            f.write(json.dumps(line) + "\n")
    results = {"model_name": "xyz", "config": {"model": "hf", "model_args": model_args}}
    (folder / f"results_{stamp}.json").write_text(json.dumps(results))
    return folder / f"samples_empathy_task_{stamp}.jsonl"


def _judge(*argv: str | Path) -> int:
    return main(["judge", *map(str, argv), "--no-progress"])


def _calls(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_reply_table_is_rated_with_the_human_baseline(
    replies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ratings.jsonl"
    assert _judge(replies, "--grader", "empathy/mock-judge", "--out", out) == 0
    table = read_rating_table(out)
    assert sorted(table["source"].unique()) == ["acme/model-1", "human"]
    assert (table.groupby("source").size() == N).all()
    # The judge's name as the Inspect scorer records it (export reads the grader role's name).
    assert set(table["rater"]) == {"empathy/mock-judge"}
    stdout = capsys.readouterr().out
    assert f"wrote {2 * N} ratings by empathy/mock-judge" in stdout


def test_lm_eval_samples_take_the_model_name_from_the_results_file(
    study: pd.DataFrame, tmp_path: Path
) -> None:
    samples = _samples_run(tmp_path / "run", study, "pretrained=org/model-7b,dtype=bfloat16")
    out = tmp_path / "ratings.csv"
    assert _judge(samples, "--grader", "empathy/mock-judge", "--out", out, "--no-human") == 0
    assert set(read_rating_table(out)["source"]) == {"org/model-7b"}
    # --source overrides; a dict of model args (lm-eval's python API) works too.
    samples = _samples_run(tmp_path / "run2", study, {"model": "api-model"})
    out2 = tmp_path / "ratings2.csv"
    assert _judge(samples, "--grader", "empathy/mock-judge", "--out", out2) == 0
    assert set(read_rating_table(out2)["source"]) == {"api-model", "human"}
    out3 = tmp_path / "ratings3.csv"
    assert _judge(samples, "--grader", "empathy/mock-judge", "--out", out3, "--source", "m") == 0
    assert set(read_rating_table(out3)["source"]) == {"m", "human"}


def test_samples_without_results_need_a_source(study: pd.DataFrame, tmp_path: Path) -> None:
    samples = _samples_run(tmp_path / "run", study, "")
    for results in samples.parent.glob("results_*.json"):
        results.unlink()
    out = tmp_path / "ratings.csv"
    assert _judge(samples, "--grader", "empathy/mock-judge", "--out", out) == 2
    assert not out.exists()


def test_unparsable_answers_are_left_out_and_counted(
    replies: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = pd.read_csv(replies)
    table.loc[0, "reply"] = "  "
    table.to_csv(replies, index=False)
    out = tmp_path / "ratings.csv"
    # The bare-label style parses: only the empty reply goes unrated.
    assert _judge(replies, "--grader", "empathy/mock-judge", "-M", "style=bare", "--out", out) == 0
    assert len(read_rating_table(out)) == 2 * N - 1
    assert "1 empty repl(ies) not rated (acme/model-1 1)" in capsys.readouterr().out
    # A judge that never answers in the format rates nothing: an error, and no table. (A new
    # cache: the cache knows the judge by name only, and would serve the answers above.)
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache2"))
    out2 = tmp_path / "none.csv"
    assert _judge(replies, "--grader", "empathy/mock-judge", "-M", "style=nonsense", "--out", out2)
    assert not out2.exists()
    err = capsys.readouterr().err
    assert f"{2 * N - 1} unparsable judge answer(s) left out of the table" in err


def test_an_interrupted_run_resumes_from_the_cache(replies: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    out = tmp_path / "ratings.csv"
    common = ["--grader", "empathy/mock-judge", "-M", f"calls_file={calls}", "--out", out]
    # The judge fails on its 5th call; one connection, so exactly 4 answers were made.
    assert _judge(replies, *common, "-M", "fail_after=4", "--max-connections", "1") == 1
    assert not out.exists()
    assert _calls(calls) == 5
    calls.unlink()
    assert _judge(replies, *common) == 0
    # 2N judgements in all; the 4 made before the failure came from the cache.
    assert _calls(calls) == 2 * N - 4
    assert len(read_rating_table(out)) == 2 * N
    # A third run pays for nothing, and an existing table needs --force.
    calls.unlink()
    assert _judge(replies, *common) == 2
    assert _judge(replies, *common, "--force") == 0
    assert _calls(calls) == 0


def test_judgements_are_shared_with_inspect_runs(study: pd.DataFrame, tmp_path: Path) -> None:
    """Post hoc and in Inspect, the same judge on the same reply is one cached call."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from empathy_task.ratings.logs import rating_table_from_logs, replies_from_logs
    from empathy_task.task.empathy_task import empathy_task

    calls = tmp_path / "calls.txt"
    grader = get_model("empathy/mock-judge", calls_file=str(calls), memoize=False)
    [log] = inspect_eval(
        empathy_task(),
        model="empathy/chatgpt",
        model_roles={"grader": grader},
        limit=N,
        display="none",
        log_dir=str(tmp_path / "logs"),
    )
    assert log.status == "success"
    assert _calls(calls) == 2 * N
    replies = tmp_path / "replies.csv"
    replies_from_logs([log.location]).to_csv(replies, index=False)
    out = tmp_path / "ratings.csv"
    assert (
        _judge(replies, "--grader", "empathy/mock-judge", "-M", f"calls_file={calls}", "--out", out)
        == 0
    )
    assert _calls(calls) == 2 * N  # nothing new: every judgement came from the cache
    posthoc = read_rating_table(out).sort_values(["dialog_id", "source"], ignore_index=True)
    inspect_table = rating_table_from_logs([log.location])
    inspect_table = inspect_table.sort_values(["dialog_id", "source"], ignore_index=True)
    # An Inspect export names the epoch of each rating; a post-hoc judgement is epoch 1.
    assert set(inspect_table.pop("epoch")) == {1}
    pd.testing.assert_frame_equal(posthoc, inspect_table)


def test_unknown_dialog_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "replies.jsonl"
    path.write_text(json.dumps({"dialog_id": "nope", "source": "m", "reply": "hi"}) + "\n")
    out = tmp_path / "ratings.csv"
    assert _judge(path, "--grader", "empathy/mock-judge", "--out", out) == 2
    assert not out.exists()
