"""The ``empathy_task`` Inspect task: the study's 2,000 prompts, a reply, a judge."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai._util.error import PrerequisiteError
from inspect_ai.model import GenerateConfig, Model, get_model
from inspect_ai.solver import generate

from empathy_task.resources import data_pin, registry
from empathy_task.task.prompts import prompt_versions
from empathy_task.task.scorer import empathy_judge

# The judge of the study's 2026 extension, at temperature 0; `--model-role grader=...` overrides it.
DEFAULT_GRADER = "openai/gpt-4o-mini"
# lm-eval's settings too (plugins/lm_eval): greedy, at most 512 new tokens, so both frameworks
# decode alike. README, "Generation settings", says which a user may change.
GENERATION_CONFIG = GenerateConfig(temperature=0, max_tokens=512)


@task
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
        unknown: Refused: Inspect only warns about a -T it cannot pass on, and a typo would
            then run all 2,000 prompts.
    """
    if unknown:
        raise PrerequisiteError(
            f"empathy_task: unknown task parameter(s) {', '.join(sorted(unknown))}; the "
            f"parameters are {', '.join(TASK_PARAMETERS)}."
        )
    # First, so that an unusable judge fails the run before any reply is generated.
    grader = default_grader()
    # Imported here: Inspect imports the package's entry point on every run, for every task.
    from empathy_task.task.dataset import inspect_dataset, prompt_set

    frame = prompt_set(
        data,
        emotions=_emotions(emotions),
        valence=str(valence).lower(),
        sample=_optional_int(sample, "sample"),
        seed=_int(seed, "seed"),
        prompt=prompt,
    )
    metrics = None
    if calibration:
        from empathy_task.task.metrics import JUDGE_METRICS, crowd_equivalent_good_rate

        metrics = [*JUDGE_METRICS, crowd_equivalent_good_rate(_p_good(calibration, grader))]
    return Task(
        dataset=inspect_dataset(frame),
        solver=generate(),
        scorer=empathy_judge(
            judge_human=_bool(judge_human),
            cache=_bool(judge_cache),
            logprobs=_bool(judge_logprobs),
        ),
        metrics=metrics,
        config=GENERATION_CONFIG,
        # Recorded in the log's model_roles, whether defaulted or named on the command line.
        model_roles={"grader": grader},
        version=registry()["version"],
        metadata={**prompt_versions(prompt), "data_sha256": data_pin().sha256},
    )


def _p_good(path: str, grader: Model) -> list[float]:
    """P(crowd Good | judge label) from the grader's calibration in ``path`` (key checked)."""
    from empathy_task.analysis.crowd_equivalent import check_calibration_key, read_calibration

    judge = str(grader)
    try:
        found = [c for c in read_calibration(path) if c.judge == judge]
        if not found:
            raise ValueError(f"{path}: holds no calibration of the judge {judge!r}")
        check_calibration_key(found[0], [judge])
    except (OSError, ValueError) as e:
        raise PrerequisiteError(f"empathy_task: -T calibration=: {e}") from e
    return [float(x) for x in found[0].fit().p_crowd_given_judge[:, -1]]


def default_grader() -> Model:
    """The ``grader`` role if the run names one, else :data:`DEFAULT_GRADER` at temperature 0.

    Raises:
        PrerequisiteError: the judge cannot be created (no API key, a missing provider package);
            Inspect then ends the run before the first sample, with a non-zero exit status.
    """
    try:
        return get_model(
            role="grader", default=DEFAULT_GRADER, config=GenerateConfig(temperature=0)
        )
    except Exception as e:
        raise PrerequisiteError(
            f"empathy_task: the judge could not be created ({type(e).__name__}: {e}). "
            f"The default judge is {DEFAULT_GRADER} (set OPENAI_API_KEY), or name another with "
            "--model-role grader=<provider/model>."
        ) from e


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


def _optional_int(value: int | str | None, name: str) -> int | None:
    if value is None or value == "" or value == "none":
        return None
    return _int(value, name)
