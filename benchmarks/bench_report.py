"""How long ``empathy-task report`` takes, as a ratio to reading the same file with pandas.

Two synthetic inputs, each written as CSV and as Parquet:

- ``study``: 2,000 prompts x 5 sources (the paper's design), 200 crowd raters per source;
- ``million``: 1,000,000 ratings, 50 sources x 20,000, dialog ids from the shipped manifest, one
  rater kind. One judge can rate a reply only once (a duplicate is an error), so 20,000 ratings of
  a source need ten raters per reply: the raters are crowd pseudonyms, ten per prompt.

The report is the whole command in this process: read and validate, analyse (with the 10,000-sample
bootstrap), render Markdown, HTML with its PNG plots, and JSON, and write them. Its time is divided
by the time ``pd.read_csv`` / ``pd.read_parquet`` takes to read the same file, measured in the same
run. A warm-up report runs first, so that one-off imports (matplotlib, scipy) are not counted.

Run ``python benchmarks/bench_report.py`` (``--quick`` for 100,000 ratings instead of a million);
it prints a Markdown table and writes it to ``benchmarks/results/report.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "report.md"


def synthetic_ratings(sources: int, raters_per_reply: int, seed: int = 0) -> pd.DataFrame:
    """A rating table: every source's replies to all 2,000 prompts, rated ``raters_per_reply`` times.

    Each rater rates ten replies of one source, as in the study; ratings are drawn with a
    source-specific Good rate so that sources differ.
    """
    from empathy_task.data.study import manifest
    from empathy_task.vocabulary import authors_pseudonym

    rng = np.random.default_rng(seed)
    ids = manifest()["dialog_id"].to_numpy()
    per_source = len(ids) * raters_per_reply
    names = ["human", *(f"model-{i:02d}" for i in range(1, sources))]
    # Prompt order repeats per round of raters, so that no rater sees a prompt twice.
    dialog = np.tile(np.tile(ids, raters_per_reply), sources)
    source = np.repeat(names, per_source)
    rater_ids = np.arange(sources * per_source) // 10
    unique_raters = np.array([authors_pseudonym(f"bench-{i}") for i in range(rater_ids.max() + 1)])
    good = np.repeat(rng.uniform(0.4, 0.7, sources), per_source)
    u = rng.random(len(dialog))
    rating = np.where(u < good, 3, np.where(u < good + (1 - good) * 0.6, 2, 1))
    return pd.DataFrame(
        {"dialog_id": dialog, "source": source, "rater": unique_raters[rater_ids], "rating": rating}
    )


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU time (all threads of this process) of ``repeat`` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def report_once(path: Path, out: Path, resamples: int = 10_000) -> dict[str, float]:
    """One report of ``path`` into ``out``, with the time of each stage in seconds."""
    from empathy_task.analysis.results import AnalysisOptions
    from empathy_task.analysis.steps import analyse
    from empathy_task.ratings.inputs import load_inputs
    from empathy_task.report.render import render_report, write_report

    stages: dict[str, float] = {}
    start, start_cpu = time.perf_counter(), time.process_time()
    table, loaded = load_inputs([path])
    stages["read+validate"] = time.perf_counter() - start
    t = time.perf_counter()
    analysis = analyse(table, AnalysisOptions(resamples=resamples))
    stages["analyse"] = time.perf_counter() - t
    t = time.perf_counter()
    parts: dict[str, float] = {}
    report = render_report(analysis, ("md", "html", "json"), loaded, timings=parts)
    stages["render"] = time.perf_counter() - t
    stages.update(parts)  # figures, document (Markdown + HTML), json: the render's parts
    t = time.perf_counter()
    write_report(report, out, force=True)
    stages["write"] = time.perf_counter() - t
    stages["total"] = time.perf_counter() - start
    stages["total_cpu"] = time.process_time() - start_cpu
    return stages


def run(
    sizes: tuple[str, ...] = ("study", "million"),
    repeat: int = 3,
    quick: bool = False,
    resamples: int = 10_000,
) -> list[dict[str, Any]]:
    """Benchmark rows: one per (input, file format), with times and the ratio to a pandas read.

    Each row: ``input, format, ratings, sources, pandas_read_s, pandas_read_cpu_s, ratio,
    ratio_cpu``, the report's ``total_s`` and ``total_cpu_s``, and its stages in seconds:
    ``read+validate_s, analyse_s, render_s`` (of which ``figures_s, document_s, json_s``) and
    ``write_s``. :func:`markdown` formats them.
    """
    specs = {"study": (5, 1), "million": (50, 1 if quick else 10)}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        tmpdir = Path(tmp)
        # Warm-up: imports and first-call costs are not what is being measured.
        warm = tmpdir / "warm.csv"
        synthetic_ratings(3, 1).head(3000).to_csv(warm, index=False)
        report_once(warm, tmpdir / "warm-out", resamples=resamples)
        for size in sizes:
            sources, raters = specs[size]
            table = synthetic_ratings(sources, raters)
            for fmt in ("csv", "parquet"):
                path = tmpdir / f"{size}.{fmt}"
                if fmt == "csv":
                    table.to_csv(path, index=False)
                    read = lambda p=path: pd.read_csv(p)  # noqa: E731
                else:
                    table.to_parquet(path, index=False)
                    read = lambda p=path: pd.read_parquet(p)  # noqa: E731
                read_time, read_cpu = _best(read, repeat)
                n_runs = repeat if len(table) < 100_000 else max(1, repeat - 1)
                runs = [
                    report_once(path, tmpdir / f"out-{size}-{fmt}", resamples)
                    for _ in range(n_runs)
                ]
                best = min(runs, key=lambda r: r["total"])
                rows.append(
                    {
                        "input": size,
                        "format": fmt,
                        "ratings": len(table),
                        "sources": sources,
                        "pandas_read_s": read_time,
                        "pandas_read_cpu_s": read_cpu,
                        **{f"{k}_s": v for k, v in best.items()},
                        "ratio": best["total"] / read_time,
                        "ratio_cpu": best["total_cpu"] / read_cpu,
                    }
                )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The benchmark rows as a Markdown table, with the machine it ran on."""
    lines = [
        "# Reporter benchmark",
        "",
        f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; bootstrap 10,000 resamples; best of the "
        "runs. Ratio = report time / pandas read time of the same file; the CPU ratio uses process "
        "CPU time (all threads), which a busy machine disturbs less than wall-clock time.",
        "",
        "| input | format | ratings | sources | pandas read (s) | report (s) | ratio | "
        "ratio (CPU) | read+validate (s) | analyse (s) | figures (s) | md+html (s) | json (s) "
        "| write (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['input']} | {r['format']} | {r['ratings']:,} | {r['sources']} | "
            f"{r['pandas_read_s']:.3f} | {r['total_s']:.2f} | {r['ratio']:.1f}x | "
            f"{r['ratio_cpu']:.1f}x | {r['read+validate_s']:.2f} | {r['analyse_s']:.2f} | "
            f"{r['figures_s']:.2f} | {r['document_s']:.2f} | {r['json_s']:.2f} | "
            f"{r['write_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 ratings instead of 1,000,000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best taken)")
    parser.add_argument("--no-write", action="store_true", help="do not write results/report.md")
    args = parser.parse_args(argv)
    rows = run(repeat=args.repeat, quick=args.quick)
    text = markdown(rows)
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
