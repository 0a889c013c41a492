"""Prompt rendering and prompt selection (filters, stratified sampling)."""

from __future__ import annotations

import pandas as pd
import pytest

from empathy_task.data.selection import select_prompts
from empathy_task.data.study import emotions
from empathy_task.task.dataset import hf_dataset, inspect_dataset, prompt_set
from empathy_task.task.prompts import (
    EMPATHY_DEFINITION,
    GENERATION_PROMPT_VERSION,
    JUDGE_PROMPT_VERSION,
    generation_prompt,
    judge_prompt,
)
from empathy_task.vocabulary import RATER_QUESTION


def test_generation_prompt_variants() -> None:
    p = generation_prompt("SITUATION-X", "TURN-Y")
    assert EMPATHY_DEFINITION in p and "SITUATION-X" in p and "TURN-Y" in p
    for part in ("Cognitive", "Affective", "Compassionate", "about 28 words", "more than 97 words"):
        assert part in p
    v = generation_prompt("SITUATION-X", "TURN-Y", "vanilla")
    assert EMPATHY_DEFINITION not in v and "Cognitive" not in v and "SITUATION-X" in v
    assert "97 words" in v
    with pytest.raises(ValueError, match="unknown prompt variant"):
        generation_prompt("a", "b", "friendly")


def test_judge_prompt_mirrors_the_rater_screen_and_is_blind() -> None:
    p = judge_prompt("lonely", "SIT", "TURN", "REPLY")
    assert JUDGE_PROMPT_VERSION in p and RATER_QUESTION in p
    assert "Emotion of the speaker: lonely" in p
    # The reply sits alone between two marker lines that name a boundary it does not hold.
    lines = p.splitlines()
    at = lines.index("REPLY")
    assert lines[at - 2] == "Speaker #2:"
    assert lines[at - 1].startswith("<<<BEGIN RESPONSE-") and lines[at + 1].startswith("<<<END ")
    assert lines[at - 1][len("<<<BEGIN ") :] == lines[at + 1][len("<<<END ") :]
    assert p.rstrip().endswith("RATING: <Good, Okay or Bad>")
    for leak in ("human", "GPT", "model", "chatgpt", "LLM"):
        assert leak not in p


def test_versions_are_set() -> None:
    assert GENERATION_PROMPT_VERSION and JUDGE_PROMPT_VERSION


def test_filters(study: pd.DataFrame) -> None:
    assert len(emotions()) == 32
    sad = select_prompts(study, emotions="sad,lonely")
    assert set(sad["emotion"]) == {"sad", "lonely"} and len(sad) == 61 + 57
    assert len(select_prompts(study, emotions=["sad"])) == 61
    assert len(select_prompts(study, valence="positive")) == 881
    assert len(select_prompts(study, valence="negative")) == 1119
    assert len(select_prompts(study, valence="all")) == 2000
    with pytest.raises(ValueError, match="unknown emotion.*melancholy"):
        select_prompts(study, emotions="sad,melancholy")
    with pytest.raises(ValueError, match="valence"):
        select_prompts(study, valence="neutral")


def test_stratified_sample(study: pd.DataFrame) -> None:
    s = select_prompts(study, sample=320, seed=1)
    assert len(s) == 320 and s["emotion"].value_counts().eq(10).all()
    again = select_prompts(study, sample=320, seed=1)
    assert s["dialog_id"].tolist() == again["dialog_id"].tolist()
    other = select_prompts(study, sample=320, seed=2)
    assert s["dialog_id"].tolist() != other["dialog_id"].tolist()
    # A remainder goes to some emotions, one prompt each.
    odd = select_prompts(study, sample=100, seed=3)
    assert len(odd) == 100 and set(odd["emotion"].value_counts()) <= {3, 4}
    # More than an emotion has: its shortfall goes to the others.
    big = select_prompts(study, sample=1950, seed=3)
    assert len(big) == 1950 and big["dialog_id"].is_unique
    assert len(select_prompts(study, sample=5000)) == 2000
    with pytest.raises(ValueError):
        select_prompts(study, sample=0)


@pytest.mark.dataset_download
def test_prompt_set_views() -> None:
    frame = prompt_set(sample=64, seed=0)
    assert len(frame) == 64
    ds = hf_dataset(frame)
    assert ds.num_rows == 64 and "dialog_id" in ds.column_names and "input" in ds.column_names
    samples = inspect_dataset(frame)
    first = samples[0]
    assert first.id == frame["dialog_id"].iloc[0]
    assert first.input[0].metadata == {"dialog_id": first.id}
    assert set(first.metadata) >= {
        "emotion",
        "sentiment",
        "plutchik",
        "part_no",
        "situation",
        "speaker_turn",
        "human_reply",
    }
