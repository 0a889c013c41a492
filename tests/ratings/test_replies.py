"""The one reply reader: Inspect logs, lm-eval samples and reply tables, read the same way by the
post-hoc judge and by the study kit's sheets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from empathy_task.cli import main as cli
from empathy_task.ratings.replies import read_replies
from empathy_task.ratings.table import RatingTableError


def _table(study: pd.DataFrame, n: int, text: str = "reply {}", **extra: object) -> pd.DataFrame:
    ids = study["dialog_id"].head(n).tolist()
    return pd.DataFrame({"dialog_id": ids, "reply": [text.format(i) for i in range(n)], **extra})


def test_a_repeated_reply_is_kept_once_and_a_different_one_is_refused_naming_both(
    study: pd.DataFrame, tmp_path: Path
) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.jsonl", tmp_path / "c.csv"
    _table(study, 5, source="m").to_csv(a, index=False)
    _table(study, 5, source="m").to_json(b, orient="records", lines=True)
    assert len(read_replies([a, b])) == 5
    changed = _table(study, 5, source="m")
    changed.loc[3, "reply"] = "something else"
    changed.to_csv(c, index=False)
    with pytest.raises(RatingTableError) as err:
        read_replies([a, c])
    message = str(err.value)
    assert f"{c}: row 5, column 'reply'" in message and f"{a} row 5" in message
    # Both commands that read replies refuse it, and write nothing.
    assert (
        cli(
            [
                "judge",
                str(a),
                str(c),
                "--grader",
                "empathy/mock-judge",
                "--out",
                str(tmp_path / "r.csv"),
            ]
        )
        == 2
    )
    assert cli(["sheets", str(a), str(c), "--out", str(tmp_path / "sheets")]) == 2
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "sheets").exists()


def test_source_names_a_table_without_a_source_column_and_selects_in_one_with_it(
    study: pd.DataFrame, tmp_path: Path
) -> None:
    plain, both = tmp_path / "plain.csv", tmp_path / "both.parquet"
    _table(study, 4).to_csv(plain, index=False)
    pd.concat(
        [_table(study, 4, source="m1"), _table(study, 4, "other {}", source="m2")]
    ).to_parquet(both, index=False)
    assert set(read_replies([plain], "mine")["source"]) == {"mine"}
    assert read_replies([both], "m2")["reply"].tolist() == [f"other {i}" for i in range(4)]
    with pytest.raises(RatingTableError, match="no replies of source 'm3'"):
        read_replies([both], "m3")


def test_an_unknown_dialog_is_named_with_its_row(study: pd.DataFrame, tmp_path: Path) -> None:
    bad = _table(study, 3, source="m")
    bad.loc[2, "dialog_id"] = "hit:0_conv:0"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(
        RatingTableError, match=r"row 4, column 'dialog_id': unknown dialog id 'hit:0_conv:0'"
    ):
        read_replies([path])
