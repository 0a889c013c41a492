"""The load benchmark's checks can fail: lost, duplicated and over-assigned answers are found.

Not timed: two participants walk the study against a real server, then the database is damaged
in each way the benchmark must notice (benchmarks/study_load.py measures the time itself).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")
pytest.importorskip("requests")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import study_load  # noqa: E402

from empathy_task.study.sheets import make_sheets, write_sheets  # noqa: E402
from empathy_task.study.store import StudyStore  # noqa: E402


def test_the_benchmark_finds_lost_duplicated_and_over_assigned_answers(tmp_path: Path) -> None:
    write_sheets(make_sheets(study_load.items(4), seed=3), tmp_path / "sheets")
    db = tmp_path / "study.db"
    server = study_load.Server(tmp_path / "sheets", db, study_load._free_port(), threads=2)
    server.start()
    try:
        outcomes = [study_load.participant(server.url, k, time.monotonic() + 120) for k in range(2)]
    finally:
        server.stop()
    assert all(o.finished and len(o.acknowledged) == 10 for o in outcomes), outcomes
    assert all(len(o.pages) == 15 for o in outcomes)
    clean = study_load.check(db, outcomes)
    assert clean == {"lost": 0, "duplicated": 0, "over_assigned": 0, "stored": 20}
    store = StudyStore(db)
    with store._write() as conn:
        # An acknowledged answer that is gone, and one stored with another value.
        conn.execute("DELETE FROM answers WHERE rowid = (SELECT MIN(rowid) FROM answers)")
        conn.execute(
            "UPDATE answers SET rating = 1 + rating % 3 WHERE rowid = "
            "(SELECT MAX(rowid) FROM answers)"
        )
    assert study_load.check(db, outcomes)["lost"] == 2
    # A second live batch for the first rater on the second rater's sheet, with an answer to an
    # item they had rated (the store's unique index forbids this; the check must not rely on it).
    with store._write() as conn:
        conn.execute("DROP INDEX one_live_assignment")
        first, second = conn.execute("SELECT rater, sheet_id FROM assignments ORDER BY id")
        cur = conn.execute(
            "INSERT INTO assignments(rater, sheet_id, status, started_at, last_seen) "
            "VALUES (?, ?, 'active', 0, 0)",
            (first["rater"], second["sheet_id"]),
        )
        item = conn.execute(
            "SELECT x.item_id FROM answers x JOIN assignments a ON a.id = x.assignment_id "
            "WHERE a.rater = ? LIMIT 1",
            (first["rater"],),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO answers(assignment_id, item_id, rating, answered_at) VALUES (?, ?, 2, 0)",
            (cur.lastrowid, item),
        )
    damaged = study_load.check(db, outcomes)
    # One rater with two live batches, one item rated twice by them, one sheet with two raters.
    assert damaged["duplicated"] == 2 and damaged["over_assigned"] == 1
