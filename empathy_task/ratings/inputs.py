"""The reporter's inputs: rating tables, Inspect logs and the authors' CSV, as one rating table.

Each input is one of three kinds, told apart by its name and, for CSV, its header:

- ``ratings``: a rating table (``.csv``, ``.jsonl``, ``.parquet``), read with
  :func:`empathy_task.ratings.files.read_rating_table`;
- ``log``: an Inspect log of ``empathy_task`` (``.eval``, or Inspect's ``.json``), converted with
  :func:`empathy_task.ratings.logs.rating_table_from_logs` (all logs in one call, so that the human
  replies judged in several logs by the same judge count once);
- ``study``: the authors' wide CSV (it has ``speaker_uttr`` and ``rating_human`` columns), loaded
  with :func:`empathy_task.data.study.load_study`; it gives the crowd ratings of three sources, ``human``,
  ``chatgpt`` and ``chatgpt_empathy``, with the raters' TEQ answers.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from empathy_task.ratings.files import FORMATS, is_inspect_log, table_format
from empathy_task.ratings.table import RatingTableError, row_number

INPUT_KINDS: tuple[str, ...] = ("ratings", "log", "study")
#: Columns that only the authors' wide CSV has.
STUDY_MARKER_COLUMNS: tuple[str, ...] = ("speaker_uttr", "rating_human")
_KEY = ["dialog_id", "source", "rater"]


@dataclass(frozen=True)
class LoadedInput:
    """What one input contributed to the rating table."""

    path: str
    kind: str
    ratings: int
    sources: tuple[str, ...]


def detect_kind(path: str | os.PathLike[str]) -> str:
    """``ratings``, ``log`` or ``study``, from the file name and (for CSV) the header line."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    if is_inspect_log(p):
        return "log"
    fmt = FORMATS.get(p.suffix.lower())
    if fmt in ("jsonl", "parquet"):
        return "ratings"
    if fmt == "csv":
        with p.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            header = next(csv.reader(f), [])
        return "study" if set(STUDY_MARKER_COLUMNS) <= set(header) else "ratings"
    suffix = p.suffix.lower()
    raise ValueError(
        f"{p}: cannot tell what kind of input this is (suffix {suffix!r}); expected a rating "
        "table (.csv, .jsonl, .parquet), an Inspect log (.eval, .json) or the authors' CSV; "
        "or name the kind with --kind"
    )


def _row_label(kind: str, path: Path, index: int, rows_per_source: int) -> int | None:
    # The row a person opening the file would look at (a header line counts in CSV).
    if kind == "study":
        return index % rows_per_source + 2
    if kind == "ratings":
        return row_number(table_format(path), index)
    return None  # a log has no rows to point at


def load_inputs(
    paths: Sequence[str | os.PathLike[str]], *, kind: str | None = None
) -> tuple[pd.DataFrame, list[LoadedInput]]:
    """Read every input into one validated rating table; ``kind`` forces the kind of all inputs.

    A rating that two inputs both hold (same dialog, source and rater) is an error naming both.
    """
    if not paths:
        raise ValueError("no inputs: give rating tables, Inspect logs or the authors' CSV")
    if kind is not None and kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}: use one of {', '.join(INPUT_KINDS)}")
    kinds = [(Path(p), kind or detect_kind(p)) for p in paths]
    for p, _ in kinds:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")

    parts: list[tuple[str, str, pd.DataFrame, Path, int]] = []
    logs = [p for p, k in kinds if k == "log"]
    for p, k in kinds:
        if k == "ratings":
            from empathy_task.ratings.files import read_rating_table

            parts.append((str(p), k, read_rating_table(p), p, 0))
        elif k == "study":
            from empathy_task.data.study import load_study
            from empathy_task.ratings.table import study_rating_table

            study = load_study(p)
            parts.append((str(p), k, study_rating_table(study), p, len(study)))
    if logs:
        from empathy_task.ratings.logs import rating_table_from_logs

        for p in logs:
            _check_log(p)
        origin = ", ".join(map(str, logs))
        parts.append((origin, "log", rating_table_from_logs(logs), logs[0], 0))

    for origin, k, frame, path, per_source in parts:
        _check_rater_ids(origin, k, frame, path, per_source)
    loaded = [
        LoadedInput(origin, k, len(frame), tuple(pd.unique(frame["source"])))
        for origin, k, frame, _, _ in parts
    ]
    if len(parts) == 1:
        return parts[0][2], loaded
    table = pd.concat([frame for _, _, frame, _, _ in parts], ignore_index=True)
    _check_no_overlap(table, parts)
    return table, loaded


def _check_rater_ids(
    origin: str, kind: str, frame: pd.DataFrame, path: Path, per_source: int
) -> None:
    """Refuse an input that names a person: a report must never carry one (see privacy)."""
    from empathy_task.vocabulary import PERSONAL_ID_HELP, first_personal_id, masked

    at = first_personal_id(frame["rater"])
    if at is not None:
        raw = str(frame["rater"].iloc[at])
        raise RatingTableError(
            origin,
            f"rater {masked(raw)} {PERSONAL_ID_HELP}",
            _row_label(kind, path, at, per_source),
            "rater",
        )


def _check_log(path: Path) -> None:
    """Fail early, naming the file, if ``path`` is not a readable Inspect log."""
    from inspect_ai.log import read_eval_log

    try:
        read_eval_log(str(path), header_only=True)
    except Exception as e:  # zip, JSON and schema errors all mean "not a log"
        raise RatingTableError(str(path), f"not a readable Inspect log: {e}") from e


def _check_no_overlap(
    table: pd.DataFrame, parts: list[tuple[str, str, pd.DataFrame, Path, int]]
) -> None:
    dup = table.duplicated(_KEY, keep=False)
    if not dup.any():
        return
    starts = [0]
    for _, _, frame, _, _ in parts:
        starts.append(starts[-1] + len(frame))
    key = tuple(table.loc[int(dup.to_numpy().nonzero()[0][0]), _KEY])
    same = (table["dialog_id"] == key[0]) & (table["source"] == key[1]) & (table["rater"] == key[2])
    first, second = (int(i) for i in same.to_numpy().nonzero()[0][:2])

    def where(i: int) -> tuple[str, int | None]:
        part = max(j for j, s in enumerate(starts[:-1]) if s <= i)
        origin, k, _, path, per_source = parts[part]
        return origin, _row_label(k, path, i - starts[part], per_source)

    origin_a, row_a = where(first)
    origin_b, row_b = where(second)
    also = origin_a if row_a is None else f"{origin_a} row {row_a}"
    raise RatingTableError(
        origin_b,
        f"duplicate rating of the same dialog and source by the same rater (also in {also}; "
        f"value {key[0]!r})",
        row_b,
        "dialog_id",
    )
