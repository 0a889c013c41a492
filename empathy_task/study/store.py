"""The rating app's SQLite store: sheets, assignments, TEQ answers and ratings.

Every answer is committed the moment it is given (WAL journal, ``synchronous=FULL``), so a crash or
restart of the server loses nothing that a rater has sent. Writes run in ``BEGIN IMMEDIATE``
transactions: SQLite then admits one writer at a time, which makes the assignment of batches atomic
under concurrent requests, also across processes. Raters are stored only as keyed pseudonyms
(:func:`empathy_task.vocabulary.pseudonym`); the crowd-platform id never reaches the database. An
active claim also keeps a keyed hash of the client's network (for the claim limit) and of the
platform's session id (to resume from another browser); both go when the claim ends.

No Flask here: the store is also what ``import-returns`` reads a database with.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from empathy_task.study import teq
from empathy_task.study.sheets import Sheet
from empathy_task.vocabulary import RATINGS

log = logging.getLogger(__name__)

#: Columns of :meth:`StudyStore.returns`, the admin export.
RETURN_COLUMNS: tuple[str, ...] = (
    "rater",
    "sheet_id",
    "item_id",
    "position",
    "rating",
    "teq",
    "submitted_at",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sheets (
    sheet_id TEXT PRIMARY KEY,
    n_items  INTEGER NOT NULL,
    ord      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    item_id  TEXT PRIMARY KEY,
    sheet_id TEXT NOT NULL REFERENCES sheets(sheet_id),
    position INTEGER NOT NULL,
    UNIQUE (sheet_id, position)
);
CREATE TABLE IF NOT EXISTS assignments (
    id           INTEGER PRIMARY KEY,
    rater        TEXT NOT NULL,
    sheet_id     TEXT NOT NULL REFERENCES sheets(sheet_id),
    status       TEXT NOT NULL CHECK (status IN ('active', 'submitted', 'released')),
    started_at   REAL NOT NULL,
    last_seen    REAL NOT NULL,
    submitted_at REAL,
    teq          TEXT
);
-- At most one live (active or submitted) assignment per rater, whatever the code above does.
CREATE UNIQUE INDEX IF NOT EXISTS one_live_assignment
    ON assignments(rater) WHERE status != 'released';
CREATE INDEX IF NOT EXISTS assignments_by_sheet ON assignments(sheet_id, status);
CREATE TABLE IF NOT EXISTS answers (
    assignment_id INTEGER NOT NULL REFERENCES assignments(id),
    item_id       TEXT NOT NULL REFERENCES items(item_id),
    rating        INTEGER NOT NULL CHECK (rating IN (1, 2, 3)),
    answered_at   REAL NOT NULL,
    PRIMARY KEY (assignment_id, item_id)
);
-- Who holds an active claim: a keyed hash of the client's network and of the platform's session
-- proof. Only for active assignments: a row goes when its claim ends (data minimisation).
CREATE TABLE IF NOT EXISTS claims (
    assignment_id INTEGER PRIMARY KEY REFERENCES assignments(id),
    client        TEXT,
    proof         TEXT
);
CREATE INDEX IF NOT EXISTS claims_by_client ON claims(client);
-- Every batch started, by keyed hashes of the client's network and subnet and of the platform's
-- session id, kept for the study's lifetime: the bound on batches per network counts submitted
-- batches too, and an operator matches batches to the platform's own returns by the session.
CREATE TABLE IF NOT EXISTS starts (
    assignment_id INTEGER PRIMARY KEY REFERENCES assignments(id),
    client        TEXT,
    subnet        TEXT,
    session       TEXT
);
CREATE INDEX IF NOT EXISTS starts_by_client ON starts(client);
CREATE INDEX IF NOT EXISTS starts_by_subnet ON starts(subnet);
-- Batches an operator voided: back in the pool, out of the returns, their rater barred.
CREATE TABLE IF NOT EXISTS voided (
    assignment_id INTEGER PRIMARY KEY REFERENCES assignments(id),
    voided_at     REAL NOT NULL,
    reason        TEXT NOT NULL
);
"""


