"""The study app under attack (issue 26, items 1-6), each against the real ``empathy-task serve``
(waitress) on loopback: bounded in count and time. Clients that must be told apart connect from
different loopback addresses (127.0.0.2, 127.0.0.3, ...), which Linux routes to the loopback
interface; a proxy in front is the real buffering reverse proxy of :mod:`tests.study.proxy`.
"""

from __future__ import annotations

import csv
import html
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")
requests = pytest.importorskip("requests")

from empathy_task.study.sheets import make_sheets, write_sheets  # noqa: E402
from empathy_task.study.store import StudyStore  # noqa: E402
from empathy_task.vocabulary import key_path_for, pseudonym, read_pseudonym_key  # noqa: E402
from tests.study.support import (  # noqa: E402
    ADMIN_TOKEN,
    COMPLETION_CODE,
    RaterClient,
    running_proxy,
    running_server,
    session_from,
    synthetic_items,
)

STUDY = "60f0c0ffee0123456789abcd"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def session_key_path_for(db: Path) -> Path:
    """Where serve keeps its session-signing key (docs/human_study.md)."""
    return Path(f"{db}.session-key")


def _sheets(tmp_path: Path, n: int) -> Path:
    write_sheets(make_sheets(synthetic_items(range(n)), seed=4), tmp_path / "sheets")
    return tmp_path / "sheets"


def _walk(client: RaterClient, rating: int = 1) -> requests.Response:
    """Questionnaire and ten screens, all one answer (the flood's junk), after a started batch."""
    client.csrf = _CSRF.search(client.http.get(client.base + "/teq", timeout=30).text).group(1)
    assert client.answer_teq([0] * 16).url.endswith("/rate/1")
    for n in range(1, 11):
        page = client.rate(n, rating)
    return page


def _prolific_start(http, base: str, pid: str, session_id: str, study: str = STUDY):
    """Open Prolific's link and press Start, as a participant's browser does."""
    query = f"?PROLIFIC_PID={pid}&STUDY_ID={study}&SESSION_ID={session_id}"
    page = http.get(base + "/" + query, timeout=30)
    if page.status_code != 200:
        return page
    action = html.unescape(_ACTION.search(page.text).group(1))
    return http.post(
        base + action, data={"csrf": _CSRF.search(page.text).group(1)}, allow_redirects=False
    )


def _admin_session(base: str, http=None):
    """A browser logged in to /admin (the login form with the right token)."""
    http = http or requests.Session()
    page = http.get(base + "/admin", timeout=30)
    csrf = _CSRF.search(page.text).group(1)
    resp = http.post(
        base + "/admin/login", data={"csrf": csrf, "token": ADMIN_TOKEN}, allow_redirects=False
    )
    assert resp.status_code == 302, resp.text
    return http


# --------------------------------------------------------------------------- 4: full matches


def test_a_trailing_newline_makes_no_new_prolific_id(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 3)
    extra = ["--prolific-study-id", STUDY, "--claims-per-address", "0"]
    with running_server(sheets, tmp_path / "study.db", extra=extra) as server:
        pid = "5f1a2b3c4d5e6f7a8b9c0d1e"
        first = _prolific_start(requests.Session(), server.url, pid, "5f1a2b3c4d5e6f7a8b9c0001")
        assert first.status_code == 302 and first.headers["Location"] == "/info"
        # The same person, the id with %0A (or %0D%0A) appended, from another browser.
        for tail in ("%0A", "%0D%0A", "%0A%0A"):
            again = _prolific_start(
                requests.Session(), server.url, pid + tail, "5f1a2b3c4d5e6f7a8b9c0002"
            )
            assert again.status_code == 403, (tail, again.status_code)
        # The study id with a newline is not this study's either.
        other = _prolific_start(
            requests.Session(), server.url, "5f1a2b3c4d5e6f7a8b9c0d1f", "s-3", STUDY + "%0A"
        )
        assert other.status_code == 403
    assert StudyStore(tmp_path / "study.db", create=False).counts()["active"] == 1


# --------------------------------------------------------------------------- 1: the flood


