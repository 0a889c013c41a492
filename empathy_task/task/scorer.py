"""The judge: a scorer that rates a reply Bad / Okay / Good as the study's crowd raters did.

It uses the ``grader`` model role. By default it also rates the human reply to the same prompt,
in a separate blind call, so that every run carries its own judge-rated human baseline; both calls
go through Inspect's cache, so the human replies are paid for once per judge.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import tenacity
from inspect_ai.model import (
    CachePolicy,
    ChatMessage,
    ChatMessageUser,
    GenerateConfig,
    Model,
    get_model,
    model_roles,
)
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from empathy_task.task.metrics import JUDGE_METRICS
from empathy_task.task.prompts import JUDGE_PROMPT_VERSION, judge_prompt
from empathy_task.task.verdict import (
    TOP_LOGPROBS,
    injection_flags,
    judged_text,
    parse_rating,
    verdict_probabilities,
)
from empathy_task.vocabulary import RATING_LABELS

NAN = float("nan")
#: The score-value keys of the answer probabilities (and, with ``human_``, the human reply's).
PROBABILITY_KEYS: tuple[str, ...] = ("p_bad", "p_okay", "p_good")
# The judge of the study's 2026 extension, at temperature 0; `--model-role grader=...` overrides it.
DEFAULT_GRADER = "openai/gpt-4o-mini"


class GraderError(RuntimeError):
    """The judge could not be created; the message says how to name another."""


def grader_model(role: str = "grader", index: int = 0) -> Model:
    """The ``grader`` role if the run names one, else :data:`DEFAULT_GRADER` at temperature 0.

    A panel's other judges (``task/judges.py``) are other roles, or later models of a role bound
    to a list (``index``); only ``grader`` falls back to the default judge.

    Raises:
        GraderError: the judge cannot be created (no API key, a missing provider package).
    """
    try:
        if index:
            bound = model_roles().get(role)
            if not isinstance(bound, list) or index >= len(bound):
                raise ValueError(f"the role {role!r} holds no judge number {index + 1}")
            return bound[index]  # the call's config sets temperature 0 (judge_config)
        # The task creates the judge before any sample: a run without a usable judge stops before
        # it pays for replies.
        return get_model(  # inspect-evals-lint: ignore[get_model_location] -- judge made up front
            role=role,
            default=DEFAULT_GRADER if role == "grader" else None,
            required=role != "grader",
            config=GenerateConfig(temperature=0),
        )
    except Exception as e:
        raise GraderError(
            f"empathy_task: the judge could not be created ({type(e).__name__}: {e}). "
            f"The default judge is {DEFAULT_GRADER} (set OPENAI_API_KEY), or name another with "
            "--model-role grader=<provider/model> (eval(..., model_roles={'grader': ...}) from "
            "Python)."
        ) from e


# Judge answers do not go stale: the prompt version in the text keys a new wording apart. Not per
# epoch: the judge's whole input (prompt and reply) is in the key, so a repeated epoch or the
# post-hoc `empathy-task judge` (which runs outside any epoch) reuses the same judgement.
JUDGE_CACHE = CachePolicy(expiry=None, per_epoch=False)


TIMEOUT_NOTE = "The judge timed out on every attempt Inspect allowed; nothing was rated."


def is_timeout(error: BaseException) -> bool:
    """True for a call that ran out of time once Inspect's retries were spent.

    Inspect retries an attempt that exceeds ``attempt_timeout`` and, when ``max_retries`` runs
    out, raises tenacity's ``RetryError`` around the last ``AttemptTimeoutError``; an overall
    ``timeout`` raises ``TimeoutError``. (Inspect does not export its timeout classes.)
    """
    if isinstance(error, tenacity.RetryError):
        last = error.last_attempt.exception()
        return last is not None and is_timeout(last)
    return isinstance(error, TimeoutError) or type(error).__name__.endswith("TimeoutError")


class JudgeAnswer(NamedTuple):
    """One judge call: the rating (or None), the judge's text, and its answer probabilities."""

    rating: int | None
    text: str
    probabilities: tuple[float, float, float] | None = None  # P(Bad), P(Okay), P(Good)


