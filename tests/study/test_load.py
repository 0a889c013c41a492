"""The app under load and across a crash: a real waitress server process on 127.0.0.1."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")
pytest.importorskip("requests")

from empathy_task.study.returns import import_returns  # noqa: E402
from empathy_task.study.sheets import make_sheets, write_sheets  # noqa: E402
from empathy_task.study.store import StudyStore  # noqa: E402
from empathy_task.vocabulary import key_path_for, pseudonym, read_pseudonym_key
from tests.study.support import (  # noqa: E402
    COMPLETION_CODE,
    RaterClient,
    running_server,
    start_server,
    synthetic_items,
)

PARTICIPANTS = 200
CLIENT_THREADS = 24
TIME_LIMIT_S = 90
#: Every simulated participant connects from 127.0.0.1: no limit of claims or batches per address.
ONE_ADDRESS = [
    "--claims-per-address",
    "0",
    "--batches-per-address",
    "0",
    "--batches-per-subnet",
    "0",
    "--connections-per-address",
    "0",
]


def _rating(pid: str, n: int) -> int:
    return 1 + (sum(map(ord, pid)) + n) % 3


def _session(base: str, pid: str) -> str:
    client = RaterClient(base, pid)
    assert client.start().url.endswith("/info")
    assert client.answer_teq([n % 5 for n in range(16)]).url.endswith("/rate/1")
    for n in range(1, 11):
        page = client.rate(n, _rating(pid, n))
    assert page.url.endswith("/done") and COMPLETION_CODE in page.text
    return pid


def test_200_concurrent_participants(tmp_path: Path) -> None:
    sheet_set = make_sheets(synthetic_items(range(PARTICIPANTS)), seed=9)
    write_sheets(sheet_set, tmp_path / "sheets")
    db = tmp_path / "study.db"
    pids = [f"load-{k:04d}" for k in range(PARTICIPANTS)]
    started = time.monotonic()
    with running_server(tmp_path / "sheets", db, threads=8, extra=ONE_ADDRESS) as server:
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            futures = [pool.submit(_session, server.url, pid) for pid in pids]
            done = [f.result(timeout=TIME_LIMIT_S) for f in futures]
        # Latecomers: every batch is taken, and nobody who finished may start again.
        assert RaterClient(server.url, "load-late").start().status_code == 503
        assert RaterClient(server.url, pids[0]).start().status_code == 409
    elapsed = time.monotonic() - started
    assert sorted(done) == pids and elapsed < TIME_LIMIT_S
    store = StudyStore(db, create=False)
    assert store.counts() == {"active": 0, "submitted": 200, "released": 0, "answers": 2000}
    # No batch over-assigned: 200 raters, 200 batches, one each.
    progress = store.progress()
    assert len(progress) == 200 and all(b.submitted == 1 and b.answers == 10 for b in progress)
    # Every answer stored exactly once, with the value given.
    returns = store.returns()
    assert len({(r["rater"], r["item_id"]) for r in returns}) == 2000
    secret = read_pseudonym_key(key_path_for(db))
    by_rater = {pseudonym(p, secret): p for p in pids}
    for r in returns:
        assert r["rating"] == _rating(by_rater[r["rater"]], r["position"])
    table = import_returns(db, tmp_path / "sheets.key.csv")
    assert len(table) == 2000 and table["rater"].nunique() == 200


def test_a_crash_mid_session_loses_no_answer(tmp_path: Path) -> None:
    sheet_set = make_sheets(synthetic_items(range(6)), seed=2)
    write_sheets(sheet_set, tmp_path / "sheets")
    db = tmp_path / "study.db"
    server = start_server(tmp_path / "sheets", db, extra=ONE_ADDRESS)
    clients = [RaterClient(server.url, f"crash-{k}") for k in range(6)]
    try:
        for k, c in enumerate(clients):
            c.start()
            c.answer_teq([k % 5] * 16)
            for n in range(1, 2 + k):  # rater k has answered k + 1 screens
                c.rate(n, 1 + n % 3)
    finally:
        server.stop(crash=True)  # SIGKILL: no shutdown code runs
    store = StudyStore(db, create=False)
    assert store.counts()["answers"] == sum(range(1, 7))
    server = start_server(tmp_path / "sheets", db, extra=ONE_ADDRESS)
    try:
        for k, c in enumerate(clients):
            c.base = server.url  # same cookies: the session survives the restart
            page = c.http.get(f"{server.url}/rate/{k + 2}", timeout=30)
            assert page.status_code == 200 and f"Screen {k + 2} of 10" in page.text
            for n in range(k + 2, 11):
                page = c.rate(n, 1 + n % 3)
            assert COMPLETION_CODE in page.text
    finally:
        server.stop()
    assert store.counts() == {"active": 0, "submitted": 6, "released": 0, "answers": 60}
    assert all(r["rating"] == 1 + r["position"] % 3 for r in store.returns())


def test_serve_as_the_readme_writes_it_with_crowd_study_limits(tmp_path: Path) -> None:
    import requests

    write_sheets(make_sheets(synthetic_items([0]), seed=1), tmp_path / "sheets")
    # No --completion-code, as in the README: a generated one is printed and shown at the end.
    server = start_server(
        tmp_path / "sheets",
        tmp_path / "study.db",
        completion_code=None,
        extra=["--max-request-body-kb", "16", "--channel-timeout", "5"],
    )
    try:
        printed = "".join(server.output)
        m = re.search(r"completion code: ([0-9A-F]{8})", printed)
        assert m, printed
        # Waitress refuses an oversized body itself, before the app reads it.
        r = requests.post(server.url + "/start", data={"pid": "x" * 40_000}, timeout=30)
        assert r.status_code == 413
        client = RaterClient(server.url, "readme-rater")
        client.start()
        client.answer_teq([1] * 16)
        for n in range(1, 11):
            page = client.rate(n, 2)
        assert m.group(1) in page.text
    finally:
        server.stop()
