"""Returns in: what raters sent back, joined through the key into the rating table.

A return is the app's export (CSV or JSONL, one row per rating: ``rater, sheet_id, item_id,
position, rating, teq, submitted_at``) or the app's SQLite database itself. Each row is checked
against the key (the item exists, on that sheet and at that position), the rating is 1-3 (or Bad /
Okay / Good), the TEQ is 16 answers 0-4 and the same on every row of a rater, a rater rated one sheet
only, and nothing is rated twice. The first problem raises
:class:`~empathy_task.ratings.table.RatingTableError` naming file, row and column.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pandas as pd

from empathy_task.ratings.files import read_table, table_format
from empathy_task.ratings.table import RATING_COLUMNS, RatingTableError, validate_rating_table
from empathy_task.study import teq
from empathy_task.study.store import RETURN_COLUMNS, StoreError, StudyStore, is_sqlite_file
from empathy_task.vocabulary import CROWD, RATING_LABELS, RATINGS, rater_kind

#: Columns a return must have; ``sheet_id`` and ``position`` are checked when present.
REQUIRED_RETURN_COLUMNS: tuple[str, ...] = ("rater", "item_id", "rating", "teq")
_LABEL_VALUES = {label.lower(): value for value, label in RATING_LABELS.items()}


class Returns:
    """A return file read as a table, with the row number a person would look for."""

    def __init__(self, frame: pd.DataFrame, origin: str, rows: list[int]) -> None:
        self.frame = frame.reset_index(drop=True)
        self.origin = origin
        self.rows = rows

    def error(self, index: int, column: str | None, message: str) -> RatingTableError:
        return RatingTableError(self.origin, message, self.rows[index], column)


def read_returns(path: str | os.PathLike[str]) -> Returns:
    """Read the app's export (``.csv`` / ``.jsonl``) or its SQLite database (by content)."""
    p = Path(path)
    origin = str(p)
    if not p.is_file():
        raise RatingTableError(origin, "file not found")
    if is_sqlite_file(p):
        try:
            records = StudyStore(p, create=False).returns()
        except (StoreError, sqlite3.Error) as e:
            raise RatingTableError(origin, f"cannot read the rating app's database: {e}") from e
        frame = pd.DataFrame.from_records(records, columns=list(RETURN_COLUMNS))
        return Returns(frame, origin, list(range(1, len(frame) + 1)))
    table_format(p, ("csv", "jsonl"), "returns")  # the app's export, or its database above
    frame, _, lines = read_table(p)
    return Returns(frame, origin, lines if lines is not None else _csv_rows(len(frame)))


def _csv_rows(n: int) -> list[int]:
    return list(range(2, n + 2))  # the header is line 1


