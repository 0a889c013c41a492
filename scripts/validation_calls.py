"""Measure how many judge calls the judge validation task costs, fresh and with a cached baseline.

Usage: python scripts/validation_calls.py [--sample N] [--out FILE.json]

Offline, with the mock judge (``empathy/mock-judge``, whose ``calls_file`` gets one line per call
it actually answers; a cache hit never reaches it), in a fresh Inspect cache each time:

1. a fresh judge: ``empathy_judge_validation`` alone;
2. a judge whose human baseline is cached: ``empathy_task --model empathy/human`` first (the judge
   rates the 2,000 human replies), then ``empathy_judge_validation``; only the validation run's
   calls are counted.

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


def measure(sample: int | None) -> dict[str, object]:
    sample_args = ["-T", f"sample={sample}"] if sample else []
    task_sample = ["-T", f"sample={sample // 3}"] if sample else []
    result: dict[str, object] = {"sample": sample or 6000}
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
    parser.add_argument("--sample", type=int, default=None, help="replies (default all 6,000)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    result = measure(args.sample)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
