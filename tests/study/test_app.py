"""The rating app through Flask's test client, and its store: protocol, assignment, bad input."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

pytest.importorskip("flask")

from empathy_task.study.app import StudySettings, create_app  # noqa: E402
from empathy_task.study.sheets import Sheet, make_sheets  # noqa: E402
from empathy_task.study.store import (  # noqa: E402
    NotOnSheet,
    Outcome,
    SessionEnded,
    StoreError,
    StudyStore,
)
from empathy_task.vocabulary import key_path_for, pseudonym, read_pseudonym_key
from tests.study.support import ADMIN_TOKEN, COMPLETION_CODE, synthetic_items  # noqa: E402

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ITEM = re.compile(r'name="item_id" value="([^"]+)"')


def _sheets(parts=range(4), **overrides: str) -> list[Sheet]:
    items = synthetic_items(parts)
    for col, text in overrides.items():
        items[col] = text
    return list(make_sheets(items, seed=1).sheets)


def _pseudonym(store: StudyStore, pid: str) -> str:
    """The keyed pseudonym the app gives ``pid``: under the key beside the database."""
    return pseudonym(pid, read_pseudonym_key(key_path_for(store.path)))


def _app(tmp_path: Path, sheets: list[Sheet], **settings):
    store = StudyStore(tmp_path / "study.db")
    cfg = StudySettings(completion_code=COMPLETION_CODE, admin_token=ADMIN_TOKEN, **settings)
    app = create_app(store, sheets, cfg)
    return app, store


class Rater:
    def __init__(self, app, pid: str) -> None:
        self.client = app.test_client()
        self.pid = pid
        self.csrf = CSRF.search(self.client.get("/").get_data(as_text=True)).group(1)

    def post(self, path: str, **data: str):
        return self.client.post(path, data={"csrf": self.csrf, **data})

    def start(self):
        resp = self.post("/start", pid=self.pid)
        # The token rotates at /start; any page shows the session's current one.
        self.csrf = CSRF.search(self.client.get("/").get_data(as_text=True)).group(1)
        return resp

    def teq(self, value: int = 2):
        return self.post("/teq", **{f"teq_{i}": str(value) for i in range(1, 17)})

    def item(self, n: int) -> str:
        return ITEM.search(self.client.get(f"/rate/{n}").get_data(as_text=True)).group(1)

    def rate(self, n: int, rating: str = "3", item_id: str | None = None):
        return self.post(f"/rate/{n}", item_id=item_id or self.item(n), rating=rating)


def _complete(r: Rater, ratings=("3",) * 10):
    assert r.start().status_code == 302
    assert r.teq().headers["Location"].endswith("/rate/1")
    for n, rating in enumerate(ratings, start=1):
        resp = r.rate(n, rating)
    return resp


def test_a_whole_session_and_its_returns(tmp_path: Path) -> None:
    sheets = _sheets()
    app, store = _app(tmp_path, sheets)
    r = Rater(app, "5f1a2b3c4d5e6f7a8b9c0d1e")
    assert r.start().headers["Location"].endswith("/info")
    info = r.client.get("/info").get_data(as_text=True)
    assert "2.25 EUR" in info and "10 short dialogues" in info
    tutorial = r.client.get("/tutorial").get_data(as_text=True)
    for emotion in ("disappointed", "afraid", "prepared", "anticipating", "confident"):
        assert emotion in tutorial
    # Rating screens wait for the questionnaire, which needs all 16 answers.
    assert r.client.get("/rate/1").headers["Location"].endswith("/teq")
    partial = r.post("/teq", **{f"teq_{i}": "1" for i in range(1, 16)})
    assert partial.status_code == 400 and "missing: 16" in partial.get_data(as_text=True)
    assert r.teq(1).status_code == 302
    page = r.client.get("/rate/1").get_data(as_text=True)
    assert "Screen 1 of 10" in page and "How empathetic is Speaker #2" in page
    # No answer, no next screen; no skipping ahead.
    assert r.post("/rate/1", item_id=r.item(1)).status_code == 400
    assert r.client.get("/rate/3").headers["Location"].endswith("/rate/1")
    for n in range(1, 10):
        assert r.rate(n, "1").headers["Location"].endswith(f"/rate/{n + 1}")
    # Back shows the earlier answer, which can be changed.
    assert re.search(
        r'value="1" required\s+checked', r.client.get("/rate/4").get_data(as_text=True)
    )
    r.rate(4, "2")
    done = r.rate(10, "3")
    assert done.headers["Location"].endswith("/done")
    assert COMPLETION_CODE in r.client.get("/done").get_data(as_text=True)
    [a] = [x for x in (store.assignment(i) for i in range(1, 5)) if x]
    assert a.status == "submitted" and a.teq == (1,) * 16 and a.rater == _pseudonym(store, r.pid)
    answers = store.answers(a.id)
    sheet = next(s for s in sheets if s.sheet_id == a.sheet_id)
    assert answers == {
        it.item_id: (2 if it.position == 4 else 3 if it.position == 10 else 1) for it in sheet.items
    }
    # The same participant cannot start again, in this browser or another.
    assert r.start().status_code == 409
    assert Rater(app, r.pid).start().status_code == 409
    # The returns: pseudonymised, only through the admin token.
    assert Rater(app, "x" * 5).client.get("/admin/returns.csv").status_code == 401
    admin = app.test_client()
    body = admin.get("/admin/returns.csv", headers={"X-Admin-Token": ADMIN_TOKEN}).get_data(
        as_text=True
    )
    assert len(body.strip().splitlines()) == 11 and r.pid not in body
    assert _pseudonym(store, r.pid) in body
    jsonl = admin.get(f"/admin/returns.jsonl?token={ADMIN_TOKEN}").get_data(as_text=True)
    assert len(jsonl.strip().splitlines()) == 10
    page = admin.get("/admin", headers={"X-Admin-Token": ADMIN_TOKEN}).get_data(as_text=True)
    assert "1 batches submitted" in page


def test_model_replies_are_shown_as_text(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)><b>bold</b>'
    app, _ = _app(tmp_path, _sheets([0], reply=evil, situation="<i>it</i> & more"))
    r = Rater(app, "participant1")
    r.start()
    r.teq()
    resp = r.client.get("/rate/1")
    page = resp.get_data(as_text=True)
    assert "<script>" not in page and "<img" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;i&gt;it&lt;/i&gt; &amp; more" in page
    assert "script-src" not in resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


def test_forged_and_malformed_input_is_refused(tmp_path: Path) -> None:
    sheets = _sheets()
    app, store = _app(tmp_path, sheets)
    for pid in ("", "ab", "a b c", "<script>", "x" * 65, "p;drop"):
        resp = Rater(app, pid).start()
        assert resp.status_code == 400
    assert store.counts()["active"] == 0
    a, b = Rater(app, "rater-a"), Rater(app, "rater-b")
    a.start(), a.teq(), b.start(), b.teq()
    # No CSRF token, or another session's token.
    assert a.client.post("/rate/1", data={"item_id": a.item(1), "rating": "3"}).status_code == 400
    assert (
        a.client.post(
            "/rate/1", data={"csrf": b.csrf, "item_id": a.item(1), "rating": "3"}
        ).status_code
        == 400
    )
    # An item of another rater's batch, or of another screen of one's own.
    assert a.rate(1, "3", item_id=b.item(1)).status_code == 400
    assert a.rate(1, "3", item_id="i-000000000000").status_code == 400
    for value in ("0", "4", "Good", "3; DROP TABLE answers", "-1"):
        assert a.rate(1, value).status_code == 400
    assert a.post("/teq", **{f"teq_{i}": "7" for i in range(1, 17)}).status_code == 400
    assert a.client.get("/rate/11").status_code == 404
    assert store.answers(1) == {} and store.answers(2) == {}
    # Pages past the start need a session.
    fresh = app.test_client()
    for path in ("/info", "/tutorial", "/teq", "/rate/1", "/done"):
        assert fresh.get(path).status_code == 403
    assert fresh.post("/start", data={"pid": "rater-c"}).status_code == 400
    # Wrong admin token.
    assert fresh.get("/admin/returns.csv?token=wrong").status_code == 401
    assert fresh.get("/admin").status_code == 401


def test_least_rated_batch_first_and_resume(tmp_path: Path) -> None:
    sheets = _sheets(range(3))
    # Seven raters from one test client (one address): no claim limit here.
    app, store = _app(
        tmp_path,
        sheets,
        raters_per_sheet=2,
        claims_per_address=0,
        batches_per_address=0,
        batches_per_subnet=0,
    )
    given, raters = [], []
    for k in range(6):
        raters.append(Rater(app, f"rater-{k}"))
        raters[-1].start()
        given.append(store.assignment(k + 1).sheet_id)
    assert given[:3] == [s.sheet_id for s in sheets] == given[3:]
    assert Rater(app, "rater-6").start().status_code == 503
    # A returning rater (same browser) resumes their own batch where they left off; the id alone
    # in another browser does not take the batch over.
    r = raters[0]
    r.teq(), r.rate(1), r.rate(2)
    assert r.start().headers["Location"].endswith("/rate/3")
    intruder = Rater(app, "rater-0")
    assert intruder.start().status_code == 409
    assert intruder.client.get("/rate/1").status_code == 403
    assert store.counts()["active"] == 6


def test_store_releases_abandoned_batches(tmp_path: Path) -> None:
    sheets = _sheets(range(2))
    store = StudyStore(tmp_path / "db.sqlite")
    store.load_sheets(sheets)
    o1, a1 = store.assign("r-1", timeout_s=60, now=1000.0)
    o2, a2 = store.assign("r-2", timeout_s=60, now=1000.0)
    assert (o1, o2) == (Outcome.NEW, Outcome.NEW) and a1.sheet_id != a2.sheet_id
    assert store.assign("r-3", timeout_s=60, now=1030.0)[0] is Outcome.FULL
    store.save_teq(a2.id, [0] * 16, now=1050.0)
    # r-1 was idle for more than a minute: their batch goes to r-3; r-2 is still working.
    o3, a3 = store.assign("r-3", timeout_s=60, now=1080.0)
    assert o3 is Outcome.NEW and a3.sheet_id == a1.sheet_id
    assert store.assignment(a1.id).status == "released"
    with pytest.raises(SessionEnded):
        store.save_answer(a1.id, sheets[0].items[0].item_id, 1, 3)
    item = next(s for s in sheets if s.sheet_id == a2.sheet_id).items[0]
    with pytest.raises(NotOnSheet):
        store.save_answer(a2.id, item.item_id, 2, 3)
    with pytest.raises(ValueError):
        store.save_answer(a2.id, item.item_id, 1, 4)
    # The database belongs to its sheets.
    with pytest.raises(StoreError, match="another set of sheets"):
        store.load_sheets(_sheets(range(2)))


def test_released_session_is_told_to_start_again(tmp_path: Path) -> None:
    app, store = _app(tmp_path, _sheets(range(1)), timeout_minutes=1)
    r = Rater(app, "slow-rater")
    r.start()
    r.teq()
    item = r.item(1)
    with store._write() as conn:  # an hour passes
        conn.execute("UPDATE assignments SET last_seen = last_seen - 3600")
    assert Rater(app, "next-rater").start().status_code == 302
    resp = r.rate(1, "3", item_id=item)
    assert resp.status_code == 410 and "expired" in resp.get_data(as_text=True)


def test_concurrent_assignment_is_atomic(tmp_path: Path) -> None:
    sheets = _sheets(range(20))
    store = StudyStore(tmp_path / "db.sqlite")
    store.load_sheets(sheets)
    results: list[tuple[Outcome, str | None]] = []
    lock = threading.Lock()

    def claim(k: int) -> None:
        # Separate store objects, like separate server processes on one database.
        outcome, a = StudyStore(tmp_path / "db.sqlite").assign(f"r-{k % 30}", timeout_s=600)
        with lock:
            results.append((outcome, a.sheet_id if a else None))

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    new = [s for o, s in results if o is Outcome.NEW]
    assert len(results) == 60 and len(new) == 20 and len(set(new)) == 20
    assert sum(o is Outcome.RESUMED for o, _ in results) == 20
    assert sum(o is Outcome.FULL for o, _ in results) == 20


def test_serve_refuses_bad_set_up(tmp_path: Path) -> None:
    from empathy_task.cli import main as cli

    base = ["serve", "--db", str(tmp_path / "db.sqlite"), "--completion-code", "X1"]
    assert cli([*base, "--sheets", str(tmp_path / "missing")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli([*base, "--sheets", str(empty)]) == 2
    from empathy_task.study.sheets import write_sheets

    write_sheets(make_sheets(synthetic_items([0]), seed=1), tmp_path / "a")
    StudyStore(tmp_path / "db.sqlite").load_sheets(_sheets([1]))
    # The database already belongs to other sheets; a short admin token is refused too.
    assert cli([*base, "--sheets", str(tmp_path / "a"), "--admin-token", "x" * 20]) == 2
    assert cli([*base, "--sheets", str(tmp_path / "a"), "--admin-token", "short"]) == 2


def test_the_kit_imports_flask_only_in_the_app() -> None:
    import subprocess
    import sys

    code = (
        "import sys, empathy_task.cli.sheets, empathy_task.cli.serve, "
        "empathy_task.cli.import_returns, empathy_task.study.sheets, empathy_task.study.store, "
        "empathy_task.study.returns; assert 'flask' not in sys.modules, 'flask imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_the_ascii_answers_the_form_offers(tmp_path: Path) -> None:
    app, store = _app(tmp_path, _sheets([0]))
    r = Rater(app, "ascii-rater")
    r.start()
    # Unicode digits: isdigit() is true for some, int() accepts others; none is an answer.
    for value in ("²", "¹", "③", "٣", "𝟐", " 2", "2 ", "+2", "02"):
        answers = {f"teq_{i}": "2" for i in range(1, 17)}
        answers["teq_1"] = value
        assert r.post("/teq", **answers).status_code == 400, value
    assert r.teq().status_code == 302
    for value in ("٣", "𝟑", "³", " 3", "03"):
        assert r.rate(1, value).status_code == 400, value
    assert store.answers(1) == {}


def test_redirects_do_not_reflect_the_host_header(tmp_path: Path) -> None:
    app, _ = _app(tmp_path, _sheets([0]))
    client = app.test_client()
    for path in ("//x", "/static/../static/study.css"):
        resp = client.get(path, headers={"Host": "evil.example"})
        assert "evil.example" not in resp.headers.get("Location", ""), path
    r = Rater(app, "host-rater")
    assert r.start().headers["Location"] == "/info"  # the app's own redirects are relative


def test_reposting_start_does_not_renew_a_claim(tmp_path: Path) -> None:
    app, store = _app(tmp_path, _sheets(range(1)), timeout_minutes=1)
    r = Rater(app, "claim-holder")
    r.start()
    with store._write() as conn:  # 50 s pass without work
        conn.execute("UPDATE assignments SET last_seen = last_seen - 50")
    r.start()  # re-posting /start is not work on the batch
    with store._write() as conn:  # 20 more seconds: 70 s idle in all
        conn.execute("UPDATE assignments SET last_seen = last_seen - 20")
    assert Rater(app, "real-rater").start().status_code == 302
    assert store.assignment(1).status == "released"


def _admin_login(client, token: str):
    csrf = CSRF.search(client.get("/admin").get_data(as_text=True)).group(1)
    return client.post("/admin/login", data={"csrf": csrf, "token": token})


def test_admin_logout_ends_the_session_on_the_server(tmp_path: Path) -> None:
    app, _ = _app(tmp_path, _sheets([0]))
    client = app.test_client()
    before = CSRF.search(client.get("/admin").get_data(as_text=True)).group(1)
    assert _admin_login(client, ADMIN_TOKEN).status_code == 302
    page = client.get("/admin").get_data(as_text=True)
    after = CSRF.search(page).group(1)
    assert after != before  # the token rotates at login
    saved = client.get_cookie("empathy_study").value
    assert client.post("/admin/logout", data={"csrf": after}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("empathy_study", saved)
    assert replay.get("/admin/returns.csv").status_code == 401


def test_wrong_admin_logins_are_throttled(tmp_path: Path) -> None:
    app, _ = _app(tmp_path, _sheets([0]))
    client = app.test_client()
    codes = [_admin_login(client, "wrong-token-000000").status_code for _ in range(12)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    # While locked, even the right token waits.
    assert _admin_login(client, ADMIN_TOKEN).status_code == 429


def test_csrf_token_rotates_at_start(tmp_path: Path) -> None:
    app, _ = _app(tmp_path, _sheets([0]))
    r = Rater(app, "rotate-rater")
    before = r.csrf
    assert r.start().status_code == 302
    page = r.client.get("/teq").get_data(as_text=True)
    assert CSRF.search(page).group(1) != before
