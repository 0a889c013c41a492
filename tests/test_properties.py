"""Property-based tests of the importers: rating tables, human-study returns, reply tables.

Hypothesis draws small tables, valid or with one malformed row or column. The promise: an importer
either loads exactly the valid table, or fails with a ``RatingTableError`` that names the file and
the row and column at fault. Never a partial table, never another exception.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from empathy_task.data import manifest
from empathy_task.posthoc import read_reply_table
from empathy_task.ratings import (
    RATING_COLUMNS,
    RatingTableError,
    read_rating_table,
    write_rating_table,
)
from empathy_task.study.returns import read_returns, returns_to_rating_table

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FORMATS = (".csv", ".jsonl", ".parquet")
MANIFEST = manifest()
IDS = MANIFEST["dialog_id"].tolist()

# Names with what breaks naive CSV handling: commas, quotes, newlines, formula starts, apostrophes,
# non-ASCII. Not blank: an empty source or rater is an error of its own.
text = st.text(
    alphabet=st.sampled_from(list("ab Z,\"'\n=+-@é漢😀")), min_size=1, max_size=8
).filter(lambda s: s.strip() != "")


@st.composite
def rating_tables(draw: st.DrawFn) -> pd.DataFrame:
    """A valid rating table in canonical form (the labels as the manifest has them)."""
    n = draw(st.integers(1, 12))
    rows = draw(st.lists(st.integers(0, len(IDS) - 1), min_size=n, max_size=n))
    sources = draw(st.lists(text, min_size=1, max_size=3, unique=True))
    raters = draw(st.lists(text, min_size=n, max_size=n, unique=True))
    frame = MANIFEST.iloc[rows].reset_index(drop=True)
    frame["source"] = [draw(st.sampled_from(sources)) for _ in range(n)]
    frame["rater"] = raters  # unique raters: no (dialog, source, rater) repeats
    frame["rating"] = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    frame["part_no"] = frame["part_no"].astype("int64")
    return frame[list(RATING_COLUMNS)]


def _write_raw(frame: pd.DataFrame, path: Path) -> None:
    """Write a (possibly malformed) table as a foreign tool would: no escaping, no checks."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.astype({c: str for c in frame.columns if frame[c].dtype == object}).to_parquet(path)


def _file_row(path: Path, index: int) -> int:
    """The row number a person sees for frame row ``index``: CSV counts its header line."""
    return index + 2 if path.suffix == ".csv" else index + 1


def _assert_located(err: RatingTableError, path: Path, row: int | None, column: str | None) -> None:
    message = str(err)
    assert str(path) in message
    if row is not None:
        assert err.row == row and f"row {row}" in message, message
    if column is not None:
        assert err.column == column and repr(column) in message, message


