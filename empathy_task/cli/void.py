"""``empathy-task void --db FILE (--rater R | --participant-id ID | --prolific-export CSV)``."""

from __future__ import annotations

import argparse

HELP = (
    "Void batches of the rating app you do not accept: they leave the returns, go back into the "
    "pool for other participants, and their raters cannot start again. Name raters by the "
    "pseudonym the returns show, by participant id, or give Prolific's export of the study's "
    "submissions to void every submitted batch that is not a live submission there. Works on "
    "the database of a running server."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="the study's SQLite database (serve --db)")
    parser.add_argument(
        "--rater", action="append", default=[], help="a rater pseudonym (r-...), repeatable"
    )
    parser.add_argument(
        "--participant-id",
        action="append",
        default=[],
        help="a participant id (hashed with the study's pseudonym key), repeatable",
    )
    parser.add_argument(
        "--prolific-export",
        metavar="CSV",
        help="Prolific's export of the study (Submission id, Participant id, Status): void every "
        "submitted batch without a live (APPROVED or AWAITING REVIEW) submission there",
    )
    parser.add_argument("--reason", default="operator", help="why, kept with each voided batch")
    parser.add_argument("--dry-run", action="store_true", help="say what would be voided only")


def run(args: argparse.Namespace) -> int:
    from empathy_task.study.store import StudyStore
    from empathy_task.study.void import read_prolific_export, void_unlisted
    from empathy_task.vocabulary import PSEUDONYM, key_path_for, pseudonym, read_pseudonym_key

    if not (args.rater or args.participant_id or args.prolific_export):
        raise ValueError("name what to void: --rater, --participant-id or --prolific-export")
    for r in args.rater:
        if not PSEUDONYM.fullmatch(r):
            raise ValueError(f"--rater {r[:40]!r}: not a rater pseudonym (r- and 32 hex digits)")
    StudyStore(args.db, create=False)  # refuses a file that is not the app's database
    store = StudyStore(args.db)  # adds the tables an older version's database lacks
    key = (
        read_pseudonym_key(key_path_for(args.db))
        if args.participant_id or args.prolific_export
        else b""
    )
    raters = list(args.rater) + [pseudonym(p, key) for p in args.participant_id]
    voided = []
    for rater in raters:
        done = store.void(rater, reason=args.reason, dry_run=args.dry_run)
        if not done:
            print(f"{rater}: no batch in progress or submitted, nothing voided")
        voided += done
    if args.prolific_export:
        live = read_prolific_export(args.prolific_export)
        res = void_unlisted(store, live, key, dry_run=args.dry_run)
        print(
            f"{args.prolific_export}: {res.listed} live submissions; {res.kept} submitted "
            f"batches match one, {len(res.voided)} do not"
        )
        voided += res.voided
    verb = "would void" if args.dry_run else "voided"
    for v in voided:
        print(f"{verb} {v.rater} (batch {v.sheet_id}, was {v.was}): {v.reason}")
    print(f"{verb} {len(voided)} batches")
    return 0
