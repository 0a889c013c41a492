"""The report's sections, one function each, built from an :class:`~empathy_task.analysis.results.Analysis`
into the document model of :mod:`.document`; :func:`build_document` puts them in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from empathy_task.analysis import paired, stats
from empathy_task.analysis.results import OVERALL, TESTS, Analysis
from empathy_task.ratings.inputs import LoadedInput
from empathy_task.report.between_models import CORRECTION_NAMES, between_sections
from empathy_task.report.document import (
    Figure,
    Section,
    Table,
    fmt_ci,
    fmt_int,
    fmt_num,
    fmt_p,
    fmt_power,
    fmt_rate,
    fmt_rel,
    is_nan,
    kind_title,
    with_paper_name,
)
from empathy_task.resources import source_display_names
from empathy_task.vocabulary import CROWD, LABELS


def _method(a: Analysis) -> Section:
    o = a.options
    corr = {
        "none": "no correction (the paper's choice)",
        "holm": "Holm's correction",
        "bh": "Benjamini-Hochberg's false discovery rate correction",
    }[o.correction]
    s = Section("Method")
    s.add(
        "Ratings are counted per source as Bad / Okay / Good, with no averaging across raters. "
        "The headline is the relative increase in Good ratings over the baseline, "
        f"(Good_b - Good_a) / Good_a x 100, with {o.baseline!r} as the baseline, on the prompts "
        "both sources have (see below). The Good increase "
        "is tested with a chi-squared test on the 2x2 table Good vs not Good x the two sources, "
        "with Yates' continuity correction; the rating distribution with a chi-squared test on the "
        "2x3 Bad/Okay/Good table. Both run overall, per valence and per emotion, for every source "
        "against the baseline and for every pair of sources."
    )
    s.add(_method_shared_prompts())
    s.add(_method_rater_designs(a))
    s.add(
        "A group is one (rater kind, source). Comparisons run only within one kind of rater: "
        "crowd ratings are never tested against a judge's, nor one judge's against another's. "
        "A kind that did not rate the baseline gives descriptive numbers only. Where two kinds "
        "rated the same replies, their agreement is reported instead."
    )
    s.add(
        f"Markers: * p < .05, ** p < .01, *** p < .001, on p-values with {corr}"
        + (
            ", applied within each family of tests: one rater kind x one test (Good 2x2 or "
            "distribution 2x3) x one level (overall, valence or emotion)."
            if o.correction != "none"
            else "."
        )
        + " Beyond the paper: Cramer's V (here equal to Cohen's w, from the uncorrected "
        f"statistic), {round(o.confidence * 100)}% confidence intervals for Good rates and for "
        "the relative increase of every comparison, the a-priori power of each comparison, "
        "agreement between rater kinds, and rater quality from the Toronto Empathy "
        "Questionnaire (TEQ)."
    )
    s.add(
        "Intervals: a Good rate's is the Wilson score interval; the relative increase's is the "
        "Katz log interval of the ratio of the two Good rates, with 0.5 added to each count "
        "(of the relative increase of the Good rates on the shared prompts). Both are closed forms: "
        "they hold at small counts (a group with no Good rating still gets a non-empty interval), "
        "need no resampling, and identical counts get identical intervals in every scope. Every "
        "group and every comparison, in every scope, has one, also where the side compared "
        "against has no Good rating (the relative increase itself is then undefined); a "
        "comparison without one (no prompt rated for both sources) is counted in the notes. "
        "They treat ratings as independent: the crowd's overall comparisons with the baseline "
        "(the headline) show a rater-cluster bootstrap interval instead (raters resampled "
        "within each source; the Katz one stays in report.json). Power is given only a priori, "
        "at the planned effect size "
        f"w = {o.effect}: power at the observed effect is a fixed function of the p-value and "
        "adds nothing to it."
    )
    return s


def _method_shared_prompts() -> str:
    return (
        "Shared prompts: a source is compared with the baseline, or with another source, on the "
        "prompts both have, each comparison on its own intersection. Its n A and n B count the "
        "two sides' ratings on those prompts, and its relative increase is "
        "(rate_B - rate_A) / rate_A x 100 there: the paper's count-based (Good_b - Good_a) / "
        "Good_a whenever both sides have as many ratings, as in the paper's data, where every "
        "source covers all 2,000 prompts. A judge's human baseline is its ratings of the human "
        "replies to the same prompts as the model's; a pilot of a few batches is compared with "
        "the crowd's ratings of the same prompts, not with all 2,000."
    )


def _method_rater_designs(a: Analysis) -> str:
    o = a.options
    return (
        "Which tests apply to which rater kind. Crowd raters: between-subjects, as in the paper "
        "(every rater rates one batch of one source, so two sources' ratings come from different "
        "people): the chi-squared tests, with the cluster bootstrap over raters and the "
        "Rao-Scott test for the clustering in batches. A judge: paired by prompt (the same judge "
        "rates the model's reply and the human reply to each prompt): the paper's chi-squared "
        "tests stay as the paper-faithful columns, and beside them, in 'Paired tests', McNemar's "
        f"test on Good vs not Good (exact binomial below {paired.MCNEMAR_EXACT_BELOW} discordant "
        "pairs, chi-squared with continuity correction from there), the Stuart-Maxwell test of "
        "the Bad/Okay/Good margins (df 2, or the rank of its covariance where pairs differ in "
        "some categories only, 1 in such a singular table), and percentile bootstrap intervals "
        "of the Good-rate "
        f"difference and the relative increase that resample prompts ({o.resamples:,} "
        "resamples, overall and per valence, against the baseline). With several epochs, the "
        "pairs are (prompt, epoch) and the bootstrap resamples whole prompts with all their "
        "epochs. Pairing removes the variation between prompts that both replies share."
    )


def _overview(a: Analysis, inputs: Sequence[LoadedInput]) -> Section:
    s = Section("Inputs")
    kinds = ", ".join(f"{kind_title(k)} ({len(a.sources[k])} sources)" for k in a.rater_kinds)
    s.add(f"{a.n_ratings:,} ratings by {kinds}. Baseline: {a.options.baseline}.")
    if inputs:
        s.add(
            Table(
                ["input", "kind", "ratings", "sources"],
                [[i.path, i.kind, fmt_int(i.ratings), ", ".join(i.sources)] for i in inputs],
            )
        )
        for i in inputs:
            for note in i.notes:
                s.add(note)
    for note in a.notes:
        s.add(note)
    return s


def _repeatability(a: Analysis) -> list[Section]:
    """A judge's agreement with itself across epochs (shown only when a run had two)."""
    if not a.repeatability:
        return []
    s = Section("Judge repeatability across epochs")
    s.add(
        "The same judge rated the same replies in epoch 1 and epoch 2 of a run: Cohen's kappa "
        "between the two, unweighted and linear, and the share of equal ratings."
    )
    s.add(
        Table(
            ["judge", "epochs", "replies", "kappa", "kappa (linear)", "equal"],
            [
                [
                    r.judge,
                    fmt_int(r.epochs),
                    fmt_int(r.n),
                    fmt_num(r.kappa, 3),
                    fmt_num(r.kappa_linear, 3),
                    fmt_num(r.exact_agreement, 3),
                ]
                for r in a.repeatability
            ],
        )
    )
    return [s]


