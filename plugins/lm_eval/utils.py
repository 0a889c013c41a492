"""The functions the empathy_task YAML files name: the docs, the prompt, the metrics, the judge.

Everything of substance comes from the installed ``empathy_task`` package, so that lm-eval and
Inspect run the same prompts on the same data and rate them with the same judge: this module
only adapts it to lm-eval's calls.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspect_ai.model import Model

logger = logging.getLogger(__name__)

# Columns a doc keeps. The dialog id and labels let ``--log_samples`` output be joined back to the
# study (``empathy-task judge`` reads them); the situation and Speaker #1's turn render the prompt.
# The human reply stays out: the model never sees it, and the post-hoc judge reloads it from the
# CSV. (The judged task's docs add it: its judge rates it in the harness.)
DOC_COLUMNS: tuple[str, ...] = (
    "dialog_id",
    "emotion",
    "sentiment",
    "plutchik",
    "part_no",
    "situation",
    "speaker_turn",
)

# Selection keys load_dataset takes from ``--metadata`` (lm-eval passes the task's ``metadata``,
# i.e. the YAML's, ``--metadata`` and the model args merged, as keyword arguments); every other
# metadata key is ignored.
_SELECTION_KEYS: tuple[str, ...] = (
    "data",
    "prompt",
    "valence",
    "emotions",
    "sample",
    "seed",
    "prompts",
)
# lm-eval calls ``custom_dataset(**metadata, **dataset_kwargs)``: a key in both is a TypeError
# ("multiple values for keyword argument"). So a task's YAML states what its name promises under
# these names, never as ``prompt``/``valence``, and ``--metadata`` may repeat it, not contradict it.
_FIXED_KEYS: dict[str, str] = {"fixed_prompt": "prompt", "fixed_valence": "valence"}


class TaskOptionError(ValueError):
    """A ``--metadata`` value this task cannot run with."""


def _task_name(kwargs: dict[str, Any]) -> str:
    # lm-eval records the YAML a task came from in its metadata; our files are named after tasks.
    source = kwargs.get("config_source")
    return Path(str(source)).stem if source and source != "inline" else "this task"


def _selection(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The prompt selection: the task's fixed values, else ``--metadata``'s, else the defaults."""
    options = {k: kwargs[k] for k in _SELECTION_KEYS if kwargs.get(k) is not None}
    for fixed_key, key in _FIXED_KEYS.items():
        fixed = kwargs.get(fixed_key)
        if fixed is None:
            continue
        given = options.get(key)
        if given is not None and str(given).lower() != str(fixed):
            raise TaskOptionError(
                f"{_task_name(kwargs)}: --metadata {key}={given!r} contradicts the task, whose "
                f"{key} is {fixed!r}. --metadata applies to every task of the run; pick the task "
                f"for that {key} instead (empathy_task takes any {key} from --metadata)."
            )
        options[key] = fixed
    if "valence" in options:
        options["valence"] = str(options["valence"]).lower()
    for key in ("sample", "seed"):
        if key in options:
            try:
                options[key] = int(options[key])
            except (TypeError, ValueError):
                raise TaskOptionError(
                    f"{_task_name(kwargs)}: --metadata {key} must be a whole number, got "
                    f"{options[key]!r}."
                ) from None
    return options


