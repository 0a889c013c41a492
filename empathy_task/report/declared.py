"""A statistic's columns declared once: the key ``report.json`` writes, what it means, and how the
Markdown and HTML document shows it.

A :class:`Column` is one field of a result row. ``report.json`` writes every declared field under
its ``key`` (and its meaning under the statistic's ``columns``); the document shows the fields
that have a ``header``, formatted by ``cell`` (which may read sibling fields: an estimate's cell
shows its interval, whose bounds are fields without a header of their own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from empathy_task.report.document import Table


@dataclass(frozen=True)
class Column:
    """One field of a statistic's rows (see the module docstring)."""

    key: str
    doc: str
    header: str | None = None  # None: in report.json only (or shown inside another column)
    cell: Callable[[Mapping[str, Any]], str] | None = None  # default: the value as text

    def text(self, record: Mapping[str, Any]) -> str:
        if self.cell is not None:
            return self.cell(record)
        value = record[self.key]
        return "" if value is None else str(value)


def column_docs(columns: Sequence[Column]) -> dict[str, str]:
    """``{key: meaning}``: the ``columns`` note of a statistic in report.json."""
    return {c.key: c.doc for c in columns}


def json_records(records: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[dict]:
    """The declared fields of each record, in declaration order (for report.json)."""
    return [{c.key: r[c.key] for c in columns} for r in records]


def document_table(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    caption: str = "",
    **fill: str,
) -> Table:
    """The declared columns that have a header, as a document table; ``fill`` completes
    headers such as ``"p ({correction})"``."""
    shown = [c for c in columns if c.header is not None]
    return Table(
        [str(c.header).format(**fill) for c in shown],
        [[c.text(r) for c in shown] for r in records],
        caption=caption,
    )
