"""``empathy-task`` command line: one module per sub-command under ``empathy_task.cli``.

Each module defines ``HELP``, ``configure(parser)`` and ``run(args) -> int``; it is imported only when
its command runs, so ``empathy-task --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from empathy_task.vocabulary import RATINGS

if TYPE_CHECKING:
    import pandas as pd

#: command name -> module under empathy_task.cli, and its one-line help.
COMMANDS: dict[str, tuple[str, str]] = {
    "reproduce": ("reproduce", "Report the study's public rating groups, with the published rows."),
    "report": (
        "report",
        "Run the study's statistics over rating tables, Inspect logs or the authors' CSV.",
    ),
    "calibrate": (
        "calibrate",
        "Calibrate a judge to the crowd from its ratings of the stored replies.",
    ),
    "power": ("power", "Total sample size a chi-squared test needs (G*Power's method)."),
    "export": ("export", "Write the rating table from Inspect logs."),
    "data": ("data", "Fetch, verify and locate the authors' CSV."),
    "judge": (
        "judge",
        "Judge replies post hoc (lm-eval samples or reply tables) with an Inspect model.",
    ),
    "lm-eval-path": ("lm_eval_path", "Print the folder to pass to lm_eval --include_path."),
    "sheets": ("sheets", "Write blinded rating sheets in the study's batches for a human study."),
    "serve": ("serve", "Run the rating web app for a human study."),
    "links": ("links", "Make signed, expiring participant links for the rating web app."),
    "import-returns": ("import_returns", "Turn returned human ratings into a rating table."),
    "void": ("void", "Void batches of the rating app (e.g. not in Prolific's returns)."),
}

EXIT_BAD_INPUT = 2


@contextlib.contextmanager
def _library_messages(command: str) -> Iterator[None]:
    """The package's modules log (as Inspect's do) and never print; while a command runs, their
    messages go to stderr, prefixed like its own errors. An Inspect run configures its own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"empathy-task {command}: %(message)s"))
    package = logging.getLogger("empathy_task")
    saved = package.level, package.propagate
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    package.propagate = False
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]


def _user_errors() -> tuple[type[BaseException], ...]:
    from empathy_task.data.fetch import DataError
    from empathy_task.outputs import OutputExistsError
    from empathy_task.ratings.table import RatingTableError

    # OSError: a missing input, a full disk, no permission. Said in one line, not a traceback.
    return (DataError, RatingTableError, OutputExistsError, OSError, ValueError)


def one_line(error: BaseException) -> str:
    """An error's message as one line of plain text: Inspect's errors carry rich markup
    (``[bold]``) and line breaks meant for its own console."""
    text = str(error)
    try:
        from rich.text import Text

        text = Text.from_markup(text).plain
    except Exception:  # not valid markup: keep the text as it is
        pass
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="empathy-task", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    # Parse the command name first, then let only that module build its parser.
    known, _ = parser.parse_known_args(argv[:1] if argv and not argv[0].startswith("-") else argv)
    module = importlib.import_module(f"empathy_task.cli.{COMMANDS[known.command][0]}")
    cmd_parser = argparse.ArgumentParser(
        prog=f"empathy-task {known.command}", description=module.HELP
    )
    module.configure(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    try:
        with _library_messages(known.command):
            return int(module.run(args) or 0)
    except _user_errors() as e:
        print(f"empathy-task {known.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


def print_rating_summary(table: pd.DataFrame, *, raters: bool = False) -> None:
    """One line per source: its ratings and their Bad / Okay / Good counts (and raters)."""
    from empathy_task.vocabulary import RATING_LABELS

    per_source = table.groupby("source")["rater"].nunique()
    counts = table.groupby(["source", "rating"]).size().unstack(fill_value=0)
    for source, row in counts.iterrows():
        dist = ", ".join(f"{RATING_LABELS[r]} {int(row.get(r, 0))}" for r in RATINGS)
        by = f" from {int(per_source[source])} raters" if raters else ""
        print(f"{source}: {int(row.sum())} ratings{by} ({dist})")


if __name__ == "__main__":
    sys.exit(main())
