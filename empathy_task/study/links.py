"""Signed, expiring participant links: ``/?pid=ID&expires=UNIX&sig=HMAC``.

A researcher who recruits outside a crowd platform (or does not trust the platform's link alone)
makes one link per participant with ``empathy-task links``; ``serve --require-signed-links`` then
starts a batch only from such a link. The signature is HMAC-SHA256 over the participant id and
the expiry under a per-study key of 32 random bytes kept beside the study database
(``<db>.link-key``, mode 0600, like the pseudonym key), so a link cannot be made for another id,
nor made to last longer, without the key. The key is never printed or written anywhere else.

No Flask here: the ``links`` command uses this module without the ``study`` extra.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from empathy_task.vocabulary import load_or_create_pseudonym_key, pseudonym, read_pseudonym_key

#: A participant id as the app accepts it (the same pattern as the start form's).
PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_-]{3,64}")
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIG = re.compile(r"[0-9a-f]{64}")
#: Domain separation: a link signature is never valid as any other HMAC of the kit.
_CONTEXT = b"empathy-task link v1\x00"


class LinkError(ValueError):
    """A link the app refuses; ``reason`` is one of missing, malformed, invalid, expired."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedLink:
    """One participant's link."""

    participant_id: str
    expires: int
    url: str


def link_key_path_for(db: str | os.PathLike[str]) -> Path:
    """Where the link key of the study with database ``db`` lives."""
    return Path(f"{os.fspath(db)}.link-key")


def load_or_create_link_key(db: str | os.PathLike[str]) -> bytes:
    """The study's link key; made (random, owner-only) the first time either side needs it."""
    return load_or_create_pseudonym_key(link_key_path_for(db))


def read_link_key(db: str | os.PathLike[str]) -> bytes:
    """The study's link key, or a ``ValueError`` naming the missing or bad file."""
    return read_pseudonym_key(link_key_path_for(db))


def prolific_session_proof(session_id: str, key: bytes) -> str:
    """The keyed hash of a Prolific ``SESSION_ID`` that the app keeps with a batch.

    Prolific's ``SESSION_ID`` is the submission's id in Prolific's own export, so an operator can
    match every submitted batch to a submission there (``empathy-task void --prolific-export``)
    without the database ever holding the id itself.
    """
    return pseudonym("prolific-session:" + session_id, key)


def signature(participant_id: str, expires: int, key: bytes) -> str:
    """The hex HMAC-SHA256 of a link's participant id and expiry (Unix seconds)."""
    msg = _CONTEXT + participant_id.encode("ascii") + b"\x00" + str(expires).encode("ascii")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def check_base_url(base_url: str) -> str:
    """The study's address for links: http(s), with a host, no query or fragment."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--base-url {base_url!r}: give the study's address, e.g. https://host/")
    if parts.query or parts.fragment:
        raise ValueError(f"--base-url {base_url!r}: no query or fragment, the link adds its own")
    return base_url.rstrip("/") + "/"


def make_link(base_url: str, participant_id: str, expires: int, key: bytes) -> SignedLink:
    """The signed link of one participant, valid until ``expires`` (Unix seconds)."""
    if not PARTICIPANT_ID.fullmatch(participant_id):
        raise ValueError(
            f"participant id {participant_id[:20]!r}: use 3-64 letters, digits, _ or -"
        )
    query = urlencode(
        {"pid": participant_id, "expires": expires, "sig": signature(participant_id, expires, key)}
    )
    return SignedLink(participant_id, expires, f"{check_base_url(base_url)}?{query}")


def verify(
    participant_id: str, expires: str, sig: str, key: bytes, *, now: float | None = None
) -> None:
    """Accept a link's three values, or raise :class:`LinkError` saying why not.

    The signature is compared in constant time, and before the expiry is looked at, so a forged
    link learns nothing about which part is wrong.
    """
    if not (participant_id or expires or sig):
        raise LinkError("missing", "no participant link")
    if not (
        PARTICIPANT_ID.fullmatch(participant_id)
        and _EXPIRES.fullmatch(expires)
        and _SIG.fullmatch(sig)
    ):
        raise LinkError("malformed", "the link is incomplete or malformed")
    expected = signature(participant_id, int(expires), key)
    if not hmac.compare_digest(sig.encode("ascii"), expected.encode("ascii")):
        raise LinkError("invalid", "the link's signature does not match")
    if int(expires) < (time.time() if now is None else now):
        raise LinkError("expired", "the link has expired")
