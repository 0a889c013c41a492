"""What a new user hits first: installing the data once, export into a folder, corrupt logs named,
a judge whose provider is missing said in one line, reproduce writing outside the checkout, and
the data error in Inspect's own terms."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from empathy_task.cli import main as cli
from tests.conftest import STUDY_CSV


@pytest.mark.dataset_download
def test_data_install_makes_the_machine_work_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from empathy_task.data.fetch import FILE_NAME, cache_dir

    copy = tmp_path / "downloads" / "my copy.csv"
    copy.parent.mkdir()
    shutil.copyfile(STUDY_CSV, copy)
    assert cli(["data", "--install", str(copy)]) == 0
    installed = cache_dir() / FILE_NAME
    assert installed.read_bytes() == STUDY_CSV.read_bytes()
    # Afterwards: no EMPATHY_TASK_DATA, no network, and the data is found.
    monkeypatch.delenv("EMPATHY_TASK_DATA")
    copy.unlink()
    capsys.readouterr()
    assert cli(["data", "--offline"]) == 0
    assert str(installed) in capsys.readouterr().out


def test_data_install_refuses_a_file_that_is_not_the_pinned_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from empathy_task.data.fetch import cache_dir, install_data_file

    wrong = tmp_path / "dataset_and_ratings.csv"
    wrong.write_text("dialog_id,emotion\n1,sad\n", encoding="utf-8")
    with pytest.raises(Exception, match="not the pinned study data"):
        install_data_file(wrong)
    assert cli(["data", "--install", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


def test_data_offline_without_a_copy_says_how_to_install_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EMPATHY_TASK_DATA")
    assert cli(["data", "--offline"]) == 2
    assert "empathy-task data --install FILE" in capsys.readouterr().err


def test_inspects_data_error_names_the_task_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    from empathy_task.task.empathy_task import empathy_task

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.delenv("EMPATHY_TASK_DATA")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(Exception, match="-T data=") as err:
        empathy_task(sample=32)
    assert "--data" not in str(err.value)


def _corrupt_log(tmp_path: Path) -> Path:
    log = tmp_path / "2026-01-01T00-00-00_empathy-task_truncated.eval"
    log.write_bytes(b"PK\x03\x04 not a whole zip file")
    return log


def test_export_names_a_corrupt_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _corrupt_log(tmp_path)
    assert cli(["export", str(log), "--out", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert str(log) in err and "not a readable Inspect log" in err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.dataset_download
def test_sheets_names_a_corrupt_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _corrupt_log(tmp_path)
    assert cli(["sheets", str(log), "--out", str(tmp_path / "sheets")]) == 2
    err = capsys.readouterr().err
    assert str(log) in err and "not a readable Inspect log" in err
    assert not (tmp_path / "sheets").exists()


@pytest.mark.dataset_download
def test_export_into_a_folder_as_the_task_parameter_does(tmp_path: Path) -> None:
    from inspect_ai import eval as inspect_eval

    from empathy_task.ratings.files import read_rating_table
    from empathy_task.ratings.logs import default_export_path

    [log] = inspect_eval(
        "empathy_task/empathy_task",
        model="empathy/human",
        model_roles={"grader": "empathy/mock-judge"},
        task_args={"sample": 32},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    folder = tmp_path / "tables"
    assert cli(["export", log.location, "--out", f"{folder}{os.sep}"]) == 0
    [written] = folder.iterdir()
    assert written == default_export_path(log.location, str(folder))
    assert len(read_rating_table(written)) == 64  # the model's 32 and the human replies' 32


@pytest.mark.dataset_download
def test_a_judge_whose_provider_is_missing_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], study
) -> None:
    try:
        import anthropic  # noqa: F401

        pytest.skip("the anthropic package is installed here")
    except ImportError:
        pass
    replies = tmp_path / "replies.csv"
    dialog_id = study["dialog_id"].iloc[0]
    replies.write_text(f"dialog_id,reply,source\n{dialog_id},Oh no.,m\n", encoding="utf-8")
    code = cli(
        [
            "judge",
            str(replies),
            "--grader",
            "anthropic/claude-3-5-haiku",
            "--out",
            str(tmp_path / "t.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "anthropic/claude-3-5-haiku" in err and "pip install anthropic" in err
    assert "[bold]" not in err and "Traceback" not in err


@pytest.mark.dataset_download
def test_reproduce_writes_outside_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.delenv("EMPATHY_TASK_REPORT_DIR", raising=False)
    args = ["reproduce", "--format", "json", "--resamples", "200"]
    assert cli(args) == 0
    assert cli(args) == 0  # the default folder is the command's own: run again, replaced
    assert list(checkout.iterdir()) == []
    report = tmp_path / "data-home" / "empathy-task" / "report" / "report.json"
    assert report.is_file()
    assert str(report) in capsys.readouterr().out
