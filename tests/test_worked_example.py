"""The worked example of README.md and docs/leaderboards.md, run as a user would run it.

``scripts/worked_example.sh`` runs models in two batches (an Inspect eval set, then a later, smaller
Inspect run and an lm-eval run judged post hoc), re-judges one log with a second judge
(``inspect score --action append``), and reports everything together. Offline: replayed models,
lm-eval's dummy model, the two mock judges (``empathy/mock-judge``, ``empathy/mock-judge-strict``).
The README's and docs/leaderboards.md's copies of it are checked against the script.
About a minute; not marked slow, because the default ``pytest`` deselects slow tests and CI must
run this one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("lm_eval")

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "worked_example.sh"
BIN = Path(sys.executable).parent
JUDGE, REJUDGE = "empathy/mock-judge", "empathy/mock-judge-strict"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("worked-example")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "INSPECT_CACHE_DIR": str(work / "inspect-cache"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    run = subprocess.run(
        ["bash", str(SCRIPT), str(work / "example")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    return work / "example"


def _shared(ratings: pd.DataFrame, rater: str, a: str, b: str, scope: str) -> int:
    """Prompts on which ``rater`` rated both ``a`` and ``b`` in ``scope``."""
    ratings = ratings[ratings["rater"] == rater]
    if scope.startswith("valence:"):
        ratings = ratings[ratings["sentiment"] == scope.split(":", 1)[1]]
    elif scope.startswith("emotion:"):
        ratings = ratings[ratings["emotion"] == scope.split(":", 1)[1]]
    on = ratings.groupby("source")["dialog_id"].agg(set)
    return len(on.get(a, set()) & on.get(b, set()))


@pytest.mark.dataset_download
def test_the_worked_example_reports_every_model_on_shared_prompts(example: Path) -> None:
    from empathy_task.ratings.files import read_rating_table

    doc = json.loads((example / "report" / "report.json").read_text())
    ratings = pd.concat(
        [read_rating_table(example / "ratings" / f) for f in ("inspect.csv", "lmeval.csv")],
        ignore_index=True,
    )
    # Three replayed models and the lm-eval model, rated by the first judge (the primary one).
    assert doc["primary_rater_kind"] == JUDGE
    assert set(doc["groups"]) == {
        "human",
        "empathy/human",
        "empathy/chatgpt",
        "empathy/chatgpt_empathy",
        "dummy",
    }
    # The batches cover different prompts (40 and 24), and the report says so.
    assert {g["n"] for g in doc["groups"].values()} == {40, 24}
    assert doc["coverage"]["differs"] == {JUDGE: True, REJUDGE: False}
    md = (example / "report" / "report.md").read_text()
    html = (example / "report" / "report.html").read_text()
    assert "Paired tests (judges)" in html and "Sources cover different prompts" in html
    board = md.index("## Leaderboard")
    assert board < md.index("**Sources cover different prompts**") < md.index("| source |", board)

    # The replay of the human replies is level with its own judge's human baseline, exactly.
    overall = {
        (c["a"], c["b"]): c
        for c in doc["comparisons"]
        if c["scope"] == "overall" and c["rater_kind"] == JUDGE
    }
    human = overall[("human", "empathy/human")]
    assert human["rel_increase_good"] == 0.0
    assert "| empathy/human | judge empathy/mock-judge (judge's scale) | 24 |" in md
    assert doc["groups"]["human"]["n"] == 40 and human["n_a"] == human["n_b"] == 24
    assert (
        "+0.0% ["
        in md.split("| empathy/human | judge empathy/mock-judge (judge's scale) |")[1].split("\n")[
            0
        ]
    )

    # Every comparison, in every scope, is within one judge: n on both sides is the count of
    # prompts on which that judge rated both sources.
    assert len(doc["comparisons"]) > 100
    assert {c["rater_kind"] for c in doc["comparisons"]} == {JUDGE, REJUDGE}
    for c in doc["comparisons"]:
        shared = _shared(ratings, c["rater_kind"], c["a"], c["b"], c["scope"])
        assert c["n_a"] == c["n_b"] == c["n_prompts"] == shared, c
    assert overall[("human", "empathy/chatgpt_empathy")]["n_a"] == 40
    assert overall[("empathy/chatgpt", "dummy")]["n_b"] == 24

    # The judge's pairs: a replay of the human replies differs from them in no pair.
    paired = next(
        r
        for r in doc["paired"]["rows"]
        if (r["rater_kind"], r["a"], r["b"], r["scope"])
        == (JUDGE, "human", "empathy/human", "overall")
    )
    assert (paired["n_pairs"], paired["a_only_good"], paired["b_only_good"]) == (24, 0, 0)
    assert paired["mcnemar_p"] == 1.0


@pytest.mark.dataset_download
def test_the_re_judged_log_carries_the_new_judge_and_is_reported_apart(example: Path) -> None:
    from inspect_ai.log import read_eval_log

    from empathy_task.ratings.files import read_rating_table
    from empathy_task.ratings.logs import judge_scorers, rating_table_from_logs

    logs = sorted((example / "logs" / "batch1").glob("*.eval"))
    rejudged = read_eval_log(str(logs[-1]), header_only=True)
    model = str(rejudged.eval.model)
    # inspect score leaves the grader role alone; the appended scorer's ratings name the new judge.
    assert rejudged.eval.model_roles["grader"].model == JUDGE
    assert judge_scorers(rejudged) == ["empathy_judge", "empathy_judge1"]
    for scorer, judge in (("empathy_judge", JUDGE), ("empathy_judge1", REJUDGE)):
        table = rating_table_from_logs([logs[-1]], scorer=scorer)
        assert set(table["rater"]) == {judge}, scorer
        assert table.groupby("source")["dialog_id"].nunique().to_dict() == {model: 40, "human": 40}

    # In the exported table the new judge rated exactly that log's model and human replies, one
    # step lower than the first judge rated the same replies (what the strict mock judge does).
    ratings = read_rating_table(example / "ratings" / "inspect.csv")
    strict = ratings[ratings["rater"] == REJUDGE]
    assert strict.groupby("source").size().to_dict() == {model: 40, "human": 40}
    first = ratings[ratings["rater"] == JUDGE].set_index(["dialog_id", "source"])["rating"]
    lower = {3: 2, 2: 1, 1: 1}
    for row in strict.itertuples():
        assert row.rating == lower[first[(row.dialog_id, row.source)]], row

    # The report keeps the judges apart: the new judge's model is compared only with the new
    # judge's ratings of the human replies to its 40 prompts, and it keeps its place on the first
    # judge's board.
    doc = json.loads((example / "report" / "report.json").read_text())
    assert doc["rater_kinds"] == [JUDGE, REJUDGE]
    assert set(doc["groups_by_rater"][REJUDGE]) == {"human", model}
    assert doc["groups_by_rater"][REJUDGE]["human"]["is_baseline"]
    assert doc["groups"][model]["n"] == doc["groups_by_rater"][REJUDGE][model]["n"] == 40
    kinds = {r["rater_kind"] for r in doc["comparisons"]} | {
        r["rater_kind"] for r in doc["paired"]["rows"]
    }
    assert kinds == {JUDGE, REJUDGE}
    for rows in (doc["comparisons"], doc["paired"]["rows"]):
        assert {(r["a"], r["b"]) for r in rows if r["rater_kind"] == REJUDGE} == {("human", model)}
    md = (example / "report" / "report.md").read_text()
    assert f"| human | judge {REJUDGE} (judge's scale) | 40 |" in md
    assert f"| {model} | judge {REJUDGE} (judge's scale) | 40 |" in md


# What the script adds for running unattended (no progress display, replacing a previous run's
# files) and the re-judged log it picks; the documented commands are the same otherwise.
_UNATTENDED = {"--force", "--no-progress"}
_SCRIPT_ONLY = {
    "$JUDGE": JUDGE,
    "$REJUDGE": REJUDGE,
    "$(ls logs/batch1/*.eval | tail -n 1)": "logs/batch1/<log>.eval",
}


def _commands(text: str) -> list[list[str]]:
    """The commands of a shell text, one token list each (comments and line breaks dropped)."""
    out = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        tokens = shlex.split(line, comments=True)
        if not tokens or tokens[0] in ("set", "mkdir", "cd", "export") or "=" in tokens[0]:
            continue
        for var, value in _SCRIPT_ONLY.items():
            tokens = [t.replace(var, value) for t in tokens]
        kept: list[str] = []
        for t in tokens:
            if kept and kept[-1] == "--display" and t == "none":
                kept.pop()
            elif t not in _UNATTENDED:
                kept.append(t)
        out.append(kept)
    return out


@pytest.mark.parametrize(
    ("doc", "heading"),
    [
        ("README.md", "### Worked example:"),
        ("docs/leaderboards.md", "## Worked example:"),
    ],
)
def test_the_documented_worked_example_is_the_script(doc: str, heading: str) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    block = text[text.index(heading) :].split("```bash\n", 1)[1].split("```", 1)[0]
    assert _commands(block) == _commands(SCRIPT.read_text(encoding="utf-8"))


# --- the worked example of "Your own prompts" (scripts/own_prompts_example.sh) -----------------

OWN_SCRIPT = REPO / "scripts" / "own_prompts_example.sh"
_OWN_SCRIPT_ONLY = {
    '"$HERE/': '"',
    "$HERE/": "",
    "$MODEL": "empathy/mock-responder",
    "$SET": "prompt_sets/clinic_support.jsonl",
    "$EMPATHY_TASK_DATA": "dataset_and_ratings.csv",
}


@pytest.fixture(scope="module")
def own_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("own-prompts-example")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "INSPECT_CACHE_DIR": str(work / "inspect-cache"),
    }
    run = subprocess.run(
        ["bash", str(OWN_SCRIPT), str(work / "example")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    return work / "example"


# The example calibrates the judge on the study's stored replies: it needs the authors' CSV.
@pytest.mark.dataset_download
def test_the_own_prompts_example_reports_the_set_apart_with_ppi_and_a_transfer(
    own_example: Path,
) -> None:
    doc = json.loads((own_example / "report" / "report.json").read_text())
    parts = {p["name"]: p["report"] for p in doc["prompt_sets"]}
    assert set(parts) == {"the study's prompts", "clinic_support"}
    clinic = parts["clinic_support"]
    assert clinic["prompt_set"]["sha256"] == doc["prompt_sets"][1]["sha256"]
    assert "emotion:anxious" in clinic["scopes"]
    # The judge's comparison on the set is of the set's own replies: 40 prompts each.
    [overall] = [
        c
        for c in clinic["comparisons"]
        if c["scope"] == "overall" and c["a"] == "human" and c["rater_kind"] == JUDGE
    ]
    assert overall["b"] == "empathy/mock-responder" and overall["n_a"] == overall["n_b"] == 40
    [ppi] = clinic["ppi"]
    assert ppi["n_labelled"] == 30 and ppi["n_unlabelled"] == 10 and ppi["n_clusters"] == 3
    for row in clinic["crowd_equivalent"]:
        t = row["transfer"]
        assert t["measured"] and t["crowd_ratings"] == 30
        assert row["good_rate_ci"][0] <= t["good_rate_ci_study_domain"][0]
        assert row["good_rate_ci"][1] >= t["good_rate_ci_study_domain"][1]
    md = (own_example / "report" / "report.md").read_text()
    assert "Ratings of different prompt sets are never compared" in md
    assert "Domain transfer" in md and "Measured transfer error" in md


def test_the_documented_own_prompts_example_is_the_script() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    heading = "### Worked example: your own prompts"
    block = text[text.index(heading) :].split("```bash\n", 1)[1].split("```", 1)[0]
    script = OWN_SCRIPT.read_text(encoding="utf-8")
    for var, value in _OWN_SCRIPT_ONLY.items():
        script = script.replace(var, value)
    assert _commands(block) == _commands(script)
