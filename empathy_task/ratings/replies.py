"""The one reply reader: replies made elsewhere (reply tables, lm-eval samples) as
``dialog_id, source, reply`` rows checked against the study's ids.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from empathy_task.ratings.files import iter_jsonl, read_table
from empathy_task.ratings.table import RatingTableError, row_number, source_with_variant

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
    known = _study_ids()
    rows = []
    for n, rec in iter_jsonl(path):
        doc = rec.get("doc")
        if not isinstance(doc, dict) or "dialog_id" not in doc:
            raise RatingTableError(
                origin, "not an empathy_task samples record (no doc with a dialog_id)", row=n
            )
        dialog_id = doc["dialog_id"]
        if not isinstance(dialog_id, str) or dialog_id not in known:
            raise RatingTableError(origin, _unknown_id(dialog_id), n, "doc.dialog_id")
        # Named as an Inspect export names it, also under --source: two variants never merge.
        name = source_with_variant(model, doc.get("prompt_variant"))
        rows.append({"dialog_id": dialog_id, "source": name, "reply": _first_reply(rec)})
    return pd.DataFrame(rows, columns=list(REPLY_COLUMNS))


def _study_ids() -> set[str]:
    from empathy_task.data.study import manifest

    return set(manifest()["dialog_id"])


def _unknown_id(value: object) -> str:
    return f"unknown dialog id {value!r} (not one of the study's 2,000 prompts)"


def read_reply_table(path: str | os.PathLike[str], source: str | None = None) -> pd.DataFrame:
    """Replies in a table (CSV, JSONL or Parquet) with ``dialog_id``, ``reply`` and ``source``.

    ``source`` (the ``--source`` option) names the replies' author when the table has no source
    column, and overrides it when it has one.
    """
    origin = str(path)
    frame, fmt, lines = read_table(path)
    frame = frame.reset_index(drop=True)
    if "dialog_id" not in frame.columns:
        raise RatingTableError(origin, "missing column", column="dialog_id")
    text = next((c for c in _REPLY_ALIASES if c in frame.columns), None)
    if text is None:
        raise RatingTableError(origin, "missing column (or 'response')", column="reply")
    if source is not None:
        frame = frame.assign(source=source)
    elif "source" not in frame.columns:
        raise RatingTableError(origin, "no source column: pass --source to name the replies' model")

    def fail(mask: Any, column: str, what: str) -> RatingTableError:
        i = int(np.asarray(mask).nonzero()[0][0])
        row = lines[i] if lines is not None else row_number(fmt, i)
        return RatingTableError(origin, what.format(frame[column].iloc[i]), row, column)

    ids = frame["dialog_id"]
    is_text = ids.map(lambda v: isinstance(v, str)).astype(bool)
    unknown = ~(is_text & ids.where(is_text, "").isin(_study_ids())).to_numpy(bool)
    if unknown.any():
        raise fail(
            unknown, "dialog_id", "unknown dialog id {!r} (not one of the study's 2,000 prompts)"
        )
    sources = frame["source"]
    no_source = (sources.isna() | sources.astype(str).str.strip().eq("")).to_numpy(bool)
    if no_source.any():
        raise fail(no_source, "source", "empty source (value {!r})")
    replies = frame[text]
    not_text = replies.map(lambda v: isinstance(v, list | dict | np.ndarray)).to_numpy(bool)
    if not_text.any():
        raise fail(not_text, text, "a reply must be text (value {!r})")
    return pd.DataFrame(
        {
            "dialog_id": ids.astype(str),
            "source": sources.astype(str),
            "reply": replies.fillna("").astype(str),
        }
    )


def read_replies(
    paths: Sequence[str | os.PathLike[str]], source: str | None = None
) -> pd.DataFrame:
    """Replies from lm-eval samples files and reply tables, one per (dialog, source).

    The same reply of the same dialog and source in several files (a task and its valence
    subtask) is kept once; differing replies keep the first, with a note on stderr.
    """
    frames = []
    for p in paths:
        reader = read_lm_eval_samples if is_lm_eval_samples(p) else read_reply_table
        frame = reader(p, source)
        frame["origin"] = str(p)
        frames.append(frame)
    if not frames or all(f.empty for f in frames):
        raise RatingTableError(", ".join(map(str, paths)), "no replies")
    replies = pd.concat(frames, ignore_index=True)
    replies = replies.drop_duplicates(["dialog_id", "source", "reply"])
    conflicts = replies.duplicated(["dialog_id", "source"])
    if conflicts.any():
        print(
            f"empathy-task judge: {int(conflicts.sum())} dialog(s) have two different replies "
            "from the same source; kept the first of each (use --source to tell runs apart)",
            file=sys.stderr,
        )
        replies = replies[~conflicts]
    return replies.reset_index(drop=True)
