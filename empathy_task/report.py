"""Render an :class:`~empathy_task.analysis.Analysis` as Markdown, self-contained HTML and JSON.

``report.json`` keeps the stable keys of docs/design.md exactly:

- ``groups``: keyed by source, ``{"n", "counts": {"Bad", "Okay", "Good"}}``, for the *primary* rater
  kind: the first kind (the crowd first, then judges in order of appearance) that rated the
  baseline. The same source can be rated by several kinds, so ``groups_by_rater`` holds every kind:
  ``{rater_kind: {source: {...}}}``. Both add ``good_rate``, ``good_rate_ci``, ``mean_rating``,
  ``rater_kind`` and per-scope counts under ``scopes``.
- ``comparisons``: one object per (rater kind, a, b, scope) with ``a, b, scope, n_a, n_b, good_a,
  good_b, rel_increase_good`` (percent), ``good_chi2, good_p`` (2x2, Yates), ``dist_chi2, dist_p``
  (2x3); added: ``rater_kind, vs_baseline, level``, Good rates, ``rel_increase_good_rate``,
  interval bounds ``rel_increase_good_low/high`` (comparisons with the baseline),
  ``*_p_adjusted``, ``*_marker``, ``*_cramers_v``, ``*_reason`` (why a statistic is null),
  ``family_*`` and, overall against the baseline, the a-priori ``power_*_w``.
- added: ``intervals`` (the method of each interval), ``clusters`` (the cluster bootstrap and
  design effects; ``good_rs_chi2, good_rs_p`` in the overall comparisons), ``families``, ``descriptive_only``, ``power``, ``agreement``, ``rater_quality``,
  ``published`` (the paper's reference rows, never mixed with computed ones), ``inputs``.

NaN becomes ``null``; floats are written at full (``repr``) precision. Everything is rendered in memory; :func:`write_report` then moves the files
into place, so a failure leaves no partial report.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from empathy_task import stats
from empathy_task._io import OutputExistsError, atomic_paths
from empathy_task.analysis import OVERALL, TESTS, Analysis, KindAgreement
from empathy_task.inputs import LoadedInput
from empathy_task.ratings import CROWD

FORMATS: tuple[str, ...] = ("md", "html", "json")
FILE_NAMES: dict[str, str] = {"md": "report.md", "html": "report.html", "json": "report.json"}
SCHEMA = "empathy-task-report/1"

# --- a small document model shared by the Markdown and HTML renderers ----------------------------


@dataclass
class Paragraph:
    text: str
    kind: str = "paragraph"


def _escape(text: str) -> str:
    """HTML-escaped text, exactly as Jinja's autoescape (markupsafe) writes it."""
    return (
        text.replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    kind: str = "table"

    @property
    def body_html(self) -> Any:
        """The rows as escaped HTML, one ``<tr>`` a line: a report's tables hold tens of
        thousands of cells, which Jinja would escape one Markup object at a time."""
        from markupsafe import Markup

        lines = []
        for row in self.rows:
            text = "\x1f".join(map(str, row))  # one escape per row, not per cell
            if text.count("\x1f") == len(row) - 1:
                lines.append("<tr><td>" + _escape(text).replace("\x1f", "</td><td>") + "</td></tr>")
            else:  # a cell holds the separator itself
                lines.append("<tr>" + "".join(f"<td>{_escape(str(c))}</td>" for c in row) + "</tr>")
        return Markup("\n".join(lines))


@dataclass
class Figure:
    file_name: str
    caption: str
    png: bytes
    kind: str = "figure"

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Section:
    title: str
    level: int = 2
    blocks: list[Paragraph | Table | Figure] = field(default_factory=list)

    def add(self, block: Paragraph | Table | Figure | str) -> None:
        self.blocks.append(Paragraph(block) if isinstance(block, str) else block)


@dataclass(frozen=True)
class RenderedReport:
    """The report's files as bytes, keyed by file name."""

    files: dict[str, bytes]


# --- formatting ---------------------------------------------------------------------------------


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float | np.floating) and math.isnan(x))


def fmt_int(x: Any) -> str:
    return "n/a" if _nan(x) else f"{int(x):,}"


def fmt_rate(x: Any) -> str:
    return "n/a" if _nan(x) else f"{100 * float(x):.1f}%"


