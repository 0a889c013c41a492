"""Writing files so that a failure never leaves a half-written one, and CSV that is safe to open."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

# A spreadsheet executes a cell that starts with one of these (CSV / formula injection), also
# after leading spaces or line breaks, and in their fullwidth forms (which some spreadsheets
# normalise to ASCII).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


class OutputExistsError(FileExistsError):
    """The output exists and the caller did not ask to overwrite it."""


def check_writable(path: Path, force: bool) -> None:
    # A dangling symlink "does not exist" but is something in the place: not replaced silently.
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputExistsError(f"{path} exists; pass --force to overwrite it")


@contextmanager
def atomic_paths(
    paths: Sequence[str | os.PathLike[str]], *, force: bool = False
) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``paths``; move them all into place only if the block
    succeeds.

    Every file is written in full before any is moved, so a failure while writing leaves all the
    existing files as they were (a report's Markdown never sits beside the old HTML). On any
    exception the temporary files are removed.
    """
    targets = [Path(p) for p in paths]
    for target in targets:
        check_writable(target, force)
    temps: list[Path] = []
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            temps.append(Path(name))
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            temps[-1].chmod(0o666 & ~_UMASK)
        yield temps
        for tmp, target in zip(temps, targets):
            os.replace(tmp, target)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    On any exception the temporary file is removed and an existing ``path`` is left untouched.
    """
    with atomic_paths([path], force=force) as [tmp]:
        yield tmp


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which is not thread-safe at write time.
_UMASK = _read_umask()


def write_atomic(
    path: str | os.PathLike[str], write: Callable[[Path], None], *, force: bool = False
) -> Path:
    """Call ``write(tmp)`` and move the result to ``path`` atomically."""
    with atomic_path(path, force=force) as tmp:
        write(tmp)
    return Path(path)


# Escaping: a cell that would execute, or that already looks escaped, gets one more apostrophe
# on write; reading takes one off. So "=1" -> "'=1" -> "=1", and "'=1" -> "''=1" -> "'=1".
_FORMULA = "^'*[ \u3000]*[" + re.escape("".join(_FORMULA_START)) + "]"
_NEUTRALISED = "^'+[ \u3000]*[" + re.escape("".join(_FORMULA_START)) + "]"


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
    ]


def safe_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralised for spreadsheets."""
    out = frame.copy()
    for col in _text_columns(out):
        text = out[col].astype("string")
        hit = text.str.contains(_FORMULA, regex=True, na=False).to_numpy(dtype=bool)
        if hit.any():
            # Only text cells: a number such as -3 in a mixed column is left as it is.
            hit[hit] = [isinstance(v, str) for v in out[col].to_numpy()[hit]]
            out[col] = out[col].astype(object)
            out.loc[hit, col] = "'" + text[hit].astype(str)
    return out


def write_safe_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as CSV, neutralised (:func:`safe_csv_frame`), that reads back identically.

    Python's csv module quotes a cell holding a line break of the line terminator only: a bare
    ``\r`` would be written unquoted and split the row for every reader. A table with one is
    written with every cell quoted (the project reads every cell as text).
    """
    import csv

    safe = safe_csv_frame(frame)
    text = _text_columns(safe)
    has_cr = any(
        safe[c].astype("string").str.contains("\r", regex=False, na=False).any() for c in text
    )
    has_cr = has_cr or any("\r" in str(c) for c in safe.columns)
    quoting = csv.QUOTE_ALL if has_cr else csv.QUOTE_MINIMAL
    safe.to_csv(path, index=False, lineterminator="\n", quoting=quoting)


def read_safe_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV that :func:`safe_csv_frame` wrote: every cell text, apostrophes undone."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in frame.columns:
        hit = frame[col].str.contains(_NEUTRALISED, regex=True).to_numpy(dtype=bool)
        if hit.any():
            frame.loc[hit, col] = frame.loc[hit, col].str.slice(1)
    return frame
