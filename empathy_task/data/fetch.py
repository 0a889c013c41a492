"""Find the authors' CSV: an explicit path, ``EMPATHY_TASK_DATA``, the user cache, or a pinned,
sha256-verified download into the cache (docs/design.md, "Data rules").
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from empathy_task.resources import DataPin, data_pin

DATA_ENV = "EMPATHY_TASK_DATA"


CACHE_ENV = "EMPATHY_TASK_CACHE"


FILE_NAME = "dataset_and_ratings.csv"


class DataError(Exception):
    """The study data is missing, corrupt or does not match the pinned file."""


def cache_dir() -> Path:
    """Folder of the downloaded CSV: ``EMPATHY_TASK_CACHE`` or the platform's user cache."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    from platformdirs import user_cache_path

    return user_cache_path("empathy-task") / "data"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through a temporary file; keep it only if its sha256 matches.

    Any failure (refused connection, truncated body, wrong hash, full disk) raises ``DataError``
    and leaves nothing at ``dest`` or beside it.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise DataError(f"cannot write to the data cache {dest.parent}: {e}") from e
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        received = 0
        expected_len: str | None = None
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    expected_len = resp.headers.get("Content-Length")
                    for chunk in iter(lambda: resp.read(1 << 16), b""):
                        out.write(chunk)
                        h.update(chunk)
                        received += len(chunk)
            except http.client.IncompleteRead as e:
                raise DataError(
                    f"download of {url} was truncated after {received + len(e.partial)} bytes"
                ) from e
            except (
                urllib.error.URLError,
                TimeoutError,
                ConnectionError,
                http.client.HTTPException,
            ) as e:
                raise DataError(
                    f"could not download the study data from {url}: {e}. {_how_to_get(url)}"
                ) from e
            except OSError as e:
                raise DataError(f"could not write the study data to {dest.parent}: {e}") from e
        if expected_len is not None and received != int(expected_len):
            raise DataError(
                f"download of {url} was truncated: got {received} of {expected_len} bytes"
            )
        actual = h.hexdigest()
        if actual != sha256:
            raise DataError(
                f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual} "
                f"({received} bytes); the file was not kept"
            )
        os.replace(tmp, dest)
        return dest
    except OSError as e:
        raise DataError(f"could not write the study data to {dest.parent}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)


#: How the command line takes the file; the Inspect task says ``-T data=`` in its place.
CLI_DATA_OPTION = "pass its path with --data"


def _how_to_get(url: str) -> str:
    return (
        f"To run offline, download {url} yourself and install it with `empathy-task data "
        f"--install FILE`, or point {DATA_ENV} at it (or {CLI_DATA_OPTION})."
    )


def install_data_file(source: str | os.PathLike[str], *, pin: DataPin | None = None) -> Path:
    """Copy a local copy of the authors' CSV into the cache, if its sha256 is the pinned one.

    Afterwards :func:`resolve_data_file` finds it without a download or ``EMPATHY_TASK_DATA``.
    The copy goes through a temporary file, so a failure leaves the cache as it was.

    Raises:
        DataError: the file is missing, is not the pinned file, or the cache is not writable.
    """
    pin = pin or data_pin()
    src = Path(source).expanduser()
    if not src.is_file():
        raise DataError(f"study data file not found: {src}")
    actual = sha256_of(src)
    if actual != pin.sha256:
        raise DataError(
            f"{src} is not the pinned study data: expected sha256 {pin.sha256}, got {actual}; "
            "nothing was installed"
        )
    dest = cache_dir() / FILE_NAME
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(src, tmp)
            if sha256_of(tmp) != pin.sha256:  # changed while copying
                raise DataError(f"{src} changed while it was copied; nothing was installed")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as e:
        raise DataError(f"could not install the study data into {dest.parent}: {e}") from e
    return dest


def resolve_data_file(
    path: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    pin: DataPin | None = None,
) -> Path:
    """Local path of the authors' CSV: explicit path, ``EMPATHY_TASK_DATA``, cache, or download."""
    if path is None:
        path = os.environ.get(DATA_ENV) or None
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataError(f"study data file not found: {p}")
        return p
    pin = pin or data_pin()
    cached = cache_dir() / FILE_NAME
    if cached.is_file():
        if sha256_of(cached) == pin.sha256:
            return cached
        cached.unlink()  # corrupt or stale cache: fetch again below
    if not allow_download:
        raise DataError(f"study data not found in {cached.parent}. {_how_to_get(pin.url)}")
    return download(pin.url, cached, pin.sha256)
