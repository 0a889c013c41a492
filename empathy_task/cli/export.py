"""``empathy-task export LOG... --out FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Write the rating table (CSV, JSONL or Parquet by suffix) from empathy_task Inspect logs."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", metavar="LOG", help="Inspect .eval/.json logs")
    parser.add_argument(
        "--out",
        required=True,
        help="output file (.csv, .jsonl or .parquet), or a folder (as -T export= takes): one "
        "LOG writes LOG's name .ratings.csv in it, several write ratings.csv",
    )
    parser.add_argument("--epoch", type=int, default=1, help="which epoch's ratings (default 1)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace) -> int:
    from empathy_task.cli import print_rating_summary
    from empathy_task.outputs import check_writable
    from empathy_task.ratings.files import table_format, write_rating_table
    from empathy_task.ratings.logs import rating_table_from_logs

    out = export_path(args.out, args.logs)
    table_format(out)
    check_writable(out, args.force)
    table = rating_table_from_logs(args.logs, epoch=args.epoch)
    write_rating_table(table, out, force=args.force)
    print_rating_summary(table)
    if table.attrs.get("flagged_replies"):
        print(f"{table.attrs['flagged_replies']} replies flagged for addressing the judge")
    print(f"wrote {len(table)} ratings to {out}")
    return 0


def export_path(out: str, logs: list[str]) -> Path:
    """The file ``--out`` names: itself if it has a table suffix, else a file in that folder.

    A folder is what ``-T export=DIR`` takes: there one log gives ``<log>.ratings.csv`` (the
    hook's name); several give ``ratings.csv``.
    """
    from empathy_task.ratings.logs import default_export_path

    target = Path(out)
    if target.suffix.lower() in (".csv", ".jsonl", ".parquet"):
        return target
    if len(logs) == 1:
        return default_export_path(logs[0], out)
    return target / "ratings.csv"
