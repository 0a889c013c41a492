"""The house plan (docs/design.md, "Layout"): what the package's structure promises, checked."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "empathy_task"
LIBRARY = [p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts]
FOLDERS = ("data", "task", "ratings", "analysis", "report", "study", "cli")


def _calls(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
    ]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_code_logs_and_never_prints(path: Path) -> None:
    assert _calls(path, "print") == [], f"{path}: print() in library code; log instead"


def test_each_fact_of_the_scale_is_written_once() -> None:
    # The scale, the valences and the rater's question live in empathy_task/vocabulary.py only.
    facts = ['("Bad", "Okay", "Good")', '("positive", "negative")', "How empathetic is Speaker #2"]
    for path in PACKAGE.rglob("*.py"):
        if path.name == "vocabulary.py":
            continue
        text = path.read_text(encoding="utf-8")
        for fact in facts:
            assert fact not in text, f"{path}: {fact} is written again; import it from vocabulary"


def test_every_part_says_what_it_holds() -> None:
    for folder in FOLDERS:
        init = PACKAGE / folder / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_importing_the_package_and_its_entry_point_stays_light() -> None:
    # Inspect imports the entry point in every run of every task.
    code = (
        "import sys, empathy_task, empathy_task._registry; "
        "heavy = {'pandas', 'matplotlib', 'flask', 'scipy'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_public_api_resolves() -> None:
    import empathy_task

    for name in empathy_task.__all__:
        assert callable(getattr(empathy_task, name)), name


def test_the_command_line_shows_what_the_library_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from empathy_task.cli import _library_messages

    with _library_messages("report"):
        logging.getLogger("empathy_task.ratings.logs").warning("two logs disagree")
    assert capsys.readouterr().err == "empathy-task report: two logs disagree\n"
    # Outside a command the package adds no handler of its own (Inspect's logging decides).
    assert logging.getLogger("empathy_task").handlers == []


def test_the_tests_mirror_the_package() -> None:
    tests = Path(__file__).resolve().parent
    for folder in ("data", "task", "ratings", "analysis", "report", "study", "cli"):
        assert list((tests / folder).glob("test_*.py")), f"tests/{folder}/ holds no tests"
    # At the top only what crosses every part: the layout, faults, properties, the vocabulary and
    # the worked example.
    top = {p.name for p in tests.glob("test_*.py")}
    assert top == {
        "test_layout.py",
        "test_faults.py",
        "test_properties.py",
        "test_vocabulary.py",
        "test_worked_example.py",
    }