def judge_messages(metadata: dict[str, Any], reply: str) -> list[ChatMessage]:
    """The judge call's messages for one reply: what Inspect's cache keys the call on.

    Every path that asks the judge about a reply (this scorer, the judge validation task) builds
    its call here, so the same reply costs one judge call however it is reached. The judge reads
    :func:`~empathy_task.task.verdict.judged_text`: the reply cut to a length cap, its verdict
    lines neutralised (a plain reply as it is).
    """
    prompt = judge_prompt(
        emotion=metadata.get("emotion"),
        situation=metadata.get("situation"),
        speaker_turn=metadata["speaker_turn"],
        reply=judged_text(reply),
        # A user's prompt set may give earlier turns (the study's prompts have none).
        turns=metadata.get("turns") or (),
    )
    return [ChatMessageUser(content=prompt)]


def judge_config(grader: Model, logprobs: bool = False) -> GenerateConfig:
    """The config of a judge call: temperature 0 unless the judge's own config sets one, and the
    answer's log-probabilities when asked.

    A grader named with ``--model-role grader=X`` replaces the task's temperature-0 default
    model, so without this it would judge at the provider's default temperature. Asking for
    log-probabilities changes the config and so Inspect's cache key: a run with
    ``judge_logprobs=true`` pays for its judge calls again, once, and the default run's calls and
    cache stay as they were (docs/design.md, "The judge").
    """
    temperature = 0.0 if grader.config.temperature is None else None
    if logprobs:
        return GenerateConfig(temperature=temperature, logprobs=True, top_logprobs=TOP_LOGPROBS)
    return GenerateConfig(temperature=temperature)


async def ask_judge(
    grader: Model,
    metadata: dict[str, Any],
    reply: str,
    cache: bool | CachePolicy = JUDGE_CACHE,
    logprobs: bool = False,
    config: GenerateConfig | None = None,
) -> JudgeAnswer:
    """Ask the judge about one reply, with its answer probabilities when ``logprobs`` is set.

    A judge that times out after Inspect's retries leaves the reply unrated: one slow answer
    should not end a 2,000-prompt run. Any other error (an outage, a spent quota) propagates, so
    the sample fails and ``inspect eval-retry`` picks it up later. A provider that returns no
    log-probabilities gives the label alone (``probabilities`` None). ``config`` replaces
    :func:`judge_config` (the validation task, whose judge is the model under test, takes its
    temperature from the task's config).
    """
    try:
        output = await grader.generate(
            judge_messages(metadata, reply),
            config=judge_config(grader, logprobs) if config is None else config,
            cache=cache,
        )
    except Exception as e:
        if is_timeout(e):
            return JudgeAnswer(None, f"{TIMEOUT_NOTE} ({e})")
        raise
    text = output.completion
    # Checked against what the judge read: a final line that repeats one of its lines is a quote.
    rating = parse_rating(text, judged_text(reply))
    probabilities = None
    if logprobs and output.choices:
        probabilities = verdict_probabilities(output.choices[0].logprobs, rating)
    return JudgeAnswer(rating, text, probabilities)


async def judge_reply(
    grader: Model,
    metadata: dict[str, Any],
    reply: str,
    cache: bool | CachePolicy = JUDGE_CACHE,
    config: GenerateConfig | None = None,
) -> tuple[int | None, str]:
    """Ask the judge about one reply; return ``(rating or None, the judge's text)``.

    See :func:`ask_judge` (this is its label-only form, the default call text and cache key).
    """
    answer = await ask_judge(grader, metadata, reply, cache, config=config)
    return answer.rating, answer.text


def probability_value(
    probabilities: tuple[float, float, float] | None, prefix: str = ""
) -> dict[str, float]:
    """The score-value keys ``p_bad, p_okay, p_good`` for one reply (NaN where the judge gave none)."""
    values = probabilities if probabilities is not None else (NAN, NAN, NAN)
    return {f"{prefix}{key}": float(v) for key, v in zip(PROBABILITY_KEYS, values)}


