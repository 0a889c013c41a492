"""``empathy-task report INPUT... --baseline human --out DIR [--format md,html,json]``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from empathy_task.analysis.results import AnalysisOptions

HELP = (
    "Run the study's statistics over rating tables (CSV, JSONL, Parquet), Inspect logs and the "
    "authors' CSV, for every model, and write report.md, report.html (with plots) and report.json."
)


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``report`` and ``reproduce``."""
    parser.add_argument(
        "--correction",
        choices=("none", "holm", "bh"),
        default="none",
        help="multiple-comparison correction within each family (default none, as the paper)",
    )
    parser.add_argument(
        "--resamples", type=int, default=10_000, help="cluster bootstrap resamples (default 10000)"
    )
    parser.add_argument(
        "--confidence", type=float, default=0.95, help="confidence level (default 0.95)"
    )
    parser.add_argument("--seed", type=int, default=0, help="cluster bootstrap seed (default 0)")
    parser.add_argument(
        "--detail-sources",
        type=int,
        default=4,
        metavar="N",
        help="sources per rater kind with per-emotion tables, intervals and forest plots "
        "(highest Good rate first; default 4)",
    )
    parser.add_argument(
        "--format",
        default="md,html,json",
        help="comma-separated output formats: md, html, json, eee (Every Eval Ever records, "
        "eee-<source>.json: aggregates only; default md,html,json)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing report files")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="rating tables (.csv/.jsonl/.parquet), Inspect logs (.eval/.json) or the authors' CSV",
    )
    parser.add_argument(
        "--kind",
        choices=("ratings", "log", "study"),
        default=None,
        help="treat every input as this kind instead of detecting it",
    )
    parser.add_argument(
        "--baseline", default="human", help="source every other is compared with (default human)"
    )
    parser.add_argument(
        "--sources", default=None, help="comma-separated sources to keep (default all)"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--calibration",
        action="append",
        default=[],
        metavar="FILE",
        help="a judge's calibration to the crowd (from `empathy-task calibrate`): the judge's "
        "sources are also reported in crowd units (repeatable; without it a judge whose ratings "
        "of the stored sources are among the inputs is calibrated from them)",
    )
    parser.add_argument(
        "--judge",
        action="append",
        default=[],
        metavar="[RATER=]PROVIDER/MODEL",
        help="name a judge whose ratings carry another name: `--judge openai/gpt-4o-mini` takes "
        "a rater named gpt-4o-mini as the judge openai/gpt-4o-mini; `--judge RATER=PROVIDER/MODEL` "
        "takes any rater name (repeatable)",
    )
    parser.add_argument(
        "--price-per-mtok",
        default=None,
        metavar="IN,OUT",
        help="the judge's price per million input and output tokens, for the report card's "
        "price per 1,000 ratings (e.g. 0.15,0.60)",
    )
    parser.add_argument(
        "--prompts",
        action="append",
        default=[],
        metavar="SET",
        help="a prompt set of your own whose human_rating column holds crowd ratings of its "
        "human replies: they join the inputs, as the crowd's ratings of that set (repeatable)",
    )
    from empathy_task.cli.export import add_log_options

    add_log_options(parser)
    add_analysis_options(parser)


def parse_prices(text: str | None) -> tuple[float, float] | None:
    """``IN,OUT`` prices per million tokens, or None."""
    if text is None:
        return None
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(
            f"--price-per-mtok {text!r}: give two numbers, input and output price per million "
            "tokens, e.g. 0.15,0.60"
        ) from None
    if a < 0 or b < 0:
        raise ValueError("--price-per-mtok: prices must be non-negative")
    return a, b


def parse_formats(text: str) -> tuple[str, ...]:
    from empathy_task.report.render import FORMATS

    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(
            f"unknown --format {text!r}: use a comma-separated list of {', '.join(FORMATS)}"
        )
    return formats


