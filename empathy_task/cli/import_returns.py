"""``empathy-task import-returns FILE|DB --key KEYFILE --out TABLE``."""

from __future__ import annotations

import argparse

HELP = (
    "Turn what raters returned (the rating app's CSV/JSONL export, or its SQLite database) into "
    "the rating table, through the sheets' key: source from the key, raters pseudonymised, TEQ "
    "answers in the teq column. Returns that do not match the key, duplicates and out-of-range "
    "answers are refused with file, row and column."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("returns", metavar="FILE|DB", help="the app's export or its database")
    parser.add_argument("--key", required=True, help="the key written by `empathy-task sheets`")
    parser.add_argument("--out", required=True, help="rating table: .csv, .jsonl or .parquet")
    parser.add_argument(
        "--source",
        help="name the imported group (key with one source only), e.g. to keep a re-rating of "
        "a stored source apart from the stored group of the same name",
    )
    parser.add_argument(
        "--pseudonym-key",
        metavar="FILE",
        help="the study's pseudonym key (the app keeps it beside its database as "
        "DB.pseudonym-key): replaces raw participant ids by keyed pseudonyms",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing table")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from empathy_task.cli import print_rating_summary
    from empathy_task.outputs import check_writable
    from empathy_task.ratings.files import table_format, write_rating_table
    from empathy_task.study.returns import import_returns

    table_format(args.out)
    check_writable(Path(args.out), args.force)
    table = import_returns(args.returns, args.key, args.pseudonym_key)
    if args.source:
        if table["source"].nunique() > 1:
            raise ValueError("--source renames one group; the key holds several sources")
        table = table.assign(source=args.source)
    write_rating_table(table, args.out, force=args.force)
    print_rating_summary(table, raters=True)
    print(f"wrote {len(table)} ratings to {args.out}")
    return 0
