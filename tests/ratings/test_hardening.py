"""Importers and outputs (issue 14): located errors, CSV that reads back, one whole report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.outputs import OutputExistsError, read_safe_csv, safe_csv_frame, write_safe_csv
from empathy_task.ratings.files import read_rating_table, read_text_csv, write_rating_table
from empathy_task.ratings.table import RatingTableError, study_rating_table
from empathy_task.report.document import RenderedReport
from empathy_task.report.render import MANIFEST, render_markdown, write_report


@pytest.fixture
def table(study: pd.DataFrame) -> pd.DataFrame:
    return study_rating_table(study.head(5)).drop(columns="teq")


def test_two_rating_columns_are_a_located_error(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    table.assign(extra="3").rename(columns={"extra": "rating"}).to_csv(path, index=False)
    with pytest.raises(
        RatingTableError, match=r"row 1, column 'rating': .*twice \(columns 8 and 9\)"
    ):
        read_rating_table(path)


def test_a_duplicate_jsonl_key_is_a_located_error(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = [json.dumps(r) for r in table.to_dict(orient="records")]
    lines[2] = lines[2][:-1] + ', "rating": 1}'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        RatingTableError, match=r"t.jsonl: row 3, column 'rating': key appears twice"
    ):
        read_rating_table(path)


def test_json_nested_deep_names_its_row(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text(json.dumps(table.iloc[0].to_dict()) + "\n" + deep + "\n", encoding="utf-8")
    with pytest.raises(RatingTableError, match=r"row 2: JSON nested too deeply"):
        read_rating_table(path)


CELLS = ["a\rb", "\r=1", "x\r\ny", " =1+1", "＝1+1", "\n=1", "  @SUM(A1)", "'=1", "-3", "plain"]


def test_formula_neutralisation_covers_spaces_fullwidth_and_line_breaks() -> None:
    for cell in ("\r=1", " =1+1", "＝1+1", "\n=1", "  @SUM(A1)", "'=1", "-3"):
        assert safe_csv_frame(pd.DataFrame({"t": [cell]}))["t"][0].startswith("'"), repr(cell)


@pytest.mark.parametrize("reader", [read_safe_csv, read_text_csv])
def test_a_bare_cr_is_quoted(tmp_path: Path, reader) -> None:  # noqa: ANN001
    frame = pd.DataFrame({"text": CELLS, "n": ["1"] * len(CELLS)})
    path = tmp_path / "t.csv"
    write_safe_csv(frame, path)
    assert reader(path).equals(frame)


def test_a_source_with_a_cr_is_refused_before_a_table_is_written(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    with pytest.raises(RatingTableError, match="column 'source': control character"):
        write_rating_table(table.assign(source="\r=1"), path)
    assert not path.exists()
    write_rating_table(table.assign(source=" =1+1"), path)
    assert read_rating_table(path)["source"].unique().tolist() == [" =1+1"]


def test_a_reply_with_a_cr_round_trips_through_csv_sheets(tmp_path: Path) -> None:
    from empathy_task.study.sheets import make_sheets, read_sheets, write_sheets
    from tests.study.support import synthetic_items

    items = synthetic_items([1])
    items["reply"] = [f"line one\rline {i}\r=1" for i in range(len(items))]
    write_sheets(make_sheets(items, seed=1), tmp_path / "sheets", formats=["csv"])
    replies = {it.reply for sheet in read_sheets(tmp_path / "sheets") for it in sheet.items}
    assert replies == set(items["reply"])


@pytest.mark.parametrize("column", ["dialog_id", "source", "rater"])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x85"])
def test_control_characters_in_ids_are_errors(table: pd.DataFrame, column: str, char: str) -> None:
    from empathy_task.ratings.table import validate_rating_table

    bad = table.copy()
    bad.loc[3, column] = f"chat{char}gpt"
    with pytest.raises(RatingTableError, match=rf"row 5, column '{column}': control character"):
        validate_rating_table(bad, "t.csv", "csv")


def test_a_huge_header_field_is_a_located_error(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x" * 200_000 + ",rating\n1,2\n", encoding="utf-8")
    with pytest.raises(RatingTableError, match=r"t.csv: row 1: unreadable CSV header") as e:
        read_rating_table(path)
    assert len(str(e.value)) < 500


def test_a_50_mb_cell_is_quoted_as_a_short_excerpt(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    table.assign(dialog_id=["hit:" + "9" * 50_000_000, *table["dialog_id"][1:]]).to_csv(
        path, index=False
    )
    with pytest.raises(RatingTableError, match=r"row 2, column 'dialog_id'") as e:
        read_rating_table(path)
    assert len(str(e.value)) < 500 and "50,000,004 characters" in str(e.value)


def test_a_non_utf8_file_names_its_row(table: pd.DataFrame, tmp_path: Path) -> None:
    for suffix in ("csv", "jsonl"):
        path = tmp_path / f"t.{suffix}"
        if suffix == "csv":
            table.to_csv(path, index=False)
        else:
            table.to_json(path, orient="records", lines=True)
        lines = path.read_bytes().split(b"\n")
        lines[3] = lines[3].replace(b"hit", b"h\xe9t", 1)
        path.write_bytes(b"\n".join(lines))
        with pytest.raises(RatingTableError, match=rf"t.{suffix}: row 4: not UTF-8 text"):
            read_rating_table(path)


def test_a_dangling_symlink_is_not_replaced_without_force(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputExistsError, match="--force"):
        write_rating_table(table, path)
    assert path.is_symlink() and not path.exists()
    write_rating_table(table, path, force=True)
    assert not path.is_symlink() and len(read_rating_table(path)) == len(table)


def test_markdown_escapes_raw_html_in_names() -> None:
    from empathy_task.report.document import Paragraph, Section, Table

    evil = "<img src=x onerror=alert(1)>"
    md = render_markdown(
        [
            Section(
                f"judge {evil}",
                blocks=[
                    Paragraph(f"source {evil} &amp; p < .05"),
                    Table([evil], [[evil]], caption=evil),
                ],
            )
        ]
    )
    assert "<img" not in md and "&lt;img src=x" in md
    assert "p < .05" in md and "&amp;amp;" in md


def _report(*pngs: str, text: bytes = b"new") -> RenderedReport:
    names = ["report.md", "report.html", "report.json", *pngs]
    return RenderedReport({n: text for n in names})


def test_force_leaves_exactly_the_new_report(tmp_path: Path) -> None:
    out = tmp_path / "r"
    write_report(_report("a.png", "b.png", text=b"old"), out)
    with pytest.raises(OutputExistsError, match="--force"):
        write_report(_report("a.png"), out)
    write_report(_report("a.png"), out, force=True)
    # And the manifest of what it wrote (issue 26), which the next report reads.
    assert sorted(p.name for p in out.iterdir()) == [
        MANIFEST,
        "a.png",
        "report.html",
        "report.json",
        "report.md",
    ]
    assert all(p.read_bytes() == b"new" for p in out.iterdir() if p.name != MANIFEST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temporary folder left


def test_a_failure_halfway_leaves_the_old_report_whole(tmp_path: Path) -> None:
    out = tmp_path / "r"
    write_report(_report("a.png", text=b"old"), out)
    (out / "report.json").unlink()
    (out / "report.json").mkdir()  # a folder where the new report's file should go
    with pytest.raises(OutputExistsError, match="report.json"):
        write_report(_report("a.png"), out, force=True)
    assert (out / "report.md").read_bytes() == b"old" and (out / "a.png").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_a_tiny_parquet_of_ten_million_rows_fails_from_its_metadata(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    import resource

    import pyarrow as pa
    import pyarrow.parquet as pq

    row = table.iloc[0]
    n = 10_000_000
    arrays = {c: pa.array([str(row[c])], pa.string()) for c in table.columns if c != "part_no"}
    one = pa.table(arrays)
    path = tmp_path / "big.parquet"
    # Written in row groups of one repeated row: a small file that decodes to GBs.
    with pq.ParquetWriter(path, one.schema, compression="zstd") as writer:
        chunk = pa.concat_tables([one] * 1_000_000).combine_chunks()
        for _ in range(n // 1_000_000):
            writer.write_table(chunk, row_group_size=1_000_000)
    assert path.stat().st_size < 5_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(RatingTableError, match=r"big.parquet: 10,000,000 rows, more than"):
        read_rating_table(path)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200_000  # refused from the metadata, not after reading
