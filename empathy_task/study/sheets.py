"""Blinded rating sheets in the study's batches, and the key that un-blinds them.

One sheet per study batch (``part_no``, 10 prompts) and reply source: a rater sees one source only,
without being told which (docs/design.md, "The human study"). Items are shuffled per sheet with a seed
that the key records. Sheet and item ids are random tokens, so nothing in a sheet (file name, id or
field) reveals the source or the dialog; the key, written to a separate file, maps every item back
to its dialog, source and batch.

The replies come from a stored source of the authors' CSV, a table of replies (CSV/JSONL with
``dialog_id, reply`` and optional ``source``) or Inspect logs; the text the rater sees (emotion,
situation, Speaker #1's turn) is joined from the study table by ``dialog_id``.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from empathy_task.outputs import OutputExistsError, write_atomic, write_safe_csv
from empathy_task.ratings.files import read_table, table_format
from empathy_task.ratings.table import RatingTableError, row_number, unknown_dialog

if TYPE_CHECKING:
    from empathy_task.data.prompt_sets import PromptSet

#: Fields of a sheet file, in order. ``reply`` is Speaker #2's turn, the text being rated.
SHEET_COLUMNS: tuple[str, ...] = (
    "sheet_id",
    "position",
    "item_id",
    "emotion",
    "situation",
    "speaker_turn",
    "reply",
)
#: Fields of the key file, in order.
KEY_COLUMNS: tuple[str, ...] = (
    "sheet_id",
    "item_id",
    "position",
    "dialog_id",
    "source",
    "part_no",
    "seed",
)
#: Optional fields of a key made from a user's own prompt set (:func:`prompt_set_key`): the
#: set's identity and each prompt's labels, which the imported ratings then carry.
KEY_PROMPT_SET_COLUMNS: tuple[str, ...] = (
    "prompt_set",
    "prompt_set_sha256",
    "emotion",
    "sentiment",
)
#: Columns of the items frame that :func:`make_sheets` takes.
ITEM_COLUMNS: tuple[str, ...] = (
    "dialog_id",
    "source",
    "part_no",
    "emotion",
    "situation",
    "speaker_turn",
    "reply",
)
SHEET_FORMATS: tuple[str, ...] = ("jsonl", "csv")

SHEET_ID = re.compile(r"^s-[0-9a-f]{10}$")
ITEM_ID = re.compile(r"^i-[0-9a-f]{12}$")
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,127}$")


@dataclass(frozen=True)
class SheetItem:
    """One screen of the rating task: the context and the reply to rate."""

    item_id: str
    position: int
    emotion: str
    situation: str
    speaker_turn: str
    reply: str


@dataclass(frozen=True)
class Sheet:
    """One rater's batch: the items of one study batch and one source, in shuffled order."""

    sheet_id: str
    items: tuple[SheetItem, ...]


@dataclass(frozen=True)
class SheetSet:
    """Sheets and their key, as :func:`make_sheets` built them."""

    sheets: tuple[Sheet, ...]
    key: pd.DataFrame
    seed: int


# --------------------------------------------------------------------------- replies in


def _check_source_name(name: str) -> str:
    if not _SOURCE_NAME.fullmatch(name):
        raise ValueError(
            f"source name {name!r}: use letters, digits and _ . : / @ + - (at most 128 characters)"
        )
    return name


def replies_from_study(source: str, study: pd.DataFrame | None = None) -> pd.DataFrame:
    """A stored source's replies from the study table: columns ``dialog_id, source, reply``."""
    from empathy_task.data.study import load_study, missing_sources_note
    from empathy_task.vocabulary import STORED_SOURCES

    if source not in STORED_SOURCES:
        raise ValueError(
            f"{source!r} is not a stored source; the study's files hold "
            f"{', '.join(STORED_SOURCES)} (give an INPUT file for other sources)"
        )
    study = load_study() if study is None else study
    if f"reply_{source}" not in study.columns:
        raise ValueError(missing_sources_note((source,)))
    return pd.DataFrame(
        {"dialog_id": study["dialog_id"], "source": source, "reply": study[f"reply_{source}"]}
    )


