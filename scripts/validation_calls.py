"""Measure how many judge calls the judge validation task costs, fresh and with a cached baseline.

Usage: python scripts/validation_calls.py [--sample N] [--count-prompts] [--out FILE.json]

Offline, with the mock judge (``empathy/mock-judge``, whose ``calls_file`` gets one line per call
it actually answers; a cache hit never reaches it), in a fresh Inspect cache each time:

1. a fresh judge: ``empathy_judge_validation`` alone;
2. a judge whose human baseline is cached: ``empathy_task --model empathy/human`` first (the judge
   rates the 2,000 human replies), then ``empathy_judge_validation``; only the validation run's
   calls are counted.

The validation task covers every stored source whose replies are here: 12,000 replies with the
second study file (``EMPATHY_TASK_MODELS_DATA``), 6,000 without it.

``--count-prompts`` adds what the cache predicts without running anything: the distinct judge
prompts of the validation task (what a fresh judge pays) and those not among the 2,000 human
replies' prompts (what a judge whose human baseline is cached pays). A run with ``--sample``
checks the prediction against the calls the mock judge answered on that sample (the full runs,
about 25 minutes for 12,000 replies on two cores, agree with it to the call).

Prints one JSON object (and writes it with ``--out``). The README's "Is the judge good enough?"
quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INSPECT = str(Path(sys.executable).with_name("inspect"))
REPO = Path(__file__).resolve().parent.parent


def _calls(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def _eval(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([INSPECT, "eval", *args, "--display", "none"], env=env, check=True, cwd=REPO)
    return time.perf_counter() - start


def _sources() -> tuple[str, ...]:
    from empathy_task.data.study import load_study, study_sources

    return study_sources(load_study())


def count_prompts(sample: int | None = None, seed: int = 42) -> dict[str, object]:
    """Distinct judge prompts of the validation task, and those a cached human baseline saves."""
    from empathy_task.task.judge_validation import validation_samples

    sources = _sources()
    samples = validation_samples(None, sources, sample, seed)
    prompts = {str(s.input) for s in samples}
    human = {str(s.input) for s in validation_samples(None, ("human",), None, seed)}
    return {
        "sources": list(sources),
        "replies": len(samples),
        "distinct_judge_prompts": len(prompts),
        "not_among_the_human_replies": len(prompts - human),
    }


def measure(sample: int | None) -> dict[str, object]:
    sources = _sources()
    sample_args = ["-T", f"sample={sample}"] if sample else []
    # The empathy_task run judges the human replies of the prompts the validation sample draws
    # for the human source: its share of the sample, with the same seed (42).
    task_sample = ["-T", f"sample={sample // len(sources)}"] if sample else []
    result: dict[str, object] = {"sample": sample or 2000 * len(sources), "sources": list(sources)}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for case in ("fresh", "human_baseline_cached"):
            env = {
                **os.environ,
                "INSPECT_CACHE_DIR": str(base / case / "cache"),
                "INSPECT_LOG_DIR": str(base / case / "logs"),
            }
            before = base / f"{case}.task-calls"
            calls = base / f"{case}.validation-calls"
            seconds = {}
            if case == "human_baseline_cached":
                role = f"grader={{model: empathy/mock-judge, model_args: {{calls_file: {before}}}}}"
                seconds["empathy_task"] = _eval(
                    ["empathy_task/empathy_task", "--model", "empathy/human", "--model-role",
                     role, *task_sample],
                    env,
                )  # fmt: skip
            seconds["validation"] = _eval(
                ["empathy_task/empathy_judge_validation", "--model", "empathy/mock-judge",
                 "-M", f"calls_file={calls}", *sample_args],
                env,
            )  # fmt: skip
            result[case] = {
                "empathy_task_judge_calls": _calls(before),
                "validation_judge_calls": _calls(calls),
                "seconds": {k: round(v, 1) for k, v in seconds.items()},
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sample", type=int, default=None, help="replies (default all: 12,000 with six sources)"
    )
    parser.add_argument(
        "--count-prompts",
        action="store_true",
        help="also count the distinct judge prompts of the full validation task (no run)",
    )
    parser.add_argument(
        "--no-run", action="store_true", help="only count prompts (with --count-prompts)"
    )
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    result = {} if args.no_run else measure(args.sample)
    if args.count_prompts:
        result["predicted"] = count_prompts()
        if args.sample:
            result["predicted_for_sample"] = count_prompts(args.sample)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
