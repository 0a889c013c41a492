"""Writing files so that a failure never leaves a half-written one, and CSV that is safe to open."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

# A spreadsheet executes a cell that starts with one of these (CSV / formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class OutputExistsError(FileExistsError):
    """The output exists and the caller did not ask to overwrite it."""


def check_writable(path: Path, force: bool) -> None:
    if path.exists() and not force:
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


def neutralise_formula(value: object) -> object:
    """Prefix a text cell that a spreadsheet would execute with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def restore_formula(value: object) -> object:
    """Undo :func:`neutralise_formula` when reading our own CSV back."""
    if (
        isinstance(value, str)
        and len(value) > 1
        and value[0] == "'"
        and value[1:].startswith(_FORMULA_START)
    ):
        return value[1:]
    return value


def safe_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralised for spreadsheets."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_formula)
    return out
