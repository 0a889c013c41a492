"""The rating web app: the study's rater protocol over the SQLite store (Flask, server-rendered).

The flow (docs/design.md, "The human study"): participant id -> information page -> empathy tutorial ->
Toronto Empathy Questionnaire -> one screen per item of the rater's batch (Good / Okay / Bad, an
answer required to go on, Back allowed) -> submit -> completion code. Each participant gets one
batch, the least-rated first; a participant who submitted cannot start again; an abandoned batch is
released after a timeout. Every answer is stored when given.

Model replies are untrusted text: templates autoescape everything, nothing is marked safe, and the
Content-Security-Policy allows no script at all. Every POST carries a per-session token (CSRF), and
every value is checked on the server: the participant id's pattern, answer values, and that an item
belongs to the rater's own batch at that position.

Who may start a batch (docs/human_study.md, "Security model"): anyone with a well-formed id, or
only Prolific's link of the study (``prolific_study_id``), or only a signed, expiring link
(``require_signed_links``, :mod:`empathy_task.study.links`); one client network holds at most
``claims_per_address`` active batches, and starts at most ``batches_per_address`` over the study
(``batches_per_subnet`` for its IPv4 /24 or IPv6 /48). An operator can void a rater's batch
(``/admin``, or ``empathy-task void``), which puts it back in the pool. A batch resumes in the browser session that started it,
with the same Prolific session, or with the participant's signed link.
"""

from __future__ import annotations

import csv
import hmac
import io
import ipaddress
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from empathy_task.study import links, teq
from empathy_task.study.sheets import Sheet, read_sheets
from empathy_task.study.store import (
    RETURN_COLUMNS,
    Assignment,
    Incomplete,
    NotOnSheet,
    Outcome,
    SessionEnded,
    StudyStore,
)
from empathy_task.vocabulary import (
    PSEUDONYM,
    RATER_QUESTION,
    RATING_LABELS,
    RATINGS,
    key_path_for,
    load_or_create_pseudonym_key,
    pseudonym,
)

log = logging.getLogger(__name__)

