"""Measure the evaluation-report section of plugins/inspect_evals/README.md.

Usage:
    python scripts/inspect_evals_report.py --run [--log-dir DIR] [--grader MODEL] [--write]
    python scripts/inspect_evals_report.py LOG... [--write]

With ``--run`` it evaluates the three replayed sources of the authors' CSV (``empathy/human``,
``empathy/chatgpt``, ``empathy/chatgpt_empathy``) on all 2,000 prompts, offline, judged by
``--grader`` (default ``empathy/mock-judge``), one model after another so that the human
replies are judged once and then read from the cache. Otherwise it reads the given logs.
It prints the Markdown section; ``--write`` also puts it into the README between the
``evaluation-report`` markers. Set ``EMPATHY_TASK_DATA`` to read the CSV without a download.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from empathy_task.analysis.stats import (
    good_test,
    rating_counts,
    relative_increase,
    significance_marker,
)
from empathy_task.data.study import load_study
from empathy_task.ratings.logs import rating_table_from_logs
from empathy_task.ratings.table import study_rating_table
from empathy_task.resources import registry
from empathy_task.vocabulary import STORED_SOURCES

README = Path(__file__).resolve().parent.parent / "plugins" / "inspect_evals" / "README.md"
START, END = "<!-- evaluation-report:start -->", "<!-- evaluation-report:end -->"
MODELS = [f"empathy/{s}" for s in STORED_SOURCES]


def run_evals(log_dir: str, grader: str) -> list[str]:
    """Evaluate the replayed sources one after another; return the log locations."""
    from inspect_ai import eval as inspect_eval

    logs = inspect_eval(
        # By name: Inspect then sets the grader role before the task creates its judge.
        "empathy_task/empathy_task",
        model=MODELS,
        model_roles={"grader": grader},
        log_dir=log_dir,
        # One task at a time: parallel tasks would each pay for the human replies.
        max_tasks=1,
        # Quiet: stdout carries only the report section.
        display="none",
    )
    failed = [log.location for log in logs if log.status != "success"]
    if failed:
        sys.exit(f"evaluation failed: {', '.join(failed)}")
    return [log.location for log in logs]


def _row(name: str, counts: np.ndarray, human: np.ndarray | None) -> str:
    n, good = int(counts.sum()), int(counts[2])
    if human is None:
        return f"| {name} | {n} | {good} | {good / n:.1%} | (baseline) | |"
    test = good_test(human, counts)
    rel = relative_increase(human[2], counts[2])
    return (
        f"| {name} | {n} | {good} | {good / n:.1%} | {rel:+.1f}% | "
        f"{test.pvalue:.2g}{significance_marker(test.pvalue)} |"
    )


def _counts(table, source: str) -> np.ndarray:  # noqa: ANN001 - a rating table
    return rating_counts(table.loc[table["source"] == source, "rating"])


def _minutes(location: str) -> float:
    from inspect_ai.log import read_eval_log

    stats = read_eval_log(location, header_only=True).stats
    start = datetime.fromisoformat(stats.started_at)
    end = datetime.fromisoformat(stats.completed_at)
    return (end - start).total_seconds() / 60


def report(logs: list[str], grader: str | None = None) -> str:
    """The Markdown section: judge ratings of the logs, and the crowd's of the same sources."""
    import inspect_ai

    judged = rating_table_from_logs(logs)
    raters = sorted(judged["rater"].unique())
    judge = grader or ", ".join(raters)
    crowd = study_rating_table(load_study())
    # The replayed sources in the order they ran, then any other model.
    present = [s for s in judged["source"].unique() if s != "human"]
    sources = [m for m in MODELS if m in present] + sorted(set(present) - set(MODELS))

    lines = [
        START,
        "## Evaluation report",
        "",
        f"Measured by `scripts/inspect_evals_report.py` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d}: empathy_task {registry()['version']} "
        f"(prompts {registry()['prompt']['generation_version']} / "
        f"{registry()['prompt']['judge_version']}), inspect_ai {inspect_ai.__version__}, "
        f"Python {platform.python_version()}, all 2,000 prompts, one epoch.",
        "",
        "The run is `inspect_ai.eval()` with the same settings as:",
        "",
        "```bash",
        "inspect eval empathy_task/empathy_task \\",
        "  --model empathy/human,empathy/chatgpt,empathy/chatgpt_empathy \\",
        f"  --model-role grader={judge} --max-tasks 1",
        "```",
        "",
        "The models replay the stored replies of the authors' three response groups, so the run",
        "needs no API key. **The judge here is `empathy/mock-judge`, an offline stand-in that",
        "derives a rating from a hash of the reply: these numbers check the pipeline (every",
        "sample generated, judged, parsed and exported), not empathy.** A real judge goes in",
        "`--model-role grader=...`; its numbers belong in this table once measured.",
        "",
        f"Judge ratings ({judge}); each run also judged the human replies, and p is the paper's",
        "2x2 chi-squared test (Yates) of Good against the judge-rated human replies:",
        "",
        "| source | rated | Good | Good rate | relative increase in Good | p |",
        "|---|---:|---:|---:|---:|---|",
    ]
    human = _counts(judged, "human")
    lines.append(_row("human (judged beside each model)", human, None))
    for s in sources:
        lines.append(_row(f"`{s}`", _counts(judged, s), human))
    minutes = sum(_minutes(log) for log in logs)
    lines += [
        "",
        "`rated` counts the judge answers that parsed, out of 2,000 per source. `empathy/human`",
        "replays the human replies as a model: it must match the judge-rated human row exactly",
        "(same replies, same judge, read from the cache), a check that model and baseline go",
        f"through the same path. The three evaluations took {minutes:.0f} minutes together, on a",
        "2-core machine shared with other jobs.",
        "",
        "The reference: the crowd ratings of the same three groups in the authors' CSV (one",
        "rating per reply, 2,000 per group; the paper's GPT-4 group is `chatgpt_empathy`):",
        "",
        "| source | rated | Good | Good rate | relative increase in Good | p |",
        "|---|---:|---:|---:|---:|---|",
    ]
    crowd_human = _counts(crowd, "human")
    lines.append(_row("human", crowd_human, None))
    for s in STORED_SOURCES[1:]:
        lines.append(_row(s, _counts(crowd, s), crowd_human))
    published = registry()["reference_results"]["good"]
    lines += [
        "",
        f"The paper publishes Good counts of {published['human']} (human) and "
        f"{published['GPT-4']} (GPT-4) out of 2,000; the crowd rows above reproduce them from",
        "the CSV. A mock judge cannot: matching them is the job of a real judge, and the",
        "comparison that counts is judge against judge (model vs judge-rated human replies).",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(section: str, readme: Path = README) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + section.rstrip("\n") + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="*", help="logs of a previous run (instead of --run)")
    parser.add_argument("--run", action="store_true", help="run the evaluation first")
    parser.add_argument("--log-dir", default="logs/inspect_evals_report")
    parser.add_argument("--grader", default="empathy/mock-judge")
    parser.add_argument("--write", action="store_true", help=f"update {README.name}")
    args = parser.parse_args(argv)
    if args.run:
        logs = run_evals(args.log_dir, args.grader)
    elif args.logs:
        logs = args.logs
    else:
        parser.error("give logs, or --run")
    section = report(logs, args.grader if args.run else None)
    print(section)
    if args.write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
