"""One report over the ratings of several prompt sets: each set analysed and shown apart.

Ratings of different prompt sets are never compared with each other (README, "Your own
prompts"): the reporter splits its inputs by prompt set
(:func:`empathy_task.analysis.steps.split_by_prompt_set`), analyses each part on its own, and
writes one document with a part per set. ``report.json`` then holds the first part's report at
its top level (the study's prompts where present, so its stable keys keep their meaning) and every
part under ``prompt_sets``: ``[{"name", "sha256", "report": {...}}]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from empathy_task.analysis.results import Analysis
from empathy_task.ratings.inputs import LoadedInput
from empathy_task.report.document import Figure, RenderedReport, Section, Table, fmt_int
from empathy_task.report.render import FILE_NAMES, render_html, render_markdown
from empathy_task.report.report_json import render_json

STUDY_PROMPTS = "the study's prompts"
NEVER_COMPARED = (
    "Ratings of different prompt sets are never compared with each other: each set is "
    "analysed on its own, with its own baseline (its own human replies), and shown apart."
)


def set_label(prompt_set: dict[str, Any] | None) -> str:
    """How a report names a part: the set's name and the start of its sha256."""
    if prompt_set is None:
        return STUDY_PROMPTS
    sha = prompt_set.get("sha256")
    return f"{prompt_set['name']} (sha256 {sha[:12]})" if sha else str(prompt_set["name"])


def _slug(i: int, prompt_set: dict[str, Any] | None) -> str:
    name = "study" if prompt_set is None else str(prompt_set["name"])
    return f"set{i + 1}-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "set")


def render_by_prompt_set(
    parts: Sequence[tuple[dict[str, Any] | None, Analysis]],
    formats: Sequence[str],
    inputs: Sequence[LoadedInput] = (),
    title: str = "Empathy report",
) -> RenderedReport:
    """The report of several prompt sets' analyses, each in its own part (see the module)."""
    from empathy_task.report.figures import render_figures
    from empathy_task.report.sections import build_document

    files: dict[str, bytes] = {}
    sections: list[Section] = []
    intro = Section("Prompt sets")
    intro.add(NEVER_COMPARED)
    intro.add(
        Table(
            ["part", "prompt set", "sha256", "ratings", "sources"],
            [
                [
                    str(i + 1),
                    STUDY_PROMPTS if s is None else str(s["name"]),
                    "" if s is None else str(s.get("sha256") or ""),
                    fmt_int(a.n_ratings),
                    ", ".join(a.sources.get(a.primary_kind, ())),
                ]
                for i, (s, a) in enumerate(parts)
            ],
        )
    )
    sections.append(intro)
    if "md" in formats or "html" in formats:
        for i, (s, a) in enumerate(parts):
            prefix = _slug(i, s) + "-"  # figure files of two parts never share a name
            figures = render_figures(a)
            part = build_document(a, figures, inputs)
            sections.append(Section(f"Part {i + 1}: {set_label(s)}", level=2))
            for sec in part:
                for block in sec.blocks:
                    if isinstance(block, Figure):
                        block.file_name = prefix + block.file_name
                sec.level += 1
                sections.append(sec)
            files.update({prefix + k: v for k, v in figures.items()})
        if "md" in formats:
            files[FILE_NAMES["md"]] = render_markdown(sections, title).encode("utf-8")
        if "html" in formats:
            files[FILE_NAMES["html"]] = render_html(sections, title).encode("utf-8")
    if "json" in formats:
        texts = [render_json(a, inputs) for _, a in parts]
        listed = ",\n".join(
            json.dumps(
                {
                    "name": STUDY_PROMPTS if s is None else s["name"],
                    "sha256": None if s is None else s.get("sha256"),
                }
            )[:-1]
            + ', "report": '
            + t.strip()
            + "}"
            for (s, _), t in zip(parts, texts)
        )
        head = texts[0].rstrip().removesuffix("}").rstrip()
        note = json.dumps(NEVER_COMPARED)
        files[FILE_NAMES["json"]] = (
            f'{head},\n"prompt_sets_note": {note},\n"prompt_sets": [\n{listed}\n]\n}}\n'
        ).encode()
    return RenderedReport(files)