class StoreError(Exception):
    """The store cannot do what was asked; the message says why, for the rater or the admin."""


class SessionEnded(StoreError):
    """The assignment is no longer active: submitted, or released after the timeout."""


class NotOnSheet(StoreError):
    """An item id that is not on the rater's sheet (or at another position)."""


class Incomplete(StoreError):
    """Submit before the questionnaire and every item are answered."""


class Outcome(str, Enum):
    """What :meth:`StudyStore.assign` did."""

    NEW = "new"
    RESUMED = "resumed"
    ALREADY_SUBMITTED = "already_submitted"
    FULL = "full"
    #: The client already holds ``claims_per_client`` active batches.
    TOO_MANY_CLAIMS = "too_many_claims"
    #: The client's network (or subnet) has started its allowance of batches over the study.
    TOO_MANY_BATCHES = "too_many_batches"
    #: An operator voided this rater's batch: they may not take part again.
    VOIDED = "voided"


@dataclass(frozen=True)
class Assignment:
    """One rater's batch."""

    id: int
    rater: str
    sheet_id: str
    status: str
    teq: tuple[int, ...] | None
    started_at: float
    last_seen: float
    submitted_at: float | None


@dataclass(frozen=True)
class BatchProgress:
    """Progress of one sheet, for the admin page."""

    sheet_id: str
    n_items: int
    active: int
    submitted: int
    released: int
    answers: int


def _iso(t: float | None) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Voided:
    """A batch an operator voided (:meth:`StudyStore.void`)."""

    assignment_id: int
    rater: str
    sheet_id: str
    was: str  # its status before: active or submitted
    reason: str


def session_key_path_for(db: str | os.PathLike[str]) -> Path:
    """Where the session-signing key of the study with database ``db`` lives."""
    return Path(f"{os.fspath(db)}.session-key")


