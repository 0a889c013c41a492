"""A judge's agreement with itself across the epochs of one run (``inspect eval --epochs N``).

The same judge rating the same reply twice (epoch 1 and epoch 2) gives a test-retest agreement:
at temperature 0 with the cache it is 1 by construction; at a higher temperature, or without the
cache, it measures how much of a judge's verdict is noise. Crowd raters rate once (no epochs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from empathy_task.analysis.stats import weighted_kappa
from empathy_task.vocabulary import CROWD, rater_kinds

#: The two epochs compared.
FIRST, SECOND = 1, 2


@dataclass(frozen=True)
class Repeatability:
    """Agreement of one judge with itself between epoch 1 and epoch 2, over the replies it
    rated in both (``n``): Cohen's kappa (unweighted and linear), and the share of equal
    ratings."""

    judge: str
    epochs: int
    n: int
    kappa: float
    kappa_linear: float
    exact_agreement: float


def repeatability(table: pd.DataFrame) -> tuple[Repeatability, ...]:
    """Per judge with ratings in epochs 1 and 2 of the same replies: its self-agreement.

    ``table`` is a rating table with an ``epoch`` column (none: no judge has two epochs, and the
    result is empty). A reply is a (dialog, source) pair; the rating in epoch 1 is paired with
    the rating in epoch 2 by the same rater.
    """
    if "epoch" not in table.columns or table.empty:
        return ()
    kinds = rater_kinds(table["rater"].astype(str).tolist())
    judged = table[kinds != CROWD]
    out = []
    for judge, part in judged.groupby("rater", sort=True):
        epochs = int(part["epoch"].nunique())
        first = part[part["epoch"] == FIRST].set_index(["dialog_id", "source"])["rating"]
        second = part[part["epoch"] == SECOND].set_index(["dialog_id", "source"])["rating"]
        paired = pd.concat([first.rename("a"), second.rename("b")], axis=1, join="inner")
        if paired.empty:
            continue
        a = paired["a"].to_numpy(dtype=np.int64)
        b = paired["b"].to_numpy(dtype=np.int64)
        out.append(
            Repeatability(
                judge=str(judge),
                epochs=epochs,
                n=len(paired),
                kappa=weighted_kappa(a, b, weights=None),
                kappa_linear=weighted_kappa(a, b, weights="linear"),
                exact_agreement=float(np.mean(a == b)),
            )
        )
    return tuple(out)
