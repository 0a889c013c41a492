"""``empathy-task reproduce [--data PATH] [--out DIR]``: the study's report, from the authors' CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from empathy_task.analysis.results import Analysis

HELP = (
    "Reproduce the paper's analysis: load the authors' CSV (--data, EMPATHY_TASK_DATA, the cache "
    "or the pinned download) and the second study file when it is here (--models-data, "
    "EMPATHY_TASK_MODELS_DATA or the cache), report the crowd ratings of all six stored sources "
    "(human, chatgpt, chatgpt_empathy = the paper's GPT-4, llama_empathy, gemini_empathy, "
    "mixtral_empathy; without the second file its sources' shipped ratings) with the published "
    "rows beside them, and print where the HTML report is."
)


def configure(parser: argparse.ArgumentParser) -> None:
    from empathy_task.cli.report import add_analysis_options

    parser.add_argument("--data", default=None, help="path of the authors' CSV")
    add_models_data_option(parser)
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default: the user data folder, e.g. "
        "~/.local/share/empathy-task/report, replaced on every run; never the current folder)",
    )
    add_analysis_options(parser)


def add_models_data_option(parser: argparse.ArgumentParser) -> None:
    """``--models-data PATH``: the second study file (LLaMA-2, Gemini, Mixtral replies)."""
    parser.add_argument(
        "--models-data",
        default=None,
        help="path of the second study file (Distilling-Empathy datasets/dataset.csv); default "
        "EMPATHY_TASK_MODELS_DATA or the cache",
    )


def headline(analysis: Analysis) -> list[str]:
    """One line per computed group and per published row: Good counts, increase, p-values."""
    from empathy_task.report.document import fmt_p, fmt_rel
    from empathy_task.resources import source_display_names

    o = analysis.options
    g = analysis.groups
    g = g[(g["scope"] == "overall") & (g["rater_kind"] == analysis.primary_kind)]
    c = analysis.comparisons
    vs = c[(c["scope"] == "overall") & c["vs_baseline"]].set_index("b")
    display = source_display_names()
    names = {s: f"{s} ({display[s]})" if s in display else s for s in g["source"]}
    width = max(len(n) for n in names.values())
    lines = [f"Crowd ratings of the study's stored sources, raw (baseline {o.baseline}):"]
    for _, r in g.iterrows():
        name = names[r["source"]]
        line = f"  {name:<{width}}  Good {r['Good']:>5,} of {r['n']:,} ({r['good_rate']:.1%})"
        if r["is_baseline"]:
            line += "  baseline"
        elif r["source"] in vs.index:
            v = vs.loc[r["source"]]
            line += (
                f"  {fmt_rel(v['rel_increase_good'])}{v['good_marker']:<3}"
                f"  Good chi2 {v['good_chi2']:.2f}, p {fmt_p(v['good_p'])};"
                f" distribution chi2 {v['dist_chi2']:.2f}, p {fmt_p(v['dist_p'])}"
            )
        lines.append(line)
    pub = analysis.published
    if pub.empty:
        return lines
    # Only the paper's models whose ratings are not in the input.
    lines.append("Published (paper, reference only; their ratings are not in the input):")
    width = max(len(s) for s in pub["source"])
    for _, r in pub.iterrows():
        rel = "baseline" if r["source"] == "human" else fmt_rel(r["rel_increase_good"])
        lines.append(f"  {r['source']:<{width}}  Good {r['Good']:>5,} of {r['n']:,}  {rel}")
    return lines


def run(args: argparse.Namespace) -> int:
    from empathy_task.analysis.steps import analyse
    from empathy_task.cli.report import analysis_options, parse_formats
    from empathy_task.data.fetch import resolve_data_file
    from empathy_task.data.study import load_study, missing_sources_note
    from empathy_task.ratings.inputs import LoadedInput
    from empathy_task.ratings.table import stored_rating_table
    from empathy_task.report.render import FILE_NAMES, render_report, write_report

    formats = parse_formats(args.format)
    options = analysis_options(args, "human")
    path = resolve_data_file(args.data)
    table, shipped = stored_rating_table(load_study(path, models_data=args.models_data))
    analysis = analyse(table, options)
    # The loader has logged it; the report says it too.
    notes = (missing_sources_note(shipped),) if shipped else ()
    loaded = [
        LoadedInput(str(path), "study", len(table), tuple(analysis.sources["crowd"]), notes=notes)
    ]
    report = render_report(analysis, formats, loaded, title="Are LLMs more empathetic than humans?")
    # The default folder belongs to this command, so a second run replaces the first; a folder
    # the user names is replaced only with --force.
    out = Path(args.out) if args.out else default_report_dir()
    write_report(report, out, force=args.force or args.out is None)
    print("\n".join(headline(analysis)))
    main = next(FILE_NAMES[f] for f in ("html", "md", "json") if f in formats)
    print(f"Report: {(out / main).resolve()}")
    return 0


def default_report_dir() -> Path:
    """Where ``reproduce`` writes without ``--out``: ``EMPATHY_TASK_REPORT_DIR``, else the user
    data folder. Not the current folder: run from a checkout, git would show it as untracked."""
    import os

    from platformdirs import user_data_path

    env = os.environ.get("EMPATHY_TASK_REPORT_DIR")
    return Path(env) if env else user_data_path("empathy-task") / "report"
