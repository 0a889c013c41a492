"""The second study file (issue 22): its pin and download, the join with the authors' CSV on
``dialog_id``, the three-source path without it, replay of its sources, and calibration validated
leave-one-source-out over all six stored sources."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai import eval as inspect_eval

from empathy_task.cli import main as cli
from empathy_task.data import fetch
from empathy_task.data.fetch import DataError
from empathy_task.data.study import load_study, missing_sources, study_sources
from empathy_task.resources import DataPin, models_data_pin
from empathy_task.vocabulary import (
    AUTHORS_SOURCES,
    GOOD,
    MODELS_FILE_SOURCES,
    SHARED_SOURCES,
    STORED_SOURCES,
)
from tests.conftest import MODELS_CSV
from tests.data import test_data
from tests.task.support import metric_values, run_task

pytestmark = pytest.mark.dataset_download

# The local file server of tests/data/test_data.py.
server = test_data.server


def _edited_copy(tmp_path: Path, edit) -> Path:
    raw = pd.read_csv(MODELS_CSV, dtype=str, keep_default_na=False)
    edit(raw)
    out = tmp_path / "dataset.csv"
    raw.to_csv(out, index=False)
    return out


@pytest.fixture
def no_models_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EMPATHY_TASK_MODELS_DATA names a file that is not there (and the cache is empty)."""
    monkeypatch.setenv("EMPATHY_TASK_MODELS_DATA", str(tmp_path / "none" / "dataset.csv"))


@pytest.mark.models_data
def test_shared_copy_is_the_pinned_second_file() -> None:
    pin = models_data_pin()
    assert fetch.sha256_of(MODELS_CSV) == pin.sha256
    assert MODELS_CSV.stat().st_size == pin.bytes and pin.rows == 2000


@pytest.mark.models_data
def test_the_join_adds_the_papers_three_other_models() -> None:
    study = load_study(models_data=MODELS_CSV)
    assert study_sources(study) == STORED_SOURCES and missing_sources(study) == ()
    good = {s: int((study[f"rating_{s}"] == GOOD).sum()) for s in STORED_SOURCES}
    # The paper's counts (Welivita & Pu 2024, Table 1) and the vanilla GPT-4 source.
    assert good == {
        "human": 986,
        "chatgpt": 1268,
        "chatgpt_empathy": 1295,
        "llama_empathy": 1219,
        "gemini_empathy": 1081,
        "mixtral_empathy": 1192,
    }
    for s in MODELS_FILE_SOURCES:
        assert study[f"reply_{s}"].str.strip().ne("").all()
        assert study[f"rater_{s}"].str.fullmatch(r"r-[0-9a-f]{12}").all()
        assert {len(t) for t in study[f"teq_{s}"]} == {16}


@pytest.mark.models_data
def test_the_join_is_on_dialog_id_not_row_order(tmp_path: Path) -> None:
    shuffled = _edited_copy(tmp_path, lambda d: None)
    raw = pd.read_csv(shuffled, dtype=str, keep_default_na=False)
    raw.sample(frac=1, random_state=0).to_csv(shuffled, index=False)
    a, b = load_study(models_data=MODELS_CSV), load_study(models_data=shuffled)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.models_data
@pytest.mark.parametrize(
    ("column", "row"),
    [("response_human", 17), ("response_chatgpt_empathy", 1500), ("annotator_human", 3)],
)
def test_the_join_refuses_a_changed_shared_column(tmp_path: Path, column: str, row: int) -> None:
    """A reply (or rater) of a shared source that differs from the authors' CSV: an error naming
    the second file, its row, the column and the dialog."""
    dialog = pd.read_csv(MODELS_CSV, dtype=str, keep_default_na=False).loc[row, "dialog_id"]
    path = _edited_copy(tmp_path, lambda d: d.loc.__setitem__((row, column), "changed"))
    with pytest.raises(DataError) as err:
        load_study(models_data=path)
    msg = str(err.value)
    assert str(path) in msg and f"row {row + 2}" in msg and repr(column) in msg
    assert dialog in msg and "differs from" in msg


