"""``empathy-task sheets [INPUT...] --source NAME --out DIR``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from empathy_task.study.sheets import SheetSet

HELP = (
    "Write blinded rating sheets for a human study: one sheet per study batch (part_no, 10 "
    "prompts) and source, items shuffled with a recorded seed, as CSV and JSONL, and a separate "
    "key mapping the blinded ids back to dialog and source. INPUT is Inspect logs (.eval/.json) "
    "or a replies table (.csv/.jsonl with dialog_id, reply and optional source); without INPUT, "
    "--source names a stored source (human, chatgpt, chatgpt_empathy of the authors' CSV; "
    "llama_empathy, gemini_empathy, mixtral_empathy of the second study file, --models-data)."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="Inspect logs or a replies table"
    )
    parser.add_argument(
        "--source",
        help="the replies' source: a stored source without INPUT, the name of a table's replies "
        "without a source column, or the one source to keep",
    )
    parser.add_argument("--out", required=True, help="folder for the sheets (what the app serves)")
    parser.add_argument(
        "--key", help="key file (.csv or .jsonl; default: DIR.key.csv beside the sheets folder)"
    )
    parser.add_argument("--seed", type=int, help="shuffle seed (default: random, recorded)")
    parser.add_argument(
        "--format",
        default="csv,jsonl",
        help="sheet formats, comma-separated: csv, jsonl (default both)",
    )
    parser.add_argument("--data", help="a local copy of the authors' dataset_and_ratings.csv")
    from empathy_task.cli.reproduce import add_models_data_option

    add_models_data_option(parser)
    parser.add_argument(
        "--prompts",
        metavar="SET",
        help="the replies answer a prompt set of your own (the one the run used, -T prompts=): "
        "the sheets show its context and the key names it",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="sheets for a random sample of whole batches holding at least N prompts (seeded "
        "by --sample-seed), e.g. for crowd ratings of part of a set beside a judge's of all",
    )
    parser.add_argument(
        "--sample-seed", type=int, default=0, help="seed of --sample's batches (default 0)"
    )
    parser.add_argument("--force", action="store_true", help="replace existing sheets and key")


def run(args: argparse.Namespace) -> int:
    from empathy_task.data.study import load_study
    from empathy_task.ratings.replies import read_replies
    from empathy_task.study.sheets import (
        items_from_replies,
        make_sheets,
        replies_from_study,
    )

    if args.prompts:
        return _run_prompt_set(args)
    study = load_study(args.data, models_data=args.models_data)
    if args.inputs:
        replies = read_replies(args.inputs, args.source)
        origin = ", ".join(args.inputs)
    else:
        if not args.source:
            raise ValueError("give an INPUT (Inspect logs or a replies table) or a stored --source")
        replies = replies_from_study(args.source, study)
        origin = f"stored source {args.source}"
    items = items_from_replies(replies, study, origin)
    if args.sample:
        from empathy_task.study.sheets import sample_batches

        items = sample_batches(items, args.sample, args.sample_seed)
    return _write(args, make_sheets(items, seed=args.seed))


def _run_prompt_set(args: argparse.Namespace) -> int:
    from empathy_task.data.prompt_sets import load_prompt_set
    from empathy_task.ratings.replies import read_replies
    from empathy_task.study.sheets import (
        items_from_prompt_set,
        make_sheets,
        prompt_set_key,
        sample_batches,
    )

    if not args.inputs:
        raise ValueError("--prompts: give the runs' replies (Inspect logs or a replies table)")
    pset = load_prompt_set(args.prompts)
    items = items_from_prompt_set(
        read_replies(args.inputs, args.source), pset, ", ".join(args.inputs)
    )
    if args.sample:
        items = sample_batches(items, args.sample, args.sample_seed)
    return _write(args, prompt_set_key(make_sheets(items, seed=args.seed), pset))


def _write(args: argparse.Namespace, sheet_set: SheetSet) -> int:
    from empathy_task.study.sheets import write_sheets

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    files, key = write_sheets(sheet_set, args.out, args.key, formats=formats, force=args.force)
    sizes = sheet_set.key.groupby("sheet_id").size()
    for source, n in sheet_set.key.groupby("source")["sheet_id"].nunique().items():
        print(f"{source}: {n} sheets")
    short = int((sizes < 10).sum())
    if short:
        print(
            f"note: {short} sheet(s) hold fewer than 10 items (batches the replies cover in part)"
        )
    print(f"wrote {len(sheet_set.sheets)} sheets ({len(files)} files) to {args.out}")
    print(f"wrote the key to {key} (seed {sheet_set.seed}); keep it away from raters")
    return 0