def items_from_replies(
    replies: pd.DataFrame, study: pd.DataFrame | None = None, origin: str = "<replies>"
) -> pd.DataFrame:
    """Join replies with the study's labels and text: the items frame of :func:`make_sheets`.

    Every reply must answer one of the study's prompts, once per source (``study`` may be the
    context of a user's prompt set: :func:`items_from_prompt_set`).
    """
    from empathy_task.data.study import load_study

    study = load_study() if study is None else study
    out = replies.reset_index(drop=True).copy()
    for name in out["source"].unique():
        _check_source_name(str(name))
    known = out["dialog_id"].isin(set(study["dialog_id"]))
    if not known.all():
        i = int((~known).to_numpy().argmax())
        raise RatingTableError(origin, unknown_dialog(out["dialog_id"].iloc[i]), i + 1, "dialog_id")
    empty = out["reply"].isna() | out["reply"].astype(str).str.strip().eq("")
    if empty.any():
        i = int(empty.to_numpy().argmax())
        raise RatingTableError(origin, "empty reply: a rater would see nothing", i + 1, "reply")
    # read_replies refuses a second reply to one dialog from one source; a frame made by hand
    # is checked here, with the same words.
    dup = out.duplicated(["dialog_id", "source"])
    if dup.any():
        i = int(dup.to_numpy().argmax())
        raise RatingTableError(
            origin,
            f"second reply to dialog {out['dialog_id'].iloc[i]!r} from source "
            f"{out['source'].iloc[i]!r}",
            i + 1,
            "dialog_id",
        )
    context = study[["dialog_id", "part_no", "emotion", "situation", "speaker_turn"]]
    merged = out.merge(context, on="dialog_id", how="left", validate="many_to_one")
    return merged[list(ITEM_COLUMNS)]


def items_from_prompt_set(
    replies: pd.DataFrame, prompt_set: PromptSet, origin: str = "<replies>"
) -> pd.DataFrame:
    """:func:`items_from_replies` for replies to a user's own prompt set: the context comes
    from the set (earlier turns shown before Speaker #1's turn; no emotion where it has none)."""
    frame = prompt_set.frame
    known = replies["dialog_id"].isin(set(frame["dialog_id"]))
    if not known.all():
        i = int((~known).to_numpy().argmax())
        raise RatingTableError(
            origin,
            f"dialog id {replies['dialog_id'].iloc[i]!r} is not a prompt of the set "
            f"{prompt_set.name!r}",
            i + 1,
            "dialog_id",
        )
    from empathy_task.task.prompts import dialogue_before

    context = pd.DataFrame(
        {
            "dialog_id": frame["dialog_id"],
            "part_no": frame["part_no"],
            "emotion": frame["emotion"].fillna(""),
            "situation": frame["situation"].fillna(""),
            "speaker_turn": [
                dialogue_before(t, turns) for t, turns in zip(frame["speaker_turn"], frame["turns"])
            ],
        }
    )
    return items_from_replies(replies, context, origin)