@pytest.mark.models_data
def test_the_join_refuses_a_changed_shared_rating(tmp_path: Path) -> None:
    def edit(d: pd.DataFrame) -> None:
        d.loc[9, "rating_chatgpt_empathy"] = (
            "1" if d.loc[9, "rating_chatgpt_empathy"] != "1" else "2"
        )

    path = _edited_copy(tmp_path, edit)
    with pytest.raises(DataError, match=r"row 11, column 'rating_chatgpt_empathy'") as err:
        load_study(models_data=path)
    assert str(path) in str(err.value)


@pytest.mark.models_data
def test_the_join_refuses_a_missing_dialog(tmp_path: Path) -> None:
    raw = pd.read_csv(MODELS_CSV, dtype=str, keep_default_na=False)
    path = _edited_copy(tmp_path, lambda d: d.drop(index=40, inplace=True))
    with pytest.raises(DataError, match=f"no row for dialog {raw.loc[40, 'dialog_id']}"):
        load_study(models_data=path)


def test_the_three_source_path_without_the_second_file(
    no_models_data: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No second file: the study table holds the authors' three sources, reproduce still gives
    all six rows from the shipped ratings (the note names the missing sources), and the task
    replays the authors' sources."""
    study = load_study()
    assert study_sources(study) == AUTHORS_SOURCES
    assert missing_sources(study) == MODELS_FILE_SOURCES

    out = tmp_path / "report"
    assert cli(["reproduce", "--out", str(out), "--format", "json,md"]) == 0
    printed = capsys.readouterr().out
    for s, good in (("llama_empathy", 1219), ("gemini_empathy", 1081), ("mixtral_empathy", 1192)):
        [line] = [x for x in printed.splitlines() if x.strip().startswith(f"{s} ")]
        assert f"Good {good:,} of 2,000" in line
    doc = json.loads((out / "report.json").read_text())
    notes = [n for i in doc["inputs"] for n in i["notes"]]
    assert any("llama_empathy, gemini_empathy, mixtral_empathy" in n for n in notes)
    assert "llama_empathy, gemini_empathy, mixtral_empathy" in (out / "report.md").read_text()

    log = run_task("empathy/chatgpt_empathy", "empathy/mock-judge", sample=8)
    assert len(log.samples) == 8 and metric_values(log)["parse_rate"] == 1.0


def test_replay_of_a_new_source_without_the_second_file_says_how_to_give_it(
    no_models_data: None,
) -> None:
    from inspect_ai.model import get_model

    with pytest.raises(ValueError, match="EMPATHY_TASK_MODELS_DATA") as err:
        get_model("empathy/llama_empathy")
    assert "-M models_data=" in str(err.value)


def test_validation_without_the_second_file_covers_the_authors_sources(
    no_models_data: None,
) -> None:
    from inspect_ai._util.error import PrerequisiteError

    from empathy_task._registry import empathy_judge_validation

    task = empathy_judge_validation(sample=6)
    assert task.metadata["sources"] == list(AUTHORS_SOURCES)
    with pytest.raises(PrerequisiteError, match="EMPATHY_TASK_MODELS_DATA"):
        empathy_judge_validation(sources="gemini_empathy", sample=6)


@pytest.mark.models_data
@pytest.mark.parametrize("source", MODELS_FILE_SOURCES)
def test_replay_of_each_new_source(source: str) -> None:
    log = run_task(f"empathy/{source}", "empathy/mock-judge", sample=4)
    study = load_study()
    stored = dict(zip(study["dialog_id"], study[f"reply_{source}"]))
    assert len(log.samples) == 4
    for s in log.samples:
        assert s.output.completion == stored[s.id]
    assert metric_values(log)["parse_rate"] == 1.0


@pytest.mark.models_data
def test_loso_over_six_sources_with_a_mock_judge(tmp_path: Path) -> None:
    """The validation task rates every stored source; the calibration is validated
    leave-one-source-out over all six, and the report card ranks the judge against them."""
    from empathy_task._registry import empathy_judge_validation

    [log] = inspect_eval(
        empathy_judge_validation(sample=192, seed=2),
        model="empathy/mock-judge",
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success"
    assert {s.metadata["source"] for s in log.samples} == set(STORED_SOURCES)
    cal_file = tmp_path / "judge.calibration.json"
    assert cli(["calibrate", log.location, "--out", str(cal_file)]) == 0
    [entry] = json.loads(cal_file.read_text())["calibrations"]
    assert [r["source"] for r in entry["loso"]] == list(STORED_SOURCES)
    assert sorted(entry["counts"]) == sorted(STORED_SOURCES)
    assert entry["card"]["sources"] == list(STORED_SOURCES)
    assert len(entry["card"]["source_bias"]) == 6


@pytest.mark.models_data
def test_sheets_offer_the_new_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sheets"
    assert cli(["sheets", "--source", "mixtral_empathy", "--out", str(out)]) == 0
    assert "mixtral_empathy: 200 sheets" in capsys.readouterr().out


def test_sheets_of_a_new_source_without_the_second_file(
    no_models_data: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["sheets", "--source", "gemini_empathy", "--out", str(tmp_path / "s")]) == 2
    assert "EMPATHY_TASK_MODELS_DATA" in capsys.readouterr().err


@pytest.mark.models_data
def test_download_of_the_second_file_from_a_local_server(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No variable, nothing cached: the pinned download fills the cache, and a corrupt cache is
    replaced on the next read (the checksum is checked on every read)."""
    monkeypatch.delenv("EMPATHY_TASK_MODELS_DATA")
    body = MODELS_CSV.read_bytes()
    test_data._Handler.routes["/datasets/dataset.csv"] = (body, None)
    pin = models_data_pin()
    local = DataPin(f"{server}/datasets/dataset.csv", pin.sha256, pin.bytes, pin.commit, pin.rows)
    assert fetch.find_models_data_file() is None  # not here, and nothing downloaded
    path = fetch.resolve_models_data_file(pin=local)
    assert path == fetch.cache_dir() / fetch.MODELS_FILE_NAME and path.read_bytes() == body
    assert fetch.find_models_data_file() == path
    path.write_bytes(b"corrupt")
    assert fetch.find_models_data_file() is None
    assert fetch.resolve_models_data_file(pin=local).read_bytes() == body
    assert study_sources(load_study()) == STORED_SOURCES


@pytest.mark.models_data
def test_data_install_recognises_the_second_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "copy.csv"
    shutil.copyfile(MODELS_CSV, copy)
    assert cli(["data", "--install", str(copy)]) == 0
    installed = fetch.cache_dir() / fetch.MODELS_FILE_NAME
    assert installed.read_bytes() == MODELS_CSV.read_bytes()
    monkeypatch.delenv("EMPATHY_TASK_MODELS_DATA")
    capsys.readouterr()
    assert cli(["data", "--offline"]) == 0
    out = capsys.readouterr().out
    assert str(installed) in out and "6 stored sources" in out


def test_shared_sources_are_in_both_files() -> None:
    assert set(SHARED_SOURCES) <= set(AUTHORS_SOURCES)
    assert not set(MODELS_FILE_SOURCES) & set(AUTHORS_SOURCES)


@pytest.mark.models_data
def test_the_task_checks_the_second_file_it_is_given(tmp_path: Path) -> None:
    from inspect_ai._util.error import PrerequisiteError

    from empathy_task.task.empathy_task import empathy_task

    path = _edited_copy(tmp_path, lambda d: d.loc.__setitem__((5, "response_human"), "changed"))
    with pytest.raises(PrerequisiteError, match=r"row 7, column 'response_human'"):
        empathy_task(models_data=str(path), sample=4)
    missing = tmp_path / "missing.csv"
    with pytest.raises(PrerequisiteError, match="not found"):
        empathy_task(models_data=str(missing), sample=4)
    assert len(empathy_task(models_data=str(MODELS_CSV), sample=4).dataset) == 4
