"""Simulated returns of rating sheets, for the worked examples (not a study's data).

Writes what the rating app exports: one row per item of every sheet in SHEETS, rated by a
simulated rater per sheet (a study-kit pseudonym), with 16 TEQ answers. The rating is drawn from
Bad/Okay/Good with probabilities 0.2 / 0.35 / 0.45, seeded, so that a worked example runs offline
and gives the same numbers every time. Real returns come from the app (`empathy-task serve`).

    python scripts/simulate_returns.py SHEETS_DIR --out returns.csv [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import pandas as pd

from empathy_task.study.sheets import read_sheets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sheets")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for sheet in read_sheets(args.sheets):
        rater = "r-" + hashlib.sha256(f"simulated:{sheet.sheet_id}".encode()).hexdigest()[:32]
        teq = [int(x) for x in rng.integers(0, 5, size=16)]
        for item in sheet.items:
            rows.append(
                {
                    "rater": rater,
                    "sheet_id": sheet.sheet_id,
                    "item_id": item.item_id,
                    "position": item.position,
                    "rating": int(rng.choice([1, 2, 3], p=[0.2, 0.35, 0.45])),
                    "teq": json.dumps(teq),
                }
            )
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {len(rows)} simulated ratings to {args.out}")


if __name__ == "__main__":
    main()
