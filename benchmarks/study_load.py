"""The rating web app under load: simulated participants against the real ``serve`` on loopback.

    python benchmarks/study_load.py            # 1,000 participants, 100 at a time
    python benchmarks/study_load.py --quick    # 100 participants, 25 at a time (CI)
    python benchmarks/study_load.py --restart  # also kill -9 the server halfway and restart it
    python benchmarks/study_load.py --attack flood      # one client inventing ids, see below
    python benchmarks/study_load.py --attack slowloris  # 600 sockets trickling header bytes

``empathy-task serve`` runs as a subprocess with its default settings (waitress, 8 threads, the
crowd-study limits; only the per-address limits off (``--claims-per-address 0`` and the like),
since every simulated participant connects from 127.0.0.1). Each participant is a client with its own cookies that walks the whole study as
a browser does: the start page, start, the tutorial, the questionnaire, ten rating screens, each
POST followed by its redirect. A *page time* is one such step, from request to the next page.

Checked from the database afterwards (the pseudonym key maps ids to raters):

- **lost answers**: an answer the client was shown as saved (its redirect arrived) that is not in
  the database with the value given; must be 0;
- **duplicated answers**: ratings stored twice for one rater and item (across assignments), or
  a rater with two live batches; must be 0;
- **over-assigned batches**: batches with more live raters than ``--raters-per-sheet`` (1); 0;
- **unfinished participants**: participants who did not reach the completion code in time.

**Attacks** (``--attack``) run ``serve`` with all its defaults: each real participant connects from
a loopback address of its own network (``127.1.k.1``, Linux routes 127/8 to loopback), the
attacker from ``127.66.0.x`` while the real participants walk the study:

- ``flood``: the attacker invents ids and takes each batch through to submit, all Bad, first from
  one address, then rotating through its /24, as fast as it can (4 threads) until the real
  participants are done; counted: junk batches submitted (``--batches-per-address`` 5 and
  ``--batches-per-subnet`` 20 bound them) and refused;
- ``slowloris``: 600 sockets from one address, each sending one header byte every 5 s, every
  closed one reopened after 1 s; counted: connections the server refused or cut.

Either way every real participant must finish with nothing lost (the row's goal).

The speed is a ratio to a baseline measured in the same run, on the same server: the 95th
percentile page time of participants who walk the study alone, one after another, before the load.
The clients share the machine's CPUs with the server, so the ratio measures both; it is reported,
never asserted. The run is bounded: at most ``--participants`` and ``--time-limit`` seconds, after
which unfinished participants are counted as such and the benchmark fails.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COMPLETION_CODE = "LOADTEST01"
ADMIN_TOKEN = "bench-admin-token-0123456789"
FULL = {"participants": 1000, "concurrent": 100, "time_limit": 900.0}
QUICK = {"participants": 100, "concurrent": 25, "time_limit": 120.0}
BASELINE_PARTICIPANTS = 10
ROW = "| Study app under load, "
ATTACK_ROW = "| Study app under attack ({}), "
#: Every load participant connects from 127.0.0.1: the limits per address are off.
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
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ITEM = re.compile(r'name="item_id" value="([^"]+)"')


def items(n_sheets: int) -> pd.DataFrame:
    """Items for ``n_sheets`` batches: the study's dialog ids, invented text (never the authors')."""
    from empathy_task.data.study import manifest

    m = manifest().sort_values(["part_no", "dialog_id"])
    parts = sorted(m["part_no"].unique())
    sources = -(-n_sheets // len(parts))  # ceil: one sheet per (source, part)
    rows = []
    for s in range(sources):
        for rec in m.to_dict(orient="records"):
            rows.append(
                {
                    "dialog_id": rec["dialog_id"],
                    "source": f"bench-{s}",
                    "part_no": int(rec["part_no"]),
                    "emotion": "grateful",
                    "situation": "A neighbour helped me carry a new sofa up four floors.",
                    "speaker_turn": "My neighbour spent an hour helping me with the sofa.",
                    "reply": "That was kind of them. It must feel good to have such neighbours.",
                }
            )
    return pd.DataFrame(rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """``empathy-task serve`` as a subprocess on a fixed port (so a restart keeps the address)."""

    sheets: Path
    db: Path
    port: int
    threads: int
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    #: serve's options beyond the fixed ones; None: the per-address limits off (one address).
    options: list[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        import requests

        cmd = [
            sys.executable,
            "-m",
            "empathy_task",
            "serve",
            "--sheets",
            str(self.sheets),
            "--db",
            str(self.db),
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            "--completion-code",
            COMPLETION_CODE,
            "--admin-token",
            ADMIN_TOKEN,
            *(ONE_ADDRESS if self.options is None else self.options),
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        proc = self.proc

        def pump() -> None:  # keep the pipe from filling
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("serve exited:\n" + "".join(self.output))
            try:
                if requests.get(self.url + "/healthz", timeout=2).text == "ok":
                    return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("serve did not answer:\n" + "".join(self.output))

    def stop(self, *, crash: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
            self.proc.wait(timeout=30)


def rating(k: int, n: int) -> int:
    """The rating participant ``k`` gives on screen ``n`` (1-3), so every value is checkable."""
    return 1 + (k * 7 + n) % 3


@dataclass
class Outcome:
    """What one participant saw."""

    pid: str
    pages: list[float] = field(default_factory=list)
    acknowledged: dict[int, int] = field(default_factory=dict)  # screen -> rating shown saved
    finished: bool = False
    retries: int = 0
    error: str = ""


def session_from(source: str | None) -> Any:
    """A ``requests`` session whose connections leave from loopback address ``source``."""
    import requests
    from requests.adapters import HTTPAdapter

    http = requests.Session()
    if source:

        class _Bound(HTTPAdapter):
            def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
                kwargs["source_address"] = (source, 0)
                super().init_poolmanager(*args, **kwargs)

        http.mount("http://", _Bound())
    return http


def participant(
    base: str,
    k: int,
    deadline: float,
    *,
    prefix: str = "load",
    timeout_s: float = 30.0,
    source: str | None = None,
) -> Outcome:
    """Walk the study as one participant; retry a step whose connection broke (a reload)."""
    import requests

    out = Outcome(f"{prefix}-{k:05d}")
    http = session_from(source)
    csrf = ""

    def get(path: str, also: str = "") -> requests.Response:
        """A page, reloaded until the server answers (as a participant would); ``also``: the
        page it may redirect to instead (after an answer whose response was lost)."""
        nonlocal csrf
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("time limit")
            t0 = time.perf_counter()
            try:
                resp = http.get(base + path, timeout=timeout_s)
            except requests.RequestException:
                out.retries += 1
                time.sleep(0.2)
                continue
            out.pages.append(time.perf_counter() - t0)
            if resp.status_code != 200 or not (
                resp.url.endswith(path) or (also and resp.url.endswith(also))
            ):
                raise RuntimeError(f"{resp.url}: {resp.status_code}, expected {path}")
            found = _CSRF.search(resp.text)
            csrf = found.group(1) if found else csrf
            return resp

    def post(path: str, data: dict[str, str], expect: str) -> requests.Response:
        """Submit a form; when the connection breaks, reload the form and submit it again."""
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("time limit")
            t0 = time.perf_counter()
            try:
                resp = http.post(base + path, data={"csrf": csrf, **data}, timeout=timeout_s)
            except requests.RequestException:
                out.retries += 1
                time.sleep(0.2)
                # The lost response may have set a new session cookie (a new CSRF token); the
                # last answer may have been stored and submitted, and the reload shows /done.
                page = get("/" if path == "/start" else path, also=expect)
                if expect == "/done" and page.url.endswith(expect):
                    return page
                continue
            out.pages.append(time.perf_counter() - t0)
            if resp.status_code != 200 or not resp.url.endswith(expect):
                raise RuntimeError(f"{path} -> {resp.url}: {resp.status_code}, expected {expect}")
            return resp

    try:
        get("/")
        post("/start", {"pid": out.pid}, "/info")
        get("/tutorial")
        get("/teq")  # its form has the CSRF token, rotated at /start
        answers = {f"teq_{i}": str((k + i) % 5) for i in range(1, 17)}
        page = post("/teq", answers, "/rate/1")
        for n in range(1, 11):
            item = _ITEM.search(page.text).group(1)
            value = rating(k, n)
            page = post(
                f"/rate/{n}",
                {"item_id": item, "rating": str(value)},
                "/done" if n == 10 else f"/rate/{n + 1}",
            )
            out.acknowledged[n] = value
        out.finished = COMPLETION_CODE in page.text
    except Exception as e:  # noqa: BLE001 - counted and reported, never hidden
        out.error = f"{type(e).__name__}: {e}"
    return out


def check(db: Path, outcomes: list[Outcome], raters_per_sheet: int = 1) -> dict[str, int]:
    """Lost, duplicated and over-assigned, from the database against what clients were shown."""
    from empathy_task.study.store import StudyStore
    from empathy_task.vocabulary import key_path_for, pseudonym, read_pseudonym_key

    store = StudyStore(db, create=False)
    key = read_pseudonym_key(key_path_for(db))
    with store._read() as conn:
        rows = conn.execute(
            "SELECT a.rater, a.status, i.position, i.item_id, x.rating FROM answers x "
            "JOIN assignments a ON a.id = x.assignment_id JOIN items i ON i.item_id = x.item_id "
            "WHERE a.status != 'released'"
        ).fetchall()
        live = conn.execute(
            "SELECT rater, COUNT(*) FROM assignments WHERE status != 'released' GROUP BY rater "
            "HAVING COUNT(*) > 1"
        ).fetchall()
    stored: dict[tuple[str, int], list[int]] = {}
    per_item: dict[tuple[str, str], int] = {}
    for r in rows:
        stored.setdefault((r["rater"], r["position"]), []).append(r["rating"])
        per_item[(r["rater"], r["item_id"])] = per_item.get((r["rater"], r["item_id"]), 0) + 1
    lost = 0
    for o in outcomes:
        rater = pseudonym(o.pid, key)
        for n, value in o.acknowledged.items():
            if value not in stored.get((rater, n), []):
                lost += 1
    duplicated = sum(c - 1 for c in per_item.values() if c > 1) + len(live)
    over = sum(b.active + b.submitted > raters_per_sheet for b in store.progress())
    return {"lost": lost, "duplicated": duplicated, "over_assigned": over, "stored": len(rows)}


def _p95(times: list[float]) -> float:
    return float(np.percentile(times, 95)) if times else float("nan")


def run(
    *,
    quick: bool = False,
    participants: int | None = None,
    concurrent: int | None = None,
    threads: int = 8,
    time_limit: float | None = None,
    restart: bool = False,
    work: Path | None = None,
) -> dict[str, Any]:
    """Run the load and return its numbers (see the module doc)."""
    from empathy_task.study.sheets import make_sheets, write_sheets

    preset = QUICK if quick else FULL
    participants = participants or int(preset["participants"])
    concurrent = concurrent or int(preset["concurrent"])
    time_limit = time_limit or float(preset["time_limit"])
    if participants < 1 or concurrent < 1 or threads < 1 or time_limit <= 0:
        raise ValueError("participants, concurrent, threads and time limit must be positive")
    with tempfile.TemporaryDirectory(prefix="study-load-", dir=work) as tmp:
        root = Path(tmp)
        n_sheets = participants + BASELINE_PARTICIPANTS
        sheet_set = make_sheets(items(n_sheets), seed=5)
        write_sheets(sheet_set, root / "sheets")
        server = Server(root / "sheets", root / "study.db", _free_port(), threads)
        server.start()
        try:
            # Baseline: participants alone, one after another, on the same warm server.
            solo = [
                participant(server.url, k, time.monotonic() + 60, prefix="solo")
                for k in range(BASELINE_PARTICIPANTS)
            ]
            if not all(o.finished for o in solo):
                raise RuntimeError(f"a lone participant failed: {[o.error for o in solo]}")
            started = time.monotonic()
            deadline = started + time_limit
            restarted_at: float | None = None
            with ThreadPoolExecutor(concurrent) as pool:
                futures = [
                    pool.submit(participant, server.url, k, deadline) for k in range(participants)
                ]
                if restart:
                    # Crash the server (SIGKILL) once half the participants are done.
                    while sum(f.done() for f in futures) < participants // 2:
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.05)
                    server.stop(crash=True)
                    restarted_at = time.monotonic() - started
                    server.start()
                wait(futures, timeout=time_limit + 120)
                outcomes = [f.result() for f in futures]
            elapsed = time.monotonic() - started
        finally:
            server.stop()
        integrity = check(server.db, outcomes)
    pages = [t for o in outcomes for t in o.pages]
    solo_pages = [t for o in solo for t in o.pages]
    unfinished = [o for o in outcomes if not o.finished]
    res: dict[str, Any] = {
        "participants": participants,
        "concurrent": concurrent,
        "threads": threads,
        "restart": restart,
        "restarted_at_s": restarted_at,
        "elapsed_s": elapsed,
        "pages": len(pages),
        "pages_per_s": len(pages) / elapsed,
        "p50_s": float(np.percentile(pages, 50)) if pages else float("nan"),
        "p95_s": _p95(pages),
        "solo_p95_s": _p95(solo_pages),
        "unfinished": len(unfinished),
        "retries": sum(o.retries for o in outcomes),
        "errors": sorted({o.error for o in unfinished})[:3],
        "cpus": os.cpu_count(),
        **integrity,
    }
    res["ratio"] = res["p95_s"] / res["solo_p95_s"]
    res["ok"] = not (res["lost"] or res["duplicated"] or res["over_assigned"] or res["unfinished"])
    return res


def row(res: dict[str, Any]) -> str:
    """The benchmark's line in benchmarks/results.md."""
    crash = (
        f", server killed (-9) and restarted at {res['restarted_at_s']:.0f} s "
        f"({res['retries']} requests retried)"
        if res["restart"]
        else ""
    )
    return (
        f"{ROW}{res['participants']:,} participants ({res['concurrent']} at a time), `serve` "
        f"defaults ({res['threads']} threads), loopback{crash} | p95 page {res['p95_s'] * 1000:.0f} "
        f"ms (median {res['p50_s'] * 1000:.0f} ms, {res['pages']:,} pages in "
        f"{res['elapsed_s']:.0f} s, {res['pages_per_s']:.0f}/s); lost answers {res['lost']}, "
        f"duplicated {res['duplicated']}, over-assigned batches {res['over_assigned']}, "
        f"unfinished {res['unfinished']} | one participant alone: p95 page "
        f"{res['solo_p95_s'] * 1000:.0f} ms | **{res['ratio']:.1f}x** | 0 lost, 0 duplicated, "
        "0 over-assigned |"
    )


