"""The loader: local file, environment variable, download into the cache, and its failures."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.data import fetch as data
from empathy_task.data.fetch import DataError, download, resolve_data_file
from empathy_task.data.study import load_study
from empathy_task.resources import DataPin, data_pin
from tests.conftest import STUDY_CSV

PAYLOAD = b"dialog_id,emotion\nhit:1_conv:2,sad\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, int | None]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's protocol
        body, length = self.routes.get(self.path, (b"", None))
        if self.path not in self.routes:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(length if length is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.mark.dataset_download
def test_shared_copy_is_the_pinned_file() -> None:
    assert data.sha256_of(STUDY_CSV) == data_pin().sha256
    assert STUDY_CSV.stat().st_size == data_pin().bytes


def test_load_study_validates_and_pseudonymises(study: pd.DataFrame) -> None:
    assert len(study) == 2000
    assert study["emotion"].nunique() == 32
    assert study["sentiment"].value_counts().to_dict() == {"negative": 1119, "positive": 881}
    assert study.groupby("part_no").size().eq(10).all() and study["part_no"].nunique() == 200
    raw = pd.read_csv(STUDY_CSV, dtype=str, keep_default_na=False)
    raw_ids = set(raw["annotator_human"]) | set(raw["annotator_chatgpt_empathy"])
    for col in study.columns:
        if col.startswith("rater_"):
            assert not set(study[col]) & raw_ids
            assert study[col].str.fullmatch(r"r-[0-9a-f]{12}").all()
    assert not any(c.startswith("annotator") for c in study.columns)
    # TEQ answers are kept on the 0-4 scale; the first row's human rater totals 44.
    assert len(study["teq_human"].iloc[0]) == 16


@pytest.mark.dataset_download
def test_explicit_path_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_data_file(STUDY_CSV) == STUDY_CSV
    monkeypatch.setenv("EMPATHY_TASK_DATA", str(STUDY_CSV))
    assert resolve_data_file() == STUDY_CSV
    with pytest.raises(DataError, match="not found"):
        resolve_data_file(tmp_path / "missing.csv")


def test_offline_without_data_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMPATHY_TASK_DATA")
    with pytest.raises(DataError, match="EMPATHY_TASK_DATA"):
        resolve_data_file(allow_download=False)


def test_download_good_file(server: str, tmp_path: Path) -> None:
    _Handler.routes["/good.csv"] = (PAYLOAD, None)
    dest = tmp_path / "cache" / "x.csv"
    assert download(f"{server}/good.csv", dest, _sha(PAYLOAD)) == dest
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]


def test_download_wrong_hash_leaves_nothing(server: str, tmp_path: Path) -> None:
    _Handler.routes["/bad.csv"] = (PAYLOAD, None)
    dest = tmp_path / "cache" / "x.csv"
    with pytest.raises(DataError) as err:
        download(f"{server}/bad.csv", dest, "0" * 64)
    assert "0" * 64 in str(err.value) and _sha(PAYLOAD) in str(err.value)
    assert list(dest.parent.iterdir()) == []


def test_download_truncated_leaves_nothing(server: str, tmp_path: Path) -> None:
    _Handler.routes["/short.csv"] = (PAYLOAD[:10], len(PAYLOAD))
    dest = tmp_path / "cache" / "x.csv"
    with pytest.raises(DataError, match="truncated"):
        download(f"{server}/short.csv", dest, _sha(PAYLOAD))
    assert list(dest.parent.iterdir()) == []


def test_download_refused(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    dest = tmp_path / "cache" / "x.csv"
    with pytest.raises(DataError, match="could not download"):
        download(f"http://127.0.0.1:{port}/x.csv", dest, _sha(PAYLOAD), timeout=5)
    assert not dest.exists()


@pytest.mark.dataset_download
def test_cache_fill_from_file_url_then_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMPATHY_TASK_DATA")
    pin = data_pin()
    file_pin = DataPin(STUDY_CSV.as_uri(), pin.sha256, pin.bytes, pin.commit, pin.rows)
    path = resolve_data_file(pin=file_pin)
    assert path.parent == data.cache_dir() and data.sha256_of(path) == pin.sha256
    # A corrupt cache is detected on the next read and replaced.
    path.write_bytes(b"corrupt")
    assert data.sha256_of(resolve_data_file(pin=file_pin)) == pin.sha256
    # A pin whose hash does not match: an error, and the cache holds nothing.
    path.unlink()
    bad = DataPin(STUDY_CSV.as_uri(), "f" * 64, pin.bytes, pin.commit, pin.rows)
    with pytest.raises(DataError, match="checksum mismatch"):
        resolve_data_file(pin=bad)
    assert list(data.cache_dir().iterdir()) == []


def _rewrite(tmp_path: Path, edit) -> Path:
    raw = pd.read_csv(STUDY_CSV, dtype=str, keep_default_na=False)
    edit(raw)
    out = tmp_path / "edited.csv"
    raw.to_csv(out, index=False)
    return out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.loc.__setitem__(
                (5, "emotion"), "sad" if d.loc[5, "emotion"] != "sad" else "angry"
            ),
            "row 7, column 'emotion'",
        ),
        (
            lambda d: d.loc.__setitem__((3, "dialog_id"), "hit:0_conv:0"),
            "row 5, column 'dialog_id'",
        ),
        (lambda d: d.loc.__setitem__((8, "rating_human"), "4"), "row 10, column 'rating_human'"),
        (
            lambda d: d.loc.__setitem__(
                (8, "rating_human"), "1" if d.loc[8, "rating_human"] != "1" else "2"
            ),
            "stored crowd rating",
        ),
        (lambda d: d.drop(columns=["plutchik"], inplace=True), "missing column"),
    ],
)
@pytest.mark.dataset_download
def test_manifest_check_names_row_and_column(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_study(_rewrite(tmp_path, edit))