def test_one_address_cannot_fill_the_study(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 24)
    db = tmp_path / "study.db"
    with running_server(sheets, db) as server:  # serve's defaults: 5 per address, 20 per /24
        # Invented ids from one address, each batch taken through to submit, all Bad.
        for k in range(5):
            client = RaterClient(server.url, f"junk-{k:03d}", source="127.0.0.2")
            assert client.start().url.endswith("/info")
            assert COMPLETION_CODE in _walk(client).text
        refused = RaterClient(server.url, "junk-999", source="127.0.0.2").start()
        assert refused.status_code == 429 and "Too many batches" in refused.text
        # The /24 bounds a client rotating its addresses: 15 more from .3 to .17, then 429.
        for k in range(3, 18):
            c = RaterClient(server.url, f"junk-r{k}", source=f"127.0.0.{k}")
            assert c.start().url.endswith("/info"), k
        assert RaterClient(server.url, "junk-x", source="127.0.0.18").start().status_code == 429
        # A real participant from another network is still served.
        real = RaterClient(server.url, "real-rater", source="127.0.1.1")
        assert real.start().url.endswith("/info")
        assert COMPLETION_CODE in _walk(real, rating=3).text
    counts = StudyStore(db, create=False).counts()
    assert counts["submitted"] == 6 and counts["active"] == 15


