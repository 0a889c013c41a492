"""Lint the task files the Inspect Evals listing names, as the register's lint service does.

Usage:
    python scripts/register_lint.py [--output-format text|json|markdown]

The register lints ``tasks[].task_path`` of its entry (plugins/inspect_evals/eval.yaml here) with
``inspect_evals_lint.runner.lint_task_files`` and its own configuration (``REGISTER_CONFIG``: the
single-evaluation layout, ``eval.yaml`` optional), never the repository's
``[tool.inspect-evals-lint]`` table, which ``inspect-evals-lint --task`` would read. Exits 1 if a
check fails, as the register does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LISTING = REPO / "plugins" / "inspect_evals" / "eval.yaml"


def task_paths(listing: Path = LISTING) -> list[str]:
    """The listing's ``tasks[].task_path``, in its order."""
    import yaml

    return [
        str(t["task_path"]) for t in yaml.safe_load(listing.read_text(encoding="utf-8"))["tasks"]
    ]


def main(argv: list[str] | None = None) -> int:
    from inspect_evals_lint.config import REGISTER_CONFIG
    from inspect_evals_lint.render import render_json, render_markdown
    from inspect_evals_lint.render.console import print_report
    from inspect_evals_lint.runner import lint_task_files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-format", choices=["text", "json", "markdown"], default="text")
    args = parser.parse_args(argv)
    run = lint_task_files(REPO, task_paths(), None)
    if args.output_format == "json":
        sys.stdout.write(render_json(run))
    elif args.output_format == "markdown":
        sys.stdout.write(render_markdown(run))
    else:
        for report in run.packages:
            print_report(report, REGISTER_CONFIG, root=REPO)
    return 0 if run.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
