"""The ``empathy_task`` Inspect task: the study's 2,000 prompts, a reply, a judge."""

from __future__ import annotations

import logging
from typing import Any

from inspect_ai import Task, task
from inspect_ai.model import GenerateConfig, Model, get_model, model_roles
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver

from empathy_task.resources import data_pin, registry
from empathy_task.task.judges import JudgeSlot, judge_slots, self_preference_warnings
from empathy_task.task.metrics import JUDGE_METRICS, MIN_PARSE_RATE, parse_rate_floor
from empathy_task.task.prerequisite import PrerequisiteError, says_why
from empathy_task.task.prompts import prompt_versions
from empathy_task.task.scorer import DEFAULT_GRADER, GraderError, empathy_judge, grader_model

__all__ = ["DEFAULT_GRADER", "empathy_task", "judge_ready"]
logger = logging.getLogger(__name__)
# lm-eval's settings too (plugins/lm_eval): greedy, at most 512 new tokens, so both frameworks
# decode alike. README, "Generation settings", says which a user may change.
GENERATION_CONFIG = GenerateConfig(temperature=0, max_tokens=512)


@task
@says_why
def empathy_task(
    prompt: str = "empathy",
    emotions: str | list[str] | None = None,
    valence: str = "all",
    sample: int | None = None,
    seed: int = 42,
    judge_human: bool = True,
    judge_cache: bool = True,
    judge_logprobs: bool = False,
    data: str | None = None,
    export: str | None = None,
    calibration: str | None = None,
    judges: str | list[str] | None = None,
    min_parse_rate: float | str = MIN_PARSE_RATE,
    prompts: str | None = None,
    models_data: str | None = None,
    **unknown: object,
) -> Task:
    """Welivita & Pu (2024): how empathetic are a model's replies, rated Bad / Okay / Good.

    The defaults reproduce the study: all 2,000 prompts, the prompt with the empathy definition,
    and a judge that also rates the human replies so that the model is compared with humans
    judge against judge. The judge is ``openai/gpt-4o-mini`` at temperature 0 unless
    ``--model-role grader=<model>`` names another.

    Args:
        prompt: ``empathy`` (the study's prompt, with the definition of empathy) or ``vanilla``.
        emotions: Only these emotions (a list, or a comma-separated string).
        valence: ``positive``, ``negative`` or ``all``.
        sample: An emotion-stratified subsample of this many prompts (320 = 10 per emotion).
        seed: Seed of the subsample.
        judge_human: Also judge the human reply to each prompt (cached across models).
        judge_cache: Cache judge calls.
        judge_logprobs: Ask the judge for log-probabilities and keep P(Bad), P(Okay), P(Good)
            per reply (providers without them rate on the label alone). Off by default, because
            it changes the judge call's cache key: a first run with it pays for its judge calls.
        data: Path of the authors' CSV (default: ``EMPATHY_TASK_DATA``, the cache, or download).
        export: Write the rating table when the run ends: a folder, or a .csv/.jsonl/.parquet file.
        calibration: The judge's calibration to the crowd (``empathy-task calibrate``): the run
            also reports ``crowd_equivalent_good_rate``. Without it every metric is on the
            judge's scale.
        judges: A panel: the model roles whose models judge (``grader,grader_2``; default:
            ``grader`` and every ``grader_<name>`` role of the run, one judge per model of a role
            bound to a list). Each is its own scorer of the log (``task/judges.py``).
        min_parse_rate: The run fails (status error, a non-zero exit) when the judge rates a
            smaller share of replies than this (default 0.95; 0 allows any): unrated replies are
            left out of the Good rate, so a share of them could move it unseen.
        prompts: A user's own prompt set instead of the study's prompts: a CSV, JSONL or
            Parquet file, a Hugging Face dataset folder (``save_to_disk``), or
            ``hf:NAME[:SPLIT][@REVISION]`` (README, "Your own prompts"). The whole set is
            validated before any model is called; its name and sha256 go into the log.
        models_data: Path of the second study file (default: ``EMPATHY_TASK_MODELS_DATA`` or the
            cache), checked against the authors' CSV when the task is built; the replay models
            ``empathy/llama_empathy`` etc. take theirs with ``-M models_data=``.
        unknown: Refused: Inspect only warns about a -T it cannot pass on, and a typo would
            then run all 2,000 prompts.
    """
    if unknown:
        raise PrerequisiteError(
            f"empathy_task: unknown task parameter(s) {', '.join(sorted(unknown))}; the "
            f"parameters are {', '.join(TASK_PARAMETERS)}."
        )
    # Imported here: Inspect imports the package's entry point on every run, for every task.
    from empathy_task.task.dataset import inspect_dataset, prompt_set
    from empathy_task.task.paths import user_path

    # Paths against the user's folder, not the task file's (the folder form changes to it).
    data = user_path(str(data)) if data else data
    calibration = user_path(str(calibration)) if calibration else calibration
    models_data = user_path(str(models_data)) if models_data else models_data
    if prompts and not str(prompts).startswith("hf:"):
        prompts = user_path(str(prompts))
    if export:
        from empathy_task.task.export_hook import check_export_target, register_export_hook

        check_export_target(str(export))
        # Registered only now, so that runs of other tasks never see (or announce) the hook.
        register_export_hook()

    from empathy_task.data.fetch import DataError

    selection = {
        "emotions": _emotions(emotions),
        "valence": str(valence).lower(),
        "sample": _optional_int(sample, "sample"),
        "seed": _int(seed, "seed"),
        "prompt": prompt,
    }
    # What the log records about its prompts: the study's data pin, or the user's set.
    data_identity: dict[str, str] = {}
    try:
        if prompts:
            frame, pset = _own_prompts(str(prompts), selection)
            data_identity = pset.identity()
            dataset_name = pset.name
        else:
            frame = prompt_set(data, models_data=models_data, **selection)
            data_identity = {"data_sha256": data_pin().sha256}
            dataset_name = "empathy_task"
    except DataError as e:
        # The data error names the command line's option; in Inspect the parameter is -T data=.
        # A PrerequisiteError: Inspect prints it as a message, not a traceback.
        raise PrerequisiteError(f"empathy_task: {_inspect_options(str(e))}") from e
    floor = _share(min_parse_rate, "min_parse_rate")
    slots = _judge_slots(judges)
    roles = _named_graders(slots)
    names = _judge_names(roles, slots)
    warnings = _self_preference(names)
    metrics = [*JUDGE_METRICS, parse_rate_floor(floor)]
    if calibration:
        from empathy_task.task.metrics import crowd_equivalent_good_rate

        judge = names[0] if len(names) == 1 else None
        metrics.append(crowd_equivalent_good_rate(_p_good(calibration, judge)))
    panel = {"judges": names} if len(slots) > 1 else {}
    if warnings:
        panel["self_preference"] = warnings
    return Task(
        dataset=inspect_dataset(frame, name=dataset_name),
        # The judge is resolved when the eval starts, not here: from Python, `eval(empathy_task(),
        # model_roles={"grader": ...})` names it only after the task is built.
        setup=judge_ready(slots),
        solver=generate(),
        # One scorer per judge: Inspect names them empathy_judge, empathy_judge1, ...
        scorer=[
            empathy_judge(
                judge_human=_bool(judge_human),
                cache=_bool(judge_cache),
                logprobs=_bool(judge_logprobs),
                role=slot.role,
                index=slot.index,
            )
            for slot in slots
        ],
        metrics=metrics,
        config=GENERATION_CONFIG,
        # Recorded in the log's model_roles when known now; the score metadata names the judge
        # of every rating (also after `inspect score`).
        model_roles=roles,
        version=registry()["version"],
        metadata={**prompt_versions(prompt), **data_identity, **panel},
    )


