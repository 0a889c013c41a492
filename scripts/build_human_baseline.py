"""Rebuild ``human_baseline/`` (ids, labels, batches and crowd ratings) from the authors' CSV.

Usage: python scripts/build_human_baseline.py PATH/TO/dataset_and_ratings.csv

Writes figures only, never the study text; rater ids are replaced by pseudonyms.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd

from empathy_task.data.study import MANIFEST_COLUMNS
from empathy_task.resources import data_pin
from empathy_task.vocabulary import STORED_SOURCES, authors_pseudonym

OUT = Path(__file__).resolve().parent.parent / "human_baseline"


def main(path: str) -> None:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != data_pin().sha256:
        sys.exit(f"{path}: sha256 {digest} is not the pinned file's {data_pin().sha256}")
    raw = pd.read_csv(path, keep_default_na=False, dtype=str)
    manifest = raw[list(MANIFEST_COLUMNS)].copy()
    manifest["part_no"] = manifest["part_no"].astype(int)
    manifest = manifest.sort_values(["part_no", "dialog_id"])
    manifest.to_csv(OUT / "manifest.csv", index=False, lineterminator="\n")
    ratings = pd.concat(
        pd.DataFrame(
            {
                "dialog_id": raw["dialog_id"],
                "source": s,
                "rater": raw[f"annotator_{s}"].map(authors_pseudonym),
                "rating": raw[f"rating_{s}"].astype(int),
            }
        )
        for s in STORED_SOURCES
    ).sort_values(["source", "dialog_id"])
    ratings.to_csv(OUT / "crowd_ratings.csv", index=False, lineterminator="\n")
    print(f"wrote {len(manifest)} manifest rows and {len(ratings)} ratings to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
