"""``report.json``, from an :class:`~empathy_task.analysis.results.Analysis`.

``report.json`` keeps the stable keys of docs/design.md exactly:

- ``groups``: keyed by source, ``{"n", "counts": {"Bad", "Okay", "Good"}}``, for the *primary* rater
  kind: the first kind (the crowd first, then judges in order of appearance) that rated the
  baseline. The same source can be rated by several kinds, so ``groups_by_rater`` holds every kind:
  ``{rater_kind: {source: {...}}}``. Both add ``good_rate``, ``good_rate_ci``, ``mean_rating``,
  ``rater_kind``, per-scope counts under ``scopes`` and ``flagged``: the group's ratings of replies
  that addressed the judge (null where the input did not record it).
- ``comparisons``: one object per (rater kind, a, b, scope) with ``a, b, scope, n_a, n_b, good_a,
  good_b, rel_increase_good`` (percent), ``good_chi2, good_p`` (2x2, Yates), ``dist_chi2, dist_p``
  (2x3); added: ``rater_kind, vs_baseline, level``, Good rates, ``rel_increase_good_rate``,
  interval bounds ``rel_increase_good_low/high`` (comparisons with the baseline),
  ``*_p_adjusted``, ``*_marker``, ``*_cramers_v``, ``*_reason`` (why a statistic is null),
  ``family_*`` and, overall against the baseline, the a-priori ``power_*_w``; every comparison is
  on the prompts both sources have (``n_prompts``).
- ``calibration``: per calibrated judge ``{"judge", "reference": "crowd", "loso": [{"source",
  "crowd_good_rate", "judge_good_rate", "calibrated_good_rate", ...}], ...}``; ``crowd_equivalent``:
  per judge-rated source that is not a stored one ``{"source", "judge", "good_rate",
  "good_rate_ci", "rel_increase_good"`` (percent, against the crowd's human group 986 / 2,000)
  ``, "rel_increase_good_ci", "counts": {"Bad", "Okay", "Good"}, ...}`` (estimated counts);
  ``judge_card``: the judges' report cards (docs/design.md, "Judge calibration"), and a judge
  panel's row last, marked ``"panel": true``.
- added: ``intervals`` (the method of each interval), ``clusters`` (the cluster bootstrap and
  design effects; ``good_rs_chi2, good_rs_p`` in the overall comparisons), ``families``, ``descriptive_only``, ``power``, ``agreement``, ``rater_quality``,
  ``paper_models`` (the paper's models, their stored sources and whether the input's crowd
  ratings compute their rows), ``published`` (the paper's published rows of the models whose
  ratings are not in the input: the leaderboard's labelled fallback), ``between_models`` (the
  models compared with each other: per pair the emotions where each is significantly better,
  and every pair's rows in every scope; its fields are declared in
  :mod:`empathy_task.report.between_models`), ``inputs``, and
  ``ppi`` (only where the crowd rated part of a source that a judge rated in full: the
  prediction-powered Good rate, see :func:`empathy_task.report.report_json.ppi_json`),
  ``coverage`` (prompts per source and whether a rater kind's sources differ in them), ``paired``
  (a judge's paired tests: McNemar, Stuart-Maxwell, prompt-bootstrap intervals),
  ``self_preference`` (``[{"source", "judge", "reason"}]``: a judge sharing a provider or family
  with a source it rated) and ``panel`` (only with two or more calibrated judges: ``judges``,
  ``weights``, the nested ``loso`` and ``loso_rms_error``, ``judge_loso_rms_error``, ``card`` (the
  panel's report-card row), ``crowd_equivalent`` (per source: the pooled crowd-equivalent Good rate
  and relative increase with intervals, ``judge_good_rates``, ``judge_error_correlation``,
  ``without``: the panel without a self-preferring judge), ``judge_scale`` (the panel vote's Good
  rate, on the judges' scale) and ``source_bias`` per judge; docs/design.md, "Several judges").

NaN becomes ``null``; floats are written at full (``repr``) precision. Everything is rendered in memory; :func:`write_report` then moves the files
into place, so a failure leaves no partial report.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from empathy_task.analysis import stats
from empathy_task.analysis.results import Analysis, KindAgreement
from empathy_task.analysis.steps import interval_gaps, paper_models
from empathy_task.ratings.inputs import LoadedInput
from empathy_task.vocabulary import CROWD, LABELS

SCHEMA = "empathy-task-report/1"


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
        *(g[c].to_numpy(dtype=np.int64).tolist() for c in ("n", *LABELS)),
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


def _with_flagged(
    by_rater: dict[str, dict[str, dict[str, Any]]], a: Analysis
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each group's ``flagged``: its ratings of replies that addressed the judge (answer format
    or instructions; still rated), null where the input did not record it (crowd ratings)."""
    counts = {
        (str(k), str(s)): int(n)
        for k, s, n in zip(a.flagged["rater_kind"], a.flagged["source"], a.flagged["flagged"])
    }
    for kind, by_source in by_rater.items():
        for source, entry in by_source.items():
            entry["flagged"] = counts.get((kind, source))
    return by_rater


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