def fmt_ci(low: Any, high: Any, scale: float = 100.0) -> str:
    if _nan(low) or _nan(high):
        return ""
    return f"[{scale * float(low):.1f}, {scale * float(high):.1f}]"


def fmt_rel(x: Any) -> str:
    return "n/a" if _nan(x) else f"{float(x):+.1f}%"


def fmt_p(p: Any) -> str:
    if _nan(p):
        return "n/a"
    p = float(p)
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def fmt_num(x: Any, digits: int = 2) -> str:
    return "n/a" if _nan(x) else f"{float(x):.{digits}f}"


def fmt_power(x: Any) -> str:
    if _nan(x):
        return "n/a"
    return "> 0.999" if float(x) > 0.9995 else f"{float(x):.3f}"


def _kind_title(kind: str) -> str:
    return "crowd raters" if kind == CROWD else f"judge {kind}"


# --- sections -----------------------------------------------------------------------------------


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
        f"(Good_b - Good_a) / Good_a x 100, with {o.baseline!r} as the baseline. The Good increase "
        "is tested with a chi-squared test on the 2x2 table Good vs not Good x the two sources, "
        "with Yates' continuity correction; the rating distribution with a chi-squared test on the "
        "2x3 Bad/Okay/Good table. Both run overall, per valence and per emotion, for every source "
        "against the baseline and for every pair of sources."
    )
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
        "the relative increase against the baseline, the a-priori power of each comparison, "
        "agreement between rater kinds, and rater quality from the Toronto Empathy "
        "Questionnaire (TEQ)."
    )
    s.add(
        "Intervals: a Good rate's is the Wilson score interval; the relative increase's is the "
        "Katz log interval of the ratio of the two Good rates, with 0.5 added to each count "
        "(converted to the count-based relative increase by n_B / n_A). Both are closed forms: "
        "they hold at small counts (a group with no Good rating still gets a non-empty interval), "
        "need no resampling, and identical counts get identical intervals in every scope. Every "
        "group and every comparison with the baseline, in every scope, has one; the relative "
        "increase has none where the baseline has no Good rating (it is undefined). They treat "
        "ratings as independent. Power is given only a priori, at the planned effect size "
        f"w = {o.effect}: power at the observed effect is a fixed function of the p-value and "
        "adds nothing to it."
    )
    return s


def _overview(a: Analysis, inputs: Sequence[LoadedInput]) -> Section:
    s = Section("Inputs")
    kinds = ", ".join(f"{_kind_title(k)} ({len(a.sources[k])} sources)" for k in a.rater_kinds)
    s.add(f"{a.n_ratings:,} ratings by {kinds}. Baseline: {a.options.baseline}.")
    if inputs:
        s.add(
            Table(
                ["input", "kind", "ratings", "sources"],
                [[i.path, i.kind, fmt_int(i.ratings), ", ".join(i.sources)] for i in inputs],
            )
        )
    for note in a.notes:
        s.add(note)
    return s


def _overall_groups(a: Analysis) -> pd.DataFrame:
    return a.groups[a.groups["scope"] == OVERALL]


def _leaderboard(a: Analysis) -> Section:
    s = Section("Leaderboard")
    s.add(
        "Computed from the input, grouped by rater kind; each source is compared with the "
        f"baseline {a.options.baseline!r} rated by the same kind of rater. Sorted by Good rate."
    )
    g = _overall_groups(a)
    c = a.comparisons
    vs_frame = c[(c["scope"] == OVERALL) & c["vs_baseline"]]
    vs = {
        (r["rater_kind"], r["b"]): r
        for r in _records(
            vs_frame,
            [
                "rater_kind",
                "b",
                "rel_increase_good",
                "good_marker",
                "rel_increase_good_low",
                "rel_increase_good_high",
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
    rows = []
    for kind in a.rater_kinds:
        part = g[g["rater_kind"] == kind].sort_values("good_rate", ascending=False, kind="stable")
        for r in part.to_dict("records"):
            row = [
                str(r["source"]),
                _kind_title(kind),
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
                    f"{fmt_rel(v['rel_increase_good'])}{v['good_marker']} "
                    f"{fmt_ci(v['rel_increase_good_low'], v['rel_increase_good_high'], 1.0)}",
                    fmt_num(v["good_chi2"]),
                    fmt_p(v["good_p_adjusted"]),
                    fmt_num(v["dist_chi2"]),
                    fmt_p(v["dist_p_adjusted"]) + v["dist_marker"],
                    fmt_num(v["dist_cramers_v"], 3),
                ]
            else:
                row += ["descriptive only", "", "", "", "", ""]
            rows.append(row)
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
                "chi2 Good (2x2)",
                p_label,
                "chi2 dist (2x3)",
                p_label,
                "V (dist)",
            ],
            rows,
        )
    )
    if a.descriptive_only:
        s.add(
            Table(
                ["rater", "source", "why descriptive only"],
                [[_kind_title(k), src, why] for k, src, why in a.descriptive_only],
            )
        )
    return s


