"""The Toronto Empathy Questionnaire (Spreng, McKinnon, Mar & Levine, 2009): items and scoring.

Sixteen statements answered Never / Rarely / Sometimes / Often / Always, scored 0-4. Eight items are
worded against empathy and reverse-keyed; the total runs from 0 to 64. Answering Often or Always to a
reverse-keyed item contradicts the forward items, which the reporter uses as an attention check.
The rating app shows the items; ``stats.teq_totals`` and ``stats.reverse_keyed_often`` score them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

#: The 16 statements in the questionnaire's order (item 1 first).
ITEMS: tuple[str, ...] = (
    "When someone else is feeling excited, I tend to get excited too.",
    "Other people's misfortunes do not disturb me a great deal.",
    "It upsets me to see someone being treated disrespectfully.",
    "I remain unaffected when someone close to me is happy.",
    "I enjoy making other people feel better.",
    "I have tender, concerned feelings for people less fortunate than me.",
    "When a friend starts to talk about his/her problems, I try to steer the conversation "
    "towards something else.",
    "I can tell when others are sad even when they do not say anything.",
    'I find that I am "in tune" with other people\'s moods.',
    "I do not feel sympathy for people who cause their own serious illnesses.",
    "I become irritated when someone cries.",
    "I am not really interested in how other people feel.",
    "I get a strong urge to help when I see someone who is upset.",
    "When I see someone being treated unfairly, I do not feel very much pity for them.",
    "I find it silly for people to cry out of happiness.",
    "When I see someone being taken advantage of, I feel kind of protective towards him/her.",
)

#: Answer labels; an answer's score is its index (Never = 0 ... Always = 4).
OPTIONS: tuple[str, ...] = ("Never", "Rarely", "Sometimes", "Often", "Always")

#: 1-based numbers of the reverse-keyed items.
REVERSE_KEYED: frozenset[int] = frozenset({2, 4, 7, 10, 11, 12, 14, 15})

N_ITEMS = len(ITEMS)
MAX_ANSWER = len(OPTIONS) - 1


def validate_answers(answers: Sequence[object]) -> list[int]:
    """The 16 answers as ints 0-4; raises ``ValueError`` saying what is wrong."""
    if isinstance(answers, str | bytes) or len(answers) != N_ITEMS:
        raise ValueError(f"the TEQ needs {N_ITEMS} answers")
    out: list[int] = []
    for number, value in enumerate(answers, start=1):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"TEQ item {number}: answer must be an integer 0-{MAX_ANSWER}")
        try:
            score = int(value)
        except ValueError as e:
            raise ValueError(f"TEQ item {number}: answer must be an integer 0-{MAX_ANSWER}") from e
        if not 0 <= score <= MAX_ANSWER:
            raise ValueError(f"TEQ item {number}: answer {score} is outside 0-{MAX_ANSWER}")
        out.append(score)
    return out


def parse_answers(value: object) -> list[int]:
    """A rater's answers from a table cell: a JSON list (CSV, JSONL) or a list (Parquet).

    Only whole numbers count (``true`` or ``"2"`` in a file are malformed, not answers).
    """
    answers = json.loads(value) if isinstance(value, str) else value
    if hasattr(answers, "tolist"):  # numpy arrays from Parquet
        answers = answers.tolist()
    if not isinstance(answers, list) or any(
        isinstance(a, bool) or not isinstance(a, int) for a in answers
    ):
        raise ValueError(f"need a JSON list of {N_ITEMS} TEQ answers 0-{MAX_ANSWER}")
    return validate_answers(answers)
