"""The ``empathy_judge_validation`` Inspect task: the model under test is a judge.

One sample per stored reply (3 stored sources x 2,000 prompts), the crowd's rating as target. The
judge is asked exactly what the ``empathy_judge`` scorer asks it: the call is built by
:func:`empathy_task.task.scorer.judge_messages` and read by
:func:`empathy_task.task.verdict.parse_rating`, at the scorer's temperature and with its cache
policy, so a judge that rated the human replies in an ``empathy_task`` run is served those 2,000
calls from Inspect's cache and pays only for the other sources.

The function here carries no ``@task`` decorator on purpose: ``inspect eval empathy_task`` from the
repo root is a folder spec, and Inspect runs every decorated task it finds in the folder. The task
is registered in ``empathy_task/_registry.py`` and run by its name,
``inspect eval empathy_task/empathy_judge_validation --model <judge>``.
"""

from __future__ import annotations

import math
from typing import Any

from inspect_ai import Task
from inspect_ai.model import GenerateConfig, ModelOutput, get_model
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, metric, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver

from empathy_task.task.metrics import parse_rate
from empathy_task.task.prerequisite import PrerequisiteError
from empathy_task.task.prompts import JUDGE_PROMPT_VERSION
from empathy_task.task.scorer import JUDGE_CACHE, NAN, judge_messages, judge_reply
from empathy_task.task.verdict import judged_text, parse_rating
from empathy_task.vocabulary import GOOD, HUMAN, RATING_LABELS, STORED_SOURCES

TASK_NAME = "empathy_judge_validation"
# The scorer's judge config (empathy_task.task.scorer.judge_config): temperature 0, nothing else,
# so that the validation call and the scorer's call share Inspect's cache key.
JUDGE_CONFIG = GenerateConfig(temperature=0)
VALIDATION_PARAMETERS = ("sources", "sample", "seed", "judge_cache", "data", "models_data")


def _values(scores: list[SampleScore], key: str) -> list[float]:
    out = []
    for s in scores:
        value = s.score.value
        if isinstance(value, dict):
            v = value.get(key)
            if isinstance(v, int | float) and not math.isnan(v):
                out.append(float(v))
    return out


def _pairs(scores: list[SampleScore]) -> tuple[list[int], list[int]]:
    judge, crowd = [], []
    for s in scores:
        value = s.score.value
        if isinstance(value, dict) and value.get("rated") == 1.0:
            judge.append(int(value["rating"]))
            crowd.append(int(value["crowd_rating"]))
    return judge, crowd


@metric
def exact_agreement() -> Metric:
    """Share of rated replies on which the judge gave the crowd's rating."""

    def compute(scores: list[SampleScore]) -> float:
        values = _values(scores, "exact")
        return sum(values) / len(values) if values else NAN

    return compute


@metric
def quadratic_kappa() -> Metric:
    """Cohen's kappa with quadratic weights, judge vs crowd, over the rated replies."""

    def compute(scores: list[SampleScore]) -> float:
        # Imported here: this module is imported on every Inspect run (the entry point).
        from empathy_task.analysis.stats import weighted_kappa

        judge, crowd = _pairs(scores)
        if not judge:
            return NAN
        return weighted_kappa(crowd, judge, weights="quadratic")

    return compute


