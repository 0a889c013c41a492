"""The judge: a scorer that rates a reply Bad / Okay / Good as the study's crowd raters did.

It uses the ``grader`` model role. By default it also rates the human reply to the same prompt,
in a separate blind call, so that every run carries its own judge-rated human baseline; both calls
go through Inspect's cache, so the human replies are paid for once per judge.
"""

from __future__ import annotations

import asyncio
from typing import Any

import tenacity
from inspect_ai.model import CachePolicy, ChatMessageUser, Model, get_model
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import TaskState

from empathy_task.task.metrics import JUDGE_METRICS
from empathy_task.task.prompts import JUDGE_PROMPT_VERSION, judge_prompt
from empathy_task.task.verdict import injection_flags, parse_rating
from empathy_task.vocabulary import RATING_LABELS

NAN = float("nan")
# Judge answers do not go stale: the prompt version in the text keys a new wording apart.
JUDGE_CACHE = CachePolicy(expiry=None)


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


async def judge_reply(
    grader: Model, metadata: dict[str, Any], reply: str, cache: bool | CachePolicy = JUDGE_CACHE
) -> tuple[int | None, str]:
    """Ask the judge about one reply; return ``(rating or None, the judge's text)``.

    A judge that times out after Inspect's retries leaves the reply unrated: one slow answer
    should not end a 2,000-prompt run. Any other error (an outage, a spent quota) propagates, so
    the sample fails and ``inspect eval-retry`` picks it up later.
    """
    prompt = judge_prompt(
        emotion=metadata["emotion"],
        situation=metadata["situation"],
        speaker_turn=metadata["speaker_turn"],
        reply=reply,
    )
    try:
        output = await grader.generate([ChatMessageUser(content=prompt)], cache=cache)
    except Exception as e:
        if is_timeout(e):
            return None, f"{TIMEOUT_NOTE} ({e})"
        raise
    text = output.completion
    return parse_rating(text, reply), text


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
def empathy_judge(judge_human: bool = True, cache: bool = True) -> Scorer:
    """Rate the reply with the ``grader`` model, and (by default) the human reply too.

    Args:
        judge_human: Also rate the human reply to the same prompt (a blind, separate call).
        cache: Cache judge calls (keyed on the judge and its prompt, not the model under test).
    """
    policy: bool | CachePolicy = JUDGE_CACHE if cache else False

    async def score(state: TaskState, target: Target) -> Score:
        grader = get_model(role="grader", required=True)
        md = state.metadata
        reply = state.output.completion.strip()

        async def no_reply() -> tuple[None, str]:
            return None, ""

        model_call = judge_reply(grader, md, reply, policy) if reply else no_reply()
        human_call = (
            judge_reply(grader, md, md["human_reply"], policy) if judge_human else no_reply()
        )
        (rating, text), (human_rating, human_text) = await asyncio.gather(model_call, human_call)

        value = rating_value(rating) | rating_value(human_rating, "human_")
        # Counted whether or not the judge gave a rating: the metric is the share of replies
        # that carried the answer format or instructions for the judge.
        flags = injection_flags(reply)
        value["flagged"] = float(bool(flags))
        if not judge_human:
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
                "human_reply_flags": injection_flags(md["human_reply"]) if judge_human else None,
                "human_answer": RATING_LABELS.get(human_rating) if human_rating else None,
                "human_explanation": human_text if judge_human else None,
            },
        )

    return score