def _published(a: Analysis) -> Section:
    p = a.published
    s = Section("Published reference rows (not computed from your input)")
    s.add(
        "The paper's Good counts (Welivita & Pu, 2024), shipped with the package as reference "
        "rows. They are published figures, not recomputed here: GPT-4 in the paper is the "
        "chatgpt_empathy source of the authors' data. The relative increase and the Good test are "
        "computed against the published human count."
    )
    rows = []
    for _, r in p.iterrows():
        rows.append(
            [
                "published",
                str(r["source"]),
                _kind_title(str(r["rater_kind"])),
                fmt_int(r["n"]),
                fmt_int(r["Good"]),
                fmt_rate(r["good_rate"]),
                "baseline" if r["source"] == "human" else fmt_rel(r["rel_increase_good"]),
                fmt_num(r["good_chi2"]),
                fmt_p(r["good_p"]) + str(r["good_marker"]),
            ]
        )
    s.add(
        Table(
            [
                "row",
                "source",
                "rater",
                "n",
                "Good",
                "Good rate",
                "rel. increase vs published human",
                "chi2 Good (2x2)",
                "p",
            ],
            rows,
        )
    )
    return s


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
            row += [_kind_title(str(r["rater_kind"])), str(r["a"]), str(r["b"])]
        if with_scope:
            row.append(str(r["scope"]).split(":", 1)[-1])
        row += [
            fmt_int(r["n_a"]),
            fmt_int(r["n_b"]),
            fmt_int(r["good_a"]),
            fmt_int(r["good_b"]),
            f"{fmt_rel(r['rel_increase_good'])} "
            f"{fmt_ci(r['rel_increase_good_low'], r['rel_increase_good_high'], 1.0)}".strip(),
            fmt_num(r["good_chi2"]),
            fmt_p(r["good_p_adjusted"]) + r["good_marker"],
            fmt_num(r["dist_chi2"]),
            fmt_p(r["dist_p_adjusted"]) + r["dist_marker"],
            fmt_num(r["dist_cramers_v"], 3),
            str(reason),
        ]
        rows.append(row)
    return rows


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
        sub = Section(f"{y} vs {x} ({_kind_title(str(kind))})", level=3)
        sub.add(Table(_comparison_columns(a, True, False), rows))
        out.append(sub)
    return out


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
                    _kind_title(str(r["rater_kind"])),
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
    g = _overall_groups(a).set_index(["rater_kind", "source"])
    rows = []
    for r in _records(a.clusters, list(a.clusters.columns)):
        key = (r["rater_kind"], r["source"])
        rows.append(
            [
                _kind_title(str(r["rater_kind"])),
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
                [f.name, _kind_title(f.rater_kind), TESTS[f.test], f.level, str(f.size)]
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
        sub = Section(f"{_kind_title(ag.other)} vs {_kind_title(ag.reference)}", level=3)
        o = ag.overall
        if len(ag.per_source) < 2:
            ranking = "Ranking of sources: n/a (one source rated by both)."
        else:
            tau = "n/a" if _nan(ag.rank.tau) else f"{ag.rank.tau:.2f}"
            ranking = (
                f"Same order of sources: {'yes' if ag.rank.same_order else 'no'} "
                f"(Kendall's tau {tau}, {len(ag.per_source)} sources)."
            )
        sub.add(
            f"{o.n:,} replies rated by both. Kappa (linear) {fmt_num(o.kappa_linear, 3)}, "
            f"kappa (quadratic) {fmt_num(o.kappa_quadratic, 3)}, Krippendorff's alpha (ordinal) "
            f"{fmt_num(o.alpha_ordinal, 3)}. Good rate {fmt_rate(o.good_rate_a)} by "
            f"{_kind_title(ag.reference)}, {fmt_rate(o.good_rate_b)} by {_kind_title(ag.other)} "
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
                [f"{ag.reference} (rows) / {ag.other} (columns)", "Bad", "Okay", "Good"],
                [
                    [label, *(fmt_int(x) for x in row)]
                    for label, row in zip(stats.LABELS, o.confusion)
                ],
                caption="Confusion matrix (rows: reference kind, columns: other kind)",
            )
        )
        name = f"confusion_{i + 1}.png"
        if name in figures:
            sub.add(Figure(name, f"Confusion matrix, {ag.other} vs {ag.reference}", figures[name]))
        out.append(sub)
    return out


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
                    "all raters" if r["rater_kind"] == "all" else _kind_title(str(r["rater_kind"])),
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


# --- figures ------------------------------------------------------------------------------------


def render_figures(a: Analysis) -> dict[str, bytes]:
    """The report's PNGs, keyed by file name."""
    from empathy_task import plots

    figures: dict[str, bytes] = {}
    g = _overall_groups(a)
    labels = [
        f"{s}" if len(a.rater_kinds) == 1 else f"{s} ({_kind_title(k)})"
        for k, s in zip(g["rater_kind"], g["source"])
    ]
    figures["ratings_by_source.png"] = plots.rating_bars(
        labels, g[["Bad", "Okay", "Good"]].to_numpy(), "Ratings per source (computed)"
    )
    for i, kind in enumerate(a.rater_kinds, start=1):
        srcs = list(a.detail_sources[kind])
        v = a.groups[
            (a.groups["rater_kind"] == kind) & (a.groups["scope"].str.startswith("valence:"))
        ]
        v = v.set_index(["source", "scope"])
        idx = [(s, f"valence:{val}") for s in srcs for val in ("positive", "negative")]
        take = v.reindex(idx)
        shape = (len(srcs), 2)
        figures[f"valence_{i}.png"] = plots.valence_bars(
            srcs,
            take["good_rate"].to_numpy(float).reshape(shape),
            take["good_rate_low"].to_numpy(float).reshape(shape),
            take["good_rate_high"].to_numpy(float).reshape(shape),
            ("positive", "negative"),
            f"Good rate by valence, {_kind_title(kind)}",
        )
    c = a.comparisons
    if not c.empty:
        emo = c[(c["level"] == "emotion") & c["vs_baseline"].to_numpy()]
        overall = c[(c["scope"] == OVERALL) & c["vs_baseline"].to_numpy()]
        overall = overall.set_index(["rater_kind", "b"])["rel_increase_good"]
        labels = list(a.scopes[3:])
        for i, kind in enumerate(a.rater_kinds, start=1):
            if a.options.baseline not in a.sources[kind]:
                continue  # descriptive only: nothing was compared
            panels = []
            for source in a.detail_sources[kind]:
                if source == a.options.baseline:
                    continue
                part = emo[(emo["rater_kind"] == kind) & (emo["b"] == source)]
                part = part.set_index("scope").reindex(labels)
                panels.append(
                    plots.ForestPanel(
                        f"{source} vs {a.options.baseline}",
                        part["rel_increase_good"].to_numpy(float),
                        part["rel_increase_good_low"].to_numpy(float),
                        part["rel_increase_good_high"].to_numpy(float),
                        [m if isinstance(m, str) else "" for m in part["good_marker"]],
                        float(overall.get((kind, source), np.nan)),
                    )
                )
            if panels:
                figures[f"forest_{i}.png"] = plots.forest_plot(
                    [s.split(":", 1)[1] for s in labels],
                    panels,
                    f"Relative increase in Good per emotion ({_kind_title(kind)})",
                )
    for i, ag in enumerate(a.agreement, start=1):
        figures[f"confusion_{i}.png"] = plots.confusion_plot(
            np.array(ag.overall.confusion),
            ag.reference,
            ag.other,
            f"{ag.other} vs {ag.reference}",
        )
    return figures


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


def build_document(
    a: Analysis, figures: dict[str, bytes], inputs: Sequence[LoadedInput] = ()
) -> list[Section]:
    """The report as sections, shared by the Markdown and HTML renderers."""
    return [
        _overview(a, inputs),
        _leaderboard(a),
        _published(a),
        *_comparisons(a),
        _power(a),
        _clusters_section(a),
        *_agreement_sections(a, figures),
        _quality(a),
        _families(a),
        _plots_section(a, figures),
        _method(a),
    ]


# --- renderers ----------------------------------------------------------------------------------


# Markdown passes raw HTML through: a "<" that could open a tag, comment or declaration and an
# "&" that could start an entity are written as entities, so a source or judge name such as
# "<img src=x onerror=...>" shows as text (as report.html shows it); "p < .05" stays readable.
_MD_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_MD_ENTITY = re.compile(r"&(?=[#A-Za-z])")


def _md_text(text: str) -> str:
    return _MD_TAG_OPEN.sub("&lt;", _MD_ENTITY.sub("&amp;", text))


def _md_cell(text: str) -> str:
    return _md_text(text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " "))