@SETTINGS
@given(table=rating_tables(), suffix=st.sampled_from(FORMATS))
def test_valid_tables_round_trip(table: pd.DataFrame, suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"ratings{suffix}"
    write_rating_table(table, path, force=True)
    pd.testing.assert_frame_equal(read_rating_table(path), table, check_dtype=False)


# One corruption at a time: (what is changed, the column that must be named).
CORRUPTIONS = {
    "rating out of range": "rating",
    "rating not a number": "rating",
    "unknown dialog id": "dialog_id",
    "unknown emotion": "emotion",
    "empty source": "source",
    "empty rater": "rater",
    "duplicate row": "dialog_id",
    "malformed teq": "teq",
}


def _corrupt(table: pd.DataFrame, kind: str, i: int, draw: Any) -> tuple[pd.DataFrame, int]:
    """``table`` with row ``i`` made bad; returns the frame and the index of the bad row."""
    bad = table.astype(object).copy()
    if kind == "rating out of range":
        bad.loc[i, "rating"] = draw(st.sampled_from([0, 4, -1, 30]))
    elif kind == "rating not a number":
        bad.loc[i, "rating"] = draw(st.sampled_from(["Good", "x", "2.5", "=3"]))
    elif kind == "unknown dialog id":
        bad.loc[i, "dialog_id"] = draw(st.sampled_from(["hit:0_conv:0", "hit:1", "<b>x</b>"]))
    elif kind == "unknown emotion":
        bad.loc[i, "emotion"] = draw(st.sampled_from(["happy", "Sad ", "=cmd"]))
        if bad.loc[i, "emotion"].strip() in set(MANIFEST["emotion"]):
            raise AssertionError("not an unknown emotion")
    elif kind == "empty source":
        bad.loc[i, "source"] = draw(st.sampled_from(["", "   "]))
    elif kind == "empty rater":
        bad.loc[i, "rater"] = draw(st.sampled_from(["", " "]))
    elif kind == "duplicate row":
        bad = pd.concat([bad.iloc[: i + 1], bad.iloc[[i]], bad.iloc[i + 1 :]], ignore_index=True)
        return bad, i + 1
    elif kind == "malformed teq":
        good = json.dumps([2] * 16)
        bad["teq"] = good
        bad.loc[i, "teq"] = draw(
            st.sampled_from(["[1, 2]", json.dumps([5] * 16), "not json", json.dumps([True] * 16)])
        )
    return bad, i


@SETTINGS
@given(
    table=rating_tables(),
    kind=st.sampled_from(sorted(CORRUPTIONS)),
    suffix=st.sampled_from(FORMATS),
    data=st.data(),
)
def test_malformed_tables_fail_at_the_bad_row(
    table: pd.DataFrame, kind: str, suffix: str, data: st.DataObject, tmp_path: Path
) -> None:
    i = data.draw(st.integers(0, len(table) - 1))
    bad, at = _corrupt(table, kind, i, data.draw)
    path = tmp_path / f"ratings{suffix}"
    _write_raw(bad, path)
    with pytest.raises(RatingTableError) as err:
        read_rating_table(path)
    _assert_located(err.value, path, _file_row(path, at), CORRUPTIONS[kind])


@SETTINGS
@given(
    table=rating_tables(),
    column=st.sampled_from(["dialog_id", "source", "rater", "rating"]),
    suffix=st.sampled_from(FORMATS),
)
def test_a_missing_column_is_named(
    table: pd.DataFrame, column: str, suffix: str, tmp_path: Path
) -> None:
    path = tmp_path / f"ratings{suffix}"
    _write_raw(table.drop(columns=[column]), path)
    with pytest.raises(RatingTableError) as err:
        read_rating_table(path)
    _assert_located(err.value, path, None, column)


@SETTINGS
@given(payload=st.binary(max_size=200), suffix=st.sampled_from(FORMATS))
def test_random_bytes_are_an_error_not_a_crash(payload: bytes, suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"ratings{suffix}"
    path.write_bytes(payload)
    with pytest.raises(RatingTableError) as err:
        read_rating_table(path)
    assert str(path) in str(err.value)


@SETTINGS
@given(table=rating_tables(), blank=st.lists(st.integers(0, 12), max_size=3), data=st.data())
def test_jsonl_errors_name_the_line_of_the_file(
    table: pd.DataFrame, blank: list[int], data: st.DataObject, tmp_path: Path
) -> None:
    """Blank lines are skipped, and an error names the bad record's own line."""
    i = data.draw(st.integers(0, len(table) - 1))
    bad = table.astype(object).copy()
    bad.loc[i, "rating"] = 9
    lines = [json.dumps(r, ensure_ascii=False) for r in bad.to_dict(orient="records")]
    for at in sorted(blank, reverse=True):
        lines.insert(min(at, len(lines)), "")
    path = tmp_path / "ratings.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad_line = lines.index(json.dumps(bad.loc[i].to_dict(), ensure_ascii=False)) + 1
    with pytest.raises(RatingTableError) as err:
        read_rating_table(path)
    _assert_located(err.value, path, bad_line, "rating")


# --- human-study returns ------------------------------------------------------------------------


def _key(n_items: int) -> pd.DataFrame:
    """A key of one sheet of ``n_items`` items of one batch, source ``model``."""
    part = MANIFEST[MANIFEST["part_no"] == 3].reset_index(drop=True).iloc[:n_items]
    return pd.DataFrame(
        {
            "sheet_id": "s-1",
            "item_id": [f"i-{k:02d}" for k in range(len(part))],
            "position": range(1, len(part) + 1),
            "dialog_id": part["dialog_id"],
            "source": "model",
            "part_no": 3,
            "seed": 7,
        }
    )


@st.composite
def returns(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A key and valid returns: each rater rates some items of the sheet once."""
    key = _key(10)
    raters = draw(
        st.lists(
            st.from_regex(r"r-[0-9a-f]{12}", fullmatch=True), min_size=1, max_size=3, unique=True
        )
    )
    rows = []
    for rater in raters:
        items = draw(st.lists(st.integers(0, 9), min_size=1, max_size=10, unique=True))
        answers = draw(st.lists(st.integers(0, 4), min_size=16, max_size=16))
        for k in items:
            rows.append(
                {
                    "rater": rater,
                    "sheet_id": "s-1",
                    "item_id": key.loc[k, "item_id"],
                    "position": int(key.loc[k, "position"]),
                    "rating": draw(st.integers(1, 3)),
                    "teq": json.dumps(answers),
                    "submitted_at": "2026-01-01T00:00:00Z",
                }
            )
    return key, pd.DataFrame(rows)


def _expected_returns_table(key: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    merged = frame.merge(key[["item_id", "dialog_id"]], on="item_id", how="left")
    labels = MANIFEST.set_index("dialog_id").loc[merged["dialog_id"]].reset_index()
    out = labels[["dialog_id", "emotion", "sentiment", "plutchik", "part_no"]].copy()
    out["source"] = "model"
    out["rater"] = merged["rater"].to_numpy()
    out["rating"] = merged["rating"].astype("int64").to_numpy()
    out["teq"] = [json.dumps(json.loads(t)) for t in merged["teq"]]
    return out


@SETTINGS
@given(case=returns(), suffix=st.sampled_from([".csv", ".jsonl"]), data=st.data())
def test_returns_load_exactly_or_fail_located(
    case: tuple[pd.DataFrame, pd.DataFrame], suffix: str, data: st.DataObject, tmp_path: Path
) -> None:
    key, frame = case
    corruption = data.draw(
        st.sampled_from([None, "rating", "item_id", "teq", "duplicate", "sheet_id"])
    )
    at = data.draw(st.integers(0, len(frame) - 1))
    bad = frame.astype(object).copy()
    column = corruption
    if corruption == "rating":
        bad.loc[at, "rating"] = data.draw(st.sampled_from([0, 4, "Great", ""]))
    elif corruption == "item_id":
        bad.loc[at, "item_id"] = "i-forged"
    elif corruption == "teq":
        bad.loc[at, "teq"] = data.draw(st.sampled_from(["[1, 2]", "x", json.dumps([9] * 16)]))
    elif corruption == "sheet_id":
        bad.loc[at, "sheet_id"] = "s-other"
    elif corruption == "duplicate":
        bad = pd.concat([bad.iloc[: at + 1], bad.iloc[[at]], bad.iloc[at + 1 :]], ignore_index=True)
        at, column = at + 1, "item_id"
    path = tmp_path / f"returns{suffix}"
    _write_raw(bad, path)
    if corruption is None:
        table = returns_to_rating_table(read_returns(path), key)
        pd.testing.assert_frame_equal(
            table.reset_index(drop=True), _expected_returns_table(key, frame), check_dtype=False
        )
        return
    with pytest.raises(RatingTableError) as err:
        returns_to_rating_table(read_returns(path), key)
    _assert_located(err.value, path, _file_row(path, at), column)


# --- reply tables for the post-hoc judge --------------------------------------------------------


@SETTINGS
@given(
    n=st.integers(1, 8),
    replies=st.lists(st.text(max_size=30), min_size=8, max_size=8),
    suffix=st.sampled_from(FORMATS),
    drop=st.sampled_from([None, "dialog_id", "reply"]),
)
def test_reply_tables_load_exactly_or_name_the_missing_column(
    n: int, replies: list[str], suffix: str, drop: str | None, tmp_path: Path
) -> None:
    # NUL cannot be stored in CSV text; pandas' own CSV round trip turns a lone "\r" into "".
    assume(all("\x00" not in r and "\r" not in r for r in replies))
    frame = pd.DataFrame({"dialog_id": IDS[:n], "source": "m", "reply": [r for r in replies[:n]]})
    path = tmp_path / f"replies{suffix}"
    if drop is None:
        _write_raw(frame, path)
        out = read_reply_table(path)
        expected = frame.copy()
        if suffix == ".csv":
            # A CSV written by another tool: an escaped-looking cell loses one apostrophe.
            expected["reply"] = [re.sub(r"^'(?='*[=+\-@\t\r])", "", r) for r in expected["reply"]]
        pd.testing.assert_frame_equal(out[["dialog_id", "source", "reply"]], expected)
        return
    _write_raw(frame.drop(columns=[drop]), path)
    with pytest.raises(RatingTableError) as err:
        read_reply_table(path)
    assert str(path) in str(err.value) and repr(drop) in str(err.value)
