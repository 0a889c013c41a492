"""Several judges in one run, and a judge that may favour the model it rates.

A panel is named with Inspect's model roles: ``--model-role grader=A --model-role grader_2=B``
(any role ``grader_<name>``), or one role bound to a list, ``--model-role grader=A,B``; ``-T
judges=grader,grader_2`` picks roles by name (and is how a Python ``eval(...)`` that names its roles
after building the task says which are judges). Each judge is one ``empathy_judge`` scorer of the
log (Inspect names them ``empathy_judge``, ``empathy_judge1``, ...), with its own cache entries.

Self-preference (docs/design.md, "Several judges"): a judge that shares a provider (the part of a
model's name before ``/``) or a model family with the model under test may favour it. String rules
only, so that the task, the reporter and the post-hoc judge say the same thing. Kept light: the
task imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

GRADER_ROLE = "grader"
_PANEL_ROLE = re.compile(rf"^{GRADER_ROLE}(_[A-Za-z0-9_-]+|[0-9]+)$")

# Families by the maker's model names (matched at the start of a word of the name after the
# provider): a judge of the same family shares its training lineage with the model.
MODEL_FAMILIES: dict[str, tuple[str, ...]] = {
    "gpt": ("gpt", "chatgpt", "o1", "o3", "o4", "davinci"),
    "claude": ("claude",),
    "gemini": ("gemini", "gemma"),
    "llama": ("llama",),
    "mistral": ("mistral", "mixtral", "ministral", "codestral"),
    "qwen": ("qwen", "qwq"),
    "deepseek": ("deepseek",),
    "phi": ("phi",),
    "grok": ("grok",),
    "command": ("command", "aya"),
    "smollm": ("smollm",),
}
# Providers that host or run other makers' models (and the package's own replay and mock
# provider): sharing one says nothing of a model's origin; the family still counts.
HOSTS: frozenset[str] = frozenset(
    {
        "empathy",
        "mockllm",
        "none",
        "hf",
        "vllm",
        "sglang",
        "ollama",
        "llama-cpp-python",
        "openai-api",
        "openrouter",
        "together",
        "groq",
        "fireworks",
        "bedrock",
        "azureai",
        "transformer_lens",
    }
)


def is_panel_role(role: str) -> bool:
    """Whether a model role names a judge: ``grader``, ``grader_<name>`` or ``grader<n>``."""
    return role == GRADER_ROLE or bool(_PANEL_ROLE.match(role))


class JudgeSlot(NamedTuple):
    """Where a judge of the panel comes from: a role, and its place when the role is a list."""

    role: str
    index: int = 0


def judge_slots(judges: str | Sequence[str] | None, roles: Mapping[str, Any]) -> list[JudgeSlot]:
    """The panel's judges, from ``-T judges=`` (role names) or else the run's roles.

    Without ``judges``: ``grader`` and every ``grader_<name>`` role the run names, ``grader``
    first, the rest in name order; a role bound to a list gives one judge per model. No roles at
    all (Python builds the task before ``eval`` names them): the ``grader`` role, resolved later.

    Raises:
        ValueError: ``judges`` names a role the run does not define, or names one twice.
    """
    if isinstance(judges, str):
        judges = [j.strip() for j in judges.split(",") if j.strip()]
    if judges:
        if len(set(judges)) != len(judges):
            raise ValueError(f"-T judges= names a role twice: {', '.join(judges)}")
        missing = [j for j in judges if roles and j not in roles and j != GRADER_ROLE]
        if missing:
            raise ValueError(
                f"-T judges= names role(s) {', '.join(missing)} that the run does not define "
                f"(its roles: {', '.join(sorted(roles)) or 'none'}); name each with "
                "--model-role <role>=<provider/model>"
            )
        names = list(judges)
    else:
        names = sorted((r for r in roles if is_panel_role(r)), key=lambda r: (r != GRADER_ROLE, r))
        names = names or [GRADER_ROLE]
    slots = []
    for role in names:
        bound = roles.get(role)
        count = len(bound) if isinstance(bound, list) else 1
        slots += [JudgeSlot(role, i) for i in range(count)]
    return slots


def _split(name: str) -> tuple[str, str]:
    # A source's name may carry its prompt variant: "openai/x [vanilla]".
    base = name.split(" [", 1)[0].strip()
    provider, _, rest = base.partition("/")
    return (provider.lower(), rest.lower()) if rest else ("", provider.lower())


def model_family(name: str) -> str | None:
    """The model family of an Inspect model name (``openai/gpt-4o`` is ``gpt``), or None."""
    _, rest = _split(name)
    for family, stems in MODEL_FAMILIES.items():
        for stem in stems:
            if re.search(rf"(?<![a-z0-9]){re.escape(stem)}", rest):
                return family
    return None


def shared_origin(model: str, judge: str) -> str | None:
    """Why ``judge`` may favour ``model``: the same model, provider or family; None if neither.

    A host provider (:data:`HOSTS`) is no shared origin by itself.
    """
    m_provider, _ = _split(model)
    j_provider, _ = _split(judge)
    if model.split(" [", 1)[0].strip().lower() == judge.strip().lower():
        return "is the model under test"
    if m_provider and m_provider == j_provider and m_provider not in HOSTS:
        return f"shares the provider {m_provider!r} with the model under test"
    family = model_family(model)
    if family is not None and family == model_family(judge):
        return f"shares the model family {family!r} with the model under test"
    return None


def self_preference_warnings(model: str, judges: Sequence[str]) -> list[str]:
    """One sentence per judge that may favour ``model`` (empty when none does)."""
    out = []
    for judge in judges:
        why = shared_origin(model, judge)
        if why:
            out.append(
                f"self-preference: the judge {judge} {why} ({model}); "
                "judges tend to favour their own kind of reply. Report the panel without this "
                "judge too (empathy-task report shows it), or add a judge of another origin."
            )
    return out
