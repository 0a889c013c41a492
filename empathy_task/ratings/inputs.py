"""The reporter's inputs: rating tables, Inspect logs and the authors' CSV, as one rating table.

Each input is one of three kinds, told apart by its name and, for CSV, its header:

- ``ratings``: a rating table (``.csv``, ``.jsonl``, ``.parquet``), read with
  :func:`empathy_task.ratings.files.read_rating_table`;
- ``log``: an Inspect log of ``empathy_task`` (``.eval``, or Inspect's ``.json``), converted with
  :func:`empathy_task.ratings.logs.rating_table_from_logs`;
- ``study``: the authors' wide CSV (it has ``speaker_uttr`` and ``rating_human`` columns), loaded
  with :func:`empathy_task.data.study.load_study`; it gives the crowd ratings of three sources, ``human``,
  ``chatgpt`` and ``chatgpt_empathy``, with the raters' TEQ answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from empathy_task.ratings.files import FORMATS, is_inspect_log, table_format
from empathy_task.ratings.table import RatingTableError, row_number

INPUT_KINDS: tuple[str, ...] = ("ratings", "log", "study")
#: Columns that only the authors' wide CSV has.
STUDY_MARKER_COLUMNS: tuple[str, ...] = ("speaker_uttr", "rating_human")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedInput:
    """What one input contributed to the rating table.

    ``ratings`` counts its rows; ``repeats`` those already given by an earlier input (the same
    rating, counted once); ``notes`` says so, and what else the reader should know (the samples
    missing from an incomplete log).
    """

    path: str
    kind: str
    ratings: int
    sources: tuple[str, ...]
    repeats: int = 0
    notes: tuple[str, ...] = ()


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
        from empathy_task.ratings.files import csv_header

        header = csv_header(p, errors="replace")
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


def judge_names(specs: Sequence[str]) -> dict[str, str]:
    """``--judge`` values as ``{rater name in the inputs: judge name}``.

    ``PROVIDER/MODEL`` takes a rater named ``MODEL`` (a third party's table that left out the
    provider) as the judge ``PROVIDER/MODEL``; ``RATER=PROVIDER/MODEL`` takes any rater name.
    The judge name must be one the package accepts as a judge (:data:`vocabulary.JUDGE_NAME`).
    """
    from empathy_task.vocabulary import JUDGE_NAME, PSEUDONYM

    out: dict[str, str] = {}
    for spec in specs:
        raw, sep, name = spec.rpartition("=")
        if not sep:
            raw = name.rsplit("/", 1)[-1]
        if "/" not in name or not JUDGE_NAME.fullmatch(name) or not raw:
            raise ValueError(
                f"--judge {spec!r}: name a judge provider/model (e.g. openai/gpt-4o-mini), "
                "optionally after the rater name the inputs use: RATER=PROVIDER/MODEL"
            )
        if PSEUDONYM.fullmatch(raw):
            raise ValueError(f"--judge {spec!r}: {raw!r} is a crowd pseudonym, not a judge")
        if out.get(raw, name) != name:
            raise ValueError(f"--judge: rater {raw!r} is named twice ({out[raw]}, {name})")
        out[raw] = name
    return out


def load_inputs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    kind: str | None = None,
    scorer: str | None = None,
    allow_incomplete: bool = False,
    judges: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, list[LoadedInput]]:
    """Read every input into one validated rating table; ``kind`` forces the kind of all inputs.

    A rating is identified by (dialog, source, rater, epoch). A rating that several inputs repeat
    with the same value (every run of a judge carries its ratings of the human replies) is kept
    once, and each input's :class:`LoadedInput` says how many of its ratings were repeats; two
    inputs that give one rating different values are an error naming both places. ``scorer``
    picks one judge scorer of every log; a log that did not finish is refused unless
    ``allow_incomplete`` (see :func:`empathy_task.ratings.logs.rating_table_from_logs`).
    ``judges`` (from :func:`judge_names`): raters of the inputs renamed as judges, before their
    names are checked.
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
    notes: dict[str, list[str]] = {}
    for p, k in kinds:
        if k == "ratings":
            from empathy_task.ratings.files import read_rating_table

            parts.append((str(p), k, read_rating_table(p), p, 0))
        elif k == "study":
            from empathy_task.data.study import load_study, missing_sources_note
            from empathy_task.ratings.table import stored_rating_table

            study = load_study(p)
            # Every stored source: without the second file, its sources' shipped ratings.
            frame, shipped = stored_rating_table(study)
            if shipped:
                notes.setdefault(str(p), []).append(missing_sources_note(shipped))
            parts.append((str(p), k, frame, p, len(study)))
        else:
            from empathy_task.ratings.logs import rating_table_from_logs

            _check_log(p)
            # One log at a time: a rating two logs disagree on is then named by its log.
            frame = rating_table_from_logs([p], scorer=scorer, allow_incomplete=allow_incomplete)
            for judge, source, n, rated in frame.attrs.get("unrated", []):
                # Beside every Good rate: a dropped verdict never moves it silently.
                notes.setdefault(str(p), []).append(
                    f"the judge {judge} rated {rated:,} of the {n:,} replies of {source} in {p} "
                    f"(parse rate {rated / n:.3f}): its Good rate is over the rated replies, and "
                    f"the {n - rated:,} unrated could move it by up to "
                    f"{(n - rated) / rated if rated else float('inf'):.3f}"
                )
            for summary in frame.attrs.get("incomplete", []):
                notes.setdefault(str(p), []).append(
                    f"{summary.missing} of {summary.expected} samples missing from {p} "
                    f"(status {summary.status!r}, read with --allow-incomplete)"
                )
            parts.append((str(p), k, frame, p, 0))

    for origin, k, frame, path, per_source in parts:
        if judges:
            frame["rater"] = frame["rater"].astype(str).replace(judges)
        # Judges: the names a log recorded, or named with --judge; else a provider Inspect knows.
        known = set((judges or {}).values())
        if k == "log":
            known |= set(frame["rater"].astype(str))
        _check_rater_ids(origin, k, frame, path, per_source, known)
    if len(parts) == 1:
        table, repeats = parts[0][2], [0]
    else:
        table, repeats = _combine(parts)
    loaded = []
    for (origin, k, frame, _, _), n in zip(parts, repeats):
        said = list(notes.get(origin, []))
        if n:
            said.append(
                f"{n:,} of the {len(frame):,} ratings in {origin} repeat ratings of an earlier "
                "input (same dialog, source, rater and epoch, same rating): counted once"
            )
        loaded.append(
            LoadedInput(origin, k, len(frame), tuple(pd.unique(frame["source"])), n, tuple(said))
        )
    for item in loaded:
        for note in item.notes:
            logger.info("%s", note)
    return table, loaded


