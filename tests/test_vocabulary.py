"""Which rater ids leave the machine: pseudonyms and judge names only, never a person's id."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.cli import main as cli
from empathy_task.ratings.table import study_rating_table
from empathy_task.vocabulary import (
    CROWD,
    PSEUDONYM,
    PseudonymKeyError,
    authors_pseudonym,
    is_allowed_rater,
    key_path_for,
    load_or_create_pseudonym_key,
    pseudonym,
    rater_kind,
    read_pseudonym_key,
)

FAST = ["--resamples", "20"]


def _table_with_raw_ids(study: pd.DataFrame) -> pd.DataFrame:
    table = study_rating_table(study.head(60)).drop(columns="teq")
    table["rater"] = [f"alice{i % 7}@example.com" for i in range(len(table))]
    return table


def test_a_report_over_raw_ids_is_refused_and_writes_nothing(
    study: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    _table_with_raw_ids(study).to_csv(path, index=False)
    out = tmp_path / "report"
    assert cli(["report", str(path), "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert f"{path}: row 2, column 'rater': rater 'al…'" in err and "person's id" in err
    assert "example.com" not in err
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_raw_ids_are_refused_in_every_format(study: pd.DataFrame, tmp_path: Path, fmt: str) -> None:
    table = _table_with_raw_ids(study)
    table.loc[:4, "rater"] = "openai/gpt-4o"  # a judge name is fine; the first person is row 6
    path = tmp_path / f"people.{fmt}"
    table.to_json(path, orient="records", lines=True) if fmt == "jsonl" else table.to_parquet(path)
    out = tmp_path / "report"
    assert cli(["report", str(path), "--out", str(out), *FAST]) == 2
    assert not out.exists()


def test_the_rule_for_a_rater() -> None:
    key = b"\x01" * 32
    for allowed in (
        authors_pseudonym("a"),
        pseudonym("a", key),
        "openai/gpt-4o",
        "empathy/mock-judge",
        "hf/HuggingFaceTB/SmolLM2-135M-Instruct",
    ):
        assert is_allowed_rater(allowed), allowed
    for person in (
        "alice0@example.com",
        "5f1a2b3c4d5e6f7a8b9c0d1e",
        "Alice Smith",
        "bob",
        "someone@host/x",
        "r-0123456789AB",
    ):
        assert not is_allowed_rater(person), person
    assert rater_kind(pseudonym("a", key)) == CROWD and rater_kind(authors_pseudonym("a")) == CROWD


def test_the_study_kits_pseudonym_is_keyed_and_long(tmp_path: Path) -> None:
    key_file = key_path_for(tmp_path / "study.db")
    key = load_or_create_pseudonym_key(key_file)
    assert len(key) == 32 and load_or_create_pseudonym_key(key_file) == key  # created once
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    p = pseudonym("abcd", key)
    assert PSEUDONYM.fullmatch(p) and len(p) == 2 + 32
    # Not the unkeyed hash anyone can recompute, and another study's key gives another name.
    assert (
        p != authors_pseudonym("abcd")
        and p[2:] not in hashlib.sha256(b"empathy-task:abcd").hexdigest()
    )
    assert pseudonym("abcd", b"\x02" * 32) != p
    key_file.write_text("not hex\n", encoding="ascii")
    with pytest.raises(PseudonymKeyError, match="not a pseudonym key"):
        read_pseudonym_key(key_file)
    with pytest.raises(PseudonymKeyError, match="no such"):
        read_pseudonym_key(tmp_path / "missing")


def test_the_authors_data_keeps_its_public_pseudonyms(study: pd.DataFrame) -> None:
    """Reproducible on any machine: no key is involved for the authors' public CSV."""
    shipped = pd.read_csv(
        Path(__file__).resolve().parent.parent / "human_baseline" / "crowd_ratings.csv"
    )
    assert shipped["rater"].str.fullmatch(r"r-[0-9a-f]{12}").all()
    from empathy_task.data.study import study_sources

    raters = set(study_rating_table(study)["rater"])
    # The sources the loaded files hold (six with the second study file, three without).
    shipped = shipped[shipped["source"].isin(study_sources(study))]
    assert set(shipped["rater"]) <= raters
