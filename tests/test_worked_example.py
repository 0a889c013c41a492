"""The worked example of README.md and docs/leaderboards.md, run as a user would run it.

``scripts/worked_example.sh`` runs models in two batches (an Inspect eval set, then a later, smaller
Inspect run and an lm-eval run judged post hoc), re-judges one log with ``inspect score``, and
reports everything together. Offline: replayed models, lm-eval's dummy model, the mock judge.
About a minute; not marked slow, because the default ``pytest`` deselects slow tests and CI must
run this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("lm_eval")

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "worked_example.sh"
BIN = Path(sys.executable).parent


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


def _shared(ratings: pd.DataFrame, a: str, b: str, scope: str) -> int:
    if scope.startswith("valence:"):
        ratings = ratings[ratings["sentiment"] == scope.split(":", 1)[1]]
    elif scope.startswith("emotion:"):
        ratings = ratings[ratings["emotion"] == scope.split(":", 1)[1]]
    on = ratings.groupby("source")["dialog_id"].agg(set)
    return len(on.get(a, set()) & on.get(b, set()))


def test_the_worked_example_reports_every_model_on_shared_prompts(example: Path) -> None:
    from empathy_task.ratings.files import read_rating_table

    doc = json.loads((example / "report" / "report.json").read_text())
    ratings = pd.concat(
        [read_rating_table(example / "ratings" / f) for f in ("inspect.csv", "lmeval.csv")],
        ignore_index=True,
    )
    # Three replayed models and the lm-eval model, all rated by the one judge.
    assert set(doc["groups"]) == {
        "human",
        "empathy/human",
        "empathy/chatgpt",
        "empathy/chatgpt_empathy",
        "dummy",
    }
    # The batches cover different prompts (40 and 24), and the report says so.
    assert {g["n"] for g in doc["groups"].values()} == {40, 24}
    assert all(doc["coverage"]["differs"].values())
    md = (example / "report" / "report.md").read_text()
    html = (example / "report" / "report.html").read_text()
    assert "Paired tests (judges)" in html and "Sources cover different prompts" in html
    board = md.index("## Leaderboard")
    assert board < md.index("**Sources cover different prompts**") < md.index("| source |", board)

    # The replay of the human replies is level with the judge-rated human baseline, exactly.
    overall = {(c["a"], c["b"]): c for c in doc["comparisons"] if c["scope"] == "overall"}
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

    # Every comparison, in every scope: n on both sides is the count of shared prompts.
    assert len(doc["comparisons"]) > 100
    for c in doc["comparisons"]:
        shared = _shared(ratings, c["a"], c["b"], c["scope"])
        assert c["n_a"] == c["n_b"] == c["n_prompts"] == shared, c
    assert overall[("human", "empathy/chatgpt_empathy")]["n_a"] == 40
    assert overall[("empathy/chatgpt", "dummy")]["n_b"] == 24

    # The judge's pairs: a replay of the human replies differs from them in no pair.
    paired = next(
        r
        for r in doc["paired"]["rows"]
        if (r["a"], r["b"], r["scope"]) == ("human", "empathy/human", "overall")
    )
    assert (paired["n_pairs"], paired["a_only_good"], paired["b_only_good"]) == (24, 0, 0)
    assert paired["mcnemar_p"] == 1.0


def test_the_re_judged_log_is_still_reported(example: Path) -> None:
    from inspect_ai.log import read_eval_log

    logs = sorted((example / "logs" / "batch1").glob("*.eval"))
    rejudged = read_eval_log(str(logs[-1]), header_only=True)
    assert rejudged.results is not None and rejudged.results.scores
    doc = json.loads((example / "report" / "report.json").read_text())
    model = str(rejudged.eval.model)
    assert doc["groups"][model]["n"] == 40
