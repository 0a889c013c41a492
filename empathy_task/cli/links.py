"""``empathy-task links --db FILE --base-url URL (--ids FILE | --id ID ... | --count N)``."""

from __future__ import annotations

import argparse
import csv
import io
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HELP = (
    "Make one signed, expiring link per participant for `empathy-task serve "
    "--require-signed-links`. The signing key is kept beside the study database "
    "(<db>.link-key, made on first use, owner-only) and never printed. Writes CSV "
    "(participant_id, url, expires_at) to --out or standard output."
)
COLUMNS = ("participant_id", "url", "expires_at")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="the study's SQLite database (as for serve)")
    parser.add_argument(
        "--base-url", required=True, help="the study's public address, e.g. https://study.org/"
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--ids", help="file of participant ids, one a line (# comments allowed)")
    who.add_argument("--id", action="append", dest="id_list", help="a participant id (repeat)")
    who.add_argument("--count", type=int, help="make N links with new random participant ids")
    parser.add_argument(
        "--expires-days",
        type=float,
        default=14.0,
        help="days until the links expire (default 14)",
    )
    parser.add_argument("--out", help="CSV file to write (default: standard output)")
    parser.add_argument("--force", action="store_true", help="overwrite --out")


def _read_ids(path: Path) -> list[str]:
    from empathy_task.study.links import PARTICIPANT_ID

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason})") from None
    ids = []
    for n, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        if not PARTICIPANT_ID.fullmatch(value):
            raise ValueError(
                f"{path}, line {n}: {value[:20]!r} is not a participant id "
                "(3-64 letters, digits, _ or -)"
            )
        ids.append(value)
    if not ids:
        raise ValueError(f"{path}: no participant ids")
    return ids


def _participants(args: argparse.Namespace) -> list[str]:
    if args.count is not None:
        if not 1 <= args.count <= 100_000:
            raise ValueError("--count must be between 1 and 100000")
        return [f"p-{secrets.token_hex(8)}" for _ in range(args.count)]
    ids = _read_ids(Path(args.ids)) if args.ids else list(args.id_list)
    seen: set[str] = set()
    for pid in ids:
        if pid in seen:
            raise ValueError(f"participant id {pid[:20]!r} is given twice")
        seen.add(pid)
    return ids


def run(args: argparse.Namespace) -> int:
    from empathy_task.outputs import check_writable, write_atomic
    from empathy_task.study.links import (
        check_base_url,
        link_key_path_for,
        load_or_create_link_key,
        make_link,
    )

    base = check_base_url(args.base_url)
    if not args.expires_days > 0:
        raise ValueError("--expires-days must be positive")
    db = Path(args.db)
    if not db.parent.is_dir():
        raise ValueError(f"--db {db}: no folder {db.parent}")
    ids = _participants(args)
    if args.out:
        check_writable(Path(args.out), args.force)  # before a key is made for nothing
    key_path = link_key_path_for(db)
    new_key = not key_path.exists()
    key = load_or_create_link_key(db)
    expires = int(time.time() + args.expires_days * 86400)
    at = datetime.fromtimestamp(expires, tz=timezone.utc).isoformat(timespec="seconds")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for pid in ids:
        writer.writerow((pid, make_link(base, pid, expires, key).url, at))
    if args.out:
        write_atomic(
            args.out, lambda tmp: tmp.write_text(buf.getvalue(), encoding="utf-8"), force=args.force
        )
    else:
        sys.stdout.write(buf.getvalue())
    where = f" to {args.out}" if args.out else ""
    made = "made the link key" if new_key else "signed with the link key"
    print(
        f"{len(ids)} links{where}, valid until {at}; {made} {key_path} (keep it private, "
        f"beside the database; `serve --db {db} --require-signed-links` checks them)",
        file=sys.stderr,
    )
    return 0
