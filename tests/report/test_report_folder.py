"""Issue 26, item 13: the report folder. A report touches only the files it wrote (its
manifest), and a swap killed halfway is recovered on the next run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from empathy_task.outputs import OutputExistsError
from empathy_task.report.document import RenderedReport
from empathy_task.report.render import MANIFEST, write_report

REPO = Path(__file__).resolve().parents[2]
MINE = {"holiday_photo.png": b"photo", "notes.txt": b"mine", "data/raw.csv": b"1,2"}


def _report(*pngs: str, text: bytes = b"new") -> RenderedReport:
    return RenderedReport({n: text for n in ["report.md", "report.html", "report.json", *pngs]})


def _folder(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def _mine(out: Path) -> None:
    for name, data in MINE.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)


def test_force_never_deletes_a_png_of_yours(tmp_path: Path) -> None:
    out = tmp_path / "r"
    write_report(_report("ratings_by_source.png", "valence_1.png", text=b"old"), out)
    _mine(out)
    write_report(_report("ratings_by_source.png"), out, force=True)
    files = _folder(out)
    assert {k: files.pop(k) for k in MINE} == MINE
    assert files == {
        n: b"new" for n in ["report.md", "report.html", "report.json", "ratings_by_source.png"]
    }


def test_a_folder_of_your_own_pngs_is_not_a_report(tmp_path: Path) -> None:
    out = tmp_path / "r"
    _mine(out)
    # No report was written here: nothing to overwrite, no --force needed, nothing deleted.
    write_report(_report("a.png"), out)
    assert {k: _folder(out)[k] for k in MINE} == MINE


def test_a_report_file_name_of_yours_is_refused_without_force(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "report.md").write_bytes(b"my own notes")
    with pytest.raises(OutputExistsError, match="--force"):
        write_report(_report(), out)


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from empathy_task.report.document import RenderedReport
    from empathy_task.report.render import write_report

    at, n = int(sys.argv[1]), [0]
    real = os.rename

    def rename(src, dst, *a, **k):
        n[0] += 1
        if n[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *a, **k)

    os.rename = rename
    files = {{f: b"new" for f in ["report.md", "report.html", "report.json", "forest_1.png"]}}
    write_report(RenderedReport(files), Path(sys.argv[2]), force=True)
    """
)


@pytest.mark.parametrize("kill_at", range(1, 8))
def test_a_swap_killed_halfway_is_recovered_on_the_next_run(tmp_path: Path, kill_at: int) -> None:
    out = tmp_path / "r"
    write_report(_report("forest_1.png", "forest_2.png", text=b"old"), out)
    _mine(out)
    for i in range(20):  # many files of yours: the swap moves them one by one
        (out / f"mine_{i}.txt").write_bytes(b"x")
    script = tmp_path / "killer.py"
    script.write_text(_KILLER.format(repo=str(REPO)), encoding="utf-8")
    subprocess.run([sys.executable, str(script), str(kill_at), str(out)], check=False)
    # The next run puts everything back in its place, then writes its report.
    write_report(_report("forest_1.png", text=b"next"), out, force=True)
    files = _folder(out)
    assert {k: files.pop(k) for k in MINE} == MINE
    assert {k: files.pop(f"mine_{i}.txt") for i, k in enumerate(range(20))} == dict.fromkeys(
        range(20), b"x"
    )
    assert files == {
        n: b"next" for n in ["report.md", "report.html", "report.json", "forest_1.png"]
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killer.py", "r"]


def test_a_hidden_folder_that_is_not_a_reports_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "r"
    write_report(_report(text=b"old"), out)
    other = tmp_path / ".r.new-mine"
    other.mkdir()
    (other / "keep.txt").write_bytes(b"k")
    write_report(_report(), out, force=True)
    assert (other / "keep.txt").read_bytes() == b"k"
    assert os.path.isdir(other)


@pytest.mark.parametrize("kill_at", range(1, 4))
def test_a_first_report_killed_halfway_leaves_no_partial_report(
    tmp_path: Path, kill_at: int
) -> None:
    import signal

    out = tmp_path / "r"
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from empathy_task.report.document import RenderedReport
import empathy_task.report.render as render
n = [0]
real = Path.write_bytes
def write_bytes(self, data):
    n[0] += 1
    if n[0] == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, data)
Path.write_bytes = write_bytes
render.write_report(RenderedReport({{f: b"new" for f in ["report.md", "report.html", "report.json"]}}), Path({str(out)!r}))
"""
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -signal.SIGKILL
    write_report(_report(text=b"next"), out)
    assert _folder(out) == {n: b"next" for n in ["report.md", "report.html", "report.json"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
