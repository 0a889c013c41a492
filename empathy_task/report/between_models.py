"""The report's "Between models" part: the comparisons of the models with each other, declared once.

:data:`PAIR_COLUMNS` (one row per pair of models) and :data:`ROW_COLUMNS` (one row per pair and
scope) are read by ``report.json`` (key ``between_models``) and by the Markdown and HTML document
(:func:`between_sections`) alike; the statistic is
:func:`empathy_task.analysis.between.between_models`.
"""

from __future__ import annotations

from typing import Any

from empathy_task.analysis import between
from empathy_task.analysis.results import Analysis
from empathy_task.report.declared import Column, document_table, json_records
from empathy_task.report.document import (
    Figure,
    Section,
    fmt_ci,
    fmt_int,
    fmt_num,
    fmt_p,
    fmt_rate,
    fmt_rel,
    kind_title,
    with_paper_name,
)
from empathy_task.vocabulary import CROWD

#: Models per rater kind whose pairs the document shows (the highest Good rates); report.json
#: holds every pair.
SHOWN_MODELS = 8

CORRECTION_NAMES = {
    "none": "no correction (the paper's choice)",
    "holm": "Holm's correction",
    "bh": "Benjamini-Hochberg's false discovery rate correction",
}


def _named(key: str) -> Any:
    """A source's cell: its name, with the paper's name of a stored source in brackets."""
    from empathy_task.resources import source_display_names

    return lambda r: with_paper_name(str(r[key]), source_display_names())


def _emotions(key: str) -> Any:
    return lambda r: ", ".join(r[key]) or "none"


PAIR_COLUMNS: tuple[Column, ...] = (
    Column("rater_kind", "who rated both models", "rater", lambda r: kind_title(r["rater_kind"])),
    Column("a", "model A", "A", _named("a")),
    Column("b", "model B", "B", _named("b")),
    Column(
        "good_rate_a", "A's Good rate, overall", "Good rate A", lambda r: fmt_rate(r["good_rate_a"])
    ),
    Column(
        "good_rate_b", "B's Good rate, overall", "Good rate B", lambda r: fmt_rate(r["good_rate_b"])
    ),
    Column(
        "rel_increase_good",
        "relative increase in Good of B over A, overall (percent)",
        "B over A",
        lambda r: fmt_rel(r["rel_increase_good"]) + r["good_marker"],
    ),
    Column(
        "good_p_adjusted",
        "p of the overall Good test, adjusted within its family",
        "p ({correction})",
        lambda r: fmt_p(r["good_p_adjusted"]),
    ),
    Column("good_marker", "significance marker of good_p_adjusted"),
    Column("better", "overall: 'A' or 'B' has the significantly higher Good rate, or ''"),
    Column(
        "a_better",
        "emotions where A's Good rate is significantly higher than B's",
        "A better at",
        _emotions("a_better"),
    ),
    Column(
        "b_better",
        "emotions where B's Good rate is significantly higher than A's",
        "B better at",
        _emotions("b_better"),
    ),
    Column(
        "emotions_tested",
        "emotions with a Good test (both models rated there)",
        "emotions tested",
        lambda r: fmt_int(r["emotions_tested"]),
    ),
)


