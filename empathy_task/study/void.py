"""Voiding batches: what an operator does with returns they do not accept.

A voided batch leaves the returns, goes back into the pool for another participant, and its
rater may not start again (:meth:`empathy_task.study.store.StudyStore.void`). Three ways to
name what to void: a rater's pseudonym as the returns show it, a participant id (hashed with the
study's pseudonym key, never stored), or Prolific's own export of the study's submissions.

**Prolific's export is the proof the app cannot have.** Prolific's link values are visible to
the participant and follow a public format, so anyone can invent a ``PROLIFIC_PID`` and a
``SESSION_ID``; only Prolific knows which submissions are real. The app keeps a keyed hash of
each batch's ``SESSION_ID`` (Prolific's submission id), so :func:`void_unlisted` can void every
submitted batch whose (participant id, submission id) pair is not a live submission in the
export (status APPROVED or AWAITING REVIEW).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from empathy_task.study.links import prolific_session_proof
from empathy_task.study.store import StudyStore, Voided
from empathy_task.vocabulary import pseudonym

#: Prolific submission statuses that stand for a submission the participant really made.
LIVE_STATUSES = frozenset({"APPROVED", "AWAITING REVIEW"})
#: Column names in Prolific's export, normalised (lower case, spaces for ``_``).
_PARTICIPANT = "participant id"
_SUBMISSION = "submission id"
_STATUS = "status"
_MAX_EXPORT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class VoidResult:
    """What :func:`void_unlisted` found: batches kept and voided (or to be, with dry_run)."""

    kept: int
    voided: list[Voided]
    listed: int  # live submissions in the export


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").strip().lower().split())


def read_prolific_export(path: str | os.PathLike[str]) -> set[tuple[str, str]]:
    """The (participant id, submission id) pairs of the export's live submissions.

    A ``ValueError`` names the file, and the row or column, of anything it cannot read.
    """
    path = Path(path)
    if path.stat().st_size > _MAX_EXPORT_BYTES:
        raise ValueError(f"{path}: larger than {_MAX_EXPORT_BYTES >> 20} MB; not Prolific's export")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file; give Prolific's export of the study") from None
        cols = {_norm(h): i for i, h in enumerate(header)}
        missing = [c for c in (_PARTICIPANT, _SUBMISSION, _STATUS) if c not in cols]
        if missing:
            raise ValueError(
                f"{path}: no column {', '.join(repr(m) for m in missing)} (Prolific's export "
                "has 'Submission id', 'Participant id' and 'Status')"
            )
        out: set[tuple[str, str]] = set()
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < len(header):
                raise ValueError(f"{path}, row {n}: {len(row)} cells, the header has {len(header)}")
            if row[cols[_STATUS]].strip().upper() in LIVE_STATUSES:
                out.add((row[cols[_PARTICIPANT]].strip(), row[cols[_SUBMISSION]].strip()))
    return out


def void_unlisted(
    store: StudyStore,
    live: Iterable[tuple[str, str]],
    key: bytes,
    *,
    dry_run: bool = False,
) -> VoidResult:
    """Void every submitted batch whose participant and Prolific session are not in ``live``
    (pairs from :func:`read_prolific_export`); a batch with no session recorded is voided too."""
    pairs = {(pseudonym(pid, key), prolific_session_proof(sub, key)) for pid, sub in live}
    kept, voided = 0, []
    for rater, session in store.submitted_sessions():
        if session is not None and (rater, session) in pairs:
            kept += 1
            continue
        reason = (
            "no Prolific session recorded"
            if session is None
            else "not a live submission in Prolific's export"
        )
        voided += store.void(rater, reason=reason, dry_run=dry_run)
    return VoidResult(kept=kept, voided=voided, listed=len(pairs))
