"""A document -> Markdown and self-contained HTML; the rendered report written into place whole."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Sequence
from glob import escape as glob_escape
from pathlib import Path

from empathy_task.analysis.results import Analysis
from empathy_task.outputs import _UMASK, OutputExistsError
from empathy_task.ratings.inputs import LoadedInput
from empathy_task.report.document import Paragraph, RenderedReport, Section, Table
from empathy_task.report.figures import render_figures
from empathy_task.report.report_json import render_json
from empathy_task.report.sections import build_document

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("md", "html", "json", "eee")
# What --format means without one: the report itself; eee (Every Eval Ever records) is asked for.
DEFAULT_FORMATS: tuple[str, ...] = ("md", "html", "json")


FILE_NAMES: dict[str, str] = {"md": "report.md", "html": "report.html", "json": "report.json"}


# Markdown passes raw HTML through: a "<" that could open a tag, comment or declaration and an
# "&" that could start an entity are written as entities, so a source or judge name such as
# "<img src=x onerror=...>" shows as text (as report.html shows it); "p < .05" stays readable.
_MD_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")


_MD_ENTITY = re.compile(r"&(?=[#A-Za-z])")


def _md_text(text: str) -> str:
    return _MD_TAG_OPEN.sub("&lt;", _MD_ENTITY.sub("&amp;", text))


def _md_cell(text: str) -> str:
    return _md_text(text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " "))


def render_markdown(sections: Sequence[Section], title: str = "Empathy report") -> str:
    """GitHub-flavoured Markdown; figures refer to the PNG files written beside it."""
    lines = [f"# {_md_text(title)}", ""]
    for s in sections:
        lines += ["#" * s.level + " " + _md_text(s.title), ""]
        for b in s.blocks:
            if isinstance(b, Paragraph):
                lines += [_md_text(b.text), ""]
            elif isinstance(b, Table):
                if b.caption:
                    lines += [f"*{_md_text(b.caption)}*", ""]
                if not b.rows:
                    lines += ["(none)", ""]
                    continue
                lines.append("| " + " | ".join(_md_cell(c) for c in b.columns) + " |")
                lines.append("|" + "|".join("---" for _ in b.columns) + "|")
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
                lines.append("")
            else:
                lines += [f"![{_md_text(b.caption)}]({b.file_name})", ""]
    return "\n".join(lines)


def render_html(sections: Sequence[Section], title: str = "Empathy report") -> str:
    """One self-contained HTML page (Jinja2, autoescaped); figures are inline data URIs."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("empathy_task.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(title=title, sections=sections)


def render_report(
    a: Analysis,
    formats: Sequence[str] = DEFAULT_FORMATS,
    inputs: Sequence[LoadedInput] = (),
    title: str = "Empathy report",
    *,
    timings: dict[str, float] | None = None,
) -> RenderedReport:
    """Every file of the report, in memory.

    ``timings``, if given, receives the seconds spent on ``figures``, ``document`` (Markdown and
    HTML) and ``json``, for the benchmark.
    """
    import time

    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(
            f"unknown format(s) {', '.join(unknown) or '(none)'}: use {', '.join(FORMATS)}"
        )
    clock = {} if timings is None else timings
    files: dict[str, bytes] = {}
    if "md" in formats or "html" in formats:
        start = time.perf_counter()
        figures = render_figures(a)
        clock["figures"] = time.perf_counter() - start
        start = time.perf_counter()
        sections = build_document(a, figures, inputs)
        if "md" in formats:
            files[FILE_NAMES["md"]] = render_markdown(sections, title).encode("utf-8")
            files.update(figures)
        if "html" in formats:
            files[FILE_NAMES["html"]] = render_html(sections, title).encode("utf-8")
            files.update(figures)
        clock["document"] = time.perf_counter() - start
    if "json" in formats:
        start = time.perf_counter()
        files[FILE_NAMES["json"]] = render_json(a, inputs).encode("utf-8")
        clock["json"] = time.perf_counter() - start
    if "eee" in formats:
        from empathy_task.report.eee import render_eee

        logs = any(i.kind == "log" for i in inputs) or not inputs
        files.update(render_eee(a, library="inspect_ai" if logs else "empathy-task"))
    return RenderedReport(files)


