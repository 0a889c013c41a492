"""Which prompts a run uses: emotions, valence and an emotion-stratified seeded sample."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from empathy_task.data.study import manifest
from empathy_task.vocabulary import VALENCES


def select_prompts(
    frame: pd.DataFrame,
    *,
    emotions: str | Sequence[str] | None = None,
    valence: str | None = None,
    sample: int | None = None,
    seed: int = 42,
    known_emotions: Iterable[str] | None = None,
    where: str = "the study",
) -> pd.DataFrame:
    """Filter by emotion and valence, then draw an emotion-stratified seeded subsample.

    ``sample=320`` over all 32 emotions gives 10 prompts per emotion. A sample that does not divide
    evenly gives the remainder to emotions picked at random (seeded); an emotion with too few
    prompts gives its shortfall to the others. Row order follows the study (``part_no``, dialog).
    ``known_emotions`` are the labels ``emotions`` may name (default: the study's 32), ``where``
    names the prompts in errors (a user's prompt set brings its own labels).
    """
    out = frame
    if emotions is not None and emotions != [] and emotions != "":
        wanted = _as_list(emotions)
        known = set(manifest()["emotion"] if known_emotions is None else known_emotions)
        if not known:
            raise ValueError(f"{where} has no emotions to select by")
        unknown = [e for e in wanted if e not in known]
        if unknown:
            raise ValueError(
                f"unknown emotion(s): {', '.join(unknown)}; the emotions of {where} are: "
                + ", ".join(sorted(known))
            )
        out = out[out["emotion"].isin(wanted)]
    if valence is not None and valence not in ("", "all"):
        if valence not in VALENCES:
            raise ValueError(f"unknown valence {valence!r}: use positive, negative or all")
        if out["sentiment"].isna().all():
            raise ValueError(f"{where} gives no valence to select by")
        out = out[out["sentiment"] == valence]
    if sample is not None:
        sample = int(sample)
        if sample <= 0:
            raise ValueError(f"sample must be a positive number of prompts, got {sample}")
        if sample < len(out):
            # Prompts without an emotion (a user's set may have none) form one stratum.
            strata = out.assign(emotion=out["emotion"].fillna(""))
            out = out.loc[_stratified(strata, sample, seed).index]
    if out.empty:
        raise ValueError(f"no prompt of {where} is selected")
    return out.sort_values(["part_no", "dialog_id"]).reset_index(drop=True)


def _as_list(value: str | Sequence[str]) -> list[str]:
    # Inspect's -T gives strings: accept "a,b" as well as a list.
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value]


def _stratified(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = frame.groupby("emotion").size().sort_index()
    quota = pd.Series(0, index=sizes.index)
    remaining = n
    # Fill equal shares, capped by what each emotion has, until the sample is allocated.
    while remaining > 0:
        open_ = sizes.index[quota < sizes]
        share, extra = divmod(remaining, len(open_))
        add = pd.Series(share, index=open_)
        if extra:
            add[rng.choice(open_, size=extra, replace=False)] += 1
        add = np.minimum(add, sizes[open_] - quota[open_])
        quota[open_] += add
        remaining = n - int(quota.sum())
    parts = [
        g.sample(n=int(quota[emo]), random_state=int(rng.integers(2**31)))
        for emo, g in frame.groupby("emotion", sort=True)
        if quota[emo] > 0
    ]
    return pd.concat(parts)
