"""Which rater ids may leave the machine: pseudonyms and judge model names, never a person's id.

A rater in a rating table is one of:

- a **judge model**, named as Inspect names models: ``provider/model`` (a lower-case provider,
  a slash, then no whitespace and no ``@``), e.g. ``openai/gpt-4o``, ``empathy/mock-judge``;
- a **crowd pseudonym**: ``r-`` and 32 hex digits, the keyed pseudonym of the study kit
  (:func:`pseudonym`: HMAC-SHA256 of the participant id under the study's pseudonym key), or
  ``r-`` and 12 hex digits, the pseudonym of the authors' public CSV
  (:func:`empathy_task.data.study.hash_rater`);
- anything else is taken for a **person's id** (an e-mail, a crowd-platform id) and refused
  by every output (:func:`check_rater_ids`): the report never writes one.

The authors' pseudonym is unkeyed on purpose: their annotator ids are already public in their
CSV, so a key would hide nothing, and an unkeyed hash keeps the report of their data (and the
shipped ``human_baseline/crowd_ratings.csv``) the same on every machine. A new study's ids are
not public: they are hashed under a per-study key of 32 random bytes kept in a file beside the
app's database (``<db>.pseudonym-key``, mode 0600) that never leaves the researcher's machine.
Without it a pseudonym cannot be brute-forced from a short id, and the same person gets unrelated
pseudonyms in two studies; 128 bits of HMAC make a collision among a study's raters negligible.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import pandas as pd

KEY_BYTES = 32
PSEUDONYM = re.compile(r"r-(?:[0-9a-f]{32}|[0-9a-f]{12})")
JUDGE_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]*/[^\s@]+")


class PseudonymKeyError(ValueError):
    """The study's pseudonym key is missing or unreadable."""


def pseudonym(raw_id: str, key: bytes) -> str:
    """The study kit's pseudonym of a participant id: ``r-`` + 32 hex digits of HMAC-SHA256."""
    if len(key) < KEY_BYTES:
        raise PseudonymKeyError(f"a pseudonym key must be at least {KEY_BYTES} bytes")
    return "r-" + hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def key_path_for(db: str | os.PathLike[str]) -> Path:
    """Where the pseudonym key of the study with database ``db`` lives."""
    return Path(f"{os.fspath(db)}.pseudonym-key")


def read_pseudonym_key(path: str | os.PathLike[str]) -> bytes:
    """The key in ``path`` (hex), or a :class:`PseudonymKeyError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except FileNotFoundError:
        raise PseudonymKeyError(f"{path}: no such pseudonym key file") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise PseudonymKeyError(f"{path}: not a pseudonym key (hex digits): {e}") from None
    if len(key) < KEY_BYTES:
        raise PseudonymKeyError(f"{path}: the key must be at least {KEY_BYTES} bytes")
    return key


def load_or_create_pseudonym_key(path: str | os.PathLike[str]) -> bytes:
    """The key in ``path``; a new random one, written readable by its owner only, if absent."""
    path = Path(path)
    if not path.exists():
        key = secrets.token_bytes(KEY_BYTES)
        try:
            # O_EXCL: two app processes starting at once agree on one key (the loser reads it).
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(key.hex() + "\n")
            return key
    return read_pseudonym_key(path)


def is_allowed_rater(rater: str) -> bool:
    """True for a crowd pseudonym or a judge model name: an id that may leave the machine."""
    return bool(PSEUDONYM.fullmatch(rater) or JUDGE_NAME.fullmatch(rater))


def first_personal_id(raters: pd.Series) -> int | None:
    """The position of the first rater that is neither a pseudonym nor a judge name, or None."""
    names = pd.Series(raters, dtype=object).astype(str)
    unique = pd.unique(names)
    bad = {r for r in unique if not is_allowed_rater(r)}
    if not bad:
        return None
    return int(names.isin(bad).to_numpy().nonzero()[0][0])


def masked(raw_id: str) -> str:
    """A person's id as an error message may show it: its first two characters only."""
    return repr(raw_id[:2] + "…") if len(raw_id) > 2 else "(a short id)"


PERSONAL_ID_HELP = (
    "is neither a crowd pseudonym (r- and 32 or 12 hex digits) nor a judge model "
    "(provider/model): it looks like a person's id, which no output may hold. Import people's "
    "ratings with `empathy-task import-returns --pseudonym-key FILE`, which replaces each id by "
    "its keyed pseudonym"
)
