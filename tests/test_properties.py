"""Property-based tests of the importers: rating tables, human-study returns, reply tables and
lm-eval samples files.

Hypothesis draws small tables, valid or with one malformed row or column, and messy tables whose
cells may be anything a JSONL or Parquet file can hold (null, NaN, booleans, lists, objects, odd
text). The promise: an importer either loads exactly the valid table, or fails with a
``RatingTableError`` that names the file and the row and column at fault. Never a partial table,
never another exception. The fast CSV reader is checked against pandas' reader on random text.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from empathy_task.data.study import manifest
from empathy_task.outputs import read_safe_csv
from empathy_task.ratings.files import read_rating_table, read_text_csv, write_rating_table
from empathy_task.ratings.replies import read_lm_eval_samples, read_replies, read_reply_table
from empathy_task.ratings.table import RATING_COLUMNS, RatingTableError
from empathy_task.study.returns import read_returns, returns_to_rating_table

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FORMATS = (".csv", ".jsonl", ".parquet")
MANIFEST = manifest()
IDS = MANIFEST["dialog_id"].tolist()

# Names with what breaks naive CSV handling: commas, quotes, formula starts (also after a space,
# and fullwidth), apostrophes, non-ASCII. Not blank: an empty source or rater is an error of its
# own; no line break or other control character, which an id may not hold (issue 14).
text = st.text(
    alphabet=st.sampled_from(list("ab Z,\"'=+-@＝é漢😀")), min_size=1, max_size=8
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


@SETTINGS
@given(
    n=st.integers(1, 6),
    corruption=st.sampled_from([None, "unknown id", "null id", "empty source", "list reply"]),
    suffix=st.sampled_from(FORMATS),
    data=st.data(),
)
def test_reply_tables_with_a_bad_row_name_it(
    n: int, corruption: str | None, suffix: str, data: st.DataObject, tmp_path: Path
) -> None:
    frame = pd.DataFrame({"dialog_id": IDS[:n], "source": "m", "reply": "fine"}).astype(object)
    at = data.draw(st.integers(0, n - 1))
    column = {"unknown id": "dialog_id", "null id": "dialog_id", "empty source": "source"}.get(
        corruption or "", "reply"
    )
    if corruption == "unknown id":
        frame.loc[at, "dialog_id"] = data.draw(st.sampled_from(["hit:0_conv:0", "=1+1", "é"]))
    elif corruption == "null id":
        assume(suffix != ".csv")  # an empty CSV cell is the text "", an unknown id like any
        frame.loc[at, "dialog_id"] = None
    elif corruption == "empty source":
        frame.loc[at, "source"] = data.draw(st.sampled_from(["", "  "]))
    elif corruption == "list reply":
        assume(suffix == ".jsonl")  # a JSON array where the text should be
        frame.at[at, "reply"] = ["a", "b"]
    path = tmp_path / f"replies{suffix}"
    if suffix == ".jsonl":
        path.write_text(
            "".join(json.dumps(r) + "\n" for r in frame.to_dict(orient="records")), "utf-8"
        )
    else:
        _write_raw(frame, path)
    if corruption is None:
        expected = frame.astype(str)
        pd.testing.assert_frame_equal(read_reply_table(path), expected, check_dtype=False)
        return
    with pytest.raises(RatingTableError) as err:
        read_reply_table(path)
    _assert_located(err.value, path, _file_row(path, at), column)


# --- lm-eval samples files ----------------------------------------------------------------------

STAMP = "2026-01-02T03-04-05.678901"
SAMPLE_CORRUPTIONS = (
    "not json",
    "not an object",
    "no doc",
    "doc not an object",
    "unknown id",
    "id not text",
)


def _sample(dialog_id: object, variant: str, reply: str) -> dict[str, Any]:
    return {
        "doc_id": 0,
        "doc": {"dialog_id": dialog_id, "prompt_variant": variant},
        "resps": [[reply]],
        "filtered_resps": [reply],
    }


@SETTINGS
@given(
    ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=6, unique=True),
    variants=st.lists(st.sampled_from(["empathy", "vanilla"]), min_size=6, max_size=6),
    replies=st.lists(text, min_size=6, max_size=6),
    corruption=st.sampled_from([None, *SAMPLE_CORRUPTIONS]),
    blank_lines=st.lists(st.integers(0, 6), max_size=2),
    results=st.sampled_from(["named", "garbage", "none"]),
    data=st.data(),
)
def test_lm_eval_samples_load_exactly_or_fail_at_the_line(
    ids: list[str],
    variants: list[str],
    replies: list[str],
    corruption: str | None,
    blank_lines: list[int],
    results: str,
    data: st.DataObject,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("samples")
    path = folder / f"samples_empathy_task_{STAMP}.jsonl"
    if results == "named":
        config = {"model": "hf", "model_args": "pretrained=org/model,dtype=float16"}
        (folder / f"results_{STAMP}.json").write_text(json.dumps({"config": config}))
    elif results == "garbage":
        (folder / f"results_{STAMP}.json").write_bytes(b"\xff{not json")
    records = [_sample(d, v, r) for d, v, r in zip(ids, variants, replies)]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    at = data.draw(st.integers(0, len(lines) - 1))
    if corruption == "not json":
        lines[at] = lines[at][:-1]
    elif corruption == "not an object":
        lines[at] = "[1, 2]"
    elif corruption == "no doc":
        lines[at] = json.dumps({"resps": [["x"]]})
    elif corruption == "doc not an object":
        lines[at] = json.dumps({"doc": "hit:1", "resps": [["x"]]})
    elif corruption == "unknown id":
        lines[at] = json.dumps(_sample("hit:0_conv:0", "empathy", "x"))
    elif corruption == "id not text":
        lines[at] = json.dumps(
            _sample(data.draw(st.sampled_from([7, None, ["a"]])), "empathy", "x")
        )
    for k in sorted(blank_lines, reverse=True):
        lines.insert(min(k, len(lines)), "   ")
        at += 1 if k <= at else 0
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = data.draw(st.sampled_from([None, "given/model"]))

    if source is None and results != "named":
        # No model name: the error names the results file, or the samples file without one.
        with pytest.raises(RatingTableError) as err:
            read_lm_eval_samples(path, source)
        assert str(folder) in str(err.value)
        return
    if corruption is not None:
        with pytest.raises(RatingTableError) as err:
            read_lm_eval_samples(path, source)
        _assert_located(err.value, path, at + 1, None)
        return
    model = source or "org/model"
    expected = pd.DataFrame(
        {
            "dialog_id": ids,
            "source": [
                model if source or v == "empathy" else f"{model} [{v}]"
                for v in variants[: len(ids)]
            ],
            "reply": replies[: len(ids)],
        }
    )
    pd.testing.assert_frame_equal(read_lm_eval_samples(path, source), expected)
    # read_replies tells a samples file from a reply table by its first record.
    pd.testing.assert_frame_equal(read_replies([path], source), expected, check_dtype=False)


@SETTINGS
@given(payload=st.binary(max_size=200), reader=st.sampled_from(["replies", "returns"]))
def test_random_bytes_in_any_importer_are_an_error_not_a_crash(
    payload: bytes, reader: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("bytes") / "input.jsonl"
    path.write_bytes(payload)
    with pytest.raises(RatingTableError) as err:
        if reader == "replies":
            read_replies([path], "m")
        else:
            returns_to_rating_table(read_returns(path), _key(10))
    assert str(path) in str(err.value)


# --- messy tables: any cell value a file can hold ---------------------------------------------

ODD_TEXT = [
    "",
    " ",
    "nan",
    "None",
    "null",
    "=1+1",
    "+2",
    "-3",
    "@x",
    "2.0",
    " 2",
    "3.5",
    "1e3",
    "True",
    "\u200b",
    "\u202e",
    "a\u0301",
    "a\nb",
    'q"q',
    "x,y",
    "\t=1",
    "é",
    "😀",
]
ANY_CELL = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.booleans(),
    st.integers(-3, 5),
    st.floats(allow_nan=False, allow_infinity=True),
    st.sampled_from(IDS[:3]),
    st.sampled_from(["human", "m1", "r-0123456789ab", "judge/x", *ODD_TEXT]),
    st.sampled_from([json.dumps([2] * 16), json.dumps([5] * 16), "[1,2]"]),
    st.lists(st.integers(0, 4), max_size=2),
    st.dictionaries(st.sampled_from("ab"), st.integers(0, 2), max_size=1),
    st.sampled_from(["joyful", "positive", "negative", "joy", 3, 3.5, 1e30]),
)
CELL_COLUMNS = [*RATING_COLUMNS, "teq", "note"]


@st.composite
def messy_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Rows that start valid; about one cell in four is replaced by anything at all."""
    n = draw(st.integers(1, 4))
    columns = draw(st.lists(st.sampled_from(CELL_COLUMNS), min_size=4, max_size=10, unique=True))
    picks = draw(st.lists(st.integers(0, len(IDS) - 1), min_size=n, max_size=n, unique=True))
    records = []
    for k, i in enumerate(picks):
        label = MANIFEST.iloc[i]
        valid = {
            **{c: label[c] for c in ("dialog_id", "emotion", "sentiment", "plutchik")},
            "part_no": int(label["part_no"]),
            "source": "s",
            "rater": f"r{k}",
            "rating": 1 + k % 3,
            "teq": json.dumps([1] * 16),
            "note": "x",
        }
        records.append(
            {c: draw(ANY_CELL) if draw(st.integers(0, 3)) == 0 else valid[c] for c in columns}
        )
    return records