#: Crowd-platform ids: Prolific's are 24 hex digits; allow other platforms' plain ids too.
#: (One pattern for the start form, Prolific's link values and signed links.)
PARTICIPANT_ID = links.PARTICIPANT_ID
#: The rating options as the study showed them, best first: (value stored, label).
RATING_OPTIONS: tuple[tuple[int, str], ...] = tuple(
    (v, RATING_LABELS[v]) for v in reversed(RATINGS)
)
#: The questionnaire's answers exactly as the form sends them.
_TEQ_ANSWERS = frozenset(str(v) for v in range(teq.MAX_ANSWER + 1))
_RATING_ANSWERS = frozenset(str(v) for v, _ in RATING_OPTIONS)
#: Wrong admin tokens allowed per client address in a window before logins wait.
_LOGIN_FAILURES = 5
_LOGIN_WINDOW_S = 60.0
_SECURITY_HEADERS = {
    # No script anywhere in the app: a reply that slipped past escaping still could not run.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The admin token may travel in a query string; never pass it on.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class StudySettings:
    """What the researcher sets on the command line."""

    completion_code: str
    admin_token: str
    pay_text: str = "2.25 EUR for about 10 minutes"
    timeout_minutes: float = 60.0
    raters_per_sheet: int = 1
    title: str = "How empathetic is this response?"
    secure_cookies: bool = False
    #: Prolific's study id: /start then needs Prolific's link (PROLIFIC_PID, STUDY_ID, SESSION_ID).
    prolific_study_id: str | None = None
    #: Start only from links made by ``empathy-task links`` (signed, expiring).
    require_signed_links: bool = False
    #: Active batches one client network may hold at once (0: no limit).
    claims_per_address: int = 3
    #: Reverse proxies in front that append to X-Forwarded-For (0: the header is ignored).
    trusted_proxies: int = 0
    #: Batches (active, submitted or voided) one client network may start over the study (0: no
    #: limit); a network is an IPv4 address or an IPv6 /64.
    batches_per_address: int = 5
    #: The same for the wider subnet: an IPv4 /24 or an IPv6 /48 (0: no limit).
    batches_per_subnet: int = 20
    #: An admin session (cookie) ends this long after login; all end when the server stops.
    admin_session_minutes: float = 240.0
    #: The WSGI server already took the client's address from X-Forwarded-For (``serve`` sets
    #: waitress's trusted-proxy options), so the app does not apply ``trusted_proxies`` again.
    forwarded_by_server: bool = False

    def __post_init__(self) -> None:
        if not self.completion_code.strip():
            raise ValueError("the completion code must not be empty")
        if len(self.admin_token) < 12:
            raise ValueError("the admin token must be at least 12 characters")
        if self.timeout_minutes <= 0:
            raise ValueError("the timeout must be a positive number of minutes")
        if self.raters_per_sheet < 1:
            raise ValueError("raters per sheet must be at least 1")
        if self.prolific_study_id is not None and not PARTICIPANT_ID.fullmatch(
            self.prolific_study_id
        ):
            raise ValueError("the Prolific study id must be 3-64 letters, digits, _ or -")
        if self.prolific_study_id and self.require_signed_links:
            # Prolific's link is the same for every participant: it cannot carry our signature.
            raise ValueError("use either a Prolific study id or signed links, not both")
        if self.claims_per_address < 0:
            raise ValueError("claims per address must be 0 (no limit) or more")
        if self.trusted_proxies < 0:
            raise ValueError("trusted proxies must be 0 or more")
        if self.batches_per_address < 0 or self.batches_per_subnet < 0:
            raise ValueError("batches per address and per subnet must be 0 (no limit) or more")
        if self.admin_session_minutes <= 0:
            raise ValueError("the admin session must last a positive number of minutes")


@dataclass(frozen=True)
class ExampleDialogue:
    """A tutorial example: an invented dialogue with an empathetic reply and why it is one."""

    emotion: str
    situation: str
    speaker_turn: str
    reply: str
    why: str


#: The tutorial's examples, one per emotion the study's tutorial used; the text is our own.
EXAMPLES: tuple[ExampleDialogue, ...] = (
    ExampleDialogue(
        "disappointed",
        "I trained all spring for a half marathon and caught the flu the week of the race.",
        "I had to pull out of the race I spent months training for. I'm so bummed.",
        "Oh no, after all those early-morning runs that must feel really unfair. I hope you're "
        "feeling better now. Your fitness is still there for the next race.",
        "It names the feeling (cognitive), shares the letdown (affective) and offers care and "
        "a hopeful view (compassionate).",
    ),
    ExampleDialogue(
        "afraid",
        "My flight went through heavy turbulence and the cabin lights went out for a minute.",
        "I honestly thought the plane was going down yesterday.",
        "That sounds terrifying. Not knowing what is happening up there is the worst part. I'm "
        "so glad you landed safely. How are you feeling today?",
        "It takes the fear seriously instead of brushing it off, and asks how the speaker is now.",
    ),
    ExampleDialogue(
        "prepared",
        "I packed an emergency kit for my family before the storm season started.",
        "Water, batteries, a radio and a first-aid kit: we're ready for whatever comes.",
        "That's really thoughtful, and it must be a relief to know your family is covered. What "
        "made you decide to do it this year?",
        "It recognises the effort and the calm it brings, and shows interest in the speaker.",
    ),
    ExampleDialogue(
        "anticipating",
        "My sister is coming home next week after a year working abroad.",
        "Only eight more days until I pick my sister up at the airport!",
        "How exciting! A whole year is a long time. I bet you already have a list of things to "
        "do together.",
        "It shares the excitement and picks up what matters to the speaker: time with family.",
    ),
    ExampleDialogue(
        "confident",
        "I rehearsed my thesis defence many times with my lab group.",
        "My defence is tomorrow and for once I actually feel ready.",
        "You've put in the work, and it shows in how you talk about it. Good luck tomorrow, "
        "you're going to do great.",
        "It affirms the speaker's confidence and backs it with encouragement.",
    ),
)


class _Study:
    """The app's state: the store, the sheets by id, and the settings."""

    def __init__(self, store: StudyStore, sheets: Sequence[Sheet], settings: StudySettings):
        self.store = store
        self.sheets = {s.sheet_id: s for s in sheets}
        self.settings = settings
        self.pseudonym_key = load_or_create_pseudonym_key(key_path_for(store.path))
        self.link_key = (
            links.load_or_create_link_key(store.path) if settings.require_signed_links else None
        )
        self.warned_forwarded = False
        self._failures: dict[str, list[float]] = {}
        self._failures_lock = threading.Lock()
        # Admin sessions live in this process only: a restart (or a copy of the database)
        # carries none, and each ends admin_session_minutes after login.
        self._admin_sessions: dict[str, float] = {}

    def login_locked(self, client: str) -> bool:
        """Whether ``client`` has had too many wrong admin tokens in the window."""
        now = time.monotonic()
        with self._failures_lock:
            recent = [t for t in self._failures.get(client, []) if now - t < _LOGIN_WINDOW_S]
            self._failures[client] = recent
            return len(recent) >= _LOGIN_FAILURES

    def login_failed(self, client: str) -> None:
        with self._failures_lock:
            self._failures.setdefault(client, []).append(time.monotonic())

    def open_admin_session(self) -> str:
        sid = secrets.token_urlsafe(24)
        with self._failures_lock:
            self._admin_sessions[sid] = time.monotonic() + self.settings.admin_session_minutes * 60
        return sid

    def admin_session_open(self, sid: str) -> bool:
        now = time.monotonic()
        with self._failures_lock:
            for old in [k for k, end in self._admin_sessions.items() if end <= now]:
                del self._admin_sessions[old]
            return sid in self._admin_sessions

    def close_admin_session(self, sid: str) -> None:
        with self._failures_lock:
            self._admin_sessions.pop(sid, None)


def create_app(store: StudyStore, sheets: Sequence[Sheet], settings: StudySettings) -> Flask:
    """The rating app over ``store`` (its sheets are loaded into it if new)."""
    store.load_sheets(sheets)
    study = _Study(store, sheets, settings)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=store.secret_key(),
        SESSION_COOKIE_NAME="empathy_study",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["empathy_study"] = study
    app.register_blueprint(bp)
    if settings.trusted_proxies and not settings.forwarded_by_server:
        # Only the address: scheme, host and prefix still come from the configuration.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=0, x_host=0, x_port=0, x_prefix=0
        )
    return app


