"""The rating table: one row per rating, the format every importer writes and the reporter reads.

Columns (docs/design.md, "The rating table"): ``dialog_id, emotion, sentiment, plutchik, part_no,
source, rater, rating`` with rating 1 = Bad, 2 = Okay, 3 = Good. An optional ``teq`` column holds
the rater's 16 Toronto Empathy Questionnaire answers (0-4) as a JSON list, for rater quality.
Stored as CSV, JSONL or Parquet, chosen by the file's suffix.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from empathy_task._io import _NEUTRALISED, read_safe_csv, write_atomic, write_safe_csv

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
OPTIONAL_COLUMNS: tuple[str, ...] = ("teq",)
RATING_LABELS: dict[int, str] = {1: "Bad", 2: "Okay", 3: "Good"}
FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


# C0 and C1 control characters and DEL: never part of an id, a source or a rater.
_CONTROL = r"[\x00-\x1f\x7f-\x9f]"
EXCERPT_CHARS = 60


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)``, cut to about ``limit`` characters: an error never echoes a whole cell."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(str(value)):,} characters)"


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


def table_format(path: str | os.PathLike[str]) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file name."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{path}: unknown rating-table format {suffix!r}; use .csv, .jsonl or .parquet"
        )
    return FORMATS[suffix]


def row_number(fmt: str, index: int) -> int:
    """The row a person opening the file sees for frame row ``index``: CSV counts its header
    line, Parquet counts rows from 1 (JSONL counts lines: see :func:`read_jsonl`)."""
    return index + 2 if fmt == "csv" else index + 1


def validate_rating_table(
    frame: pd.DataFrame,
    origin: str = "<table>",
    fmt: str = "jsonl",
    rows: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Check a rating table and return it in canonical form (labels filled from the manifest).

    Raises :class:`RatingTableError` naming the first bad row and column. ``rows`` gives each
    frame row's number in the file where it is not the position (a JSONL file with blank lines).
    """
    from empathy_task.data import manifest

    for col in ("dialog_id", "source", "rater", "rating"):
        if col not in frame.columns:
            raise RatingTableError(origin, "missing column", column=col)
    if frame.empty:
        raise RatingTableError(origin, "no ratings")
    out = frame.reset_index(drop=True)

    def fail(at: pd.Series | np.ndarray | int, column: str, what: str) -> RatingTableError:
        """The error for the first row of a mask (or row ``at``), naming the row's value."""
        i = at if isinstance(at, int) else int(np.asarray(at).nonzero()[0][0])
        row = rows[i] if rows is not None else row_number(fmt, i)
        return RatingTableError(
            origin, f"{what} (value {excerpt(out[column].iloc[i])})", row, column
        )

    def factorize(column: str) -> tuple[np.ndarray, Any]:
        try:
            return pd.factorize(out[column])
        except TypeError:  # a list or an object in a JSONL or Parquet cell: unhashable
            cells = out[column].tolist()
            i = next(i for i, v in enumerate(cells) if not isinstance(v, Hashable))
            raise fail(i, column, "not a single value") from None

    # Each check runs on a column's distinct values (a million ratings hold a few thousand) and
    # is mapped back to rows through the factorised codes, to name the first bad row. Code -1 is
    # a missing cell: every per-value array gets one more entry at the end for it.
    codes: dict[str, np.ndarray] = {}
    uniques: dict[str, Any] = {}
    for col in ("dialog_id", "source", "rater"):
        code, values = factorize(col)
        text = _is_text(values)
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

    code, values = factorize("rating")
    numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy()
    valid = np.isin(numeric, (1, 2, 3)) & np.array(
        [not isinstance(v, bool | np.bool_) for v in values], dtype=bool
    )
    bad = ~np.append(valid, False)[code]
    if bad.any():
        raise fail(bad, "rating", "rating must be 1 (Bad), 2 (Okay) or 3 (Good)")
    out["rating"] = numeric[code].astype("int64")

    ref = manifest().set_index("dialog_id")
    dialog_code, dialogs = codes["dialog_id"], uniques["dialog_id"]
    at = ref.index.get_indexer(dialogs)  # the manifest's ids are unique: a hash lookup
    known = at >= 0
    if not known.all():
        raise fail(
            ~known[dialog_code],
            "dialog_id",
            "unknown dialog id (not one of the study's 2,000 prompts)",
        )
    study_labels = ref.iloc[at]
    emotions = set(ref["emotion"])
    for col in LABEL_COLUMNS:
        expected = study_labels[col].to_numpy()
        if col in out.columns:
            given_code, given = factorize(col)
            if col == "part_no":
                # A whole number as its digits (3, 3.0 and "3" alike); anything else as written.
                numbers = pd.to_numeric(pd.Series(given, dtype=object), errors="coerce")
                text = [
                    str(int(x)) if np.isfinite(x) and float(x).is_integer() else str(v).strip()
                    for x, v in zip(numbers.to_numpy(dtype=float), given)
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

    # (dialog, source, rater) as one integer per row: duplicates hash fast.
    n_dialog, n_source = len(dialogs), int(codes["source"].max()) + 1
    key = dialog_code.astype(np.int64) + n_dialog * (
        codes["source"].astype(np.int64) + n_source * codes["rater"].astype(np.int64)
    )
    dup = pd.Series(key).duplicated().to_numpy()
    if dup.any():
        raise fail(
            dup, "dialog_id", "duplicate rating of the same dialog and source by the same rater"
        )
    if "teq" in out.columns:
        out["teq"] = _canonical_teq(out["teq"], fail)
    keep = list(RATING_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in out.columns]
    return out[keep]


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
    from empathy_task import teq

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


def read_rating_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a rating table from CSV, JSONL or Parquet."""
    frame, fmt, rows = read_table(path)
    return validate_rating_table(frame, str(path), fmt, rows)


def read_table(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, str, list[int] | None]:
    """A CSV, JSONL or Parquet file (by its suffix) as a frame: ``(frame, format, rows)``.

    CSV cells are text with the spreadsheet escapes undone (:func:`read_text_csv`). ``rows`` holds
    each record's line number for JSONL (blank lines are skipped) and is None otherwise (a CSV row
    is its position + 2, a Parquet row its position + 1). A missing or malformed file is a
    :class:`RatingTableError` naming it.
    """
    p = Path(path)
    fmt = table_format(p)
    origin = str(p)
    rows: list[int] | None = None
    try:
        if fmt == "csv":
            frame = read_text_csv(p)
        elif fmt == "jsonl":
            frame, rows = read_jsonl(p)
        else:
            frame = read_parquet_bounded(p)
    except RatingTableError:
        raise
    except UnicodeDecodeError as e:
        raise not_utf8(p, e) from e
    except FileNotFoundError as e:
        raise RatingTableError(origin, "file not found") from e
    except Exception as e:  # pandas/pyarrow raise many types for a malformed file
        raise RatingTableError(origin, f"not a readable {fmt} file: {e}") from e
    return frame, fmt, rows


# What one input may expand to. A rating table of the study's 2,000 prompts rated by every rater
# of a large crowd study holds well under a million rows; a file that decodes to more is refused
# from its metadata, before it is read (a 292 KB Parquet file of 10 million identical rows would
# otherwise take GBs). EMPATHY_TASK_MAX_ROWS raises the bound.
MAX_ROWS = 5_000_000
MAX_DECODED_BYTES = 2 << 30


def max_rows() -> int:
    return int(os.environ.get("EMPATHY_TASK_MAX_ROWS", MAX_ROWS))


def read_parquet_bounded(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A Parquet file as a frame, refused before reading if it decodes to too much."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    origin = str(path)
    meta = pq.ParquetFile(path).metadata
    limit = max_rows()
    if meta.num_rows > limit:
        raise RatingTableError(
            origin,
            f"{meta.num_rows:,} rows, more than the {limit:,} an input may hold "
            "(set EMPATHY_TASK_MAX_ROWS to allow more)",
        )
    decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if decoded > MAX_DECODED_BYTES:
        raise RatingTableError(
            origin, f"decodes to {decoded:,} bytes, more than {MAX_DECODED_BYTES:,} an input may"
        )
    # Row group by row group: the decoded batches, not one more copy of the whole file.
    batches = pq.ParquetFile(path).iter_batches(batch_size=65_536)
    table = pa.Table.from_batches(list(batches), schema=pq.ParquetFile(path).schema_arrow)
    return table.to_pandas()


_BARE_CR = re.compile(rb"\r(?!\n)")


def _has_bare_cr(path: str | os.PathLike[str]) -> bool:
    import mmap

    with Path(path).open("rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _BARE_CR.search(data) is not None


def _ends_with(path: str | os.PathLike[str], suffix: bytes) -> bool:
    with Path(path).open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < len(suffix):
            return False
        f.seek(size - len(suffix))
        return f.read() == suffix


def read_text_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """What :func:`empathy_task._io.read_safe_csv` reads (every cell text, escapes undone), fast.

    pyarrow's parser reads a regular file several times faster than pandas' with ``dtype=str``;
    a file it refuses or could read differently (ragged rows, a repeated or empty column name) goes
    to ``read_safe_csv`` itself, so that both give the same table.
    """
    import csv

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    origin = str(path)
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from e
    except csv.Error as e:  # a header field over the csv module's 128 KiB limit
        raise RatingTableError(origin, f"unreadable CSV header: {e}", row=1) from e
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name and name in seen:
            raise RatingTableError(
                origin,
                f"the column name appears twice (columns {seen[name]} and {number})",
                row=1,
                column=excerpt(name)[1:-1] if len(name) > EXCERPT_CHARS else name,
            )
        seen[name] = number
    # A bare "\r" (an old Mac line end, or one in a cell): pyarrow and pandas disagree on what
    # it ends, so such a file goes to pandas. Searched through a memory map, not read whole.
    if _has_bare_cr(path):
        return read_safe_csv(path)
    # One column: pandas skips a line of spaces as blank, pyarrow reads it as a cell. (With more
    # columns such a line has too few cells for pyarrow, which then gives the file to pandas.)
    if len(header) < 2 or "" in header or len(set(header)) < len(header):
        return read_safe_csv(path)
    try:
        table = pa_csv.read_csv(
            path,
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return read_safe_csv(path)
    if (
        table.num_rows == 0
        or table.column_names != header
        or any(t != pa.string() for t in table.schema.types)
    ):
        return read_safe_csv(path)
    # pyarrow takes a quote left open at the end of the file as a cell running to the end;
    # pandas refuses the file. Such a cell is the last one, and the file ends with it.
    last = table.column(table.num_columns - 1)[table.num_rows - 1].as_py()
    if _ends_with(path, ('"' + last.replace('"', '""')).encode("utf-8")):
        return read_safe_csv(path)
    frame = table.to_pandas()
    for col in frame.columns:
        # Only a cell starting with an apostrophe can be an escaped one.
        quoted = frame[col].str.startswith("'").to_numpy(dtype=bool)
        if quoted.any():
            cells = frame.loc[quoted, col]
            hit = cells.str.contains(_NEUTRALISED, regex=True)
            frame.loc[hit[hit].index, col] = cells[hit].str.slice(1)
    return frame


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each non-blank line of a JSONL file.

    A line that is not a JSON object, or a file that is not UTF-8, is a :class:`RatingTableError`
    naming the file and line.
    """
    origin = str(path)
    try:
        with Path(path).open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line, object_pairs_hook=_unique_keys)
                except json.JSONDecodeError as e:
                    raise RatingTableError(origin, f"not valid JSON: {e.msg}", row=n) from e
                except _DuplicateKeyError as e:
                    raise RatingTableError(origin, "key appears twice", row=n, column=str(e)) from e
                except RecursionError as e:
                    raise RatingTableError(origin, "JSON nested too deeply", row=n) from e
                if not isinstance(rec, dict):
                    raise RatingTableError(origin, "each line must be a JSON object", row=n)
                yield n, rec
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from e


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def not_utf8(path: str | os.PathLike[str], error: UnicodeDecodeError) -> RatingTableError:
    """The error for a file that is not UTF-8, naming the first line that is not."""
    with Path(path).open("rb") as f:
        for n, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return RatingTableError(
                    str(path), f"not UTF-8 text (byte {e.start + 1} of the line: {e.reason})", n
                )
    return RatingTableError(str(path), f"not UTF-8 text: {error.reason}")


