"""The report: an :class:`~empathy_task.analysis.Analysis` -> Markdown, HTML, figures and JSON.

- :mod:`.document`: the document model (sections, tables, figures) and number formats;
- :mod:`.sections`: one function per section of the report;
- :mod:`.figures`: the PNG figures (matplotlib);
- :mod:`.report_json`: ``report.json`` with the stable keys of docs/design.md;
- :mod:`.render`: Markdown and self-contained HTML, and the report written into place whole.
"""

from empathy_task.report.document import RenderedReport
from empathy_task.report.render import (
    FILE_NAMES,
    FORMATS,
    render_html,
    render_markdown,
    render_report,
    write_report,
)
from empathy_task.report.report_json import render_json
from empathy_task.report.sections import build_document

__all__ = [
    "FILE_NAMES",
    "FORMATS",
    "RenderedReport",
    "build_document",
    "render_html",
    "render_json",
    "render_markdown",
    "render_report",
    "write_report",
]