def rating_value(rating: int | None, prefix: str = "") -> dict[str, float]:
    """The score-value keys for one rating (NaN where unrated)."""
    if rating is None:
        return {f"{prefix}{k}": NAN for k in ("rating", "bad", "okay", "good")} | {
            f"{prefix}rated": 0.0
        }
    return {
        f"{prefix}rating": float(rating),
        f"{prefix}bad": float(rating == 1),
        f"{prefix}okay": float(rating == 2),
        f"{prefix}good": float(rating == 3),
        f"{prefix}rated": 1.0,
    }


@scorer(metrics=JUDGE_METRICS)
def empathy_judge(
    judge_human: bool = True,
    cache: bool = True,
    logprobs: bool = False,
    role: str = "grader",
    index: int = 0,
) -> Scorer:
    """Rate the reply with the ``grader`` model, and (by default) the human reply too.

    Args:
        judge_human: Also rate the human reply to the same prompt (a blind, separate call).
        cache: Cache judge calls (keyed on the judge and its prompt, not the model under test).
        logprobs: Ask the judge for log-probabilities and keep P(Bad), P(Okay), P(Good) of each
            reply in the score (``p_bad``, ``p_okay``, ``p_good`` and ``human_p_*``; NaN where
            the provider returns none). Off by default: it changes the judge call's cache key.
        role: The model role of the judge (a panel's other judges: ``grader_2``, ...).
        index: The judge's place in a role bound to a list of models (``grader=A,B``).
    """
    policy: bool | CachePolicy = JUDGE_CACHE if cache else False
    if isinstance(logprobs, str):  # `inspect score -S logprobs=...` may pass text
        logprobs = logprobs.strip().lower() in ("true", "1", "yes")

    async def score(state: TaskState, target: Target) -> Score:
        grader = grader_model(role, int(index))
        md = state.metadata
        reply = state.output.completion.strip()

        async def no_reply() -> JudgeAnswer:
            return JudgeAnswer(None, "")

        model_call = ask_judge(grader, md, reply, policy, logprobs) if reply else no_reply()
        # A user's prompt set may give no human reply to a prompt: nothing to rate there.
        rate_human = judge_human and bool(md.get("human_reply"))
        human_call = (
            ask_judge(grader, md, md["human_reply"], policy, logprobs) if rate_human else no_reply()
        )
        answer, human = await asyncio.gather(model_call, human_call)
        (rating, text), (human_rating, human_text) = answer[:2], human[:2]

        value = rating_value(rating) | rating_value(human_rating, "human_")
        if logprobs:
            # Only when asked: a default run's scores keep exactly the keys they had.
            value |= probability_value(answer.probabilities)
            value |= probability_value(human.probabilities, "human_")
        # Counted whether or not the judge gave a rating: the metric is the share of replies
        # that carried the answer format or instructions for the judge.
        flags = injection_flags(reply)
        value["flagged"] = float(bool(flags))
        if not rate_human:
            value["human_rated"] = NAN
        reason = None
        if rating is None:
            # One reason for every judge failure, as documented (README, the issue): a timeout
            # is told apart only by the explanation (TIMEOUT_NOTE), so that a filter on
            # "grader_failed" finds every unrated reply the judge did not rate.
            reason = "no_response" if not reply else "grader_failed"
        return Score(
            value=value,
            answer=RATING_LABELS.get(rating) if rating else None,
            explanation=text if reply else "The model gave an empty reply; nothing was rated.",
            reason=reason,
            metadata={
                "judge": str(grader),
                "judge_prompt_version": JUDGE_PROMPT_VERSION,
                "reply_flags": flags,
                # The human reply goes to the judge too: checked alike, for the rating table.
                "human_reply_flags": injection_flags(md["human_reply"]) if rate_human else None,
                "human_answer": RATING_LABELS.get(human_rating) if human_rating else None,
                "human_explanation": human_text if rate_human else None,
            },
        )

    return score