def load_dataset(**kwargs: Any) -> dict[str, Any]:
    """The selected study prompts as ``{"test": datasets.Dataset}``, one doc per dialog.

    Keys, from ``--metadata '{"sample": 320}'``: ``prompt`` (``empathy`` or ``vanilla``),
    ``valence`` (``positive``, ``negative`` or ``all``), ``emotions``, ``sample`` (an
    emotion-stratified subsample), ``seed``, ``data`` (path of the authors' CSV; default
    ``EMPATHY_TASK_DATA``, the user cache, or the pinned download) and, for the judged task,
    ``judge`` (an Inspect model name). From the YAML's ``dataset_kwargs``: ``fixed_prompt`` and
    ``fixed_valence`` (what the task's name promises) and ``judged``.

    Raises:
        TaskOptionError: ``--metadata`` contradicts the task, or the judge cannot be created.
    """
    from empathy_task.task.dataset import hf_dataset, prompt_set

    options = _selection(kwargs)
    variant = str(options.pop("prompt", "empathy"))
    valence = options.pop("valence", None)
    sample = options.pop("sample", None)
    judged = bool(kwargs.get("judged", False))
    # The judge first: a run that cannot be judged should fail before any reply is generated.
    judge = str(kwargs.get("judge") or default_judge_name()) if judged else None
    if judge is not None:
        grader(judge)
    selection = {
        "emotions": options.pop("emotions", None),
        "valence": None if valence in (None, "all") else str(valence),
        "sample": sample,
        "seed": options.pop("seed", 42),
        "prompt": variant,
    }
    own = options.pop("prompts", None)
    if own is not None:
        # A user's own prompt set (README, "Your own prompts"), validated whole before any doc
        # exists; each doc carries its earlier turns and the set's name and sha256.
        from empathy_task.data.prompt_sets import PromptSetError
        from empathy_task.task.dataset import own_prompt_set

        try:
            frame, _ = own_prompt_set(str(own), **selection)
        except (PromptSetError, ValueError) as e:
            raise TaskOptionError(f"{_task_name(kwargs)}: --metadata prompts: {e}") from None
        extra = ["turns", "prompt_set", "prompt_set_sha256"]
    else:
        frame = prompt_set(options.pop("data", None), **selection)
        extra = []
    columns = [*DOC_COLUMNS, *extra, *(["human_reply"] if judged else [])]
    docs = frame[columns].copy()
    if own is not None:
        docs["turns"] = [list(t) for t in docs["turns"]]
    docs["part_no"] = docs["part_no"].astype(int)
    # Recorded in every doc so that a samples file says which prompt its replies answer.
    docs["prompt_variant"] = variant
    if judge is not None:
        # ...and which judge rated them; process_results reads it from here.
        docs["judge"] = judge
    return {"test": hf_dataset(docs)}


def doc_to_text(doc: dict[str, Any]) -> str:
    """The generation prompt, rendered by the Inspect task's own function."""
    from empathy_task.task.prompts import generation_prompt

    return generation_prompt(
        doc["situation"], doc["speaker_turn"], doc["prompt_variant"], doc.get("turns") or ()
    )


def reply_words(reply: str) -> int:
    """Words in a reply, counted as whitespace-separated tokens."""
    return len(reply.split())


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, int]:
    """Length metrics of one reply; the empathy rating is the judge's job.

    ``within_length_limit`` is 1 for a non-empty reply of at most the study's maximum length
    (97 words, the longest human reply): an empty reply is not a reply within the limit.
    """
    from empathy_task.task.prompts import MAX_WORDS

    n = reply_words(results[0])
    return {"reply_words": n, "within_length_limit": int(0 < n <= MAX_WORDS)}


# ---------------------------------------------------------------------------------------------
# The judged task (empathy_task_judged): the Inspect task's judge, inside the harness.

NAN = float("nan")
# Ratings made in this process, by (judge, dialog id, reply): the filter rates a task's replies
# all at once and process_results, called per doc, reads them here. Inspect's cache keeps them
# across runs.
_RATINGS: dict[tuple[str, str, str], int | None] = {}


def default_judge_name() -> str:
    """The Inspect task's default judge (``openai/gpt-4o-mini``)."""
    from empathy_task.task.empathy_task import DEFAULT_GRADER

    return DEFAULT_GRADER