def _judge_slots(judges: str | list[str] | None) -> list[JudgeSlot]:
    try:
        return judge_slots(judges, model_roles())
    except ValueError as e:
        raise PrerequisiteError(f"empathy_task: {e}") from e


def _named_graders(slots: list[JudgeSlot]) -> dict[str, Model | list[Model]] | None:
    """The judges' roles to record in the log, created now when the task is built inside a run.

    ``inspect eval`` (and ``eval("empathy_task/...")``) build the task with the run's model and
    roles set: the judges are created now, so that an unusable one ends the run before anything
    else, with a non-zero exit status (a sample's error would not change Inspect's exit status).
    Built from Python before ``eval()``, no role is set yet: :func:`judge_ready` resolves them.
    A role bound to a list is recorded as the list; only ``grader`` falls back to the default.
    """
    bound_now = model_roles()
    if not any(bound_now.get(s.role) is not None for s in slots) and not _in_eval_setup():
        return None
    roles: dict[str, Model | list[Model]] = {}
    for slot in slots:
        if slot.role in roles:
            continue
        bound = bound_now.get(slot.role)
        if isinstance(bound, list):
            roles[slot.role] = bound
            continue
        try:
            roles[slot.role] = grader_model(slot.role)
        except GraderError as e:
            raise PrerequisiteError(str(e)) from e
    return roles


def _judge_names(roles: dict[str, Model | list[Model]] | None, slots: list[JudgeSlot]) -> list[str]:
    """The judges' names, when known now; two judges of one name would be one rater twice."""
    if roles is None:
        return []
    names = []
    for slot in slots:
        bound = roles.get(slot.role)
        model = bound[slot.index] if isinstance(bound, list) else bound
        names.append(str(model))
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise PrerequisiteError(
            f"empathy_task: the panel names the judge {', '.join(twice)} more than once; its "
            "ratings would be one rater's twice. Name each judge once."
        )
    return names


