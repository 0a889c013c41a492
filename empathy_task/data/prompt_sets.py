"""A user's own prompt set: their dialogues through the same task, judge and statistics.

A prompt set is a table with one row per prompt (README, "Your own prompts"):

| column | required | meaning |
|---|---|---|
| ``id`` | yes | the prompt's id, unique in the set |
| ``speaker_turn`` | yes, unless ``turns`` ends with it | the turn to answer (Speaker #1's) |
| ``situation`` | no | the situation, in the speaker's words |
| ``turns`` | no | the dialogue before the turn to answer, Speaker #1 first, turns alternating (a list; in CSV a JSON list); without ``speaker_turn`` its last turn is the one to answer |
| ``emotion`` | no | the speaker's emotion (any label; every row or none) |
| ``valence`` | no | ``positive`` or ``negative`` (every row or none; one per emotion) |
| ``batch`` | no | the rating batch (a whole number from 0); default: batches of 10 in file order |
| ``human_reply`` | no | a person's reply to the turn; the judge rates it as the human baseline |
| ``human_rating`` | no | crowd ratings of ``human_reply``: 1-3 or Bad/Okay/Good, one or a list |

It is read from a CSV, JSONL or Parquet file (through the rating tables' one suffix dispatch and
bounded readers), a Hugging Face dataset folder written by ``save_to_disk`` (offline), or
``hf:NAME[:SPLIT][@REVISION]`` from the Hub. The whole set is validated before anything is sent
to a model; an error names the file, row and column. Its identity is its name and the sha256 of
its validated rows in a canonical JSON form (the same set as CSV, JSONL or Parquet has one hash).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from empathy_task.ratings.table import RatingTableError, excerpt
from empathy_task.vocabulary import LABELS, RATINGS, VALENCES

#: The columns a prompt set may have; others are refused (a typo would silently drop a column).
PROMPT_SET_COLUMNS: tuple[str, ...] = (
    "id",
    "situation",
    "turns",
    "speaker_turn",
    "emotion",
    "valence",
    "batch",
    "human_reply",
    "human_rating",
)
#: Prompts per rating batch when a set gives no ``batch`` (the study's batches hold 10).
BATCH_SIZE = 10
#: The longest text a cell may hold: a dialogue turn is short; a megabyte cell is a corrupt file.
MAX_TEXT_CHARS = 20_000
#: At most this many earlier turns in one prompt.
MAX_TURNS = 50
HF_PREFIX = "hf:"
_HF_SPEC = re.compile(r"hf:(?P<name>[^:@\s]+)(?::(?P<split>[^@\s]+))?(?:@(?P<revision>\S+))?")


class PromptSetError(RatingTableError):
    """A prompt set is malformed; the message names the set, row and column."""


@dataclass(frozen=True)
class PromptSet:
    """A validated prompt set.

    ``frame`` has one row per prompt: ``dialog_id, emotion, sentiment, plutchik, part_no,
    situation, speaker_turn, turns, human_reply, human_ratings`` (``emotion`` / ``sentiment``
    None where the set has none, ``turns`` a tuple of the earlier turns, ``human_reply`` None
    where the set gives none, ``human_ratings`` a tuple of 1-3).
    """

    name: str
    sha256: str
    origin: str
    frame: pd.DataFrame

    @property
    def has_emotions(self) -> bool:
        return bool(self.frame["emotion"].notna().any())

    @property
    def has_valence(self) -> bool:
        return bool(self.frame["sentiment"].notna().any())

    @property
    def has_human_replies(self) -> bool:
        return bool(self.frame["human_reply"].notna().any())

    def identity(self) -> dict[str, str]:
        """What every log, rating table, export and report records about the set."""
        return {"prompt_set": self.name, "prompt_set_sha256": self.sha256}


def load_prompt_set(spec: str | os.PathLike[str], name: str | None = None) -> PromptSet:
    """Read and validate a prompt set (a file, a ``save_to_disk`` folder, or ``hf:NAME...``)."""
    frame, fmt, rows, origin, default_name = _read(str(spec))
    return validate_prompt_set(frame, origin, fmt, rows, name=name or default_name)


@cache
def _cached(spec: str, mtime: int, size: int, name: str | None) -> PromptSet:
    return load_prompt_set(spec, name)


def prompt_set_of(spec: str | os.PathLike[str], name: str | None = None) -> PromptSet:
    """:func:`load_prompt_set`, read once per process for a file that did not change."""
    p = Path(spec)
    if p.is_file():
        st = p.stat()
        return _cached(str(p.resolve()), st.st_mtime_ns, st.st_size, name)
    return load_prompt_set(spec, name)


def _read(spec: str) -> tuple[pd.DataFrame, str, list[int] | None, str, str]:
    """``(frame, format, rows, origin, default name)`` of a prompt set's source."""
    split = None
    if spec.startswith(HF_PREFIX):
        return _read_hub(spec)
    path = Path(spec)
    if not path.exists() and ":" in spec:
        head, _, tail = spec.rpartition(":")
        if Path(head).is_dir():
            path, split = Path(head), tail
    if path.is_dir():
        return _read_disk_dataset(path, split)
    from empathy_task.ratings.files import read_table

    if not path.is_file():
        raise PromptSetError(
            spec,
            "no such file (a prompt set is a .csv, .jsonl or .parquet "
            "file, a Hugging Face dataset folder, or hf:NAME[:SPLIT][@REVISION])",
        )
    try:
        frame, fmt, rows = read_table(path)
    except PromptSetError:
        raise
    except RatingTableError as e:
        raise PromptSetError(str(path), str(e).removeprefix(f"{path}: ")) from None
    return frame, fmt, rows, str(path), path.stem