def create_app_from_paths(
    sheets_dir: str | os.PathLike[str], db: str | os.PathLike[str], settings: StudySettings
) -> Flask:
    """The rating app for the sheets in ``sheets_dir`` with its database at ``db``."""
    return create_app(StudyStore(db), read_sheets(sheets_dir), settings)


# --------------------------------------------------------------------------- helpers


def _new_session() -> None:
    """Start a fresh session (at /start and admin login): nothing carried over, a new CSRF token."""
    session.clear()
    _csrf_token()


def _csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def _message(title: str, text: str, status: int) -> tuple[str, int]:
    return render_template("message.html", title=title, text=text), status


def _ended(a: Assignment | None) -> tuple[str, int]:
    if a is not None and a.status == "released":
        return _message(
            "Your session has expired",
            "You were away for too long, so your batch was given to someone else. You can "
            f"start again {_how_to_start()}.",
            410,
        )
    return _message("No active session", f"Please start again {_how_to_start()}.", 403)


def _how_to_start() -> str:
    settings = _study().settings
    if settings.prolific_study_id:
        return "from the study's link on Prolific"
    if settings.require_signed_links:
        return "from the personal link you were sent"
    return "with your participant id on the first page"


def _next_step(study: _Study, a: Assignment) -> str:
    """Where a returning rater picks up: the first step not yet done."""
    if a.status == "submitted":
        return url_for("study.done")
    if a.teq is None:
        return url_for("study.info")
    answered = study.store.answers(a.id)
    sheet = study.sheets[a.sheet_id]
    for item in sheet.items:
        if item.item_id not in answered:
            return url_for("study.rate", n=item.position)
    return url_for("study.rate", n=len(sheet.items))


