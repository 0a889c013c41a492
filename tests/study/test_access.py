"""Who may start a batch: Prolific's link proof, signed links, claims per address; the app's layout."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("flask")

from empathy_task.study import app as app_module  # noqa: E402
from empathy_task.study.app import StudySettings, create_app  # noqa: E402
from empathy_task.study.links import link_key_path_for, make_link, read_link_key  # noqa: E402
from empathy_task.study.store import Outcome, StudyStore  # noqa: E402
from tests.study.support import ADMIN_TOKEN  # noqa: E402
from tests.study.test_app import CSRF, Rater, _app, _sheets  # noqa: E402

ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def test_the_views_are_module_level_functions_of_one_blueprint(tmp_path: Path) -> None:
    app, _ = _app(tmp_path, _sheets([0]))
    rules = {r.endpoint for r in app.url_map.iter_rules()} - {"static"}
    assert rules and all(e.startswith("study.") for e in rules)
    for endpoint in rules:
        view = app.view_functions[endpoint]
        assert view is getattr(app_module, endpoint.split(".", 1)[1]), endpoint
    # One module serves several apps, each with its own state.
    other, _ = _app(tmp_path / "other", _sheets([1]))
    assert other.extensions["empathy_study"] is not app.extensions["empathy_study"]


# --------------------------------------------------------------------------- Prolific's link

STUDY = "60f0c0ffee0123456789abcd"
PID_A, PID_B = "5f1a2b3c4d5e6f7a8b9c0d1e", "5f1a2b3c4d5e6f7a8b9c0d1f"


def _csrf(client, query: str = "") -> str:
    page = client.get("/" + query)
    assert page.status_code == 200, page.get_data(as_text=True)
    return CSRF.search(page.get_data(as_text=True)).group(1)


def _prolific(pid: str = PID_A, study: str = STUDY, session: str = "sess-0001") -> str:
    return f"?PROLIFIC_PID={pid}&STUDY_ID={study}&SESSION_ID={session}"


def _start(client, query: str, **form: str):
    """GET the link, then POST /start as the start page's form does (its action's query)."""
    csrf = _csrf(client, query)
    action = ACTION.search(client.get("/" + query).get_data(as_text=True)).group(1)
    return client.post(action.replace("&amp;", "&"), data={"csrf": csrf, **form})


def test_prolific_study_needs_prolifics_link(tmp_path: Path) -> None:
    app, store = _app(tmp_path, _sheets(range(3)), prolific_study_id=STUDY)
    client = app.test_client()
    # No link, or a link with a part missing or malformed: a clear page, no form, no claim.
    for query in ("", f"?PROLIFIC_PID={PID_A}", _prolific(session=""), _prolific(pid="a b")):
        page = client.get("/" + query)
        assert page.status_code == 403 and "start from Prolific" in page.get_data(as_text=True)
    # The start form's pid field is not a way in either.
    fresh = app.test_client()
    csrf = CSRF.search(fresh.get("/admin").get_data(as_text=True)).group(1)
    assert fresh.post("/start", data={"csrf": csrf, "pid": PID_A}).status_code == 403
    # Another study's link.
    other = client.get("/" + _prolific(study="60f0c0ffee0123456789abce"))
    assert other.status_code == 403 and "another study" in other.get_data(as_text=True)
    assert store.counts()["active"] == 0
    # Prolific's link: the page names the participant and carries the link on to /start.
    page = client.get("/" + _prolific()).get_data(as_text=True)
    assert PID_A in page and 'name="pid"' not in page
    resp = _start(client, _prolific())
    assert resp.status_code == 302 and resp.headers["Location"] == "/info"
    assert store.counts()["active"] == 1
    # A page without a session says where to start from.
    page = app.test_client().get("/info")
    assert page.status_code == 403 and "link on Prolific" in page.get_data(as_text=True)


def test_prolific_session_resumes_only_with_its_session_id(tmp_path: Path) -> None:
    app, store = _app(tmp_path, _sheets(range(3)), prolific_study_id=STUDY)
    first = app.test_client()
    assert _start(first, _prolific(session="sess-first")).status_code == 302
    csrf = _csrf(first, _prolific(session="sess-first"))
    assert first.post("/teq", data={"csrf": csrf, **{f"teq_{i}": "2" for i in range(1, 17)}})
    # Another browser with the same Prolific session (the participant lost their cookie):
    # resumes where they were.
    phone = app.test_client()
    resp = _start(phone, _prolific(session="sess-first"))
    assert resp.status_code == 302 and resp.headers["Location"] == "/rate/1"
    assert phone.get("/rate/1").status_code == 200
    # The same PROLIFIC_PID with another SESSION_ID from another browser: refused.
    intruder = app.test_client()
    resp = _start(intruder, _prolific(session="sess-other"))
    assert resp.status_code == 409 and "in use" in resp.get_data(as_text=True)
    assert intruder.get("/rate/1").status_code == 403
    # The browser that started it resumes whatever the link says.
    resp = _start(first, _prolific(session="sess-first"))
    assert resp.status_code == 302 and resp.headers["Location"] == "/rate/1"
    assert store.counts()["active"] == 1
    # The database keeps a keyed hash of the session id, never the id itself.
    with store._read() as conn:
        dump = "\n".join(conn.iterdump())
    assert "sess-first" not in dump and PID_A not in dump


def test_resume_with_the_session_id_of_a_claim_made_without_one_is_refused(
    tmp_path: Path,
) -> None:
    # A claim made before the study was switched to Prolific has no proof to match.
    sheets = _sheets(range(2))
    app, store = _app(tmp_path, sheets)
    Rater(app, PID_A).start()
    settings = StudySettings(completion_code="C1", admin_token=ADMIN_TOKEN, prolific_study_id=STUDY)
    app2 = create_app(store, sheets, settings)
    assert _start(app2.test_client(), _prolific()).status_code == 409


# --------------------------------------------------------------------------- signed links


def _signed_app(tmp_path: Path, **settings):
    return _app(tmp_path, _sheets(range(3)), require_signed_links=True, **settings)


def _link_query(url: str) -> str:
    return "?" + url.split("?", 1)[1]


def test_signed_links_start_and_resume_and_nothing_else_does(tmp_path: Path) -> None:
    app, store = _signed_app(tmp_path)
    key = read_link_key(store.path)  # made by the app, beside the database
    assert oct(link_key_path_for(store.path).stat().st_mode & 0o777) == "0o600"
    link = make_link("https://study.example.org", "p-alice", int(time.time()) + 3600, key)
    client = app.test_client()
    resp = _start(client, _link_query(link.url))
    assert resp.status_code == 302 and resp.headers["Location"] == "/info"
    # The link proves the participant in any browser: a second device resumes the batch.
    other = app.test_client()
    assert _start(other, _link_query(link.url)).status_code == 302
    assert other.get("/info").status_code == 200
    assert store.counts()["active"] == 1
    # No link, a bare id, or the form field: refused with a clear page.
    fresh = app.test_client()
    page = fresh.get("/")
    assert page.status_code == 403 and "personal link" in page.get_data(as_text=True)
    assert fresh.get("/?pid=p-alice").status_code == 403
    csrf = CSRF.search(fresh.get("/admin").get_data(as_text=True)).group(1)
    assert fresh.post("/start", data={"csrf": csrf, "pid": "p-bob"}).status_code == 403
    assert store.counts()["active"] == 1


@pytest.mark.parametrize(
    "tamper",
    [
        lambda q: q.replace("pid=p-alice", "pid=p-alicf"),  # another id
        lambda q: re.sub(r"expires=(\d+)", lambda m: f"expires={int(m[1]) + 86400}", q),
        lambda q: re.sub(r"sig=([0-9a-f])", lambda m: "sig=" + "0123"[int(m[1], 16) % 4 - 1], q),
        lambda q: re.sub(r"&sig=[0-9a-f]+", "", q),  # no signature
        lambda q: q.replace("sig=", "sig=A"),  # malformed
    ],
    ids=["pid", "expiry", "signature", "unsigned", "malformed"],
)
def test_tampered_links_are_refused(tmp_path: Path, tamper) -> None:  # noqa: ANN001
    app, store = _signed_app(tmp_path)
    link = make_link("http://x/", "p-alice", int(time.time()) + 3600, read_link_key(store.path))
    query = tamper(_link_query(link.url))
    assert query != _link_query(link.url)
    client = app.test_client()
    page = client.get("/" + query)
    assert page.status_code == 403 and "not valid" in page.get_data(as_text=True)
    # Straight to /start with the tampered query: refused as well.
    csrf = CSRF.search(client.get("/admin").get_data(as_text=True)).group(1)
    assert client.post("/start" + query, data={"csrf": csrf}).status_code == 403
    assert store.counts()["active"] == 0


def test_an_expired_link_is_refused_and_a_link_of_another_study_too(tmp_path: Path) -> None:
    app, store = _signed_app(tmp_path)
    key = read_link_key(store.path)
    old = make_link("http://x/", "p-late", int(time.time()) - 5, key)
    page = app.test_client().get("/" + _link_query(old.url))
    assert page.status_code == 403 and "expired" in page.get_data(as_text=True)
    foreign = make_link("http://x/", "p-late", int(time.time()) + 3600, b"k" * 32)
    assert app.test_client().get("/" + _link_query(foreign.url)).status_code == 403
    assert store.counts()["active"] == 0


def test_verify_compares_in_constant_time(monkeypatch) -> None:  # noqa: ANN001
    import hmac as hmac_module

    from empathy_task.study import links

    calls = []
    real = hmac_module.compare_digest
    monkeypatch.setattr(
        links.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b)
    )
    key = b"s" * 32
    good = links.signature("p-x1", 2_000_000_000, key)
    links.verify("p-x1", "2000000000", good, key, now=0)
    with pytest.raises(links.LinkError) as e:
        links.verify("p-x1", "2000000000", "0" * 64, key, now=0)
    assert e.value.reason == "invalid" and len(calls) == 2


def test_settings_refuse_both_proofs_at_once() -> None:
    with pytest.raises(ValueError, match="not both"):
        StudySettings(
            completion_code="C",
            admin_token=ADMIN_TOKEN,
            prolific_study_id=STUDY,
            require_signed_links=True,
        )
    with pytest.raises(ValueError, match="Prolific study id"):
        StudySettings(completion_code="C", admin_token=ADMIN_TOKEN, prolific_study_id="a b")


# --------------------------------------------------------------------------- claims per address


def _from(app, addr: str, pid: str, headers: dict[str, str] | None = None):
    client = app.test_client()
    env = {"REMOTE_ADDR": addr}
    page = client.get("/", environ_base=env, headers=headers)
    csrf = CSRF.search(page.get_data(as_text=True)).group(1)
    return client.post("/start", data={"csrf": csrf, "pid": pid}, environ_base=env, headers=headers)


def test_claims_per_address_are_limited(tmp_path: Path) -> None:
    app, store = _app(tmp_path, _sheets(range(10)))  # the default limit: 3
    codes = [_from(app, "198.51.100.7", f"sock-{k}").status_code for k in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    page = _from(app, "198.51.100.7", "sock-9")
    assert "Too many batches from your network" in page.get_data(as_text=True)
    # Another address is not affected; one IPv6 /64 counts as one network.
    assert _from(app, "203.0.113.9", "other-1").status_code == 302
    v6 = [_from(app, f"2001:db8:1:2::{k:x}", f"six-{k}").status_code for k in range(1, 5)]
    assert v6 == [302, 302, 302, 429]
    assert _from(app, "2001:db8:1:3::1", "six-other").status_code == 302
    assert store.counts()["active"] == 8
    # A finished batch frees its place; an expired one too.
    with store._write() as conn:
        conn.execute("UPDATE assignments SET last_seen = last_seen - 7200 WHERE id = 1")
    assert _from(app, "198.51.100.7", "sock-5").status_code == 302
    # The addresses are stored only as keyed hashes, and only while a claim is active.
    with store._read() as conn:
        dump = "\n".join(conn.iterdump())
    assert "198.51.100.7" not in dump and "2001:db8" not in dump


def test_the_claim_limit_is_configurable_and_zero_means_none(tmp_path: Path) -> None:
    app, _ = _app(tmp_path / "one", _sheets(range(4)), claims_per_address=1)
    assert [_from(app, "198.51.100.7", f"a-{k}").status_code for k in range(2)] == [302, 429]
    app, _ = _app(tmp_path / "none", _sheets(range(4)), claims_per_address=0)
    assert {_from(app, "198.51.100.7", f"b-{k}").status_code for k in range(4)} == {302}


def test_x_forwarded_for_is_trusted_only_when_configured(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    # Default: the header is ignored (a client could send any), so forging it does not help.
    app, _ = _app(tmp_path / "a", _sheets(range(6)), claims_per_address=1)
    codes = [
        _from(app, "10.0.0.1", f"f-{k}", {"X-Forwarded-For": f"203.0.113.{k}"}).status_code
        for k in range(3)
    ]
    assert codes == [302, 429, 429]
    assert "--trusted-proxies" in caplog.text
    # Behind one trusted proxy: the address the proxy appended is the client's.
    app, _ = _app(tmp_path / "b", _sheets(range(6)), claims_per_address=1, trusted_proxies=1)
    codes = [
        _from(app, "10.0.0.1", f"g-{k}", {"X-Forwarded-For": f"6.6.6.6, 203.0.113.{k}"}).status_code
        for k in range(3)
    ]
    assert codes == [302, 302, 302]
    # A client cannot pick its address: the proxy's appended entry counts, not the forged one.
    assert _from(app, "10.0.0.1", "g-x", {"X-Forwarded-For": "203.0.113.0"}).status_code == 429


def test_the_claim_limit_holds_under_concurrent_starts(tmp_path: Path) -> None:
    sheets = _sheets(range(20))
    store = StudyStore(tmp_path / "db.sqlite")
    store.load_sheets(sheets)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def claim(k: int) -> None:
        o, _ = StudyStore(tmp_path / "db.sqlite").assign(
            f"r-{k}", timeout_s=600, client="net-1", claims_per_client=3
        )
        with lock:
            outcomes.append(o)

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count(Outcome.NEW) == 3 and outcomes.count(Outcome.TOO_MANY_CLAIMS) == 9


# --------------------------------------------------------------------------- the commands


def test_links_command_makes_links_the_app_accepts(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import csv

    from empathy_task.cli import main as cli

    db = tmp_path / "study.db"
    ids = tmp_path / "ids.txt"
    ids.write_text("# our panel\np-alice\n\np-bob\n", encoding="utf-8")
    out = tmp_path / "links.csv"
    base = ["links", "--db", str(db), "--base-url", "https://study.example.org/run"]
    assert cli([*base, "--ids", str(ids), "--out", str(out), "--expires-days", "2"]) == 0
    key = read_link_key(db)
    printed = capsys.readouterr()
    assert key.hex() not in printed.out + printed.err and "link-key" in printed.err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["participant_id"] for r in rows] == ["p-alice", "p-bob"]
    assert all(r["url"].startswith("https://study.example.org/run/?pid=") for r in rows)
    assert all(r["expires_at"].endswith("+00:00") for r in rows)
    # The app over the same database accepts each link, and keeps the key it found.
    app, store = _app(tmp_path, _sheets(range(3)), require_signed_links=True)
    for r in rows:
        assert _start(app.test_client(), _link_query(r["url"])).status_code == 302
    assert store.counts()["active"] == 2 and read_link_key(db) == key
    # --count to stdout; the same key signs.
    assert cli([*base, "--count", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "participant_id,url,expires_at" and len(lines) == 4
    assert _start(app.test_client(), _link_query(lines[1].split(",")[1])).status_code == 302


def test_links_command_refuses_bad_input(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from empathy_task.cli import main as cli

    db = tmp_path / "study.db"
    base = ["links", "--db", str(db), "--base-url", "https://study.example.org/"]
    bad = tmp_path / "ids.txt"
    bad.write_text("p-alice\nnot an id\n", encoding="utf-8")
    assert cli([*base, "--ids", str(bad)]) == 2
    assert "ids.txt, line 2" in capsys.readouterr().err
    assert cli([*base, "--id", "p-a1", "--id", "p-a1"]) == 2
    assert cli(["links", "--db", str(db), "--base-url", "ftp://x", "--count", "1"]) == 2
    assert cli(["links", "--db", str(db), "--base-url", "https://x/?a=1", "--count", "1"]) == 2
    assert cli([*base, "--count", "1", "--expires-days", "0"]) == 2
    assert cli(["links", "--db", str(tmp_path / "no" / "db"), *base[3:], "--count", "1"]) == 2
    out = tmp_path / "links.csv"
    out.write_text("keep", encoding="utf-8")
    assert cli([*base, "--count", "1", "--out", str(out)]) == 2
    assert out.read_text(encoding="utf-8") == "keep"
    assert not link_key_path_for(db).exists()  # no key made for a refused run


def test_serve_wires_the_access_options(tmp_path: Path) -> None:
    pytest.importorskip("waitress")
    import requests

    from empathy_task.study.sheets import make_sheets, write_sheets
    from tests.study.support import running_server, synthetic_items

    write_sheets(make_sheets(synthetic_items(range(3)), seed=1), tmp_path / "sheets")
    extra = ["--prolific-study-id", STUDY, "--claims-per-address", "1"]
    with running_server(tmp_path / "sheets", tmp_path / "study.db", extra=extra) as server:
        assert "STUDY_ID={{%STUDY_ID%}}" in "".join(server.output)
        assert requests.get(server.url + "/", timeout=10).status_code == 403
        codes = []
        for k in range(2):
            http = requests.Session()
            link = _prolific(pid=f"5f1a2b3c4d5e6f7a8b9c0d{k:02d}", session=f"sess-{k}")
            page = http.get(server.url + "/" + link, timeout=10)
            csrf = CSRF.search(page.text).group(1)
            action = ACTION.search(page.text).group(1).replace("&amp;", "&")
            r = http.post(server.url + action, data={"csrf": csrf}, timeout=10)
            codes.append(r.status_code)
        assert codes == [200, 429]  # the first followed its redirect to /info


def test_serve_requires_the_links_the_links_command_makes(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    pytest.importorskip("waitress")
    import requests

    from empathy_task.cli import main as cli
    from empathy_task.study.sheets import make_sheets, write_sheets
    from tests.study.support import running_server, synthetic_items

    write_sheets(make_sheets(synthetic_items(range(2)), seed=1), tmp_path / "sheets")
    db = tmp_path / "study.db"
    with running_server(tmp_path / "sheets", db, extra=["--require-signed-links"]) as server:
        assert cli(["links", "--db", str(db), "--base-url", server.url, "--id", "p-carol"]) == 0
        url = capsys.readouterr().out.strip().splitlines()[1].split(",")[1]
        assert requests.get(server.url + "/?pid=p-carol", timeout=10).status_code == 403
        http = requests.Session()
        page = http.get(url, timeout=10)
        assert page.status_code == 200 and "p-carol" in page.text
        action = ACTION.search(page.text).group(1).replace("&amp;", "&")
        csrf = CSRF.search(page.text).group(1)
        r = http.post(server.url + action, data={"csrf": csrf}, timeout=10)
        assert r.status_code == 200 and r.url.endswith("/info")
