"""Helpers for the human-study tests: synthetic sheets, a real server process, a rater client.

The synthetic items use real dialog ids (so keys join to the manifest) but text we wrote ourselves,
so screenshots and fixtures never show the authors' text.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from empathy_task.data.study import manifest

COMPLETION_CODE = "C0MPLETE42"
ADMIN_TOKEN = "test-admin-token-0123456789"

#: Invented dialogues: (emotion, situation, Speaker #1, Speaker #2).
SYNTHETIC_TEXT: tuple[tuple[str, str, str, str], ...] = (
    (
        "caring",
        "My neighbour's dog escaped through a gap in our fence and I spent the evening searching.",
        "We finally found the dog two streets away, asleep under a bench.",
        "What a relief that must have been! You must have been worried sick all evening.",
    ),
    (
        "embarrassed",
        "I baked bread for the first time and it came out flat as a pancake.",
        "My first loaf of bread looks more like a frisbee.",
        "Ha, the first one rarely works. It takes practice, and it probably still tastes good.",
    ),
    (
        "grateful",
        "A stranger paid for my coffee this morning when my card was declined.",
        "Someone covered my coffee today and I didn't even get to thank them properly.",
        "That's such a kind thing to happen. It sounds like it really brightened your morning.",
    ),
    (
        "lonely",
        "My best friend is moving to another country for work next month.",
        "I keep thinking about how quiet weekends will be once she's gone.",
        "That's hard. You'll miss her a lot, but video calls can keep you close.",
    ),
    (
        "nostalgic",
        "I finished repainting my grandmother's old bicycle.",
        "The old bike looks brand new now, and it still has her little bell.",
        "That sounds lovely. Keeping her bell must make it feel really special to ride.",
    ),
)


def synthetic_items(parts: Sequence[int], source: str = "model-under-test") -> pd.DataFrame:
    """Items of the given study batches with real ids and invented text (emotion included).

    The emotion shown on a sheet is display text; the rating table takes the labels from the
    manifest through the key, so an invented emotion that fits the invented text is harmless.
    """
    m = manifest()
    m = m[m["part_no"].isin(list(parts))].sort_values(["part_no", "dialog_id"])
    rows = []
    for i, rec in enumerate(m.to_dict(orient="records")):
        emotion, situation, turn, reply = SYNTHETIC_TEXT[i % len(SYNTHETIC_TEXT)]
        rows.append(
            {
                "dialog_id": rec["dialog_id"],
                "source": source,
                "part_no": int(rec["part_no"]),
                "emotion": emotion,
                "situation": situation,
                "speaker_turn": turn,
                "reply": reply,
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Server:
    """A running ``empathy-task serve`` subprocess."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    def stop(self, *, crash: bool = False) -> None:
        """Stop the server; ``crash`` kills it without any chance to clean up."""
        if self.proc.poll() is None:
            if crash:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=15)


def start_server(
    sheets: Path,
    db: Path,
    *,
    extra: Sequence[str] = (),
    threads: int = 8,
    timeout_s: float = 30.0,
    completion_code: str | None = COMPLETION_CODE,
) -> Server:
    """Start ``empathy-task serve`` on a free port and wait until it answers."""
    import requests

    cmd = [
        sys.executable,
        "-m",
        "empathy_task",
        "serve",
        "--sheets",
        str(sheets),
        "--db",
        str(db),
        "--port",
        "0",
        *(["--completion-code", completion_code] if completion_code else []),
        "--admin-token",
        ADMIN_TOKEN,
        "--threads",
        str(threads),
        *extra,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)
    )
    server = Server(proc, "")
    found = threading.Event()

    def pump() -> None:
        # Keep reading so the pipe never fills; the first line names the port.
        assert proc.stdout is not None
        for line in proc.stdout:
            server.output.append(line)
            m = re.search(r"on (http://(?:[\d.]+|\[[0-9a-f:]+\]):\d+)/", line)
            if m and not found.is_set():
                server.url = m.group(1)
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found.wait(0.05):
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("the server did not start:\n" + "".join(server.output))
    while time.monotonic() < deadline:
        try:
            if requests.get(server.url + "/healthz", timeout=2).text == "ok":
                return server
        except requests.ConnectionError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError("the server did not answer:\n" + "".join(server.output))


@contextmanager
def running_proxy(upstream: str, timeout_s: float = 30.0) -> Iterator[str]:
    """The buffering reverse proxy of :mod:`tests.study.proxy` in front of ``upstream``; yields
    its URL (on 127.0.0.1, so it reaches ``upstream`` from 127.0.0.1)."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.study.proxy", upstream],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"proxy on (http://127\.0\.0\.1:\d+)/", line)
        if not m:
            raise RuntimeError(f"the proxy did not start: {line}")
        yield m.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def session_from(source: str):
    """A ``requests`` session whose connections leave from loopback address ``source`` (e.g.
    127.0.0.2: Linux routes all of 127.0.0.0/8 to the loopback interface)."""
    import requests
    from requests.adapters import HTTPAdapter

    class _Bound(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (source, 0)
            super().init_poolmanager(*args, **kwargs)

    http = requests.Session()
    http.mount("http://", _Bound())
    return http


@contextmanager
def running_server(sheets: Path, db: Path, **kwargs: object) -> Iterator[Server]:
    server = start_server(sheets, db, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ITEM = re.compile(r'name="item_id" value="([^"]+)"')


class RaterClient:
    """A participant driving the app over HTTP, as a browser would (cookies, forms, redirects)."""

    def __init__(self, base_url: str, pid: str, source: str | None = None) -> None:
        import requests

        self.base = base_url
        self.pid = pid
        self.http = session_from(source) if source else requests.Session()
        self.csrf = ""
        self.page = None

    def _post(self, path: str, data: dict[str, str]):
        r = self.http.post(self.base + path, data={"csrf": self.csrf, **data}, timeout=60)
        self.page = r
        return r

    def start(self):
        r = self.http.get(self.base + "/", timeout=60)
        self.csrf = _CSRF.search(r.text).group(1)
        resp = self._post("/start", {"pid": self.pid})
        # The token rotates at /start; the start page shows the session's current one.
        page = self.http.get(self.base + "/", timeout=60)
        self.csrf = _CSRF.search(page.text).group(1)
        self.page = resp
        return resp

    def answer_teq(self, answers: Sequence[int]):
        return self._post("/teq", {f"teq_{i}": str(a) for i, a in enumerate(answers, start=1)})

    def item_on_page(self) -> str:
        return _ITEM.search(self.page.text).group(1)

    def rate(self, n: int, rating: int, item_id: str | None = None):
        if item_id is None:
            if self.page is None or not self.page.url.endswith(f"/rate/{n}"):
                self.page = self.http.get(f"{self.base}/rate/{n}", timeout=60)
            item_id = self.item_on_page()
        return self._post(f"/rate/{n}", {"item_id": item_id, "rating": str(rating)})