def _dataset_frame(ds: Any, origin: str, split: str | None) -> pd.DataFrame:
    import datasets

    from empathy_task.ratings.files import max_rows, too_many_rows

    if isinstance(ds, datasets.DatasetDict):
        splits = list(ds.keys())
        if split is None:
            if len(splits) != 1:
                raise PromptSetError(
                    origin,
                    f"the dataset has the splits {', '.join(splits)}: name one ({origin}:SPLIT)",
                )
            split = splits[0]
        if split not in ds:
            raise PromptSetError(origin, f"no split {split!r} (it has {', '.join(splits)})")
        ds = ds[split]
    elif split is not None and str(ds.split) != split:
        raise PromptSetError(origin, f"the dataset is the split {ds.split!r}, not {split!r}")
    if ds.num_rows > max_rows():
        raise too_many_rows(origin, max_rows())
    return ds.to_pandas()


def _read_disk_dataset(
    path: Path, split: str | None
) -> tuple[pd.DataFrame, str, list[int] | None, str, str]:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a core dependency
        raise PromptSetError(str(path), "reading a dataset folder needs `datasets`") from e
    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as e:
        raise PromptSetError(
            str(path), f"not a Hugging Face dataset folder (save_to_disk): {e}"
        ) from None
    origin = str(path) if split is None else f"{path}:{split}"
    return _dataset_frame(ds, str(path), split), "dataset", None, origin, path.name


def _read_hub(spec: str) -> tuple[pd.DataFrame, str, list[int] | None, str, str]:
    m = _HF_SPEC.fullmatch(spec)
    if m is None:
        raise PromptSetError(spec, "a Hub prompt set is hf:NAME[:SPLIT][@REVISION]")
    import datasets

    try:
        ds = datasets.load_dataset(m["name"], split=m["split"], revision=m["revision"])
    except Exception as e:  # the Hub's errors: offline, unknown name, gated
        raise PromptSetError(spec, f"could not load the dataset ({type(e).__name__}: {e})") from e
    frame = _dataset_frame(ds, spec, None)
    return frame, "dataset", None, spec, m["name"].rsplit("/", 1)[-1]


