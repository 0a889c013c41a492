"""``empathy-task export LOG... --out FILE``."""

from __future__ import annotations

import argparse

HELP = "Write the rating table (CSV, JSONL or Parquet by suffix) from empathy_task Inspect logs."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", metavar="LOG", help="Inspect .eval/.json logs")
    parser.add_argument("--out", required=True, help="output file: .csv, .jsonl or .parquet")
    parser.add_argument("--epoch", type=int, default=1, help="which epoch's ratings (default 1)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from empathy_task.cli import print_rating_summary
    from empathy_task.outputs import check_writable
    from empathy_task.ratings.files import table_format, write_rating_table
    from empathy_task.ratings.logs import rating_table_from_logs

    table_format(args.out)
    check_writable(Path(args.out), args.force)
    table = rating_table_from_logs(args.logs, epoch=args.epoch)
    write_rating_table(table, args.out, force=args.force)
    print_rating_summary(table)
    if table.attrs.get("flagged_replies"):
        print(f"{table.attrs['flagged_replies']} replies flagged for addressing the judge")
    print(f"wrote {len(table)} ratings to {args.out}")
    return 0
