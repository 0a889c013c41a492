"""Returns in: the app's export and database joined through the key; bad returns are named."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.cli import main as cli
from empathy_task.ratings.files import read_rating_table
from empathy_task.ratings.table import RatingTableError
from empathy_task.study.returns import import_returns
from empathy_task.study.sheets import make_sheets, write_sheets
from empathy_task.study.store import StudyStore
from empathy_task.vocabulary import (
    authors_pseudonym,
    load_or_create_pseudonym_key,
    pseudonym,
    rater_kinds,
)
from tests.study.support import synthetic_items


@pytest.fixture
def study_db(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Sheets of 3 batches, 3 raters who submitted and 1 who did not: (db, key, export.csv)."""
    sheet_set = make_sheets(synthetic_items(range(3), source="new-model"), seed=4)
    write_sheets(sheet_set, tmp_path / "sheets")
    store = StudyStore(tmp_path / "study.db")
    store.load_sheets(sheet_set.sheets)
    by_id = {s.sheet_id: s for s in sheet_set.sheets}
    for k in range(4):
        _, a = store.assign(
            authors_pseudonym(f"participant-{k}"), timeout_s=3600, raters_per_sheet=2
        )
        store.save_teq(a.id, [k % 5] * 16)
        items = by_id[a.sheet_id].items
        for it in items[: 10 if k < 3 else 4]:
            store.save_answer(a.id, it.item_id, it.position, 1 + (it.position + k) % 3)
        if k < 3:
            store.submit(a.id)
    export = tmp_path / "returns.csv"
    pd.DataFrame(store.returns()).to_csv(export, index=False)
    return tmp_path / "study.db", tmp_path / "sheets.key.csv", export


