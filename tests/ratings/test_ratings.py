"""The rating table: validation with located errors, the three formats, safe CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.data.study import manifest
from empathy_task.outputs import OutputExistsError
from empathy_task.ratings.files import read_rating_table, write_rating_table
from empathy_task.ratings.table import RatingTableError, study_rating_table, validate_rating_table
from empathy_task.vocabulary import CROWD, rater_kind


def _table(n: int = 6) -> pd.DataFrame:
    ids = manifest()["dialog_id"].head(n)
    return pd.DataFrame(
        {"dialog_id": ids, "source": "m", "rater": "judge/x", "rating": [1, 2, 3] * (n // 3)}
    )


def test_labels_are_filled_from_the_manifest() -> None:
    t = validate_rating_table(_table())
    ref = manifest().head(6)
    assert t["emotion"].tolist() == ref["emotion"].tolist()
    assert t["part_no"].tolist() == ref["part_no"].tolist()


def test_study_table_round_trips(study: pd.DataFrame, tmp_path: Path) -> None:
    from empathy_task.data.study import study_sources

    table = study_rating_table(study)
    # Six sources with the second study file, the authors' three without it.
    sources = study_sources(study)
    assert len(table) == 2000 * len(sources)
    good = {"chatgpt": 1268, "chatgpt_empathy": 1295, "human": 986, "llama_empathy": 1219}
    good |= {"gemini_empathy": 1081, "mixtral_empathy": 1192}
    assert table.groupby("source")["rating"].apply(lambda r: int((r == 3).sum())).to_dict() == {
        s: good[s] for s in sources
    }
    assert set(table["rater"].map(rater_kind)) == {CROWD}
    assert len(json.loads(table["teq"].iloc[0])) == 16
    for suffix in ("csv", "jsonl", "parquet"):
        path = write_rating_table(table, tmp_path / f"t.{suffix}")
        pd.testing.assert_frame_equal(read_rating_table(path), validate_rating_table(table))
        with pytest.raises(OutputExistsError):
            write_rating_table(table, path)


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(tmp_path: Path) -> None:
    t = _table()
    t["source"] = '=HYPERLINK("http://x")'
    path = write_rating_table(t, tmp_path / "t.csv")
    raw = path.read_text()
    assert "\n=HYPERLINK" not in raw and ",=HYPERLINK" not in raw and "'=HYPERLINK" in raw
    assert read_rating_table(path)["source"].iloc[0] == t["source"].iloc[0]


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda t: t.loc.__setitem__((2, "rating"), 4), "row 4, column 'rating'"),
        (lambda t: t.loc.__setitem__((1, "rating"), "good"), "row 3, column 'rating'"),
        (
            lambda t: t.loc.__setitem__((3, "dialog_id"), "hit:1_conv:1"),
            "row 5, column 'dialog_id'",
        ),
        (
            lambda t: t.__setitem__("emotion", ["joyous"] + list(manifest()["emotion"].iloc[1:6])),
            "row 2, column 'emotion'",
        ),
        (lambda t: t.loc.__setitem__((5, "dialog_id"), t.loc[0, "dialog_id"]), "duplicate"),
        (lambda t: t.loc.__setitem__((0, "rater"), ""), "row 2, column 'rater'"),
    ],
)
def test_bad_rows_are_located(tmp_path: Path, edit, where: str) -> None:
    t = _table().astype(object)
    edit(t)
    path = tmp_path / "bad.csv"
    t.to_csv(path, index=False)
    with pytest.raises(RatingTableError, match=where):
        read_rating_table(path)


def test_missing_column_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    _table().drop(columns=["rater"]).to_csv(path, index=False)
    with pytest.raises(RatingTableError, match="column 'rater'"):
        read_rating_table(path)
    j = tmp_path / "t.jsonl"
    j.write_text('{"dialog_id": "x"}\n{not json\n')
    with pytest.raises(RatingTableError, match="row 2"):
        read_rating_table(j)
    with pytest.raises(ValueError, match="format"):
        read_rating_table(tmp_path / "t.xlsx")
