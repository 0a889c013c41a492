"""Post-hoc judging: replies made elsewhere (lm-eval, any table) -> the rating table.

An lm-eval user generates replies with any backend and ``--log_samples``; this module rates them
afterwards with the Inspect task's judge (:func:`empathy_task.task.scorer.judge_reply`: the same judge
prompt, parser and cache policy), through Inspect's model API, so every Inspect provider can
judge. It also rates the human replies to the same prompts, so the table carries its own
judge-rated baseline, and writes the same rating table as ``empathy-task export``.

Judge calls go through Inspect's cache: an interrupted run, re-run with the same arguments, pays
only for the calls it had not made. Under the same judge the cache is shared with Inspect runs
of ``empathy_task`` too (the policy is not per epoch), so the human replies are paid for once.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from empathy_task.ratings.table import RatingTableError, unknown_dialog, validate_rating_table
from empathy_task.vocabulary import HUMAN

if TYPE_CHECKING:
    from inspect_ai.model import Model


class JudgeRunError(RuntimeError):
    """The judge failed; what it rated before the failure is in Inspect's cache."""


@dataclass
class JudgeSummary:
    """What a judging run did, per source: rated, unparsable answers, empty replies."""

    rated: Counter[str] = field(default_factory=Counter)
    unparsable: Counter[str] = field(default_factory=Counter)
    empty: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)  # rated replies that address the judge
    judge_calls: int = 0

    def lines(self) -> list[str]:
        out = []
        n_unparsable = sum(self.unparsable.values())
        if n_unparsable:
            per = ", ".join(f"{s} {n}" for s, n in sorted(self.unparsable.items()))
            out.append(f"{n_unparsable} unparsable judge answer(s) left out of the table ({per})")
        n_empty = sum(self.empty.values())
        if n_empty:
            per = ", ".join(f"{s} {n}" for s, n in sorted(self.empty.items()))
            out.append(f"{n_empty} empty repl(ies) not rated ({per})")
        n_flagged = sum(self.flagged.values())
        if n_flagged:
            per = ", ".join(f"{s} {n}" for s, n in sorted(self.flagged.items()))
            out.append(
                f"{n_flagged} rated repl(ies) addressed the judge (answer format or instructions; "
                f"column flagged) ({per})"
            )
        return out


@dataclass(frozen=True)
class _Job:
    dialog_id: str
    source: str
    reply: str


