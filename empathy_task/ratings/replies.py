"""The one reply reader: replies from Inspect logs, lm-eval samples files and reply tables as
``dialog_id, source, reply`` rows, checked against the study's dialog ids.

Both consumers of replies read them here: the post-hoc judge (``empathy-task judge``) and the
study kit's sheets (``empathy-task sheets``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from empathy_task.ratings.files import is_inspect_log, iter_jsonl, read_table
from empathy_task.ratings.table import (
    RatingTableError,
    dialog_positions,
    excerpt,
    row_number,
    source_with_variant,
    unknown_dialog,
)

if TYPE_CHECKING:
    pass


REPLY_COLUMNS: tuple[str, ...] = ("dialog_id", "source", "reply")


# A reply table may call its text column either way (export's replies use "reply").
_REPLY_ALIASES: tuple[str, ...] = ("reply", "response")


# lm-eval names a run after the first of these model args it finds (its own rule, in
# lm_eval.loggers.evaluation_tracker); without one it invents a random id, useless as a source.
_LM_EVAL_NAME_KEYS: tuple[str, ...] = ("peft", "delta", "pretrained", "model", "path", "engine")


_SAMPLES_FILE = re.compile(r"^samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl$")


def is_lm_eval_samples(path: str | os.PathLike[str]) -> bool:
    """Whether a file is an lm-eval ``--log_samples`` file (JSONL records with ``doc``, ``resps``)."""
    p = Path(path)
    if p.suffix.lower() != ".jsonl" or not p.is_file():
        return False  # the table reader names a missing file
    # Bytes that are not UTF-8 are replaced here: the reader of either kind names them.
    with p.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(rec, dict) and "doc" in rec and "resps" in rec
    return False


def _name_from_model_args(model_args: Any) -> str | None:
    if isinstance(model_args, str):
        pairs = dict(kv.split("=", 1) for kv in model_args.split(",") if "=" in kv)
    elif isinstance(model_args, dict):
        pairs = {str(k): v for k, v in model_args.items()}
    else:
        return None
    for key in _LM_EVAL_NAME_KEYS:
        if pairs.get(key):
            return str(pairs[key])
    return None


def lm_eval_results_file(samples: str | os.PathLike[str]) -> Path | None:
    """The ``results_<stamp>.json`` written by the same lm-eval run as a samples file."""
    p = Path(samples)
    m = _SAMPLES_FILE.match(p.name)
    if m:
        candidate = p.parent / f"results_{m.group('stamp')}.json"
        if candidate.is_file():
            return candidate
    others = sorted(p.parent.glob("results_*.json"))
    return others[0] if len(others) == 1 else None


def lm_eval_model_name(samples: str | os.PathLike[str]) -> str:
    """The model that wrote a samples file, from its run's results file.

    The model args' ``pretrained=`` (or ``model=``, ``path=``, ...) when given, else the backend
    name (lm-eval's own ``model_name`` is a random id when the args name no model).
    """
    results = lm_eval_results_file(samples)
    if results is None:
        raise RatingTableError(
            str(samples),
            "no results_*.json from the same lm-eval run beside it: pass --source to name the model",
        )
    try:
        with results.open(encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as e:  # JSON and UTF-8 errors are ValueErrors
        raise RatingTableError(str(results), f"not a readable lm-eval results file: {e}") from e
    info = info if isinstance(info, dict) else {}
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    name = _name_from_model_args(config.get("model_args")) or config.get("model")
    name = name or info.get("model_name")
    if not name:
        raise RatingTableError(str(results), "names no model: pass --source to name it")
    return str(name)


def _first_reply(rec: dict[str, Any]) -> str:
    # filtered_resps holds the reply after the task's filters (take_first by default); a
    # repeated generation keeps a list there, and the first one is the reply rated.
    value: Any = rec.get("filtered_resps")
    if value is None or value == []:
        value = rec.get("resps")
    while isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def read_lm_eval_samples(path: str | os.PathLike[str], source: str | None = None) -> pd.DataFrame:
    """Replies of an lm-eval samples file: columns ``dialog_id, source, reply``.

    The source is ``source`` if given, else the model named by the run's results file, with
    `` [vanilla]`` appended for replies to the prompt without the empathy definition
    (:func:`empathy_task.ratings.table.source_with_variant`, as Inspect exports name it).
    """
    origin = str(path)
    model = source if source is not None else lm_eval_model_name(path)
    rows = []
    for n, rec in iter_jsonl(path):
        doc = rec.get("doc")
        if not isinstance(doc, dict) or "dialog_id" not in doc:
            raise RatingTableError(
                origin, "not an empathy_task samples record (no doc with a dialog_id)", row=n
            )
        dialog_id = doc["dialog_id"]
        # A doc of a user's prompt set names its set; its ids are checked against the set when
        # it is judged (empathy-task judge --prompts).
        own = bool(doc.get("prompt_set"))
        if not isinstance(dialog_id, str) or (not own and dialog_positions([dialog_id])[0] < 0):
            raise RatingTableError(origin, unknown_dialog(dialog_id), n, "doc.dialog_id")
        # Named as an Inspect export names it, also under --source: two variants never merge.
        name = source_with_variant(model, doc.get("prompt_variant"))
        rows.append({"dialog_id": dialog_id, "source": name, "reply": _first_reply(rec)})
    return pd.DataFrame(rows, columns=list(REPLY_COLUMNS))


def read_reply_table(path: str | os.PathLike[str], source: str | None = None) -> pd.DataFrame:
    """Replies in a table (CSV, JSONL or Parquet) with ``dialog_id``, ``reply`` (or ``response``)
    and an optional ``source``.

    ``source`` (the ``--source`` option) names the replies when the table has no ``source``
    column, and keeps only that source's rows when it has one (a table is never relabelled).
    """
    origin = str(path)
    frame, fmt, lines = read_table(path)
    frame = frame.reset_index(drop=True)
    if "dialog_id" not in frame.columns:
        raise RatingTableError(origin, "missing column", column="dialog_id")
    text = next((c for c in _REPLY_ALIASES if c in frame.columns), None)
    if text is None:
        raise RatingTableError(origin, "missing column (or 'response')", column="reply")
    if "source" not in frame.columns:
        if source is None:
            raise RatingTableError(
                origin, "no source column: pass --source to name the replies' model"
            )
        frame = frame.assign(source=source)

    def fail(mask: Any, column: str, what: str | None = None) -> RatingTableError:
        i = int(np.asarray(mask).nonzero()[0][0])
        row = lines[i] if lines is not None else row_number(fmt, i)
        value = frame[column].iloc[i]
        message = unknown_dialog(value) if what is None else f"{what} (value {excerpt(value)})"
        return RatingTableError(origin, message, row, column)

    ids = frame["dialog_id"]
    is_text = ids.map(lambda v: isinstance(v, str)).astype(bool)
    unknown = ~is_text.to_numpy(bool) | (dialog_positions(ids.where(is_text, "")) < 0)
    if unknown.any():
        raise fail(unknown, "dialog_id")
    sources = frame["source"]
    no_source = (sources.isna() | sources.astype(str).str.strip().eq("")).to_numpy(bool)
    if no_source.any():
        raise fail(no_source, "source", "empty source")
    replies = frame[text]
    not_text = replies.map(lambda v: isinstance(v, list | dict | np.ndarray)).to_numpy(bool)
    if not_text.any():
        raise fail(not_text, text, "a reply must be text")
    # An empty reply is kept: the judge leaves it unrated and counts it; a sheet refuses it.
    out = pd.DataFrame(
        {
            "dialog_id": ids.astype(str),
            "source": sources.astype(str),
            "reply": replies.fillna("").astype(str),
        }
    )
    rows = np.asarray(lines if lines is not None else [row_number(fmt, i) for i in range(len(out))])
    if source is not None:
        keep = (out["source"] == source).to_numpy(bool)
        if not keep.any():
            raise RatingTableError(origin, f"no replies of source {source!r}", column="source")
        out, rows = out[keep], rows[keep]
    out = out.reset_index(drop=True)
    out.attrs["rows"] = rows.tolist()  # the row a person finds each reply on, for read_replies
    return out


def read_log_replies(path: str | os.PathLike[str], source: str | None = None) -> pd.DataFrame:
    """The model's replies in one ``empathy_task`` Inspect log; ``source`` renames them."""
    from empathy_task.ratings.logs import replies_from_logs

    frame = replies_from_logs([path])
    if source is not None:
        frame = frame.assign(source=source)
    return frame


def read_replies(
    paths: Sequence[str | os.PathLike[str]], source: str | None = None
) -> pd.DataFrame:
    """Replies from Inspect logs, lm-eval samples files and reply tables: ``dialog_id, source,
    reply``, one row per (dialog, source).

    The kind of each file is told by its name (:func:`~empathy_task.ratings.files.is_inspect_log`)
    and, for JSONL, its first record (:func:`is_lm_eval_samples`). ``source`` names or selects the
    replies (see the readers). The same reply in several files (a task and its valence subtask)
    is kept once; two different replies to one dialog from one source are refused, naming both
    places: a rating is identified by its dialog and source, so they could not be told apart.
    """
    frames = []
    for p in paths:
        if is_inspect_log(p):
            frame = read_log_replies(p, source)
        elif is_lm_eval_samples(p):
            frame = read_lm_eval_samples(p, source)
        else:
            frame = read_reply_table(p, source)
        rows = frame.attrs.get("rows")
        frames.append(frame.assign(origin=str(p), row=rows if rows is not None else None))
    if not frames or all(f.empty for f in frames):
        raise RatingTableError(", ".join(map(str, paths)) or "<no input>", "no replies")
    replies = pd.concat(frames, ignore_index=True)
    if source is not None and any(is_inspect_log(p) for p in paths):
        models = {
            m for f, p in zip(frames, paths, strict=True) if is_inspect_log(p) for m in f["source"]
        }
        if len(models) > 1:
            raise ValueError(f"--source names one model, but the inputs hold {sorted(models)}")
    replies = replies.drop_duplicates(["dialog_id", "source", "reply"])
    second = replies.duplicated(["dialog_id", "source"], keep="first")
    if second.any():
        again = replies[second].iloc[0]
        first = replies[
            (replies["dialog_id"] == again["dialog_id"]) & (replies["source"] == again["source"])
        ].iloc[0]
        raise RatingTableError(
            again["origin"],
            f"second reply to dialog {again['dialog_id']!r} from source {again['source']!r}, "
            f"different from the one in {_place(first)} (name the runs apart with --source)",
            again["row"] if again["row"] is not None and again["row"] == again["row"] else None,
            "reply",
        )
    return replies[list(REPLY_COLUMNS)].reset_index(drop=True)


def _place(rec: pd.Series) -> str:
    row = rec["row"]
    has_row = row is not None and row == row  # NaN when the reader gives no row numbers
    return f"{rec['origin']} row {int(row)}" if has_row else str(rec["origin"])
