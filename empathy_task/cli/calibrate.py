"""``empathy-task calibrate INPUT... --out FILE``: fit a judge's calibration to the crowd."""

from __future__ import annotations

import argparse

HELP = (
    "Calibrate judges to the crowd from their ratings of the stored replies (the "
    "empathy_judge_validation log, empathy_task logs of empathy/human, empathy/chatgpt or "
    "empathy/chatgpt_empathy, or rating tables with the judge as rater), validate the calibration "
    "leave-one-source-out, and write it as a small JSON file for `empathy-task report "
    "--calibration`."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="validation or empathy_task logs (.eval/.json) or rating tables (.csv/.jsonl/.parquet)",
    )
    parser.add_argument("--out", required=True, help="the calibration file to write (.json)")
    parser.add_argument(
        "--judge",
        default=None,
        metavar="[RATER=]PROVIDER/MODEL",
        help="calibrate only this judge (default every judge found); as in `report --judge`, "
        "`openai/gpt-4o-mini` also takes a rater named gpt-4o-mini as that judge, and "
        "RATER=PROVIDER/MODEL any rater name",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="the authors' CSV, for reply lengths (default EMPATHY_TASK_DATA or the cache)",
    )
    parser.add_argument(
        "--smoothing",
        type=float,
        default=1.0,
        help="pseudo-ratings pulling each judge label's crowd distribution to the pooled one "
        "(default 1)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from empathy_task.analysis.crowd_equivalent import calibrate_judges, calibration_json
    from empathy_task.outputs import check_writable, write_atomic
    from empathy_task.ratings.inputs import load_inputs

    out = Path(args.out)
    check_writable(out, args.force)
    if args.smoothing < 0:
        raise ValueError("--smoothing must be non-negative")
    from empathy_task.ratings.inputs import judge_names

    renames = judge_names([args.judge]) if args.judge else {}
    table, _ = load_inputs(args.inputs, judges=renames)
    if args.judge:
        args.judge = args.judge.rpartition("=")[2]  # the judge's name after renaming
    logs = [p for p in args.inputs if p.lower().endswith((".eval", ".json"))]
    calibrations = calibrate_judges(
        table,
        logs,
        data=args.data,
        smoothing=args.smoothing,
        judges=[args.judge] if args.judge else None,
        origin=str(out),
    )
    if not calibrations:
        raise ValueError(
            "no judge in the inputs rated replies of two or more stored sources (human, chatgpt, "
            "chatgpt_empathy)"
            + (f" under the name {args.judge!r}" if args.judge else "")
            + ": run `inspect eval empathy_task/empathy_judge_validation --model <judge>` first"
        )
    text = calibration_json(calibrations)
    write_atomic(out, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=args.force)
    for c in calibrations:
        card, loso = c.card, c.loso()
        print(
            f"{c.judge}: {card['pairs']:,} replies of {', '.join(c.counts)}; exact agreement "
            f"{100 * card['exact_agreement']:.1f}%, quadratic kappa {card['kappa_quadratic']:.3f} "
            f"(two crowd raters: {card['human_ceiling_kappa']:.2f}); leave-one-source-out RMS "
            f"error of the Good rate {100 * loso.rms_error:.1f} points"
        )
        for r in loso.rows:
            print(
                f"  {r.source}: crowd {100 * r.crowd_good_rate:.1f}% Good, judge "
                f"{100 * r.judge_good_rate:.1f}%, calibrated from the other sources "
                f"{100 * r.calibrated_good_rate:.1f}%"
            )
    print(f"wrote {out}")
    return 0