@metric
def good_rate_by_source() -> Metric:
    """Per stored source: the judge's Good rate and the crowd's, over the replies the judge rated."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        # The Good indicators as floats: after Inspect's epoch reduction a reply's value is the
        # mean over its epochs (Good in one epoch of two counts as 0.5).
        by: dict[str, list[tuple[float, float]]] = {}
        for s in scores:
            value = s.score.value
            source = (s.sample_metadata or {}).get("source")
            if isinstance(value, dict) and value.get("rated") == 1.0 and source is not None:
                by.setdefault(str(source), []).append(
                    (float(value["good"]), float(value["crowd_good"]))
                )
        out: dict[str, float] = {}
        for source in [s for s in STORED_SOURCES if s in by]:
            pairs = by[source]
            out[f"{source}_judge"] = sum(j for j, _ in pairs) / len(pairs)
            out[f"{source}_crowd"] = sum(c for _, c in pairs) / len(pairs)
        return out

    return compute


VALIDATION_METRICS: list[Metric] = [
    parse_rate(),
    exact_agreement(),
    quadratic_kappa(),
    good_rate_by_source(),
]


@solver
def judge_stored_reply(cache: bool = True) -> Solver:
    """Ask the model under test, as the judge, about the sample's stored reply."""
    policy = JUDGE_CACHE if cache else False

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = get_model()
        # An empty config: the task's (temperature 0, or what the command line sets) applies,
        # as judge_config gives the scorer's judge.
        _, text = await judge_reply(
            model, state.metadata, state.metadata["reply"], policy, GenerateConfig()
        )
        state.output = ModelOutput.from_content(model=str(model), content=text)
        return state

    return solve


@scorer(metrics=VALIDATION_METRICS)
def judge_agreement() -> Scorer:
    """The judge's rating of a stored reply (the scorer's parser) beside the crowd's."""

    async def score(state: TaskState, target: Target) -> Score:
        md = state.metadata
        rating = parse_rating(state.output.completion, judged_text(md["reply"]))
        crowd = int(md["crowd_rating"])
        value: dict[str, float] = {
            "crowd_rating": float(crowd),
            "crowd_good": float(crowd == GOOD),
            "rated": 0.0 if rating is None else 1.0,
            "rating": NAN if rating is None else float(rating),
            "good": NAN if rating is None else float(rating == GOOD),
            "exact": NAN if rating is None else float(rating == crowd),
        }
        return Score(
            value=value,
            answer=RATING_LABELS[rating] if rating else None,
            explanation=state.output.completion,
            reason=None if rating is not None else "grader_failed",
            metadata={
                "judge": str(get_model()),
                "judge_prompt_version": JUDGE_PROMPT_VERSION,
                "source": md["source"],
                "dialog_id": md["dialog_id"],
            },
        )

    return score


def judge_validation(
    sources: str | list[str] | None = None,
    sample: int | str | None = None,
    seed: int | str = 42,
    judge_cache: bool | str = True,
    data: str | None = None,
    models_data: str | None = None,
    **unknown: object,
) -> Task:
    """Validate a judge against the crowd: it rates the stored replies the crowd rated.

    Run it with the judge as the model: ``inspect eval empathy_task/empathy_judge_validation
    --model <judge>``. The log is the input of ``empathy-task calibrate``.

    Args:
        sources: Stored sources to rate (default every stored source whose replies are here:
            all six with the second study file, else human, chatgpt, chatgpt_empathy).
        sample: A seeded sample of this many replies, split evenly over the sources and
            stratified by emotion within each (the same prompts for every source when the split
            is even).
        seed: Seed of the sample.
        judge_cache: Cache judge calls (shared with the ``empathy_judge`` scorer's).
        data: Path of the authors' CSV (default: ``EMPATHY_TASK_DATA``, the cache, or download).
        models_data: Path of the second study file, with the LLaMA-2, Gemini and Mixtral
            replies (default: ``EMPATHY_TASK_MODELS_DATA`` or the cache; without it those
            sources are left out).
        unknown: Refused, as in ``empathy_task``: a typo must not run all 12,000 replies.
    """
    # Imported here: Inspect imports the package's entry point on every run, for every task.
    from empathy_task.resources import data_pin, registry
    from empathy_task.task.empathy_task import _bool, _int, _optional_int

    if unknown:
        raise PrerequisiteError(
            f"{TASK_NAME}: unknown task parameter(s) {', '.join(sorted(unknown))}; the "
            f"parameters are {', '.join(VALIDATION_PARAMETERS)}."
        )
    from empathy_task.task.paths import user_path

    data = user_path(str(data)) if data else data
    models_data = user_path(str(models_data)) if models_data else models_data
    chosen = _available(_sources(sources), data, models_data)
    samples = validation_samples(
        data, chosen, _optional_int(sample, "sample"), _int(seed, "seed"), models_data
    )
    from inspect_ai.dataset import MemoryDataset

    return Task(
        dataset=MemoryDataset(samples, name=TASK_NAME),
        # Named here too: called directly (not through the registry) it would be "task".
        name=TASK_NAME,
        solver=judge_stored_reply(cache=_bool(judge_cache)),
        scorer=judge_agreement(),
        config=JUDGE_CONFIG,
        version=registry()["version"],
        metadata={
            "judge_prompt_version": JUDGE_PROMPT_VERSION,
            "data_sha256": data_pin().sha256,
            "sources": list(chosen),
        },
    )