def _leaderboard(a: Analysis) -> Section:
    s = Section("Leaderboard")
    note = _coverage_note(a)
    if note:
        s.add(note)
    s.add(
        "Computed from the input, grouped by rater kind; each source is compared with the "
        f"baseline {a.options.baseline!r} rated by the same kind of rater. Sorted by Good rate. "
        "A stored source shows the paper's name of its model in brackets."
    )
    differs = a.coverage_differs()
    g = a.overall_groups()
    c = a.comparisons
    vs_frame = c[(c["scope"] == OVERALL) & c["vs_baseline"]]
    vs = {
        (r["rater_kind"], r["b"]): r
        for r in _records(
            vs_frame,
            [
                "rater_kind",
                "b",
                "n_a",
                "n_b",
                "rel_increase_good",
                "good_marker",
                "rel_increase_good_low",
                "rel_increase_good_high",
                "rel_increase_good_cluster_low",
                "rel_increase_good_cluster_high",
                "rel_increase_interval",
                "good_chi2",
                "good_p_adjusted",
                "dist_chi2",
                "dist_p_adjusted",
                "dist_marker",
                "dist_cramers_v",
            ],
        )
    }
    p_label = "p" if a.options.correction == "none" else f"p ({a.options.correction})"
    names = source_display_names()
    rows = []
    for kind in a.rater_kinds:
        part = g[g["rater_kind"] == kind].sort_values("good_rate", ascending=False, kind="stable")
        for r in part.to_dict("records"):
            row = [
                with_paper_name(str(r["source"]), names),
                kind_title(kind) if kind == CROWD else f"{kind_title(kind)} (judge's scale)",
                fmt_int(r["n"]),
                fmt_int(r["Bad"]),
                fmt_int(r["Okay"]),
                fmt_int(r["Good"]),
                f"{fmt_rate(r['good_rate'])} {fmt_ci(r['good_rate_low'], r['good_rate_high'])}",
                fmt_num(r["mean_rating"]),
            ]
            key = (kind, r["source"])
            if r["is_baseline"]:
                row += ["baseline", "", "", "", "", ""]
            elif key in vs:
                v = vs[key]
                row += [
                    f"{fmt_rel(v['rel_increase_good'])}{v['good_marker']} {headline_ci(v)}"
                    + (_shared_n(v) if differs.get(kind) else ""),
                    fmt_num(v["good_chi2"]),
                    fmt_p(v["good_p_adjusted"]),
                    fmt_num(v["dist_chi2"]),
                    fmt_p(v["dist_p_adjusted"]) + v["dist_marker"],
                    fmt_num(v["dist_cramers_v"], 3),
                ]
            else:
                row += ["descriptive only", "", "", "", "", ""]
            rows.append(row)
    rows += _published_fallback_rows(a)
    for ce in a.crowd_equivalent:
        rows.append(
            [
                with_paper_name(str(ce["source"]), names),
                f"crowd-equivalent (judge {ce['judge']})",
                fmt_int(ce["n"]),
                *(f"{ce['counts'][label]:,.1f}" for label in LABELS),
                f"{fmt_rate(ce['good_rate'])} {fmt_ci(*ce['good_rate_ci'])}",
                fmt_num(ce["mean_rating"]),
                f"{fmt_rel(ce['rel_increase_good'])} {fmt_ci(*ce['rel_increase_good_ci'], 1.0)}",
                "interval only",
                "",
                "",
                "",
                "",
            ]
        )
    rows += _panel_leaderboard_rows(a)
    s.add(
        Table(
            [
                "source",
                "rater",
                "n",
                "Bad",
                "Okay",
                "Good",
                f"Good rate [{round(a.options.confidence * 100)}% CI]",
                "mean rating",
                "rel. increase in Good [CI]",
                "chi2 Good (2x2, the paper's test)",
                p_label,
                "chi2 dist (2x3)",
                p_label,
                "V (dist)",
            ],
            rows,
        )
    )
    if (c["rel_increase_interval"] == stats.CLUSTER_REL_INCREASE_INTERVAL).any():
        s.add(
            "The interval of a crowd row's relative increase is a rater-cluster bootstrap "
            f"({a.options.resamples:,} resamples): each crowd rater rated one batch of 10 replies "
            "of one source, and a lenient or harsh rater moves a whole batch, so raters are "
            "resampled within each source. The Katz log interval, which treats the ratings as "
            "independent, is narrower (in report.json as rel_increase_good_low/high; the "
            "cluster one as rel_increase_good_cluster_low/high). A judge's rows (one rating per "
            "prompt) keep the Katz interval. The chi-squared column is the paper's test, which "
            "also treats the ratings as independent; the Rao-Scott corrected test is in 'Rater "
            "clusters'."
        )
    if not a.published.empty:
        s.add(_published_note(a))
    if a.crowd_equivalent:
        s.add(
            "Rows marked crowd-equivalent put a judge-rated source in the crowd's units: its "
            "Bad / Okay / Good counts are estimates (the judge's label shares mapped through the "
            "judge's calibration to the crowd, see 'Crowd-equivalent results'), and its relative "
            "increase is against the crowd's human group (986 Good of 2,000), like the paper's "
            "rows. A chi-squared test on estimated counts is not valid, so these rows have none: "
            "a crowd-equivalent increase is significant at the interval's level when its "
            "interval excludes 0. Rows marked judge's scale are the judge's own ratings, "
            "comparable only with the same judge's rating of the human replies."
        )
    elif any(k != CROWD for k in a.rater_kinds):
        s.add(
            "Rows marked judge's scale are a judge's own ratings: their relative increase is "
            "against the same judge's rating of the human replies, not comparable with the "
            "paper's crowd numbers. Calibrate the judge (`empathy-task calibrate`) to report "
            "its sources in the crowd's units."
        )
    if a.descriptive_only:
        s.add(
            Table(
                ["rater", "source", "why descriptive only"],
                [[kind_title(k), src, why] for k, src, why in a.descriptive_only],
            )
        )
    note = _flagged_note(a)
    if note:
        s.add(note)
    return s