# --------------------------------------------------------------------------- attacks


def _flood(base: str, stop: threading.Event, counts: dict[str, int], lock: threading.Lock) -> None:
    """One attacker thread: invent ids, take each batch to submit (all Bad), rotate addresses."""
    import requests

    n = 0
    while not stop.is_set():
        with lock:
            n = counts["tries"] = counts["tries"] + 1
        # The first 10 tries from one address, then through the /24.
        source = "127.66.0.2" if n <= 10 else f"127.66.0.{2 + n % 250}"
        http = session_from(source)
        try:
            page = http.get(base + "/", timeout=30)
            csrf = _CSRF.search(page.text).group(1)
            r = http.post(base + "/start", data={"csrf": csrf, "pid": f"junk-{n:06d}"}, timeout=30)
            if not r.url.endswith("/info"):
                with lock:
                    counts[f"refused_{r.status_code}"] = (
                        counts.get(f"refused_{r.status_code}", 0) + 1
                    )
                time.sleep(0.05)
                continue
            csrf = _CSRF.search(http.get(base + "/teq", timeout=30).text).group(1)
            page = http.post(
                base + "/teq",
                data={"csrf": csrf, **{f"teq_{i}": "0" for i in range(1, 17)}},
                timeout=30,
            )
            for screen in range(1, 11):
                item = _ITEM.search(page.text).group(1)
                page = http.post(
                    f"{base}/rate/{screen}",
                    data={"csrf": csrf, "item_id": item, "rating": "1"},
                    timeout=30,
                )
            if COMPLETION_CODE in page.text:
                with lock:
                    counts["junk_submitted"] += 1
        except (requests.RequestException, AttributeError):
            with lock:
                counts["errors"] += 1


