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


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping.

    YAML keeps the last of two equal keys without a word, so a second ``version:`` would silently
    replace the first; this loader names the key and both lines instead.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {seen[key]}, again on line {line})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


@cache
def registry() -> dict[str, Any]:
    """The parsed ``registry.yaml`` (a key written twice is an error, not the last one wins)."""
    with resource_path("registry.yaml").open(encoding="utf-8") as f:
        return yaml.load(f, Loader=UniqueKeyLoader)


@dataclass(frozen=True)
class DataPin:
    url: str
    sha256: str
    bytes: int
    commit: str
    rows: int


def data_pin(key: str = "data") -> DataPin:
    """The pinned authors' CSV (``key="data"``) or the second file (``key="models_data"``)."""
    d = registry()[key]
    return DataPin(
        url=d["url"],
        sha256=d["sha256"],
        bytes=int(d["bytes"]),
        commit=d["commit"],
        rows=int(d["rows"]),
    )


def models_data_pin() -> DataPin:
    """The pinned second file (Distilling-Empathy): the LLaMA-2, Gemini and Mixtral ratings."""
    return data_pin("models_data")


def source_display_names() -> dict[str, str]:
    """What the paper calls each stored source (``registry.yaml: source_display_names``)."""
    return dict(registry()["source_display_names"])


def published_good_counts() -> dict[str, int]:
    """The paper's Good counts out of ``n`` crowd ratings per source (reference rows)."""
    return dict(registry()["reference_results"]["good"])


def human_ceiling_kappa() -> float:
    """The study pilot's weighted kappa between two crowd raters (a published figure)."""
    return float(registry()["reference_results"]["pilot_weighted_kappa"])