def _coverage_note(a: Analysis) -> str | None:
    """The warning above the leaderboard when a rater kind's sources cover different prompts."""
    differs = [k for k, d in a.coverage_differs().items() if d]
    if not differs:
        return None
    cov = a.coverage
    parts = []
    for kind in differs:
        rows = cov[cov["rater_kind"] == kind]
        listed = ", ".join(f"{src} {fmt_int(n)}" for src, n in zip(rows["source"], rows["prompts"]))
        parts.append(f"{kind_title(kind)}: {listed}")
    return (
        "**Sources cover different prompts** (prompts per source, " + "; ".join(parts) + "). "
        "Each comparison uses only the prompts both of its sources have: its n A and n B count "
        "the ratings on those prompts, and its relative increase compares Good rates there. "
        "The counts and Good rates in the table are each source's own, over all its prompts."
    )


def _shared_n(v: dict[str, Any]) -> str:
    return f" (on n {fmt_int(v['n_a'])} / {fmt_int(v['n_b'])})"


def _flagged_note(a: Analysis) -> str | None:
    """One line: per rater kind and source, the rated replies that addressed the judge."""
    f = a.flagged
    if f.empty:
        return None
    parts = []
    for kind in dict.fromkeys(f["rater_kind"]):
        rows = f[f["rater_kind"] == kind]
        per = ", ".join(
            f"{src} {fmt_int(n)} of {fmt_int(m)}"
            for src, n, m in zip(rows["source"], rows["flagged"], rows["checked"])
        )
        parts.append(f"{kind_title(str(kind))}: {per}")
    total = int(f["flagged"].sum())
    return (
        f"Flagged replies: {fmt_int(total)} rated repl{'y' if total == 1 else 'ies'} addressed the "
        "judge (its answer format or instructions to it); they are rated as usual and counted "
        "here, so a reader can see how many tried to steer their judge. " + "; ".join(parts) + "."
    )


def _published_fallback_rows(a: Analysis) -> list[list[str]]:
    """The paper's published row of each of its models whose crowd ratings are not in the
    input (the fallback; a model whose ratings are there has its row computed above)."""
    rows = []
    for r in a.published.to_dict("records"):
        stored = r["stored_source"]
        rows.append(
            [
                f"{stored} ({r['source']})" if stored else str(r["source"]),
                f"{kind_title(str(r['rater_kind']))}, published (ratings not in the input)",
                fmt_int(r["n"]),
                "n/a",
                "n/a",
                fmt_int(r["Good"]),
                fmt_rate(r["good_rate"]),
                "n/a",
                "baseline"
                if r["source"] == "human"
                else f"{fmt_rel(r['rel_increase_good'])}{r['good_marker']}",
                fmt_num(r["good_chi2"]),
                fmt_p(r["good_p"]),
                "n/a",
                "n/a",
                "n/a",
            ]
        )
    return rows


