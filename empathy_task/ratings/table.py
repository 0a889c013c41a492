"""The rating table: one row per rating, the format every importer writes and the reporter reads.

Columns (docs/design.md, "The rating table"): ``dialog_id, emotion, sentiment, plutchik, part_no,
source, rater, rating`` with rating 1 = Bad, 2 = Okay, 3 = Good. An optional ``teq`` column holds
the rater's 16 Toronto Empathy Questionnaire answers (0-4) as a JSON list, for rater quality; an
optional ``epoch`` column (a whole number from 1, default 1) tells apart the ratings of one reply in
the epochs of one Inspect run (``--epochs``). A rating is identified by (dialog, source, rater,
epoch): a file holds at most one row per identity.
Optional ``p_bad, p_okay, p_good`` hold a judge's answer probabilities for the rating (its
log-probabilities at the verdict, renormalised over the three labels): all three or none in each
row, each in [0, 1], adding up to 1 within :data:`PROBABILITY_TOLERANCE`. An optional ``flagged``
column says whether the rated reply addressed the judge
(:func:`empathy_task.task.verdict.injection_flags`): true, false, or empty where it was not checked.
Stored as CSV, JSONL or Parquet, chosen by the file's suffix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from empathy_task.vocabulary import RATINGS

RATING_COLUMNS: tuple[str, ...] = (
    "dialog_id",
    "emotion",
    "sentiment",
    "plutchik",
    "part_no",
    "source",
    "rater",
    "rating",
)


LABEL_COLUMNS: tuple[str, ...] = ("emotion", "sentiment", "plutchik", "part_no")


#: A judge's P(Bad), P(Okay), P(Good) for the rating (docs/design.md, "The rating table").
PROBABILITY_COLUMNS: tuple[str, ...] = ("p_bad", "p_okay", "p_good")

#: How far three probabilities may miss adding up to 1: rounding to three decimals misses by
#: at most 0.0015; a row that misses by more is not a distribution.
PROBABILITY_TOLERANCE = 0.01

#: The prompt set a rating's prompt belongs to, where it is a user's own (README, "Your own
#: prompts"): its name and sha256. Empty (or absent) for the study's prompts.
PROMPT_SET_COLUMNS: tuple[str, ...] = ("prompt_set", "prompt_set_sha256")

OPTIONAL_COLUMNS: tuple[str, ...] = (
    "epoch",
    "teq",
    *PROBABILITY_COLUMNS,
    "flagged",
    *PROMPT_SET_COLUMNS,
)

#: What identifies a rating: two rows with the same values are the same rating (within one
#: prompt set: the set's columns join the key where a table has them).
RATING_KEY: tuple[str, ...] = ("dialog_id", "source", "rater", "epoch")


def own_prompt_rows(frame: pd.DataFrame) -> np.ndarray | None:
    """Which rows rate a prompt of a user's own prompt set (a non-empty ``prompt_set``), or None
    for a table without the column."""
    if "prompt_set" not in frame.columns:
        return None
    cells = frame["prompt_set"]
    return (cells.notna() & cells.astype(str).str.strip().ne("")).to_numpy(dtype=bool)


#: The generation prompt of the study (with the definition of empathy): a source answering it
#: carries no variant mark.
STUDY_PROMPT = "empathy"


def source_with_variant(model: str, variant: str | None) -> str:
    """The source name of ``model``'s replies to a prompt variant: ``<model> [<variant>]``.

    Every framework's path names sources this way (Inspect exports, lm-eval post-hoc judging), so
    that a report never merges two variants; the study's prompt is unmarked.
    """
    if not variant or variant == STUDY_PROMPT:
        return model
    mark = f" [{variant}]"
    return model if model.endswith(mark) else f"{model}{mark}"


def with_epoch(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with an ``epoch`` column (1 where it has none): for keying ratings by identity."""
    if "epoch" in frame.columns:
        return frame
    return frame.assign(epoch=np.int64(1))