def render_markdown(sections: Sequence[Section], title: str = "Empathy report") -> str:
    """GitHub-flavoured Markdown; figures refer to the PNG files written beside it."""
    lines = [f"# {_md_text(title)}", ""]
    for s in sections:
        lines += ["#" * s.level + " " + _md_text(s.title), ""]
        for b in s.blocks:
            if isinstance(b, Paragraph):
                lines += [_md_text(b.text), ""]
            elif isinstance(b, Table):
                if b.caption:
                    lines += [f"*{_md_text(b.caption)}*", ""]
                if not b.rows:
                    lines += ["(none)", ""]
                    continue
                lines.append("| " + " | ".join(_md_cell(c) for c in b.columns) + " |")
                lines.append("|" + "|".join("---" for _ in b.columns) + "|")
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
                lines.append("")
            else:
                lines += [f"![{_md_text(b.caption)}]({b.file_name})", ""]
    return "\n".join(lines)


def render_html(sections: Sequence[Section], title: str = "Empathy report") -> str:
    """One self-contained HTML page (Jinja2, autoescaped); figures are inline data URIs."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("empathy_task", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(title=title, sections=sections)


def _json_safe(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become None, numpy scalars Python ones."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _floats(values: pd.Series) -> list[float | None]:
    """A float column as Python floats, NaN and infinities as None (JSON's null)."""
    x = values.to_numpy(dtype=float)
    out: list[float | None] = x.tolist()
    for i in np.flatnonzero(~np.isfinite(x)).tolist():
        out[i] = None
    return out


def _group_entries(a: Analysis) -> dict[str, dict[str, dict[str, Any]]]:
    """``groups_by_rater``: per rater kind and source, the overall numbers and every scope's."""
    out: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in a.rater_kinds}
    g = a.groups
    columns = zip(
        g["rater_kind"].tolist(),
        g["source"].tolist(),
        g["scope"].tolist(),
        *(g[c].to_numpy(dtype=np.int64).tolist() for c in ("n", "Bad", "Okay", "Good")),
        *(_floats(g[c]) for c in ("good_rate", "good_rate_low", "good_rate_high", "mean_rating")),
        g["is_baseline"].tolist(),
    )
    for kind, source, scope, n, bad, okay, good, rate, low, high, mean, baseline in columns:
        entry = {
            "n": n,
            "counts": {"Bad": bad, "Okay": okay, "Good": good},
            "good_rate": rate,
            "good_rate_ci": [low, high],
        }
        by_source = out[str(kind)]
        if source not in by_source:
            # Groups are in scope order, overall first: the source's top level is its overall row.
            by_source[str(source)] = {
                **entry,
                "mean_rating": mean,
                "rater_kind": str(kind),
                "is_baseline": bool(baseline),
                "scopes": {},
            }
        by_source[str(source)]["scopes"][str(scope)] = entry
    return out