#: The file in a report folder that lists the files the report wrote: the only files a later
#: report replaces or deletes (a PNG of yours is yours).
MANIFEST = ".empathy-report.json"
_MANIFEST_KIND = "empathy-task report"
# The figures' names (figures.py), for a folder written before reports had a manifest.
_LEGACY_FILE = re.compile(
    r"(?:ratings_by_source|(?:valence|forest|confusion|heatmap|between_models)_\d+)\.png"
    r"|eee-.+\.json"
)


def _manifest(folder: Path) -> list[str] | None:
    """The files the report in ``folder`` wrote, from its manifest; None if it has none."""
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != _MANIFEST_KIND:
        return None
    files = doc.get("files")
    if not isinstance(files, list):
        return None
    # Plain names only: a manifest never names a file outside its folder.
    return [f for f in files if isinstance(f, str) and f and Path(f).name == f and f != MANIFEST]


def _manifest_bytes(names: Sequence[str]) -> bytes:
    return json.dumps({"kind": _MANIFEST_KIND, "files": sorted(names)}, indent=1).encode("utf-8")


def _is_report_file(path: Path, listed: Sequence[str] | None = None) -> bool:
    """A file a report wrote: listed in the folder's manifest (``listed``); in a folder without
    one (a report of an earlier version), its Markdown, HTML, JSON, Every Eval Ever records or
    one of its figures."""
    if not path.is_file() or path.is_symlink():
        return False
    if path.name == MANIFEST:
        return True
    if listed is not None:
        return path.name in listed
    return path.name in FILE_NAMES.values() or bool(_LEGACY_FILE.fullmatch(path.name))