def network_of(raw: str, *, wide: bool = False) -> str:
    """The network of address ``raw`` as the limits count it: an IPv4 address or an IPv6 /64,
    or with ``wide`` an IPv4 /24 or an IPv6 /48 (an IPv4-mapped IPv6 address counts as IPv4).

    One household or phone usually holds a whole IPv6 /64, so counting single v6 addresses would
    give one machine 2^64 allowances; one hosting customer often holds a whole IPv4 /24 or v6 /48.
    """
    try:
        addr = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((addr, 48 if wide else 64), strict=False))
    return str(ipaddress.IPv4Network((addr, 24), strict=False)) if wide else str(addr)


def _client_network(*, wide: bool = False) -> str:
    """This request's client network (:func:`network_of`)."""
    study = _study()
    if not study.settings.trusted_proxies and not study.warned_forwarded:
        if request.headers.get("X-Forwarded-For"):
            study.warned_forwarded = True
            log.warning(
                "requests carry X-Forwarded-For but --trusted-proxies is 0: every client counts "
                "as the proxy's address for --claims-per-address; set --trusted-proxies 1 if "
                "one proxy of yours is in front"
            )
    return network_of(request.remote_addr or "", wide=wide)


@dataclass(frozen=True)
class _Entry:
    """Who is starting: the participant id and what proves it (see :func:`_entry`)."""

    pid: str
    proof: str | None = None  # a hashed platform session id, kept with a new claim
    proven: bool = False  # a signed link: the link itself proves the id, in any browser
    link: dict[str, str] | None = None  # the link's query values, carried on to POST /start


def _refused(title: str, text: str) -> tuple[str, int]:
    return _message(title, text, 403)


def _entry(values: Any) -> _Entry | tuple[str, int]:
    """The participant from the link's values (query or form), as the study's settings demand,
    or the 403 page that refuses them."""
    study = _study()
    settings = study.settings
    if settings.prolific_study_id:
        got = {k: values.get(k, "") for k in ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")}
        if not all(PARTICIPANT_ID.fullmatch(v) for v in got.values()):
            return _refused(
                "Please start from Prolific",
                "This study can only be started from its link on Prolific. Please go back to "
                "Prolific and open the study from there.",
            )
        if not hmac.compare_digest(got["STUDY_ID"].encode(), settings.prolific_study_id.encode()):
            return _refused(
                "This link belongs to another study",
                "The study id in this link is not this study's. Please open the study from its "
                "link on Prolific.",
            )
        proof = links.prolific_session_proof(got["SESSION_ID"], study.pseudonym_key)
        return _Entry(got["PROLIFIC_PID"], proof=proof, link=got)
    if settings.require_signed_links:
        got = {k: values.get(k, "") for k in ("pid", "expires", "sig")}
        assert study.link_key is not None
        try:
            links.verify(got["pid"], got["expires"], got["sig"], study.link_key)
        except links.LinkError as e:
            if e.reason == "expired":
                return _refused(
                    "This link has expired",
                    "Your personal link to this study has expired. Please ask the researcher "
                    "for a new one.",
                )
            return _refused(
                "This link is not valid",
                "This study can only be started from the personal link you were sent, exactly "
                "as it was sent. Please open that link again, or ask the researcher for a new "
                "one.",
            )
        return _Entry(got["pid"], proven=True, link=got)
    # No link required: the id typed into (or prefilled in) the start form.
    return _Entry(request.form.get("pid", "").strip())


#: The app's routes and hooks. The views are module-level functions that find the study's state in
#: ``current_app.extensions``, so one module serves any number of apps (one per test).
bp = Blueprint("study", __name__)


def _study() -> _Study:
    study: _Study = current_app.extensions["empathy_study"]
    return study


def _current() -> Assignment | None:
    """The assignment of this browser session, if any."""
    aid = session.get("aid")
    if not isinstance(aid, int):
        return None
    return _study().store.assignment(aid)


def _rating_in_progress() -> Assignment | BaseResponse | tuple[str, int]:
    """This session's assignment while its rater may still answer, else the page to show."""
    a = _current()
    if a is None or a.status == "released":
        return _ended(a)
    if a.status == "submitted":
        return redirect(url_for("study.done"))
    return a


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {"csrf_token": _csrf_token, "settings": _study().settings}


@bp.before_app_request
def _check_csrf() -> None:
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(sent, expected):
            abort(400, "the form has expired; reload the page and try again")


@bp.after_app_request
def _headers(resp: Response) -> Response:
    location = resp.headers.get("Location")
    if location:
        # Werkzeug's own redirects (e.g. "//x" -> "/") are absolute URLs built from the
        # request's Host header; keep only path and query so no redirect names a host.
        parts = urlsplit(location)
        if parts.scheme or parts.netloc:
            path = "/" + parts.path.lstrip("/")
            resp.headers["Location"] = path + (f"?{parts.query}" if parts.query else "")
    for name, value in _SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)
    return resp