def _comparisons_json(frame: pd.DataFrame) -> str:
    """The comparisons as a JSON array of objects: floats at full (``repr``) precision, NaN as null.

    Built column by column with json's C encoder (a numeric column is one encoded list, split),
    then joined per row: several times faster than encoding a list of dicts.
    """
    encode = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
    prefixes = [encode(str(name)) + ": " for name in frame.columns]
    columns: list[list[str]] = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col):
            values: list[Any] = col.tolist()
        elif pd.api.types.is_integer_dtype(col):
            values = col.to_numpy(dtype=np.int64).tolist()
        elif pd.api.types.is_float_dtype(col):
            values = _floats(col)
        else:
            # Names, scopes, markers and reasons repeat: encode each distinct value once.
            codes, uniques = pd.factorize(col)  # None and NaN get the code -1
            texts = np.array([*(encode(v) for v in uniques.tolist()), "null"], dtype=object)
            columns.append(texts[codes].tolist())
            continue
        # Numbers, booleans and null never contain ", ": the encoded list splits cleanly.
        columns.append(encode(values)[1:-1].split(", ") if values else [])
    rows = ["{" + ", ".join(map(str.__add__, prefixes, row)) + "}" for row in zip(*columns)]
    return "[" + ", ".join(rows) + "]"