def analysis_options(
    args: argparse.Namespace, baseline: str, sources: str | None = None
) -> AnalysisOptions:
    """``AnalysisOptions`` from the shared command-line options."""
    from empathy_task.analysis.results import AnalysisOptions

    if not 0 < args.confidence < 1:
        raise ValueError("--confidence must be between 0 and 1")
    if args.resamples < 1:
        raise ValueError("--resamples must be at least 1")
    keep = tuple(s.strip() for s in sources.split(",") if s.strip()) if sources else None
    return AnalysisOptions(
        baseline=baseline,
        correction=args.correction,
        resamples=args.resamples,
        confidence=args.confidence,
        seed=args.seed,
        detail_sources=args.detail_sources,
        sources=keep,
    )


def with_prompt_set_ratings(table: Any, specs: list[str]) -> tuple[Any, list[Any]]:
    """The inputs' table with the crowd ratings that prompt sets give of their human replies."""
    import pandas as pd

    from empathy_task.data.prompt_sets import crowd_rating_table, load_prompt_set
    from empathy_task.ratings.inputs import LoadedInput
    from empathy_task.ratings.table import combine_repeats, validate_rating_table

    parts, loaded = [table], []
    for spec in specs:
        pset = load_prompt_set(spec)
        crowd = crowd_rating_table(pset)
        if crowd.empty:
            raise ValueError(f"--prompts {spec}: the set gives no crowd ratings (human_rating)")
        parts.append(validate_rating_table(crowd, spec))
        loaded.append(LoadedInput(spec, "prompts", len(crowd), ("human",)))
    combined = pd.concat(parts, ignore_index=True)
    combined, _ = combine_repeats(combined, lambda i: f"input row {i}")
    return combined.reset_index(drop=True), loaded


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from empathy_task.analysis.crowd_equivalent import with_calibrations
    from empathy_task.analysis.judge_panel import with_panel
    from empathy_task.analysis.steps import analyse
    from empathy_task.ratings.inputs import load_inputs
    from empathy_task.report.render import render_report, write_report

    formats = parse_formats(args.format)
    options = analysis_options(args, args.baseline, args.sources)
    prices = parse_prices(args.price_per_mtok)
    from empathy_task.ratings.inputs import judge_names

    table, loaded = load_inputs(
        args.inputs,
        kind=args.kind,
        scorer=args.scorer,
        allow_incomplete=args.allow_incomplete,
        judges=judge_names(args.judge),
    )
    for item in loaded:
        for note in item.notes:
            print(f"note: {note}")
    if args.prompts:
        table, more = with_prompt_set_ratings(table, args.prompts)
        loaded = [*loaded, *more]
    from empathy_task.analysis.steps import split_by_prompt_set

    study = [i.path for i in loaded if i.kind == "study"]
    logs = args.inputs if args.kind in (None, "log") else []
    # Ratings of different prompt sets are never compared: each set is analysed apart. A judge's
    # calibration comes from its ratings of the stored replies (the study's prompts).
    parts = split_by_prompt_set(table)
    study_table = next((t for s, t in parts if s is None), None)
    analyses = []
    for prompt_set, part in parts:
        analysis = analyse(part, options)
        analysis = with_calibrations(
            analysis,
            part if study_table is None or prompt_set is None else study_table,
            logs,
            args.calibration,
            data=study[0] if study else None,
            prices=prices,
        )
        analysis = with_panel(
            analysis, part if study_table is None or prompt_set is None else study_table
        )
        if prompt_set is not None:
            from empathy_task.analysis.domain_transfer import with_domain_transfer

            analysis = with_domain_transfer(analysis, part)
        analyses.append((prompt_set, analysis))
    if len(analyses) == 1:
        prompt_set, analysis = analyses[0]
        title = "Empathy report" if prompt_set is None else f"Empathy report: {prompt_set['name']}"
        report = render_report(analysis, formats, loaded, title)
    else:
        from empathy_task.report.by_prompt_set import render_by_prompt_set

        report = render_by_prompt_set(analyses, formats, loaded)
    written = write_report(report, Path(args.out), force=args.force)
    for p in written:
        if p.suffix in (".md", ".html", ".json"):
            print(f"wrote {p}")
    return 0