def _self_preference(judges: list[str]) -> list[str]:
    """Warn (in the run's output and log) about judges that share an origin with the model."""
    if not judges or not _in_eval_setup():
        return []
    warnings = self_preference_warnings(str(get_model()), judges)
    for w in warnings:
        logger.warning("empathy_task: %s", w)
    return warnings


def _own_prompts(spec: str, selection: dict[str, Any]) -> tuple[Any, Any]:
    """A user's prompt set (``-T prompts=``), validated whole, or a PrerequisiteError.

    Raised while the task is built: Inspect then prints the located error, writes no log and
    calls no model (docs/design.md, "Offline facts").
    """
    from empathy_task.data.prompt_sets import PromptSetError
    from empathy_task.task.dataset import own_prompt_set

    try:
        return own_prompt_set(spec, **selection)
    except PromptSetError as e:
        raise PrerequisiteError(f"empathy_task: -T prompts=: {e}") from e
    except ValueError as e:
        raise PrerequisiteError(f"empathy_task: -T prompts={spec}: {e}") from e


def _inspect_options(message: str) -> str:
    """A data error as Inspect's user reads it: ``-T data=`` for ``--data`` and so on."""
    from empathy_task.data.fetch import CLI_DATA_OPTION, CLI_MODELS_DATA_OPTION

    message = message.replace(CLI_DATA_OPTION, "pass its path with -T data=")
    return message.replace(CLI_MODELS_DATA_OPTION, "pass its path with -T models_data=")


def _p_good(path: str, judge: str | None) -> dict[str, list[float]]:
    """P(crowd Good | judge label) per judge, from the calibrations in ``path`` (keys checked).

    ``judge`` is the grader when the task is built inside a run (``inspect eval``): its
    calibration must be in the file. Built before the run names the grader (Python's
    ``eval(empathy_task(...), model_roles=...)``), every calibration in the file is kept and the
    metric applies the one of the judge each score names; a judge without one gets no value.
    """
    from empathy_task.analysis.crowd_equivalent import check_calibration_key, read_calibration

    try:
        calibrations = read_calibration(path)
        found = [c for c in calibrations if judge is None or c.judge == judge]
        if not found:
            raise ValueError(f"{path}: holds no calibration of the judge {judge!r}")
        for c in found:
            check_calibration_key(c, [c.judge])
    except (OSError, ValueError) as e:
        raise PrerequisiteError(f"empathy_task: -T calibration=: {e}") from e
    return {c.judge: [float(x) for x in c.fit().p_crowd_given_judge[:, -1]] for c in found}


def _in_eval_setup() -> bool:
    # Inspect sets the run's model before it builds the tasks; outside a run there is none.
    try:
        get_model()  # inspect-evals-lint: ignore[get_model_location] -- reads whether a run is set up; creates no model
    except Exception:
        return False
    return True


@solver
def judge_ready(slots: list[JudgeSlot] | None = None) -> Solver:
    """Create the judges before the sample's reply is generated.

    A judge that cannot be created (no API key, a missing provider package) then fails every
    sample before any reply is paid for, with an error that names ``--model-role grader=...``.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        for slot in slots or [JudgeSlot("grader")]:
            grader_model(slot.role, slot.index)
        return state

    return solve


def _bool(value: bool | str) -> bool:
    # -T values can arrive as strings.
    if isinstance(value, str):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    return bool(value)


TASK_PARAMETERS = (
    "prompt",
    "emotions",
    "valence",
    "sample",
    "seed",
    "judge_human",
    "judge_cache",
    "judge_logprobs",
    "data",
    "export",
    "calibration",
    "judges",
    "min_parse_rate",
    "prompts",
    "models_data",
)


def _emotions(value: str | list[str] | None) -> str | list[str] | None:
    # The study's emotion labels are lower case; -T emotions=Sad means the same emotion.
    if isinstance(value, str):
        return value.lower()
    if value is None:
        return None
    return [str(v).lower() for v in value]


def _int(value: int | str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PrerequisiteError(
            f"empathy_task: -T {name}= must be a whole number, got {value!r}."
        ) from None


def _share(value: float | str, name: str) -> float:
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = float("nan")
    if not 0 <= share <= 1:
        raise PrerequisiteError(f"empathy_task: -T {name}= must be between 0 and 1, got {value!r}.")
    return share


def _optional_int(value: int | str | None, name: str) -> int | None:
    if value is None or value == "" or value == "none":
        return None
    return _int(value, name)
