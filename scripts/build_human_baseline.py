"""Rebuild ``human_baseline/`` (ids, labels, batches and crowd ratings) from the two pinned files.

Usage: python scripts/build_human_baseline.py PATH/TO/dataset_and_ratings.csv PATH/TO/dataset.csv

The first is the authors' CSV (``registry.yaml: data``: human, chatgpt, chatgpt_empathy), the
second the Distilling-Empathy file (``models_data``: the same human and chatgpt_empathy ratings,
and llama_empathy, gemini_empathy, mixtral_empathy). Writes figures only, never the study text;
rater ids are replaced by pseudonyms. Refuses a file that is not the pinned one, and a second file
whose shared columns (labels, batches, replies, ratings, raters) differ from the first's.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd

from empathy_task.data.study import MANIFEST_COLUMNS
from empathy_task.resources import data_pin, models_data_pin
from empathy_task.vocabulary import (
    AUTHORS_SOURCES,
    MODELS_FILE_SOURCES,
    SHARED_SOURCES,
    authors_pseudonym,
)

OUT = Path(__file__).resolve().parent.parent / "human_baseline"


def _read_pinned(path: str, sha256: str) -> pd.DataFrame:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != sha256:
        sys.exit(f"{path}: sha256 {digest} is not the pinned file's {sha256}")
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def _ratings(raw: pd.DataFrame, sources: tuple[str, ...]) -> pd.DataFrame:
    return pd.concat(
        pd.DataFrame(
            {
                "dialog_id": raw["dialog_id"],
                "source": s,
                "rater": raw[f"annotator_{s}"].map(authors_pseudonym),
                "rating": raw[f"rating_{s}"].astype(int),
            }
        )
        for s in sources
    )


def main(authors_path: str, models_path: str) -> None:
    raw = _read_pinned(authors_path, data_pin().sha256)
    second = _read_pinned(models_path, models_data_pin().sha256)
    second = second.set_index("dialog_id").loc[raw["dialog_id"]].reset_index()
    shared = [
        *MANIFEST_COLUMNS,
        *(f"{k}_{s}" for s in SHARED_SOURCES for k in ("response", "rating", "annotator")),
    ]
    for col in shared:
        differ = raw[col].to_numpy() != second[col].to_numpy()
        if differ.any():
            dialog = raw["dialog_id"].to_numpy()[differ][0]
            sys.exit(
                f"{models_path}: column {col!r} differs from {authors_path} at dialog {dialog}"
            )
    manifest = raw[list(MANIFEST_COLUMNS)].copy()
    manifest["part_no"] = manifest["part_no"].astype(int)
    manifest = manifest.sort_values(["part_no", "dialog_id"])
    manifest.to_csv(OUT / "manifest.csv", index=False, lineterminator="\n")
    first, other = _ratings(raw, AUTHORS_SOURCES), _ratings(second, SHARED_SOURCES)
    # The shared sources' raters are the same people: their pseudonyms must agree.
    key = ["dialog_id", "source"]
    both = first.merge(other, on=key, suffixes=("", "_2"))
    if len(both) != len(other) or (both["rater"] != both["rater_2"]).any():
        sys.exit("the two files' human / chatgpt_empathy raters do not get the same pseudonyms")
    ratings = pd.concat([first, _ratings(second, MODELS_FILE_SOURCES)]).sort_values(
        ["source", "dialog_id"]
    )
    ratings.to_csv(OUT / "crowd_ratings.csv", index=False, lineterminator="\n")
    print(f"wrote {len(manifest)} manifest rows and {len(ratings)} ratings to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