def _write_records(records: list[dict[str, Any]], path: Path) -> bool:
    """Write as a foreign tool would; False if the format cannot hold these values."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return True
    frame = pd.DataFrame(records)
    try:
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path)
    except Exception:  # e.g. Parquet refuses a column of text and numbers
        return False
    return True


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@settings(SETTINGS, max_examples=150)
@given(records=messy_records(), suffix=st.sampled_from(FORMATS))
def test_messy_tables_load_whole_or_fail_located(
    records: list[dict[str, Any]], suffix: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("messy") / f"ratings{suffix}"
    assume(_write_records(records, path))
    try:
        table = read_rating_table(path)
    except RatingTableError as e:
        message = str(e)
        assert str(path) in message
        # A bad cell is named by row and column; only file-wide problems name neither.
        assert (
            e.row is not None
            and e.column is not None
            or (e.column is not None or "no ratings" in message or "not a readable" in message)
        ), message
        return
    # Loaded: every row, in order, with its own values, and nothing the checks would refuse.
    assert len(table) == len(records)
    assert table.columns.tolist()[:8] == list(RATING_COLUMNS)
    for rec, row in zip(records, table.to_dict(orient="records")):
        assert row["dialog_id"] == rec["dialog_id"]
        label = MANIFEST.set_index("dialog_id").loc[row["dialog_id"]]
        assert (row["emotion"], row["part_no"]) == (label["emotion"], label["part_no"])
        for col in ("source", "rater"):
            assert not _missing(rec[col]) and str(rec[col]).strip()
            if suffix != ".csv":  # CSV writes numbers its own way (2.0, 1e+30)
                assert row[col] == str(rec[col])
        assert not isinstance(rec["rating"], bool)
        assert row["rating"] == float(rec["rating"]) and row["rating"] in (1, 2, 3)
        if "teq" in rec and not _missing(rec["teq"]) and str(rec["teq"]).strip():
            assert json.loads(row["teq"]) == json.loads(rec["teq"])


# --- the fast CSV reader ------------------------------------------------------------------------

CSV_CHARS = st.sampled_from(
    [*"a ,\"'\n\r\t=+-@é漢😀;", "\r\n", "\u2028", "\x85", "\ufeff", "nan", "NA", '""']
)
csv_cells = st.lists(CSV_CHARS, max_size=5).map("".join)


@settings(SETTINGS, max_examples=300)
@given(
    header=st.lists(st.sampled_from(["a", "b", "c", "a", "", " a", "é"]), min_size=1, max_size=4),
    rows=st.lists(st.lists(csv_cells, max_size=4), max_size=5),
    mode=st.sampled_from(["joined", "minimal", "all quoted"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
# Found by this test: a line of spaces in a one-column file, a quote left open at the end.
@example(header=["a"], rows=[[" "]], mode="joined", newline="\r", bom=False)
@example(header=["a", "b"], rows=[["x", '"y']], mode="joined", newline="\n", bom=False)
@example(header=["a", "b"], rows=[["x", '"y""\n']], mode="joined", newline="\n", bom=True)
def test_the_fast_csv_reader_reads_what_pandas_reads(
    header: list[str],
    rows: list[list[str]],
    mode: str,
    newline: str,
    bom: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``read_text_csv`` (pyarrow) gives ``read_safe_csv``'s table (pandas), or both refuse the
    file: ragged rows, quotes left open, blank-looking lines, repeated names."""
    if mode == "joined":  # no quoting at all: whatever a careless tool writes
        text = newline.join([",".join(header), *(",".join(r) for r in rows)]) + newline
    else:
        buf = io.StringIO()
        quoting = csv.QUOTE_ALL if mode == "all quoted" else csv.QUOTE_MINIMAL
        writer = csv.writer(buf, lineterminator=newline, quoting=quoting)
        writer.writerow(header)
        writer.writerows(rows)
        text = buf.getvalue()
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes((("\ufeff" if bom else "") + text).encode("utf-8"))
    try:
        expected = read_safe_csv(path)
    except Exception:
        with pytest.raises(Exception):  # noqa: B017 - pandas' own error types, whichever
            read_text_csv(path)
        return
    try:
        got = read_text_csv(path)
    except RatingTableError as e:
        # A repeated column name is a located error (pandas would rename it "a.1").
        assert "appears twice" in str(e) and "row 1" in str(e)
        assert any(f"{c}.1" in expected.columns for c in expected.columns)
        return
    pd.testing.assert_frame_equal(got, expected)