def grader(name: str) -> Model:
    """The judge as an Inspect model, at temperature 0 as the Inspect task's default judge.

    Inspect memoizes the model, so every call with a name gives the same one.

    Raises:
        TaskOptionError: the model cannot be created (no API key, a missing provider package).
    """
    from inspect_ai.model import GenerateConfig, get_model

    try:
        # Inspect may print a banner on stdout when it first makes a model: stdout is lm-eval's
        # results table.
        with contextlib.redirect_stdout(sys.stderr):
            return get_model(name, config=GenerateConfig(temperature=0))
    except Exception as e:
        raise TaskOptionError(
            f"empathy_task_judged: the judge {name!r} could not be created "
            f"({type(e).__name__}: {_plain(str(e))}). The default judge is "
            f"{default_judge_name()} (set OPENAI_API_KEY and install openai), or name an Inspect "
            'model with --metadata \'{"judge": "<provider/model>"}\'.'
        ) from e


def _plain(message: str) -> str:
    """A message without the console markup Inspect's errors carry (``[bold]...``)."""
    from rich.errors import MarkupError
    from rich.text import Text

    try:
        message = Text.from_markup(message).plain
    except MarkupError:  # brackets that only look like markup
        pass
    return " ".join(message.split())


def _jobs(docs: Sequence[dict[str, Any]], replies: Sequence[str]) -> list[tuple[str, str, str]]:
    """(judge, dialog id, text) of each reply and human reply not rated yet in this process."""
    todo: dict[tuple[str, str, str], None] = {}
    for doc, reply in zip(docs, replies, strict=True):
        # A user's prompt set may give no human reply to a prompt: nothing to rate there.
        human = doc.get("human_reply")
        for text in (reply.strip(), "" if human is None else str(human).strip()):
            key = (str(doc["judge"]), str(doc["dialog_id"]), text)
            # An empty reply is not asked about: unrated, as the Inspect scorer leaves it.
            if text and key not in _RATINGS:
                todo[key] = None
    return list(todo)


def _judge(docs: Sequence[dict[str, Any]], replies: Sequence[str]) -> None:
    """Rate the replies and the human replies of ``docs`` into ``_RATINGS``.

    Through the post-hoc judge's own loop (:mod:`empathy_task.ratings.posthoc`): the Inspect scorer's
    judge prompt and parser, Inspect's cache keyed as in an Inspect run, as many calls at once
    as the judge's provider allows, and at a failure the calls in flight finish into the cache.
    """
    import asyncio

    import pandas as pd

    from empathy_task.ratings.posthoc import _Job, _judge_jobs, _progress

    todo = _jobs(docs, replies)
    if not todo:
        return
    by_doc = {str(d["dialog_id"]): d for d in docs}
    prompts = pd.DataFrame.from_dict(
        {
            i: {k: by_doc[i].get(k) for k in ("emotion", "situation", "speaker_turn", "turns")}
            for i in dict.fromkeys(i for _, i, _ in todo)
        },
        orient="index",
    )
    for name in dict.fromkeys(j for j, _, _ in todo):
        model = grader(name)
        jobs = [_Job(i, "", text) for j, i, text in todo if j == name]
        workers = model.config.max_connections or model.api.max_connections()
        logger.info("judging %d replies with %s", len(jobs), name)
        with _progress(len(jobs), name, enabled=len(jobs) > 1) as advance:
            ratings = asyncio.run(_judge_jobs(model, jobs, prompts, workers, advance))
        for job, rating in ratings.items():
            _RATINGS[(name, job.dialog_id, job.reply)] = rating


# Replies the filter passed on, judged at the first process_results call (all at once): under
# --predict_only lm-eval applies the filters but never calls process_results, so nothing is judged.
_PENDING: list[tuple[list[dict[str, Any]], list[str]]] = []


def judge_filter(replies: Iterable[str], docs: Sequence[dict[str, Any]]) -> list[str]:
    """lm-eval filter: queue every reply of the task for the judge; the replies pass unchanged.

    lm-eval calls ``process_results`` once per doc, one after the other; the first call rates
    every queued reply at once, so the judge's calls run concurrently. What a samples file logs as
    the filtered reply stays the reply, so ``empathy-task judge`` can rate it again with another
    judge.
    """
    replies = ["" if r is None else str(r) for r in replies]
    _PENDING.append((list(docs), replies))
    return replies


