"""A rating table -> the study's statistics for every rater kind, source, pair of sources and scope.

A *group* is one (rater kind, source): the crowd's ratings of the human replies, a judge's ratings
of a model's replies. Ratings of different kinds of rater are never tested against each other
(docs/design.md, "The method"): comparisons run within one rater kind, and a kind that did not rate the
baseline gives descriptive numbers only. Where two kinds rated the same replies, their agreement is
measured instead.

Everything is computed from one count array ``[kind, source, scope, Bad/Okay/Good]`` built in a
single pass over the ratings, and every table test of every pair and scope runs in one vectorised
call (:func:`empathy_task.analysis.stats.chi2_tests`), so that a million ratings take about a second.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from empathy_task.analysis import stats
from empathy_task.analysis.repeatability import repeatability
from empathy_task.analysis.results import (
    FLAGGED_COLUMNS,
    LEVELS,
    OVERALL,
    TESTS,
    Analysis,
    AnalysisOptions,
    Family,
    KindAgreement,
    PPIRow,
)
from empathy_task.study import teq
from empathy_task.vocabulary import CROWD, GOOD, VALENCES, rater_kinds


@dataclass(frozen=True)
class _Grid:
    """The counts ``[kind, source, scope, Bad/Okay/Good]`` with the names along each axis (object
    arrays, to index with codes)."""

    counts: np.ndarray
    kinds: np.ndarray
    sources: np.ndarray
    scopes: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return self.counts.sum(axis=-1)


def scope_names(emotions: Sequence[str]) -> tuple[str, ...]:
    """``overall``, ``valence:positive``, ``valence:negative`` and ``emotion:<label>`` for each."""
    return (OVERALL, *(f"valence:{v}" for v in VALENCES), *(f"emotion:{e}" for e in emotions))


def _scope_level(scope: str) -> str:
    return scope.split(":", 1)[0]


def _order_kinds(kinds: Sequence[str]) -> list[str]:
    # The crowd is the reference rater when present; judges follow in order of appearance.
    return sorted(kinds, key=lambda k: (k != CROWD,))


def analyse(rating_table: pd.DataFrame, options: AnalysisOptions | None = None) -> Analysis:
    """Analyse a validated rating table (see :mod:`empathy_task.ratings`).

    The steps, in order: select the ratings, code them once, count them into the grid, plan the
    comparisons, then compute each part of the result from the grid and the codes.

    Raises ``ValueError`` for an empty group: the baseline or a requested source with no ratings.
    """
    opts = options or AnalysisOptions()
    table = _selected(rating_table, opts)
    own = prompt_set_of_table(table)
    c = _codes(table) if own is None else _own_codes(table)
    grid = _count_grid(c)
    plan = _comparison_plan(grid, opts)
    clusters = _clusters(
        np.where(c.kind_names[c.kind_codes] == CROWD, c.rater_codes, c.dialog_codes),
        c.kind_codes * len(c.source_names) + c.source_codes,
        c.rating == 2,
        list(c.kind_names),
        c.source_names,
        opts,
    )
    shared, per_dialog_n = _shared_prompts(c, grid, plan.pairs)
    comparisons, families = _comparisons_frame(grid, plan.pairs, opts, shared)
    _add_cluster_test(comparisons, clusters)
    _add_cluster_rel_increase(comparisons, c, per_dialog_n, opts)
    ppi, ppi_notes = ppi_rows(
        table,
        opts.confidence,
        raters=(c.rater_codes, c.raters),
        prompts=None if own is None else int(len(c.emotion_of_dialog)),
    )
    notes = list(ppi_notes)
    if (comparisons["n_a"] != comparisons["n_b"]).any():
        notes.append(
            "Some compared groups have different numbers of ratings on the prompts they share "
            "(several epochs or raters per prompt): rel_increase_good compares their Good rates."
        )
    gaps = interval_gaps(comparisons)
    if gaps:
        notes.append(
            f"{sum(gaps.values()):,} of {len(comparisons):,} comparisons have no interval of the "
            "relative increase: " + "; ".join(f"{n:,}: {why}" for why, n in gaps.items()) + "."
        )
    undefined = int(
        (
            comparisons["rel_increase_good"].isna() & comparisons["rel_increase_good_low"].notna()
        ).sum()
    )
    if undefined:
        notes.append(
            f"{undefined:,} comparisons have no relative increase, as the side compared against "
            "has no Good rating in the scope (a division by 0), but do have its interval (Katz, "
            "0.5 added to each count)."
        )
    rater_kind_of_rating = c.kind_of_rater[c.rater_codes]
    analysis = Analysis(
        options=opts,
        n_ratings=len(table),
        rater_kinds=tuple(c.kind_names),
        primary_kind=plan.primary,
        sources=plan.sources,
        detail_sources=plan.detail,
        scopes=c.scopes,
        groups=_groups_frame(grid, opts),
        comparisons=comparisons,
        clusters=clusters,
        descriptive_only=tuple(plan.descriptive),
        families=families,
        agreement=_agreement(
            c.dialog_codes,
            c.source_codes,
            c.kind_codes,
            c.rating + 1,
            list(c.kind_names),
            c.source_names,
        ),
        rater_quality=_rater_quality(table, rater_kind_of_rating),
        published=published_rows(plan.sources.get(CROWD, ())),
        notes=tuple(notes),
        ppi=ppi,
        repeatability=repeatability(table),
        coverage=_coverage_frame(per_dialog_n, list(c.kind_names), c.source_names, plan.baseline),
        paired=_paired_frame(
            c.dialog_codes,
            c.source_codes,
            c.kind_codes,
            c.rating,
            _epoch_codes(table),
            c.emotion_of_dialog,
            c.valence_of_emotion,
            grid,
            plan.pairs,
            opts,
        ),
        flagged=flagged_counts(table, rater_kind_of_rating),
    )
    if own is None:
        return analysis
    return _for_prompt_set(analysis, own, c)


def prompt_set_of_table(table: pd.DataFrame) -> dict[str, Any] | None:
    """The user's prompt set a rating table rates (``name``, ``sha256``), or None for the study's
    prompts. A table that mixes prompt sets (or a set and the study's prompts) is refused:
    ratings of different prompt sets are never compared (the reporter analyses each apart,
    :func:`split_by_prompt_set`)."""
    from empathy_task.ratings.table import own_prompt_rows

    own = own_prompt_rows(table)
    if own is None or not own.any():
        return None
    keys = prompt_set_keys(table)
    if not own.all() or len(pd.unique(keys)) > 1:
        raise ValueError(
            "the ratings are of several prompt sets; ratings of different prompt sets are never "
            "compared: analyse each set apart (split_by_prompt_set; `empathy-task report` does)"
        )
    sha = table["prompt_set_sha256"].iloc[0] if "prompt_set_sha256" in table.columns else None
    return {"name": str(table["prompt_set"].iloc[0]), "sha256": sha if sha else None}


def prompt_set_keys(table: pd.DataFrame) -> pd.Series:
    """Each rating's prompt set as one key: ``""`` for the study's prompts, else its sha256 (or
    its name where the table gives no sha256)."""
    from empathy_task.ratings.table import own_prompt_rows

    own = own_prompt_rows(table)
    if own is None:
        return pd.Series("", index=table.index)
    name = table["prompt_set"].astype(object).fillna("").astype(str)
    sha = (
        table["prompt_set_sha256"].astype(object).fillna("").astype(str)
        if "prompt_set_sha256" in table.columns
        else pd.Series("", index=table.index)
    )
    # The sha256 is the set's identity (the same rows under another file name are the same set);
    # a table written by hand without it is keyed by the name.
    return pd.Series(
        np.where(own, np.where(sha != "", "sha256:" + sha, "name:" + name), ""), index=table.index
    )


def split_by_prompt_set(table: pd.DataFrame) -> list[tuple[dict[str, Any] | None, pd.DataFrame]]:
    """The ratings of each prompt set apart, the study's prompts first, then the sets by name:
    ``(set or None, table)``.

    A set is identified by its sha256 (two versions of one set are two sets).
    """
    keys = prompt_set_keys(table)
    out = []
    for key in pd.unique(keys):
        part = table[(keys == key).to_numpy()]
        if key == "":
            part = part.drop(columns=[c for c in ("prompt_set", "prompt_set_sha256") if c in part])
        out.append((prompt_set_of_table(part), part.reset_index(drop=True)))
    # The study's prompts first, then the sets by name (and sha256: two versions of one name).
    return sorted(
        out, key=lambda p: ("", "") if p[0] is None else (p[0]["name"], p[0]["sha256"] or "")
    )


#: The hidden cell of a prompt set without emotions: its ratings count overall and per valence,
#: and no emotion scope is shown for them.
_NO_EMOTION = "\x00"


def _own_codes(table: pd.DataFrame) -> _Codes:
    """:func:`_codes` for a user's prompt set: its own emotion labels and valences (read from the
    table, which the set's validation filled), or, where it has no emotions, one hidden cell per
    valence, so that the scopes follow what the set has."""
    emotion = table["emotion"].astype(object)
    valence = table["sentiment"].astype(object).where(table["sentiment"].notna(), "")
    has_emotion = emotion.notna().to_numpy() & emotion.astype(str).str.len().gt(0).to_numpy()
    cell = np.where(has_emotion, emotion.astype(str), _NO_EMOTION + valence.astype(str))
    emotions = tuple(sorted(pd.unique(cell)))
    emo = pd.Categorical(cell, categories=emotions).codes.astype(np.int64)
    valence_of = (
        pd.Series(valence.to_numpy(), index=cell).groupby(level=0).first().reindex(emotions)
    )
    import dataclasses

    base = _codes(table, emotions=emotions, emotion_codes=emo)
    return dataclasses.replace(base, valence_of_emotion=valence_of.to_numpy(dtype=object))


def _for_prompt_set(analysis: Analysis, own: dict[str, Any], c: _Codes) -> Analysis:
    """An analysis of a user's prompt set: its hidden scopes dropped (no emotion scope where the
    set has no emotions; a valence scope only where it has that valence), no published rows (the
    paper's figures are of its own prompts), and the set named."""
    import dataclasses

    shown = tuple(
        s
        for s in c.scopes
        if not s.startswith(f"emotion:{_NO_EMOTION}")
        and (not s.startswith("valence:") or (c.valence_of_emotion == s.split(":", 1)[1]).any())
    )

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty or "scope" not in frame.columns:
            return frame
        return frame[frame["scope"].isin(shown).to_numpy()].reset_index(drop=True)

    levels = {_scope_level(s) for s in shown}
    emotions = [s.split(":", 1)[1] for s in shown if s.startswith("emotion:")]
    note = (
        f"Prompt set {own['name']!r}: ratings of this set only; ratings of different prompt "
        "sets are never compared with each other. Scopes: overall"
        + (", per valence" if "valence" in levels else "")
        + (f", per emotion ({len(emotions)})" if emotions else "")
        + "."
    )
    return dataclasses.replace(
        analysis,
        scopes=shown,
        groups=keep(analysis.groups),
        comparisons=keep(analysis.comparisons),
        paired=keep(analysis.paired),
        families=tuple(f for f in analysis.families if f.level in levels),
        published=analysis.published.iloc[0:0],
        notes=(note, *analysis.notes),
        prompt_set={**own, "emotions": tuple(emotions), "valence": "valence" in levels},
    )


def _selected(rating_table: pd.DataFrame, opts: AnalysisOptions) -> pd.DataFrame:
    """The ratings to analyse (``opts.sources`` only, when given), after checking the options."""
    if opts.correction not in stats.CORRECTIONS:
        raise ValueError(f"unknown correction {opts.correction!r}: use none, holm or bh")
    if opts.resamples < 1:
        raise ValueError("the bootstrap needs at least one resample")
    table = rating_table
    present_sources = pd.unique(table["source"]).tolist()
    if opts.sources:
        missing = [s for s in opts.sources if s not in present_sources]
        if missing:
            raise ValueError(
                f"source(s) {', '.join(map(repr, missing))} have no ratings in the input "
                f"(sources present: {', '.join(present_sources)})"
            )
        table = table[table["source"].isin(opts.sources)]
        present_sources = [s for s in present_sources if s in opts.sources]
    if table.empty:
        raise ValueError("no ratings to report")
    if opts.baseline not in present_sources:
        raise ValueError(
            f"the baseline {opts.baseline!r} has no ratings in the input "
            f"(sources present: {', '.join(present_sources)}); name one with --baseline"
        )
    return table


@dataclass(frozen=True)
class _Codes:
    """Every rating as integer codes, one factorisation per column (the analysis' only pass over
    the table's strings), and the names each code stands for."""

    emotions: tuple[str, ...]
    scopes: tuple[str, ...]
    emotion_codes: np.ndarray  # per rating
    valence_of_emotion: np.ndarray  # per emotion
    dialog_codes: np.ndarray  # per rating: prompts are the judge's cluster and pairing unit
    emotion_of_dialog: np.ndarray  # per dialog
    source_codes: np.ndarray
    source_names: Any
    rater_codes: np.ndarray
    raters: Any
    kind_of_rater: np.ndarray  # per rater
    kind_names: np.ndarray  # the crowd first, then judges in order of appearance
    kind_codes: np.ndarray  # per rating
    rating: np.ndarray  # per rating: 0 Bad, 1 Okay, 2 Good


def _codes(
    table: pd.DataFrame,
    emotions: tuple[str, ...] | None = None,
    emotion_codes: np.ndarray | None = None,
) -> _Codes:
    """Code the ratings. The validated table carries each rating's emotion (filled from the
    manifest once, at validation), so no dialog is looked up again here. ``emotions`` and
    ``emotion_codes``: a user's prompt set's own (:func:`_own_codes`)."""
    from empathy_task.data.study import emotions as study_emotions
    from empathy_task.data.study import manifest

    if emotions is None or emotion_codes is None:
        emotions = study_emotions()
        emo = pd.Categorical(table["emotion"], categories=emotions).codes.astype(np.int64)
        if (emo < 0).any():
            raise ValueError(
                f"unknown emotion {table['emotion'].iloc[int(np.argmax(emo < 0))]!r}: "
                "analyse takes a validated rating table"
            )
        by_emotion_label = manifest().drop_duplicates("emotion").set_index("emotion")
        valence_of_emotion = by_emotion_label.loc[list(emotions), "sentiment"].to_numpy()
    else:
        emo = emotion_codes
        valence_of_emotion = np.full(len(emotions), "", dtype=object)  # set by the caller
    dialog_codes, dialogs = pd.factorize(table["dialog_id"])
    emotion_of_dialog = np.zeros(len(dialogs), dtype=np.int64)
    emotion_of_dialog[dialog_codes] = emo  # a dialog has one emotion (checked at validation)
    source_codes, source_names = pd.factorize(table["source"])
    rater_codes, raters = pd.factorize(table["rater"])
    kind_of_rater = rater_kinds(raters)
    kind_names = _order_kinds(list(pd.unique(kind_of_rater)))
    kind_index = {k: i for i, k in enumerate(kind_names)}
    kind_codes = np.array([kind_index[k] for k in kind_of_rater], dtype=np.int64)[rater_codes]
    return _Codes(
        emotions=emotions,
        scopes=scope_names(emotions),
        emotion_codes=emo,
        valence_of_emotion=valence_of_emotion,
        dialog_codes=dialog_codes,
        emotion_of_dialog=emotion_of_dialog,
        source_codes=source_codes,
        source_names=source_names,
        rater_codes=rater_codes,
        raters=raters,
        kind_of_rater=kind_of_rater,
        kind_names=np.asarray(kind_names, dtype=object),
        kind_codes=kind_codes,
        rating=table["rating"].to_numpy(np.int64) - 1,
    )


def _count_grid(c: _Codes) -> _Grid:
    """One bincount over the codes: ``[kind, source, scope, Bad/Okay/Good]``, every scope."""
    n_kinds, n_sources, n_emotions = len(c.kind_names), len(c.source_names), len(c.emotions)
    flat = ((c.kind_codes * n_sources + c.source_codes) * n_emotions + c.emotion_codes) * 3
    by_emotion = np.bincount(
        flat + c.rating, minlength=n_kinds * n_sources * n_emotions * 3
    ).reshape(n_kinds, n_sources, n_emotions, 3)
    by_valence = np.stack(
        [by_emotion[:, :, c.valence_of_emotion == v].sum(axis=2) for v in VALENCES], axis=2
    )
    counts = np.concatenate([by_emotion.sum(axis=2, keepdims=True), by_valence, by_emotion], axis=2)
    return _Grid(
        counts,
        c.kind_names,
        np.asarray(c.source_names, dtype=object),
        np.asarray(c.scopes, dtype=object),
    )


@dataclass(frozen=True)
class _Plan:
    """Which sources each rater kind compares, against which baseline, and which are only shown."""

    baseline: int
    sources: dict[str, tuple[str, ...]]
    detail: dict[str, tuple[str, ...]]
    descriptive: list[tuple[str, str, str]]
    pairs: list[tuple[int, int, int, bool]]  # (kind, a, b, against the baseline)
    primary: str


def _comparison_plan(grid: _Grid, opts: AnalysisOptions) -> _Plan:
    """Every source against the baseline and every pair of sources, within each rater kind that
    rated the baseline; a kind that did not gives descriptive numbers only."""
    n = grid.n
    source_names = list(grid.sources)
    baseline = source_names.index(opts.baseline)
    sources: dict[str, tuple[str, ...]] = {}
    detail: dict[str, tuple[str, ...]] = {}
    descriptive: list[tuple[str, str, str]] = []
    pairs: list[tuple[int, int, int, bool]] = []
    good_rate_overall = np.divide(
        grid.counts[:, :, 0, 2],
        n[:, :, 0],
        out=np.full(n[:, :, 0].shape, np.nan),
        where=n[:, :, 0] > 0,
    )
    for k, kind in enumerate(grid.kinds):
        present = [s for s in range(len(source_names)) if n[k, s, 0] > 0]
        has_baseline = baseline in present
        ordered = ([baseline] if has_baseline else []) + [s for s in present if s != baseline]
        sources[kind] = tuple(source_names[s] for s in ordered)
        others = [s for s in ordered if s != baseline]
        top = sorted(others, key=lambda s: -good_rate_overall[k, s])[: max(opts.detail_sources, 0)]
        detail[kind] = tuple(source_names[s] for s in ordered if s == baseline or s in top)
        if not has_baseline:
            reason = (
                f"no ratings of the baseline {opts.baseline!r} by {_kind_label(kind)}; "
                "ratings by different kinds of rater are never tested against each other"
            )
            descriptive += [(kind, source_names[s], reason) for s in ordered]
            continue
        pairs += [(k, baseline, s, True) for s in others]
        pairs += [(k, a, b, False) for i, a in enumerate(others) for b in others[i + 1 :]]
    primary = next(k for k in grid.kinds if opts.baseline in sources[k])
    return _Plan(baseline, sources, detail, descriptive, pairs, primary)


def _shared_prompts(
    c: _Codes, grid: _Grid, pairs: list[tuple[int, int, int, bool]]
) -> tuple[Any, np.ndarray]:
    """Each pair's counts on the prompts both sources have, and the ratings per group and prompt."""
    n_kinds, n_sources, n_dialogs = len(c.kind_names), len(c.source_names), len(c.emotion_of_dialog)
    group_dialog = (c.kind_codes * n_sources + c.source_codes) * n_dialogs + c.dialog_codes
    per_dialog_n = np.bincount(group_dialog, minlength=n_kinds * n_sources * n_dialogs)
    per_dialog_n = per_dialog_n.reshape(n_kinds, n_sources, n_dialogs)
    emotion_onehot = np.zeros((n_dialogs, len(c.emotions)))
    emotion_onehot[np.arange(n_dialogs), c.emotion_of_dialog] = 1.0
    shared = _shared_counts(
        grid,
        per_dialog_n > 0,
        # Counts per dialog and rating, only if some pair covers different prompts.
        lambda: np.bincount(group_dialog * 3 + c.rating, minlength=per_dialog_n.size * 3).reshape(
            *per_dialog_n.shape, 3
        ),
        emotion_onehot,
        c.valence_of_emotion,
        pairs,
    )
    return shared, per_dialog_n


def _kind_label(kind: str) -> str:
    return "the crowd" if kind == CROWD else f"judge {kind}"


CLUSTER_COLUMNS = [
    "rater_kind",
    "source",
    "unit",
    "clusters",
    "largest_cluster",
    "design_effect",
    "good_rate_cluster_low",
    "good_rate_cluster_high",
]


def _clusters(
    cluster_codes: np.ndarray,
    group_codes: np.ndarray,
    is_good: np.ndarray,
    kind_names: Sequence[str],
    source_names: Sequence[str],
    opts: AnalysisOptions,
) -> pd.DataFrame:
    """Per group, overall: Good and rating counts per cluster, their design effect and the
    cluster bootstrap interval of the Good rate (crowd: clusters are raters; judge: prompts)."""
    width = int(cluster_codes.max()) + 1 if len(cluster_codes) else 1
    keys, inverse = np.unique(
        group_codes.astype(np.int64) * width + cluster_codes, return_inverse=True
    )
    size = np.bincount(inverse)
    good = np.bincount(inverse, weights=is_good).astype(np.int64)
    group_of = keys // width
    rows = []
    bounds = np.flatnonzero(np.r_[True, group_of[1:] != group_of[:-1], True])
    n_sources = len(source_names)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        gcode = int(group_of[start])
        kind = kind_names[gcode // n_sources]
        g, m = good[start:stop], size[start:stop]
        ci = stats.cluster_bootstrap_good_rate_ci(
            g, m, resamples=opts.resamples, confidence=opts.confidence, seed=opts.seed
        )
        rows.append(
            (
                kind,
                source_names[gcode % n_sources],
                "rater" if kind == CROWD else "prompt",
                stop - start,
                int(m.max()),
                stats.design_effect(g, m),
                ci.low,
                ci.high,
            )
        )
    return pd.DataFrame(rows, columns=CLUSTER_COLUMNS)


def _add_cluster_test(comparisons: pd.DataFrame, clusters: pd.DataFrame) -> None:
    """The Rao-Scott corrected Good test on the overall rows, beside the paper's chi-squared."""
    statistic = np.full(len(comparisons), np.nan)
    pvalue = np.full(len(comparisons), np.nan)
    rows = np.flatnonzero(comparisons["scope"].to_numpy() == OVERALL) if len(comparisons) else []
    if len(rows):
        deff = clusters.set_index(["rater_kind", "source"])["design_effect"]
        sub = comparisons.iloc[rows]
        da = deff.reindex(list(zip(sub["rater_kind"], sub["a"]))).to_numpy(float)
        db = deff.reindex(list(zip(sub["rater_kind"], sub["b"]))).to_numpy(float)

        def counts(side: str) -> np.ndarray:
            good = sub[f"good_{side}"].to_numpy(float)
            return np.stack([np.zeros_like(good), sub[f"n_{side}"] - good, good], axis=1)

        statistic[rows], pvalue[rows] = stats.rao_scott_good_tests(counts("a"), da, counts("b"), db)
    comparisons["good_rs_chi2"] = statistic
    comparisons["good_rs_p"] = pvalue


def interval_gaps(comparisons: pd.DataFrame) -> dict[str, int]:
    """Why comparisons have no interval of the relative increase, and how many (issue 23).

    Reasons with the scope's name left out (``no Good rating of human in this scope`` counts
    under ``no Good rating of the baseline side (a) in the scope``).
    """
    if not len(comparisons):
        return {}
    missing = comparisons["rel_increase_good_low"].isna().to_numpy()
    out: dict[str, int] = {}
    for reason in comparisons.loc[missing, "rel_increase_reason"]:
        if reason is None:
            key = "no interval (undetermined)"
        elif str(reason).startswith("no Good rating of"):
            key = "no Good rating of the compared-against side (a) in the scope"
        else:
            key = str(reason)
        out[key] = out.get(key, 0) + 1
    return out


#: Levels whose crowd comparisons with the baseline get the rater-cluster bootstrap interval of
#: the relative increase: the headline (a valence's or an emotion's keep the Katz interval; a
#: rater's batch splits across them, and their bootstrap would cost 50 sources several seconds).
CLUSTER_REL_INCREASE_LEVELS = ("overall",)


def _add_cluster_rel_increase(
    comparisons: pd.DataFrame, c: _Codes, per_dialog_n: np.ndarray, opts: AnalysisOptions
) -> None:
    """The crowd's relative increase with a rater-cluster bootstrap interval (issue 23).

    A crowd rater rates one batch of 10 replies of one source, and a lenient rater makes much of
    a batch Good: the ratings are clustered by rater, which the Katz interval (independent
    ratings) ignores. Raters are resampled within each source, on the prompts both sources have.
    A judge's unit is the prompt (one rating each): its Katz interval stands. The column
    ``rel_increase_interval`` names the headline interval of every row.
    """
    n = len(comparisons)
    low, high = np.full(n, np.nan), np.full(n, np.nan)
    dropped = np.zeros(n, dtype=np.int64)
    method = np.full(n, stats.REL_INCREASE_INTERVAL, dtype=object)
    kinds = list(c.kind_names)
    rows = np.zeros(0, dtype=np.int64)
    if n and CROWD in kinds:
        rows = np.flatnonzero(
            (comparisons["rater_kind"].to_numpy() == CROWD)
            & comparisons["vs_baseline"].to_numpy(bool)
            & np.isin(comparisons["level"].to_numpy(), CLUSTER_REL_INCREASE_LEVELS)
        )
    if len(rows):
        k = kinds.index(CROWD)
        crowd = np.flatnonzero(c.kind_codes == k)  # the crowd's ratings only, coded once
        source, rater, dialog = c.source_codes[crowd], c.rater_codes[crowd], c.dialog_codes[crowd]
        is_good = (c.rating[crowd] == 2).astype(float)
        source_index = {str(name): i for i, name in enumerate(c.source_names)}

        def per_rater(selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            codes = rater[selected]
            size = np.bincount(codes, minlength=len(c.raters))
            good = np.bincount(codes, weights=is_good[selected], minlength=len(c.raters))
            keep = size > 0
            return good[keep].astype(np.int64), size[keep]

        # Per (source, rater), for the usual case of two sources with the same prompts.
        n_raters = len(c.raters)
        key = source.astype(np.int64) * n_raters + rater
        all_size = np.bincount(key, minlength=len(c.source_names) * n_raters)
        all_good = np.bincount(key, weights=is_good, minlength=all_size.size)

        def whole(s: int) -> tuple[np.ndarray, np.ndarray]:
            size = all_size[s * n_raters : (s + 1) * n_raters]
            good = all_good[s * n_raters : (s + 1) * n_raters]
            keep = size > 0
            return good[keep].astype(np.int64), size[keep]

        rated = per_dialog_n[k] > 0  # [source, dialog]
        for row in rows:
            r = comparisons.iloc[row]
            sa, sb = source_index[str(r["a"])], source_index[str(r["b"])]
            if np.array_equal(rated[sa], rated[sb]):
                (ga, na), (gb, nb) = whole(sa), whole(sb)
            else:
                shared = (rated[sa] & rated[sb])[dialog]
                ga, na = per_rater(shared & (source == sa))
                gb, nb = per_rater(shared & (source == sb))
            if not (ga.sum() > 0 and nb.sum() > 0):
                continue  # no relative increase: rel_increase_reason says why
            ci = stats.cluster_bootstrap_relative_increase_ci(
                ga, na, gb, nb, resamples=opts.resamples, confidence=opts.confidence, seed=opts.seed
            )
            low[row], high[row], dropped[row] = ci.low, ci.high, ci.dropped
            method[row] = stats.CLUSTER_REL_INCREASE_INTERVAL
    comparisons["rel_increase_good_cluster_low"] = low
    comparisons["rel_increase_good_cluster_high"] = high
    comparisons["rel_increase_cluster_dropped"] = dropped
    comparisons["rel_increase_interval"] = pd.Series(method, index=comparisons.index, dtype=object)


@dataclass(frozen=True)
class _Shared:
    """Per pair and scope, each side's counts ``[pair, scope, Bad/Okay/Good]`` on the prompts both
    sides have, and how many prompts those are ``[pair, scope]``."""

    a: np.ndarray
    b: np.ndarray
    prompts: np.ndarray


def _scope_counts(by_emotion: np.ndarray, valence_of_emotion: np.ndarray) -> np.ndarray:
    """``[..., emotion, x]`` -> ``[..., scope, x]`` in :func:`scope_names` order."""
    by_valence = np.stack(
        [by_emotion[..., valence_of_emotion == v, :].sum(axis=-2) for v in VALENCES], axis=-2
    )
    overall = by_emotion.sum(axis=-2, keepdims=True)
    return np.concatenate([overall, by_valence, by_emotion], axis=-2)


_SHARED_CHUNK = 256  # pairs per block when intersecting coverage: bounds the memory used


def _shared_counts(
    grid: _Grid,
    covered: np.ndarray,
    per_dialog: Callable[[], np.ndarray],
    emotion_onehot: np.ndarray,
    valence_of_emotion: np.ndarray,
    pairs: list[tuple[int, int, int, bool]],
) -> _Shared:
    """Each pair's counts on the prompts both of its sources have, in every scope.

    A pair whose two sources cover the same prompts (every pair in the paper's data) takes its
    counts from the grid as they are; only pairs that cover different prompts are intersected,
    prompt by prompt, in blocks. ``covered[kind, source, dialog]`` says which prompts a group
    rated; ``per_dialog()`` gives the counts ``[kind, source, dialog, Bad/Okay/Good]`` when needed.
    """
    n_scopes = grid.counts.shape[2]
    if not pairs:
        empty = np.zeros((0, n_scopes, 3), dtype=np.int64)
        return _Shared(empty, empty, np.zeros((0, n_scopes), dtype=np.int64))
    pk, pa, pb = (np.array([p[i] for p in pairs]) for i in range(3))
    k, s, d = covered.shape
    prompts_of = _scope_counts(
        (covered.reshape(k * s, d).astype(float) @ emotion_onehot)[..., None], valence_of_emotion
    )[..., 0].reshape(k, s, n_scopes)
    a = grid.counts[pk, pa].copy()
    b = grid.counts[pk, pb].copy()
    prompts = np.rint(prompts_of[pk, pa]).astype(np.int64)
    # Groups with the same prompts share a coverage id (one unique over the groups' bit rows,
    # not a comparison per pair and prompt).
    _, same_prompts = np.unique(
        np.packbits(covered.reshape(k * s, d), axis=1), axis=0, return_inverse=True
    )
    same_prompts = same_prompts.reshape(k, s)
    differ = np.flatnonzero(same_prompts[pk, pa] != same_prompts[pk, pb])
    counts = per_dialog() if len(differ) else None
    for start in range(0, len(differ), _SHARED_CHUNK):
        rows = differ[start : start + _SHARED_CHUNK]
        both = covered[pk[rows], pa[rows]] & covered[pk[rows], pb[rows]]  # [pair, dialog]
        for side, out in ((pa, a), (pb, b)):
            on_shared = counts[pk[rows], side[rows]] * both[..., None]  # [pair, dialog, 3]
            # Summed per emotion by one BLAS product (exact: counts are small integers).
            by_emotion = np.swapaxes(
                np.swapaxes(on_shared, 1, 2).astype(float) @ emotion_onehot, 1, 2
            )
            out[rows] = np.rint(_scope_counts(by_emotion, valence_of_emotion)).astype(np.int64)
        n_both = both.astype(float) @ emotion_onehot
        prompts[rows] = np.rint(
            _scope_counts(n_both[..., None], valence_of_emotion)[..., 0]
        ).astype(np.int64)
    return _Shared(a, b, prompts)


COVERAGE_COLUMNS = [
    "rater_kind",
    "source",
    "prompts",
    "ratings",
    "prompts_with_baseline",
    "kind_covers_different_prompts",
]


def _coverage_frame(
    per_dialog_n: np.ndarray, kind_names: Sequence[str], source_names: Sequence[str], baseline: int
) -> pd.DataFrame:
    """Per (rater kind, source) with ratings: how many prompts it covers, how many of them the
    same kind rated for the baseline too, and whether the kind's sources cover different prompts
    (then each comparison has its own set of shared prompts)."""
    covered = per_dialog_n > 0  # ratings per [kind, source, dialog]
    rows = []
    for k, kind in enumerate(kind_names):
        present = np.flatnonzero(covered[k].any(axis=1))
        differs = bool((covered[k, present] != covered[k, present[:1]]).any())
        for s in present:
            rows.append(
                (
                    kind,
                    str(source_names[s]),
                    int(covered[k, s].sum()),
                    int(per_dialog_n[k, s].sum()),
                    int((covered[k, s] & covered[k, baseline]).sum()),
                    differs,
                )
            )
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def _epoch_codes(table: pd.DataFrame) -> np.ndarray | None:
    """0-based epoch codes of the ratings when the table says which epoch each rating is of."""
    if "epoch" not in table.columns:
        return None
    # A rating without an epoch is of the first (what a single-epoch run and export write).
    codes, _ = pd.factorize(table["epoch"].fillna(1), sort=True)
    return codes.astype(np.int64)


PAIRED_COLUMNS = [
    "rater_kind",
    "a",
    "b",
    "vs_baseline",
    "scope",
    "level",
    "n_pairs",
    "n_prompts",
    "good_a",
    "good_b",
    "good_rate_a",
    "good_rate_b",
    "good_rate_difference",
    "good_rate_difference_low",
    "good_rate_difference_high",
    "rel_increase_good",
    "rel_increase_good_low",
    "rel_increase_good_high",
    "bootstrap_dropped",
    "a_only_good",
    "b_only_good",
    "mcnemar_statistic",
    "mcnemar_exact",
    "mcnemar_p",
    "mcnemar_p_adjusted",
    "mcnemar_marker",
    "stuart_maxwell_statistic",
    "stuart_maxwell_df",
    "stuart_maxwell_p",
    "stuart_maxwell_p_adjusted",
    "stuart_maxwell_marker",
    "stuart_maxwell_reason",
]

#: Scopes whose comparisons with the baseline get the prompt bootstrap (per emotion, a few dozen
#: prompts make a poor bootstrap, and 32 x sources intervals would cost more than the rest).
PAIRED_BOOTSTRAP_LEVELS = ("overall", "valence")


def _paired_frame(
    dialog_codes: np.ndarray,
    source_codes: np.ndarray,
    kind_codes: np.ndarray,
    rating: np.ndarray,
    epoch_codes: np.ndarray | None,
    emotion_of_dialog: np.ndarray,
    valence_of_emotion: np.ndarray,
    grid: _Grid,
    pairs: list[tuple[int, int, int, bool]],
    opts: AnalysisOptions,
) -> pd.DataFrame:
    """The paired tests of every judge's comparisons: pairs are one judge's ratings of the two
    sources' replies to the same prompt (and epoch, where the table has an ``epoch`` column).

    The crowd gets none: its raters differ between sources (the paper's between-subjects design).
    A (source, prompt, epoch) rated more than once by one judge keeps its first rating.
    """
    judge_pairs = [p for p in pairs if grid.kinds[p[0]] != CROWD]
    if not judge_pairs:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    n_sources, n_dialogs = len(grid.sources), len(emotion_of_dialog)
    n_epochs = int(epoch_codes.max()) + 1 if epoch_codes is not None and len(epoch_codes) else 1
    n_keys = n_dialogs * n_epochs
    key = dialog_codes * n_epochs + (epoch_codes if epoch_codes is not None else 0)
    emotion_of_key = np.repeat(emotion_of_dialog, n_epochs)
    n_emotions = len(valence_of_emotion)
    level_of_scope = np.array([_scope_level(x) for x in grid.scopes], dtype=object)
    valence_of_dialog = valence_of_emotion[emotion_of_dialog]
    parts = []
    for k in sorted({p[0] for p in judge_pairs}):
        mine = kind_codes == k
        # One rating per (source, key): the first.
        flat = source_codes[mine] * n_keys + key[mine]
        unique_flat, first = np.unique(flat, return_index=True)
        paired_rating = np.full(n_sources * n_keys, -1, dtype=np.int64)
        paired_rating[unique_flat] = rating[mine][first]
        paired_rating = paired_rating.reshape(n_sources, n_keys)
        kind_pairs = [p for p in judge_pairs if p[0] == k]
        for start in range(0, len(kind_pairs), _SHARED_CHUNK):
            block = kind_pairs[start : start + _SHARED_CHUNK]
            parts.append(
                _paired_block(
                    block,
                    paired_rating,
                    emotion_of_key,
                    n_emotions,
                    n_epochs,
                    valence_of_emotion,
                    valence_of_dialog,
                    level_of_scope,
                    grid,
                    opts,
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    for test in ("mcnemar", "stuart_maxwell"):
        p = frame[f"{test}_p"].to_numpy(dtype=float)
        adjusted = p.copy()
        kinds = frame["rater_kind"].to_numpy()
        levels = frame["level"].to_numpy()
        for kind in pd.unique(kinds):
            for level in LEVELS:
                members = (kinds == kind) & (levels == level)
                if members.any():
                    adjusted[members] = stats.adjust_pvalues(p[members], opts.correction)
        frame[f"{test}_p_adjusted"] = adjusted
        frame[f"{test}_marker"] = pd.Series(
            stats.significance_markers(adjusted), index=frame.index, dtype=object
        )
    return frame[PAIRED_COLUMNS]


def _paired_block(
    block: list[tuple[int, int, int, bool]],
    paired_rating: np.ndarray,
    emotion_of_key: np.ndarray,
    n_emotions: int,
    n_epochs: int,
    valence_of_emotion: np.ndarray,
    valence_of_dialog: np.ndarray,
    level_of_scope: np.ndarray,
    grid: _Grid,
    opts: AnalysisOptions,
) -> pd.DataFrame:
    """The paired frame's rows of one block of pairs of one judge."""
    from empathy_task.analysis import paired

    pk, pa, pb, pv = (np.array([p[i] for p in block]) for i in range(4))
    ra, rb = paired_rating[pa], paired_rating[pb]  # [pair, key]
    both = (ra >= 0) & (rb >= 0)
    n_pairs_ = len(block)
    cell = np.where(both, ra * 3 + rb, 0)
    index = (np.arange(n_pairs_)[:, None] * n_emotions + emotion_of_key[None, :]) * 9 + cell
    joint_by_emotion = np.bincount(index[both], minlength=n_pairs_ * n_emotions * 9).reshape(
        n_pairs_, n_emotions, 9
    )
    joint = _scope_counts(joint_by_emotion, valence_of_emotion).reshape(n_pairs_, -1, 3, 3)
    # Prompts with at least one pair, per scope.
    prompt_has_pair = both if n_epochs == 1 else both.reshape(n_pairs_, -1, n_epochs).any(axis=2)
    emotion_of_dialog = emotion_of_key[::n_epochs]
    onehot = np.zeros((len(emotion_of_dialog), n_emotions))
    onehot[np.arange(len(emotion_of_dialog)), emotion_of_dialog] = 1.0
    prompts = np.rint(
        _scope_counts((prompt_has_pair.astype(float) @ onehot)[..., None], valence_of_emotion)[
            ..., 0
        ]
    ).astype(np.int64)
    n = joint.sum(axis=(-2, -1))
    pi, si = np.nonzero(n > 0)
    tables = joint[pi, si]
    good_a = tables[:, 2, :].sum(axis=1)
    good_b = tables[:, :, 2].sum(axis=1)
    size = n[pi, si]
    mc = paired.mcnemar(paired.good_pair_tables(tables))
    sm = paired.stuart_maxwell(tables)
    rate_a, rate_b = good_a / size, good_b / size
    frame = pd.DataFrame(
        {
            **_pair_columns(grid, pk, pa, pb, pv, pi, si),
            "n_pairs": size,
            "n_prompts": prompts[pi, si],
            "good_a": good_a,
            "good_b": good_b,
            "good_rate_a": rate_a,
            "good_rate_b": rate_b,
            "good_rate_difference": rate_b - rate_a,
            "rel_increase_good": stats.relative_increase(good_a, good_b),
            "a_only_good": np.atleast_1d(mc.a_only),
            "b_only_good": np.atleast_1d(mc.b_only),
            "mcnemar_statistic": np.atleast_1d(mc.statistic),
            "mcnemar_exact": np.atleast_1d(mc.exact).astype(bool),
            "mcnemar_p": np.atleast_1d(mc.pvalue),
            "stuart_maxwell_statistic": np.atleast_1d(sm.statistic),
            "stuart_maxwell_df": np.atleast_1d(sm.df).astype(np.int64),
            "stuart_maxwell_p": np.atleast_1d(sm.pvalue),
            "stuart_maxwell_reason": pd.Series(np.atleast_1d(sm.reason), dtype=object),
        }
    )
    # Bootstrap intervals resampling prompts: comparisons with the baseline, overall and valence.
    low_d = np.full(len(pi), np.nan)
    high_d, low_r, high_r = low_d.copy(), low_d.copy(), low_d.copy()
    dropped = np.zeros(len(pi), dtype=np.int64)
    boot_rows = np.flatnonzero(pv[pi] & np.isin(level_of_scope[si], PAIRED_BOOTSTRAP_LEVELS))
    # Per prompt (all its epochs), only for the pairs that get the bootstrap.
    boot_pairs = np.unique(pi[boot_rows])
    at = np.full(n_pairs_, -1)
    at[boot_pairs] = np.arange(len(boot_pairs))

    def per_prompt_sum(x: np.ndarray) -> np.ndarray:
        return x.reshape(len(boot_pairs), x.shape[1] // n_epochs, n_epochs).sum(axis=2)

    pair_both = both[boot_pairs]
    a_good = per_prompt_sum((ra[boot_pairs] == 2) & pair_both)  # [bootstrap pair, dialog]
    b_good = per_prompt_sum((rb[boot_pairs] == 2) & pair_both)
    per_prompt = per_prompt_sum(pair_both)
    for row in boot_rows:
        p, scope = at[pi[row]], grid.scopes[si[row]]
        use = per_prompt[p] > 0
        if scope != OVERALL:
            use &= valence_of_dialog == scope.split(":", 1)[1]
        m = per_prompt[p, use]
        ci = paired.paired_bootstrap_ci(
            a_good[p, use],
            m,
            b_good[p, use],
            m,
            resamples=opts.resamples,
            confidence=opts.confidence,
            seed=opts.seed,
        )
        low_d[row], high_d[row] = ci.difference_low, ci.difference_high
        low_r[row], high_r[row], dropped[row] = (
            ci.rel_increase_low,
            ci.rel_increase_high,
            ci.dropped,
        )
    frame["good_rate_difference_low"] = low_d
    frame["good_rate_difference_high"] = high_d
    frame["rel_increase_good_low"] = low_r
    frame["rel_increase_good_high"] = high_r
    frame["bootstrap_dropped"] = dropped
    return frame


def _groups_frame(grid: _Grid, opts: AnalysisOptions) -> pd.DataFrame:
    n = grid.n
    k, s, c = np.nonzero(n > 0)
    cnt = grid.counts[k, s, c]
    size = n[k, s, c]
    summary = stats.summarise_counts(cnt)
    low, high, _, _ = stats.wilson_interval(summary.good, summary.n, confidence=opts.confidence)
    return pd.DataFrame(
        {
            "rater_kind": grid.kinds[k],
            "source": grid.sources[s],
            "scope": grid.scopes[c],
            "is_baseline": grid.sources[s] == opts.baseline,
            "n": size,
            "Bad": cnt[:, 0],
            "Okay": cnt[:, 1],
            "Good": cnt[:, 2],
            "good_rate": summary.good_rate,
            "good_rate_low": low,
            "good_rate_high": high,
            "mean_rating": summary.mean_rating,
        }
    )


def _pair_columns(
    grid: _Grid,
    pk: np.ndarray,
    pa: np.ndarray,
    pb: np.ndarray,
    pv: np.ndarray,
    pi: np.ndarray,
    si: np.ndarray,
) -> dict[str, np.ndarray]:
    """The columns that name a comparison: rater kind, sources a and b, scope and its level."""
    level_of_scope = np.array([_scope_level(s) for s in grid.scopes], dtype=object)
    return {
        "rater_kind": grid.kinds[pk[pi]],
        "a": grid.sources[pa[pi]],
        "b": grid.sources[pb[pi]],
        "vs_baseline": pv[pi].astype(bool),
        "scope": grid.scopes[si],
        "level": level_of_scope[si],
    }


def _comparisons_frame(
    grid: _Grid,
    pairs: list[tuple[int, int, int, bool]],
    opts: AnalysisOptions,
    shared: _Shared,
) -> tuple[pd.DataFrame, tuple[Family, ...]]:
    """Every pair in every scope where either side has ratings, compared on the prompts both
    have (``shared``, from :func:`_shared_counts`)."""
    columns = [
        "rater_kind",
        "a",
        "b",
        "vs_baseline",
        "scope",
        "level",
        "n_a",
        "n_b",
        "n_prompts",
        "good_a",
        "good_b",
        "good_rate_a",
        "good_rate_b",
        "rel_increase_good",
        "rel_increase_good_low",
        "rel_increase_good_high",
        "rel_increase_good_rate",
        "rel_increase_reason",
        *(
            f"{t}_{x}"
            for t in TESTS
            for x in ("chi2", "p", "p_adjusted", "marker", "cramers_v", "reason")
        ),
        "family_good",
        "family_dist",
        "power_good_w",
        "power_dist_w",
    ]
    if not pairs:
        return pd.DataFrame(columns=columns), ()
    pk, pa, pb, pv = (np.array(x) for x in zip(*pairs))
    # Rows: where either side has ratings at all; numbers: on the prompts both have.
    keep = (grid.n[pk, pa] + grid.n[pk, pb]) > 0
    pi, si = np.nonzero(keep)
    A = shared.a[pi, si]
    B = shared.b[pi, si]
    n_a = A.sum(1)
    n_b = B.sum(1)
    good = stats.chi2_tests(stats.good_tables(A, B), correction=True)
    dist = stats.chi2_tests(stats.distribution_tables(A, B), correction=True)
    rate_a = np.divide(A[:, 2], n_a, out=np.full(len(pi), np.nan), where=n_a > 0)
    rate_b = np.divide(B[:, 2], n_b, out=np.full(len(pi), np.nan), where=n_b > 0)
    frame = pd.DataFrame(
        {
            **_pair_columns(grid, pk, pa, pb, pv, pi, si),
            "n_a": n_a,
            "n_b": n_b,
            "n_prompts": shared.prompts[pi, si],
            "good_a": A[:, 2],
            "good_b": B[:, 2],
            "good_rate_a": rate_a,
            "good_rate_b": rate_b,
            # Of the Good rates, cross-multiplied in integers: with n_a == n_b it is exactly the
            # paper's count-based (good_b - good_a) / good_a, bit for bit.
            "rel_increase_good": stats.relative_increase(A[:, 2] * n_b, B[:, 2] * n_a),
            "rel_increase_good_rate": stats.relative_increase(rate_a, rate_b),
        }
    )
    reason = np.full(len(pi), None, dtype=object)
    no_good = A[:, 2] == 0
    reason[no_good] = [f"no Good rating of {a} in this scope" for a in frame["a"][no_good]]
    none_shared = (n_a == 0) | (n_b == 0)
    reason[none_shared] = "no prompt in this scope was rated for both sources"
    # Object dtype keeps None as None (pandas would infer a string column with NaN).
    frame["rel_increase_reason"] = pd.Series(reason, index=frame.index, dtype=object)

    # Intervals of the relative increase: every comparison, every scope (issue 23: a row without
    # one carries rel_increase_reason, counted in the report by interval_gaps).
    low = np.full(len(pi), np.nan)
    high = np.full(len(pi), np.nan)
    sel = np.ones(len(pi), dtype=bool)
    if sel.any():
        low[sel], high[sel], _, _ = stats.relative_increase_ci(
            A[sel, 2], n_a[sel], B[sel, 2], n_b[sel], confidence=opts.confidence, of="rates"
        )
    frame["rel_increase_good_low"] = low
    frame["rel_increase_good_high"] = high

    families: list[Family] = []
    for test, res in (("good", good), ("dist", dist)):
        frame[f"{test}_chi2"] = res.statistic
        frame[f"{test}_p"] = res.pvalue
        frame[f"{test}_cramers_v"] = res.cramers_v
        frame[f"{test}_reason"] = pd.Series(res.reason, index=frame.index, dtype=object)
        adjusted = res.pvalue.copy()
        family = np.empty(len(pi), dtype=object)
        for kind in grid.kinds:
            for level in LEVELS:
                members = (frame["rater_kind"].to_numpy() == kind) & (
                    frame["level"].to_numpy() == level
                )
                if not members.any():
                    continue
                fam = Family(kind, test, level, int((~np.isnan(res.pvalue[members])).sum()))
                families.append(fam)
                family[members] = fam.name
                adjusted[members] = stats.adjust_pvalues(res.pvalue[members], opts.correction)
        frame[f"{test}_p_adjusted"] = adjusted
        frame[f"{test}_marker"] = pd.Series(
            stats.significance_markers(adjusted), index=frame.index, dtype=object
        )
        frame[f"family_{test}"] = pd.Series(family, index=frame.index, dtype=object)

    # A-priori power of this comparison's own sample sizes (overall, against the baseline).
    rows = frame["vs_baseline"].to_numpy() & (frame["scope"].to_numpy() == OVERALL)
    total = (n_a + n_b).astype(float)[rows]
    for test, df in (("good", 1), ("dist", 2)):
        at_w = np.full(len(pi), np.nan)
        at_w[rows] = stats.chi2_power(
            np.full(len(total), opts.effect), total, alpha=opts.alpha, df=df
        )
        frame[f"power_{test}_w"] = at_w
    return frame[columns], tuple(families)


def _agreement(
    dialog_codes: np.ndarray,
    source_codes: np.ndarray,
    kind_codes: np.ndarray,
    rating: np.ndarray,
    kind_names: Sequence[str],
    source_names: Sequence[str],
) -> tuple[KindAgreement, ...]:
    """Agreement between every two rater kinds on the (dialog, source) pairs both rated."""
    if len(kind_names) < 2:
        return ()
    n_sources = len(source_names)
    key = dialog_codes.astype(np.int64) * n_sources + source_codes
    firsts = []
    dropped = []
    for k in range(len(kind_names)):
        rows = np.nonzero(kind_codes == k)[0]
        # The first rating of each (dialog, source) by this kind; extra ones cannot be paired.
        unique_keys, first = np.unique(key[rows], return_index=True)
        firsts.append((unique_keys, rating[rows[first]]))
        dropped.append(len(rows) - len(unique_keys))
    out = []
    for i in range(len(kind_names)):
        for j in range(i + 1, len(kind_names)):
            keys_i, ratings_i = firsts[i]
            keys_j, ratings_j = firsts[j]
            common, at_i, at_j = np.intersect1d(keys_i, keys_j, return_indices=True)
            if common.size == 0:
                continue
            a, b = ratings_i[at_i], ratings_j[at_j]
            src = common % n_sources
            per_source = tuple(
                (str(source_names[s]), stats.agreement(a[src == s], b[src == s]))
                for s in np.unique(src)
            )
            rank = stats.rank_agreement(
                [r.good_rate_a for _, r in per_source], [r.good_rate_b for _, r in per_source]
            )
            out.append(
                KindAgreement(
                    reference=kind_names[i],
                    other=kind_names[j],
                    overall=stats.agreement(a, b),
                    per_source=per_source,
                    rank=rank,
                    duplicates_dropped=dropped[i] + dropped[j],
                )
            )
    return tuple(out)


_QUALITY_COLUMNS = ["rater_kind", "source", *stats.TeqSummary._fields]


def _rater_quality(table: pd.DataFrame, kinds: np.ndarray) -> pd.DataFrame:
    """TEQ totals and the reverse-keyed attention check per group, each rater counted once."""
    if "teq" not in table.columns:
        return pd.DataFrame(columns=_QUALITY_COLUMNS)
    has = (table["teq"].notna() & table["teq"].astype(str).str.strip().ne("")).to_numpy()
    if not has.any():
        return pd.DataFrame(columns=_QUALITY_COLUMNS)
    sub = pd.DataFrame(
        {
            "rater_kind": kinds[has],
            "source": table["source"].to_numpy()[has],
            "rater": table["rater"].to_numpy()[has],
            "teq": table["teq"].to_numpy()[has],
        }
    )
    sub = sub.drop_duplicates(["rater_kind", "source", "rater"])
    # validate_rating_table has checked every answer list.
    sub["answers"] = [teq.parse_answers(v) for v in sub["teq"]]
    rows = []
    for (kind, source), g in sub.groupby(["rater_kind", "source"], sort=False):
        rows.append((kind, source, *stats.summarise_teq(np.array(g["answers"].tolist()))))
    everyone = sub.drop_duplicates("rater")
    rows.append(("all", "all", *stats.summarise_teq(np.array(everyone["answers"].tolist()))))
    return pd.DataFrame(rows, columns=_QUALITY_COLUMNS)


def flagged_counts(table: pd.DataFrame, kinds: np.ndarray) -> pd.DataFrame:
    """Per (rater kind, source), how many ratings carry a flag and how many of those are of a
    reply that addressed the judge (the optional ``flagged`` column; missing: not checked)."""
    if "flagged" not in table.columns:
        return pd.DataFrame(columns=list(FLAGGED_COLUMNS))
    flags = table["flagged"]
    checked = flags.notna().to_numpy(dtype=bool)
    if not checked.any():
        return pd.DataFrame(columns=list(FLAGGED_COLUMNS))
    frame = pd.DataFrame(
        {
            "rater_kind": kinds[checked],
            "source": table["source"].to_numpy()[checked],
            "flagged": flags[checked].astype(bool).to_numpy(),
        }
    )
    out = frame.groupby(["rater_kind", "source"], sort=False)["flagged"].agg(["size", "sum"])
    out = out.reset_index().rename(columns={"size": "checked", "sum": "flagged"})
    out[["checked", "flagged"]] = out[["checked", "flagged"]].astype("int64")
    return out[list(FLAGGED_COLUMNS)]


def _paper_sources() -> dict[str, str | None]:
    """The paper's published rows (``reference_results.good``, keyed by the paper's names) ->
    the stored source of each (``registry.yaml``'s ``sources`` display names), None if none."""
    from empathy_task.resources import published_good_counts, source_display_names

    names = source_display_names()
    source_of = {display: source for source, display in names.items()}
    return {
        model: model if model in names else source_of.get(model)
        for model in published_good_counts()
    }


def paper_models(present: Collection[str]) -> list[dict[str, Any]]:
    """The paper's models in its order: ``{"model", "source", "computed"}``, computed when the
    crowd's ratings of the model's stored source are in the input (``present``), else the
    leaderboard falls back to the published row."""
    from empathy_task.resources import source_display_names

    names = source_display_names()
    return [
        {"model": names.get(model, model), "source": source, "computed": source in present}
        for model, source in _paper_sources().items()
    ]


def published_rows(present: Collection[str] | None = None) -> pd.DataFrame:
    """The paper's published Good counts as rows, tested against the published human.

    Only Good counts are published, so only the Good test can be recomputed from them. With
    ``present`` (the sources the crowd rated in the input), only the rows of the paper's models
    whose crowd ratings are not there: the labelled fallback of the leaderboard (a model that is
    there gets its row computed from the ratings). Without it, every published row.
    """
    from empathy_task.resources import published_good_counts, registry

    ref = registry()["reference_results"]
    n = int(ref["n"])
    good = published_good_counts()
    stored = _paper_sources()
    human = good.get("human")
    rows = []
    for source, g in good.items():
        if present is not None and stored.get(source) in present:
            continue
        row = {
            "source": source,
            "stored_source": stored.get(source),
            "rater_kind": str(ref.get("rater", CROWD)),
            "n": n,
            "Good": int(g),
            "good_rate": g / n,
            "rel_increase_good": np.nan,
            "good_chi2": np.nan,
            "good_p": np.nan,
            "good_marker": "",
        }
        if human is not None and source != "human":
            res = stats.good_test([0, n - human, human], [0, n - g, g])
            row.update(
                rel_increase_good=stats.relative_increase(human, g),
                good_chi2=res.statistic,
                good_p=res.pvalue,
                good_marker=stats.significance_marker(res.pvalue),
            )
        rows.append(row)
    columns = ["source", "stored_source", "rater_kind", "n", "Good", "good_rate"]
    columns += ["rel_increase_good", "good_chi2", "good_p", "good_marker"]
    return pd.DataFrame(rows, columns=columns)


#: Fewest crowd-rated replies (also judged) for which the report gives a PPI estimate: three of
#: the study's batches (the clustered interval's t quantile with batches - 1 df holds its level
#: there; ``benchmarks/interval_coverage.py``).
PPI_MIN_LABELLED = 30


def ppi_rows(
    table: pd.DataFrame,
    confidence: float = 0.95,
    *,
    raters: tuple[np.ndarray, Any] | None = None,
    prompts: int | None = None,
) -> tuple[tuple[PPIRow, ...], tuple[str, ...]]:
    """Prediction-powered Good rates: for every (source, judge) where the crowd rated some, but
    not all, of the replies the judge rated (the study kit's returns for some batches).

    A reply's crowd outcome is its Good indicator (the mean of them where several crowd raters
    rated it); the judge's prediction is its P(Good) where the table has ``p_good``, else its Good
    label. The crowd's terms are cluster-robust over the study's batches (``part_no``): one
    rater rates a whole batch. Returns the rows and notes for the report (a source too thinly
    crowd-rated, or ``ppi-python`` missing). Sources the crowd rated on every prompt (the stored
    ones) need no PPI. ``raters``: ``pd.factorize(table["rater"])`` where the caller has it.
    ``prompts``: how many prompts a source could have (default the study's 2,000; a user's
    prompt set gives its own).
    """
    from empathy_task.analysis.ppi import ppi_mean
    from empathy_task.data.study import manifest

    rater_codes, rater_names = raters if raters is not None else pd.factorize(table["rater"])
    # Per distinct rater (one regex each), then per row. A judge's kind is its name.
    crowd = (rater_kinds(rater_names) == CROWD)[rater_codes]
    if not crowd.any() or crowd.all():
        return (), ()
    source_codes, source_names = pd.factorize(table["source"])
    crowd_rows = np.flatnonzero(crowd)
    crowd_dialog_codes, _ = pd.factorize(table["dialog_id"].to_numpy()[crowd_rows])
    pairs = np.unique(
        source_codes[crowd_rows].astype(np.int64) * len(crowd_rows) + crowd_dialog_codes
    )
    crowd_per_source = np.bincount(pairs // len(crowd_rows), minlength=len(source_names))
    # A source the crowd rated on every prompt (a stored one) has no reply to predict.
    n_prompts = len(manifest()) if prompts is None else prompts
    partial = (crowd_per_source > 0) & (crowd_per_source < n_prompts)
    keep = np.flatnonzero(partial[source_codes])
    if crowd[keep].all():
        return (), ()
    # Integer keys (source, dialog) over the rows kept: no string comparison per row.
    dialog_codes, dialogs = pd.factorize(table["dialog_id"].to_numpy()[keep])
    key = source_codes[keep].astype(np.int64) * len(dialogs) + dialog_codes
    good = (table["rating"].to_numpy()[keep] == GOOD).astype(float)
    is_crowd = crowd[keep]
    crowd_keys, at = np.unique(key[is_crowd], return_inverse=True)
    crowd_y = np.bincount(at, weights=good[is_crowd]) / np.bincount(at)  # mean per reply
    judge_rows = ~is_crowd
    p_good = (
        table["p_good"].to_numpy(dtype=float)[keep][judge_rows]
        if "p_good" in table.columns
        else np.full(int(judge_rows.sum()), np.nan)
    )
    f = np.where(np.isnan(p_good), good[judge_rows], p_good)
    has_p = ~np.isnan(p_good)
    judge_key = key[judge_rows]
    batch = table["part_no"].to_numpy()[keep][judge_rows]
    n_judges = len(rater_names)
    group = (
        source_codes[keep][judge_rows].astype(np.int64) * n_judges + rater_codes[keep][judge_rows]
    )
    pos = np.minimum(np.searchsorted(crowd_keys, judge_key), len(crowd_keys) - 1)
    is_labelled = crowd_keys[pos] == judge_key
    rows: list[PPIRow] = []
    notes: list[str] = []
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0, True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        members = order[lo:hi]
        code = int(group[members[0]])
        source = str(source_names[code // n_judges])
        judge = str(rater_names[code % n_judges])
        labelled = is_labelled[members]
        n_labelled, n_unlabelled = int(labelled.sum()), int((~labelled).sum())
        if n_unlabelled == 0:
            continue  # the crowd rated every reply the judge did: its own Good rate is the answer
        if n_labelled < PPI_MIN_LABELLED:
            notes.append(
                f"{source}: {n_labelled} crowd-rated repl{'y' if n_labelled == 1 else 'ies'} "
                f"judged by {judge}; prediction-powered inference needs at least "
                f"{PPI_MIN_LABELLED}."
            )
            continue
        rated, unrated = members[labelled], members[~labelled]
        try:
            result = ppi_mean(
                crowd_y[pos[rated]],
                f[rated],
                f[unrated],
                confidence=confidence,
                # A crowd rater rates one batch: the crowd's terms are clustered by batch.
                clusters=batch[rated],
            )
        except ImportError:
            return (), (
                "Crowd ratings of part of a source's replies and a judge's ratings of all of "
                "them were found, but prediction-powered inference needs the ppi-python package: "
                "pip install 'empathy-task[ppi]'.",
            )
        given = has_p[members]
        prediction = "P(Good)" if given.all() else "Good label" if not given.any() else "mixed"
        rows.append(
            PPIRow(
                source=source,
                judge=judge,
                prediction=prediction,
                result=result,
                crowd_unjudged=int(crowd_per_source[code // n_judges] - n_labelled),
            )
        )
    return tuple(rows), tuple(notes)
