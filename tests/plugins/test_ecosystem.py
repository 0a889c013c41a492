"""How the package sits in the ecosystems: silent in other tasks' Inspect runs, a listing the
Inspect Evals register accepts, and a package ``inspect-evals-lint`` passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
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


@pytest.mark.dataset_download
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


# --- the Inspect Evals register listing ----------------------------------------------------------

# The register's documented values (CONTRIBUTING, "eval.yaml Reference"; TASK_VERSIONING).
ASSET_TYPES = {"huggingface", "git_clone", "direct_url", "git_dependency"}
ASSET_STATES = {"floating", "pinned", "controlled"}
FETCH_METHODS = {"load_dataset", "git_clone", "download_and_verify", "other"}
VERSION_RE = re.compile(r"^[1-9][0-9]*-[A-Z]+$")


def _listing() -> dict:
    return yaml.safe_load(LISTING.read_text(encoding="utf-8"))


def test_listing_follows_the_registers_schema() -> None:
    listing = _listing()
    for key in ("title", "description", "arxiv", "group", "version", "source", "tasks"):
        assert listing.get(key), key
    # Deprecated in the register: maintainers live under source, documentation tags are gone.
    assert "contributors" not in listing and "tags" not in listing
    source = listing["source"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", source["repository_url"])
    assert re.fullmatch(r"[0-9a-f]{40}", str(source["repository_commit"]))
    assert source["maintainers"] and all(
        re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", m) for m in source["maintainers"]
    )
    assert VERSION_RE.match(listing["version"])
    for asset in listing["external_assets"]:
        assert asset["type"] in ASSET_TYPES
        assert asset["state"] in ASSET_STATES
        assert asset["fetch_method"] in FETCH_METHODS
        assert asset["source"]
    # Only the documented metadata keys.
    assert set(listing.get("metadata", {})) <= {"sandbox", "requires_internet", "environment"}


def test_listing_tasks_point_at_the_task_with_the_crowds_baseline() -> None:
    from empathy_task.resources import registry

    reg = registry()
    for t in _listing()["tasks"]:
        path = REPO / t["task_path"]
        assert path.is_file(), t["task_path"]
        assert re.search(
            rf"@task\s+(?:@[\w.]+\s+)*def {t['name']}\(", path.read_text(encoding="utf-8")
        )
        assert t["dataset_samples"] == reg["data"]["rows"]
        baseline = t["human_baseline"]
        published = reg["reference_results"]
        # The crowd's Good rate is on the crowd's scale: named by the task's crowd-scale metric,
        # never by a judge-scale metric the results use.
        assert baseline["metric"] == "crowd_equivalent_good_rate"
        assert baseline["metric"] not in {
            r["metric"] for r in _listing()["evaluation_report"]["results"]
        }
        assert baseline["score"] == round(published["good"]["human"] / published["n"], 3)
        assert baseline["source"] == reg["paper"]["url"]


@pytest.mark.dataset_download
def test_one_version_in_the_listing_the_registry_and_the_task() -> None:
    from empathy_task.resources import registry
    from empathy_task.task.empathy_task import empathy_task

    reg = registry()
    assert VERSION_RE.match(reg["version"])
    assert _listing()["version"] == reg["version"]
    assert empathy_task(sample=32).version == reg["version"]


def test_the_pinned_commit_is_a_commit_of_this_repository() -> None:
    if subprocess.run(["git", "-C", str(REPO), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    commit = str(_listing()["source"]["repository_commit"])
    done = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
    )
    assert done.returncode == 0, f"{commit} is not a commit here: run scripts/pin_listing.py"
    check = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "pin_listing.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_pin_listing_refuses_what_is_not_a_commit(tmp_path: Path) -> None:
    before = LISTING.read_bytes()
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "pin_listing.py"), "0" * 40],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "is not a commit" in done.stderr
    assert LISTING.read_bytes() == before


def test_the_readme_report_is_rendered_from_the_listings_block() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import inspect_evals_report as script
    finally:
        sys.path.pop(0)
    block = _listing()["evaluation_report"]
    assert block, "run scripts/inspect_evals_report.py --run --write"
    readme = (LISTING.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(script.START) : readme.index(script.END) + len(script.END)]
    assert section + "\n" == script.render_markdown(block)
    # Each result says what made it: replayed replies and, here, the mock judge.
    replayed = [r for r in block["results"] if r["model"] in script.REPLAYED]
    assert len(replayed) == 3
    for r in replayed:
        assert "replays" in r["label"]
        assert ("mock-judge" in block["judge"]) == ("not a measurement of empathy" in r["label"])
        assert r["samples"] == r["total_samples"] == 2000
    # The one other row is the small local model's, on a sample, with how it was run.
    for r in block["results"]:
        if r in replayed:
            continue
        assert r["model"] == script.SMOLLM2 and r["label"] == script.SMOLLM2_LABEL
        assert 0 < r["samples"] < r["total_samples"]
        assert f"--smollm2 {r['samples']}" in r["command"]
        assert r["command"] in block["reproducibility"]["commands"]
        assert r["tokens"]["output"] > 0
    # The replayed human replies are the judged human replies: same replies, same judge.
    [human] = [r for r in block["results"] if r["model"] == "empathy/human"]
    assert human["score"] == human["judge_human_good_rate"]
    assert human["relative_increase_good_percent"] == 0.0


def test_the_listing_names_the_scale_of_every_good_rate() -> None:
    # A crowd-scale and a judge-scale Good rate are different measurements: no number in the
    # listing is a bare `good_rate` or `human_good_rate` beside the other scale's.
    from empathy_task.vocabulary import CROWD, JUDGE_SCALE

    block = _listing()["evaluation_report"]
    for r in block["results"]:
        assert r["scale"] == JUDGE_SCALE and "judge_human_good_rate" in r
        assert "human_good_rate" not in r
    assert (
        set(block["judged_human"]) >= {"judge_good_rate"}
        and "good_rate" not in block["judged_human"]
    )
    assert block["reference"]["scale"] == CROWD
    for r in block["reference"]["results"]:
        assert "crowd_good_rate" in r and "good_rate" not in r
    readme = (LISTING.parent / "README.md").read_text(encoding="utf-8")
    # The register's guide titles the section "Evaluation Report".
    assert "\n## Evaluation Report\n" in readme
    assert "Good rate (judge)" in readme and "Good rate (crowd)" in readme


def test_the_smollm2_row_replaces_the_last_one_and_says_how_it_was_run() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import inspect_evals_report as script
    finally:
        sys.path.pop(0)
    block = _listing()["evaluation_report"]
    replayed = [r for r in block["results"] if r["model"] in script.REPLAYED]
    row = {
        "model": script.SMOLLM2,
        "label": script.SMOLLM2_LABEL,
        "samples": 8,
        "total_samples": 2000,
        "command": "python scripts/inspect_evals_report.py --smollm2 8 --smollm2-seed 1 --write",
    }
    once = script.add_smollm2(block, row | {"samples": 4})
    twice = script.add_smollm2(once, row)
    assert twice["results"] == [*replayed, row]
    assert twice["reproducibility"]["commands"].count(row["command"]) == 1
    assert twice["reproducibility"]["samples"].endswith(f"{script.SMOLLM2}: 8 / 2000")
    assert script.SMOLLM2_DETAILS in twice["implementation_details"]


def test_the_smollm2_option_refuses_a_sample_of_none() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "inspect_evals_report.py"), "--smollm2", "0"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "--smollm2 takes a positive number" in done.stderr


@pytest.mark.dataset_download
def test_the_report_block_is_computed_from_the_logs(tmp_path: Path) -> None:
    from inspect_ai import eval as inspect_eval

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import inspect_evals_report as script
    finally:
        sys.path.pop(0)
    logs = inspect_eval(
        "empathy_task/empathy_task",
        model=["empathy/human", "empathy/chatgpt"],
        model_roles={"grader": "empathy/mock-judge"},
        task_args={"sample": 32},
        log_dir=str(tmp_path),
        max_tasks=1,
        display="none",
    )
    block = script.report([log.location for log in logs], "empathy/mock-judge")
    by_model = {r["model"]: r for r in block["results"]}
    assert set(by_model) == {"empathy/human", "empathy/chatgpt"}
    for r in by_model.values():
        assert r["samples"] == 32 and r["parse_rate"] == 1.0
        assert "not a measurement of empathy" in r["label"]
        assert r["version"] == _listing()["version"]
    human = by_model["empathy/human"]
    assert (
        human["score"]
        == human["judge_human_good_rate"]
        == by_model["empathy/chatgpt"]["judge_human_good_rate"]
    )
    # The reference rows are the crowd's, from the CSV: the paper's 986 and 1,295 Good of 2,000.
    crowd = {r["source"]: r for r in block["reference"]["results"]}
    assert crowd["human"]["good"] == 986 and crowd["chatgpt_empathy"]["good"] == 1295
    assert script.render_markdown(block).count("| `empathy/") == 2


def test_pin_listing_says_when_the_pin_is_stale() -> None:
    if subprocess.run(["git", "-C", str(REPO), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import pin_listing
    finally:
        sys.path.pop(0)
    assert pin_listing.changed_since("HEAD") == []
    first = subprocess.run(
        ["git", "-C", str(REPO), "rev-list", "--max-parents=0", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert "pyproject.toml" in pin_listing.changed_since(first)


DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    *sorted(REPO.glob("plugins/*/README.md")),
]


def test_the_docs_install_from_the_repository_and_lead_with_the_form_that_works_anywhere() -> None:
    # The package is not on the package index: `pip install empathy-task` fails. And a bare
    # `inspect eval empathy_task` is a path to Inspect, found only from the repo root.
    from_index = re.compile(r"pip install ['\"]?empathy-task(\[[\w,-]+\])?['\"]?(?!\s*@)(\s|$)")
    bare = re.compile(r"inspect eval empathy_task(?=[\s`]|$)")
    for path in DOCS:
        in_code = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(REPO)}:{number}: {line.strip()}"
            assert not from_index.search(line), where
            in_code ^= line.lstrip().startswith("```")
            # A command to type (a code block) never uses the bare form.
            assert not (in_code and bare.search(line)), where


def test_the_registers_lint_passes_on_the_listed_task_file() -> None:
    # As the register lints it: the listing's task file, the register's configuration (not the
    # repository's [tool.inspect-evals-lint]). It found 3 failures: IEFS003 (task/ did not export
    # the task), IEFS004 (no entry point in that package), IETS006 (judge_agreement untested).
    pytest.importorskip("inspect_evals_lint")
    import json

    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "register_lint.py"), "--output-format", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    [package] = json.loads(done.stdout)["packages"]
    failed = [d for d in package["diagnostics"] if d.get("severity") == "error"]
    assert done.returncode == 0 and package["passed"], failed
    assert package["name"] == "task"
