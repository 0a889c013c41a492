"""The prompt set as Inspect samples and as a Hugging Face ``datasets.Dataset``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from empathy_task.data.selection import select_prompts
from empathy_task.data.study import load_study
from empathy_task.task.prompts import generation_prompt

if TYPE_CHECKING:
    import datasets
    from inspect_ai.dataset import MemoryDataset

    from empathy_task.data.prompt_sets import PromptSet

#: Sample metadata keys; ``emotion`` and ``sentiment`` drive the grouped metrics.
METADATA_COLUMNS: tuple[str, ...] = (
    "emotion",
    "sentiment",
    "plutchik",
    "part_no",
    "situation",
    "speaker_turn",
    "human_reply",
)
#: What a user's prompt set adds to a sample's metadata.
PROMPT_SET_METADATA: tuple[str, ...] = ("turns", "prompt_set", "prompt_set_sha256")


def prompt_set(
    data: str | os.PathLike[str] | None = None,
    *,
    emotions: str | Sequence[str] | None = None,
    valence: str | None = None,
    sample: int | None = None,
    seed: int = 42,
    prompt: str = "empathy",
    models_data: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """The selected prompts as a DataFrame with the rendered generation prompt in ``input``.

    Columns: ``dialog_id``, the labels, ``situation``, ``speaker_turn``, ``human_reply`` and
    ``input``.
    """
    study = load_study(data, models_data=models_data)
    frame = select_prompts(study, emotions=emotions, valence=valence, sample=sample, seed=seed)
    out = frame[
        ["dialog_id", "emotion", "sentiment", "plutchik", "part_no", "situation", "speaker_turn"]
    ].copy()
    out["human_reply"] = frame["reply_human"]
    out["input"] = [
        generation_prompt(s, t, prompt) for s, t in zip(out["situation"], out["speaker_turn"])
    ]
    return out


def own_prompt_set(
    spec: str | os.PathLike[str],
    *,
    emotions: str | Sequence[str] | None = None,
    valence: str | None = None,
    sample: int | None = None,
    seed: int = 42,
    prompt: str = "empathy",
) -> tuple[pd.DataFrame, PromptSet]:
    """A user's prompt set (:mod:`empathy_task.data.prompt_sets`) as a :func:`prompt_set`
    frame, validated whole before anything is selected; also the set itself.

    The frame has the study frame's columns (``emotion`` / ``sentiment`` None where the set has
    none, ``human_reply`` None where it gives none) and ``turns``, ``prompt_set`` and
    ``prompt_set_sha256``.
    """
    from empathy_task.data.prompt_sets import prompt_set_of, select_from_set

    pset = prompt_set_of(spec)
    frame = select_from_set(pset, emotions=emotions, valence=valence, sample=sample, seed=seed)
    out = frame.drop(columns=["human_ratings"]).copy()
    out["input"] = [
        generation_prompt(s, t, prompt, turns)
        for s, t, turns in zip(out["situation"], out["speaker_turn"], out["turns"])
    ]
    for key, value in pset.identity().items():
        out[key] = value
    return out, pset


def hf_dataset(frame: pd.DataFrame) -> datasets.Dataset:
    """A :func:`prompt_set` frame as a Hugging Face dataset."""
    import datasets

    return datasets.Dataset.from_pandas(frame, preserve_index=False)


def inspect_dataset(frame: pd.DataFrame, name: str = "empathy_task") -> MemoryDataset:
    """A :func:`prompt_set` frame as Inspect samples (id = dialog id).

    The dialog id also rides in the user message's metadata: the ``empathy`` replay provider reads
    it there, and it is part of Inspect's cache key.
    """
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import ChatMessageUser

    samples = []
    for rec in frame.to_dict("records"):
        metadata: dict[str, Any] = {k: rec[k] for k in METADATA_COLUMNS}
        metadata["part_no"] = int(metadata["part_no"])
        # A user's prompt set: its earlier turns and its identity ride along (the judge shows
        # the turns; the export writes the identity into the rating table).
        for key in PROMPT_SET_METADATA:
            if key in rec:
                metadata[key] = list(rec[key]) if key == "turns" else rec[key]
        samples.append(
            Sample(
                id=rec["dialog_id"],
                input=[
                    ChatMessageUser(content=rec["input"], metadata={"dialog_id": rec["dialog_id"]})
                ],
                metadata=metadata,
            )
        )
    return MemoryDataset(samples, name=name)
