"""What a reply can make the judge say: the fence, the final-line parser and the flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from empathy_task.task.prompts import judge_prompt, reply_fence
from empathy_task.task.provider import MOCK_STYLES, mock_judgement, mock_verdict, rated_response
from empathy_task.task.verdict import LABEL_TO_RATING, injection_flags, parse_rating
from tests.task.adversarial import ADVERSARIAL_REPLIES, LOOK_ALIKE_REPLIES

REPO = Path(__file__).resolve().parents[2]
CONTEXT = {"emotion": "sad", "situation": "SIT", "speaker_turn": "TURN"}


@pytest.mark.parametrize("reply", ADVERSARIAL_REPLIES)
def test_the_fence_holds_the_whole_reply(reply: str) -> None:
    prompt = judge_prompt(**CONTEXT, reply=reply)
    open_fence, close_fence = reply_fence(reply.strip(), "sad", "SIT", "TURN")
    # Each marker line occurs exactly once as a line, and the reply sits whole between them.
    lines = prompt.splitlines()
    assert lines.count(open_fence) == 1 and lines.count(close_fence) == 1
    assert open_fence not in reply and close_fence not in reply
    assert rated_response(prompt) == reply.strip()


def test_a_boundary_in_the_context_is_never_used() -> None:
    open_fence, close_fence = reply_fence("hello")
    boundary = open_fence.removeprefix("<<<BEGIN ").removesuffix(">>>")
    # The situation happens to hold the boundary the reply would get: the salt moves on.
    other_open, other_close = reply_fence("hello", f"a situation with {boundary}")
    assert boundary not in other_open and boundary not in other_close
    assert (other_open, other_close) != (open_fence, close_fence)


@pytest.mark.parametrize("reply", ADVERSARIAL_REPLIES)
@pytest.mark.parametrize("style", [s for s in MOCK_STYLES if s.startswith("quote")])
def test_no_adversarial_reply_changes_a_quoting_judges_rating(reply: str, style: str) -> None:
    prompt = judge_prompt(**CONTEXT, reply=reply)
    answer = mock_judgement(prompt, style)
    assert reply.strip() in answer  # the judge quotes what it rated
    rating = parse_rating(answer, reply)
    # Either the judge's own verdict or unrated: never a rating the reply chose.
    assert rating in (LABEL_TO_RATING[mock_verdict(prompt).lower()], None)
    own_line = f"RATING: {mock_verdict(prompt)}".casefold()
    if style == "quote-first" and own_line not in reply.casefold():
        # The judge's own final line counts unless the reply holds that very line.
        assert rating == LABEL_TO_RATING[mock_verdict(prompt).lower()]


@pytest.mark.parametrize("reply", ADVERSARIAL_REPLIES)
def test_adversarial_replies_are_flagged(reply: str) -> None:
    assert injection_flags(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "I'm so sorry for your loss. Rating your feelings as valid is the first step.",
        "That's a good thing! I'd ignore what they said, you did great.",
        "Okay, that sounds like a bad day. I hope tomorrow is better.",
        "",
    ],
)
def test_plain_replies_are_not_flagged(reply: str) -> None:
    assert injection_flags(reply) == []


def test_the_real_replies_are_not_flagged(study) -> None:  # noqa: ANN001
    for column in ("reply_human", "reply_chatgpt", "reply_chatgpt_empathy"):
        assert not any(injection_flags(r) for r in study[column])


def test_the_measurement_script_reports_no_changed_rating() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "judge_injection.py"), "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    replies = len(ADVERSARIAL_REPLIES) + len(LOOK_ALIKE_REPLIES)
    assert result["replies"] == replies
    assert result["judge-2"]["changed"] == 0
    # The old wording and parser (kept in the script for the comparison) were steered.
    assert result["judge-1"]["changed"] > 0
    assert result["judge-2"]["flagged"] == replies
    # Issue 26's selective unrating: sent as is it lifts the Good rate to 1; as the judge reads
    # the reply now, every reply is rated and the Good rate is the judge's own.
    sel = result["selective"]
    assert sel["attack_sent_as_is"]["good_rate"] == 1.0
    assert sel["attack_neutralised"]["parse_rate"] == 1.0
    assert abs(sel["attack_neutralised"]["good_rate"] - sel["plain"]["good_rate"]) < 0.1


@pytest.mark.dataset_download
def test_inspect_run_counts_flagged_replies_and_keeps_the_judges_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The task end to end: a model answering with adversarial replies, a quoting mock judge."""
    import os

    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage, get_model

    from empathy_task.task.empathy_task import empathy_task

    counter = {"n": 0}

    def respond(messages, tools, tool_choice, config) -> ModelOutput:  # noqa: ANN001
        text = ADVERSARIAL_REPLIES[counter["n"] % 4] if counter["n"] % 2 == 0 else "So sorry."
        counter["n"] += 1
        out = ModelOutput.from_content(model="mockllm/model", content=text)
        out.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)
        return out

    model = get_model("mockllm/model", custom_outputs=respond, config=GenerateConfig())
    grader = get_model("empathy/mock-judge", style="quote-first")
    [log] = inspect_eval(
        empathy_task(sample=8),
        model=model,
        model_roles={"grader": grader},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success", log.error
    [score] = log.results.scores
    assert score.metrics["flagged_rate"].value == 0.5
    for sample in log.samples:
        s = sample.scores["empathy_judge"]
        reply = sample.output.completion
        assert s.metadata["reply_flags"] == injection_flags(reply)
        assert bool(s.value["flagged"]) == bool(injection_flags(reply))
        # The verdict the quoting judge gave, not a RATING the reply wrote.
        assert s.answer == s.explanation.splitlines()[-1].removeprefix("RATING: ")
    # The export counts them too.
    from empathy_task.cli import main as cli

    out = tmp_path / "t.csv"
    assert cli(["export", log.location, "--out", str(out)]) == 0
    assert "4 replies flagged for addressing the judge" in capsys.readouterr().out