def read_jsonl(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, list[int]]:
    """The records of a JSONL file as a frame, and the line number of each (blank lines skipped)."""
    numbered = list(iter_jsonl(path))
    frame = pd.DataFrame.from_records([rec for _, rec in numbered])
    return frame, [n for n, _ in numbered]


def write_rating_table(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, force: bool = False
) -> Path:
    """Validate and write a rating table atomically; refuse to overwrite unless ``force``."""
    fmt = table_format(path)
    table = validate_rating_table(frame, "<rating table to write>")

    def write(tmp: Path) -> None:
        if fmt == "csv":
            write_safe_csv(table, tmp)
        elif fmt == "jsonl":
            table.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            table.to_parquet(tmp, index=False)

    return write_atomic(path, write, force=force)


def study_rating_table(study: pd.DataFrame) -> pd.DataFrame:
    """The authors' crowd ratings as a rating table: sources human, chatgpt, chatgpt_empathy."""
    from empathy_task.data import STORED_SOURCES

    parts = []
    for s in STORED_SOURCES:
        part = study[["dialog_id", *LABEL_COLUMNS]].copy()
        part["source"] = s
        part["rater"] = study[f"rater_{s}"].to_numpy()
        part["rating"] = study[f"rating_{s}"].to_numpy()
        part["teq"] = [json.dumps(list(v)) for v in study[f"teq_{s}"]]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[[*RATING_COLUMNS, "teq"]]


CROWD = "crowd"


def rater_kind(rater: str) -> str:
    """``crowd`` for a pseudonymised person (``r-`` + 32 or 12 hex digits), else the judge's name.

    Ratings of different kinds are never tested against each other. See
    :mod:`empathy_task.privacy` for the rule, and for why a person's raw id is refused.
    """
    from empathy_task.privacy import PSEUDONYM

    return CROWD if PSEUDONYM.fullmatch(rater) else rater