def sample_batches(items: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """The items of whole batches drawn at random (seeded) until they hold at least ``n``
    prompts: a rater rates a whole batch, and prediction-powered inference assumes randomly
    chosen crowd-rated batches (docs/design.md, "The method")."""
    import numpy as np

    if n <= 0:
        raise ValueError(f"--sample must be a positive number of prompts, got {n}")
    batches = np.array(sorted(items["part_no"].unique()))
    order = np.random.default_rng(seed).permutation(batches)
    sizes = items.drop_duplicates("dialog_id").groupby("part_no").size()
    chosen, total = [], 0
    for b in order:
        if total >= n:
            break
        chosen.append(b)
        total += int(sizes[b])
    return items[items["part_no"].isin(chosen)].reset_index(drop=True)


def prompt_set_key(sheet_set: SheetSet, prompt_set: PromptSet) -> SheetSet:
    """The sheets with a key that names the prompt set and each prompt's labels."""
    import dataclasses

    labels = prompt_set.frame.set_index("dialog_id")
    key = sheet_set.key.copy()
    key["prompt_set"] = prompt_set.name
    key["prompt_set_sha256"] = prompt_set.sha256
    key["emotion"] = labels["emotion"].reindex(key["dialog_id"]).to_numpy()
    key["sentiment"] = labels["sentiment"].reindex(key["dialog_id"]).to_numpy()
    return dataclasses.replace(sheet_set, key=key)


# --------------------------------------------------------------------------- sheets


def _token(prefix: str, n_hex: int, taken: set[str]) -> str:
    # Random, not derived from the dialog or source: a derived id could be reversed from the
    # public manifest. Collisions are astronomically rare but cheap to rule out.
    while True:
        token = f"{prefix}-{secrets.token_hex(n_hex // 2)}"
        if token not in taken:
            taken.add(token)
            return token


def make_sheets(items: pd.DataFrame, *, seed: int | None = None) -> SheetSet:
    """One sheet per (source, ``part_no``), items shuffled per sheet, with blinded ids and a key.

    ``items`` has the columns of :data:`ITEM_COLUMNS` (see :func:`items_from_replies`; tests and
    demos may put their own text in it). ``seed`` (recorded in the key, random if not given) fixes
    every sheet's order; each sheet's own seed is drawn from it and recorded too.
    """
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise ValueError(f"items frame lacks column(s) {', '.join(missing)}")
    if items.empty:
        raise ValueError("no items to put on sheets")
    master = secrets.randbits(32) if seed is None else int(seed)
    rng = random.Random(master)
    taken: set[str] = set()
    sheets: list[Sheet] = []
    key_rows: list[dict[str, object]] = []
    ordered = items.sort_values(["source", "part_no", "dialog_id"], kind="stable")
    for (source, part_no), group in ordered.groupby(["source", "part_no"], sort=True):
        sheet_seed = rng.getrandbits(32)
        order = list(range(len(group)))
        random.Random(sheet_seed).shuffle(order)
        sheet_id = _token("s", 10, taken)
        sheet_items = []
        for position, row_index in enumerate(order, start=1):
            row = group.iloc[row_index]
            item_id = _token("i", 12, taken)
            sheet_items.append(
                SheetItem(
                    item_id=item_id,
                    position=position,
                    emotion=str(row["emotion"]),
                    situation=str(row["situation"]),
                    speaker_turn=str(row["speaker_turn"]),
                    reply=str(row["reply"]),
                )
            )
            key_rows.append(
                {
                    "sheet_id": sheet_id,
                    "item_id": item_id,
                    "position": position,
                    "dialog_id": str(row["dialog_id"]),
                    "source": str(source),
                    "part_no": int(part_no),
                    "seed": sheet_seed,
                }
            )
        sheets.append(Sheet(sheet_id, tuple(sheet_items)))
    # Sheets are listed by id, which is random: their order on disk says nothing about the source.
    sheets.sort(key=lambda s: s.sheet_id)
    key = pd.DataFrame(key_rows, columns=list(KEY_COLUMNS))
    key = key.sort_values(["sheet_id", "position"]).reset_index(drop=True)
    return SheetSet(tuple(sheets), key, master)


def sheet_frame(sheet: Sheet) -> pd.DataFrame:
    """A sheet as a table with :data:`SHEET_COLUMNS`."""
    rows = [
        {
            "sheet_id": sheet.sheet_id,
            "position": it.position,
            "item_id": it.item_id,
            "emotion": it.emotion,
            "situation": it.situation,
            "speaker_turn": it.speaker_turn,
            "reply": it.reply,
        }
        for it in sheet.items
    ]
    return pd.DataFrame(rows, columns=list(SHEET_COLUMNS))


def _write_table(frame: pd.DataFrame, path: Path, fmt: str, *, force: bool) -> Path:
    def write(tmp: Path) -> None:
        if fmt == "csv":
            write_safe_csv(frame, tmp)
        else:
            with tmp.open("w", encoding="utf-8") as f:
                for rec in frame.to_dict(orient="records"):
                    f.write(json.dumps(rec, ensure_ascii=False, default=int) + "\n")

    return write_atomic(path, write, force=force)


def default_key_path(out_dir: str | os.PathLike[str]) -> Path:
    """Where the key goes unless told: beside the sheets folder, never inside it.

    The sheets folder is what the app serves and what may be handed to others; the key is not.
    """
    d = Path(out_dir)
    return d.parent / f"{d.name}.key.csv"


def existing_sheet_files(out_dir: Path) -> list[Path]:
    """Sheet files already in ``out_dir`` (named by a sheet id)."""
    if not out_dir.is_dir():
        return []
    return sorted(
        p
        for p in out_dir.iterdir()
        if p.suffix.lstrip(".") in SHEET_FORMATS and SHEET_ID.fullmatch(p.stem)
    )


def write_sheets(
    sheet_set: SheetSet,
    out_dir: str | os.PathLike[str],
    key_path: str | os.PathLike[str] | None = None,
    *,
    formats: Sequence[str] = SHEET_FORMATS,
    force: bool = False,
) -> tuple[list[Path], Path]:
    """Write every sheet (one file per format) and the key; each file is written atomically.

    Refuses, before writing anything, if the folder already holds sheets or the key exists,
    unless ``force``; with ``force`` the old sheets are removed so that the folder holds exactly
    one set, matching the new key.
    """
    out = Path(out_dir)
    key = Path(key_path) if key_path is not None else default_key_path(out)
    if key.resolve().parent == out.resolve():
        raise ValueError(f"the key {key} must not be inside the sheets folder {out}")
    unknown = [f for f in formats if f not in SHEET_FORMATS]
    if unknown or not formats:
        raise ValueError(f"sheet formats are {', '.join(SHEET_FORMATS)}")
    key_fmt = table_format(key, SHEET_FORMATS, "key")
    old = existing_sheet_files(out)
    if not force:
        if old:
            raise OutputExistsError(
                f"{out} already holds {len(old)} sheet file(s); pass --force to replace them"
            )
        if key.exists():
            raise OutputExistsError(f"{key} exists; pass --force to overwrite it")
    for p in old:
        p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for sheet in sheet_set.sheets:
        frame = sheet_frame(sheet)
        for fmt in formats:
            written.append(_write_table(frame, out / f"{sheet.sheet_id}.{fmt}", fmt, force=force))
    _write_table(sheet_set.key, key, key_fmt, force=force)
    return written, key


# --------------------------------------------------------------------------- reading back


def _read_records(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """A sheet or key file's records, with every one of ``columns`` and at least one row."""
    table_format(path, SHEET_FORMATS, what)
    frame = read_table(path)[0]
    for col in columns:
        if col not in frame.columns:
            raise RatingTableError(str(path), "missing column", column=col)
    if frame.empty:
        raise RatingTableError(str(path), "no items")
    return frame


def read_sheet(path: str | os.PathLike[str]) -> Sheet:
    """Read one sheet file (CSV or JSONL) and check its ids and positions."""
    p = Path(path)
    origin = str(p)
    frame = _read_records(p, SHEET_COLUMNS, "sheet")
    ids = set(frame["sheet_id"].astype(str))
    if ids != {p.stem} or not SHEET_ID.fullmatch(p.stem):
        raise RatingTableError(
            origin, "the sheet_id column must match the file name", column="sheet_id"
        )
    items = []
    for i, rec in enumerate(frame.to_dict(orient="records"), start=1):
        if not ITEM_ID.fullmatch(str(rec["item_id"])):
            raise RatingTableError(origin, f"malformed item id {rec['item_id']!r}", i, "item_id")
        if str(rec["position"]) != str(i):
            raise RatingTableError(origin, f"position must be {i}", i, "position")
        items.append(
            SheetItem(
                item_id=str(rec["item_id"]),
                position=i,
                emotion=str(rec["emotion"]),
                situation=str(rec["situation"]),
                speaker_turn=str(rec["speaker_turn"]),
                reply=str(rec["reply"]),
            )
        )
    return Sheet(p.stem, tuple(items))


def read_sheets(sheet_dir: str | os.PathLike[str]) -> list[Sheet]:
    """All sheets of a folder written by :func:`write_sheets` (JSONL preferred over CSV)."""
    d = Path(sheet_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"sheets folder not found: {d}")
    files = existing_sheet_files(d)
    by_id: dict[str, Path] = {}
    for p in files:
        if p.stem not in by_id or p.suffix == ".jsonl":
            by_id[p.stem] = p
    if not by_id:
        raise ValueError(f"{d} holds no rating sheets (s-<id>.jsonl or .csv)")
    sheets = [read_sheet(by_id[k]) for k in sorted(by_id)]
    seen: dict[str, str] = {}
    for sheet in sheets:
        for it in sheet.items:
            if it.item_id in seen:
                raise ValueError(
                    f"item id {it.item_id} is on sheets {seen[it.item_id]} and {sheet.sheet_id}"
                )
            seen[it.item_id] = sheet.sheet_id
    return sheets


def read_key(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check a key file: one row per item, with :data:`KEY_COLUMNS`."""
    p = Path(path)
    origin = str(p)
    frame = _read_records(p, KEY_COLUMNS, "key")
    row_of = row_number(table_format(p, SHEET_FORMATS, "key"), 0)
    optional = [c for c in KEY_PROMPT_SET_COLUMNS if c in frame.columns]
    frame = frame[[*KEY_COLUMNS, *optional]].reset_index(drop=True)
    for col in optional:  # empty where the set has no such label
        cells = frame[col].astype(object)
        frame[col] = cells.where(cells.notna() & cells.astype(str).str.strip().ne(""), None)
    for col in ("sheet_id", "item_id", "dialog_id", "source"):
        frame[col] = frame[col].astype(str)
    for col in ("position", "part_no", "seed"):
        numeric = pd.to_numeric(frame[col], errors="coerce")
        bad = numeric.isna()
        if bad.any():
            raise RatingTableError(
                origin, "not a number", int(bad.to_numpy().argmax()) + row_of, col
            )
        frame[col] = numeric.astype("int64")
    dup = frame["item_id"].duplicated()
    if dup.any():
        raise RatingTableError(
            origin, "duplicate item id", int(dup.to_numpy().argmax()) + row_of, "item_id"
        )
    per_sheet = frame.groupby("sheet_id")["source"].nunique()
    if (per_sheet > 1).any():
        raise RatingTableError(
            origin, f"sheet {per_sheet[per_sheet > 1].index[0]} mixes sources", column="source"
        )
    return frame