def _rating(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer() and int(value) in RATINGS:
        return int(value)
    if isinstance(value, str):
        v = value.strip()
        if v in ("1", "2", "3"):
            return int(v)
        return _LABEL_VALUES.get(v.lower())
    return None


def _teq(value: object) -> list[int] | None:
    try:
        return teq.parse_answers(value)
    except (ValueError, TypeError):
        return None


def returns_to_rating_table(
    returns: Returns, key: pd.DataFrame, pseudonym_key: bytes | None = None
) -> pd.DataFrame:
    """The rating table of checked returns (``teq`` kept as a JSON list per row).

    ``key`` is :func:`empathy_task.study.sheets.read_key`'s table. Raters that are not pseudonyms
    already (the app exports pseudonyms) are replaced by their keyed pseudonym under
    ``pseudonym_key`` (:func:`empathy_task.vocabulary.pseudonym`); without a key they are an error.
    """
    from empathy_task.ratings.table import PROMPT_SET_COLUMNS
    from empathy_task.study.sheets import KEY_PROMPT_SET_COLUMNS
    from empathy_task.vocabulary import masked, pseudonym

    frame = returns.frame
    if frame.empty:
        raise RatingTableError(returns.origin, "no returns (no submitted batch)")
    for col in REQUIRED_RETURN_COLUMNS:
        if col not in frame.columns:
            raise RatingTableError(returns.origin, "missing column", column=col)
    by_item = key.set_index("item_id")
    rows: list[dict[str, object]] = []
    seen: dict[tuple[str, str], int] = {}
    sheet_of_rater: dict[str, tuple[str, int]] = {}
    teq_of_rater: dict[str, list[int]] = {}
    for i, rec in enumerate(frame.to_dict(orient="records")):
        raw_rater = str(rec["rater"]).strip()
        if not raw_rater or raw_rater.lower() == "nan":
            raise returns.error(i, "rater", "empty rater id")
        # The app exports pseudonyms already; any other id is personal data and is hashed here.
        if rater_kind(raw_rater) == CROWD:
            rater = raw_rater
        elif pseudonym_key is None:
            raise returns.error(
                i,
                "rater",
                f"rater {masked(raw_rater)} is not a pseudonym: give the study's pseudonym key "
                "(--pseudonym-key FILE) to replace each id by its keyed pseudonym",
            )
        else:
            rater = pseudonym(raw_rater, pseudonym_key)
        item_id = str(rec["item_id"]).strip()
        if item_id not in by_item.index:
            raise returns.error(i, "item_id", f"item id {item_id!r} is not in the key")
        entry = by_item.loc[item_id]
        if "sheet_id" in frame.columns and str(rec["sheet_id"]).strip() != entry["sheet_id"]:
            raise returns.error(
                i,
                "sheet_id",
                f"item {item_id} is on sheet {entry['sheet_id']}, not {rec['sheet_id']!r}",
            )
        if "position" in frame.columns and str(rec["position"]).strip() != str(entry["position"]):
            raise returns.error(
                i,
                "position",
                f"item {item_id} is at position {entry['position']}, not {rec['position']!r}",
            )
        rating = _rating(rec["rating"])
        if rating is None:
            raise returns.error(
                i, "rating", f"rating must be 1 (Bad), 2 (Okay) or 3 (Good), got {rec['rating']!r}"
            )
        answers = _teq(rec["teq"])
        if answers is None:
            raise returns.error(
                i, "teq", f"need a JSON list of {teq.N_ITEMS} TEQ answers 0-{teq.MAX_ANSWER}"
            )
        if teq_of_rater.setdefault(rater, answers) != answers:
            raise returns.error(i, "teq", "differs from this rater's TEQ answers on an earlier row")
        first = sheet_of_rater.setdefault(rater, (entry["sheet_id"], i))
        if first[0] != entry["sheet_id"]:
            raise returns.error(
                i,
                "item_id",
                f"rater {rater} also rated sheet {first[0]} (row {returns.rows[first[1]]}); "
                "one sheet per rater",
            )
        pair = (rater, item_id)
        if pair in seen:
            raise returns.error(
                i,
                "item_id",
                f"duplicate: rater {rater} rated item {item_id} on row {returns.rows[seen[pair]]} too",
            )
        seen[pair] = i
        rows.append(
            {
                "dialog_id": entry["dialog_id"],
                "part_no": int(entry["part_no"]),
                "source": entry["source"],
                "rater": rater,
                "rating": rating,
                "teq": json.dumps(answers),
                # A key made from a user's prompt set names it and the prompt's labels.
                **{c: entry[c] for c in KEY_PROMPT_SET_COLUMNS if c in key.columns},
            }
        )
    table = pd.DataFrame(rows)
    out = validate_rating_table(table, returns.origin)
    own = [c for c in PROMPT_SET_COLUMNS if c in out.columns]
    return out[[*RATING_COLUMNS, "teq", *own]]


def import_returns(
    returns_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    pseudonym_key_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Read returns and the key, and give the rating table.

    ``pseudonym_key_path`` is the study's pseudonym key (needed only for returns holding raw
    ids; see :mod:`empathy_task.vocabulary`).
    """
    from empathy_task.study.sheets import read_key
    from empathy_task.vocabulary import read_pseudonym_key

    secret = read_pseudonym_key(pseudonym_key_path) if pseudonym_key_path else None
    return returns_to_rating_table(read_returns(returns_path), read_key(key_path), secret)
