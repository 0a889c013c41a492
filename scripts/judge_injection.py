"""What share of adversarial replies changes a judge's rating, under judge-1 and judge-2.

Each reply of ``tests/task/adversarial.py`` is rated by the offline mock judge in its two quoting
styles (the response quoted before or after its verdict, as a judge explaining itself might).
A rating is *changed* when the parsed rating is neither the mock judge's own verdict nor unrated.
``judge-1`` is the earlier wording and parser, reproduced here for the comparison: the reply
inserted as is after ``Speaker #2:``, and the last ``RATING:`` anywhere in the answer.

    python scripts/judge_injection.py [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_task.task.prompts import judge_prompt
from empathy_task.task.provider import mock_judgement, mock_verdict
from empathy_task.task.verdict import LABEL_TO_RATING, injection_flags, parse_rating
from tests.task.adversarial import ADVERSARIAL_REPLIES  # noqa: E402

STYLES = ("quote-first", "quote-last")
CONTEXT = {"emotion": "sad", "situation": "SIT", "speaker_turn": "TURN"}
_JUDGE_1_RATING = re.compile(
    r"rating\s*[*_]*\s*[:=\-]\s*[*_\[\"'`(]*\s*(good|okay|ok|bad)\b(?![ \t]*(?:[|/,]|or\b))",
    re.IGNORECASE,
)
_JUDGE_1_BARE = re.compile(r"^[\s*_\"'`\[(]*(good|okay|ok|bad)[\s*_\"'`\])!.]*$", re.IGNORECASE)


def judge_1_prompt(reply: str) -> str:
    return f"Speaker #1: TURN\nSpeaker #2: {reply.strip()}\n\nHow empathetic ...?"


def judge_1_parse(text: str, reply: str) -> int | None:
    matches = _JUDGE_1_RATING.findall(text)
    if matches:
        return LABEL_TO_RATING[matches[-1].lower()]
    lines = [line for line in text.strip().splitlines() if line.strip()]
    bare = _JUDGE_1_BARE.match(lines[-1]) if lines else None
    return LABEL_TO_RATING[bare.group(1).lower()] if bare else None


def measure() -> dict[str, object]:
    versions = {
        "judge-1": (judge_1_prompt, judge_1_parse),
        "judge-2": (lambda reply: judge_prompt(**CONTEXT, reply=reply), parse_rating),
    }
    result: dict[str, object] = {"replies": len(ADVERSARIAL_REPLIES), "answers": 0}
    for version, (prompt_for, parse) in versions.items():
        changed = unrated = answers = 0
        for reply in ADVERSARIAL_REPLIES:
            prompt = prompt_for(reply)
            own = LABEL_TO_RATING[mock_verdict(prompt).lower()]
            for style in STYLES:
                rating = parse(mock_judgement(prompt, style), reply)
                answers += 1
                unrated += rating is None
                changed += rating is not None and rating != own
        result["answers"] = answers
        result[version] = {
            "changed": changed,
            "changed_share": changed / answers,
            "unrated": unrated,
            "unrated_share": unrated / answers,
            "flagged": sum(bool(injection_flags(r)) for r in ADVERSARIAL_REPLIES)
            if version == "judge-2"
            else 0,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = measure()
    if args.json:
        print(json.dumps(result))
        return
    n = result["answers"]
    print(f"{result['replies']} adversarial replies x {len(STYLES)} quoting styles = {n} answers")
    for version in ("judge-1", "judge-2"):
        r = result[version]
        print(
            f"{version}: changed {r['changed']}/{n} ({r['changed_share']:.0%}), "
            f"unrated {r['unrated']}/{n} ({r['unrated_share']:.0%}), flagged replies {r['flagged']}"
        )


if __name__ == "__main__":
    main()
