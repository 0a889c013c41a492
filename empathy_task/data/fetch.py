"""Find a pinned data file: an explicit path, its environment variable, the user cache, or a
pinned, sha256-verified download into the cache (docs/design.md, "Data rules").

Two files are pinned (:data:`PINNED_FILES`): the authors' CSV (``registry.yaml: data``,
``EMPATHY_TASK_DATA``, ``--data``) and the second file with the paper's other three models
(``models_data``, ``EMPATHY_TASK_MODELS_DATA``, ``--models-data``). Both take the same path.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from empathy_task.resources import DataPin, data_pin

DATA_ENV = "EMPATHY_TASK_DATA"
MODELS_DATA_ENV = "EMPATHY_TASK_MODELS_DATA"


CACHE_ENV = "EMPATHY_TASK_CACHE"


FILE_NAME = "dataset_and_ratings.csv"
MODELS_FILE_NAME = "distilling_empathy_dataset.csv"


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
CLI_MODELS_DATA_OPTION = "pass its path with --models-data"


@dataclass(frozen=True)
class PinnedFile:
    """One pinned data file: its ``registry.yaml`` key, variable, cache name and option."""

    key: str
    what: str
    env: str
    file_name: str
    cli_option: str

    def pin(self) -> DataPin:
        # Through this module's data_pin (called as before for the first file), so that tests
        # can swap the pin.
        return data_pin() if self.key == "data" else data_pin(self.key)


AUTHORS_FILE = PinnedFile("data", "the authors' CSV", DATA_ENV, FILE_NAME, CLI_DATA_OPTION)
MODELS_FILE = PinnedFile(
    "models_data",
    "the second study file (LLaMA-2, Gemini, Mixtral)",
    MODELS_DATA_ENV,
    MODELS_FILE_NAME,
    CLI_MODELS_DATA_OPTION,
)
PINNED_FILES: tuple[PinnedFile, ...] = (AUTHORS_FILE, MODELS_FILE)


def _how_to_get(url: str, spec: PinnedFile = AUTHORS_FILE) -> str:
    return (
        f"To run offline, download {url} yourself and install it with `empathy-task data "
        f"--install FILE`, or point {spec.env} at it (or {spec.cli_option})."
    )


def pinned_file_of(path: str | os.PathLike[str]) -> PinnedFile | None:
    """Which pinned file ``path`` is, by its sha256, or None."""
    digest = sha256_of(Path(path))
    return next((f for f in PINNED_FILES if f.pin().sha256 == digest), None)


def install_data_file(
    source: str | os.PathLike[str],
    *,
    pin: DataPin | None = None,
    spec: PinnedFile | None = None,
) -> Path:
    """Copy a local copy of a pinned file into the cache, if its sha256 is a pinned one.

    Without ``pin`` or ``spec`` the file may be either pinned file, recognised by its sha256.
    Afterwards :func:`resolve_data_file` (or :func:`resolve_models_data_file`) finds it without a
    download or environment variable. The copy goes through a temporary file, so a failure leaves
    the cache as it was.

    Raises:
        DataError: the file is missing, is not the pinned file, or the cache is not writable.
    """
    src = Path(source).expanduser()
    if not src.is_file():
        raise DataError(f"study data file not found: {src}")
    actual = sha256_of(src)
    if spec is None and pin is None:
        spec = next((f for f in PINNED_FILES if f.pin().sha256 == actual), AUTHORS_FILE)
    spec = spec or AUTHORS_FILE
    pin = pin or spec.pin()
    if actual != pin.sha256:
        expected = " or ".join(f.pin().sha256 for f in PINNED_FILES)
        raise DataError(
            f"{src} is not the pinned study data: expected sha256 {expected}, got {actual}; "
            "nothing was installed"
        )
    dest = cache_dir() / spec.file_name
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


def resolve_pinned_file(
    spec: PinnedFile,
    path: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    pin: DataPin | None = None,
) -> Path:
    """Local path of a pinned file: explicit path, its variable, cache (verified), or download."""
    if path is None:
        path = os.environ.get(spec.env) or None
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataError(f"study data file not found: {p} ({spec.what})")
        return p
    pin = pin or spec.pin()
    cached = cache_dir() / spec.file_name
    if cached.is_file():
        if sha256_of(cached) == pin.sha256:
            return cached
        cached.unlink()  # corrupt or stale cache: fetch again below
    if not allow_download:
        raise DataError(f"{spec.what}: not found in {cached.parent}. {_how_to_get(pin.url, spec)}")
    return download(pin.url, cached, pin.sha256)


def resolve_data_file(
    path: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    pin: DataPin | None = None,
) -> Path:
    """Local path of the authors' CSV: explicit path, ``EMPATHY_TASK_DATA``, cache, or download."""
    return resolve_pinned_file(AUTHORS_FILE, path, allow_download=allow_download, pin=pin)


def resolve_models_data_file(
    path: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    pin: DataPin | None = None,
) -> Path:
    """Local path of the second file: explicit path, ``EMPATHY_TASK_MODELS_DATA``, cache, or
    download."""
    return resolve_pinned_file(MODELS_FILE, path, allow_download=allow_download, pin=pin)


def find_models_data_file(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The second file if it is here, else None: the three-source path never needs it.

    An explicit ``path`` must exist. ``EMPATHY_TASK_MODELS_DATA`` naming a missing file, or no
    verified copy in the cache, means the file is absent; nothing is downloaded here
    (``empathy-task data`` fetches it).
    """
    if path is not None:
        return resolve_models_data_file(path)
    env = os.environ.get(MODELS_DATA_ENV)
    if env:
        p = Path(env).expanduser()
        return p if p.is_file() else None
    try:
        return resolve_models_data_file(allow_download=False)
    except DataError:
        return None
