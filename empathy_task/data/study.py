"""The authors' CSV: find it, download and verify it, validate it against the shipped manifest.

The study text (situations, utterances, replies) is never shipped with the package; it is read at
run time from, in order: an explicit path, the ``EMPATHY_TASK_DATA`` variable, the user cache, or a
download of the pinned URL into the user cache (sha256-verified, atomic).

EmpatheticDialogues, and so this file, is licensed CC BY-NC 4.0.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pandas as pd

from empathy_task.data.fetch import DataError, resolve_data_file
from empathy_task.ratings.table import excerpt
from empathy_task.resources import resource_path
from empathy_task.vocabulary import STORED_SOURCES, authors_pseudonym

MANIFEST_COLUMNS: tuple[str, ...] = ("dialog_id", "emotion", "sentiment", "plutchik", "part_no")


_TEXT_COLUMNS = ("situation", "speaker_uttr")


_PER_SOURCE = ("response", "rating", "annotator", "empathy_propensity", "empathy_arr")


REQUIRED_COLUMNS: tuple[str, ...] = (
    *MANIFEST_COLUMNS,
    *_TEXT_COLUMNS,
    *(f"{kind}_{s}" for s in STORED_SOURCES for kind in _PER_SOURCE),
)


@cache
def manifest() -> pd.DataFrame:
    """The shipped manifest: 2,000 dialog ids with emotion, valence, Plutchik class and batch."""
    return pd.read_csv(resource_path("human_baseline/manifest.csv"), dtype={"part_no": "int64"})


@cache
def manifest_index() -> pd.Index:
    """The study's 2,000 dialog ids, in manifest order: where every dialog id is looked up."""
    return pd.Index(manifest()["dialog_id"])


def emotions() -> tuple[str, ...]:
    """The study's 32 emotion labels, sorted."""
    return tuple(sorted(manifest()["emotion"].unique()))


def _locate(path: Path, frame: pd.DataFrame, mask: pd.Series, column: str, what: str) -> DataError:
    idx = int(mask.to_numpy().nonzero()[0][0])
    # +2: one header line, rows counted from 1 as a spreadsheet shows them. Cells are quoted as
    # short excerpts: a corrupt file can hold a cell of megabytes.
    return DataError(
        f"{path}: row {idx + 2}, column {column!r}: {what} "
        f"(value {excerpt(frame[column].iloc[idx])}, dialog {excerpt(frame['dialog_id'].iloc[idx])})"
    )


def validate_study_frame(frame: pd.DataFrame, path: Path) -> None:
    """Check the authors' CSV against the manifest and the stored crowd ratings."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise DataError(f"{path}: no rows")
    dup = frame["dialog_id"].duplicated()
    if dup.any():
        raise _locate(path, frame, dup, "dialog_id", "duplicate dialog id")
    ref = manifest().set_index("dialog_id")
    known = frame["dialog_id"].isin(ref.index)
    if not known.all():
        raise _locate(path, frame, ~known, "dialog_id", "dialog id not in the study's manifest")
    aligned = ref.loc[frame["dialog_id"]]
    for col in MANIFEST_COLUMNS[1:]:
        left = frame[col].astype(str).to_numpy()
        bad = pd.Series(left != aligned[col].astype(str).to_numpy())
        if bad.any():
            raise _locate(path, frame, bad, col, f"does not match the manifest's {col}")
    stored = crowd_ratings().pivot(index="dialog_id", columns="source", values="rating")
    stored = stored.loc[frame["dialog_id"]]
    for s in STORED_SOURCES:
        col = f"rating_{s}"
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = pd.Series(~values.isin([1, 2, 3]).to_numpy())
        if bad.any():
            raise _locate(path, frame, bad, col, "rating must be 1, 2 or 3")
        bad = pd.Series(values.to_numpy() != stored[s].to_numpy())
        if bad.any():
            raise _locate(path, frame, bad, col, "does not match the stored crowd rating")
        empty = pd.Series(frame[f"response_{s}"].astype(str).str.strip().eq("").to_numpy())
        if empty.any():
            raise _locate(path, frame, empty, f"response_{s}", "empty reply")


@cache
def crowd_ratings() -> pd.DataFrame:
    """The stored crowd ratings: one row per (dialog, source) with a hashed rater id."""
    return pd.read_csv(resource_path("human_baseline/crowd_ratings.csv"))


def _teq_answers(cell: str, path: Path, row: int, column: str) -> list[int]:
    # The CSV stores the 16 answers centred on 0 (-2 Never .. 2 Always); keep the 0-4 scale.
    where = f"{path}: row {row + 2}, column {column!r}"
    try:
        values = [int(v) + 2 for v in cell.strip("[] ").split(",")]
    except ValueError:
        # Not chained: int()'s error would quote the whole cell.
        raise DataError(f"{where}: not a TEQ answer list (value {excerpt(cell)})") from None
    if len(values) != 16 or not all(0 <= v <= 4 for v in values):
        raise DataError(f"{where}: need 16 answers in -2..2 (value {excerpt(cell)})")
    return values


def _read(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, keep_default_na=False, dtype=str)
    except UnicodeDecodeError as e:
        from empathy_task.ratings.files import not_utf8

        raise DataError(str(not_utf8(path, e))) from None  # names the line, not a byte offset
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: not a readable CSV: {e}") from e
    for col in ("part_no", *(f"rating_{s}" for s in STORED_SOURCES)):
        if col in raw.columns:
            raw[col] = pd.to_numeric(raw[col], errors="coerce")
    validate_study_frame(raw, path)
    frame = pd.DataFrame(
        {
            "dialog_id": raw["dialog_id"],
            "emotion": raw["emotion"],
            "sentiment": raw["sentiment"],
            "plutchik": raw["plutchik"],
            "part_no": raw["part_no"].astype("int64"),
            "situation": raw["situation"],
            "speaker_turn": raw["speaker_uttr"],
        }
    )
    for s in STORED_SOURCES:
        frame[f"reply_{s}"] = raw[f"response_{s}"]
        frame[f"rating_{s}"] = raw[f"rating_{s}"].astype("int64")
        # Personal data: the crowd-platform id is replaced by a pseudonym at load time.
        frame[f"rater_{s}"] = raw[f"annotator_{s}"].map(authors_pseudonym)
        col = f"empathy_arr_{s}"
        frame[f"teq_{s}"] = [_teq_answers(c, path, i, col) for i, c in enumerate(raw[col])]
    return frame


_frames: dict[tuple[str, int, int], pd.DataFrame] = {}


def load_study(
    path: str | os.PathLike[str] | None = None, *, allow_download: bool = True
) -> pd.DataFrame:
    """The validated study table, one row per prompt, rater ids pseudonymised.

    Columns: ``dialog_id, emotion, sentiment, plutchik, part_no, situation, speaker_turn`` and, per
    stored source S, ``reply_S, rating_S, rater_S, teq_S`` (16 TEQ answers on 0-4).
    A copy is returned; the parsed file is kept in memory for the process (keyed by mtime).
    """
    p = resolve_data_file(path, allow_download=allow_download)
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _frames:
        _frames[key] = _read(p)
    return _frames[key].copy()
