"""``empathy-task data``: fetch the two pinned study files into the cache, verify them, print
their paths."""

from __future__ import annotations

import argparse

HELP = (
    "Locate the authors' CSV (--data, EMPATHY_TASK_DATA, the user cache, or a download of the "
    "pinned URL, sha256-verified) and the second study file with the LLaMA-2, Gemini and Mixtral "
    "replies (--models-data, EMPATHY_TASK_MODELS_DATA, the cache, or its pinned download), "
    "validate them against the shipped manifest and each other and print their paths. "
    "--install FILE puts a local copy of either file into the user cache (recognised by its "
    "sha256), so that every later run finds it offline."
)


def configure(parser: argparse.ArgumentParser) -> None:
    from empathy_task.cli.reproduce import add_models_data_option

    parser.add_argument("--data", help="a local copy of dataset_and_ratings.csv")
    add_models_data_option(parser)
    parser.add_argument(
        "--offline", action="store_true", help="never download; fail if no local copy is found"
    )
    parser.add_argument(
        "--install",
        metavar="FILE",
        help="copy this local file into the cache (must be one of the two pinned files)",
    )


def run(args: argparse.Namespace) -> int:
    from empathy_task.data.fetch import (
        MODELS_FILE,
        DataError,
        install_data_file,
        pinned_file_of,
        resolve_data_file,
        resolve_models_data_file,
        sha256_of,
    )
    from empathy_task.data.study import load_study
    from empathy_task.resources import data_pin, models_data_pin

    models_path = None
    if args.install:
        if args.data or args.models_data:
            raise ValueError("give --install FILE or --data / --models-data FILE, not both")
        if pinned_file_of(args.install) is MODELS_FILE:
            # Its sha256 is the pinned one; the join with the authors' CSV is checked below.
            models_path = install_data_file(args.install)
            print(f"installed {args.install} into the cache: {models_path}")
            path = resolve_data_file(allow_download=not args.offline)
        else:
            # Validate the rows before the file goes in the cache, where every run would read it.
            load_study(args.install)
            path = install_data_file(args.install)
            print(f"installed {args.install} into the cache: {path}")
    else:
        path = resolve_data_file(args.data, allow_download=not args.offline)
    if models_path is None:
        try:
            models_path = resolve_models_data_file(
                args.models_data, allow_download=not args.offline
            )
        except DataError:
            if args.models_data:
                raise
            models_path = None  # the three-source path still works; said below
    study = load_study(path, models_data=models_path)
    print(f"{path}")
    for p, pin in ((path, data_pin()), (models_path, models_data_pin())):
        if p is None:
            continue
        digest = sha256_of(p)
        pinned = "the pinned file" if digest == pin.sha256 else "NOT the pinned file"
        if p != path:
            print(f"{p}")
        print(f"  sha256 {digest} ({pinned})")
    sources = [s for s in study.columns if s.startswith("reply_")]
    print(
        f"{len(study)} prompts, {study['emotion'].nunique()} emotions, {len(sources)} stored "
        "sources with replies"
    )
    # Without the second file the loader has logged which sources are missing.
    return 0