async def _judge_jobs(
    grader: Model,
    jobs: list[_Job],
    prompts: pd.DataFrame,
    workers: int,
    on_done: Callable[[], None],
) -> dict[_Job, int | None]:
    """Rate every job; stop taking new ones at the first failure, but let calls in flight end.

    Letting in-flight calls finish means everything paid for reaches the cache.
    """
    from empathy_task.task.scorer import JUDGE_CACHE, judge_reply

    queue: asyncio.Queue[_Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    results: dict[_Job, int | None] = {}
    errors: list[BaseException] = []
    meta = prompts.to_dict("index")

    async def worker() -> None:
        while not errors:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                rating, _ = await judge_reply(grader, meta[job.dialog_id], job.reply, JUDGE_CACHE)
            except Exception as e:  # the provider's error, after Inspect's retries
                errors.append(e)
                return
            results[job] = rating
            on_done()

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    if errors:
        raise JudgeRunError(
            f"the judge failed after {len(results)} of {len(jobs)} ratings: {errors[0]}"
        ) from errors[0]
    return results


def _refuse_unknown(replies: pd.DataFrame, known: pd.Index, unknown_what: str) -> None:
    unknown = ~replies["dialog_id"].isin(known)
    if unknown.any():
        i = int(unknown.to_numpy().argmax())
        value = replies["dialog_id"].iloc[i]
        what = f"dialog id {value!r} is {unknown_what}" if unknown_what else unknown_dialog(value)
        raise RatingTableError("<replies>", what, i + 1)


def judge_replies(
    replies: pd.DataFrame,
    grader: Model,
    *,
    judge_human: bool = True,
    data: str | os.PathLike[str] | None = None,
    max_connections: int | None = None,
    progress: bool = True,
    prompts: str | os.PathLike[str] | None = None,
) -> tuple[pd.DataFrame, JudgeSummary]:
    """Rate replies (``dialog_id, source, reply``) and, by default, the human replies.

    Returns the validated rating table (``rater`` = the judge's model name, as the Inspect
    scorer records it) and a summary. Unparsable answers and empty replies give no row.
    Raises :class:`JudgeRunError` if the judge fails; a re-run resumes from the cache.
    ``prompts``: the replies answer a user's own prompt set (README, "Your own prompts"): the
    judge sees its context, and every rating carries its labels and the set's name and sha256.
    """
    from empathy_task.task.dataset import prompt_set
    from empathy_task.task.verdict import injection_flags

    labels: dict[str, Any] = {}
    if prompts is not None:
        from empathy_task.task.dataset import own_prompt_set

        frame, pset = own_prompt_set(prompts)
        by_id = frame.set_index("dialog_id")
        labels = {
            i: {
                "emotion": r["emotion"],
                "sentiment": r["sentiment"],
                "part_no": int(r["part_no"]),
                **pset.identity(),
            }
            for i, r in by_id.iterrows()
        }
        table_prompts = by_id
        unknown_what = f"not a prompt of the set {pset.name!r}"
    else:
        from empathy_task.data.study import manifest_index

        # Checked against the shipped ids first: a reply to another prompt set is named as such
        # even where the study's text (the authors' CSV) is not here.
        _refuse_unknown(replies, manifest_index(), "")
        table_prompts = prompt_set(data).set_index("dialog_id")
        unknown_what = ""
    _refuse_unknown(replies, table_prompts.index, unknown_what)
    prompts_frame = table_prompts

    summary = JudgeSummary()
    jobs: list[_Job] = []
    for rec in replies.itertuples(index=False):
        reply = str(rec.reply).strip()
        if reply:
            jobs.append(_Job(rec.dialog_id, rec.source, reply))
        else:
            summary.empty[rec.source] += 1
    if judge_human:
        for dialog_id in dict.fromkeys(replies["dialog_id"]):
            human = prompts_frame.at[dialog_id, "human_reply"]
            if human is None:  # a user's set may give no human reply to a prompt
                continue
            jobs.append(_Job(dialog_id, HUMAN, str(human).strip()))
        # A reply table may already hold the human replies: rate each once.
        jobs = list(dict.fromkeys(jobs))

    # One judge call per distinct (prompt, reply) text: two sources that gave the same reply
    # get the same judgement, as they would from the cache.
    calls = list(dict.fromkeys(_Job(j.dialog_id, "", j.reply) for j in jobs))
    workers = max_connections or grader.config.max_connections or grader.api.max_connections()
    with _progress(len(calls), str(grader), enabled=progress) as advance:
        ratings = asyncio.run(_judge_jobs(grader, calls, prompts_frame, workers, advance))
    summary.judge_calls = len(calls)

    rater = str(grader)
    rows = []
    for job in jobs:
        rating = ratings[_Job(job.dialog_id, "", job.reply)]
        if rating is None:
            summary.unparsable[job.source] += 1
            continue
        summary.rated[job.source] += 1
        # Checked as the Inspect scorer checks a reply: counted, the rating stands.
        flagged = bool(injection_flags(job.reply))
        summary.flagged[job.source] += flagged
        rows.append(
            {
                "dialog_id": job.dialog_id,
                "source": job.source,
                "rater": rater,
                "rating": rating,
                "flagged": flagged,
                **labels.get(job.dialog_id, {}),
            }
        )
    if not rows:
        raise RatingTableError(
            "<judge>", "the judge rated nothing: " + "; ".join(summary.lines() or ["no replies"])
        )
    table = validate_rating_table(pd.DataFrame(rows), "<judge ratings>")
    return table, summary


@contextmanager
def _progress(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr (rich, which Inspect already depends on)."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(f"judging with {label}", total=total)
        yield lambda: bar.advance(task)