def _published_note(a: Analysis) -> str:
    models = ", ".join(str(m) for m in a.published["source"])
    return (
        "Rows marked published are the paper's figures (Welivita & Pu, 2024) for its models "
        f"whose crowd ratings are not in the input ({models}): only their Good counts are "
        "published, so they have no interval, no Bad / Okay counts and no distribution test; "
        "their relative increase and Good test are against the published human count. Add the "
        "model's crowd ratings to the input (the second file, see the README's data section) "
        "and its row is computed from them like the others."
    )


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as dicts of Python values; much faster than ``to_dict`` on small, wide frames."""
    values = [frame[c].tolist() for c in columns]
    return [dict(zip(columns, row)) for row in zip(*values)]


_ROW_COLUMNS = [
    "rater_kind",
    "a",
    "b",
    "scope",
    "n_a",
    "n_b",
    "good_a",
    "good_b",
    "rel_increase_good",
    "rel_increase_good_low",
    "rel_increase_good_high",
    "rel_increase_good_cluster_low",
    "rel_increase_good_cluster_high",
    "rel_increase_interval",
    "rel_increase_reason",
    *(f"{t}_{x}" for t in TESTS for x in ("chi2", "p_adjusted", "marker", "reason")),
    "dist_cramers_v",
]


def _comparison_rows(frame: pd.DataFrame, with_scope: bool, with_pair: bool) -> list[list[str]]:
    rows = []
    for r in _records(frame, _ROW_COLUMNS):
        reason = r["good_reason"] or r["dist_reason"] or r["rel_increase_reason"] or ""
        row = []
        if with_pair:
            row += [kind_title(str(r["rater_kind"])), str(r["a"]), str(r["b"])]
        if with_scope:
            row.append(str(r["scope"]).split(":", 1)[-1])
        row += [
            fmt_int(r["n_a"]),
            fmt_int(r["n_b"]),
            fmt_int(r["good_a"]),
            fmt_int(r["good_b"]),
            f"{fmt_rel(r['rel_increase_good'])} {headline_ci(r)}".strip(),
            fmt_num(r["good_chi2"]),
            fmt_p(r["good_p_adjusted"]) + r["good_marker"],
            fmt_num(r["dist_chi2"]),
            fmt_p(r["dist_p_adjusted"]) + r["dist_marker"],
            fmt_num(r["dist_cramers_v"], 3),
            str(reason),
        ]
        rows.append(row)
    return rows


def headline_ci(r: dict[str, Any]) -> str:
    """A comparison's headline interval of the relative increase: the rater-cluster bootstrap
    where the row has one (the crowd's overall comparisons with the baseline), else Katz's."""
    if r.get("rel_increase_interval") == stats.CLUSTER_REL_INCREASE_INTERVAL:
        low, high = r["rel_increase_good_cluster_low"], r["rel_increase_good_cluster_high"]
        return f"{fmt_ci(low, high, 1.0)} (rater clusters)" if fmt_ci(low, high, 1.0) else ""
    return fmt_ci(r["rel_increase_good_low"], r["rel_increase_good_high"], 1.0)


def _comparison_columns(a: Analysis, with_scope: bool, with_pair: bool) -> list[str]:
    p = "p" if a.options.correction == "none" else f"p ({a.options.correction})"
    cols = ["rater", "A", "B"] if with_pair else []
    if with_scope:
        cols.append("scope")
    return cols + [
        "n A",
        "n B",
        "Good A",
        "Good B",
        "rel. increase [CI]",
        "chi2 Good",
        p,
        "chi2 dist",
        p,
        "V (dist)",
        "note",
    ]


def _shown(a: Analysis, c: pd.DataFrame) -> pd.DataFrame:
    """Comparisons shown in the document: with the baseline, or between detail sources."""
    if c.empty:
        return c
    keep = c["vs_baseline"].to_numpy(dtype=bool).copy()
    kinds = c["rater_kind"].to_numpy()
    for kind, sources in a.detail_sources.items():
        detail = list(sources)
        keep |= (kinds == kind) & c["a"].isin(detail).to_numpy() & c["b"].isin(detail).to_numpy()
    return c[keep]


def _comparisons(a: Analysis) -> list[Section]:
    c = a.comparisons
    out = []
    s = Section("Comparisons")
    total = len(c[c["scope"] == OVERALL])
    if c.empty:
        s.add("No comparisons: no rater kind rated the baseline and another source.")
        return [s]
    overall = _shown(a, c[c["scope"] == OVERALL])
    s.add(
        "Every source against the baseline and every pair of sources, within each rater kind "
        "(A is the baseline or the first source of the pair; the relative increase is B over A)."
        + (
            f" Shown: the comparisons with the baseline and between the "
            f"{a.options.detail_sources} sources with the highest Good rate per rater kind; all "
            f"{total:,} comparisons in every scope are in report.json."
            if len(overall) < total
            else ""
        )
    )
    s.add(Table(_comparison_columns(a, False, True), _comparison_rows(overall, False, True)))
    out.append(s)

    v = Section("By valence")
    valence = _shown(a, c[c["level"] == "valence"])
    v.add(Table(_comparison_columns(a, True, True), _comparison_rows(valence, True, True)))
    out.append(v)

    e = Section("By emotion")
    e.add(
        "Per-emotion tables for the comparisons shown above. Emotions have few ratings each, so "
        "their tests have little power; with 32 emotions, about 1.6 tests per comparison reach "
        "p < .05 by chance alone when nothing differs."
    )
    out.append(e)
    emo = _shown(a, c[c["level"] == "emotion"])
    # Formatted in one pass, then split per comparison (in order of first appearance).
    tables: dict[tuple[str, str, str], list[list[str]]] = {}
    keys = zip(emo["rater_kind"].tolist(), emo["a"].tolist(), emo["b"].tolist())
    for key, row in zip(keys, _comparison_rows(emo, True, False)):
        tables.setdefault(key, []).append(row)
    for (kind, x, y), rows in tables.items():
        sub = Section(f"{y} vs {x} ({kind_title(str(kind))})", level=3)
        sub.add(Table(_comparison_columns(a, True, False), rows))
        out.append(sub)
    return out


_PAIRED_ROW_COLUMNS = [
    "rater_kind",
    "a",
    "b",
    "scope",
    "n_pairs",
    "n_prompts",
    "good_a",
    "good_b",
    "good_rate_difference",
    "good_rate_difference_low",
    "good_rate_difference_high",
    "rel_increase_good",
    "rel_increase_good_low",
    "rel_increase_good_high",
    "a_only_good",
    "b_only_good",
    "mcnemar_exact",
    "mcnemar_p_adjusted",
    "mcnemar_marker",
    "stuart_maxwell_statistic",
    "stuart_maxwell_df",
    "stuart_maxwell_p_adjusted",
    "stuart_maxwell_marker",
    "stuart_maxwell_reason",
]


def _paired_rows(frame: pd.DataFrame, with_scope: bool) -> list[list[str]]:
    rows = []
    for r in _records(frame, _PAIRED_ROW_COLUMNS):
        row = [kind_title(str(r["rater_kind"])), str(r["a"]), str(r["b"])]
        if with_scope:
            row.append(str(r["scope"]).split(":", 1)[-1])
        row += [
            f"{fmt_int(r['n_pairs'])} ({fmt_int(r['n_prompts'])})",
            fmt_int(r["good_a"]),
            fmt_int(r["good_b"]),
            f"{100 * float(r['good_rate_difference']):+.1f} "
            f"{fmt_ci(r['good_rate_difference_low'], r['good_rate_difference_high'])}".strip(),
            f"{fmt_rel(r['rel_increase_good'])} "
            f"{fmt_ci(r['rel_increase_good_low'], r['rel_increase_good_high'], 1.0)}".strip(),
            f"{fmt_int(r['a_only_good'])} / {fmt_int(r['b_only_good'])}",
            fmt_p(r["mcnemar_p_adjusted"])
            + r["mcnemar_marker"]
            + (" (exact)" if r["mcnemar_exact"] else ""),
            f"{fmt_num(r['stuart_maxwell_statistic'])} (df {r['stuart_maxwell_df']})",
            fmt_p(r["stuart_maxwell_p_adjusted"]) + r["stuart_maxwell_marker"],
            str(r["stuart_maxwell_reason"] or ""),
        ]
        rows.append(row)
    return rows


def _paired_columns(a: Analysis, with_scope: bool) -> list[str]:
    p = "p" if a.options.correction == "none" else f"p ({a.options.correction})"
    ci = f"{round(a.options.confidence * 100)}% CI"
    return [
        "judge",
        "A",
        "B",
        *(["scope"] if with_scope else []),
        "pairs (prompts)",
        "Good A",
        "Good B",
        f"Good-rate difference, points [{ci}]",
        f"rel. increase [{ci}]",
        "Good for A only / B only",
        f"McNemar {p}",
        "Stuart-Maxwell chi2",
        p,
        "note",
    ]


def _paired_sections(a: Analysis) -> list[Section]:
    """The paired tests of the judges' comparisons (docs/design.md, "The method")."""
    s = Section("Paired tests (judges)")
    pf = a.paired
    if pf.empty:
        s.add(
            "No judge rated the baseline and another source, so there are no paired tests: the "
            "crowd's comparisons are between-subjects (different raters per source) and use the "
            "paper's chi-squared tests above."
        )
        return [s]
    s.add(
        "A judge rates the model's reply and the human reply to the same prompt, so its ratings "
        "are paired by prompt. Beside the paper's between-subjects chi-squared tests (the "
        "comparisons above, kept as they are), these use the pairing: McNemar's test on Good vs "
        "not Good, on the pairs where exactly one reply is Good (exact binomial below "
        f"{paired.MCNEMAR_EXACT_BELOW} such pairs), the Stuart-Maxwell test of the Bad/Okay/Good "
        "distribution, and bootstrap intervals that resample prompts "
        f"({a.options.resamples:,} resamples, seed {a.options.seed}; against the baseline, "
        "overall and per valence). Per emotion: in report.json (key paired)."
    )
    overall = _shown(a, pf[pf["scope"] == OVERALL])
    s.add(Table(_paired_columns(a, False), _paired_rows(overall, False)))
    v = Section("Paired tests by valence", level=3)
    valence = _shown(a, pf[pf["level"] == "valence"])
    v.add(Table(_paired_columns(a, True), _paired_rows(valence, True)))
    return [s, v]


def _power(a: Analysis) -> Section:
    o = a.options
    s = Section("Power")
    sizes = {
        df: stats.chi2_sample_size(o.effect, alpha=o.alpha, power=0.95, df=df) for df in (1, 2, 8)
    }
    s.add(
        f"For w = {o.effect}, alpha = {o.alpha} and power 0.95 (G*Power's method), a chi-squared "
        f"test needs {sizes[1]} ratings in all with 1 degree of freedom (the Good test), "
        f"{sizes[2]} with 2 (the distribution test) and {sizes[8]} with 8 (the authors' "
        "calculation). Below: the a-priori power this input's own sample sizes give for "
        f"w = {o.effect}. (Power at the observed w is not shown: it is a fixed function of the "
        "p-value.)"
    )
    c = a.comparisons
    rows = c[(c["scope"] == OVERALL) & c["vs_baseline"]] if not c.empty else c
    s.add(
        Table(
            [
                "rater",
                "A",
                "B",
                "n (both)",
                f"power, Good test, w={o.effect}",
                "observed w (Good)",
                f"power, dist test, w={o.effect}",
                "observed w (dist)",
            ],
            [
                [
                    kind_title(str(r["rater_kind"])),
                    str(r["a"]),
                    str(r["b"]),
                    fmt_int(r["n_a"] + r["n_b"]),
                    fmt_power(r["power_good_w"]),
                    fmt_num(r["good_cramers_v"], 3),
                    fmt_power(r["power_dist_w"]),
                    fmt_num(r["dist_cramers_v"], 3),
                ]
                for r in _records(rows, list(rows.columns))
            ],
        )
    )
    return s


def _clusters_section(a: Analysis) -> Section:
    o = a.options
    s = Section("Rater clusters")
    s.add(
        "The intervals and tests above treat ratings as independent, but a crowd rater rates a "
        "batch of replies, and a lenient rater makes a whole batch Good: their ratings are "
        "clustered. Here, overall, whole clusters are resampled: raters for the crowd, prompts for "
        f"a judge (one judge gives every rating). {round(o.confidence * 100)}% percentile cluster "
        f"bootstrap ({o.resamples:,} resamples, seed {o.seed}); the design effect is the Good "
        "rate's cluster-robust variance over its variance under independence. Beside the paper's "
        "chi-squared, the Rao-Scott test divides the uncorrected 2x2 statistic by the design "
        "effect of the difference (in report.json: good_rs_chi2, good_rs_p). Computed overall "
        "only: per valence and emotion, a rater's batch is split and the clusters are small."
    )
    c = a.comparisons
    rs = {}
    if not c.empty:
        vs = c[(c["scope"] == OVERALL) & c["vs_baseline"]]
        rs = {(k, b): p for k, b, p in zip(vs["rater_kind"], vs["b"], vs["good_rs_p"])}
    g = a.overall_groups().set_index(["rater_kind", "source"])
    rows = []
    for r in _records(a.clusters, list(a.clusters.columns)):
        key = (r["rater_kind"], r["source"])
        rows.append(
            [
                kind_title(str(r["rater_kind"])),
                str(r["source"]),
                str(r["unit"]),
                fmt_int(r["clusters"]),
                fmt_int(r["largest_cluster"]),
                fmt_num(r["design_effect"]),
                f"{fmt_rate(g.loc[key, 'good_rate'])} "
                f"{fmt_ci(r['good_rate_cluster_low'], r['good_rate_cluster_high'])}",
                fmt_ci(g.loc[key, "good_rate_low"], g.loc[key, "good_rate_high"]),
                "baseline" if r["source"] == o.baseline else fmt_p(rs.get(key)),
            ]
        )
    s.add(
        Table(
            [
                "rater",
                "source",
                "unit resampled",
                "clusters",
                "largest",
                "design effect",
                "Good rate [cluster CI]",
                "Wilson CI (independent)",
                "p, Rao-Scott Good test",
            ],
            rows,
        )
    )
    return s


def _families(a: Analysis) -> Section:
    s = Section("Multiple comparisons")
    name = {"none": "none", "holm": "Holm", "bh": "Benjamini-Hochberg"}[a.options.correction]
    s.add(
        f"Correction: {name}. A family is one rater kind x one test x one level; p-values are "
        "adjusted within their family only"
        + (
            " (no adjustment is made with 'none'; the families are listed for reference)."
            if name == "none"
            else "."
        )
    )
    s.add(
        Table(
            ["family", "rater", "test", "level", "tests"],
            [
                [f.name, kind_title(f.rater_kind), TESTS[f.test], f.level, str(f.size)]
                for f in a.families
            ],
        )
    )
    return s


def _agreement_sections(a: Analysis, figures: dict[str, bytes]) -> list[Section]:
    s = Section("Agreement between rater kinds")
    if not a.agreement:
        s.add(
            "No reply was rated by two kinds of rater, so agreement is not measured. When a judge "
            "rates the replies that the crowd rated (or two judges rate the same replies), this "
            "section shows how far one can stand in for the other."
        )
        return [s]
    s.add(
        "Where two kinds of rater rated the same (dialog, source) replies: weighted Cohen's kappa "
        "(linear, quadratic), Krippendorff's alpha (ordinal), the confusion matrix, the difference "
        "in Good rate, and whether the second kind ranks the sources by Good rate in the first "
        "kind's order (Kendall's tau)."
    )
    out = [s]
    for i, ag in enumerate(a.agreement):
        sub = Section(f"{kind_title(ag.other)} vs {kind_title(ag.reference)}", level=3)
        o = ag.overall
        if len(ag.per_source) < 2:
            ranking = "Ranking of sources: n/a (one source rated by both)."
        else:
            tau = "n/a" if is_nan(ag.rank.tau) else f"{ag.rank.tau:.2f}"
            ranking = (
                f"Same order of sources: {'yes' if ag.rank.same_order else 'no'} "
                f"(Kendall's tau {tau}, {len(ag.per_source)} sources)."
            )
        sub.add(
            f"{o.n:,} replies rated by both. Kappa (linear) {fmt_num(o.kappa_linear, 3)}, "
            f"kappa (quadratic) {fmt_num(o.kappa_quadratic, 3)}, Krippendorff's alpha (ordinal) "
            f"{fmt_num(o.alpha_ordinal, 3)}. Good rate {fmt_rate(o.good_rate_a)} by "
            f"{kind_title(ag.reference)}, {fmt_rate(o.good_rate_b)} by {kind_title(ag.other)} "
            f"(difference {100 * o.good_rate_difference:+.1f} points). {ranking}"
            + (
                f" {ag.duplicates_dropped:,} extra ratings of a reply by the same kind were not "
                "paired."
                if ag.duplicates_dropped
                else ""
            )
        )
        sub.add(
            Table(
                [
                    "source",
                    "n",
                    "kappa (linear)",
                    "kappa (quadratic)",
                    "alpha (ordinal)",
                    f"Good rate, {ag.reference}",
                    f"Good rate, {ag.other}",
                    "difference (points)",
                ],
                [
                    [
                        src,
                        fmt_int(r.n),
                        fmt_num(r.kappa_linear, 3),
                        fmt_num(r.kappa_quadratic, 3),
                        fmt_num(r.alpha_ordinal, 3),
                        fmt_rate(r.good_rate_a),
                        fmt_rate(r.good_rate_b),
                        f"{100 * r.good_rate_difference:+.1f}",
                    ]
                    for src, r in ag.per_source
                ],
            )
        )
        sub.add(
            Table(
                [f"{ag.reference} (rows) / {ag.other} (columns)", *LABELS],
                [[label, *(fmt_int(x) for x in row)] for label, row in zip(LABELS, o.confusion)],
                caption="Confusion matrix (rows: reference kind, columns: other kind)",
            )
        )
        name = f"confusion_{i + 1}.png"
        if name in figures:
            sub.add(Figure(name, f"Confusion matrix, {ag.other} vs {ag.reference}", figures[name]))
        out.append(sub)
    return out


def _calibration_sections(a: Analysis) -> list[Section]:
    """The judges' calibration to the crowd, their report cards and the crowd-equivalent rows."""
    if not a.calibrations:
        return []
    s = Section("Crowd-equivalent results")
    s.add(
        "A judge's scale is not the crowd's. Each calibrated judge's answers are mapped onto the "
        "crowd's Bad / Okay / Good distribution with P(crowd label | judge label), fitted on the "
        "judge's ratings of the stored replies that the crowd rated (each row smoothed towards "
        "the pooled crowd distribution). Leave-one-source-out: fitted on the other stored "
        "sources, the map predicts each stored source's crowd Good rate; the RMS error of those "
        "predictions is how well it carries to a new model. A crowd-equivalent interval is a "
        "bootstrap interval (the calibration replies, the source's replies and the crowd's human "
        "group resampled together) with each side widened by the transfer error: the "
        "between-source SD of the leave-one-source-out errors once their own sampling noise is "
        "subtracted (random effects; 0 when the map carries exactly), added in quadrature with "
        "Student's t on Welch-Satterthwaite degrees of freedom, at most the calibrating sources "
        "- 1, as that SD rests on so few sources."
    )
    if a.crowd_equivalent:
        s.add(
            Table(
                [
                    "source",
                    "judge",
                    "calibrating sources",
                    "transfer SD (points)",
                    "judge Good rate (sources' range)",
                    "outside the range (points)",
                    "warning",
                ],
                [
                    [
                        ce["source"],
                        ce["judge"],
                        fmt_int(ce.get("calibrating_sources", 0)),
                        f"{100 * ce.get('transfer_sd', float('nan')):.1f}",
                        _judge_range(ce),
                        f"{100 * ce.get('extrapolation', float('nan')):.1f}",
                        "; ".join(ce.get("warnings") or []) or "none",
                    ]
                    for ce in a.crowd_equivalent
                ],
            )
        )
    out = [s]
    for c in a.calibrations:
        sub = Section(f"Judge {c.judge}: leave-one-source-out", level=3)
        loso = c.loso()
        sub.add(
            f"Calibration: {c.origin or 'given'}; judge prompt {c.judge_prompt_version}. RMS "
            f"error of the predicted Good rate {100 * loso.rms_error:.1f} points (largest "
            f"{100 * loso.max_abs_error:.1f})."
        )
        sub.add(
            Table(
                [
                    "held-out source",
                    "n",
                    "crowd Good rate",
                    "judge Good rate (judge's scale)",
                    "calibrated from the others",
                    "error (points; a share x 100)",
                ],
                [
                    [
                        r.source,
                        fmt_int(r.n),
                        fmt_rate(r.crowd_good_rate),
                        fmt_rate(r.judge_good_rate),
                        fmt_rate(r.calibrated_good_rate),
                        f"{100 * r.error:+.1f}",
                    ]
                    for r in loso.rows
                ],
            )
        )
        out.append(sub)
    out.append(_judge_card(a))
    return out


def _judge_range(ce: dict[str, Any]) -> str:
    """A source's judge Good rate beside the calibrating sources' range of it."""
    low, high = ce.get("judge_good_range") or (float("nan"), float("nan"))
    if is_nan(low) or is_nan(high):
        return fmt_rate(ce["judge_good_rate"])
    return f"{fmt_rate(ce['judge_good_rate'])} (sources {fmt_rate(low)} to {fmt_rate(high)})"


def _judge_card(a: Analysis) -> Section:
    s = Section("Is the judge good enough? The judge's report card", level=3)
    s.add(
        "One row per judge, against single crowd ratings of the same stored replies: exact "
        "agreement, quadratic-weighted kappa and ordinal Krippendorff's alpha, beside the human "
        "ceiling (the study's pilot: weighted kappa between two crowd raters); the "
        "leave-one-source-out RMS error; whether the judge orders the stored sources by Good "
        "rate as the crowd does; parse rate, tokens, seconds (wall time, cache hits included) and "
        "price per 1,000 ratings from its logs; length bias (odds ratio of Good per doubling of "
        "the reply's length at a fixed crowd rating, from a logistic regression; 1 = none); "
        "source bias (judge minus crowd Good rate per stored source, points); repeatability "
        "(exact agreement of two uncached ratings of the same reply)."
    )

    def num(card: dict[str, Any], key: str, digits: int = 3) -> str:
        v = card.get(key)
        return fmt_num(float("nan") if v is None else v, digits)

    rows = []
    cards = [(c.judge, c.card) for c in a.calibrations]
    if a.panel is not None:
        cards.append((a.panel["card"]["judge"], a.panel["card"]))
    for judge, card in cards:
        lb = card.get("length_bias") or {}
        rep = card.get("repeatability") or {}
        order = card.get("same_order_as_crowd")
        bias = ", ".join(
            f"{b['source']} {100 * b['difference']:+.1f}" for b in card.get("source_bias") or []
        )
        tokens = (
            f"{num(card, 'input_tokens_per_1000', 0)} in / "
            f"{num(card, 'output_tokens_per_1000', 0)} out"
        )
        ratio = lb.get("odds_ratio_per_doubling")
        rows.append(
            [
                judge,
                fmt_int(card.get("pairs")),
                fmt_rate(card.get("exact_agreement")),
                num(card, "kappa_quadratic"),
                num(card, "alpha_ordinal"),
                num(card, "human_ceiling_kappa", 2),
                f"{100 * card['loso_rms_error']:.1f}"
                if not is_nan(card.get("loso_rms_error"))
                else "n/a",
                "n/a" if order is None else ("yes" if order else "no"),
                fmt_rate(card.get("parse_rate")),
                tokens,
                num(card, "seconds_per_1000", 1),
                num(card, "price_per_1000", 4),
                "n/a"
                if ratio is None or is_nan(ratio)
                else f"{ratio:.2f} [{lb['ci'][0]:.2f}, {lb['ci'][1]:.2f}]",
                bias,
                "n/a" if not rep else f"{fmt_rate(rep.get('exact'))} of {fmt_int(rep.get('n'))}",
            ]
        )
    s.add(
        Table(
            [
                "judge",
                "replies",
                "exact agreement",
                "kappa (quadratic)",
                "alpha (ordinal)",
                "human ceiling (kappa)",
                "LOSO RMS error (points)",
                "crowd's order",
                "parse rate",
                "tokens / 1,000",
                "seconds / 1,000",
                "price / 1,000",
                "length bias (OR per doubling)",
                "source bias (points)",
                "repeatability",
            ],
            rows,
        )
    )
    return s


def _quality(a: Analysis) -> Section:
    s = Section("Rater quality")
    q = a.rater_quality
    if q.empty:
        s.add(
            "No TEQ answers in the input (the optional teq column), so rater quality is not shown."
        )
        return s
    s.add(
        "Toronto Empathy Questionnaire totals (16 items scored 0-4, items 2, 4, 7, 10, 11, 12, 14 "
        "and 15 reverse-keyed; total 0-64), each rater counted once per group. As an attention "
        "check, the reverse-keyed items describe a lack of empathy: answering Often or Always to "
        "them while scoring high elsewhere suggests inattentive answering."
    )
    s.add(
        Table(
            [
                "rater",
                "source",
                "raters",
                "TEQ mean (SD)",
                "min-max",
                "share answering Often/Always to >= 1 reverse-keyed item",
                "mean count of such items",
            ],
            [
                [
                    "all raters" if r["rater_kind"] == "all" else kind_title(str(r["rater_kind"])),
                    str(r["source"]),
                    fmt_int(r["raters"]),
                    f"{fmt_num(r['mean_total'], 1)} ({fmt_num(r['sd_total'], 1)})",
                    f"{fmt_num(r['min_total'], 0)}-{fmt_num(r['max_total'], 0)}",
                    fmt_rate(r["share_reverse_often"]),
                    fmt_num(r["mean_reverse_often"], 2),
                ]
                for _, r in q.iterrows()
            ],
        )
    )
    return s


def _plots_section(a: Analysis, figures: dict[str, bytes]) -> Section:
    s = Section("Figures")
    if "ratings_by_source.png" in figures:
        s.add(
            Figure(
                "ratings_by_source.png",
                "Bad / Okay / Good per source",
                figures["ratings_by_source.png"],
            )
        )
    for name in sorted(n for n in figures if n.startswith("valence_")):
        s.add(Figure(name, "Good rate by valence with Wilson intervals", figures[name]))
    for name in sorted(n for n in figures if n.startswith("heatmap_")):
        s.add(
            Figure(
                name,
                "Good rate per emotion and source (percent); stars: the source's Good rate "
                f"differs from the baseline's at that emotion (p with "
                f"{CORRECTION_NAMES[a.options.correction]}, within its family; * p < .05, "
                "** p < .01, *** p < .001)",
                figures[name],
            )
        )
    forests = sorted((n for n in figures if n.startswith("forest_")), key=lambda n: int(n[7:-4]))
    for name in forests:
        s.add(
            Figure(
                name,
                "Relative increase in Good per emotion against the baseline, with Katz log "
                "intervals; stars: * p < .05, ** p < .01, *** p < .001",
                figures[name],
            )
        )
    return s


def _ppi_sections(a: Analysis) -> list[Section]:
    """Crowd ratings of part of a source plus a judge's of all of it (only where such data exist)."""
    if not a.ppi:
        return []
    level = round(a.options.confidence * 100)
    s = Section("A small crowd sample plus the judge (prediction-powered inference)")
    s.add(
        "Where the crowd rated some of a source's replies and a judge rated all of them, the "
        "crowd's Good rate over all the replies is estimated by prediction-powered inference "
        "(PPI++, Angelopoulos et al. 2023): the judge's mean prediction over the replies the crowd "
        "did not rate, corrected by the judge's error measured on those it did, "
        "theta = lam x mean(f, unrated) + mean(crowd Good - lam x f, rated). The prediction f is "
        "the judge's P(Good) where it gave answer probabilities, else its Good label; lam weighs "
        "the judge by how well it predicts the crowd (1: fully, 0: not at all, leaving the crowd's "
        "own estimate), chosen to make the interval narrowest. The estimate is in the crowd's "
        f"units, whatever the judge's scale. {level}% normal intervals (ppi-python); the crowd-only "
        "interval is the normal interval of the crowd-rated replies alone, and the effective "
        "sample size is how many crowd ratings alone would give the PPI interval's width. A crowd "
        "rater rates a whole batch, so the crowd's terms of both intervals are cluster-robust "
        "over the batches (the judge's term is per reply), with Student's t on batches - 1 "
        "degrees of freedom instead of the normal quantile (a variance from a few batches is "
        "itself uncertain). It assumes the crowd-rated batches are a random choice of the "
        "study's batches."
    )
    rows = []
    for row in a.ppi:
        r = row.result
        rows.append(
            [
                row.source,
                kind_title(row.judge),
                row.prediction,
                f"{fmt_int(r.n_labelled)} ({fmt_int(r.n_clusters)} batches)",
                fmt_int(r.n_unlabelled),
                f"{fmt_rate(r.estimate)} {fmt_ci(*r.interval)}",
                f"{fmt_rate(r.classical_estimate)} {fmt_ci(*r.classical_interval)}",
                "n/a" if is_nan(r.effective_n) else fmt_int(round(r.effective_n)),
                fmt_num(r.lam),
            ]
        )
    s.add(
        Table(
            [
                "source",
                "judge",
                "judge's prediction",
                "crowd-rated",
                "judge only",
                "Good rate, PPI [CI]",
                "crowd only [CI]",
                "effective crowd ratings",
                "lam",
            ],
            rows,
        )
    )
    unused = [(row.source, row.crowd_unjudged) for row in a.ppi if row.crowd_unjudged]
    for source, n in unused:
        s.add(f"{source}: {n:,} crowd-rated replies the judge did not rate are not used.")
    return [s]


def build_document(
    a: Analysis, figures: dict[str, bytes], inputs: Sequence[LoadedInput] = ()
) -> list[Section]:
    """The report as sections, shared by the Markdown and HTML renderers."""
    return [
        _overview(a, inputs),
        _leaderboard(a),
        *_self_preference(a),
        *_comparisons(a),
        *between_sections(a, figures),
        *_paired_sections(a),
        _power(a),
        _clusters_section(a),
        *_agreement_sections(a, figures),
        *_ppi_sections(a),
        *_calibration_sections(a),
        *_panel_sections(a),
        *_repeatability(a),
        _quality(a),
        _families(a),
        _plots_section(a, figures),
        _method(a),
    ]


# --- several judges (analysis/judge_panel.py) ---------------------------------------------------


def _panel_leaderboard_rows(a: Analysis) -> list[list[str]]:
    """The panel's crowd-equivalent Good rate of each source, in the leaderboard's columns."""
    if a.panel is None:
        return []
    rows = []
    for ce in a.panel["crowd_equivalent"]:
        rows.append(
            [
                ce["source"],
                f"crowd-equivalent (panel of {len(ce['judges'])} judges)",
                fmt_int(ce["n"]),
                "",
                "",
                f"{ce['good_rate'] * ce['n']:,.1f}",
                f"{fmt_rate(ce['good_rate'])} {fmt_ci(*ce['good_rate_ci'])}",
                "",
                f"{fmt_rel(ce['rel_increase_good'])} {fmt_ci(*ce['rel_increase_good_ci'], 1.0)}",
                "interval only",
                "",
                "",
                "",
                "",
            ]
        )
    for js in a.panel["judge_scale"]:
        rows.append(
            [
                js["source"],
                js["rater"],
                fmt_int(js["n_prompts"]),
                "",
                "",
                "",
                fmt_rate(js["good_rate"]),
                "",
                f"{fmt_rel(js['rel_increase_good'])} (vs the vote on the human replies)",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    return rows


def _self_preference(a: Analysis) -> list[Section]:
    if not a.self_preference:
        return []
    s = Section("Self-preference warning", level=3)
    s.add(
        "A judge that shares a provider or a model family with the model it rates may favour "
        "it (judges tend to prefer replies like their own). Its ratings of that source stand, "
        "but read them with care; with a panel, the result without those judges is under "
        "'Several judges'."
    )
    s.add(
        Table(
            ["source", "judge", "why"],
            [[p["source"], p["judge"], p["reason"]] for p in a.self_preference],
        )
    )
    return [s]


def _panel_sections(a: Analysis) -> list[Section]:
    """The panel: its pooled crowd-equivalent results, its validation, each judge's source bias."""
    p = a.panel
    if p is None:
        return []
    judges = p["judges"]
    s = Section("Several judges: the panel")
    s.add(
        f"{len(judges)} judges, each calibrated to the crowd on its own, pooled in the crowd's "
        f"units with weights from their leave-one-source-out errors ({p['weighting']}: "
        + ", ".join(f"{j} {w:.2f}" for j, w in p["weights"].items())
        + "). The panel is validated leaving one stored source out, its weights chosen without "
        "the held-out source. Its interval is a bootstrap that resamples the replies with every "
        "judge's rating of them together (so the judges' correlated errors are in it), widened "
        "by the panel's leave-one-source-out RMS error times a t quantile. The panel vote (the "
        "median of the judges' labels) is on the judges' own scale and is labelled so."
    )
    conf = round(a.options.confidence * 100)
    rows = []
    for ce in p["crowd_equivalent"]:
        without = ce.get("without")
        rows.append(
            [
                ce["source"],
                fmt_int(ce["n"]),
                f"{fmt_rate(ce['good_rate'])} {fmt_ci(*ce['good_rate_ci'])}",
                f"{fmt_rel(ce['rel_increase_good'])} {fmt_ci(*ce['rel_increase_good_ci'], 1.0)}",
                ", ".join(f"{j} {fmt_rate(g)}" for j, g in ce["judge_good_rates"].items()),
                "n/a"
                if without is None
                else f"{fmt_rate(without['good_rate'])} {fmt_ci(*without['good_rate_ci'])} "
                f"({' + '.join(without['judges'])})",
            ]
        )
    s.add(
        Table(
            [
                "source",
                "prompts",
                f"panel Good rate, crowd-equivalent [{conf}% CI]",
                "rel. increase vs crowd human [CI]",
                "each judge, calibrated",
                "without self-preferring judges",
            ],
            rows,
        )
    )
    loso = Section("The panel: leave-one-source-out", level=3)
    loso.add(
        f"RMS error of the panel's predicted Good rate {100 * p['loso_rms_error']:.1f} points; "
        "each judge's own: "
        + ", ".join(f"{j} {100 * e:.1f}" for j, e in p["judge_loso_rms_error"].items())
        + "."
    )
    loso.add(
        Table(
            ["held-out source", "crowd Good rate", *judges, "panel", "error (points)"],
            [
                [
                    r["source"],
                    fmt_rate(r["crowd_good_rate"]),
                    *(fmt_rate(r["judge_calibrated_good_rates"][j]) for j in judges),
                    fmt_rate(r["panel_good_rate"]),
                    f"{100 * r['error']:+.1f}",
                ]
                for r in p["loso"]
            ],
        )
    )
    bias = Section("Source bias per judge", level=3)
    bias.add(
        "Judge minus crowd Good rate on the same stored replies, in points (the study's 2026 "
        "extension found judges favour LLM-written replies); the panel's row is its vote."
    )
    sources = list(dict.fromkeys(b["source"] for b in p["source_bias"]))
    table_rows = []
    for who, items in [
        *((j, [b for b in p["source_bias"] if b["judge"] == j]) for j in judges),
        (p["card"]["judge"] + " (vote)", p["card"]["source_bias"]),
    ]:
        by = {b["source"]: b["difference"] for b in items}
        table_rows.append([who, *(f"{100 * by[x]:+.1f}" if x in by else "n/a" for x in sources)])
    bias.add(Table(["judge", *sources], table_rows))
    return [s, loso, bias]