ROW_COLUMNS: tuple[Column, ...] = (
    Column("rater_kind", "who rated both models"),
    Column("a", "model A", "A", _named("a")),
    Column("b", "model B", "B", _named("b")),
    Column(
        "scope", "overall, valence:<v> or emotion:<e>", "scope", lambda r: r["scope"].split(":")[-1]
    ),
    Column("level", "overall, valence or emotion"),
    Column("n_a", "A's ratings", "n A", lambda r: fmt_int(r["n_a"])),
    Column("n_b", "B's ratings", "n B", lambda r: fmt_int(r["n_b"])),
    Column("good_a", "A's Good ratings"),
    Column("good_b", "B's Good ratings"),
    Column("good_rate_a", "A's Good rate", "Good rate A", lambda r: fmt_rate(r["good_rate_a"])),
    Column("good_rate_b", "B's Good rate", "Good rate B", lambda r: fmt_rate(r["good_rate_b"])),
    Column("good_rate_difference", "good_rate_b - good_rate_a"),
    Column(
        "rel_increase_good",
        "relative increase in Good of B over A (percent, of the Good rates)",
        "B over A [{ci}]",
        lambda r: (
            f"{fmt_rel(r['rel_increase_good'])} "
            f"{fmt_ci(r['rel_increase_good_low'], r['rel_increase_good_high'], 1.0)}".strip()
        ),
    ),
    Column(
        "rel_increase_good_low",
        "Katz log interval of rel_increase_good, low (treats the ratings as independent)",
    ),
    Column(
        "rel_increase_good_high",
        "Katz log interval of rel_increase_good, high (treats the ratings as independent)",
    ),
    Column(
        "good_chi2",
        "chi-squared, Good vs not Good (2x2, Yates)",
        "chi2 Good",
        lambda r: fmt_num(r["good_chi2"]),
    ),
    Column("good_p", "p of the Good test, unadjusted"),
    Column(
        "good_p_adjusted",
        "good_p adjusted within family_good",
        "p ({correction})",
        lambda r: fmt_p(r["good_p_adjusted"]) + (r["good_marker"] or ""),
    ),
    Column("good_marker", "significance marker of good_p_adjusted"),
    Column("dist_chi2", "chi-squared, Bad/Okay/Good (2x3)"),
    Column("dist_p", "p of the distribution test, unadjusted"),
    Column(
        "dist_p_adjusted",
        "dist_p adjusted within its family",
        "p dist ({correction})",
        lambda r: fmt_p(r["dist_p_adjusted"]) + (r["dist_marker"] or ""),
    ),
    Column("dist_marker", "significance marker of dist_p_adjusted"),
    Column("family_good", "the family good_p is adjusted in (rater kind / test / level)"),
    Column(
        "better",
        "'A' or 'B': that model's Good rate is significantly higher here (good_p_adjusted < alpha)",
        "better",
        lambda r: {"A": str(r["a"]), "B": str(r["b"])}.get(r["better"], ""),
    ),
)


def compute(a: Analysis) -> between.BetweenModels:
    """The statistic for the report (one call, shared by every writer)."""
    o = a.options
    return between.between_models(a.comparisons, o.correction, alpha=o.alpha)


def correction_note(result: between.BetweenModels) -> str:
    """The correction as a sentence, naming the families the between-models tests belong to."""
    families = ", ".join(result.families) or "none"
    family = (
        "a family of tests is one rater kind x one test x one level, holding that level's "
        f"comparisons with the baseline and between models alike (here: {families})"
    )
    if result.correction == "none":
        return (
            f"p-values are not adjusted ({CORRECTION_NAMES['none']}); with --correction holm or "
            f"bh they are adjusted within each family, where {family}; significant: p < "
            f"{result.alpha}"
        )
    return (
        f"p-values with {CORRECTION_NAMES[result.correction]} within each family, where "
        f"{family}; significant: adjusted p < {result.alpha}"
    )


def pair_records(result: between.BetweenModels) -> list[dict[str, Any]]:
    return [{c.key: getattr(p, c.key) for c in PAIR_COLUMNS} for p in result.pairs]


def shown_models(a: Analysis, result: between.BetweenModels, kind: str) -> tuple[str, ...]:
    """A kind's models in the document: all, or the :data:`SHOWN_MODELS` with the highest Good
    rate."""
    models = result.sources.get(kind, ())
    if len(models) <= SHOWN_MODELS:
        return models
    g = a.overall_groups()
    rate = dict(zip(g[g["rater_kind"] == kind]["source"], g[g["rater_kind"] == kind]["good_rate"]))
    top = set(sorted(models, key=lambda m: -rate.get(m, 0.0))[:SHOWN_MODELS])
    return tuple(m for m in models if m in top)


