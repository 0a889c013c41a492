"""A small document model shared by the Markdown and HTML renderers, and the number formats."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from empathy_task.vocabulary import CROWD


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


def is_nan(x: Any) -> bool:
    return x is None or (isinstance(x, float | np.floating) and math.isnan(x))


def fmt_int(x: Any) -> str:
    return "n/a" if is_nan(x) else f"{int(x):,}"


def fmt_rate(x: Any) -> str:
    return "n/a" if is_nan(x) else f"{100 * float(x):.1f}%"


def fmt_ci(low: Any, high: Any, scale: float = 100.0) -> str:
    if is_nan(low) or is_nan(high):
        return ""
    return f"[{scale * float(low):.1f}, {scale * float(high):.1f}]"


def fmt_rel(x: Any) -> str:
    return "n/a" if is_nan(x) else f"{float(x):+.1f}%"


def fmt_p(p: Any) -> str:
    if is_nan(p):
        return "n/a"
    p = float(p)
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def fmt_num(x: Any, digits: int = 2) -> str:
    return "n/a" if is_nan(x) else f"{float(x):.{digits}f}"


def fmt_power(x: Any) -> str:
    if is_nan(x):
        return "n/a"
    return "> 0.999" if float(x) > 0.9995 else f"{float(x):.3f}"


def kind_title(kind: str) -> str:
    return "crowd raters" if kind == CROWD else f"judge {kind}"


def with_paper_name(source: str, names: dict[str, str]) -> str:
    """A stored source with the paper's name of its model in brackets, where it differs
    (``names``: ``resources.source_display_names()``)."""
    name = names.get(source)
    return f"{source} ({name})" if name and name.lower() != source.lower() else source
