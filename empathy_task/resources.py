"""Task metadata from ``registry.yaml``: the data pin, prompt versions, published results."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

_PACKAGE = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Path of ``registry.yaml``, ``human_baseline/...`` or ``plugins/...``.

    A wheel carries them under ``empathy_task/_resources``; a clone (editable install) has them
    beside the package at the repo root.
    """
    for base in (_PACKAGE / "_resources", _PACKAGE.parent):
        candidate = base / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"empathy_task resource not found: {name}")


@cache
def registry() -> dict[str, Any]:
    """The parsed ``registry.yaml``."""
    with resource_path("registry.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@dataclass(frozen=True)
class DataPin:
    url: str
    sha256: str
    bytes: int
    commit: str
    rows: int


def data_pin() -> DataPin:
    """The pinned authors' CSV."""
    d = registry()["data"]
    return DataPin(
        url=d["url"],
        sha256=d["sha256"],
        bytes=int(d["bytes"]),
        commit=d["commit"],
        rows=int(d["rows"]),
    )


def published_good_counts() -> dict[str, int]:
    """The paper's Good counts out of ``n`` crowd ratings per source (reference rows)."""
    return dict(registry()["reference_results"]["good"])


def human_ceiling_kappa() -> float:
    """The study pilot's weighted kappa between two crowd raters (a published figure)."""
    return float(registry()["reference_results"]["pilot_weighted_kappa"])


def display_names() -> dict[str, str]:
    """The paper's name of each stored source (``registry.yaml``, ``sources``), e.g.
    ``llama_empathy`` -> ``LLaMA-2-70B-Chat``; empty where the registry names none."""
    return {
        str(name): str((entry or {}).get("display", name))
        for name, entry in (registry().get("sources") or {}).items()
    }