def write_report(report: RenderedReport, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """Write the rendered files into ``out_dir``, which then holds exactly this one report.

    Without ``force`` a folder that already holds report files is refused. The report is written
    whole into a new folder beside ``out_dir`` and swapped in for it (:func:`_swap_in`): the
    folder holds the previous report, untouched, or the new one, whole, never a mix, and none of
    the previous report's files (PNGs of figures the new one no longer has) stay behind. Files
    and folders a report does not write (notes of your own) move into the new folder with it,
    unread and unchanged. A report file's name taken by a folder or a symlink is refused up
    front. A symlink to a folder is followed: the link stays, the folder it names is replaced.
    """
    out = Path(out_dir)
    if out.is_symlink() and not out.exists():
        raise OutputExistsError(f"{out} is a dangling symlink; remove it or choose another folder")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    if out.is_symlink():
        out = out.resolve()
    recover_swap(out)
    present = sorted(out.iterdir()) if out.is_dir() else []
    listed = _manifest(out) if out.is_dir() else None
    reports = [p for p in present if _is_report_file(p, listed) and p.name != MANIFEST]
    if reports and not force:
        names = ", ".join(p.name for p in reports)
        raise OutputExistsError(f"{out} already holds {names}; pass --force to overwrite")
    blocked = [
        t
        for t in (out / name for name in report.files)
        if t.is_symlink() or (t.exists() and not t.is_file())
    ]
    if blocked:
        names = ", ".join(t.name for t in blocked)
        raise OutputExistsError(
            f"{out}: {names} is a folder or a symlink where the report writes a file; "
            "remove it first (nothing was written)"
        )
    kept = [p.name for p in present if not _is_report_file(p, listed)]
    # The swap renames the folder itself: "." or "x/.." must name it, not stand for it.
    place = Path(os.path.abspath(out))
    place.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{place.name}.new-", dir=place.parent))
    try:
        # First: it marks the folder as a report's, for recover_swap after a crash.
        (new / MANIFEST).write_bytes(_manifest_bytes(list(report.files)))
        for name, data in report.files.items():
            (new / name).write_bytes(data)
        # mkdtemp's folder is private (0700): give it the old folder's mode, or a new one's.
        new.chmod(stat.S_IMODE(place.stat().st_mode) if place.is_dir() else 0o777 & ~_UMASK)
        if place.is_dir():
            inside = _working_folder_inside(place)
            _swap_in(new, place, kept)
            if inside is not None:  # follow the folder: the old one is gone
                os.chdir(place / inside)
        else:
            os.rename(new, place)
    except BaseException:
        # Never delete a file of the user's: if one could not be moved back, keep the folder.
        stranded = [k for k in kept if os.path.lexists(new / k)]
        if stranded:
            logger.error("files of yours from %s are in %s: %s", place, new, ", ".join(stranded))
        else:
            shutil.rmtree(new, ignore_errors=True)
        raise
    return [out / name for name in report.files]


def recover_swap(out: Path) -> None:
    """Finish or undo a swap of ``out`` that a crash (kill -9, power loss) left halfway.

    A swap works in two hidden folders beside ``out``, ``.NAME.new-*`` (the new report, then
    the files of yours moved into it) and ``.NAME.old-*`` (the previous report, set aside), each
    marked by its manifest. Files of yours go back into ``out`` (or, if the crash came between
    the two renames, ``out`` is the new folder, renamed in); then the report files of the stale
    folders, and nothing else, are deleted. A hidden folder without a report's manifest is not
    touched.
    """
    place = Path(os.path.abspath(out))
    parent = place.parent
    if not parent.is_dir():
        return
    ours = [
        p
        for p in parent.glob(f".{glob_escape(place.name)}.*-*")
        if p.is_dir()
        and not p.is_symlink()
        and p.name.startswith((f".{place.name}.new-", f".{place.name}.old-"))
    ]
    for p in ours:
        # Killed before its manifest was whole: a folder that holds nothing else goes.
        if _manifest(p) is None and {e.name for e in p.iterdir()} <= {MANIFEST}:
            (p / MANIFEST).unlink(missing_ok=True)
            p.rmdir()
    stale = sorted(p for p in ours if p.exists() and _manifest(p) is not None)
    if not stale:
        return
    if not place.exists():
        new = [p for p in stale if p.name.startswith(f".{place.name}.new-")]
        old = [p for p in stale if p.name.startswith(f".{place.name}.old-")]
        if new and old:
            # Killed between the two renames: the new folder was whole; it goes in.
            os.rename(new[-1], place)
            stale.remove(new[-1])
        else:
            # Killed while a first report was written: there is nothing of yours to move back.
            for folder in stale:
                listed = set(_manifest(folder) or ())
                for entry in folder.iterdir():
                    if entry.name == MANIFEST or _is_report_file(entry, listed):
                        entry.unlink()
                _remove_if_empty(folder, place)
            return
    for folder in stale:
        listed = set(_manifest(folder) or ())
        for entry in sorted(folder.iterdir()):
            if entry.name == MANIFEST or (entry.name in listed and _is_report_file(entry, listed)):
                entry.unlink()
            elif not os.path.lexists(place / entry.name):
                os.rename(entry, place / entry.name)  # a file of yours, back in its place
        _remove_if_empty(folder, place)


def _remove_if_empty(folder: Path, place: Path) -> None:
    try:
        folder.rmdir()
        logger.warning("recovered %s from an interrupted report write (%s)", place, folder)
    except OSError:
        logger.error(
            "%s holds files of yours whose names are taken in %s: %s",
            folder,
            place,
            ", ".join(p.name for p in folder.iterdir()),
        )


def _working_folder_inside(folder: Path) -> Path | None:
    """The process's working folder relative to ``folder`` if it is inside it, else None."""
    try:
        return Path(os.getcwd()).relative_to(folder.resolve())
    except (ValueError, OSError):
        return None


def _swap_in(new: Path, out: Path, kept: Sequence[str]) -> None:
    """Put folder ``new`` in the place of folder ``out``, carrying ``out``'s entries ``kept``.

    The kept entries move into ``new``, ``out`` is renamed aside, ``new`` renamed in, and the old
    folder (by then only the previous report's files) deleted. Every step is a rename within one
    folder; a failure undoes the steps done, so ``out`` is as it was. (A crash between the two
    folder renames leaves both folders beside ``out``, each whole.)
    """
    moved: list[str] = []
    try:
        for name in kept:
            os.rename(out / name, new / name)
            moved.append(name)
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        aside.rmdir()  # a free name beside out (renaming onto a folder fails on Windows)
        os.rename(out, aside)
        try:
            os.rename(new, out)
        except BaseException:
            os.rename(aside, out)
            raise
    except BaseException:
        for name in reversed(moved):
            os.rename(new / name, out / name)
        raise
    try:
        shutil.rmtree(aside)
    except OSError as e:  # the new report is in place; the old one is only in the way
        logger.warning("could not remove the previous report at %s: %s", aside, e)
