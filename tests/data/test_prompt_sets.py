"""A user's own prompt set: read from files and dataset folders, validated whole, errors located."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.data.prompt_sets import PromptSetError, load_prompt_set
from empathy_task.resources import resource_path

SHIPPED = "prompt_sets/clinic_support.jsonl"


def write_set(path: Path, rows: list[dict]) -> Path:
    """A prompt set file in the format its suffix names (lists as JSON in CSV cells)."""
    frame = pd.DataFrame(rows)
    if path.suffix == ".csv":
        for col in ("turns", "human_rating"):
            if col in frame:
                frame[col] = [
                    json.dumps(v) if isinstance(v, list) else v for v in frame[col].tolist()
                ]
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        if "human_rating" in frame:  # one Parquet column holds one type: JSON text here
            frame["human_rating"] = [
                json.dumps(v) if isinstance(v, list) else v for v in frame["human_rating"].tolist()
            ]
        frame.to_parquet(path, index=False)
    return path


ROWS = [
    {
        "id": "a1",
        "situation": "My package was lost.",
        "speaker_turn": "It never arrived.",
        "valence": "negative",
        "human_reply": "I'm sorry, let me find it.",
        "human_rating": [3, 2],
    },
    {
        "id": "a2",
        "turns": ["Hi, I need help.", "Of course, what happened?"],
        "speaker_turn": "My card was charged twice.",
        "valence": "negative",
        "human_reply": "That's worrying; I'll refund the second charge.",
        "human_rating": "Good",
    },
    {
        "id": "a3",
        "turns": ["I passed my exam!"],
        "valence": "positive",
        "human_reply": "Congratulations!",
    },
]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_set_reads_alike_from_csv_jsonl_and_parquet(tmp_path: Path, suffix: str) -> None:
    pset = load_prompt_set(write_set(tmp_path / f"support{suffix}", ROWS))
    reference = load_prompt_set(write_set(tmp_path / "ref.jsonl", ROWS))
    assert pset.name == "support"
    assert pset.sha256 == reference.sha256  # the rows' hash, not the file's bytes
    f = pset.frame
    assert list(f["dialog_id"]) == ["a1", "a2", "a3"]
    assert f["turns"][1] == ("Hi, I need help.", "Of course, what happened?")
    # Without speaker_turn, the last of the turns is the one to answer.
    assert f["speaker_turn"][2] == "I passed my exam!" and f["turns"][2] == ()
    assert list(f["human_ratings"]) == [(3, 2), (3,), ()]
    assert list(f["part_no"]) == [0, 0, 0]  # no batch column: batches of 10 in file order
    assert not pset.has_emotions and pset.has_valence


def test_a_local_hugging_face_dataset_folder_loads_offline(tmp_path: Path) -> None:
    import datasets

    frame = pd.DataFrame(ROWS).drop(columns=["human_rating"])
    frame["turns"] = [[] if not isinstance(t, list) else t for t in frame["turns"]]
    dd = datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_pandas(frame, preserve_index=False),
            "train": datasets.Dataset.from_pandas(frame.iloc[:1], preserve_index=False),
        }
    )
    dd.save_to_disk(str(tmp_path / "clinic"))
    with pytest.raises(PromptSetError, match="splits test, train: name one"):
        load_prompt_set(tmp_path / "clinic")
    pset = load_prompt_set(f"{tmp_path / 'clinic'}:test")
    assert pset.name == "clinic" and len(pset.frame) == 3
    assert pset.frame["turns"][1] == ("Hi, I need help.", "Of course, what happened?")
    single = tmp_path / "single"
    dd["test"].save_to_disk(str(single))
    assert load_prompt_set(single).sha256 == pset.sha256


BAD = [
    ({"id": "a1"}, 3, "id", "duplicate id"),
    ({"valence": "happy"}, 3, "valence", "unknown valence"),
    ({"turns": ["Hello", ""]}, 3, "turns", "non-empty string"),
    ({"speaker_turn": "  "}, 3, "speaker_turn", "empty"),
    ({"human_rating": 5}, 3, "human_rating", "a rating is 1-3"),
    ({"batch": -1}, 3, "batch", "whole number"),
]


@pytest.mark.parametrize(("change", "row", "column", "what"), BAD)
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_malformed_set_is_refused_naming_file_row_and_column(
    tmp_path: Path, change: dict, row: int, column: str, what: str, suffix: str
) -> None:
    rows = [ROWS[0], dict(ROWS[1], turns=None), {**ROWS[1], "id": "b2", "turns": None, **change}]
    if "batch" in change:
        rows = [dict(r, batch=0) for r in rows[:2]] + [rows[2]]
    path = write_set(tmp_path / f"bad{suffix}", rows)
    with pytest.raises(PromptSetError) as e:
        load_prompt_set(path)
    # CSV counts its header line; JSONL counts lines.
    shown = row + 1 if suffix == ".csv" else row
    assert f"{path}: row {shown}, column {column!r}" in str(e.value)
    assert what in str(e.value)


def test_labels_come_in_every_row_or_none_and_one_valence_per_emotion(tmp_path: Path) -> None:
    rows = [dict(ROWS[0], emotion="worried"), dict(ROWS[1], turns=None)]
    with pytest.raises(PromptSetError, match="row 3, column 'emotion': empty, but other rows"):
        load_prompt_set(write_set(tmp_path / "partial.csv", rows))
    rows = [
        dict(ROWS[0], emotion="worried"),
        dict(ROWS[1], turns=None, emotion="Worried", valence="positive"),
    ]
    with pytest.raises(PromptSetError, match="one valence per emotion"):
        load_prompt_set(write_set(tmp_path / "two.jsonl", rows))
    with pytest.raises(PromptSetError, match="unknown column.*'emotions'"):
        load_prompt_set(write_set(tmp_path / "typo.jsonl", [dict(ROWS[0], emotions="x")]))


def test_the_shipped_example_set_validates() -> None:
    pset = load_prompt_set(resource_path(SHIPPED))
    assert pset.name == "clinic_support"
    assert len(pset.frame) == 40 and pset.has_emotions and pset.has_human_replies
    assert set(pset.frame["part_no"]) == {0, 1, 2, 3}
