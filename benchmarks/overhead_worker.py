"""One timed Inspect run, in its own process: the empathy task, or a bare task with the same calls.

Run by ``benchmarks/run.py`` (never by pytest)::

    python benchmarks/overhead_worker.py {task,bare} --logs DIR --out result.json
        [--spec judge_prompts.json] [--model empathy/chatgpt_empathy] [--calls FILE] [--limit N]

A fresh process per run keeps both sides equal: each pays its own imports' warm-up and reads the
CSV once, from the cold ``INSPECT_CACHE_DIR`` that ``run.py`` sets. The clock covers what a user
waits for once Python has started and imported Inspect: building the task (loading and selecting
the prompts) and ``eval()`` up to the written log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

GRADER = "empathy/mock-judge"


def bare_task(spec_file: Path, limit: int | None) -> Any:
    """Inspect with nothing of the package: prebuilt prompts, one generation, the same judge calls.

    ``run.py`` renders the prompts beforehand into ``spec_file``; the scorer only joins the reply
    to the judge prompt's two halves, makes the same two cached judge calls and returns a constant.
    """
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import CachePolicy, ChatMessageUser, get_model
    from inspect_ai.scorer import Score, Target, mean, scorer
    from inspect_ai.solver import TaskState, generate

    specs = json.loads(spec_file.read_text(encoding="utf-8"))
    if limit:
        specs = specs[:limit]
    samples = [
        Sample(
            id=s["id"],
            # The replay models find the stored reply by the dialog id in the message metadata.
            input=[ChatMessageUser(content=s["input"], metadata={"dialog_id": s["id"]})],
            metadata={k: s[k] for k in ("judge_prefix", "judge_suffix", "human_judge")},
        )
        for s in specs
    ]
    policy = CachePolicy(expiry=None)  # as the task's judge cache

    @scorer(metrics=[mean()])
    def trivial():
        async def score(state: TaskState, target: Target) -> Score:
            grader = get_model(role="grader", required=True)
            md = state.metadata
            prompt = md["judge_prefix"] + state.output.completion.strip() + md["judge_suffix"]
            await asyncio.gather(
                grader.generate([ChatMessageUser(content=prompt)], cache=policy),
                grader.generate([ChatMessageUser(content=md["human_judge"])], cache=policy),
            )
            return Score(value=1.0)

        return score

    return Task(dataset=MemoryDataset(samples, name="bare"), solver=generate(), scorer=trivial())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["task", "bare"])
    ap.add_argument("--logs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--spec", help="judge prompts for the bare task (JSON)")
    ap.add_argument("--model", default="empathy/chatgpt_empathy")
    ap.add_argument("--calls", help="the mock judge appends a line per call it answers here")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--profile", help="write a cProfile dump here")
    args = ap.parse_args()
    if not os.environ.get("INSPECT_CACHE_DIR"):
        raise SystemExit("overhead_worker: run.py sets a fresh INSPECT_CACHE_DIR")

    import inspect_ai  # imported before the clock starts, on both sides
    from inspect_ai.model import get_model

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    if args.kind == "task":
        # By name, so that Inspect sets the grader role before it builds the task (the task
        # creates its judge first, and without the role that is the default OpenAI judge).
        task = "empathy_task/empathy_task"
    else:
        task = bare_task(Path(args.spec), None)
    grader = get_model(GRADER, calls_file=args.calls) if args.calls else GRADER
    [log] = inspect_ai.eval(
        task,
        model=args.model,
        model_roles={"grader": grader},
        display="none",
        log_dir=args.logs,
        limit=args.limit,
    )
    seconds = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    usage = log.stats.role_usage.get("grader")
    result = {
        "kind": args.kind,
        "status": log.status,
        "seconds": seconds,
        "samples": len(log.samples or []),
        "grader_input_tokens": usage.input_tokens if usage else None,
        "grader_output_tokens": usage.output_tokens if usage else None,
        "location": log.location,
    }
    Path(args.out).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