class StudyStore:
    """The SQLite database of one study. Safe to use from many threads and processes.

    Each thread keeps its own connection (SQLite connections are not shared between threads).
    Connections stay open on purpose: closing the last one checkpoints and resets the WAL, which
    would cost a sync on every request.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, create: bool = True, busy_timeout_s: float = 30.0
    ) -> None:
        """Open (and with ``create``, make) the study database at ``path``."""
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        if not create:
            # Reading someone's database: check it is ours, and change nothing in it.
            if not is_sqlite_file(self.path):
                raise StoreError(f"{self.path}: not an SQLite database")
            tables = {r[0] for r in self._conn().execute("SELECT name FROM sqlite_master")}
            if not {"sheets", "items", "assignments", "answers"} <= tables:
                raise StoreError(f"{self.path}: not a database of the rating app")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _make_private(self.path)
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)

    # ------------------------------------------------------------------ plumbing

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE.
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close the calling thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the database's write lock at once."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        yield self._conn()

    # ------------------------------------------------------------------ set-up

    def secret_key(self) -> str:
        """The app's session-signing key, made once and kept in ``<db>.session-key`` (0600).

        Kept on disk rather than in process memory so that a restarted server still accepts the
        session cookies of raters in the middle of a batch; kept out of the database so that a
        copy of the database (a backup, a shared returns file) cannot forge cookies. A key an
        older version kept in the database moves to the file (cookies stay valid) and is deleted
        there, with any admin session ids (they do not survive a restart).
        """
        from empathy_task.vocabulary import load_or_create_pseudonym_key

        path = session_key_path_for(self.path)
        with self._write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'secret_key'").fetchone()
            if row is not None and not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as f:
                    f.write(row[0] + "\n")
            conn.execute("DELETE FROM meta WHERE key = 'secret_key' OR key LIKE 'admin:%'")
        return load_or_create_pseudonym_key(path).hex()

    def open_admin_session(self) -> str:
        """A new admin session id, recorded so that logout can end it on the server.

        (Kept for older callers: the app itself keeps admin sessions in memory, with an expiry.)
        """
        sid = secrets.token_urlsafe(24)
        with self._write() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (f"admin:{sid}", "1"))
        return sid

    def admin_session_open(self, sid: str) -> bool:
        """Whether ``sid`` is an admin session that has not been logged out."""
        with self._read() as conn:
            row = conn.execute("SELECT 1 FROM meta WHERE key = ?", (f"admin:{sid}",)).fetchone()
        return row is not None

    def close_admin_session(self, sid: str) -> None:
        """End an admin session: a cookie saved before logout stops working."""
        with self._write() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (f"admin:{sid}",))

    def load_sheets(self, sheets: Sequence[Sheet]) -> None:
        """Record the study's sheets; a database already holding other sheets is refused."""
        wanted = {(s.sheet_id, it.item_id, it.position) for s in sheets for it in s.items}
        if not wanted:
            raise StoreError("no sheets to load")
        with self._write() as conn:
            have = {
                (r["sheet_id"], r["item_id"], r["position"])
                for r in conn.execute("SELECT sheet_id, item_id, position FROM items")
            }
            if have and have != wanted:
                raise StoreError(
                    f"{self.path} belongs to another set of sheets "
                    f"({len(have)} items stored, {len(wanted)} given); use a new --db"
                )
            if have:
                return
            conn.executemany(
                "INSERT INTO sheets(sheet_id, n_items, ord) VALUES (?, ?, ?)",
                [(s.sheet_id, len(s.items), i) for i, s in enumerate(sheets)],
            )
            conn.executemany(
                "INSERT INTO items(item_id, sheet_id, position) VALUES (?, ?, ?)",
                [(it.item_id, s.sheet_id, it.position) for s in sheets for it in s.items],
            )

    # ------------------------------------------------------------------ the rater's path

    @staticmethod
    def _assignment(row: sqlite3.Row | None) -> Assignment | None:
        if row is None:
            return None
        return Assignment(
            id=row["id"],
            rater=row["rater"],
            sheet_id=row["sheet_id"],
            status=row["status"],
            teq=tuple(json.loads(row["teq"])) if row["teq"] else None,
            started_at=row["started_at"],
            last_seen=row["last_seen"],
            submitted_at=row["submitted_at"],
        )

    def assign(
        self,
        rater: str,
        *,
        timeout_s: float,
        raters_per_sheet: int = 1,
        now: float | None = None,
        client: str | None = None,
        claims_per_client: int = 0,
        proof: str | None = None,
        subnet: str | None = None,
        batches_per_client: int = 0,
        batches_per_subnet: int = 0,
    ) -> tuple[Outcome, Assignment | None]:
        """Give ``rater`` (a pseudonym) a batch: the least-rated one, or the one they already have.

        Active assignments idle for longer than ``timeout_s`` are released first, so abandoned
        batches go back into the pool. A rater who submitted gets ``ALREADY_SUBMITTED``; when every
        sheet has ``raters_per_sheet`` live raters, ``FULL``. A new batch for a ``client`` (a
        hashed address) that already holds ``claims_per_client`` active ones (0: no limit) is
        ``TOO_MANY_CLAIMS``; the check and the claim are one transaction, so concurrent requests
        cannot overshoot. ``proof`` (a hashed platform session id) is kept with a new claim for
        :meth:`claim_proof`.

        ``batches_per_client`` and ``batches_per_subnet`` (0: no limit) bound the batches a
        ``client`` network and its wider ``subnet`` (hashed, like ``client``) start over the whole
        study: active, submitted and voided ones count, released (abandoned) ones do not; more is
        ``TOO_MANY_BATCHES``. A rater whose batch was voided gets ``VOIDED``.
        """
        now = time.time() if now is None else now
        with self._write() as conn:
            conn.execute(
                "UPDATE assignments SET status = 'released' "
                "WHERE status = 'active' AND last_seen < ?",
                (now - timeout_s,),
            )
            conn.execute(
                "DELETE FROM claims WHERE assignment_id IN "
                "(SELECT id FROM assignments WHERE status != 'active')"
            )
            mine = conn.execute(
                "SELECT * FROM assignments WHERE rater = ? AND status != 'released'", (rater,)
            ).fetchone()
            if mine is not None:
                if mine["status"] == "submitted":
                    return Outcome.ALREADY_SUBMITTED, self._assignment(mine)
                # No renewal of last_seen: only answers count as work, so a script re-posting
                # /start cannot hold a batch past the timeout.
                return Outcome.RESUMED, self._assignment(mine)
            barred = conn.execute(
                "SELECT 1 FROM voided v JOIN assignments a ON a.id = v.assignment_id "
                "WHERE a.rater = ?",
                (rater,),
            ).fetchone()
            if barred is not None:
                return Outcome.VOIDED, None
            for column, value, limit in (
                ("client", client, batches_per_client),
                ("subnet", subnet, batches_per_subnet),
            ):
                if value is not None and limit > 0:
                    started = conn.execute(
                        f"SELECT COUNT(*) FROM starts s JOIN assignments a "
                        f"ON a.id = s.assignment_id WHERE s.{column} = ? AND "
                        "(a.status != 'released' OR s.assignment_id IN "
                        "(SELECT assignment_id FROM voided))",
                        (value,),
                    ).fetchone()[0]
                    if started >= limit:
                        return Outcome.TOO_MANY_BATCHES, None
            if client is not None and claims_per_client > 0:
                held = conn.execute(
                    "SELECT COUNT(*) FROM claims WHERE client = ?", (client,)
                ).fetchone()[0]
                if held >= claims_per_client:
                    return Outcome.TOO_MANY_CLAIMS, None
            pick = conn.execute(
                "SELECT s.sheet_id, COUNT(a.id) AS live FROM sheets s "
                "LEFT JOIN assignments a ON a.sheet_id = s.sheet_id AND a.status != 'released' "
                "GROUP BY s.sheet_id ORDER BY live, s.ord LIMIT 1"
            ).fetchone()
            if pick is None or pick["live"] >= raters_per_sheet:
                return Outcome.FULL, None
            cur = conn.execute(
                "INSERT INTO assignments(rater, sheet_id, status, started_at, last_seen) "
                "VALUES (?, ?, 'active', ?, ?)",
                (rater, pick["sheet_id"], now, now),
            )
            if client is not None or proof is not None:
                conn.execute(
                    "INSERT INTO claims(assignment_id, client, proof) VALUES (?, ?, ?)",
                    (cur.lastrowid, client, proof),
                )
            if client is not None or subnet is not None or proof is not None:
                conn.execute(
                    "INSERT INTO starts(assignment_id, client, subnet, session) VALUES (?, ?, ?, ?)",
                    (cur.lastrowid, client, subnet, proof),
                )
            row = conn.execute(
                "SELECT * FROM assignments WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
            return Outcome.NEW, self._assignment(row)

    def assignment(self, assignment_id: int) -> Assignment | None:
        """An assignment by id, or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM assignments WHERE id = ?", (assignment_id,)
            ).fetchone()
        return self._assignment(row)

    def claim_proof(self, assignment_id: int) -> str | None:
        """The proof kept with an active claim (see :meth:`assign`), or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT proof FROM claims c JOIN assignments a ON a.id = c.assignment_id "
                "WHERE c.assignment_id = ? AND a.status = 'active'",
                (assignment_id,),
            ).fetchone()
        return None if row is None else row["proof"]

    def answers(self, assignment_id: int) -> dict[str, int]:
        """The ratings given so far: item id -> 1, 2 or 3."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT item_id, rating FROM answers WHERE assignment_id = ?", (assignment_id,)
            ).fetchall()
        return {r["item_id"]: r["rating"] for r in rows}

    @staticmethod
    def _active(conn: sqlite3.Connection, assignment_id: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM assignments WHERE id = ?", (assignment_id,)).fetchone()
        if row is None or row["status"] != "active":
            state = "unknown" if row is None else row["status"]
            raise SessionEnded(f"assignment {assignment_id} is {state}")
        return row

    def save_teq(
        self, assignment_id: int, answers: Sequence[int], *, now: float | None = None
    ) -> None:
        """Store the 16 TEQ answers (0-4) of an active assignment."""
        values = teq.validate_answers(answers)
        now = time.time() if now is None else now
        with self._write() as conn:
            self._active(conn, assignment_id)
            conn.execute(
                "UPDATE assignments SET teq = ?, last_seen = ? WHERE id = ?",
                (json.dumps(values), now, assignment_id),
            )

    def save_answer(
        self,
        assignment_id: int,
        item_id: str,
        position: int,
        rating: int,
        *,
        submit: bool = False,
        now: float | None = None,
    ) -> None:
        """Store (or change) one rating; with ``submit``, also close the batch in the same commit.

        The item must sit at ``position`` on the assignment's own sheet.
        """
        if rating not in RATINGS:
            raise ValueError(f"rating must be 1, 2 or 3, got {rating!r}")
        now = time.time() if now is None else now
        with self._write() as conn:
            row = self._active(conn, assignment_id)
            on_sheet = conn.execute(
                "SELECT 1 FROM items WHERE item_id = ? AND sheet_id = ? AND position = ?",
                (item_id, row["sheet_id"], position),
            ).fetchone()
            if on_sheet is None:
                raise NotOnSheet(f"item {item_id!r} is not item {position} of this batch")
            conn.execute(
                "INSERT INTO answers(assignment_id, item_id, rating, answered_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(assignment_id, item_id) "
                "DO UPDATE SET rating = excluded.rating, answered_at = excluded.answered_at",
                (assignment_id, item_id, rating, now),
            )
            conn.execute("UPDATE assignments SET last_seen = ? WHERE id = ?", (now, assignment_id))
            if submit:
                self._submit(conn, row, now)

    def submit(self, assignment_id: int, *, now: float | None = None) -> None:
        """Close a batch whose questionnaire and items are all answered."""
        now = time.time() if now is None else now
        with self._write() as conn:
            row = conn.execute(
                "SELECT * FROM assignments WHERE id = ?", (assignment_id,)
            ).fetchone()
            if row is not None and row["status"] == "submitted":
                return  # a repeated click on Submit
            self._submit(conn, self._active(conn, assignment_id), now)

    @staticmethod
    def _submit(conn: sqlite3.Connection, row: sqlite3.Row, now: float) -> None:
        if not row["teq"]:
            raise Incomplete("the questionnaire is not answered")
        n_items, n_answers = conn.execute(
            "SELECT s.n_items, (SELECT COUNT(*) FROM answers WHERE assignment_id = ?) "
            "FROM sheets s WHERE s.sheet_id = ?",
            (row["id"], row["sheet_id"]),
        ).fetchone()
        if n_answers < n_items:
            raise Incomplete(f"{n_answers} of {n_items} items answered")
        conn.execute(
            "UPDATE assignments SET status = 'submitted', submitted_at = ?, last_seen = ? "
            "WHERE id = ?",
            (now, now, row["id"]),
        )
        conn.execute("DELETE FROM claims WHERE assignment_id = ?", (row["id"],))

    # ------------------------------------------------------------------ the researcher's view

    def void(
        self, rater: str, *, reason: str, dry_run: bool = False, now: float | None = None
    ) -> list[Voided]:
        """Void ``rater``'s live (active or submitted) batch: it leaves the returns, goes back
        into the pool for someone else, and the rater may not start again.

        Returns what was (or, with ``dry_run``, would be) voided; nothing for a rater with no live
        batch. The answers stay in the database, marked by the voided row, for the record.
        """
        now = time.time() if now is None else now
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, rater, sheet_id, status FROM assignments "
                "WHERE rater = ? AND status != 'released'",
                (rater,),
            ).fetchall()
            out = [Voided(r["id"], r["rater"], r["sheet_id"], r["status"], reason) for r in rows]
            if dry_run:
                return out
            for v in out:
                conn.execute(
                    "UPDATE assignments SET status = 'released' WHERE id = ?", (v.assignment_id,)
                )
                conn.execute("DELETE FROM claims WHERE assignment_id = ?", (v.assignment_id,))
                conn.execute(
                    "INSERT INTO voided(assignment_id, voided_at, reason) VALUES (?, ?, ?)",
                    (v.assignment_id, now, reason),
                )
        return out

    def submitted_sessions(self) -> list[tuple[str, str | None]]:
        """(rater, hashed platform session or ``None``) of every submitted batch."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT a.rater, s.session FROM assignments a "
                "LEFT JOIN starts s ON s.assignment_id = a.id WHERE a.status = 'submitted' "
                "ORDER BY a.id"
            ).fetchall()
        return [(r["rater"], r["session"]) for r in rows]

    def voided(self) -> list[Voided]:
        """Every voided batch, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT a.id, a.rater, a.sheet_id, v.reason FROM voided v "
                "JOIN assignments a ON a.id = v.assignment_id ORDER BY v.voided_at, a.id"
            ).fetchall()
        return [Voided(r["id"], r["rater"], r["sheet_id"], "voided", r["reason"]) for r in rows]

    def progress(self) -> list[BatchProgress]:
        """Per sheet: live and released assignments and the answers stored in live ones."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT s.sheet_id, s.n_items, "
                "  SUM(a.status = 'active') AS active, "
                "  SUM(a.status = 'submitted') AS submitted, "
                "  SUM(a.status = 'released') AS released, "
                "  (SELECT COUNT(*) FROM answers x JOIN assignments y ON x.assignment_id = y.id "
                "   WHERE y.sheet_id = s.sheet_id AND y.status != 'released') AS answers "
                "FROM sheets s LEFT JOIN assignments a ON a.sheet_id = s.sheet_id "
                "GROUP BY s.sheet_id ORDER BY s.ord"
            ).fetchall()
        return [
            BatchProgress(
                sheet_id=r["sheet_id"],
                n_items=r["n_items"],
                active=r["active"] or 0,
                submitted=r["submitted"] or 0,
                released=r["released"] or 0,
                answers=r["answers"] or 0,
            )
            for r in rows
        ]

    def returns(self) -> list[dict[str, object]]:
        """The submitted batches, one row per rating (:data:`RETURN_COLUMNS`).

        Incomplete and released batches are left out: only a submitted batch is a return.
        """
        with self._read() as conn:
            rows = conn.execute(
                "SELECT a.rater, a.sheet_id, x.item_id, i.position, x.rating, a.teq, "
                "a.submitted_at FROM answers x "
                "JOIN assignments a ON a.id = x.assignment_id "
                "JOIN items i ON i.item_id = x.item_id "
                "WHERE a.status = 'submitted' ORDER BY a.submitted_at, a.id, i.position"
            ).fetchall()
        return [
            {
                "rater": r["rater"],
                "sheet_id": r["sheet_id"],
                "item_id": r["item_id"],
                "position": r["position"],
                "rating": r["rating"],
                "teq": r["teq"],
                "submitted_at": _iso(r["submitted_at"]),
            }
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        """Totals: assignments by status and answers stored."""
        with self._read() as conn:
            out = {"active": 0, "submitted": 0, "released": 0}
            for r in conn.execute("SELECT status, COUNT(*) AS n FROM assignments GROUP BY status"):
                out[r["status"]] = r["n"]
            out["answers"] = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        return out


def is_sqlite_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an SQLite database (by its header, not its name)."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _make_private(path: Path) -> None:
    """Make the database (and its WAL files) readable by its owner only.

    SQLite gives the WAL and shared-memory files the database's mode, so a new database is made
    0600 before SQLite opens it; an existing one others can read is narrowed, with a warning.
    """
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = p.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); made it 0600", p, mode)
            os.chmod(p, 0o600)