def _judge_pending() -> None:
    while _PENDING:
        docs, replies = _PENDING.pop(0)
        _judge(docs, replies)


def _rating(doc: dict[str, Any], text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    key = (str(doc["judge"]), str(doc["dialog_id"]), text)
    if key not in _RATINGS:
        _judge_pending()
    if key not in _RATINGS:
        # Not queued by the filter (process_results called on its own): rate it now.
        _judge([doc], [text])
    return _RATINGS[key]


def process_results_judged(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """The length metrics and the judge's ratings of one reply and of the human reply.

    Per sample: ``good_rate`` (1 Good, 0 Okay or Bad) and ``mean_rating`` (1-3) when the judge
    rated the reply, ``human_good_rate`` when it rated the human reply: an unrated reply (empty,
    or an unparsable answer) gives no value, so lm-eval's ``mean`` and its standard error are
    over the rated replies, as the Inspect metrics are. ``parse_rate`` is 1 when the reply was
    rated; ``relative_increase_good`` carries both Good indicators (null when unrated) for
    :func:`relative_increase_good`.
    """
    rating = _rating(doc, results[0])
    human = _rating(doc, str(doc.get("human_reply") or ""))
    out: dict[str, Any] = process_results(doc, results)
    if rating is not None:
        out["good_rate"] = int(rating == 3)
        out["mean_rating"] = rating
    if human is not None:
        out["human_good_rate"] = int(human == 3)
    out["relative_increase_good"] = [None if r is None else int(r == 3) for r in (rating, human)]
    # The same pair, for relative_increase_good_stderr: lm-eval bootstraps only its own metrics
    # and reports a result "<metric>_stderr" as <metric>'s standard error. After the metric, so
    # that it replaces lm-eval's "N/A" for it.
    out["relative_increase_good_stderr"] = out["relative_increase_good"]
    out["parse_rate"] = int(rating is not None)
    return out


def _mean(values: Iterable[int | None]) -> float:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else NAN


def relative_increase_good(items: Sequence[Sequence[int | None]]) -> float:
    """lm-eval aggregation: ``(Good rate - human Good rate) / human Good rate``, in percent.

    Each rate over the rated replies of the run's prompts, judge against judge, as the Inspect
    metric ``relative_increase_good``; NaN when either rate is undefined or the human rate is 0.
    """
    model = _mean(m for m, _ in items)
    human = _mean(h for _, h in items)
    if math.isnan(model) or math.isnan(human) or human == 0:
        return NAN
    return (model - human) / human * 100.0


# The prompt bootstrap of relative_increase_good_stderr: fixed, so a run's table is reproducible.
STDERR_RESAMPLES = 2000
STDERR_SEED = 0


def relative_increase_good_stderr(items: Sequence[Sequence[int | None]]) -> float:
    """lm-eval aggregation: the standard error of :func:`relative_increase_good`, in points.

    A bootstrap over the prompts (each resample draws prompts, keeping a reply's and its human
    reply's ratings together, since the two share the prompt), :data:`STDERR_RESAMPLES` draws,
    seed :data:`STDERR_SEED`: the standard deviation of the resampled relative increases, over
    the draws where it is defined. NaN for fewer than two prompts or no defined draw.
    """
    import numpy as np

    pairs = np.array(
        [[np.nan if v is None else float(v) for v in pair] for pair in items], dtype=float
    ).reshape(-1, 2)
    if len(pairs) < 2:
        return NAN
    rng = np.random.default_rng(STDERR_SEED)
    draws = pairs[rng.integers(0, len(pairs), size=(STDERR_RESAMPLES, len(pairs)))]
    with np.errstate(invalid="ignore", divide="ignore"):
        model = np.nanmean(draws[:, :, 0], axis=1)
        human = np.nanmean(draws[:, :, 1], axis=1)
        rel = (model - human) / human * 100.0
    rel = rel[np.isfinite(rel)]
    return float(np.std(rel, ddof=1)) if len(rel) > 1 else NAN