@bp.app_errorhandler(400)
def _bad_request(e: Exception) -> tuple[str, int]:
    return _message("Bad request", getattr(e, "description", "bad request"), 400)


@bp.app_errorhandler(429)
def _too_many(e: Exception) -> tuple[str, int]:
    return _message("Too many requests", getattr(e, "description", "too many requests"), 429)


@bp.app_errorhandler(404)
def _not_found(e: Exception) -> tuple[str, int]:
    return _message("Not found", "There is no such page.", 404)


# --------------------------------------------------------------------------- rater pages


@bp.get("/healthz")
def healthz() -> str:
    return "ok"


@bp.get("/")
def start() -> str | tuple[str, int]:
    settings = _study().settings
    if settings.prolific_study_id or settings.require_signed_links:
        entry = _entry(request.args)
        if not isinstance(entry, _Entry):
            return entry
        return render_template("start.html", pid=entry.pid, link=entry.link, error=None)
    pid = request.args.get("PROLIFIC_PID") or request.args.get("pid") or ""
    if not PARTICIPANT_ID.fullmatch(pid):
        pid = ""
    return render_template("start.html", pid=pid, link=None, error=None)


@bp.post("/start")
def begin() -> BaseResponse | tuple[str, int]:
    study = _study()
    settings = study.settings
    # The link's values travel in the query string of the form's action (or in the form).
    entry = _entry(request.values)
    if not isinstance(entry, _Entry):
        return entry
    pid = entry.pid
    if not PARTICIPANT_ID.fullmatch(pid):
        error = "Please enter your participant id (3-64 letters, digits, _ or -)."
        return render_template("start.html", pid="", link=None, error=error), 400
    outcome, a = study.store.assign(
        pseudonym(pid, study.pseudonym_key),
        timeout_s=settings.timeout_minutes * 60,
        raters_per_sheet=settings.raters_per_sheet,
        client=pseudonym("client:" + _client_network(), study.pseudonym_key),
        claims_per_client=settings.claims_per_address,
        proof=entry.proof,
        subnet=pseudonym("subnet:" + _client_network(wide=True), study.pseudonym_key),
        batches_per_client=settings.batches_per_address,
        batches_per_subnet=settings.batches_per_subnet,
    )
    if outcome is Outcome.ALREADY_SUBMITTED:
        return _message(
            "You have already taken part",
            "This participant id has already completed a batch. Each participant can "
            "take part once. Thank you!",
            409,
        )
    if outcome is Outcome.VOIDED:
        return _message(
            "You cannot take part again",
            "The researcher has withdrawn this participant id's batch. Please contact the "
            "researcher if you think this is a mistake.",
            403,
        )
    if outcome is Outcome.RESUMED and a is not None and not _may_resume(a, entry):
        # The participant id alone is no credential: only the browser session that started
        # the batch resumes it, or the same platform session, or a signed link (another one
        # waits until the claim expires).
        return _message(
            "This participant id is in use",
            "A batch for this participant id was started in another browser. Please "
            "continue there, or start again once that session has expired.",
            409,
        )
    if outcome is Outcome.TOO_MANY_CLAIMS:
        return _message(
            "Too many batches from your network",
            f"{settings.claims_per_address} batches are already being rated from your network "
            "(your internet connection) right now. Please try again once one of them is "
            f"finished, or in {settings.timeout_minutes:g} minutes.",
            429,
        )
    if outcome is Outcome.TOO_MANY_BATCHES:
        return _message(
            "Too many batches from your network",
            "As many batches as this study allows have already been rated from your network "
            "(your internet connection). Thank you for your interest; please return the study "
            "on your platform.",
            429,
        )
    if outcome is Outcome.FULL or a is None:
        return _message(
            "The study is full",
            "All batches have been taken. Thank you for your interest; please return the "
            "study on your platform.",
            503,
        )
    _new_session()
    session["aid"] = a.id
    return redirect(_next_step(study, a) if outcome is Outcome.RESUMED else url_for("study.info"))