#: What a slowloris socket trickles: a request line, then a header that never ends.
_TRICKLE = b"GET / HTTP/1.1\r\nHost: study\r\nX-Pad: " + b"a" * 4000


def _slowloris(
    port: int,
    stop: threading.Event,
    counts: dict[str, int],
    sockets: int = 600,
    addresses: int = 1,
) -> None:
    """``sockets`` connections spread over ``addresses`` networks (127.66.k.1), one header byte
    each every 5 s; a closed one is reopened after 1 s. One thread, non-blocking sockets."""
    import selectors

    sel = selectors.DefaultSelector()
    due: dict[int, float] = {}  # socket slot -> when to send (or reopen)
    conns: dict[int, socket.socket | None] = dict.fromkeys(range(sockets))
    sent = dict.fromkeys(range(sockets), 0)
    for slot in conns:
        due[slot] = time.monotonic() + slot * 0.005  # ramp up over 3 s

    def close(slot: int) -> None:
        s = conns[slot]
        if s is not None:
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        conns[slot] = None
        sent[slot] = 0
        due[slot] = time.monotonic() + 1.0

    while not stop.is_set():
        now = time.monotonic()
        for slot, when in list(due.items()):
            if when > now:
                continue
            s = conns[slot]
            try:
                if s is None:
                    s = socket.socket()
                    s.setblocking(False)
                    s.bind((f"127.66.{slot % addresses}.1", 0))
                    s.connect_ex(("127.0.0.1", port))
                    conns[slot] = s
                    sel.register(s, selectors.EVENT_READ, slot)
                    counts["opened"] += 1
                    due[slot] = now + 0.5
                else:
                    s.send(_TRICKLE[sent[slot] : sent[slot] + 1])
                    sent[slot] = (sent[slot] + 1) % len(_TRICKLE)
                    due[slot] = now + 5.0
            except (BlockingIOError, InterruptedError):
                due[slot] = now + 0.5
            except OSError:
                counts["cut"] += 1
                close(slot)
        for key, _ in sel.select(timeout=0.2):
            slot = key.data
            try:
                data = conns[slot].recv(4096) if conns[slot] is not None else b""
            except OSError:
                data = b""
            if not data:
                counts["cut"] += 1
                close(slot)
    for slot in list(conns):
        close(slot)


