"""Path parameters (-T data=, -T calibration=, -T export=) read against the user's folder, in
the registry form (``empathy_task/empathy_task``) and in the repo-root folder form
(``empathy_task``), where Inspect builds and runs the task in the task file's folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from empathy_task.task.paths import TASK_DIR, user_path

REPO = Path(__file__).resolve().parents[2]
INSPECT = str(Path(sys.executable).with_name("inspect"))


def test_user_path_reads_a_relative_path_against_the_users_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import empathy_task.task.paths as paths

    assert user_path("/abs/x.csv") == "/abs/x.csv"
    monkeypatch.chdir(TASK_DIR)  # where Inspect's folder form builds the task
    monkeypatch.setattr(paths, "_inspect_root_dir", lambda: tmp_path)
    assert user_path("x.csv") == str(tmp_path / "x.csv")
    monkeypatch.setattr(paths, "_inspect_root_dir", lambda: None)
    monkeypatch.setenv("PWD", str(tmp_path))
    assert user_path("x.csv") == str(tmp_path / "x.csv")
    monkeypatch.chdir(tmp_path.parent)  # a Python caller's own chdir counts
    assert user_path("x.csv") == str(tmp_path.parent / "x.csv")


@pytest.fixture(scope="module")
def calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from inspect_ai import eval as inspect_eval

    from empathy_task._registry import empathy_judge_validation
    from empathy_task.cli import main as cli

    folder = tmp_path_factory.mktemp("calibration")
    [log] = inspect_eval(
        empathy_judge_validation(sample=30, seed=1),
        model="empathy/mock-judge",
        display="none",
        log_dir=str(folder / "logs"),
    )
    assert log.status == "success"
    out = folder / "cal.json"
    assert cli(["calibrate", log.location, "--out", str(out)]) == 0
    return out


@pytest.mark.dataset_download
@pytest.mark.parametrize("form", ["registry", "folder"])
def test_path_parameters_resolve_against_the_users_folder(
    form: str, tmp_path: Path, calibration_file: Path
) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "mydata.csv").symlink_to(os.environ["EMPATHY_TASK_DATA"])
    (user / "cal.json").write_bytes(calibration_file.read_bytes())
    if form == "registry":
        cwd, spec, base = user, "empathy_task/empathy_task", Path(".")
    else:
        # `inspect eval empathy_task` from the repo root; the user's files are elsewhere, named
        # relative to the repo root (nothing is written into the repository).
        cwd, spec, base = REPO, "empathy_task", Path(os.path.relpath(user, REPO))
    env = {**os.environ, "NO_COLOR": "1"}
    # EMPATHY_TASK_DATA stays set: the replayed model (empathy/human) reads its replies from it;
    # the task's prompts come from -T data=, a path that exists only in the user's folder.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [INSPECT, "eval", spec, "--model", "empathy/human",
         "--model-role", "grader=empathy/mock-judge", "--display", "plain",
         "--log-dir", str(tmp_path / "logs"),
         "-T", f"data={base / 'mydata.csv'}", "-T", f"calibration={base / 'cal.json'}",
         "-T", f"export={base / 'tables'}", "-T", "sample=4"],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    from inspect_ai.log import list_eval_logs, read_eval_log

    [info] = list_eval_logs(str(tmp_path / "logs"))
    log = read_eval_log(info)
    assert log.status == "success", log.error
    [score] = log.results.scores
    assert "crowd_equivalent_good_rate" in score.metrics
    [table] = (user / "tables").iterdir()
    assert table.stat().st_size > 0
    assert not (TASK_DIR / base / "tables").exists()


@pytest.mark.dataset_download
def test_without_a_usable_judge_display_none_still_says_why(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [INSPECT, "eval", "empathy_task/empathy_task", "--model", "empathy/human",
         "--display", "none",
         "--log-dir", str(tmp_path / "logs"), "-T", "sample=2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode != 0
    assert "the judge could not be created" in done.stderr, done.stderr
    assert "--model-role grader=" in done.stderr
    assert "Traceback" not in done.stderr