def _combine(
    parts: list[tuple[str, str, pd.DataFrame, Path, int]],
) -> tuple[pd.DataFrame, list[int]]:
    """The inputs as one table, each rating once; the repeats dropped from each input."""
    from empathy_task.ratings.table import combine_repeats, with_epoch

    any_epoch = any("epoch" in frame.columns for _, _, frame, _, _ in parts)
    frames = [with_epoch(frame) if any_epoch else frame for _, _, frame, _, _ in parts]
    table = pd.concat(frames, ignore_index=True)
    starts = np.cumsum([0, *(len(f) for f in frames)])
    part_of = np.repeat(np.arange(len(frames)), [len(f) for f in frames])

    def place(i: int) -> str:
        j = int(part_of[i])
        origin, k, _, path, per_source = parts[j]
        row = _row_label(k, path, i - int(starts[j]), per_source)
        if row is not None:
            return f"{origin}: row {row}"
        r = table.loc[i]
        epoch = f", epoch {int(r['epoch'])}" if "epoch" in table.columns else ""
        return f"{origin}: sample {r['dialog_id']}{epoch}"

    combined, _ = combine_repeats(table, place)
    dropped = np.bincount(part_of[~table.index.isin(combined.index)], minlength=len(frames))
    return combined.reset_index(drop=True), [int(n) for n in dropped]


def _check_rater_ids(
    origin: str,
    kind: str,
    frame: pd.DataFrame,
    path: Path,
    per_source: int,
    known: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Refuse an input that names a person: a report must never carry one (see privacy).

    A rater is a crowd pseudonym or a judge (``known``, or a provider Inspect knows); a source
    that holds an e-mail address is a person's too.
    """
    from empathy_task.vocabulary import PERSONAL_ID_HELP, first_email, first_personal_id, masked

    at = first_email(frame["source"])
    if at is not None:
        raise RatingTableError(
            origin,
            f"source {masked(str(frame['source'].iloc[at]))} holds an e-mail address: a source "
            "names a model or the human replies, never a person",
            _row_label(kind, path, at, per_source),
            "source",
        )
    at = first_personal_id(frame["rater"], known)
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
    from empathy_task.ratings.logs import read_log

    read_log(path, header_only=True)