def test_db_and_export_give_the_same_rating_table(study_db, tmp_path: Path) -> None:
    db, key, export = study_db
    from_db = import_returns(db, key)
    from_csv = import_returns(export, key)
    pd.testing.assert_frame_equal(from_db, from_csv)
    assert len(from_db) == 30 and from_db["rater"].nunique() == 3
    assert set(from_db["source"]) == {"new-model"}
    assert from_db["rater"].str.match(r"^r-[0-9a-f]{12}$").all()
    assert json.loads(from_db["teq"].iloc[0]) == [0] * 16
    keyed = pd.read_csv(key).set_index("item_id")
    returned = pd.read_csv(export)
    expected = keyed.loc[returned["item_id"], ["dialog_id", "source"]].reset_index(drop=True)
    got = from_db[["dialog_id", "source"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    for suffix in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"table.{suffix}"
        assert cli(["import-returns", str(db), "--key", str(key), "--out", str(out)]) == 0
        pd.testing.assert_frame_equal(read_rating_table(out), from_db)
        assert cli(["import-returns", str(db), "--key", str(key), "--out", str(out)]) == 2
    jsonl = tmp_path / "returns.jsonl"
    pd.read_csv(export).to_json(jsonl, orient="records", lines=True)
    pd.testing.assert_frame_equal(import_returns(jsonl, key), from_db)


def _corrupt(export: Path, tmp_path: Path, change) -> Path:
    frame = pd.read_csv(export, dtype=str, keep_default_na=False)
    change(frame)
    out = tmp_path / "bad.csv"
    frame.to_csv(out, index=False)
    return out


def _set(row: int, column: str, value: str):
    def change(frame: pd.DataFrame) -> None:
        frame.loc[row, column] = value

    return change


@pytest.mark.parametrize(
    ("change", "row", "column", "message"),
    [
        (_set(3, "rating", "4"), 5, "rating", "rating must be 1"),
        (_set(0, "rating", ""), 2, "rating", "rating must be 1"),
        (_set(7, "item_id", "i-000000000000"), 9, "item_id", "not in the key"),
        (_set(2, "sheet_id", "s-0000000000"), 4, "sheet_id", "is on sheet"),
        (_set(2, "position", "9"), 4, "position", "at position"),
        (_set(4, "teq", "[1, 2]"), 6, "teq", "16 TEQ answers"),
        (_set(4, "teq", "[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]"), 6, "teq", "16 TEQ answers"),
        (_set(4, "teq", json.dumps([4] * 16)), 6, "teq", "differs"),
        (_set(0, "rater", ""), 2, "rater", "empty"),
        (lambda f: f.drop(columns=["teq"], inplace=True), None, "teq", "missing column"),
    ],
)
def test_bad_returns_are_named(study_db, tmp_path: Path, change, row, column, message) -> None:
    _, key, export = study_db
    bad = _corrupt(export, tmp_path, change)
    with pytest.raises(RatingTableError, match=message) as err:
        import_returns(bad, key)
    assert err.value.origin == str(bad) and err.value.row == row and err.value.column == column
    out = tmp_path / "t.csv"
    assert cli(["import-returns", str(bad), "--key", str(key), "--out", str(out)]) == 2
    assert not out.exists()


def test_duplicates_and_second_sheets_are_refused(study_db, tmp_path: Path) -> None:
    _, key, export = study_db
    frame = pd.read_csv(export, dtype=str, keep_default_na=False)
    dup = _corrupt(export, tmp_path, lambda f: None)
    pd.concat([frame, frame.iloc[[3]]]).to_csv(dup, index=False)
    with pytest.raises(RatingTableError, match="duplicate") as err:
        import_returns(dup, key)
    assert err.value.row == 32
    # One rater's pseudonym on a second sheet: between-subjects is broken.
    moved = frame.copy()
    moved.loc[10:19, "rater"] = moved.loc[0, "rater"]
    moved.loc[10:19, "teq"] = moved.loc[0, "teq"]
    moved.to_csv(dup, index=False)
    with pytest.raises(RatingTableError, match="one sheet per rater") as err:
        import_returns(dup, key)
    assert err.value.row == 12


def test_malformed_files(study_db, tmp_path: Path) -> None:
    _, key, export = study_db
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"rater": "r-1"}\n{not json\n', encoding="utf-8")
    with pytest.raises(RatingTableError, match="not valid JSON") as err:
        import_returns(broken, key)
    assert err.value.row == 2
    notdb = tmp_path / "returns.db"
    notdb.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(RatingTableError):
        import_returns(notdb, key)
    other = tmp_path / "other.txt"
    other.write_text("hello", encoding="utf-8")
    with pytest.raises(RatingTableError, match="unknown returns format"):
        import_returns(other, key)
    empty = tmp_path / "empty.csv"
    empty.write_text("rater,sheet_id,item_id,position,rating,teq,submitted_at\n", encoding="utf-8")
    with pytest.raises(RatingTableError, match="no returns"):
        import_returns(empty, key)
    # Raw platform ids in a hand-made return are pseudonymised on the way in.
    raw = _corrupt(export, tmp_path, lambda f: f.__setitem__("rater", "5f1a2b3c4d5e6f7a8b9c0d1e"))
    frame = pd.read_csv(raw, dtype=str, keep_default_na=False)
    first = frame[frame["sheet_id"] == frame.loc[0, "sheet_id"]].assign(teq=frame.loc[0, "teq"])
    first.to_csv(raw, index=False)
    # Raw ids need the study's pseudonym key: without it they are refused, never passed on.
    with pytest.raises(
        RatingTableError, match=r"row 2, column 'rater': rater '5f…' is not a pseud"
    ):
        import_returns(raw, key)
    secret = tmp_path / "study.db.pseudonym-key"
    secret_bytes = load_or_create_pseudonym_key(secret)
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    table = import_returns(raw, key, secret)
    assert set(table["rater"]) == {pseudonym("5f1a2b3c4d5e6f7a8b9c0d1e", secret_bytes)}
    assert rater_kinds(table["rater"]).tolist() == ["crowd"] * len(table)
    # Keyed: another study's key gives another pseudonym, and the id is not in the output.
    assert pseudonym("5f1a2b3c4d5e6f7a8b9c0d1e", b"k" * 32) not in set(table["rater"])
