"""Issue 26, items 10-12: rater ids never in an error message, judges that are judges, located
errors in bounded memory for hostile CSV and Parquet files."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.cli import main as cli
from empathy_task.ratings.files import read_rating_table
from empathy_task.ratings.table import RatingTableError, study_rating_table

EMAIL = "alice.smith@example.com"


@pytest.fixture
def table(study: pd.DataFrame) -> pd.DataFrame:
    return study_rating_table(study.head(5)).drop(columns="teq")


def _report(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = cli(["report", str(path), "--out", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert code == 2, err
    return err


# --- item 10: a rater cell never shows in a message --------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [f"{EMAIL}\x00", [EMAIL], {"id": EMAIL}, f" {EMAIL}\n", ""],
    ids=["nul", "list", "object", "line-break", "empty"],
)
def test_a_bad_rater_cell_is_masked_in_the_message(
    table: pd.DataFrame, cell: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.jsonl"
    records = table.to_dict(orient="records")
    records[2]["rater"] = cell
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    err = _report(path, tmp_path, capsys)
    assert "t.jsonl: row 3, column 'rater'" in err
    assert "alice" not in err and "example.com" not in err


def test_a_duplicate_rating_names_no_rater(
    table: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    bad = table.assign(rater=EMAIL)
    pd.concat([bad, bad.head(1)]).to_csv(path, index=False)
    err = _report(path, tmp_path, capsys)
    assert "duplicate rating" in err and "alice" not in err


# --- item 12: located errors, bounded memory ---------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_2_mb_csv_header_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x" * 2_000_000 + ",rating\n1,2\n", encoding="utf-8")
    err = _report(path, tmp_path, capsys)
    assert "t.csv: row 1" in err and "Traceback" not in err and len(err) < 1_000


def test_a_quoted_2_mb_header_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text('"' + "x" * 2_000_000 + '",rating\n1,2\n', encoding="utf-8")
    err = _report(path, tmp_path, capsys)
    assert "t.csv: row 1" in err and len(err) < 1_000


def test_a_parquet_file_with_a_duplicate_column_is_a_located_error(
    table: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    arrays = [pa.array(table[c].astype(str)) for c in table.columns] + [
        pa.array(table["rating"].astype(str))
    ]
    pq.write_table(pa.Table.from_arrays(arrays, names=[*table.columns, "rating"]), path)
    err = _report(path, tmp_path, capsys)
    assert "t.parquet: row 1, column 'rating'" in err and "twice" in err


def test_a_parquet_dictionary_bomb_is_refused_before_decoding(
    table: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # 20 rows whose one dictionary value is 50 MB: a small file that decodes to 1 GB.
    path = tmp_path / "t.parquet"
    n = 20
    big = pa.DictionaryArray.from_arrays(
        pa.array([0] * n, pa.int32()), pa.array(["r" * 50_000_000])
    )
    frame = table.head(1).loc[[0] * n].reset_index(drop=True)
    arrays = [pa.array(frame[c].astype(str)) for c in frame.columns if c != "rater"]
    names = [c for c in frame.columns if c != "rater"]
    pq.write_table(
        pa.Table.from_arrays([*arrays, big], names=[*names, "rater"]), path, compression="zstd"
    )
    assert path.stat().st_size < 5_000_000
    before = _rss_mb()
    err = _report(path, tmp_path, capsys)
    assert "t.parquet" in err and "column 'rater'" in err
    assert _rss_mb() - before < 600


def test_a_50_mb_parquet_cell_is_a_located_error_in_bounded_memory(
    table: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.parquet"
    table.astype(str).assign(
        source=["x" * 50_000_000, *table["source"].astype(str)[1:]]
    ).to_parquet(path, index=False)
    before = _rss_mb()
    err = _report(path, tmp_path, capsys)
    assert "t.parquet: row 1, column 'source'" in err and len(err) < 1_000
    assert _rss_mb() - before < 600


def test_reading_a_plain_parquet_table_still_works(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    table.to_parquet(path, index=False)
    assert len(read_rating_table(path)) == len(table)
    with pytest.raises(RatingTableError):
        read_rating_table(tmp_path / "missing.parquet")


# --- item 11: judges are judges, sources are not people -----------------------------------------


@pytest.mark.parametrize("rater", ["gmail.com/alice.smith", "mturk/A1B2C3D4E5F6G7"])
def test_an_id_shaped_like_a_judge_name_is_refused(
    table: pd.DataFrame, rater: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    table.assign(rater=rater).to_csv(path, index=False)
    err = _report(path, tmp_path, capsys)
    assert "t.csv: row 2, column 'rater'" in err
    assert rater not in err and "alice" not in err
    # Named on the command line, it is a judge the user vouches for.
    out = tmp_path / "named"
    assert cli(["report", str(path), "--out", str(out), "--format", "json", "--judge", rater]) == 0


def test_a_judge_of_a_provider_inspect_knows_is_accepted(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    table.assign(rater="openai/gpt-4o-mini").to_csv(path, index=False)
    assert cli(["report", str(path), "--out", str(tmp_path / "r"), "--format", "json"]) == 0


def test_an_e_mail_as_source_is_refused(
    table: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    table.assign(source=EMAIL).to_csv(path, index=False)
    err = _report(path, tmp_path, capsys)
    assert "t.csv: row 2, column 'source'" in err and "e-mail" in err
    assert "alice" not in err and "example.com" not in err


def test_the_judge_providers_are_inspects() -> None:
    import inspect_ai.model._providers.providers  # noqa: F401  (registers Inspect's providers)
    from inspect_ai._util.registry import registry_find

    from empathy_task.vocabulary import JUDGE_PROVIDERS

    names = {
        str(o.__registry_info__.name).split("/")[-1]
        for o in registry_find(lambda info: info.type == "modelapi")
    }
    assert names - {"none"} <= JUDGE_PROVIDERS