def _available(
    chosen: tuple[str, ...] | None, data: str | None, models_data: str | None
) -> tuple[str, ...]:
    """The chosen sources (default: every stored source whose replies are here)."""
    from empathy_task.data.fetch import DataError
    from empathy_task.data.study import load_study, missing_sources_note, study_sources

    try:
        here = study_sources(load_study(data, models_data=models_data))
    except DataError as e:
        raise PrerequisiteError(f"{TASK_NAME}: {e}") from e
    if chosen is None:
        return here
    absent = [s for s in chosen if s not in here]
    if absent:
        raise PrerequisiteError(f"{TASK_NAME}: {missing_sources_note(tuple(absent))}")
    return chosen


def _sources(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None or value == "" or value == []:
        return None
    names = (
        [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, str)
        else [str(v).strip() for v in value]
    )
    unknown = [n for n in names if n not in STORED_SOURCES]
    if unknown or not names:
        raise PrerequisiteError(
            f"{TASK_NAME}: unknown source(s) {', '.join(unknown)}; the stored sources are "
            f"{', '.join(STORED_SOURCES)}."
        )
    return tuple(dict.fromkeys(names))


def validation_samples(
    data: str | None,
    sources: tuple[str, ...],
    sample: int | None,
    seed: int,
    models_data: str | None = None,
) -> list[Any]:
    """One Inspect sample per stored reply of ``sources`` (a seeded stratified subset if asked).

    The metadata carries what the scorer's call needs (emotion, situation, Speaker #1's turn) and
    the reply exactly as the ``empathy_judge`` scorer passes it, so the judge prompt is the same
    text.
    """
    from inspect_ai.dataset import Sample

    from empathy_task.data.selection import select_prompts
    from empathy_task.data.study import load_study

    study = load_study(data, models_data=models_data)
    if sample is not None and sample < len(sources):
        raise PrerequisiteError(
            f"{TASK_NAME}: -T sample= must be at least the number of sources ({len(sources)})."
        )
    out = []
    for i, source in enumerate(sources):
        n = None
        if sample is not None:
            share, extra = divmod(sample, len(sources))
            n = share + (1 if i < extra else 0)
        frame = select_prompts(study, sample=n, seed=seed)
        for rec in frame.to_dict("records"):
            reply = str(rec[f"reply_{source}"])
            metadata = {
                "dialog_id": rec["dialog_id"],
                "source": source,
                "emotion": rec["emotion"],
                "sentiment": rec["sentiment"],
                "plutchik": rec["plutchik"],
                "part_no": int(rec["part_no"]),
                "situation": rec["situation"],
                "speaker_turn": rec["speaker_turn"],
                # As the scorer passes them: the human reply as stored, a model's reply
                # (the replay provider's completion) stripped.
                "reply": reply if source == HUMAN else reply.strip(),
                "crowd_rating": int(rec[f"rating_{source}"]),
            }
            prompt = judge_messages(metadata, metadata["reply"])[0].text
            out.append(
                Sample(
                    id=f"{source}/{rec['dialog_id']}",
                    input=prompt,
                    target=RATING_LABELS[metadata["crowd_rating"]],
                    metadata=metadata,
                )
            )
    return out
