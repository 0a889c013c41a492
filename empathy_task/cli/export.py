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
    parser.add_argument(
        "--epoch",
        type=int,
        default=None,
        help="only this epoch's ratings (default: every epoch, in the table's epoch column)",
    )
    add_log_options(parser)
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """``--scorer`` and ``--allow-incomplete``: how Inspect logs are read (export and report)."""
    parser.add_argument(
        "--scorer",
        default=None,
        metavar="NAME",
        help="read only this judge scorer of each log (e.g. empathy_judge1, written by `inspect "
        "score --action append`; default: every judge scorer, each rating rated by the judge "
        "its score names)",
    )
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="read logs whose run did not finish (status other than success), saying how many "
        "samples each is missing (default: refuse them)",
    )


def incomplete_notes(table: object) -> list[str]:
    """One line per incomplete log read with --allow-incomplete."""
    summaries = getattr(table, "attrs", {}).get("incomplete", [])
    return [
        f"{s.missing} of {s.expected} samples missing from {s.path} (status {s.status!r})"
        for s in summaries
    ]


def run(args: argparse.Namespace) -> int:
    from empathy_task.cli import print_rating_summary
    from empathy_task.outputs import check_writable
    from empathy_task.ratings.files import table_format, write_rating_table
    from empathy_task.ratings.logs import rating_table_from_logs

    out = export_path(args.out, args.logs)
    table_format(out)
    check_writable(out, args.force)
    table = rating_table_from_logs(
        args.logs, epoch=args.epoch, scorer=args.scorer, allow_incomplete=args.allow_incomplete
    )
    write_rating_table(table, out, force=args.force)
    for line in incomplete_notes(table):
        print(f"warning: {line}")
    if table.attrs.get("repeats"):
        print(
            f"{table.attrs['repeats']} repeated rating(s) (same dialog, source, judge and epoch in "
            "several logs or scorers, same value) written once"
        )
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
