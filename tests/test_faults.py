"""Faults: an interrupted eval resumed, judges that time out or answer nonsense, download and write
failures. Each test names the fault and what is promised: nothing paid twice, nothing counted as a
rating that is not one, no half-written file.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai import eval_retry
from inspect_ai.log import EvalLog, read_eval_log
from inspect_ai.model import GenerateConfig, get_model

from empathy_task.cli import main as cli
from empathy_task.data import fetch as data
from empathy_task.data.study import load_study
from empathy_task.ratings.logs import rating_table_from_logs
from empathy_task.resources import DataPin, data_pin
from empathy_task.task.empathy_task import empathy_task
from tests.conftest import STUDY_CSV
from tests.data import test_data

INSPECT = str(Path(sys.executable).with_name("inspect"))
SAMPLES = 16  # an emotion-stratified subsample: 32 judge calls per run with the human replies


# Every fault is staged on the authors' CSV (a run of the task, a download of the file).
pytestmark = pytest.mark.dataset_download


@pytest.fixture(autouse=True)
def _empty_inspect_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here starts from an empty Inspect cache, even when ``INSPECT_CACHE_DIR`` is set
    for the whole session (conftest keeps it then): the tests count paid judge calls, and
    Inspect's cache key leaves out model args, so a cached ``style=rating`` answer would be served
    to a ``style=nonsense`` judge."""
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect-cache"))


def _calls(path: Path) -> list[str]:
    """The mock judge's call log: one line per call, ``<prompt hash>[ failed]``."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _run(grader: Any, log_dir: Path, **kwargs: Any) -> EvalLog:
    [log] = inspect_eval(
        empathy_task(sample=SAMPLES),
        model="empathy/chatgpt_empathy",
        model_roles={"grader": grader},
        display="none",
        log_dir=str(log_dir),
        **kwargs,
    )
    return log


def _by_id(log: EvalLog) -> dict[str, Any]:
    return {str(s.id): s for s in read_eval_log(log.location).samples or []}


def _values(log: EvalLog) -> dict[str, dict[str, float]]:
    """Each sample's score value, with NaN made comparable."""
    return {
        sid: {k: (None if math.isnan(v) else v) for k, v in s.scores["empathy_judge"].value.items()}
        for sid, s in _by_id(log).items()
    }


# --- an eval interrupted halfway, resumed with eval-retry -------------------------------------