def _agreement_json(ag: KindAgreement) -> dict[str, Any]:
    def one(r: stats.AgreementResult) -> dict[str, Any]:
        return {
            "n": r.n,
            "kappa_linear": r.kappa_linear,
            "kappa_quadratic": r.kappa_quadratic,
            "alpha_ordinal": r.alpha_ordinal,
            "confusion": [list(row) for row in r.confusion],
            "good_rate_reference": r.good_rate_a,
            "good_rate_other": r.good_rate_b,
            "good_rate_difference": r.good_rate_difference,
        }

    return {
        "reference": ag.reference,
        "other": ag.other,
        **one(ag.overall),
        "per_source": {src: one(r) for src, r in ag.per_source},
        "rank": {"kendall_tau": ag.rank.tau, "p": ag.rank.pvalue, "same_order": ag.rank.same_order},
        "duplicates_dropped": ag.duplicates_dropped,
    }


def _generator() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"empathy-task {version('empathy-task')}"
    except PackageNotFoundError:
        return "empathy-task"


def render_json(a: Analysis, inputs: Sequence[LoadedInput] = ()) -> str:
    """``report.json`` (see the module docstring for its keys)."""
    by_rater = _group_entries(a)
    o = a.options
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "generated_by": _generator(),
        "baseline": o.baseline,
        "primary_rater_kind": a.primary_kind,
        "rater_kinds": list(a.rater_kinds),
        "correction": o.correction,
        "confidence": o.confidence,
        "resamples": o.resamples,
        "seed": o.seed,
        "intervals": {
            "good_rate": stats.GOOD_RATE_INTERVAL,
            "rel_increase_good": stats.REL_INCREASE_INTERVAL,
            "note": (
                "good_rate: Wilson score interval; rel_increase_good: Katz log interval of the "
                "ratio of two independent proportions, 0.5 added to each count, scaled by "
                "n_b / n_a; both assume independent ratings"
            ),
        },
        "scopes": list(a.scopes),
        "groups": by_rater[a.primary_kind],
        "groups_by_rater": by_rater,
        "comparisons": None,  # written column-wise below
        "clusters": {
            "note": (
                "overall Good rate per group with whole clusters resampled (unit: rater for the "
                "crowd, prompt for a judge); comparisons' good_rs_chi2/good_rs_p are the "
                "Rao-Scott design-effect-corrected Good test beside the paper's good_chi2/good_p"
            ),
            "rows": a.clusters.to_dict(orient="records"),
        },
        "descriptive_only": [
            {"rater_kind": k, "source": s, "reason": r} for k, s, r in a.descriptive_only
        ],
        "families": [
            {
                "name": f.name,
                "rater_kind": f.rater_kind,
                "test": f.test,
                "level": f.level,
                "size": f.size,
            }
            for f in a.families
        ],
        "power": {
            "effect": o.effect,
            "alpha": o.alpha,
            "sample_size_for_power_0.95": {
                f"df={df}": stats.chi2_sample_size(o.effect, alpha=o.alpha, power=0.95, df=df)
                for df in (1, 2, 8)
            },
        },
        "agreement": [_agreement_json(ag) for ag in a.agreement],
        "rater_quality": a.rater_quality.to_dict(orient="records"),
        "published": {
            "note": "the paper's published Good counts; reference rows, not computed from the input",
            "rows": a.published.to_dict(orient="records"),
        },
        "inputs": [
            {"path": i.path, "kind": i.kind, "ratings": i.ratings, "sources": list(i.sources)}
            for i in inputs
        ],
    }
    # One top-level key per line, each value by json's C encoder (an indent would make json use
    # its pure-Python encoder, slower than everything else here together). The comparisons can
    # number tens of thousands; pandas' to_json would be faster but rounds floats to 15
    # decimal places (a p-value of 1.85e-14 would become 1.9e-14), so they go through json too.
    encode = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
    pieces = ["{"]
    for key, value in doc.items():
        if key == "comparisons":
            text = _comparisons_json(a.comparisons)
        elif key in ("groups", "groups_by_rater"):
            text = encode(value)  # built JSON-safe by _group_entries
        else:
            text = encode(_json_safe(value))
        pieces += ["\n" if len(pieces) == 1 else ",\n", encode(key), ": ", text]
    pieces.append("\n}\n")
    return "".join(pieces)  # one copy of tens of megabytes, not one per line


