"""How much judge calibration adds to ``empathy-task report`` on a large judge table.

The input, built in memory from the shipped crowd ratings and manifest (never the authors' text):

- the crowd's ratings of the 6 stored sources (``human_baseline/crowd_ratings.csv``, 12,000);
- one judge's ratings of the same 12,000 stored replies, drawn from a fixed P(judge | crowd) that
  is harsher than the crowd (as real judges are on human replies), so there is something to
  calibrate;
- the same judge's ratings of ``models`` judge-rated model sources x 2,000 prompts (50 in the full
  run), each with its own Good rate.

The table is written as Parquet and reported twice, as the command does it, in this process:

- **(a) without calibration**: read and validate, analyse, render Markdown, HTML (with plots) and
  JSON, write; what ``empathy-task report`` does when no judge rated the stored sources;
- **(b) with calibration**: the same plus ``with_calibrations`` (the calibration fitted from the
  inputs, its leave-one-source-out table and report card, and a crowd-equivalent row, with its
  bootstrap interval, for every model source), and the calibration's sections in the render.
  As in the command, the card's length bias reads the stored replies' lengths from the authors'
  CSV when it is found (``EMPATHY_TASK_DATA`` or the cache; CI has it) and is left out without it;
  no text of it enters the table or the outputs.

The two alternate (best of ``repeat`` each); the result is (b) / (a), measured in the same run.
Goal: at most 2x. Calibration adds one step per judge whose cost grows with sources x resamples,
not with ratings: a calibrated report that cost more than twice the uncalibrated one would put
the reporter's budget (seconds for a million ratings, ``bench_report.py``) out of reach for the
tables calibration is for, and a user would be tempted to skip it.

``python benchmarks/bench_calibration.py`` (``--quick``: 10 model sources).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROW = "| Reporter with judge calibration, "
JUDGE = "mockllm/bench-judge"  # a provider Inspect knows: other names are refused as ids
#: P(judge label | crowd label), rows crowd Bad/Okay/Good: a judge harsher than the crowd.
JUDGE_GIVEN_CROWD = np.array([[0.75, 0.20, 0.05], [0.40, 0.45, 0.15], [0.15, 0.45, 0.40]])
GOAL = 2.0


def judge_table(models: int, seed: int = 0) -> pd.DataFrame:
    """The crowd's and a judge's ratings of the stored sources, and the judge's of ``models``
    model sources x the 2,000 prompts, as one rating table."""
    from empathy_task.data.study import crowd_ratings, manifest

    rng = np.random.default_rng(seed)
    labels = manifest()
    crowd = crowd_ratings()[["dialog_id", "source", "rater", "rating"]]
    # The judge's answer to each stored reply, drawn given the crowd's rating of that reply.
    u = rng.random(len(crowd))
    cum = JUDGE_GIVEN_CROWD.cumsum(axis=1)[crowd["rating"].to_numpy() - 1]
    stored = crowd.assign(rater=JUDGE, rating=1 + (u[:, None] >= cum[:, :2]).sum(axis=1))
    ids = labels["dialog_id"].to_numpy()
    names = [f"model-{i:02d}" for i in range(1, models + 1)]
    good = np.repeat(rng.uniform(0.2, 0.7, models), len(ids))
    okay = np.repeat(rng.uniform(0.2, 0.6, models), len(ids)) * (1 - good)
    u = rng.random(models * len(ids))
    judged = pd.DataFrame(
        {
            "dialog_id": np.tile(ids, models),
            "source": np.repeat(names, len(ids)),
            "rater": JUDGE,
            "rating": np.where(u < good, 3, np.where(u < good + okay, 2, 1)),
        }
    )
    table = pd.concat([crowd, stored, judged], ignore_index=True)
    return table.merge(labels, on="dialog_id", how="left")[
        ["dialog_id", "emotion", "sentiment", "plutchik", "part_no", "source", "rater", "rating"]
    ]


def report_once(path: Path, out: Path, *, calibrate: bool, resamples: int) -> dict[str, Any]:
    """One report of ``path`` into ``out`` as ``empathy-task report`` makes it, with its times."""
    from empathy_task.analysis.crowd_equivalent import with_calibrations
    from empathy_task.analysis.results import AnalysisOptions
    from empathy_task.analysis.steps import analyse
    from empathy_task.ratings.inputs import load_inputs
    from empathy_task.report.render import render_report, write_report

    start = time.perf_counter()
    table, loaded = load_inputs([path])
    analysis = analyse(table, AnalysisOptions(resamples=resamples))
    calibration_s = 0.0
    if calibrate:
        t = time.perf_counter()
        # As cli/report.py calls it for a rating table (no logs, no --calibration, no study input).
        analysis = with_calibrations(analysis, table, [path], [], data=None, prices=None)
        calibration_s = time.perf_counter() - t
    report = render_report(analysis, ("md", "html", "json"), loaded)
    write_report(report, out, force=True)
    return {
        "total": time.perf_counter() - start,
        "calibration": calibration_s,
        "calibrations": len(analysis.calibrations),
        "crowd_equivalent": len(analysis.crowd_equivalent),
    }


def run(quick: bool = False, repeat: int | None = None) -> dict[str, Any]:
    """Times of (a) and (b) on the judge table, their ratio, and what (b) produced."""
    models = 10 if quick else 50
    resamples = 10_000  # the command's default
    repeat = repeat or (1 if quick else 3)
    table = judge_table(models)
    with tempfile.TemporaryDirectory(prefix="bench-calibration-") as tmp:
        work = Path(tmp)
        path = work / "judge.parquet"
        table.to_parquet(path, index=False)
        # Warm-up (imports, first-call costs, the shipped files' caches) on a small table.
        warm = work / "warm.parquet"
        judge_table(1).to_parquet(warm, index=False)
        report_once(warm, work / "warm-out", calibrate=True, resamples=100)
        plain: list[dict[str, Any]] = []
        calibrated: list[dict[str, Any]] = []
        for i in range(repeat):
            # Alternate which goes first, so that a drift in machine load hits both alike.
            order = (False, True) if i % 2 == 0 else (True, False)
            for calibrate in order:
                r = report_once(
                    path, work / f"out-{calibrate}-{i}", calibrate=calibrate, resamples=resamples
                )
                (calibrated if calibrate else plain).append(r)
    a = min(plain, key=lambda r: r["total"])
    b = min(calibrated, key=lambda r: r["total"])
    if b["calibrations"] != 1 or b["crowd_equivalent"] != models:
        # Not a timing: (b) must have done the work it is timed for.
        raise RuntimeError(
            f"the calibrated report fitted {b['calibrations']} calibration(s) and "
            f"{b['crowd_equivalent']} crowd-equivalent rows; expected 1 and {models}"
        )
    crowd = table[table["rater"] != JUDGE]
    return {
        "ratings": len(table),
        "stored_sources": int(crowd["source"].nunique()),
        "crowd_ratings": len(crowd),
        "judge_ratings": int((table["rater"] == JUDGE).sum()),
        "models": models,
        "resamples": resamples,
        "repeat": repeat,
        "plain_s": a["total"],
        "calibrated_s": b["total"],
        "calibration_s": b["calibration"],
        "ratio": b["total"] / a["total"],
    }


def row(res: dict[str, Any]) -> str:
    """The benchmark table's row."""
    return (
        f"{ROW}{res['ratings']:,} ratings: 1 judge x ({res['stored_sources']} stored + "
        f"{res['models']} model sources) x 2,000 prompts + the crowd's {res['crowd_ratings']:,}, "
        f"parquet, bootstrap {res['resamples']:,} (best of "
        f"{res['repeat']}) | {res['calibrated_s']:.2f} s (calibration and {res['models']} "
        f"crowd-equivalent rows {res['calibration_s']:.2f}) | same report without calibration: "
        f"{res['plain_s']:.2f} s | **{res['ratio']:.2f}x** | at most {GOAL:g}x |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 model sources instead of 50")
    parser.add_argument("--repeat", type=int, help="reports of each kind (best taken)")
    args = parser.parse_args(argv)
    print(row(run(quick=args.quick, repeat=args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
