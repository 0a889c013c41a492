"""``empathy-task judge SAMPLES... --grader MODEL [--grader MODEL2 ...] --out FILE``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

HELP = (
    "Rate replies made elsewhere with an Inspect model as judge, and write the rating table. "
    "Inputs: lm-eval --log_samples files (samples_<task>_<date>.jsonl; the model's name comes "
    "from the run's results_*.json) or reply tables (CSV/JSONL/Parquet with dialog_id, reply "
    "and source, or --source). The human replies to the same prompts are rated too, so the "
    "table carries its own judge-rated baseline. Judge calls go through Inspect's cache "
    "(INSPECT_CACHE_DIR): an interrupted run, started again, pays only for what it had not done."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="SAMPLES", help="samples files or tables")
    parser.add_argument(
        "--grader",
        required=True,
        action="append",
        help="the judge, an Inspect model (e.g. openai/gpt-4o); repeat it for a panel, each "
        "judge one rater of the table. As a role of inspect eval, a judge may be a YAML dict: "
        "'{model: empathy/mock-judge-a, model_args: {crowd: 0.8}}'",
    )
    parser.add_argument("--out", required=True, help="rating table: .csv, .jsonl or .parquet")
    parser.add_argument("--source", help="name of the replies' model (overrides the inputs')")
    parser.add_argument(
        "--no-human", action="store_true", help="do not rate the human replies to the prompts"
    )
    parser.add_argument(
        "-M",
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model arg for the judge (repeatable), as inspect eval's -M",
    )
    parser.add_argument(
        "--max-connections", type=int, help="concurrent judge calls (default: the provider's)"
    )
    parser.add_argument("--max-retries", type=int, help="retries of a failed judge call")
    parser.add_argument("--timeout", type=int, help="seconds before a judge call is retried")
    parser.add_argument(
        "--batch",
        type=int,
        help="send judge calls through the provider's batch API in batches of this size "
        "(providers that support it; slower, about half the cost)",
    )
    parser.add_argument("--data", help="path of the authors' CSV (default: EMPATHY_TASK_DATA, ...)")
    parser.add_argument(
        "--prompts",
        metavar="SET",
        help="the replies answer a prompt set of your own (lm-eval's --metadata prompts, or "
        "-T prompts=): its context goes to the judge, its labels and sha256 into the table",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def _model_args(items: list[str]) -> dict[str, Any]:
    import yaml

    args: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--model-arg expects KEY=VALUE, got {item!r}")
        # As Inspect's -M: values are YAML scalars (numbers, true/false, strings).
        args[key.strip()] = yaml.safe_load(value)
    return args


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from inspect_ai.model import GenerateConfig, get_model

    from empathy_task.cli import print_rating_summary
    from empathy_task.outputs import check_writable
    from empathy_task.ratings.files import table_format, write_rating_table
    from empathy_task.ratings.posthoc import JudgeRunError, judge_replies
    from empathy_task.ratings.replies import read_replies

    # Fail before paying for a judge if the output cannot be written.
    table_format(args.out)
    check_writable(Path(args.out), args.force)
    replies = read_replies(args.inputs, source=args.source)

    config = GenerateConfig(
        # As the Inspect task's judge (task/scorer.py, grader_model): the same settings give the
        # same cache key, so a reply judged in either is not paid for again in the other.
        temperature=0,
        max_connections=args.max_connections,
        max_retries=args.max_retries,
        timeout=args.timeout,
        batch=args.batch,
    )
    # Inspect prints its banner (enabled hooks) on stdout when it first makes a model: keep
    # stdout for this command's summary.
    model_args = _model_args(args.model_arg)
    graders = []
    with contextlib.redirect_stdout(sys.stderr):
        for spec in args.grader:
            name, own_args = _grader_spec(spec)
            try:
                graders.append(
                    get_model(name, config=config, memoize=False, **{**model_args, **own_args})
                )
            except Exception as e:  # a missing provider package or API key: one line
                from empathy_task.cli import one_line

                raise ValueError(f"the judge {name} could not be created: {one_line(e)}") from e
    names = [str(g) for g in graders]
    if len(set(names)) != len(names):
        raise ValueError(f"--grader names one judge twice ({', '.join(names)}): name each once")
    sources = sorted(set(replies["source"])) if "source" in replies.columns else []
    from empathy_task.task.judges import self_preference_warnings

    for source in sources:
        for w in self_preference_warnings(str(source), names):
            print(f"empathy-task judge: warning: {w}", file=sys.stderr)
    tables, summaries = [], []
    try:
        for grader in graders:
            table, summary = judge_replies(
                replies,
                grader,
                judge_human=not args.no_human,
                data=args.data,
                max_connections=args.max_connections,
                progress=not args.no_progress,
                prompts=args.prompts,
            )
            tables.append(table)
            summaries.append(summary)
    except (JudgeRunError, KeyboardInterrupt) as e:
        what = str(e) if isinstance(e, JudgeRunError) else "interrupted"
        print(
            f"empathy-task judge: {what}\nThe ratings made so far are in Inspect's cache: run "
            "the same command again to resume without paying for them twice.",
            file=sys.stderr,
        )
        return 1 if isinstance(e, JudgeRunError) else 130
    import pandas as pd

    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    write_rating_table(table, args.out, force=args.force)

    print_rating_summary(table)
    for summary in summaries:
        for line in summary.lines():
            print(line)
    print(f"wrote {len(table)} ratings by {', '.join(names)} to {args.out}")
    return 0


def _grader_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """A judge named as inspect eval's roles are: a model name, or a YAML dict with ``model``
    and ``model_args``."""
    text = spec.strip()
    if not text.startswith("{"):
        return text, {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"--grader {spec!r} is not a model name or a YAML dict ({e})") from None
    if not isinstance(value, dict) or not value.get("model"):
        raise ValueError(f"--grader {spec!r}: a dict needs a model key")
    own = value.get("model_args") or {}
    if not isinstance(own, dict):
        raise ValueError(f"--grader {spec!r}: model_args must be a dict")
    return str(value["model"]), dict(own)