def render_report(
    a: Analysis,
    formats: Sequence[str] = FORMATS,
    inputs: Sequence[LoadedInput] = (),
    title: str = "Empathy report",
    *,
    timings: dict[str, float] | None = None,
) -> RenderedReport:
    """Every file of the report, in memory.

    ``timings``, if given, receives the seconds spent on ``figures``, ``document`` (Markdown and
    HTML) and ``json``, for the benchmark.
    """
    import time

    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown format(s) {', '.join(unknown) or '(none)'}: use md, html, json")
    clock = {} if timings is None else timings
    files: dict[str, bytes] = {}
    if "md" in formats or "html" in formats:
        start = time.perf_counter()
        figures = render_figures(a)
        clock["figures"] = time.perf_counter() - start
        start = time.perf_counter()
        sections = build_document(a, figures, inputs)
        if "md" in formats:
            files[FILE_NAMES["md"]] = render_markdown(sections, title).encode("utf-8")
            files.update(figures)
        if "html" in formats:
            files[FILE_NAMES["html"]] = render_html(sections, title).encode("utf-8")
            files.update(figures)
        clock["document"] = time.perf_counter() - start
    if "json" in formats:
        start = time.perf_counter()
        files[FILE_NAMES["json"]] = render_json(a, inputs).encode("utf-8")
        clock["json"] = time.perf_counter() - start
    return RenderedReport(files)


def _is_report_file(path: Path) -> bool:
    """A file a report writes: its Markdown, HTML, JSON or one of its PNG figures."""
    return (
        path.is_file()
        and not path.is_symlink()
        and (path.name in FILE_NAMES.values() or path.suffix.lower() == ".png")
    )


def write_report(report: RenderedReport, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """Write the rendered files into ``out_dir``, which then holds exactly this one report.

    Without ``force`` a folder that already holds report files is refused. Everything is checked
    and every file written in full before anything is moved: a target that is a folder or a
    symlink is refused up front, so a failure leaves the previous report whole. With ``force``
    the previous report's files that the new one does not write (PNGs of figures it no longer
    has) are removed; files a report does not write (notes of your own) are kept.
    """
    out = Path(out_dir)
    if out.is_symlink() and not out.exists():
        raise OutputExistsError(f"{out} is a dangling symlink; remove it or choose another folder")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    present = sorted(out.iterdir()) if out.is_dir() else []
    reports = [p for p in present if _is_report_file(p)]
    if reports and not force:
        names = ", ".join(p.name for p in reports)
        raise OutputExistsError(f"{out} already holds {names}; pass --force to overwrite")
    targets = [out / name for name in report.files]
    blocked = [t for t in targets if t.is_symlink() or (t.exists() and not t.is_file())]
    if blocked:
        names = ", ".join(t.name for t in blocked)
        raise OutputExistsError(
            f"{out}: {names} is a folder or a symlink where the report writes a file; "
            "remove it first (nothing was written)"
        )
    stale = [p for p in reports if p.name not in report.files]
    with atomic_paths(targets, force=force) as temps:
        for tmp, data in zip(temps, report.files.values()):
            tmp.write_bytes(data)
    for path in stale:
        path.unlink(missing_ok=True)
    return targets
