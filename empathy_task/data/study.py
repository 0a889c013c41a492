"""The study's two pinned files: find them, verify them, validate them against the shipped
manifest and crowd ratings, and join them on ``dialog_id``.

The study text (situations, utterances, replies) is never shipped with the package; it is read at
run time from, in order: an explicit path, the ``EMPATHY_TASK_DATA`` variable, the user cache, or a
download of the pinned URL into the user cache (sha256-verified, atomic). The second file (the
paper's LLaMA-2, Gemini and Mixtral replies, ``EMPATHY_TASK_MODELS_DATA``) is optional: without it
the study table holds the authors' three sources and the missing ones are named in the log.

EmpatheticDialogues, and so the text of both files, is licensed CC BY-NC 4.0.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path

import pandas as pd

from empathy_task.data.fetch import (
    MODELS_DATA_ENV,
    DataError,
    find_models_data_file,
    resolve_data_file,
)
from empathy_task.ratings.table import excerpt
from empathy_task.resources import resource_path
from empathy_task.vocabulary import (
    AUTHORS_SOURCES,
    MODELS_FILE_SOURCES,
    SHARED_SOURCES,
    STORED_SOURCES,
    authors_pseudonym,
)

log = logging.getLogger(__name__)

MANIFEST_COLUMNS: tuple[str, ...] = ("dialog_id", "emotion", "sentiment", "plutchik", "part_no")


_TEXT_COLUMNS = ("situation", "speaker_uttr")


_PER_SOURCE = ("response", "rating", "annotator", "empathy_propensity", "empathy_arr")


REQUIRED_COLUMNS: tuple[str, ...] = (
    *MANIFEST_COLUMNS,
    *_TEXT_COLUMNS,
    *(f"{kind}_{s}" for s in AUTHORS_SOURCES for kind in _PER_SOURCE),
)

#: The sources of the second file, in its own order.
MODELS_FILE_ALL_SOURCES: tuple[str, ...] = (*SHARED_SOURCES, *MODELS_FILE_SOURCES)
MODELS_REQUIRED_COLUMNS: tuple[str, ...] = (
    *MANIFEST_COLUMNS,
    *_TEXT_COLUMNS,
    *(f"{kind}_{s}" for s in MODELS_FILE_ALL_SOURCES for kind in _PER_SOURCE),
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


def validate_study_frame(
    frame: pd.DataFrame,
    path: Path,
    sources: tuple[str, ...] = AUTHORS_SOURCES,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
) -> None:
    """Check a study file (by default the authors' CSV) against the manifest and the stored
    crowd ratings of its ``sources``."""
    missing = [c for c in required if c not in frame.columns]
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
    for s in sources:
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


def _read_raw(path: Path, sources: tuple[str, ...], required: tuple[str, ...]) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, keep_default_na=False, dtype=str)
    except UnicodeDecodeError as e:
        from empathy_task.ratings.files import not_utf8

        raise DataError(str(not_utf8(path, e))) from None  # names the line, not a byte offset
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: not a readable CSV: {e}") from e
    for col in ("part_no", *(f"rating_{s}" for s in sources)):
        if col in raw.columns:
            raw[col] = pd.to_numeric(raw[col], errors="coerce")
    validate_study_frame(raw, path, sources, required)
    return raw


def _source_columns(raw: pd.DataFrame, path: Path, s: str) -> dict[str, object]:
    col = f"empathy_arr_{s}"
    return {
        f"reply_{s}": raw[f"response_{s}"],
        f"rating_{s}": raw[f"rating_{s}"].astype("int64"),
        # Personal data: the crowd-platform id is replaced by a pseudonym at load time.
        f"rater_{s}": raw[f"annotator_{s}"].map(authors_pseudonym),
        f"teq_{s}": [_teq_answers(c, path, i, col) for i, c in enumerate(raw[col])],
    }


def _read(path: Path) -> pd.DataFrame:
    raw = _read_raw(path, AUTHORS_SOURCES, REQUIRED_COLUMNS)
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
    for s in AUTHORS_SOURCES:
        for name, values in _source_columns(raw, path, s).items():
            frame[name] = values
    return frame


def join_models_file(frame: pd.DataFrame, first: Path, path: Path) -> pd.DataFrame:
    """The study table with the second file's sources added, joined on ``dialog_id``.

    The second file must hold the same dialogs, and its prompt text and its ``human`` and
    ``chatgpt_empathy`` replies, ratings, raters and TEQ answers must equal the authors' CSV's
    row for row.

    Raises:
        DataError: naming the second file, its row, the column and the dialog that differ.
    """
    raw = _read_raw(path, MODELS_FILE_ALL_SOURCES, MODELS_REQUIRED_COLUMNS)
    ids = raw["dialog_id"]
    absent = ~frame["dialog_id"].isin(ids)
    if absent.any():
        dialog = frame["dialog_id"][absent].iloc[0]
        raise DataError(f"{path}: no row for dialog {dialog}, which {first} holds")
    extra = ~ids.isin(frame["dialog_id"])
    if extra.any():
        raise _locate(path, raw, extra, "dialog_id", f"dialog not in {first}")
    theirs = pd.DataFrame({"dialog_id": ids, "situation": raw["situation"]})
    theirs["speaker_turn"] = raw["speaker_uttr"]
    for s in MODELS_FILE_ALL_SOURCES:
        for name, values in _source_columns(raw, path, s).items():
            theirs[name] = values
    # Row i of ``ours`` is the authors' row of the dialog on row i of the second file.
    ours = frame.set_index("dialog_id").loc[ids].reset_index()
    shared = ["situation", "speaker_turn"]
    shared += [f"{k}_{s}" for s in SHARED_SOURCES for k in ("reply", "rating", "rater", "teq")]
    raw_name = {"reply": "response", "rater": "annotator", "teq": "empathy_arr"}
    for col in shared:
        differ = pd.Series(
            [a != b for a, b in zip(ours[col], theirs[col], strict=True)], index=raw.index
        )
        if differ.any():
            kind, _, source = col.partition("_")
            name = f"{raw_name.get(kind, kind)}_{source}" if source else col
            name = "speaker_uttr" if col == "speaker_turn" else name
            i = int(differ.to_numpy().nonzero()[0][0])
            raise DataError(
                f"{path}: row {i + 2}, column {name!r}: differs from {first} "
                f"(dialog {excerpt(ids.iloc[i])})"
            )
    added = theirs.set_index("dialog_id").loc[frame["dialog_id"]]
    out = frame.copy()
    for s in MODELS_FILE_SOURCES:
        for kind in ("reply", "rating", "rater", "teq"):
            out[f"{kind}_{s}"] = added[f"{kind}_{s}"].to_numpy()
    return out


def study_sources(study: pd.DataFrame) -> tuple[str, ...]:
    """The stored sources whose replies and ratings the study table holds, in stored order."""
    return tuple(s for s in STORED_SOURCES if f"reply_{s}" in study.columns)


def missing_sources(study: pd.DataFrame) -> tuple[str, ...]:
    """The stored sources the study table lacks (the second file is absent)."""
    return tuple(s for s in STORED_SOURCES if f"reply_{s}" not in study.columns)


def missing_sources_note(missing: tuple[str, ...]) -> str:
    """One sentence naming the stored sources without replies, and how to add them."""
    return (
        f"the second study file is absent, so the replies of {', '.join(missing)} are not "
        f"loaded (their shipped crowd ratings still are): set {MODELS_DATA_ENV}, pass "
        "--models-data (-T models_data=), or run `empathy-task data` to fetch it"
    )


_frames: dict[tuple[object, ...], pd.DataFrame] = {}
_noted_absent = False


def _key(p: Path) -> tuple[str, int, int]:
    st = p.stat()
    return (str(p.resolve()), st.st_mtime_ns, st.st_size)


def load_study(
    path: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    models_data: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """The validated study table, one row per prompt, rater ids pseudonymised.

    Columns: ``dialog_id, emotion, sentiment, plutchik, part_no, situation, speaker_turn`` and, per
    stored source S, ``reply_S, rating_S, rater_S, teq_S`` (16 TEQ answers on 0-4). The sources
    are the authors' three and, when the second file is here (``models_data``,
    ``EMPATHY_TASK_MODELS_DATA`` or the cache; :func:`~empathy_task.data.fetch.find_models_data_file`),
    its three models; without it the missing sources are named once in the log.
    A copy is returned; the parsed files are kept in memory for the process (keyed by mtime).
    """
    global _noted_absent
    p = resolve_data_file(path, allow_download=allow_download)
    second = find_models_data_file(models_data)
    key = (_key(p), _key(second) if second is not None else None)
    if key not in _frames:
        first_key = (_key(p), None)
        if first_key not in _frames:
            _frames[first_key] = _read(p)
        if second is not None:
            _frames[key] = join_models_file(_frames[first_key], p, second)
    if second is None and not _noted_absent:
        _noted_absent = True
        log.info(missing_sources_note(MODELS_FILE_SOURCES))
    return _frames[key].copy()