def _retry(location: str, how: str, log_dir: Path) -> EvalLog:
    """Resume a log with ``inspect_ai.eval_retry`` or, in another process, ``inspect eval-retry``."""
    if how == "api":
        [retried] = eval_retry(location, log_dir=str(log_dir), display="none")
        return retried
    done = subprocess.run(
        [INSPECT, "eval-retry", location, "--log-dir", str(log_dir), "--display", "none"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr
    [new] = [p for p in log_dir.glob("*.eval") if p.name != Path(location).name]
    return read_eval_log(str(new))


@pytest.mark.parametrize("how", ["api", "cli"])
def test_interrupted_eval_resumes_without_paying_twice(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The judge raises after 19 of the 32 calls (an outage). ``eval_retry`` (in process, or
    ``inspect eval-retry`` in a new process) finishes the run: completed samples are not re-run,
    no judgement is paid twice, and the final log equals an uninterrupted run's."""
    calls = tmp_path / "calls.txt"
    failing = get_model("empathy/mock-judge", fail_after=19, calls_file=str(calls), memoize=False)
    # Inspect's defaults, spelled out: the first sample error ends the run with status "error"
    # (fail_on_error=True) and no sample is retried within the run (retry_on_error=0), so the
    # outage leaves a log to resume. Two samples at a time keep some of them complete.
    first = _run(
        failing, tmp_path / "logs", max_connections=2, fail_on_error=True, retry_on_error=0
    )
    assert first.status == "error"
    done = {sid: s for sid, s in _by_id(first).items() if s.error is None and s.scores}
    assert 0 < len(done) < SAMPLES
    # An odd number of paid calls: some unfinished sample had one of its two replies judged, so
    # the retry has a judgement to take from the cache rather than pay for again.
    paid_first = [line for line in _calls(calls) if not line.endswith(" failed")]
    assert len(paid_first) == 19 and len(paid_first) > 2 * len(done)

    # Inspect rebuilds the grader from the log (fail_after and calls_file included) as a fresh
    # instance whose count starts at 0; 19 calls cover the 13 left, so the outage is over.
    retried = _retry(first.location, how, tmp_path / "logs")
    assert retried.status == "success"
    resumed = _by_id(retried)
    assert len(resumed) == SAMPLES
    for sid, sample in done.items():
        assert resumed[sid].uuid == sample.uuid, f"completed sample {sid} was run again"

    lines = _calls(calls)
    paid = [line for line in lines if not line.endswith(" failed")]
    assert len(lines) - len(paid) >= 1  # the injected failure(s)
    assert len(paid) == len(set(paid)), "a judgement was paid for twice"

    # The same run, uninterrupted, from a cold cache.
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cold-cache"))
    clean_calls = tmp_path / "clean-calls.txt"
    clean = _run(
        get_model("empathy/mock-judge", calls_file=str(clean_calls), memoize=False),
        tmp_path / "clean-logs",
    )
    assert clean.status == "success"
    assert sorted(paid) == sorted(_calls(clean_calls))
    assert _values(retried) == _values(clean)
    assert {k: s.output.completion for k, s in resumed.items()} == {
        k: s.output.completion for k, s in _by_id(clean).items()
    }
    pd.testing.assert_frame_equal(
        rating_table_from_logs([retried.location]).sort_values(["dialog_id", "source"]),
        rating_table_from_logs([clean.location]).sort_values(["dialog_id", "source"]),
    )


# --- judges that time out, return nothing, or answer in another format -------------------------


def _unrated(value: dict[str, float]) -> bool:
    return value["rated"] == 0.0 and all(
        math.isnan(value[k]) for k in ("rating", "bad", "okay", "good")
    )


def test_judge_that_times_out_is_retried_then_unscored(tmp_path: Path) -> None:
    """Every judge answer takes 5 s against a 1 s attempt timeout: Inspect retries it once,
    then the reply is unrated (reason ``grader_failed``, the explanation says it timed out), the
    parse rate says 0, and the run completes."""
    calls = tmp_path / "calls.txt"
    slow = get_model(
        "empathy/mock-judge",
        config=GenerateConfig(attempt_timeout=1, max_retries=1),
        delay=5,
        calls_file=str(calls),
        memoize=False,
    )
    [log] = inspect_eval(
        empathy_task(sample=4, min_parse_rate=0),  # a run of unrated replies, allowed
        model="empathy/chatgpt_empathy",
        model_roles={"grader": slow},
        display="none",
        log_dir=str(tmp_path / "logs"),
    )
    assert log.status == "success"
    samples = read_eval_log(log.location).samples or []
    assert len(samples) == 4
    for sample in samples:
        score = sample.scores["empathy_judge"]
        assert _unrated(score.value) and score.reason == "grader_failed"
        assert "timed out" in score.explanation
        assert score.value["human_rated"] == 0.0
    # Two calls a sample (the reply and the human reply), each tried twice.
    assert len(_calls(calls)) == 4 * 2 * 2
    metrics = log.results.scores[0].metrics
    assert metrics["parse_rate"].value == 0.0
    assert math.isnan(metrics["good_rate"].value)
    with pytest.raises(Exception, match="no rated samples"):
        rating_table_from_logs([log.location])


@pytest.mark.parametrize("style", ["empty", "nonsense"])
def test_judge_without_a_rating_is_unscored(
    style: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A judge that answers with nothing, or on another scale ("Empathy score: 4/5"), rates
    nothing: every reply is unrated (``grader_failed``), never Bad, and the run completes;
    ``empathy-task export`` finds no rating in the log and writes no table."""
    [log] = inspect_eval(
        empathy_task(sample=8, min_parse_rate=0),  # allowed: it rates nothing
        model="empathy/chatgpt",
        model_roles={"grader": get_model("empathy/mock-judge", style=style, memoize=False)},
        display="none",
        log_dir=str(tmp_path / "logs"),
    )
    assert log.status == "success"
    samples = read_eval_log(log.location).samples or []
    assert len(samples) == 8
    for sample in samples:
        score = sample.scores["empathy_judge"]
        assert _unrated(score.value) and score.reason == "grader_failed"
        assert score.value["human_rated"] == 0.0
    assert log.results.scores[0].metrics["parse_rate"].value == 0.0
    out = tmp_path / "ratings.csv"
    assert cli(["export", log.location, "--out", str(out)]) == 2
    assert "no rated samples" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.glob(".ratings.csv.*")) == []


def test_some_answers_unparsed_are_left_out_of_the_export(tmp_path: Path) -> None:
    """With a judge whose answers parse only sometimes, the exported table has exactly one row per
    parsed answer, and the parse rate is the share of parsed answers."""
    from inspect_ai.model import ModelOutput, ModelUsage

    def answer(text: str) -> ModelOutput:
        # With usage set, Inspect never reaches for a tokenizer (a download) to count tokens.
        output = ModelOutput.from_content("mockllm/model", text)
        output.usage = ModelUsage(input_tokens=300, output_tokens=4, total_tokens=304)
        return output

    answers = ["RATING: Good", "I would say it is fine.", "RATING: Bad", "RATING: okay"] * 2
    judge = get_model("mockllm/model", custom_outputs=[answer(a) for a in answers], memoize=False)
    [log] = inspect_eval(
        empathy_task(sample=8, judge_human=False, min_parse_rate=0),
        model="empathy/chatgpt",
        model_roles={"grader": judge},
        display="none",
        log_dir=str(tmp_path / "logs"),
        max_connections=1,
    )
    assert log.status == "success"
    values = [s.scores["empathy_judge"].value for s in read_eval_log(log.location).samples]
    rated = [v for v in values if v["rated"] == 1.0]
    assert len(rated) == 6 and len(values) == 8
    table = rating_table_from_logs([log.location])
    assert len(table) == len(rated)
    assert log.results.scores[0].metrics["parse_rate"].value == pytest.approx(
        len(rated) / len(values)
    )


# --- download faults ---------------------------------------------------------------------------


def _file_pin() -> DataPin:
    pin = data_pin()
    return DataPin(STUDY_CSV.as_uri(), pin.sha256, pin.bytes, pin.commit, pin.rows)


class _FullDisk:
    """A file object that takes ``room`` bytes and then fails as a full disk does."""

    def __init__(self, real: Any, room: int) -> None:
        self._real, self._room = real, room

    def write(self, chunk: bytes) -> int:
        if len(chunk) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(chunk)
        return self._real.write(chunk)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._real.close()


def test_full_cache_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up mid-download: a clear error, nothing in the cache, and the next attempt
    (space freed) works."""
    monkeypatch.delenv("EMPATHY_TASK_DATA")
    real_fdopen = os.fdopen
    monkeypatch.setattr(data.os, "fdopen", lambda fd, mode: _FullDisk(real_fdopen(fd, mode), 1000))
    with pytest.raises(data.DataError, match="No space left on device") as err:
        data.resolve_data_file(pin=_file_pin())
    assert str(data.cache_dir()) in str(err.value)
    assert list(data.cache_dir().iterdir()) == []

    monkeypatch.setattr(data.os, "fdopen", real_fdopen)
    path = data.resolve_data_file(pin=_file_pin())
    assert data.sha256_of(path) == data_pin().sha256
    assert list(data.cache_dir().iterdir()) == [path]


# The local file server of tests/test_data.py: it serves what its handler's routes hold.
server = test_data.server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize("fault", ["refused", "truncated", "wrong-hash"])
def test_cli_reports_a_failed_download_and_leaves_nothing(
    fault: str, server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``empathy-task data`` when the download fails (connection refused, a body cut short, other
    bytes than the pinned ones): exit status 2, a message naming the problem and the URL, an empty
    cache (no partial or temporary file); the next good download fills it."""
    monkeypatch.delenv("EMPATHY_TASK_DATA")
    body = STUDY_CSV.read_bytes()
    pin = data_pin()
    url = f"{server}/{fault}.csv"
    if fault == "refused":
        url, problem = f"http://127.0.0.1:{_closed_port()}/x.csv", "could not download"
    elif fault == "truncated":
        test_data._Handler.routes[f"/{fault}.csv"] = (body[: len(body) // 2], len(body))
        problem = "truncated"
    else:
        flipped = body[:1000] + bytes([body[1000] ^ 1]) + body[1001:]
        test_data._Handler.routes[f"/{fault}.csv"] = (flipped, None)
        problem = f"checksum mismatch for {url}: expected sha256 {pin.sha256}"
    bad = DataPin(url, pin.sha256, pin.bytes, pin.commit, pin.rows)
    monkeypatch.setattr(data, "data_pin", lambda: bad)
    assert cli(["data"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("empathy-task data: error: ") and problem in err and url in err
    assert not data.cache_dir().exists() or list(data.cache_dir().iterdir()) == []

    test_data._Handler.routes["/good.csv"] = (body, None)
    good = DataPin(f"{server}/good.csv", pin.sha256, pin.bytes, pin.commit, pin.rows)
    monkeypatch.setattr(data, "data_pin", lambda: good)
    assert cli(["data"]) == 0
    cached = data.cache_dir() / data.FILE_NAME
    assert capsys.readouterr().out.splitlines()[0] == str(cached)
    assert list(data.cache_dir().iterdir()) == [cached]
    assert cached.read_bytes() == body


# --- a write that fails halfway ----------------------------------------------------------------


def _export_log(tmp_path: Path) -> str:
    log = _run("empathy/mock-judge", tmp_path / "logs")
    assert log.status == "success"
    return log.location


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_export_failing_midway_keeps_the_previous_file(
    suffix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``export --force`` over an existing table: the writer fails after writing part of the file;
    the old table is left byte for byte, with no temporary file beside it."""
    location = _export_log(tmp_path)
    out = tmp_path / "out" / f"ratings{suffix}"
    assert cli(["export", location, "--out", str(out)]) == 0
    before = out.read_bytes()

    def half_written(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        Path(path).write_bytes(b"dialog_id,source\nhit:1")
        raise OSError(errno.ENOSPC, "No space left on device")

    for writer in ("to_csv", "to_json", "to_parquet"):
        monkeypatch.setattr(pd.DataFrame, writer, half_written)
    assert cli(["export", location, "--out", str(out), "--force"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_report_failing_midway_keeps_the_previous_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --force`` over an existing report: the third file fails to write. Every file of the
    previous report is left as it was (none replaced by the new run), with no temporary files."""
    from empathy_task.ratings.files import write_rating_table
    from empathy_task.ratings.table import study_rating_table

    table = tmp_path / "crowd.csv"
    write_rating_table(study_rating_table(load_study()), table)
    out = tmp_path / "report"
    assert cli(["report", str(table), "--out", str(out), "--resamples", "200"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"report.md", "report.html", "report.json"} <= set(before)

    real_write = Path.write_bytes
    written: list[str] = []

    def failing_write(self: Path, payload: bytes) -> int:
        written.append(self.name)
        if len(written) == 3:
            real_write(self, payload[: len(payload) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, payload)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    # A different seed, so that a replaced file would differ from the old one.
    args = ["report", str(table), "--out", str(out), "--resamples", "300", "--seed", "7", "--force"]
    assert cli(args) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert len(written) == 3
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
