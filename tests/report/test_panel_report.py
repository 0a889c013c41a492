"""A judge panel end to end: mock judges of known, different biases rate the stored replies in
one Inspect run each, a new source is judged post hoc by all three, and the report pools them
(analysis/judge_panel.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from empathy_task.cli import main as cli
from empathy_task.task.dataset import prompt_set

pytestmark = pytest.mark.dataset_download

# Known biases: a and b err in opposite directions on the human replies, c on GPT-4's; each
# gives a stored reply the crowd's rating 80% of the time, its own noise otherwise.
JUDGES = {
    "grader": ("empathy/mock-judge-a", "human:0.3"),
    "grader_b": ("empathy/mock-judge-b", "human:-0.3"),
    "grader_c": ("empathy/mock-judge-c", "chatgpt_empathy:0.3"),
}
SAMPLE = 400


def _roles() -> dict[str, object]:
    return {r: get_model(m, crowd=0.8, bias=b, memoize=False) for r, (m, b) in JUDGES.items()}


@pytest.fixture(scope="module")
def panel_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("panel")
    logs = []
    for model in ("empathy/chatgpt", "empathy/chatgpt_empathy"):
        [log] = inspect_eval(
            "empathy_task/empathy_task",
            model=model,
            model_roles=_roles(),
            task_args={"sample": SAMPLE},
            display="none",
            log_dir=str(tmp / "logs"),
        )
        assert log.status == "success", log.error
        assert log.eval.metadata["judges"] == [m for m, _ in JUDGES.values()]
        logs.append(log.location)
    # A new source, judged post hoc by the same three judges (its replies: GPT-4's, renamed
    # after one of the judges, so that the judge is the model under test).
    prompts = prompt_set(None, sample=SAMPLE)
    from empathy_task.data.study import load_study

    study = load_study(None).set_index("dialog_id")
    replies = pd.DataFrame(
        {
            "dialog_id": prompts["dialog_id"],
            "source": "empathy/mock-judge-a",
            "reply": [study.at[d, "reply_chatgpt_empathy"] for d in prompts["dialog_id"]],
        }
    )
    replies.to_csv(tmp / "replies.csv", index=False)
    graders = [
        json.dumps({"model": m, "model_args": {"crowd": 0.8, "bias": b}})
        for m, b in JUDGES.values()
    ]
    args = ["judge", str(tmp / "replies.csv"), "--out", str(tmp / "new.csv"), "--no-progress"]
    for g in graders:
        args += ["--grader", g]
    assert cli(args) == 0
    out = tmp / "report"
    code = cli(["report", *logs, str(tmp / "new.csv"), "--out", str(out), "--format", "json,md",
                "--resamples", "1000"])  # fmt: skip
    assert code == 0
    return {
        "json": json.loads((out / "report.json").read_text()),
        "md": (out / "report.md").read_text(),
    }


def test_the_calibrated_panel_transfers_better_than_each_of_its_judges(
    panel_report: dict[str, object],
) -> None:
    doc = panel_report["json"]
    panel = doc["panel"]
    assert panel["judges"] == [m for m, _ in JUDGES.values()]
    singles = {c["judge"]: c["loso_rms_error"] for c in doc["judge_card"] if not c.get("panel")}
    assert doc["judge_card"][-1]["panel"] is True
    assert set(singles) == set(panel["judges"])
    assert panel["loso_rms_error"] < min(singles.values()), (panel["loso_rms_error"], singles)
    assert [r["source"] for r in panel["loso"]] == ["human", "chatgpt", "chatgpt_empathy"]
    assert sum(panel["weights"].values()) == pytest.approx(1.0)


def test_the_panel_row_the_self_preferring_judge_and_the_judge_scale_vote(
    panel_report: dict[str, object],
) -> None:
    doc, md = panel_report["json"], panel_report["md"]
    [row] = doc["panel"]["crowd_equivalent"]
    assert row["source"] == "empathy/mock-judge-a"
    lo, hi = row["good_rate_ci"]
    assert lo < row["good_rate"] < hi
    assert lo <= row["good_rate_bootstrap_ci"][0] and row["good_rate_bootstrap_ci"][1] <= hi
    weights = row["weights"]
    assert row["good_rate"] == pytest.approx(
        sum(weights[j] * g for j, g in row["judge_good_rates"].items())
    )
    # Judges rating the same replies err together: their bootstrap estimates correlate.
    assert row["judge_error_correlation"][0][1] > 0
    assert doc["self_preference"] == [
        {
            "source": "empathy/mock-judge-a",
            "judge": "empathy/mock-judge-a",
            "reason": "is the model under test",
        }
    ]
    assert row["self_preference_judges"] == ["empathy/mock-judge-a"]
    assert row["without"]["judges"] == ["empathy/mock-judge-b", "empathy/mock-judge-c"]
    [vote] = doc["panel"]["judge_scale"]
    assert vote["rater"] == "judge-scale (panel vote)" and vote["n_prompts"] == SAMPLE
    card = doc["panel"]["card"]
    singles = [c for c in doc["judge_card"] if not c.get("panel")]
    for key in ("input_tokens_per_1000", "output_tokens_per_1000"):
        assert card[key] == pytest.approx(sum(c[key] for c in singles))
    assert {b["judge"] for b in doc["panel"]["source_bias"]} == set(doc["panel"]["judges"])
    assert "crowd-equivalent (panel of 3 judges)" in md
    assert "| panel: empathy/mock-judge-a + empathy/mock-judge-b + empathy/mock-judge-c |" in md
    assert "### Source bias per judge" in md and "### Self-preference warning" in md