# C0 and C1 control characters and DEL: never part of an id, a source or a rater.
_CONTROL = r"[\x00-\x1f\x7f-\x9f]"


EXCERPT_CHARS = 60


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)``, cut to about ``limit`` characters: an error never echoes a whole cell."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(str(value)):,} characters)"


def shown(value: object, column: str) -> str:
    """A cell as an error message may show it: a rater's cell masked (it may be a person's
    e-mail or crowd id, issue 26), any other an :func:`excerpt`."""
    if column != "rater":
        return excerpt(value)
    from empathy_task.vocabulary import masked

    if isinstance(value, str):
        return masked(value.strip("\x00\t\r\n "))
    return f"(a {type(value).__name__}, not shown)"


class RatingTableError(ValueError):
    """A rating file is malformed; the message names file, row and column."""

    def __init__(
        self, origin: str, message: str, row: int | None = None, column: str | None = None
    ):
        self.origin, self.row, self.column = origin, row, column
        where = origin
        if row is not None:
            where += f": row {row}"
        if column is not None:
            where += f", column {column!r}" if row is not None else f": column {column!r}"
        super().__init__(f"{where}: {message}")


def row_number(fmt: str, index: int) -> int:
    """The row a person opening the file sees for frame row ``index``: CSV counts its header
    line, Parquet counts rows from 1 (JSONL counts lines: see :func:`read_jsonl`)."""
    return index + 2 if fmt == "csv" else index + 1


def unknown_dialog(value: object) -> str:
    """The one message for a dialog id that is not one of the study's prompts."""
    return f"unknown dialog id {excerpt(value)} (not one of the study's 2,000 prompts)"


def dialog_positions(ids: pd.Index | pd.Series | Sequence[object]) -> np.ndarray:
    """Each id's row in the shipped manifest, -1 for an id that is not one of the study's."""
    from empathy_task.data.study import manifest_index

    return manifest_index().get_indexer(pd.Index(ids))


class _Rows:
    """Names the first bad row of a mask in the file's own numbering, and factorises columns."""

    def __init__(self, out: pd.DataFrame, origin: str, fmt: str, rows: Sequence[int] | None):
        self.out, self.origin, self.fmt, self.rows = out, origin, fmt, rows

    def row(self, i: int) -> int:
        return self.rows[i] if self.rows is not None else row_number(self.fmt, i)

    def fail(self, at: pd.Series | np.ndarray | int, column: str, what: str) -> RatingTableError:
        """The error for the first row of a mask (or row ``at``), naming the row's value."""
        i = at if isinstance(at, int) else int(np.asarray(at).nonzero()[0][0])
        value = shown(self.out[column].iloc[i], column)
        return RatingTableError(self.origin, f"{what} (value {value})", self.row(i), column)

    def factorize(self, column: str) -> tuple[np.ndarray, Any]:
        try:
            return pd.factorize(self.out[column])
        except TypeError:  # a list or an object in a JSONL or Parquet cell: unhashable
            cells = self.out[column].tolist()
            i = next(i for i, v in enumerate(cells) if not isinstance(v, Hashable))
            raise self.fail(i, column, "not a single value") from None