def _may_resume(a: Assignment, entry: _Entry) -> bool:
    if session.get("aid") == a.id or entry.proven:
        return True
    kept = _study().store.claim_proof(a.id)
    return bool(entry.proof and kept and hmac.compare_digest(entry.proof, kept))


@bp.get("/info")
def info() -> str | tuple[str, int]:
    study = _study()
    a = _current()
    if a is None or a.status == "released":
        return _ended(a)
    return render_template("info.html", n_items=len(study.sheets[a.sheet_id].items))


@bp.get("/tutorial")
def tutorial() -> str | tuple[str, int]:
    a = _current()
    if a is None or a.status == "released":
        return _ended(a)
    return render_template("tutorial.html", examples=EXAMPLES, options=RATING_OPTIONS)


@bp.route("/teq", methods=["GET", "POST"])
def questionnaire() -> BaseResponse | str | tuple[str, int]:
    study = _study()
    a = _rating_in_progress()
    if not isinstance(a, Assignment):
        return a
    given: dict[int, int] = dict(enumerate(a.teq or (), start=1))
    missing: list[int] = []
    if request.method == "POST":
        given = {}
        for number in range(1, teq.N_ITEMS + 1):
            value = request.form.get(f"teq_{number}", "")
            if value in _TEQ_ANSWERS:  # exact ASCII strings: no "²", "٣" or " 2"
                given[number] = int(value)
            elif value:
                abort(400, f"not an answer to question {number}")
            else:
                missing.append(number)
        if not missing:
            try:
                study.store.save_teq(a.id, [given[i] for i in range(1, teq.N_ITEMS + 1)])
            except SessionEnded:
                return _ended(study.store.assignment(a.id))
            return redirect(url_for("study.rate", n=1))
    status = 400 if missing else 200
    return render_template(
        "teq.html", items=teq.ITEMS, options=teq.OPTIONS, given=given, missing=missing
    ), status


@bp.route("/rate/<int:n>", methods=["GET", "POST"])
def rate(n: int) -> BaseResponse | str | tuple[str, int]:
    study = _study()
    a = _rating_in_progress()
    if not isinstance(a, Assignment):
        return a
    sheet = study.sheets[a.sheet_id]
    if not 1 <= n <= len(sheet.items):
        abort(404)
    if a.teq is None:
        return redirect(url_for("study.questionnaire"))
    answered = study.store.answers(a.id)
    for earlier in sheet.items[: n - 1]:
        if earlier.item_id not in answered:  # no skipping ahead by editing the URL
            return redirect(url_for("study.rate", n=earlier.position))
    item = sheet.items[n - 1]
    error = None
    if request.method == "POST":
        if request.form.get("item_id", "") != item.item_id:
            abort(400, "this answer does not belong to your batch")
        value = request.form.get("rating", "")
        if value in _RATING_ANSWERS:
            last = n == len(sheet.items)
            try:
                study.store.save_answer(a.id, item.item_id, n, int(value), submit=last)
            except SessionEnded:
                return _ended(study.store.assignment(a.id))
            except NotOnSheet:
                abort(400, "this answer does not belong to your batch")
            except Incomplete:
                return redirect(_next_step(study, a))
            return redirect(url_for("study.done") if last else url_for("study.rate", n=n + 1))
        if value:
            abort(400, "not one of the answers Good, Okay or Bad")
        error = "Please choose Good, Okay or Bad to go on."
    return render_template(
        "rate.html",
        item=item,
        n=n,
        total=len(sheet.items),
        chosen=answered.get(item.item_id),
        options=RATING_OPTIONS,
        question=RATER_QUESTION,
        error=error,
    ), (400 if error else 200)