def between_sections(
    a: Analysis, figures: dict[str, bytes], result: between.BetweenModels | None = None
) -> list[Section]:
    """ "Between models": per rater kind, which model is significantly better than which, at
    which emotions; the figure; the overall, valence and per-emotion detail."""
    result = result if result is not None else compute(a)
    s = Section("Between models")
    if not result.pairs:
        s.add(
            "No rater kind rated two sources besides the baseline, so no model is compared with "
            "another."
        )
        return [s]
    fill = {
        "correction": a.options.correction,
        "ci": f"{round(a.options.confidence * 100)}% CI",
    }
    s.add(
        "Every pair of sources other than the baseline, rated by the same kind of rater: which "
        "model has a significantly higher Good rate than which, overall and at which emotions "
        "(the Good test: chi-squared on Good vs not Good x the two models, with Yates' "
        f"correction). {correction_note(result)}."
        + (
            " Without a correction, about 1 in 20 per-emotion tests reaches p < .05 by chance "
            "alone when nothing differs."
            if result.correction == "none"
            else ""
        )
        + " The interval of B over A is the Katz log interval, which treats the ratings as "
        "independent: for the crowd it is narrower than a rater-cluster interval (see the "
        "leaderboard's crowd rows against the baseline). Every pair in every scope, with the "
        "distribution test and intervals, is in report.json (key between_models)."
    )
    out = [s]
    records = pair_records(result)
    rows = result.rows.to_dict("records")
    for i, kind in enumerate(result.sources, start=1):
        models = set(shown_models(a, result, kind))

        def shown(r: dict[str, Any], kind: str = kind, models: set[str] = models) -> bool:
            return r["rater_kind"] == kind and r["a"] in models and r["b"] in models

        sub = Section(f"Between models: {kind_title(kind)}", level=3)
        if kind != CROWD:
            sub.add(
                "A judge rates both models' replies to the same prompts: beside these "
                "between-subjects tests (the paper's), the paired tests between the models "
                "(McNemar, Stuart-Maxwell) are in report.json (key paired), every pair and scope."
            )
        if len(models) < len(result.sources[kind]):
            sub.add(
                f"Shown: the {len(models)} models with the highest Good rate of "
                f"{len(result.sources[kind])}."
            )
        sub.add(document_table([r for r in records if shown(r)], PAIR_COLUMNS, **fill))
        name = f"between_models_{i}.png"
        if name in figures:
            sub.add(
                Figure(
                    name,
                    "Emotions where the row's model has a significantly higher Good rate than the "
                    f"column's (p < {result.alpha}, {CORRECTION_NAMES[result.correction]})",
                    figures[name],
                )
            )
        sub.add(
            document_table(
                [r for r in rows if shown(r) and r["level"] != "emotion"],
                ROW_COLUMNS,
                caption="Overall and per valence",
                **fill,
            )
        )
        per_emotion = sorted(
            (r for r in rows if shown(r) and r["level"] == "emotion"),
            key=lambda r: r["scope"],
        )
        sub.add(document_table(per_emotion, ROW_COLUMNS, caption="Per emotion", **fill))
        out.append(sub)
    return out


def between_json_head(result: between.BetweenModels) -> dict[str, Any]:
    """``between_models`` in report.json, but its ``rows`` (written column-wise by the caller)."""
    return {
        "note": (
            "comparisons between the sources other than the baseline, within one rater kind; "
            "better: the side whose Good rate is significantly higher at the family's correction"
        ),
        "test": "Good vs not Good, 2x2 chi-squared with Yates' correction",
        "correction": result.correction,
        "correction_note": correction_note(result),
        "alpha": result.alpha,
        "families": list(result.families),
        "sources": {k: list(v) for k, v in result.sources.items()},
        "pair_columns": {c.key: c.doc for c in PAIR_COLUMNS},
        "columns": {c.key: c.doc for c in ROW_COLUMNS},
        "pairs": json_records(pair_records(result), PAIR_COLUMNS),
    }
