"""The functions the empathy_task YAML files name: the docs, the prompt, the judge-free metrics.

Everything of substance comes from the installed ``empathy_task`` package, so that lm-eval and
Inspect run the same prompts on the same data: this module only adapts it to lm-eval's calls.
"""

from __future__ import annotations

from typing import Any

# Columns a doc keeps. The dialog id and labels let ``--log_samples`` output be joined back to the
# study (``empathy-task judge`` reads them); the situation and Speaker #1's turn render the prompt.
# The human reply stays out: the model never sees it, and the judge reloads it from the CSV.
DOC_COLUMNS: tuple[str, ...] = (
    "dialog_id",
    "emotion",
    "sentiment",
    "plutchik",
    "part_no",
    "situation",
    "speaker_turn",
)

# Selection keys load_dataset understands. lm-eval calls it with the task's ``metadata`` (plus
# ``--metadata`` and the model args) and its ``dataset_kwargs``, so everything else is ignored.
_SELECTION_KEYS: tuple[str, ...] = ("data", "prompt", "valence", "emotions", "sample", "seed")


def load_dataset(**kwargs: Any) -> dict[str, Any]:
    """The selected study prompts as ``{"test": datasets.Dataset}``, one doc per dialog.

    Keys (from ``dataset_kwargs`` in the YAML, or ``--metadata '{"sample": 320}'``):
    ``prompt`` (``empathy`` or ``vanilla``), ``valence``, ``emotions``, ``sample`` (an
    emotion-stratified subsample), ``seed`` and ``data`` (path of the authors' CSV; default
    ``EMPATHY_TASK_DATA``, the user cache, or the pinned download).
    """
    from empathy_task.task.dataset import hf_dataset, prompt_set

    options = {k: kwargs[k] for k in _SELECTION_KEYS if kwargs.get(k) is not None}
    variant = str(options.pop("prompt", "empathy"))
    valence = options.pop("valence", None)
    sample = options.pop("sample", None)
    frame = prompt_set(
        options.pop("data", None),
        emotions=options.pop("emotions", None),
        valence=None if valence in (None, "all") else str(valence),
        sample=int(sample) if sample is not None else None,
        seed=int(options.pop("seed", 42)),
        prompt=variant,
    )
    docs = frame[list(DOC_COLUMNS)].copy()
    docs["part_no"] = docs["part_no"].astype(int)
    # Recorded in every doc so that a samples file says which prompt its replies answer.
    docs["prompt_variant"] = variant
    return {"test": hf_dataset(docs)}


def doc_to_text(doc: dict[str, Any]) -> str:
    """The generation prompt, rendered by the Inspect task's own function."""
    from empathy_task.task.prompts import generation_prompt

    return generation_prompt(doc["situation"], doc["speaker_turn"], doc["prompt_variant"])


def reply_words(reply: str) -> int:
    """Words in a reply, counted as whitespace-separated tokens."""
    return len(reply.split())


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, int]:
    """Length metrics of one reply; the empathy rating is the post-hoc judge's job.

    ``within_length_limit`` is 1 for a non-empty reply of at most the study's maximum length
    (97 words, the longest human reply): an empty reply is not a reply within the limit.
    """
    from empathy_task.task.prompts import MAX_WORDS

    n = reply_words(results[0])
    return {"reply_words": n, "within_length_limit": int(0 < n <= MAX_WORDS)}