@bp.get("/done")
def done() -> str | tuple[str, int]:
    a = _current()
    if a is None or a.status != "submitted":
        return _ended(a)
    return render_template("done.html", code=_study().settings.completion_code)


# --------------------------------------------------------------------------- researcher pages


def _is_admin() -> bool:
    """An open admin session, or the token in ``X-Admin-Token`` or ``?token=``.

    A token sent with the request is throttled as the login is (by client network: an IPv4
    address or IPv6 /64): after too many wrong ones, 429 for the rest of the window.
    """
    study = _study()
    sid = session.get("admin")
    if isinstance(sid, str) and study.admin_session_open(sid):
        return True
    sent = request.headers.get("X-Admin-Token") or request.args.get("token") or ""
    if not sent:
        return False
    client = _client_network()
    if study.login_locked(client):
        abort(429, "Too many wrong tokens; wait a minute and try again.")
    if hmac.compare_digest(sent.encode(), study.settings.admin_token.encode()):
        return True
    study.login_failed(client)
    return False


@bp.get("/admin")
def admin() -> str | tuple[str, int]:
    study = _study()
    if not _is_admin():
        return render_template("admin_login.html", error=None), 401
    progress = study.store.progress()
    counts = study.store.counts()
    return render_template(
        "admin.html", progress=progress, counts=counts, voided=study.store.voided(), note=None
    )


@bp.post("/admin/void")
def admin_void() -> str | tuple[str, int]:
    """Void one rater's batch (by the pseudonym the returns show): see :meth:`StudyStore.void`."""
    study = _study()
    if not _is_admin():
        return _message("Not allowed", "The admin token is needed.", 401)
    rater = request.form.get("rater", "").strip()
    if not PSEUDONYM.fullmatch(rater):
        abort(400, "give the rater's pseudonym as the returns show it (r- and 32 hex digits)")
    done = study.store.void(rater, reason=f"admin page {_iso_now()}")
    note = (
        f"Voided {rater}'s batch {done[0].sheet_id} (was {done[0].was}); it is back in the pool."
        if done
        else f"{rater} has no batch in progress or submitted: nothing voided."
    )
    log.info("admin voided %d batch(es) of %s", len(done), rater)
    return render_template(
        "admin.html",
        progress=study.store.progress(),
        counts=study.store.counts(),
        voided=study.store.voided(),
        note=note,
    ), (200 if done else 404)


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@bp.post("/admin/login")
def admin_login() -> BaseResponse | tuple[str, int]:
    study = _study()
    client = _client_network()
    if study.login_locked(client):
        error = "Too many wrong tokens; wait a minute and try again."
        return render_template("admin_login.html", error=error), 429
    sent = request.form.get("token", "")
    if not hmac.compare_digest(sent.encode(), study.settings.admin_token.encode()):
        study.login_failed(client)
        return render_template("admin_login.html", error="Wrong token."), 401
    _new_session()
    session["admin"] = study.open_admin_session()
    return redirect(url_for("study.admin"))


@bp.post("/admin/logout")
def admin_logout() -> BaseResponse:
    study = _study()
    sid = session.pop("admin", None)
    if isinstance(sid, str):
        study.close_admin_session(sid)
    return redirect(url_for("study.admin"))


@bp.get("/admin/returns.<fmt>")
def export(fmt: str) -> Response | tuple[str, int]:
    study = _study()
    if not _is_admin():
        return _message("Not allowed", "The admin token is needed.", 401)
    if fmt not in ("csv", "jsonl"):
        abort(404)
    rows = study.store.returns()
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(RETURN_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        body, mimetype = buf.getvalue(), "text/csv"
    else:
        body = "".join(json.dumps(r) + "\n" for r in rows)
        mimetype = "application/x-ndjson"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f"attachment; filename=returns.{fmt}"},
    )
