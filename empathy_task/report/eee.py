"""Every Eval Ever records (schema 0.3.0) from an :class:`~empathy_task.analysis.results.Analysis`.

``empathy-task report --format eee`` writes one aggregate record per evaluated source (every source
but the baseline, with a result per rater kind that rated it): ``eee-<source>.json``. Only aggregates: counts,
rates, intervals, the judge and the prompt version; never a prompt, a reply or a rater's id.

Each Good rate names its scale, and the two are never set side by side as one metric:

- judge scale (``metric_id`` ``empathy_task/<metric>/judge``): the judge's ratings, with
  ``metric_config.llm_scoring`` (the judge, the judge prompt template and version) and
  ``expert_baseline`` the same judge's Good rate of the human replies to the same prompts;
- crowd scale (``.../crowd``): the crowd's own ratings of a stored source, or the crowd-equivalent
  Good rate of a judge-rated one (the judge's ratings read through its calibration to the crowd),
  whose ``expert_baseline`` is the crowd's Good rate of the human replies (986 / 2,000).

Every interval carries its method (``score_details.uncertainty.confidence_interval.method``) and,
for a bootstrap, its number of resamples. Records are validated against the vendored schema
(``schemas/every_eval_ever-0.3.0.schema.json``) before anything is written.
"""

from __future__ import annotations

import json
import math
import re
import time
from functools import cache
from importlib import resources
from typing import Any

from empathy_task.analysis import stats
from empathy_task.analysis.calibration import CROWD_EQUIVALENT_INTERVAL
from empathy_task.analysis.results import Analysis
from empathy_task.vocabulary import CROWD, JUDGE_SCALE, SCALES

SCHEMA_VERSION = "0.3.0"
SCHEMA_FILE = f"every_eval_ever-{SCHEMA_VERSION}.schema.json"
EVALUATION_NAME = "empathy_task"
OVERALL = "overall"


class EEERecordError(ValueError):
    """A record does not validate against the Every Eval Ever schema (a bug here, not input)."""