def _row(fmt: str, rows: Sequence[int] | None, i: int) -> int:
    if rows is not None:
        return int(rows[i])
    from empathy_task.ratings.table import row_number

    return row_number("csv" if fmt == "csv" else "parquet", i)


def _missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def validate_prompt_set(
    frame: pd.DataFrame,
    origin: str,
    fmt: str = "jsonl",
    rows: Sequence[int] | None = None,
    *,
    name: str,
) -> PromptSet:
    """Check every row of a prompt set and return it in canonical form (see the module's table).

    Raises :class:`PromptSetError` at the first bad row, naming its row and column.
    """

    def fail(i: int, column: str, what: str, value: object = None) -> PromptSetError:
        shown = f" (value {excerpt(value)})" if value is not None else ""
        return PromptSetError(origin, f"{what}{shown}", _row(fmt, rows, i), column)

    name = str(name).strip()
    if not name or re.search(r"[\x00-\x1f\x7f]", name):
        raise PromptSetError(origin, f"a prompt set needs a name of visible characters: {name!r}")
    unknown = [c for c in frame.columns if c not in PROMPT_SET_COLUMNS]
    if unknown:
        raise PromptSetError(
            origin,
            f"unknown column(s) {', '.join(map(repr, unknown))}; a prompt set has the columns "
            + ", ".join(PROMPT_SET_COLUMNS),
            column=str(unknown[0]),
        )
    if "id" not in frame.columns:
        raise PromptSetError(origin, "missing column", column="id")
    if "speaker_turn" not in frame.columns and "turns" not in frame.columns:
        raise PromptSetError(
            origin,
            "missing column: the turn to answer (speaker_turn, or turns)",
            column="speaker_turn",
        )
    if frame.empty:
        raise PromptSetError(origin, "no prompts")
    records = frame.reset_index(drop=True).to_dict("records")
    out: dict[str, list[Any]] = {k: [] for k in _OUT_COLUMNS}
    seen: dict[str, int] = {}
    for i, rec in enumerate(records):
        pid = _text(rec.get("id"), i, "id", fail, required=True, max_chars=200)
        if pid in seen:
            raise fail(i, "id", f"duplicate id (first in row {_row(fmt, rows, seen[pid])})", pid)
        if re.search(r"[\x00-\x1f\x7f-\x9f]", pid):
            raise fail(i, "id", "control character in an id", pid)
        seen[pid] = i
        turns = _turns(rec.get("turns"), i, fail)
        turn = _text(rec.get("speaker_turn"), i, "speaker_turn", fail, required=False)
        if turn is None:
            if not turns:
                raise fail(i, "speaker_turn", "empty: the turn to answer is required")
            if len(turns) % 2 == 0:
                raise fail(
                    i,
                    "turns",
                    "without speaker_turn the last of the turns is the one to answer, so they "
                    "start and end with Speaker #1 (an odd number)",
                )
            turns, turn = turns[:-1], turns[-1]
        elif len(turns) % 2:
            raise fail(
                i,
                "turns",
                "the turns before speaker_turn alternate Speaker #1, Speaker #2 and end with "
                "Speaker #2 (an even number)",
            )
        valence = _text(rec.get("valence"), i, "valence", fail, required=False, max_chars=20)
        if valence is not None:
            valence = valence.lower()
            if valence not in VALENCES:
                raise fail(i, "valence", "unknown valence: use positive or negative", valence)
        emotion = _text(rec.get("emotion"), i, "emotion", fail, required=False, max_chars=100)
        out["dialog_id"].append(pid)
        out["situation"].append(_text(rec.get("situation"), i, "situation", fail, required=False))
        out["turns"].append(tuple(turns))
        out["speaker_turn"].append(turn)
        out["emotion"].append(emotion.lower() if emotion is not None else None)
        out["sentiment"].append(valence)
        out["part_no"].append(_batch(rec.get("batch"), i, fail))
        out["human_reply"].append(
            _text(rec.get("human_reply"), i, "human_reply", fail, required=False)
        )
        out["human_ratings"].append(_ratings(rec.get("human_rating"), i, fail))
        if out["human_ratings"][-1] and out["human_reply"][-1] is None:
            raise fail(i, "human_rating", "crowd ratings of a human reply the row does not give")
    # Object columns: a missing text stays None (a string dtype would make it NaN).
    canonical = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in out.items()})
    for col, label in (("emotion", "emotion"), ("sentiment", "valence"), ("part_no", "batch")):
        given = canonical[col].notna().to_numpy()
        if given.any() and not given.all():
            i = int(np.flatnonzero(~given)[0])
            raise fail(
                i, label, f"empty, but other rows give a {label}: give it in every row or none"
            )
    if canonical["emotion"].notna().all() and canonical["sentiment"].notna().all():
        first = canonical.groupby("emotion")["sentiment"].transform("first")
        bad = (canonical["sentiment"] != first).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise fail(
                i,
                "valence",
                f"emotion {canonical['emotion'][i]!r} has another valence in an earlier row "
                "(one valence per emotion)",
                canonical["sentiment"][i],
            )
    if canonical["part_no"].isna().all():
        canonical["part_no"] = np.arange(len(canonical)) // BATCH_SIZE
    canonical["part_no"] = canonical["part_no"].astype("int64")
    canonical["plutchik"] = pd.Series([None] * len(canonical), dtype=object)
    canonical = canonical[list(PROMPT_SET_FRAME_COLUMNS)]
    return PromptSet(name=name, sha256=prompt_set_sha256(canonical), origin=origin, frame=canonical)


