"""How the package sits in the ecosystems: silent in other tasks' Inspect runs, a listing the
Inspect Evals register accepts, and a package ``inspect-evals-lint`` passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INSPECT = str(Path(sys.executable).with_name("inspect"))
LISTING = REPO / "plugins" / "inspect_evals" / "eval.yaml"

TRIVIAL_TASK = """
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.solver import generate


@task
def trivial():
    return Task(dataset=[Sample(id=1, input="Say 1", target="1")], solver=generate(), scorer=match())
"""


def _inspect(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INSPECT_LOG_DIR": str(tmp_path / "logs"), "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [INSPECT, "eval", *args, "--log-dir", str(tmp_path / "logs")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_a_run_of_another_task_does_not_announce_the_package(tmp_path: Path) -> None:
    # The package is installed (its entry point is loaded in every run), but the run is not its own.
    (tmp_path / "trivial.py").write_text(TRIVIAL_TASK)
    run = _inspect(["trivial.py", "--model", "mockllm/model"], tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout + run.stderr
    assert "empathy_task" not in out
    assert "hooks enabled" not in out


def test_export_still_writes_the_table_in_the_packages_own_run(tmp_path: Path) -> None:
    run = _inspect(
        [
            "empathy_task/empathy_task",
            "--model",
            "empathy/human",
            "--model-role",
            "grader=empathy/mock-judge",
            "-T",
            "sample=32",
            "-T",
            f"export={tmp_path / 'table'}",
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    [table] = (tmp_path / "table").iterdir()
    assert table.suffix == ".csv" and len(table.read_text().splitlines()) > 32
