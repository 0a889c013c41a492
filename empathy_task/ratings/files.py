"""Rating tables on disk: one suffix dispatch (CSV, JSONL, Parquet), bounded readers that name
file, row and column, and the atomic writer.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from empathy_task.outputs import _NEUTRALISED, read_safe_csv, write_atomic, write_safe_csv
from empathy_task.ratings.table import (
    EXCERPT_CHARS,
    RatingTableError,
    excerpt,
    validate_rating_table,
)

#: The one suffix dispatch of table files: what each suffix holds.
FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
#: Inspect's log formats (its binary ``.eval`` and its JSON log).
LOG_SUFFIXES: tuple[str, ...] = (".eval", ".json")


def table_format(
    path: str | os.PathLike[str],
    allowed: Sequence[str] = ("csv", "jsonl", "parquet"),
    what: str = "rating-table",
) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file name, if ``allowed`` for this kind of table.

    Every reader and writer of tables (rating tables, replies, sheets, keys, returns) asks here,
    so a suffix means the same everywhere.
    """
    suffix = Path(path).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None or fmt not in allowed:
        names = [f".{a}" for a in allowed]
        use = " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]
        raise RatingTableError(str(path), f"unknown {what} format {suffix!r}; use {use}")
    return fmt


def is_inspect_log(path: str | os.PathLike[str]) -> bool:
    """Whether the file name is an Inspect log's (``.eval`` or ``.json``)."""
    return Path(path).suffix.lower() in LOG_SUFFIXES


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
    """How many rows one input may hold: ``EMPATHY_TASK_MAX_ROWS``, else :data:`MAX_ROWS`."""
    return int(os.environ.get("EMPATHY_TASK_MAX_ROWS", MAX_ROWS))


#: Rows a large CSV or JSONL input is read in, and bytes its line ends are counted in.
BATCH_ROWS = 65_536
_SCAN_BYTES = 16 << 20


def too_many_rows(origin: str, limit: int, row: int | None = None) -> RatingTableError:
    """The error for an input with more than ``limit`` rows, at the first row beyond it."""
    return RatingTableError(
        origin,
        f"more than the {limit:,} rows an input may hold (set EMPATHY_TASK_MAX_ROWS to allow more)",
        row=row,
    )


def _line_ends_at_most(path: str | os.PathLike[str], limit: int) -> bool:
    """Whether the file has at most ``limit`` line ends (``\n`` and ``\r`` each counted).

    No CSV or JSONL reader finds more records than line ends + 1, so a file within this bound
    needs no row count; counted in blocks, never read whole, stopped at the bound.
    """
    ends = 0
    with Path(path).open("rb") as f:
        while block := f.read(_SCAN_BYTES):
            ends += block.count(b"\n") + block.count(b"\r")
            if ends > limit:
                return False
    return True


#: The longest cell a Parquet table may hold (bytes). A rating table's cells are ids, labels,
#: numbers and a 16-answer JSON list; a longer cell is refused before the rows are decoded.
MAX_CELL_BYTES = 1 << 20