def attack(
    kind: str,
    *,
    participants: int = 50,
    time_limit: float = 150.0,
    addresses: int = 1,
    work: Path | None = None,
) -> dict[str, Any]:
    """Real participants walk the study under a ``flood`` or ``slowloris`` attacker (module doc)."""
    from empathy_task.study.sheets import make_sheets, write_sheets

    if kind not in ("flood", "slowloris"):
        raise ValueError(f"--attack {kind!r}: flood or slowloris")
    with tempfile.TemporaryDirectory(prefix="study-attack-", dir=work) as tmp:
        root = Path(tmp)
        # Room for every real participant and as many junk batches as the attacker might take.
        write_sheets(make_sheets(items(participants + 300), seed=6), root / "sheets")
        server = Server(root / "sheets", root / "study.db", _free_port(), 8, options=[])
        server.start()
        stop = threading.Event()
        lock = threading.Lock()
        counts = {"tries": 0, "junk_submitted": 0, "errors": 0, "opened": 0, "cut": 0}
        try:
            if kind == "flood":
                attackers = [
                    threading.Thread(target=_flood, args=(server.url, stop, counts, lock))
                    for _ in range(4)
                ]
            else:
                attackers = [
                    threading.Thread(
                        target=_slowloris, args=(server.port, stop, counts, 600, addresses)
                    )
                ]
            for t in attackers:
                t.start()
            time.sleep(5.0)  # the attack is under way before the first participant arrives
            started = time.monotonic()
            deadline = started + time_limit
            with ThreadPoolExecutor(10) as pool:
                futures = [
                    pool.submit(
                        participant,
                        server.url,
                        k,
                        deadline,
                        source=f"127.1.{k % 250}.{1 + k // 250}",
                    )
                    for k in range(participants)
                ]
                outcomes = [f.result() for f in futures]
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            for t in attackers:
                t.join(timeout=60)
            server.stop()
        integrity = check(server.db, outcomes)
        from empathy_task.study.store import StudyStore

        stored = StudyStore(server.db, create=False).counts()
    pages = [t for o in outcomes for t in o.pages]
    unfinished = [o for o in outcomes if not o.finished]
    res: dict[str, Any] = {
        "attack": kind,
        "addresses": addresses,
        "participants": participants,
        "elapsed_s": elapsed,
        "p50_s": float(np.percentile(pages, 50)) if pages else float("nan"),
        "p95_s": _p95(pages),
        "unfinished": len(unfinished),
        "retries": sum(o.retries for o in outcomes),
        "errors": sorted({o.error for o in unfinished})[:3],
        "submitted": stored["submitted"],
        **counts,
        **integrity,
    }
    res["ok"] = not (res["lost"] or res["duplicated"] or res["over_assigned"] or res["unfinished"])
    return res