@cache
def schema() -> dict[str, Any]:
    """The vendored Every Eval Ever record schema."""
    text = (
        resources.files("empathy_task.report")
        .joinpath("schemas", SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def validate(record: dict[str, Any]) -> None:
    """Raise :class:`EEERecordError` naming the first place ``record`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema())
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(record)"
        raise EEERecordError(f"Every Eval Ever record, at {where}: {e.message}")


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _strings(d: dict[str, Any]) -> dict[str, str]:
    """``additional_details``: the schema wants every value a string."""
    return {k: str(v) for k, v in d.items() if v is not None}


def _model_info(name: str) -> dict[str, Any]:
    developer = name.split("/")[0] if "/" in name else None
    info: dict[str, Any] = {
        "name": name,
        "id": name,
        "additional_details": {"deployment_type": "unknown", "model_availability": "unknown"},
    }
    if developer:
        info["developer"] = developer
    return info


def _source_data() -> dict[str, Any]:
    from empathy_task.resources import registry

    reg = registry()
    data = reg["data"]
    return {
        "dataset_name": f"{data['repository']} ({reg['paper']['title']})",
        "source_type": "url",
        "url": [data["url"]],
        "additional_details": _strings(
            {
                "sha256": data["sha256"],
                "rows": data["rows"],
                "commit": data["commit"],
                "license": data["license"],
            }
        ),
    }


def _uncertainty(
    low: Any, high: Any, method: str, n: int, confidence: float, resamples: int | None = None
) -> dict[str, Any] | None:
    lo, hi = _finite(low), _finite(high)
    if lo is None or hi is None:
        return None
    out: dict[str, Any] = {
        "confidence_interval": {
            "lower": lo,
            "upper": hi,
            "confidence_level": confidence,
            "method": method,
        },
        "num_samples": int(n),
    }
    if resamples is not None:
        out["num_bootstrap_samples"] = int(resamples)
    return out


def _result(
    *,
    metric: str,
    scale: str,
    name: str,
    description: str,
    score: float,
    unit: str,
    bounds: tuple[float | str, float | str],
    uncertainty: dict[str, Any] | None,
    details: dict[str, Any],
    llm_scoring: dict[str, Any] | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "evaluation_description": description,
        "metric_id": f"{EVALUATION_NAME}/{metric}/{scale}",
        "metric_name": name,
        "metric_kind": metric,
        "metric_unit": unit,
        "lower_is_better": False,
        "score_type": "continuous",
        "min_score": bounds[0],
        "max_score": bounds[1],
        "additional_details": _strings({"scale": scale, "scale_means": SCALES[scale]}),
    }
    if llm_scoring is not None:
        config["llm_scoring"] = llm_scoring
    score_details: dict[str, Any] = {"score": float(score), "details": _strings(details)}
    if uncertainty is not None:
        score_details["uncertainty"] = uncertainty
    return {
        "evaluation_result_id": f"{EVALUATION_NAME}/{metric}/{scale}",
        "evaluation_name": f"{EVALUATION_NAME} ({scale} scale)",
        "source_data": _source_data(),
        "metric_config": config,
        "score_details": score_details,
    }


def _llm_scoring(judge: str, baseline_rate: float | None) -> dict[str, Any]:
    from empathy_task.task.prompts import JUDGE_PROMPT_VERSION, judge_prompt_template

    scoring: dict[str, Any] = {
        "judges": [{"model_info": _model_info(judge)}],
        "input_prompt": judge_prompt_template(),
        # aggregation_method is for several judges (a jury); here one judge rates each reply once.
        "additional_details": _strings(
            {
                "ratings": "one judge, one rating per reply (Bad 1, Okay 2, Good 3)",
                "judge_prompt_version": JUDGE_PROMPT_VERSION,
                "expert_baseline_is": "the same judge's Good rate of the human replies to the "
                "same prompts",
            }
        ),
    }
    if baseline_rate is not None:
        scoring["expert_baseline"] = baseline_rate
    return scoring


def _overall_groups(a: Analysis) -> dict[tuple[str, str], dict[str, Any]]:
    g = a.overall_groups()
    return {(str(r["rater_kind"]), str(r["source"])): r for r in g.to_dict("records")}


def _baseline_comparison(a: Analysis, kind: str, source: str) -> dict[str, Any] | None:
    c = a.comparisons
    rows = c[
        (c["rater_kind"] == kind)
        & (c["scope"] == OVERALL)
        & c["vs_baseline"].astype(bool)
        & (c["a"] == a.options.baseline)
        & (c["b"] == source)  # a is the baseline, b the source compared with it
    ]
    return rows.iloc[0].to_dict() if len(rows) else None


def eee_records(
    a: Analysis, retrieved: float | None = None, library: str = "inspect_ai"
) -> dict[str, dict[str, Any]]:
    """One Every Eval Ever record per evaluated source, by source name; each validated.

    ``library``: what produced the ratings (``inspect_ai`` for Inspect logs, else the package).
    """
    from empathy_task.resources import registry

    reg = registry()
    stamp = f"{retrieved if retrieved is not None else time.time():.0f}"
    baseline = a.options.baseline
    groups = _overall_groups(a)
    crowd_eq = {(str(r["judge"]), str(r["source"])): r for r in a.crowd_equivalent}
    published = reg["reference_results"]
    crowd_human_rate = published["good"]["human"] / published["n"]
    by_source: dict[str, list[dict[str, Any]]] = {}
    for (kind, source), g in groups.items():
        if source == baseline or not g["n"]:
            continue
        scale = CROWD if kind == CROWD else JUDGE_SCALE
        base = groups.get((kind, baseline))
        base_rate = _finite(base["good_rate"]) if base is not None else None
        scoring = _llm_scoring(kind, base_rate) if scale == JUDGE_SCALE else None
        rater = "the study's crowd" if scale == CROWD else f"the judge {kind}"
        results = by_source.setdefault(source, [])
        results.append(
            _result(
                metric="good_rate",
                scale=scale,
                name=f"Good rate ({scale} scale)",
                description=f"Share of {source}'s replies {rater} rated Good (Bad / Okay / Good).",
                score=float(g["good_rate"]),
                unit="proportion",
                bounds=(0.0, 1.0),
                uncertainty=_uncertainty(
                    g["good_rate_low"],
                    g["good_rate_high"],
                    stats.GOOD_RATE_INTERVAL,
                    g["n"],
                    a.options.confidence,
                ),  # fmt: skip
                details={
                    "rater": kind,
                    "n": g["n"],
                    "good": g["Good"],
                    "okay": g["Okay"],
                    "bad": g["Bad"],
                    "baseline_source": baseline,
                    "baseline_good_rate": base_rate,
                },
                llm_scoring=scoring,
            )
        )
        comp = _baseline_comparison(a, kind, source)
        if comp is not None and _finite(comp["rel_increase_good"]) is not None:
            results.append(
                _result(
                    metric="relative_increase_good",
                    scale=scale,
                    name=f"Relative increase in Good ratings over {baseline} ({scale} scale)",
                    description=(
                        f"(Good rate - {baseline}'s Good rate) / {baseline}'s Good rate, in "
                        f"percent, both rated by {rater} on the prompts both have."
                    ),
                    score=float(comp["rel_increase_good"]),
                    unit="percent",
                    bounds=(-100.0, "Infinity"),
                    uncertainty=_uncertainty(
                        comp.get("rel_increase_good_low"),
                        comp.get("rel_increase_good_high"),
                        stats.REL_INCREASE_INTERVAL,
                        comp["n_prompts"],
                        a.options.confidence,
                    ),  # fmt: skip
                    details={
                        "rater": kind,
                        "baseline_source": baseline,
                        "n_prompts": comp["n_prompts"],
                        "good_p": _finite(comp["good_p"]),
                        "good_test": "2x2 chi-squared (Yates), as the paper",
                    },
                    llm_scoring=scoring,
                )
            )
        ce = crowd_eq.get((kind, source))
        if ce is not None:
            ce_scoring = _llm_scoring(kind, None)
            ce_scoring["expert_baseline"] = crowd_human_rate
            ce_scoring["additional_details"]["expert_baseline_is"] = (
                "the crowd's Good rate of the human replies (the paper's "
                f"{published['good']['human']} / {published['n']})"
            )
            results.append(
                _result(
                    metric="crowd_equivalent_good_rate",
                    scale=CROWD,
                    name="Crowd-equivalent Good rate (crowd scale)",
                    description=(
                        f"The Good rate the study's crowd would give {source}'s replies, read "
                        f"from {kind}'s ratings through its calibration to the crowd."
                    ),
                    score=float(ce["good_rate"]),
                    unit="proportion",
                    bounds=(0.0, 1.0),
                    uncertainty=_uncertainty(
                        *ce["good_rate_ci"],
                        CROWD_EQUIVALENT_INTERVAL,
                        ce["n"],
                        a.options.confidence,
                        a.options.resamples,
                    ),  # fmt: skip
                    details={
                        "judge": kind,
                        "judge_good_rate": ce["judge_good_rate"],
                        "calibration": ce["calibration"],
                        "loso_rms_error": ce["loso_rms_error"],
                        "rel_increase_good_percent": _finite(ce["rel_increase_good"]),
                        "rel_increase_good_ci": ce["rel_increase_good_ci"],
                        "baseline": "the crowd's human replies",
                    },
                    llm_scoring=ce_scoring,
                )
            )
    records: dict[str, dict[str, Any]] = {}
    for source, results in by_source.items():
        record = {
            "schema_version": SCHEMA_VERSION,
            "evaluation_id": f"{EVALUATION_NAME}/{source}/{stamp}",
            "retrieved_timestamp": stamp,
            "source_metadata": {
                "source_name": reg["title"],
                "source_type": "evaluation_run",
                "source_organization_name": "empathy-task",
                "evaluator_relationship": "third_party",
                "additional_details": _strings(
                    {
                        "task_version": reg["version"],
                        "paper": reg["paper"]["url"],
                        "baseline": baseline,
                    }
                ),
            },
            "eval_library": _eval_library(library),
            "model_info": _model_info(source),
            "evaluation_results": results,
        }
        validate(record)
        records[source] = record
    return records


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def _eval_library(library: str) -> dict[str, Any]:
    return {
        "name": library,
        "version": _version(library),
        "additional_details": {"analysed_by": f"empathy-task {_version('empathy-task')}"},
    }


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


PREFIX = "eee-"


def file_name(source: str) -> str:
    """``eee-<source>.json``, the source's name made a file name (``/`` becomes ``__``)."""
    return f"{PREFIX}{_UNSAFE.sub('_', source.replace('/', '__'))}.json"


def render_eee(
    a: Analysis, retrieved: float | None = None, library: str = "inspect_ai"
) -> dict[str, bytes]:
    """The records as files for the report folder (``eee-<source>.json``)."""
    return {
        file_name(source): (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode()
        for source, record in eee_records(a, retrieved, library).items()
    }