def validate_rating_table(
    frame: pd.DataFrame,
    origin: str = "<table>",
    fmt: str = "jsonl",
    rows: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Check a rating table and return it in canonical form (labels filled from the manifest).

    Raises :class:`RatingTableError` naming the first bad row and column. ``rows`` gives each
    frame row's number in the file where it is not the position (a JSONL file with blank lines).

    Each check runs on a column's distinct values (a million ratings hold a few thousand) and is
    mapped back to rows through the factorised codes, to name the first bad row.
    """
    for col in ("dialog_id", "source", "rater", "rating"):
        if col not in frame.columns:
            raise RatingTableError(origin, "missing column", column=col)
    if frame.empty:
        raise RatingTableError(origin, "no ratings")
    own = own_prompt_rows(frame)
    if own is not None and own.any() and not own.all():
        return _validate_mixed(frame, own, origin, fmt, rows)
    out = frame.reset_index(drop=True)
    if own is not None and not own.any():
        # The study's prompts only: the set's columns are empty.
        out = out.drop(columns=[c for c in PROMPT_SET_COLUMNS if c in out.columns])
    at = _Rows(out, origin, fmt, rows)
    fail = at.fail
    codes, uniques = _check_ids(at)
    _check_ratings(at)
    if own is not None and own.any():
        dialog_code, dialogs = _own_labels(at)
    else:
        dialog_code, dialogs = _fill_labels(at, codes["dialog_id"], uniques["dialog_id"])

    if "epoch" in out.columns:
        out["epoch"] = _canonical_epoch(out["epoch"], fail)
    # (dialog, source, rater, epoch) as one integer per row: duplicates hash fast.
    n_dialog, n_source = len(dialogs), int(codes["source"].max()) + 1
    n_rater = int(codes["rater"].max()) + 1
    key = dialog_code.astype(np.int64) + n_dialog * (
        codes["source"].astype(np.int64) + n_source * codes["rater"].astype(np.int64)
    )
    if "epoch" in out.columns:
        epoch_code, _ = pd.factorize(out["epoch"])
        key = key + n_dialog * n_source * n_rater * epoch_code.astype(np.int64)
    dup = pd.Series(key).duplicated().to_numpy()
    if dup.any():
        raise fail(
            dup,
            "dialog_id",
            "duplicate rating of the same dialog and source by the same rater"
            + (" in the same epoch" if "epoch" in out.columns else ""),
        )
    if "teq" in out.columns:
        out["teq"] = _canonical_teq(out["teq"], fail)
    _check_probabilities(out, origin, fail)
    if "flagged" in out.columns:
        out["flagged"] = canonical_flags(out["flagged"], fail)
        if out["flagged"].isna().all():  # nothing was checked: as if the column were absent
            out = out.drop(columns="flagged")
    keep = list(RATING_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in out.columns]
    return out[keep]


def _validate_mixed(
    frame: pd.DataFrame,
    own: np.ndarray,
    origin: str,
    fmt: str,
    rows: Sequence[int] | None,
) -> pd.DataFrame:
    """A table with ratings of the study's prompts and of a user's set: each part validated in
    its own way (the manifest's labels, the set's labels), back in the table's order."""
    frame = frame.reset_index(drop=True)
    numbers = list(rows) if rows is not None else [row_number(fmt, i) for i in range(len(frame))]
    parts = []
    for mask in (~own, own):
        idx = np.flatnonzero(mask)
        part = frame.iloc[idx]
        parts.append(
            validate_rating_table(part, origin, fmt, [numbers[i] for i in idx]).set_index(idx)
        )
    out = pd.concat(parts).sort_index()
    for col in PROMPT_SET_COLUMNS:
        if col in out.columns:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    keep = list(RATING_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in out.columns]
    return out[keep].reset_index(drop=True)


def _own_labels(at: _Rows) -> tuple[np.ndarray, Any]:
    """Labels of a user's prompt set come from the table itself (they were the set's, written by
    the export): ``emotion`` any label or empty, ``sentiment`` a valence or empty, ``part_no`` a
    whole number; one set of labels per prompt. Returns the codes of (set, dialog)."""
    from empathy_task.vocabulary import VALENCES

    out, fail = at.out, at.fail
    out["prompt_set"] = out["prompt_set"].astype(str).str.strip()
    if "prompt_set_sha256" in out.columns:
        sha = out["prompt_set_sha256"].astype(object)
        empty = sha.isna() | sha.astype(str).str.strip().eq("")
        bad = ~empty & ~sha.astype(str).str.fullmatch(r"[0-9a-f]{64}")
        if bad.any():
            raise fail(bad.to_numpy(), "prompt_set_sha256", "not a sha256 (64 hex digits)")
        out["prompt_set_sha256"] = sha.where(~empty, None)
    for col in ("emotion", "sentiment", "plutchik"):
        cells = out[col].astype(object) if col in out.columns else pd.Series(None, index=out.index)
        empty = cells.isna() | cells.astype(str).str.strip().eq("")
        text = cells.astype(str).str.strip()
        if col == "sentiment":
            bad = ~empty & ~text.isin(VALENCES)
            if bad.any():
                raise fail(bad.to_numpy(), col, "unknown valence: use positive, negative or empty")
        out[col] = pd.Series(np.where(empty, None, text), index=out.index, dtype=object)
    if "part_no" not in out.columns:
        raise RatingTableError(at.origin, "missing column (a prompt set's batch)", column="part_no")
    numbers = pd.to_numeric(out["part_no"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (numbers < 0) | (np.mod(np.nan_to_num(numbers), 1) != 0)
    if bad.any():
        raise fail(bad, "part_no", "a batch must be a whole number from 0")
    out["part_no"] = numbers.astype("int64")
    key = out["prompt_set"] + "\x00" + out["dialog_id"].astype(str)
    dialog_code, dialogs = pd.factorize(key)
    labels = pd.Series(
        [
            f"{e}\x00{v}\x00{b}"
            for e, v, b in zip(out["emotion"], out["sentiment"], out["part_no"], strict=True)
        ],
        index=out.index,
    )
    first = labels.groupby(dialog_code).transform("first")
    wrong = (labels != first).to_numpy()
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        col = next(
            c
            for c in ("emotion", "sentiment", "part_no")
            if str(out[c].iloc[i])
            != str(out[c].iloc[int(np.flatnonzero(dialog_code == dialog_code[i])[0])])
        )
        raise fail(i, col, "differs from another rating's label of the same prompt")
    return dialog_code, dialogs


def _check_ids(at: _Rows) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Dialog, source and rater: present, one visible name each, as text; their codes and values."""
    out, fail = at.out, at.fail
    codes: dict[str, np.ndarray] = {}
    uniques: dict[str, Any] = {}
    for col in ("dialog_id", "source", "rater"):
        code, values = at.factorize(col)
        text = _is_text(values)
        # Code -1 is a missing cell: every per-value array gets one more entry at the end for it.
        if text and len(values):
            blank = pd.Series(values).str.strip().eq("").to_numpy(dtype=bool)
        else:
            blank = np.array([str(v).strip() == "" for v in values], dtype=bool)
        bad = np.append(blank, True)[code]
        if bad.any():
            raise fail(bad, col, "empty")
        if text and len(values):
            # An id is one visible name: a NUL or a line break in it is a corrupt file.
            control = pd.Series(values).str.contains(_CONTROL, regex=True).to_numpy(dtype=bool)
            bad = np.append(control, False)[code]
            if bad.any():
                raise fail(bad, col, "control character (NUL, tab, line break, ...) in an id")
        if not text:
            # Numbers in JSONL or Parquet: as text, rater 7 and rater "7" are one rater.
            out[col] = out[col].astype(str)
            code, values = pd.factorize(out[col])
        codes[col], uniques[col] = code, values
    return codes, uniques


def _check_ratings(at: _Rows) -> None:
    """Each rating is 1, 2 or 3 (a number or its digits; never a boolean)."""
    code, values = at.factorize("rating")
    numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy()
    valid = np.isin(numeric, RATINGS) & np.array(
        [not isinstance(v, bool | np.bool_) for v in values], dtype=bool
    )
    bad = ~np.append(valid, False)[code]
    if bad.any():
        raise at.fail(bad, "rating", "rating must be 1 (Bad), 2 (Okay) or 3 (Good)")
    at.out["rating"] = numeric[code].astype("int64")


def _fill_labels(at: _Rows, dialog_code: np.ndarray, dialogs: Any) -> tuple[np.ndarray, Any]:
    """Look each dialog up in the manifest (once per dialog), check the labels a table gives
    against it and fill the rest; returns the dialog codes and ids."""
    from empathy_task.data.study import manifest

    out, fail = at.out, at.fail
    where = dialog_positions(dialogs)
    known = where >= 0
    if not known.all():
        i = int(np.asarray(~known[dialog_code]).nonzero()[0][0])
        raise RatingTableError(
            at.origin, unknown_dialog(out["dialog_id"].iloc[i]), at.row(i), "dialog_id"
        )
    ref = manifest()
    study_labels = ref.iloc[where]
    emotions = set(ref["emotion"])
    for col in LABEL_COLUMNS:
        expected = study_labels[col].to_numpy()
        if col in out.columns:
            given_code, given = at.factorize(col)
            if col == "part_no":
                # A whole number as its digits (3, 3.0 and "3" alike); anything else as written.
                numbers = pd.to_numeric(pd.Series(given, dtype=object), errors="coerce")
                text = [
                    str(int(x)) if np.isfinite(x) and float(x).is_integer() else str(v).strip()
                    for x, v in zip(numbers.to_numpy(dtype=float), given, strict=True)
                ]
            else:
                text = [str(v).strip() for v in given]
            text.append("nan")  # code -1: a missing cell
            text_of = np.array(text, dtype=object)
            if col == "emotion":
                unknown = np.array([t not in emotions for t in text], dtype=bool)
                if unknown[given_code].any():
                    raise fail(unknown[given_code], col, "unknown emotion")
            # One check per distinct (dialog, given label) pair.
            pair = dialog_code.astype(np.int64) * len(text) + np.where(
                given_code < 0, len(text) - 1, given_code
            )
            pairs = np.unique(pair)
            wrong = text_of[pairs % len(text)] != expected[pairs // len(text)].astype(str)
            if wrong.any():
                bad = np.isin(pair, pairs[wrong])
                raise fail(bad, col, f"does not match the study's {col} for this dialog")
        if col == "part_no":
            out[col] = expected[dialog_code].astype("int64")
        else:
            # A take on the distinct labels: no Python string per row.
            out[col] = pd.array(expected.astype(str).tolist(), dtype="str").take(dialog_code)
    return dialog_code, dialogs


def _check_probabilities(
    out: pd.DataFrame, origin: str, fail: Callable[..., RatingTableError]
) -> None:
    """Check and convert ``p_bad, p_okay, p_good`` in place (floats, NaN where a row has none).

    Columns that hold no value at all are dropped: a table without probabilities has none.
    """
    present = [c for c in PROBABILITY_COLUMNS if c in out.columns]
    if not present:
        return
    if len(present) < len(PROBABILITY_COLUMNS):
        missing = next(c for c in PROBABILITY_COLUMNS if c not in out.columns)
        raise RatingTableError(
            origin,
            f"missing column: the answer probabilities {', '.join(PROBABILITY_COLUMNS)} come "
            "all three or not at all",
            column=missing,
        )
    values = {}
    for col in PROBABILITY_COLUMNS:
        cells = out[col]
        blank = cells.isna().to_numpy() | cells.astype(str).str.strip().eq("").to_numpy()
        number = pd.to_numeric(cells.where(~blank), errors="coerce").to_numpy(dtype=float)
        is_bool = np.array([isinstance(v, bool | np.bool_) for v in cells.tolist()], dtype=bool)
        bad = (~blank & np.isnan(number)) | is_bool
        if bad.any():
            raise fail(bad, col, "not a probability (a number from 0 to 1)")
        outside = ~np.isnan(number) & ((number < 0) | (number > 1))
        if outside.any():
            raise fail(outside, col, "a probability must lie between 0 and 1")
        values[col] = number
    given = np.stack([~np.isnan(values[c]) for c in PROBABILITY_COLUMNS])
    partial = given.any(axis=0) & ~given.all(axis=0)
    if partial.any():
        col = PROBABILITY_COLUMNS[int(np.argmin(given[:, partial.nonzero()[0][0]]))]
        raise fail(
            partial, col, f"empty, but the row has other of {', '.join(PROBABILITY_COLUMNS)}"
        )
    total = sum(values[c] for c in PROBABILITY_COLUMNS)
    off = given.all(axis=0) & (np.abs(total - 1) > PROBABILITY_TOLERANCE)
    if off.any():
        i = int(off.nonzero()[0][0])
        raise fail(
            off,
            PROBABILITY_COLUMNS[-1],
            f"p_bad + p_okay + p_good = {total[i]:.4g}, not 1 (tolerance {PROBABILITY_TOLERANCE})",
        )
    if not given.any():
        out.drop(columns=list(PROBABILITY_COLUMNS), inplace=True)
        return
    for col in PROBABILITY_COLUMNS:
        out[col] = values[col]


def combine_repeats(frame: pd.DataFrame, place: Callable[[int], str]) -> tuple[pd.DataFrame, int]:
    """Keep one row per rating identity (dialog, source, rater, epoch); return it and the number
    of repeats dropped.

    Rows repeating a rating with the same value are one rating. Two rows that give the same
    rating identity different values are a :class:`RatingTableError` naming both places
    (``place(index)`` of each row, ``index`` being the frame's).
    """
    # Two sets may both have a prompt "p1": a rating's identity is within its prompt set.
    key = [*RATING_KEY, *(c for c in PROMPT_SET_COLUMNS if c in frame.columns)]
    keyed = with_epoch(frame)
    for c in PROMPT_SET_COLUMNS:
        if c in keyed.columns:
            keyed = keyed.assign(**{c: keyed[c].fillna("")})
    same = keyed.duplicated([*key, "rating"])
    distinct = keyed[~same]
    clash = distinct.duplicated(key, keep=False)
    if clash.any():
        first = distinct.index[clash.to_numpy()][0]
        row = distinct.loc[first]
        match = distinct[clash]
        match = match[(match[key] == row[key]).all(axis=1)]
        a, b = match.index[:2]
        raise RatingTableError(
            place(int(b)),
            f"rating {int(distinct.at[b, 'rating'])} of dialog {row['dialog_id']!r}, source "
            f"{row['source']!r} by rater {shown(row['rater'], 'rater')} (epoch {int(row['epoch'])}) disagrees with "
            f"rating {int(distinct.at[a, 'rating'])} of the same reply in {place(int(a))}: one "
            "rating cannot have two values (report the runs separately, or pick one judge "
            "scorer with --scorer)",
        )
    return frame[~same.to_numpy()], int(same.sum())


def _canonical_epoch(cells: pd.Series, fail: Callable[..., RatingTableError]) -> pd.Series:
    """Epochs as int64; an empty cell is epoch 1 (the column is optional); anything else but a
    whole number from 1 is an error."""
    cells = cells.astype(object)
    empty = cells.isna() | cells.map(lambda v: isinstance(v, str) and not v.strip())
    numbers = pd.to_numeric(cells.where(~empty, 1), errors="coerce")
    x = numbers.to_numpy(dtype=float)
    bool_cell = cells.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
    bad = ~np.isfinite(x) | (x < 1) | (np.mod(np.nan_to_num(x, nan=0.5), 1) != 0) | bool_cell
    if bad.any():
        raise fail(bad, "epoch", "epoch must be a whole number from 1")
    return pd.Series(x.astype("int64"), index=cells.index)


def _is_text(values: Any) -> bool:
    """Whether factorised values are all strings (an object array is looked at value by value)."""
    dtype = getattr(values, "dtype", None)
    if (
        dtype is not None
        and not pd.api.types.is_object_dtype(dtype)
        and pd.api.types.is_string_dtype(dtype)
    ):
        return True
    return all(isinstance(v, str) for v in values)


def _canonical_teq(cells: pd.Series, fail: Callable[..., RatingTableError]) -> pd.Series:
    """TEQ answers as a JSON list string (None where a row has none); a malformed list is an error.

    Parsed once per distinct cell: a rater's answers repeat on each of their rows.
    """
    from empathy_task.study import teq

    def present(value: object) -> bool:
        return not (
            value is None
            or value is pd.NA
            or (isinstance(value, float) and math.isnan(value))
            or (isinstance(value, str) and not value.strip())
        )

    canonical: dict[str, str] = {}
    values: list[str | None] = []
    for i, value in enumerate(cells.tolist()):
        if not present(value):
            values.append(None)
            continue
        if isinstance(value, str):
            key: str | None = value
        elif isinstance(value, list | tuple | np.ndarray):  # JSONL lists, Parquet arrays
            key = repr(list(value))
        else:
            key = None  # a number or an object: not answers (parse_answers says so)
        if key is None or key not in canonical:
            try:
                answers = json.dumps(teq.parse_answers(value))
            except (ValueError, TypeError) as e:
                raise fail(i, "teq", str(e)) from None
            if key is not None:
                canonical[key] = answers
        values.append(canonical[key] if key is not None else answers)
    return pd.Series(values, index=cells.index, dtype=object)


_FLAG_TEXT: dict[str, bool] = {"true": True, "false": False, "1": True, "0": False}


def canonical_flags(cells: pd.Series, fail: Callable[..., RatingTableError]) -> pd.Series:
    """``flagged`` cells as True, False or None (not checked): booleans, ``true``/``false`` in
    any case, 1/0; an empty cell is None. Anything else is an error naming the row."""

    def flag(value: object) -> bool | None:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if not text:
                return None
            if text in _FLAG_TEXT:
                return _FLAG_TEXT[text]
        elif isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
            return bool(value)
        raise ValueError(value)

    try:  # each distinct cell once
        codes, values = pd.factorize(cells)
        distinct = list(values)
    except TypeError:  # a list in a JSONL or Parquet cell: unhashable
        codes, distinct = np.arange(len(cells)), cells.tolist()
    canonical: list[bool | None] = []
    for i, value in enumerate(distinct):
        try:
            canonical.append(flag(value))
        except ValueError:
            raise fail(
                int(np.flatnonzero(codes == i)[0]), "flagged", "flagged must be true or false"
            ) from None
    canonical.append(None)  # code -1: a missing cell
    return pd.Series(np.array(canonical, dtype=object)[codes], index=cells.index, dtype=object)


def study_rating_table(study: pd.DataFrame) -> pd.DataFrame:
    """The study table's crowd ratings as a rating table: every stored source it holds."""
    from empathy_task.vocabulary import STORED_SOURCES

    parts = []
    for s in [s for s in STORED_SOURCES if f"rating_{s}" in study.columns]:
        part = study[["dialog_id", *LABEL_COLUMNS]].copy()
        part["source"] = s
        part["rater"] = study[f"rater_{s}"].to_numpy()
        part["rating"] = study[f"rating_{s}"].to_numpy()
        part["teq"] = [json.dumps(list(v)) for v in study[f"teq_{s}"]]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[[*RATING_COLUMNS, "teq"]]


def stored_rating_table(study: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The crowd ratings of every stored source: the study table's, and, for a source whose file
    is absent (no second study file), the shipped ratings of ``human_baseline/crowd_ratings.csv``.

    The ratings are published figures, so the study's six rows never need the second file's
    text; only replay, validation and rating sheets do. Returns the table and the sources that
    came from the shipped ratings (empty when every stored source's file is here).
    """
    from empathy_task.data.study import crowd_ratings, manifest, missing_sources

    table = study_rating_table(study)
    missing = missing_sources(study)
    if not missing:
        return table, ()
    shipped = crowd_ratings()
    shipped = shipped[shipped["source"].isin(missing)]
    shipped = shipped[shipped["dialog_id"].isin(study["dialog_id"])]
    # In the stored order (the shipped file is sorted by name), as the study table's sources are.
    shipped = shipped.sort_values("source", key=lambda c: c.map(missing.index), kind="stable")
    labels = manifest()[["dialog_id", *LABEL_COLUMNS]]
    shipped = shipped.merge(labels, on="dialog_id", how="left")
    shipped["teq"] = ""  # the shipped figures carry no TEQ answers
    out = pd.concat([table, shipped[[*RATING_COLUMNS, "teq"]]], ignore_index=True)
    return out, missing
