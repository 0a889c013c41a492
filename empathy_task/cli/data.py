"""``empathy-task data``: fetch the pinned authors' CSV into the cache, verify it, print its path."""

from __future__ import annotations

import argparse

HELP = (
    "Locate the authors' CSV (--data, EMPATHY_TASK_DATA, the user cache, or a download of the "
    "pinned URL, sha256-verified), validate it against the shipped manifest and print its path. "
    "--install FILE puts a local copy into the user cache (after checking its sha256), so that "
    "every later run finds it offline."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="a local copy of dataset_and_ratings.csv")
    parser.add_argument(
        "--offline", action="store_true", help="never download; fail if no local copy is found"
    )
    parser.add_argument(
        "--install",
        metavar="FILE",
        help="copy this local dataset_and_ratings.csv into the cache (must be the pinned file)",
    )


def run(args: argparse.Namespace) -> int:
    from empathy_task.data.fetch import install_data_file, resolve_data_file, sha256_of
    from empathy_task.data.study import load_study
    from empathy_task.resources import data_pin

    if args.install:
        if args.data:
            raise ValueError("give --install FILE or --data FILE, not both")
        # Validate the rows before the file goes in the cache, where every run would read it.
        load_study(args.install)
        path = install_data_file(args.install)
        print(f"installed {args.install} into the cache: {path}")
    else:
        path = resolve_data_file(args.data, allow_download=not args.offline)
    study = load_study(path)
    digest = sha256_of(path)
    pinned = "the pinned file" if digest == data_pin().sha256 else "NOT the pinned file"
    print(f"{path}")
    print(
        f"{len(study)} prompts, {study['emotion'].nunique()} emotions; sha256 {digest} ({pinned})"
    )
    return 0