def _prolific_export(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Submission id", "Participant id", "Status", "Started at"])
        for sub, pid, status in rows:
            w.writerow([sub, pid, status, "2026-12-03T10:00:00Z"])
    return path


def test_prolific_export_voids_invented_batches_and_returns_them_to_the_pool(
    tmp_path: Path,
) -> None:
    sheets = _sheets(tmp_path, 3)
    db = tmp_path / "study.db"
    extra = ["--prolific-study-id", STUDY, "--claims-per-address", "0"]
    real = ("5f1a2b3c4d5e6f7a8b9c0d1e", "6a0000000000000000000001")
    fake = ("5f1a2b3c4d5e6f7a8b9c0d99", "6a0000000000000000000099")
    with running_server(sheets, db, extra=extra) as server:
        for pid, sub in (real, fake):
            client = RaterClient(server.url, pid)
            assert _prolific_start(client.http, server.url, pid, sub).status_code == 302
            assert COMPLETION_CODE in _walk(client).text
        # Prolific knows the real submission only (the invented one never reached Prolific); a
        # returned submission of the same study does not count.
        export = _prolific_export(
            tmp_path / "prolific_export.csv",
            [
                (real[1], real[0], "AWAITING REVIEW"),
                ("6a00000000000000000000aa", "x" * 24, "RETURNED"),
            ],
        )
        cmd = [sys.executable, "-m", "empathy_task", "void", "--db", str(db)]
        dry = subprocess.run(
            [*cmd, "--prolific-export", str(export), "--dry-run"], capture_output=True, text=True
        )
        assert dry.returncode == 0, dry.stderr
        assert "would void 1 batches" in dry.stdout
        assert len(StudyStore(db, create=False).returns()) == 20
        done = subprocess.run(
            [*cmd, "--prolific-export", str(export)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "1 submitted batches match one, 1 do not" in done.stdout
        key = read_pseudonym_key(key_path_for(db))
        assert pseudonym(fake[0], key) in done.stdout and fake[0] not in done.stdout
        rows = _admin_session(server.url).get(server.url + "/admin/returns.csv", timeout=30)
        raters = {r["rater"] for r in csv.DictReader(rows.text.splitlines())}
        assert raters == {pseudonym(real[0], key)}
        # The invented rater cannot start again, and the batch is back in the pool.
        again = _prolific_start(requests.Session(), server.url, fake[0], "6a0000000000000000000098")
        assert again.status_code == 403
        newcomer = ("5f1a2b3c4d5e6f7a8b9c0d50", "6a0000000000000000000050")
        assert _prolific_start(requests.Session(), server.url, *newcomer).status_code == 302
    # A bad export is a located error, exit 2, nothing voided.
    bad = tmp_path / "bad.csv"
    bad.write_text("Participant id,Status\nx,APPROVED\n")
    out = subprocess.run([*cmd, "--prolific-export", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "bad.csv" in out.stderr and "'submission id'" in out.stderr


def test_admin_voids_a_batch_on_the_admin_page(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 1)
    db = tmp_path / "study.db"
    with running_server(sheets, db) as server:
        junk = RaterClient(server.url, "junk-rater")
        junk.start()
        assert COMPLETION_CODE in _walk(junk).text
        assert RaterClient(server.url, "late-rater").start().status_code == 503  # full
        key = read_pseudonym_key(key_path_for(db))
        admin = _admin_session(server.url)
        csrf = _CSRF.search(admin.get(server.url + "/admin", timeout=30).text).group(1)
        # Not without the admin's session (nor with a forged pseudonym).
        outsider = requests.Session()
        page = outsider.get(server.url + "/admin", timeout=30)
        token = _CSRF.search(page.text).group(1)
        no = outsider.post(
            server.url + "/admin/void", data={"csrf": token, "rater": pseudonym("junk-rater", key)}
        )
        assert no.status_code == 401
        bad = admin.post(server.url + "/admin/void", data={"csrf": csrf, "rater": "junk-rater"})
        assert bad.status_code == 400
        ok = admin.post(
            server.url + "/admin/void", data={"csrf": csrf, "rater": pseudonym("junk-rater", key)}
        )
        assert ok.status_code == 200 and "back in the pool" in ok.text
        assert admin.get(server.url + "/admin/returns.csv", timeout=30).text.count("\n") == 1
        assert RaterClient(server.url, "junk-rater").start().status_code == 403
        late = RaterClient(server.url, "late-rater")
        assert late.start().url.endswith("/info")
    assert [v.rater for v in StudyStore(db).voided()] == [pseudonym("junk-rater", key)]


# --------------------------------------------------------------------------- 2: behind a proxy


def test_trusted_proxies_under_serve_behind_a_real_proxy(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 6)
    extra = ["--trusted-proxies", "1", "--claims-per-address", "1"]
    with running_server(sheets, tmp_path / "study.db", extra=extra) as server:
        with running_proxy(server.url) as proxy:
            # Three people behind the proxy, one claim each: all served.
            for k in range(2, 5):
                c = RaterClient(proxy, f"behind-{k}", source=f"127.0.0.{k}")
                assert c.start().url.endswith("/info"), k
            # A client's own X-Forwarded-For is not its address: the proxy's hop is.
            forger = RaterClient(proxy, "forger-1", source="127.0.0.2")
            forger.http.headers["X-Forwarded-For"] = "203.0.113.7"
            assert forger.start().status_code == 429
            # Five wrong admin tokens from one address lock that address, not the others.
            wrong = session_from("127.0.0.2")
            for _ in range(5):
                r = wrong.get(proxy + "/admin", headers={"X-Admin-Token": "x" * 20}, timeout=30)
                assert r.status_code == 401
            r = wrong.get(proxy + "/admin", headers={"X-Admin-Token": ADMIN_TOKEN}, timeout=30)
            assert r.status_code == 429
            other = session_from("127.0.0.3")
            r = other.get(proxy + "/admin", headers={"X-Admin-Token": ADMIN_TOKEN}, timeout=30)
            assert r.status_code == 200
        # A client that connects to the server directly is never trusted with the header.
        direct = RaterClient(server.url, "direct-1", source="127.0.0.9")
        direct.http.headers["X-Forwarded-For"] = "198.51.100.1"
        assert direct.start().url.endswith("/info")
        direct2 = RaterClient(server.url, "direct-2", source="127.0.0.9")
        direct2.http.headers["X-Forwarded-For"] = "198.51.100.2"
        assert direct2.start().status_code == 429


# --------------------------------------------------------------------------- 5: admin


def test_admin_token_header_and_query_are_throttled(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 1)
    with running_server(sheets, tmp_path / "study.db") as server:
        http = session_from("127.0.0.2")
        for k in range(5):
            r = http.get(
                server.url + "/admin/returns.csv", headers={"X-Admin-Token": f"guess-{k:08d}"}
            )
            assert r.status_code == 401
        # Locked: the right token too, in the header or the query, and the login form.
        r = http.get(server.url + "/admin/returns.csv", headers={"X-Admin-Token": ADMIN_TOKEN})
        assert r.status_code == 429
        assert http.get(server.url + f"/admin?token={ADMIN_TOKEN}").status_code == 429
        page = http.get(server.url + "/admin")
        csrf = _CSRF.search(page.text).group(1)
        login = http.post(server.url + "/admin/login", data={"csrf": csrf, "token": ADMIN_TOKEN})
        assert login.status_code == 429
        # Guesses in the query string count the same way, from another address.
        q = session_from("127.0.0.3")
        for k in range(5):
            assert q.get(server.url + f"/admin?token=guess-{k:08d}").status_code == 401
        assert q.get(server.url + f"/admin?token={ADMIN_TOKEN}").status_code == 429
        # Someone else is not locked out.
        fine = session_from("127.0.0.4")
        assert (
            fine.get(server.url + "/admin", headers={"X-Admin-Token": ADMIN_TOKEN}).status_code
            == 200
        )


def test_admin_lock_holds_across_an_ipv6_64(tmp_path: Path) -> None:
    # Two proxies of ours in front: an outer one (its hop is the client's, sent by this test as
    # a CDN would) and the real proxy process; the app sees the outer hop's address.
    sheets = _sheets(tmp_path, 1)
    extra = ["--trusted-proxies", "2"]
    with running_server(sheets, tmp_path / "study.db", extra=extra) as server:
        with running_proxy(server.url) as proxy:
            http = requests.Session()
            for k in range(5):
                r = http.get(
                    proxy + "/admin",
                    headers={
                        "X-Admin-Token": "y" * 20,
                        "X-Forwarded-For": f"2001:db8:1:2::{k + 1:x}",
                    },
                )
                assert r.status_code == 401
            # Another address of the same /64 is locked; another /64 is not.
            same = {"X-Admin-Token": ADMIN_TOKEN, "X-Forwarded-For": "2001:db8:1:2:ffff::99"}
            assert http.get(proxy + "/admin", headers=same).status_code == 429
            other = {"X-Admin-Token": ADMIN_TOKEN, "X-Forwarded-For": "2001:db8:1:3::1"}
            assert http.get(proxy + "/admin", headers=other).status_code == 200


def test_admin_sessions_expire_and_end_with_the_server(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 1)
    db = tmp_path / "study.db"
    extra = ["--admin-session-minutes", "0.05"]  # 3 s
    with running_server(sheets, db, extra=extra) as server:
        admin = _admin_session(server.url)
        assert admin.get(server.url + "/admin/returns.csv").status_code == 200
        time.sleep(3.5)
        assert admin.get(server.url + "/admin/returns.csv").status_code == 401
    with running_server(sheets, db) as server:
        admin = _admin_session(server.url)
        assert admin.get(server.url + "/admin/returns.csv").status_code == 200
    with running_server(sheets, db) as server:
        # The same cookie after a restart: the admin session is gone.
        assert admin.get(server.url + "/admin/returns.csv").status_code == 401


# --------------------------------------------------------------------------- 6: secrets


def test_no_secret_in_the_database_and_the_files_are_private(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 2)
    db = tmp_path / "study.db"
    with running_server(sheets, db) as server:
        rater = RaterClient(server.url, "secret-rater")
        assert rater.start().url.endswith("/info")
        _admin_session(server.url)
        for path in (db, Path(f"{db}-wal"), key_path_for(db), session_key_path_for(db)):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        with sqlite3.connect(db) as conn:
            keys = [k for (k,) in conn.execute("SELECT key FROM meta")]
        assert not [k for k in keys if k == "secret_key" or k.startswith("admin:")], keys
    # The session key survives a restart (a rater's cookie still works) ...
    with running_server(sheets, db) as server:
        rater.base = server.url
        assert rater.http.get(server.url + "/info").status_code == 200
    # ... and a key file others can read is named in a warning at start.
    key_path_for(db).chmod(0o644)
    with running_server(sheets, db) as server:
        time.sleep(0.2)
        out = "".join(server.output)
    assert "pseudonym-key is readable by others" in out, out


def test_an_old_database_gives_up_its_secret(tmp_path: Path) -> None:
    # A database of the previous version: the secret and an admin session id in its meta table,
    # mode 0644. Its raters' cookies keep working; the db keeps no secret and becomes 0600.
    sheets = _sheets(tmp_path, 2)
    db = tmp_path / "study.db"
    with running_server(sheets, db) as server:
        rater = RaterClient(server.url, "old-rater")
        assert rater.start().url.endswith("/info")
    secret = session_key_path_for(db).read_text().strip()
    session_key_path_for(db).unlink()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO meta VALUES ('secret_key', ?)", (secret,))
        conn.execute("INSERT INTO meta VALUES ('admin:abc', '1')")
    db.chmod(0o644)
    with running_server(sheets, db) as server:
        rater.base = server.url
        assert rater.http.get(server.url + "/info").status_code == 200
        out = "".join(server.output)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and "readable by others" in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0


# --------------------------------------------------------------------------- 3: slowloris


def _trickle(source: str, port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return s


def _closed_by_server(s: socket.socket, within_s: float) -> bool:
    """Whether the server closes ``s`` within ``within_s`` while we keep trickling bytes."""
    deadline = time.monotonic() + within_s
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            s.sendall(b"X")
            if s.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def test_slow_and_piled_up_connections_are_cut(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 1)
    extra = ["--request-timeout", "3", "--connections-per-address", "4"]
    with running_server(sheets, tmp_path / "study.db", extra=extra) as server:
        port = int(server.url.rsplit(":", 1)[1])
        held = [_trickle("127.0.0.2", port) for _ in range(4)]
        try:
            # A fifth connection from the same address is closed at once ...
            extra_conn = _trickle("127.0.0.2", port)
            assert _closed_by_server(extra_conn, 2.0)
            # ... while another address is served.
            assert session_from("127.0.0.3").get(server.url + "/healthz", timeout=5).text == "ok"
            # A request that trickles in is cut once the request time is up, bytes or not.
            assert all(_closed_by_server(s, 8.0) for s in held)
        finally:
            for s in held:
                s.close()
        # A connection that sends nothing is cut too.
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.settimeout(10)
        assert idle.recv(10) == b""
        idle.close()
        # The server is free again for that address.
        assert session_from("127.0.0.2").get(server.url + "/healthz", timeout=5).text == "ok"


def test_serve_on_ipv6_loopback(tmp_path: Path) -> None:
    sheets = _sheets(tmp_path, 1)
    with running_server(sheets, tmp_path / "study.db", extra=["--host", "::1"]) as server:
        assert server.url.startswith("http://[::1]:")
        client = RaterClient(server.url, "v6-rater")
        assert client.start().url.endswith("/info")


def test_networks_as_the_limits_count_them() -> None:
    from empathy_task.study.app import network_of

    assert network_of("203.0.113.7") == "203.0.113.7"
    assert network_of("203.0.113.7", wide=True) == "203.0.113.0/24"
    assert network_of("::ffff:203.0.113.7") == "203.0.113.7"
    assert (
        network_of("2001:db8:1:2:aaaa::1")
        == network_of("2001:db8:1:2::ffff")
        == ("2001:db8:1:2::/64")
    )
    assert network_of("2001:db8:1:3::1", wide=True) == "2001:db8:1::/48"
    assert network_of("not an address") == "not an address"


def test_a_bad_prolific_export_is_a_located_error(tmp_path: Path) -> None:
    from empathy_task.study.void import read_prolific_export

    short = tmp_path / "short.csv"
    short.write_text("Submission id,Participant id,Status\na,b,APPROVED\nc,d\n")
    with pytest.raises(ValueError, match=r"short\.csv, row 3: 2 cells"):
        read_prolific_export(short)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty file"):
        read_prolific_export(empty)
    ok = tmp_path / "ok.csv"
    ok.write_text(
        "\ufeffSubmission ID,Participant_id,STATUS\ns1,p1,Approved\ns2,p2,RETURNED\n"
        "s3,p3,awaiting review\n"
    )
    assert read_prolific_export(ok) == {("p1", "s1"), ("p3", "s3")}
