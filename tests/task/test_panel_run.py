"""Several judges in one Inspect run, and the self-preference warning (task/judges.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import get_model

from empathy_task.ratings.logs import rating_table_from_logs
from empathy_task.task.empathy_task import empathy_task
from empathy_task.task.prerequisite import PrerequisiteError

pytestmark = pytest.mark.dataset_download
A = "empathy/mock-judge-a"
B = "empathy/mock-judge-b"


def _raters(log: object) -> list[str]:
    table = rating_table_from_logs([log.location])  # type: ignore[attr-defined]
    return sorted(set(table["rater"]))


def test_two_roles_are_two_judges_each_its_own_scorer_and_rater() -> None:
    # Built before eval() names the roles (Python): -T judges= says which roles judge.
    [log] = inspect_eval(
        empathy_task(sample=8, judges="grader,grader_b"),
        model="empathy/human",
        model_roles={"grader": A, "grader_b": get_model(B, crowd=0.5)},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success", log.error
    assert [s.name for s in log.results.scores] == ["empathy_judge", "empathy_judge1"]
    judges = {k: v.metadata["judge"] for k, v in log.samples[0].scores.items()}
    assert judges == {"empathy_judge": A, "empathy_judge1": B}
    assert _raters(log) == [A, B]


def test_a_role_bound_to_a_list_is_a_panel_when_the_run_builds_the_task() -> None:
    # As `inspect eval empathy_task --model-role grader=A,B`: the roles are known at build.
    [log] = inspect_eval(
        "empathy_task/empathy_task",
        model="empathy/human",
        model_roles={"grader": [A, B]},
        task_args={"sample": 8},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success", log.error
    assert log.eval.metadata["judges"] == [A, B]
    assert _raters(log) == [A, B]
    assert "self_preference" not in log.eval.metadata  # the replay provider is no maker


def test_one_judge_named_twice_is_refused() -> None:
    with pytest.raises(PrerequisiteError, match="more than once"):
        inspect_eval(
            "empathy_task/empathy_task",
            model="empathy/human",
            model_roles={"grader": A, "grader_2": A},
            task_args={"sample": 2},
            display="none",
            log_dir=os.environ["INSPECT_LOG_DIR"],
        )


class _FakeOpenAI(BaseHTTPRequestHandler):
    """A loopback stand-in for the OpenAI API: replies kindly, judges Good."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's protocol
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        text = "A judgement.\nRATING: Good" if "How empathetic" in json.dumps(body) else "So sorry."
        if self.path.endswith("/responses"):
            out = {
                "id": "resp_1",
                "object": "response",
                "created_at": int(time.time()),
                "model": body.get("model"),
                "status": "completed",
                "output": [
                    {
                        "type": "message",
                        "id": "msg_1",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}],
                    }
                ],
                "parallel_tool_calls": False,
                "tool_choice": "auto",
                "tools": [],
                "usage": {
                    "input_tokens": 10,
                    "output_tokens": 5,
                    "total_tokens": 15,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": 0},
                },
            }
        else:
            out = {
                "id": "c1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_self_preference_warning_fires_in_the_run_its_log_and_the_report(
    fake_openai: str, tmp_path: Path
) -> None:
    pytest.importorskip("openai")
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": fake_openai}
    logs = tmp_path / "logs"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspect_ai",
            "eval",
            "empathy_task/empathy_task",
            "--model",
            "openai/x",
            "--model-role",
            "grader=openai/y",
            "-T",
            "sample=2",
            "--log-dir",
            str(logs),
            "--display",
            "plain",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    output = " ".join((run.stdout + run.stderr).split())
    assert "self-preference" in output and "openai/y" in output
    [path] = logs.glob("*.eval")
    [warning] = read_eval_log(str(path), header_only=True).eval.metadata["self_preference"]
    assert "shares the provider 'openai'" in warning
    out = tmp_path / "report"
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "empathy_task",
            "report",
            str(path),
            "--out",
            str(out),
            "--format",
            "json,md",
            "--resamples",
            "200",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    doc = json.loads((out / "report.json").read_text())
    assert doc["self_preference"] == [
        {
            "source": "openai/x",
            "judge": "openai/y",
            "reason": "shares the provider 'openai' with the model under test",
        }
    ]
    assert "Self-preference warning" in (out / "report.md").read_text()


def test_mock_judges_of_known_biases() -> None:
    from empathy_task.task.provider import panel_mock_rating, parse_bias

    stored = ("human", 2)
    assert panel_mock_rating("mock-judge-a", "a reply", 1, stored, 1.0, {}) == 2
    assert panel_mock_rating("mock-judge-a", "a reply", 1, stored, 1.0, {"human": 1.0}) == 3
    assert panel_mock_rating("mock-judge-a", "a reply", 1, stored, 1.0, {"human": -1.0}) == 1
    # A reply that is not stored: the judge's own verdict, moved by the "model" bias.
    assert panel_mock_rating("mock-judge-a", "new", 3, None, 0.0, {"model": -1.0}) == 2
    assert parse_bias("human:0.3, chatgpt:-0.2") == {"human": 0.3, "chatgpt": -0.2}
    with pytest.raises(ValueError, match="-1..1"):
        parse_bias("human:2")


def test_a_panel_of_named_roles_without_the_grader_role() -> None:
    [log] = inspect_eval(
        "empathy_task/empathy_task",
        model="empathy/human",
        model_roles={"grader_a": A, "grader_b": B},
        task_args={"sample": 4, "judges": "grader_a,grader_b"},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success", log.error
    assert sorted(log.eval.model_roles) == ["grader_a", "grader_b"]
    assert _raters(log) == [A, B]
