"""registry.yaml is the one source of task metadata: the plugins and the Inspect task agree with it.

Also: an installed wheel carries the lm-eval plugin, and ``empathy-task lm-eval-path`` finds it.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml

from empathy_task.resources import UniqueKeyLoader, registry, resource_path

REPO = Path(__file__).resolve().parents[2]
LM_EVAL = resource_path("plugins/lm_eval")


class _TaskYamlLoader(UniqueKeyLoader):
    """Reads lm-eval task YAML without lm-eval: ``!function`` tags stay strings."""


_TaskYamlLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _lm_eval_configs(folder: Path) -> list[dict[str, Any]]:
    """Every task/group config lm-eval would index under ``folder``, with includes merged."""

    def load(path: Path) -> dict[str, Any]:
        cfg = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskYamlLoader)
        include = cfg.pop("include", None)
        if include is None:
            return cfg
        # lm-eval merges an included file's keys under the including file's (shallow).
        return {**load(path.parent / include), **cfg}

    return [load(p) for p in sorted(folder.glob("*.yaml"))]


def test_no_yaml_file_writes_a_key_twice() -> None:
    # YAML keeps the last of two equal keys silently (registry.yaml had `version` twice under
    # frameworks.lm_eval): every YAML the package reads is loaded with duplicates refused.
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'version'"):
        yaml.load("a:\n  version: 1.0.0\n  version: 1.0\n", Loader=UniqueKeyLoader)
    files = [
        REPO / "registry.yaml",
        REPO / registry()["frameworks"]["inspect_evals"]["listing"],
        *sorted(LM_EVAL.glob("*.yaml")),
        LM_EVAL / "_empathy_task_template_yaml",
    ]
    for path in files:
        yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskYamlLoader)
    assert registry()["frameworks"]["lm_eval"]["version"] == 1.0


def test_lm_eval_tasks_agree_with_the_registry() -> None:
    reg = registry()
    configs = _lm_eval_configs(LM_EVAL)
    tasks = [c for c in configs if "task" in c and "group" not in c]
    groups = [c for c in configs if "group" in c]
    lm = reg["frameworks"]["lm_eval"]
    assert sorted(c["task"] for c in tasks) == sorted(lm["tasks"])
    assert sorted(c["group"] for c in groups) == sorted(lm["groups"])
    # lm-eval's versions are numbers (bumped with a README Changelog entry), not Inspect's.
    assert isinstance(lm["version"], float)
    for cfg in tasks:
        assert cfg["output_type"] == lm["output_type"]
        assert cfg["metadata"]["version"] == lm["version"]
        assert cfg["metadata"]["generation_prompt_version"] == reg["prompt"]["generation_version"]
        assert cfg["metadata"]["data_sha256"] == reg["data"]["sha256"]
        metrics = reg["metrics"]["lm_eval"]
        if cfg["task"] in lm["judged_tasks"]:
            metrics = metrics + reg["metrics"]["lm_eval_judged"]
            assert cfg["metadata"]["judge_prompt_version"] == reg["prompt"]["judge_version"]
        assert [m["metric"] for m in cfg["metric_list"]] == metrics
        # A task's fixed selection never under the names --metadata uses (they would collide).
        kwargs = cfg.get("dataset_kwargs", {})
        assert not {"prompt", "valence"} & set(kwargs)
        assert kwargs.get("fixed_prompt", "empathy") in reg["prompt"]["variants"]
        # Never the study's text in the YAML, never a hub dataset.
        assert "dataset_path" not in cfg
        assert cfg["custom_dataset"] == "utils.load_dataset"
    for cfg in groups:
        assert cfg["metadata"]["version"] == lm["version"]
        assert set(cfg["task"]) <= set(lm["tasks"])
    # The plugin folder holds only the task files: lm-eval indexes every YAML in it.
    assert not (LM_EVAL / "registry.yaml").exists()


@pytest.mark.dataset_download
def test_inspect_task_agrees_with_the_registry() -> None:
    from empathy_task.task.empathy_task import empathy_task

    reg = registry()
    task = empathy_task(sample=32)
    # Registered through the entry point as empathy_task/<task>.
    assert task.name.split("/")[-1] in reg["frameworks"]["inspect"]["tasks"]
    assert task.version == reg["version"]
    assert task.metadata["generation_prompt_version"] == reg["prompt"]["generation_version"]
    assert task.metadata["judge_prompt_version"] == reg["prompt"]["judge_version"]
    assert task.metadata["data_sha256"] == reg["data"]["sha256"]


def test_inspect_evals_listing_agrees_with_the_registry() -> None:
    reg = registry()
    listing_path = REPO / reg["frameworks"]["inspect_evals"]["listing"]
    listing = yaml.safe_load(listing_path.read_text(encoding="utf-8"))
    assert listing["title"] == reg["title"]
    assert listing["arxiv"].endswith(reg["paper"]["arxiv"])
    assert str(listing["version"]) == reg["version"]
    assert [t["name"] for t in listing["tasks"]] == reg["frameworks"]["inspect"]["tasks"]
    assert all(t["dataset_samples"] == reg["data"]["rows"] for t in listing["tasks"])
    [asset] = listing["external_assets"]
    assert asset["source"] == reg["data"]["url"]
    assert reg["data"]["sha256"] in asset["comment"]
    readme = (listing_path.parent / "README.md").read_text(encoding="utf-8")
    assert "<!-- evaluation-report:start -->" in readme
    assert "<!-- evaluation-report:end -->" in readme


def test_lm_eval_path_from_an_installed_wheel(tmp_path: Path) -> None:
    """Build the wheel, install it in a fresh venv, and ask its command for the plugin folder."""
    pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, REPO],
        check=True,
        capture_output=True,
    )
    [wheel] = wheels.glob("empathy_task-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [*pip, "--python", python, "install", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    # The command needs only the standard library, so the bare venv runs it.
    folder = subprocess.run(
        [env_dir / "bin" / "empathy-task", "lm-eval-path"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.strip()
    folder_path = Path(folder)
    assert folder_path.is_relative_to(env_dir), folder
    assert folder_path.name == "lm_eval"
    names = {p.name for p in folder_path.iterdir()}
    assert {"empathy_task.yaml", "_empathy_task_template_yaml", "utils.py"} <= names
    # The wheel's copy is the clone's.
    for name in names - {"__pycache__"}:
        assert (folder_path / name).read_bytes() == (LM_EVAL / name).read_bytes(), name


@pytest.mark.dataset_download
def test_the_installed_wheel_runs_the_task_from_outside_the_checkout(tmp_path: Path) -> None:
    """What a user gets from `pip install` of the built wheel: `inspect eval
    empathy_task/empathy_task` from a folder that is not the clone (no repo on the path)."""
    pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling")
    import os

    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, REPO],
        check=True,
        capture_output=True,
    )
    [wheel] = wheels.glob("empathy_task-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The dependencies from this environment, after the venv's own folder (a path in a .pth file
    # is appended; its own .pth files, such as an editable install's, are not run): the package
    # itself comes only from the wheel.
    import site
    import sysconfig

    [own] = (env_dir / "lib").glob("python*/site-packages")
    deps = [p for p in {sysconfig.get_path("purelib"), *site.getsitepackages()} if Path(p).is_dir()]
    (own / "test-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    subprocess.run(
        [*pip, "--python", python, "install", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [python, "-c", "import empathy_task; print(empathy_task.__file__)"],
        capture_output=True, text=True, check=True, cwd=outside, env=env,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(env_dir), where
    run = subprocess.run(
        [python, "-m", "inspect_ai", "eval", "empathy_task/empathy_task",
         "--model", "empathy/human", "--model-role", "grader=empathy/mock-judge",
         "--limit", "2", "--display", "none", "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, cwd=outside, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert list((tmp_path / "logs").glob("*.eval"))


def test_every_package_the_code_imports_is_declared() -> None:
    """A resolver installs only what pyproject.toml names: a package imported directly but
    reached only through another's dependencies (tenacity, rich, markupsafe, pillow were) can
    vanish from a fresh `uv sync` when that one changes."""
    import ast
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {Requirement(r).name.lower().replace("_", "-") for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {Requirement(r).name.lower().replace("_", "-") for r in extra}
    dists = packages_distributions()
    missing: dict[str, str] = {}
    for folder in ("empathy_task", "plugins", "scripts"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    for dist in dists.get(top, []):
                        if dist.lower().replace("_", "-") not in declared | {"empathy-task"}:
                            missing[dist] = f"{path.relative_to(REPO)} imports {top}"
    assert not missing, missing