def _coverage_json(a: Analysis) -> dict[str, Any]:
    """``coverage``: prompts per (rater kind, source), and per kind whether its sources differ."""
    return {
        "note": (
            "every comparison uses the prompts both of its sources have (its n_prompts); "
            "differs: whether a rater kind's sources cover different prompts"
        ),
        "differs": a.coverage_differs(),
        "rows": a.coverage.to_dict(orient="records"),
    }


def _paired_json(a: Analysis) -> str:
    """``paired``: the paired tests of the judges' comparisons, rows written column-wise."""
    from empathy_task.analysis import paired

    encode = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
    head = {
        "note": (
            "judges only (a judge rates both replies to a prompt: paired by prompt, and epoch "
            "where there are several); mcnemar_*: McNemar's test on Good vs not Good, exact "
            f"binomial below {paired.MCNEMAR_EXACT_BELOW} discordant pairs (a_only_good + "
            "b_only_good), else chi-squared with continuity correction; stuart_maxwell_*: "
            "marginal homogeneity of Bad/Okay/Good; *_low/*_high: percentile bootstrap "
            "resampling prompts, against the baseline, overall and per valence"
        ),
    }
    return encode(head)[:-1] + ', "rows": ' + _comparisons_json(a.paired) + "}"


def _between_json(a: Analysis) -> str:
    """``between_models``: the models compared with each other (report/between_models.py
    declares its fields), rows written column-wise."""
    from empathy_task.report import between_models as bm

    result = bm.compute(a)
    encode = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
    head = encode(_json_safe(bm.between_json_head(result)))
    rows = result.rows[[c.key for c in bm.ROW_COLUMNS]]
    return head[:-1] + ', "rows": ' + _comparisons_json(rows) + "}"


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


def ppi_json(a: Analysis) -> list[dict[str, Any]]:
    """``ppi``: one object per (source, judge) with a prediction-powered Good rate.

    ``good_rate`` and ``good_rate_ci`` (the crowd's Good rate over all the source's replies, by
    PPI++), ``n_labelled`` (replies both the crowd and the judge rated), ``n_unlabelled`` (judged
    only), ``classical_good_rate`` / ``classical_good_rate_ci`` (the crowd-rated replies alone,
    normal interval), ``effective_n`` (crowd ratings alone for the same width), ``lam`` (the
    judge's weight), ``prediction`` (``P(Good)``, ``Good label`` or ``mixed``),
    ``crowd_unjudged``, ``n_clusters`` (the crowd-rated batches the intervals cluster on).
    """
    out = []
    for row in a.ppi:
        r = row.result
        out.append(
            {
                "source": row.source,
                "judge": row.judge,
                "reference": "crowd",
                "prediction": row.prediction,
                "good_rate": r.estimate,
                "good_rate_ci": list(r.interval),
                "n_labelled": r.n_labelled,
                "n_unlabelled": r.n_unlabelled,
                "n_clusters": r.n_clusters,
                "classical_good_rate": r.classical_estimate,
                "classical_good_rate_ci": list(r.classical_interval),
                "effective_n": r.effective_n,
                "lam": r.lam,
                "crowd_unjudged": row.crowd_unjudged,
                "method": (
                    "PPI++ mean (ppi-python's estimate); normal interval, the crowd's terms "
                    "cluster-robust over n_clusters batches"
                ),
            }
        )
    return out