def attack_row(res: dict[str, Any]) -> str:
    """The attack's line in benchmarks/results.md."""
    name = res["attack"] + (f" from {res['addresses']} networks" if res["addresses"] > 1 else "")
    if res["attack"] == "flood":
        what = (
            "one client inventing ids, each batch submitted all-Bad, 10 tries from one address "
            "then rotating through its IPv4 /24, 4 threads"
        )
        refused = sum(v for k, v in res.items() if k.startswith("refused_"))
        attacker = (
            f"attacker: {res['tries']:,} tries, {res['junk_submitted']} junk batches submitted "
            f"(bound: 5 per address, 20 per /24), {refused:,} refused"
        )
    else:
        where = "one address" if res["addresses"] == 1 else f"{res['addresses']} networks"
        what = f"600 sockets from {where}, one header byte each every 5 s, reopened when cut"
        attacker = (
            f"attacker: {res['opened']:,} connections opened, {res['cut']:,} refused or cut "
            "by the server"
        )
    return (
        f"{ATTACK_ROW.format(name)}{what}; {res['participants']} real participants (10 "
        f"at a time, each its own network), `serve` defaults, loopback | real participants: "
        f"{res['participants'] - res['unfinished']}/{res['participants']} finished, p95 page "
        f"{res['p95_s'] * 1000:.0f} ms (median {res['p50_s'] * 1000:.0f} ms, "
        f"{res['retries']} retries) in {res['elapsed_s']:.0f} s; lost answers {res['lost']}, "
        f"duplicated {res['duplicated']}, over-assigned {res['over_assigned']}; {attacker} | | "
        f"{'**ok**' if res['ok'] else '**failed**'} | 0 lost, every real participant served |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="100 participants, 25 at a time")
    ap.add_argument("--participants", type=int, help="participants (default 1,000; quick 100)")
    ap.add_argument("--concurrent", type=int, help="participants at a time (100; quick 25)")
    ap.add_argument("--threads", type=int, default=8, help="serve --threads (default 8)")
    ap.add_argument("--time-limit", type=float, help="seconds for the load (900; quick 120)")
    ap.add_argument("--restart", action="store_true", help="kill -9 and restart the server halfway")
    ap.add_argument(
        "--attack",
        choices=("flood", "slowloris"),
        help="real participants (default 50) under an attacker, serve's defaults",
    )
    ap.add_argument(
        "--attack-addresses",
        type=int,
        default=1,
        help="networks the slowloris spreads its 600 sockets over (default 1)",
    )
    args = ap.parse_args(argv)
    if args.attack:
        res = attack(
            args.attack,
            participants=args.participants or 50,
            time_limit=args.time_limit or 150.0,
            addresses=args.attack_addresses,
        )
        print(attack_row(res))
        if res["errors"]:
            print("errors: " + "; ".join(res["errors"]), file=sys.stderr)
        return 0 if res["ok"] else 1
    res = run(
        quick=args.quick,
        participants=args.participants,
        concurrent=args.concurrent,
        threads=args.threads,
        time_limit=args.time_limit,
        restart=args.restart,
    )
    print(row(res))
    if res["errors"]:
        print("errors: " + "; ".join(res["errors"]), file=sys.stderr)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
