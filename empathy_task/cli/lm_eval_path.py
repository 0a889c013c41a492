"""``empathy-task lm-eval-path``: the folder to pass to ``lm_eval --include_path``."""

from __future__ import annotations

import argparse

HELP = (
    "Print the folder of the empathy_task lm-eval tasks, for lm_eval --include_path "
    '"$(empathy-task lm-eval-path)". Works for a clone and for an installed wheel.'
)


def configure(parser: argparse.ArgumentParser) -> None:
    # No options: the output is meant for command substitution.
    del parser


def run(args: argparse.Namespace) -> int:
    from empathy_task.resources import resource_path

    # Only the plugin folder, never the repo root: lm-eval indexes every YAML under the path
    # it is given, and would try to read the root's registry.yaml as a task.
    folder = resource_path("plugins/lm_eval")
    if not (folder / "empathy_task.yaml").is_file():
        raise FileNotFoundError(f"{folder} holds no empathy_task.yaml: a broken installation")
    print(folder)
    return 0
