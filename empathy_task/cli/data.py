"""``empathy-task data``: fetch the pinned authors' CSV into the cache, verify it, print its path."""

from __future__ import annotations

import argparse

HELP = (
    "Locate the authors' CSV (--data, EMPATHY_TASK_DATA, the user cache, or a download of the "
    "pinned URL, sha256-verified), validate it against the shipped manifest and print its path."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="a local copy of dataset_and_ratings.csv")
    parser.add_argument(
        "--offline", action="store_true", help="never download; fail if no local copy is found"
    )


def run(args: argparse.Namespace) -> int:
    from empathy_task.data.fetch import resolve_data_file, sha256_of
    from empathy_task.data.study import load_study
    from empathy_task.resources import data_pin

    path = resolve_data_file(args.data, allow_download=not args.offline)
    study = load_study(path)
    digest = sha256_of(path)
    pinned = "the pinned file" if digest == data_pin().sha256 else "NOT the pinned file"
    print(f"{path}")
    print(
        f"{len(study)} prompts, {study['emotion'].nunique()} emotions; sha256 {digest} ({pinned})"
    )
    return 0