def read_parquet_bounded(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A Parquet file as a frame, refused before decoding if it decodes to too much.

    Refused from the metadata: more rows than :func:`max_rows`, more bytes than
    :data:`MAX_DECODED_BYTES`, a column name twice. Text columns are read dictionary-encoded
    (each distinct value once, a dictionary page never expanded): a cell longer than
    :data:`MAX_CELL_BYTES` is an error naming its row and column, and the decoded size is
    counted from the value lengths before any value is copied (a 1 MB file whose dictionary
    holds one 50 MB value would otherwise decode to GBs).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    origin = str(path)
    probe = pq.ParquetFile(path)
    meta = probe.metadata
    limit = max_rows()
    if meta.num_rows > limit:
        raise RatingTableError(
            origin,
            f"{meta.num_rows:,} rows, more than the {limit:,} an input may hold "
            "(set EMPATHY_TASK_MAX_ROWS to allow more)",
        )
    names = probe.schema_arrow.names
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise RatingTableError(
                origin,
                f"the column name appears twice (columns {seen[name]} and {number})",
                row=1,
                column=excerpt(name)[1:-1] if len(name) > EXCERPT_CHARS else name,
            )
        seen[name] = number
    decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if decoded > MAX_DECODED_BYTES:
        raise RatingTableError(
            origin, f"decodes to {decoded:,} bytes, more than {MAX_DECODED_BYTES:,} an input may"
        )
    schema = probe.schema_arrow
    text = [
        f.name
        for f in schema
        if pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type)
        or pa.types.is_binary(f.type)
        or pa.types.is_large_binary(f.type)
        or (pa.types.is_dictionary(f.type) and pa.types.is_string(f.type.value_type))
    ]
    reader = pq.ParquetFile(path, read_dictionary=text)
    batches = []
    offset = 0
    total = 0
    for batch in reader.iter_batches(batch_size=BATCH_ROWS):
        columns = []
        for name, column in zip(batch.schema.names, batch.columns):
            if name in text and pa.types.is_dictionary(column.type):
                lengths = pc.binary_length(column.dictionary)
                widths = pc.take(lengths, column.indices)
                longest = pc.max(lengths).as_py() or 0
                if longest > MAX_CELL_BYTES:
                    over = pc.greater(widths, MAX_CELL_BYTES).to_numpy(zero_copy_only=False)
                    i = int(over.nonzero()[0][0])
                    raise RatingTableError(
                        origin,
                        f"a cell of {longest:,} bytes, more than the {MAX_CELL_BYTES:,} a cell "
                        "may hold",
                        row=offset + i + 1,
                        column=name,
                    )
                total += int(pc.sum(widths).as_py() or 0)
                if total > MAX_DECODED_BYTES:
                    raise RatingTableError(
                        origin,
                        f"decodes to more than {MAX_DECODED_BYTES:,} bytes (its text columns "
                        "repeat long values), more than an input may",
                        row=offset + batch.num_rows,
                    )
                column = column.dictionary_decode()
            columns.append(column)
        batches.append(pa.RecordBatch.from_arrays(columns, names=batch.schema.names))
        offset += batch.num_rows
    if not batches:
        return schema.empty_table().to_pandas()
    return pa.Table.from_batches(batches).to_pandas()


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
    """What :func:`empathy_task.outputs.read_safe_csv` reads (every cell text, escapes undone), fast.

    pyarrow's parser reads a regular file several times faster than pandas' with ``dtype=str``;
    a file it refuses or could read differently (ragged rows, a repeated or empty column name) goes
    to ``read_safe_csv`` itself, so that both give the same table.
    """

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    origin = str(path)
    limit = max_rows()
    header = csv_header(path)
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
    # At most `limit` line ends: at most `limit` rows besides the header. More: count the rows as
    # pandas reads them, in batches, and stop at the first row beyond the bound.
    if not _line_ends_at_most(path, limit):
        return _read_safe_csv_bounded(path, limit)
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


def csv_header(path: str | os.PathLike[str], errors: str = "strict") -> list[str]:
    """The header line of a CSV file, as the csv module reads it.

    A header field over the csv module's 128 KiB limit (a 2 MB header, quoted or not) is a
    :class:`RatingTableError` at row 1, read no further than that field.
    """
    import csv

    try:
        with Path(path).open(newline="", encoding="utf-8-sig", errors=errors) as f:
            return next(csv.reader(f), [])
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from e
    except csv.Error as e:
        raise RatingTableError(str(path), f"unreadable CSV header: {e}", row=1) from e


def _read_safe_csv_bounded(path: str | os.PathLike[str], limit: int) -> pd.DataFrame:
    """:func:`empathy_task.outputs.read_safe_csv`, read in batches of :data:`BATCH_ROWS` rows:
    a file with more than ``limit`` rows is refused at the first batch beyond it."""
    origin = str(path)
    parts: list[pd.DataFrame] = []
    rows = 0
    with pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=BATCH_ROWS) as reader:
        for part in reader:
            if rows + len(part) > limit:
                raise too_many_rows(origin, limit, row=limit + 2)  # +2: header, counted from 1
            rows += len(part)
            parts.append(part)
    if not parts:  # a header and blank lines
        return read_safe_csv(path)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for col in frame.columns:
        hit = frame[col].str.contains(_NEUTRALISED, regex=True).to_numpy(dtype=bool)
        if hit.any():
            frame.loc[hit, col] = frame.loc[hit, col].str.slice(1)
    return frame


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each non-blank line of a JSONL file.

    A line that is not a JSON object, a file that is not UTF-8, or a record beyond the
    :func:`max_rows` an input may hold is a :class:`RatingTableError` naming the file and line.
    """
    origin = str(path)
    limit = max_rows()
    records = 0
    try:
        with Path(path).open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                records += 1
                if records > limit:
                    raise too_many_rows(origin, limit, row=n)
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
    """The records of a JSONL file as a frame, and the line number of each (blank lines skipped).

    Records become frames :data:`BATCH_ROWS` at a time, so a large file never holds all its
    records as Python dicts at once.
    """
    parts: list[pd.DataFrame] = []
    lines: list[int] = []
    batch: list[dict[str, Any]] = []
    for n, rec in iter_jsonl(path):
        lines.append(n)
        batch.append(rec)
        if len(batch) == BATCH_ROWS:
            parts.append(pd.DataFrame.from_records(batch))
            batch = []
    if batch or not parts:
        parts.append(pd.DataFrame.from_records(batch))
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True, sort=False)
    return frame, lines


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