def _calibration_json(c: Any) -> dict[str, Any]:
    """One judge's calibration: the stable ``judge, reference, loso`` keys, then the rest."""
    full = c.to_json()
    return {
        "judge": c.judge,
        "reference": full["reference"],
        "loso": full["loso"],
        "loso_rms_error": full["loso_rms_error"],
        "judge_prompt_version": c.judge_prompt_version,
        "data_sha256": c.data_sha256,
        "origin": c.origin,
        "smoothing": full["smoothing"],
        "p_crowd_given_judge": full["p_crowd_given_judge"],
        "counts": full["counts"],
        "method": (
            "P(crowd | judge) per judge label, smoothed towards the pooled crowd distribution; "
            "a source's crowd distribution is its judge label shares times P(crowd | judge); "
            "loso: fitted on the other stored sources"
        ),
    }


def _generator() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"empathy-task {version('empathy-task')}"
    except PackageNotFoundError:
        return "empathy-task"


def render_json(a: Analysis, inputs: Sequence[LoadedInput] = ()) -> str:
    """``report.json`` (see the module docstring for its keys)."""
    by_rater = _with_flagged(_group_entries(a), a)
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
            "rel_increase_good_cluster": stats.CLUSTER_REL_INCREASE_INTERVAL,
            "note": (
                "good_rate: Wilson score interval; rel_increase_good: Katz log interval of the "
                "ratio of two independent proportions (the Good rates on the prompts both "
                "sources have), 0.5 added to each count; both assume independent ratings. "
                "rel_increase_good_cluster_low/high: percentile bootstrap resampling crowd "
                "raters within each source (the crowd's overall comparisons with the "
                "baseline); each comparison's rel_increase_interval names its headline interval"
            ),
        },
        # Issue 23: every comparison without an interval of the relative increase, by reason.
        "rel_increase_interval_gaps": interval_gaps(a.comparisons),
        "scopes": list(a.scopes),
        "groups": by_rater[a.primary_kind],
        "groups_by_rater": by_rater,
        "comparisons": None,  # written column-wise below
        "coverage": _coverage_json(a),
        "paired": None,  # written column-wise below
        "between_models": None,  # rows written column-wise below
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
        "calibration": [_calibration_json(c) for c in a.calibrations],
        "crowd_equivalent": list(a.crowd_equivalent),
        "judge_card": [dict(c.card) for c in a.calibrations]
        + ([{**a.panel["card"], "panel": True}] if a.panel is not None else []),
        "rater_quality": a.rater_quality.to_dict(orient="records"),
        "paper_models": paper_models(a.sources.get(CROWD, ())),
        "published": {
            "note": (
                "the paper's published Good counts, only for its models whose crowd ratings are "
                "not in the input (the leaderboard's labelled fallback; a model whose ratings "
                "are in the input is computed from them, see paper_models)"
            ),
            "rows": a.published.to_dict(orient="records"),
        },
        "inputs": [
            {
                "path": i.path,
                "kind": i.kind,
                "ratings": i.ratings,
                "sources": list(i.sources),
                "repeats": i.repeats,
                "notes": list(i.notes),
            }
            for i in inputs
        ],
        "repeatability": [dataclasses.asdict(r) for r in a.repeatability],
        "self_preference": list(a.self_preference),
    }
    if a.panel is not None:
        doc["panel"] = a.panel
    if a.ppi:
        doc["ppi"] = ppi_json(a)
    if a.prompt_set is not None:
        # A user's own prompt set (README, "Your own prompts"): which, and what it has.
        doc["prompt_set"] = a.prompt_set
    # One top-level key per line, each value by json's C encoder (an indent would make json use
    # its pure-Python encoder, slower than everything else here together). The comparisons can
    # number tens of thousands; pandas' to_json would be faster but rounds floats to 15
    # decimal places (a p-value of 1.85e-14 would become 1.9e-14), so they go through json too.
    encode = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
    pieces = ["{"]
    for key, value in doc.items():
        if key == "comparisons":
            text = _comparisons_json(a.comparisons)
        elif key == "paired":
            text = _paired_json(a)
        elif key == "between_models":
            text = _between_json(a)
        elif key in ("groups", "groups_by_rater"):
            text = encode(value)  # built JSON-safe by _group_entries
        else:
            text = encode(_json_safe(value))
        pieces += ["\n" if len(pieces) == 1 else ",\n", encode(key), ": ", text]
    pieces.append("\n}\n")
    return "".join(pieces)  # one copy of tens of megabytes, not one per line