_OUT_COLUMNS = (
    "dialog_id",
    "situation",
    "turns",
    "speaker_turn",
    "emotion",
    "sentiment",
    "part_no",
    "human_reply",
    "human_ratings",
)
PROMPT_SET_FRAME_COLUMNS: tuple[str, ...] = (
    "dialog_id",
    "emotion",
    "sentiment",
    "plutchik",
    "part_no",
    "situation",
    "speaker_turn",
    "turns",
    "human_reply",
    "human_ratings",
)


def prompt_set_sha256(frame: pd.DataFrame) -> str:
    """The sha256 of a canonical frame's rows as JSON lines (sorted keys, the documented columns)."""
    h = hashlib.sha256()
    for rec in frame.to_dict("records"):
        clean = {k: _jsonable(v) for k, v in rec.items() if k != "plutchik"}
        h.update(json.dumps(clean, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _jsonable(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def _text(
    value: object,
    i: int,
    column: str,
    fail: Any,
    *,
    required: bool,
    max_chars: int = MAX_TEXT_CHARS,
) -> str | None:
    if _missing(value):
        if required:
            raise fail(i, column, "empty")
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, str | int | np.integer):
        raise fail(i, column, "not text", value)
    text = str(value).strip()
    if len(text) > max_chars:
        raise fail(i, column, f"longer than {max_chars:,} characters", value)
    return text


def _list_cell(value: object) -> list[Any] | None:
    """A list from a JSONL/Parquet list or a CSV cell holding a JSON list; None if it is not one."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, list) else None
    return None


def _turns(value: object, i: int, fail: Any) -> list[str]:
    if not isinstance(value, list | tuple | np.ndarray) and _missing(value):
        return []
    items = _list_cell(value)
    if items is None:
        raise fail(i, "turns", "not a list of turns (in CSV, a JSON list of strings)", value)
    if len(items) > MAX_TURNS:
        raise fail(i, "turns", f"more than {MAX_TURNS} turns")
    turns = []
    for t in items:
        if not isinstance(t, str) or not t.strip():
            raise fail(i, "turns", "every turn is a non-empty string", t)
        if len(t) > MAX_TEXT_CHARS:
            raise fail(i, "turns", f"a turn longer than {MAX_TEXT_CHARS:,} characters", t)
        turns.append(t.strip())
    return turns


def _batch(value: object, i: int, fail: Any) -> int | None:
    if _missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        raise fail(i, "batch", "a batch is a whole number from 0", value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise fail(i, "batch", "a batch is a whole number from 0", value) from None
    if not math.isfinite(number) or number < 0 or not number.is_integer() or number > 10**9:
        raise fail(i, "batch", "a batch is a whole number from 0", value)
    return int(number)


_LABEL_VALUE = {label.lower(): r for r, label in zip(RATINGS, LABELS, strict=True)}


def _ratings(value: object, i: int, fail: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple | np.ndarray) and _missing(value):
        return ()
    items = _list_cell(value)
    if items is None:
        items = [value]
    out = []
    for v in items:
        if isinstance(v, bool | np.bool_):
            raise fail(i, "human_rating", "a rating is 1-3 or Bad, Okay, Good", v)
        if isinstance(v, str) and v.strip().lower() in _LABEL_VALUE:
            out.append(_LABEL_VALUE[v.strip().lower()])
            continue
        try:
            number = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise fail(i, "human_rating", "a rating is 1-3 or Bad, Okay, Good", v) from None
        if number not in RATINGS:
            raise fail(i, "human_rating", "a rating is 1-3 or Bad, Okay, Good", v)
        out.append(int(number))
    if len(out) > 1000:
        raise fail(i, "human_rating", "more than 1,000 ratings of one reply")
    return tuple(out)


def crowd_rater(prompt_set: PromptSet, dialog_id: str, k: int) -> str:
    """The pseudonym of the ``k``-th crowd rating a set gives of one human reply.

    A set gives ratings without rater ids: each rating is its own rater (the conservative
    reading for a cluster-robust interval), named by the set's hash so that two sets never share
    one.
    """
    digest = hashlib.sha256(f"{prompt_set.sha256}:{dialog_id}:{k}".encode()).hexdigest()[:32]
    return f"r-{digest}"


def crowd_rating_table(prompt_set: PromptSet) -> pd.DataFrame:
    """The crowd ratings a set gives of its human replies, as rating-table rows (source human)."""
    from empathy_task.ratings.table import RATING_COLUMNS
    from empathy_task.vocabulary import HUMAN

    rows = []
    for rec in prompt_set.frame.to_dict("records"):
        for k, rating in enumerate(rec["human_ratings"]):
            rows.append(
                {
                    "dialog_id": rec["dialog_id"],
                    "emotion": rec["emotion"],
                    "sentiment": rec["sentiment"],
                    "plutchik": None,
                    "part_no": int(rec["part_no"]),
                    "source": HUMAN,
                    "rater": crowd_rater(prompt_set, rec["dialog_id"], k),
                    "rating": int(rating),
                    **prompt_set.identity(),
                }
            )
    return pd.DataFrame(rows, columns=[*RATING_COLUMNS, "prompt_set", "prompt_set_sha256"])


def select_from_set(
    prompt_set: PromptSet,
    *,
    emotions: str | Sequence[str] | None = None,
    valence: str | None = None,
    sample: int | None = None,
    seed: int = 42,
) -> pd.DataFrame:
    """:func:`empathy_task.data.selection.select_prompts` on a user's set: its own emotion labels
    and valences; the sample is stratified by emotion where the set has emotions."""
    from empathy_task.data.selection import _as_list, select_prompts

    frame = prompt_set.frame
    return select_prompts(
        frame,
        emotions=None if emotions is None else [e.lower() for e in _as_list(emotions)],
        valence=valence,
        sample=sample,
        seed=seed,
        known_emotions=frame["emotion"].dropna(),
        where=f"prompt set {prompt_set.name!r}",
    )
