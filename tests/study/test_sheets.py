"""Rating sheets: the study's batches, one source per sheet, blinding, seeds, keys, inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.cli import main as cli
from empathy_task.ratings.replies import read_replies
from empathy_task.ratings.table import RatingTableError
from empathy_task.study import teq
from empathy_task.study.sheets import (
    ITEM_ID,
    SHEET_ID,
    items_from_replies,
    make_sheets,
    read_key,
    read_sheet,
    read_sheets,
    replies_from_study,
    write_sheets,
)
from tests.study.support import synthetic_items


def test_stored_source_gives_200_blinded_sheets_of_10(study: pd.DataFrame, tmp_path: Path) -> None:
    out, key_path = tmp_path / "sheets", tmp_path / "sheets.key.csv"
    assert cli(["sheets", "--source", "chatgpt_empathy", "--out", str(out), "--seed", "11"]) == 0
    sheets = read_sheets(out)
    key = read_key(key_path)
    assert len(sheets) == 200 and all(len(s.items) == 10 for s in sheets)
    assert len(list(out.glob("*.csv"))) == 200 and len(list(out.glob("*.jsonl"))) == 200
    # One source and one study batch per sheet; every prompt once.
    per_sheet = key.groupby("sheet_id").agg(
        sources=("source", "nunique"), parts=("part_no", "nunique")
    )
    assert (per_sheet["sources"] == 1).all() and (per_sheet["parts"] == 1).all()
    assert sorted(key["part_no"].unique()) == list(range(200))
    assert key["dialog_id"].is_unique and set(key["dialog_id"]) == set(study["dialog_id"])
    assert set(key["source"]) == {"chatgpt_empathy"}
    # The key maps every blinded item back to the sheet's text.
    text = study.set_index("dialog_id")
    by_item = key.set_index("item_id")
    for sheet in sheets:
        assert SHEET_ID.match(sheet.sheet_id)
        for item in sheet.items:
            assert ITEM_ID.match(item.item_id)
            entry = by_item.loc[item.item_id]
            assert entry["sheet_id"] == sheet.sheet_id and entry["position"] == item.position
            row = text.loc[entry["dialog_id"]]
            assert item.reply == row["reply_chatgpt_empathy"]
            assert item.situation == row["situation"] and item.emotion == row["emotion"]
            assert item.speaker_turn == row["speaker_turn"]
    # CSV and JSONL say the same.
    one = sheets[0].sheet_id
    assert read_sheet(out / f"{one}.csv") == read_sheet(out / f"{one}.jsonl")
    # Nothing names the source or the dialog: not the file names, not the fields.
    for p in out.iterdir():
        body = p.read_text(encoding="utf-8")
        assert "chatgpt" not in p.name and "hit:" not in body and "part_no" not in body


def test_key_round_trips_and_shuffle_follows_the_seed(tmp_path: Path) -> None:
    items = synthetic_items(range(20), source="a-model")
    first = make_sheets(items, seed=5)
    again = make_sheets(items, seed=5)
    other = make_sheets(items, seed=6)
    order = lambda s: s.key.sort_values(["part_no", "position"])["dialog_id"].tolist()  # noqa: E731
    assert order(first) == order(again) and order(first) != order(other)
    # Blinded ids are fresh random tokens, never derived from the dialog.
    assert set(first.key["item_id"]).isdisjoint(again.key["item_id"])
    for suffix in ("csv", "jsonl"):
        _, key_path = write_sheets(
            first, tmp_path / suffix, tmp_path / f"key.{suffix}", formats=[suffix]
        )
        pd.testing.assert_frame_equal(read_key(key_path), first.key)
        assert [s.items for s in read_sheets(tmp_path / suffix)] == [s.items for s in first.sheets]
    assert first.key["seed"].nunique() == 20


def test_sheets_refuse_to_overwrite_and_force_replaces(tmp_path: Path) -> None:
    items = synthetic_items([0, 1])
    out = tmp_path / "s"
    write_sheets(make_sheets(items, seed=1), out)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(FileExistsError):
        write_sheets(make_sheets(items, seed=2), out)
    assert sorted(p.name for p in out.iterdir()) == before
    _, key = write_sheets(make_sheets(items, seed=2), out, force=True)
    after = sorted(p.name for p in out.iterdir())
    assert len(after) == 4 and set(after).isdisjoint(before)
    assert set(read_key(key)["sheet_id"]) == {s.sheet_id for s in read_sheets(out)}
    with pytest.raises(ValueError, match="must not be inside"):
        write_sheets(make_sheets(items), out, out / "key.csv", force=True)


def test_replies_table_inputs(study: pd.DataFrame, tmp_path: Path) -> None:
    ids = study["dialog_id"].head(25).tolist()
    table = pd.DataFrame({"dialog_id": ids, "reply": [f"reply {i}" for i in range(25)]})
    csv = tmp_path / "replies.csv"
    table.to_csv(csv, index=False)
    with pytest.raises(RatingTableError, match="--source"):
        read_replies([csv])
    replies = read_replies([csv], "my-model")
    assert set(replies["source"]) == {"my-model"}
    items = items_from_replies(replies, study)
    assert items["situation"].tolist() == study["situation"].head(25).tolist()
    # Two sources in one JSONL table: a sheet holds one of them only.
    jsonl = tmp_path / "replies.jsonl"
    both = pd.concat([table.assign(source="m1"), table.assign(source="m2")])
    both.to_json(jsonl, orient="records", lines=True)
    sheet_set = make_sheets(items_from_replies(read_replies([jsonl]), study), seed=0)
    assert (sheet_set.key.groupby("sheet_id")["source"].nunique() == 1).all()
    assert set(sheet_set.key["source"]) == {"m1", "m2"}
    assert set(read_replies([jsonl], "m2")["source"]) == {"m2"}
    out = tmp_path / "cli-sheets"
    assert cli(["sheets", str(csv), "--source", "my-model", "--out", str(out)]) == 0
    assert cli(["sheets", str(csv), "--source", "my-model", "--out", str(out)]) == 2


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"dialog_id": "hit:0_conv:0", "reply": "x"}], "unknown dialog id"),
        ([{"dialog_id": "D", "reply": "x"}, {"dialog_id": "D", "reply": "y"}], "second reply"),
        ([{"dialog_id": "D", "reply": ""}], "empty"),
        ([{"dialog_id": "D"}], "missing column"),
    ],
)
def test_bad_replies_are_named(study: pd.DataFrame, tmp_path: Path, rows, message: str) -> None:
    real = study["dialog_id"].iloc[0]
    rows = [{k: (real if v == "D" else v) for k, v in r.items()} for r in rows]
    path = tmp_path / "bad.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(RatingTableError, match=message):
        items_from_replies(read_replies([path], "m"), study, str(path))
    assert cli(["sheets", str(path), "--source", "m", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_unknown_stored_source_is_refused() -> None:
    with pytest.raises(ValueError, match="not a stored source"):
        replies_from_study("gpt-5")


@pytest.mark.dataset_download
def test_inspect_log_input(tmp_path: Path) -> None:
    pytest.importorskip("inspect_ai", reason="needs inspect_ai")
    from inspect_ai import eval as inspect_eval

    from empathy_task.task.empathy_task import empathy_task

    [log] = inspect_eval(
        empathy_task(sample=20, judge_human=False),
        model="empathy/chatgpt",
        model_roles={"grader": "empathy/mock-judge"},
        display="none",
    )
    assert log.status == "success"
    out = tmp_path / "sheets"
    assert cli(["sheets", log.location, "--out", str(out), "--seed", "3"]) == 0
    key = read_key(tmp_path / "sheets.key.csv")
    assert len(key) == 20 and set(key["source"]) == {"empathy/chatgpt"}
    assert cli(["sheets", log.location, "--source", "renamed", "--out", str(out), "--force"]) == 0
    assert set(read_key(tmp_path / "sheets.key.csv")["source"]) == {"renamed"}
    for p in out.iterdir():
        assert "empathy/" not in p.read_text(encoding="utf-8") and "renamed" not in p.name


def test_teq_scoring_matches_the_reporter() -> None:
    from empathy_task.analysis import stats

    assert teq.REVERSE_KEYED == frozenset(stats.REVERSE_KEYED_ITEMS)
    assert len(teq.ITEMS) == stats.TEQ_ITEMS == 16
    assert list(stats.teq_totals([[4] * 16, [0] * 16])) == [32, 32]
    forward_max = [0 if i in teq.REVERSE_KEYED else 4 for i in range(1, 17)]
    assert stats.teq_totals(forward_max)[0] == 64 and stats.reverse_keyed_often(forward_max)[0] == 0
    assert stats.reverse_keyed_often([3] * 16)[0] == 8
    for bad in ([5] * 16, [1] * 15, ["x"] * 16, [True] * 16):
        with pytest.raises(ValueError):
            teq.validate_answers(bad)
    assert json.loads(json.dumps(teq.validate_answers(["1"] * 16))) == [1] * 16
    assert teq.parse_answers("[" + ", ".join(["2"] * 16) + "]") == [2] * 16
    for cell in ("[true" + ", 1" * 15 + "]", '["1"' + ", 1" * 15 + "]", "{}", "[1, 2]"):
        with pytest.raises(ValueError):
            teq.parse_answers(cell)
