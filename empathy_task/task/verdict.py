"""Reading a judge's answer, and flagging replies that try to steer the judge.

The verdict is read from the judge's final non-empty line only, and only when that whole line is a
verdict: ``RATING: Good|Okay|Bad`` (markdown emphasis and brackets allowed) or a bare label. A
``RATING:`` earlier in the answer (the judge quoting the reply it rates) never counts, an inexact
label (``Good-ish``) is no label, and an answer whose last line is not a verdict is unparsable:
the caller leaves the reply unrated and counts it in the parse rate. A parse failure is never a
Bad rating.

Lines are compared as a reader sees them (:func:`normalised`: NFKC, format characters such as
right-to-left and zero-width marks dropped, Cyrillic and Greek look-alikes read as the Latin
letters they mimic), so a judge that retypes a reply's ``ＲＡＴＩＮＧ： Ｇｏｏｄ`` as
``RATING: Good`` is still seen quoting it. And the judge never reads a reply's verdict lines
(:func:`judged_text`): each is replaced by :data:`NEUTRALISED_LINE` before the reply is sent, so
the judge's own final line cannot repeat one, and a reply cannot choose which of the judge's
verdicts are dropped (issue 26; docs/design.md, "The judge").
"""

from __future__ import annotations

import math
import re
import unicodedata

from empathy_task.vocabulary import RATING_LABELS

#: Each label a judge may answer with (any case), and "ok" for Okay.
LABEL_TO_RATING: dict[str, int] = {
    label.lower(): value for value, label in RATING_LABELS.items()
} | {"ok": 2}

_LABEL = r"(good|okay|ok|bad)"
_OPEN = r"[\s*_\"'`\[(<]*"
_CLOSE = r"[\s*_\"'`\])>!.]*"
# The whole final line: "RATING: Good", "**Rating:** okay", "Rating - BAD", "RATING: [Good]".
_VERDICT_LINE = re.compile(rf"^[\s*_#>]*rating[\s*_]*[:=\-]{_OPEN}{_LABEL}{_CLOSE}$", re.IGNORECASE)
_BARE = re.compile(rf"^{_OPEN}{_LABEL}{_CLOSE}$", re.IGNORECASE)


# Letters of other scripts that look like the Latin letters of RATING, GOOD, OKAY and BAD (and a
# few more), as Unicode's confusables list maps them; NFKC leaves them as they are.
_LOOK_ALIKES = str.maketrans(
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0406\u04ae"
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u043a\u0456\u0458\u0501\u0261\u0262"
    "\u0391\u0392\u0395\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a7\u03a5\u0396"
    "\u03bf\u03b1\u03ba\u03b9\u03bd\u03c1\u0251\u1d0f\u1d00\u0299\u1d05\u0274\u0280\u1d1b",
    "ABEKMHOPCTXIYaeopcyxkijdggABEIKMNOPTXYZoakivpaoabdnrt",
)


def normalised(text: str) -> str:
    """``text`` as a reader sees it: NFKC, format characters (RTL, zero-width marks) and
    combining marks dropped, look-alike letters of other scripts read as Latin ones."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Mn"))
    return text.translate(_LOOK_ALIKES)


def _bare_line(line: str) -> str:
    line = " ".join(normalised(line).split())
    return line.strip().strip("*_\"'`>").strip().casefold()


def parse_rating(text: str | None, reply: str | None = None) -> int | None:
    """The rating (1 Bad, 2 Okay, 3 Good) a judge's final answer line gives, or ``None``.

    With ``reply`` (the text the judge rated), a final line that is a line of the reply is the
    judge quoting it, not its verdict: unrated.
    """
    if not text:
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    final = normalised(lines[-1])
    match = _VERDICT_LINE.match(final) or _BARE.match(final)
    if match is None:
        return None
    if reply and _bare_line(final) in {_bare_line(line) for line in reply.splitlines()}:
        return None
    return LABEL_TO_RATING[match.group(1).lower()]


#: The most characters of a reply the judge reads: four times the longest reply the task's
#: generation settings allow (512 tokens, about 2,000 characters), 15 times the longest reply of
#: the study's six sources (525). The rest is cut, with a note the judge sees, and the reply
#: flagged ``too_long``: a 1 MB reply costs a judge call of 2,000 tokens, not 250,000.
MAX_JUDGED_CHARS = 8_000
#: What the judge reads in place of a reply's verdict line (:func:`judged_text`).
NEUTRALISED_LINE = "[a line in the judge's answer format, removed before rating]"


def is_verdict_line(line: str, first: bool = False) -> bool:
    """Whether a reply's line reads, normalised, as a verdict: a ``RATING:`` line, or a bare
    label on a line after the first (a one-word first line, "Okay.", is a reply's own word)."""
    line = normalised(line)
    return bool(_VERDICT_LINE.match(line) or (not first and _BARE.match(line)))


def judged_text(reply: str) -> str:
    """The reply as the judge reads it: cut to :data:`MAX_JUDGED_CHARS`, each verdict line
    (:func:`is_verdict_line`) replaced by :data:`NEUTRALISED_LINE`. A plain reply is unchanged.

    Neutralised before the first call, not after a dropped verdict: re-asking only when the
    judge's verdict was dropped would give the reply a second draw on exactly the verdicts it
    chose to drop (with the mock judge, a Good rate of 0.75 where the judge's own is 0.5).
    """
    reply = reply.strip()
    if len(reply) > MAX_JUDGED_CHARS:
        cut = len(reply) - MAX_JUDGED_CHARS
        reply = (
            f"{reply[:MAX_JUDGED_CHARS]}\n[{cut:,} more characters of the response were cut "
            "before rating]"
        )
    lines = reply.split("\n")
    kept = [
        NEUTRALISED_LINE if is_verdict_line(line, first=i == 0) else line
        for i, line in enumerate(lines)
    ]
    return reply if kept == lines else "\n".join(kept)


# What a reply has no business containing: the judge's answer format, words addressed to the
# judge, or the prompt's own structure. A flag does not change the rating; it is counted, so a
# reader can see how many rated replies tried to steer their judge.
_INJECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    # A "RATING: <label>" anywhere, or a bare label on a line of its own after the first.
    "answer_format": re.compile(
        rf"\brating\s*[*_]*\s*[:=\-]\s*[*_\[\"'`(<]*\s*{_LABEL}\b"
        rf"|\n[ \t*_\"'`\[(<]*{_LABEL}[ \t*_\"'`\])>!.]*(?:\n|$)",
        re.I,
    ),
    "instructions": re.compile(
        r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompt|rules?|above|"
        r"previous|prior)\b"
        r"|\b(?:you are|you're|as) (?:the|an?) (?:judge|rater|evaluator|grader|assistant)\b"
        r"|\b(?:judge|rater|evaluator|grader)s?\b[^.\n]{0,40}\b(?:must|should|will|shall)\b"
        r"|\b(?:rate|score|grade|mark|label)\b[^.\n]{0,40}\b(?:as|with)\s+[*\"'`]*(?:good|okay|"
        r"bad)\b"
        r"|\b(?:system|developer) (?:prompt|message|note)\b"
        r"|\bnew instructions?\b",
        re.I,
    ),
    "prompt_structure": re.compile(
        r"speaker #[12]\s*:|<<<\s*(?:begin|end)\b|\bempathy rating \(judge-|^\s*situation\s*:",
        re.I | re.M,
    ),
}
INJECTION_FLAGS: tuple[str, ...] = (*_INJECTION_PATTERNS, "look_alike", "too_long")


def injection_flags(reply: str | None) -> list[str]:
    """The ways a reply addresses the judge (:data:`INJECTION_FLAGS`), empty for a plain reply.

    The patterns are matched on the reply as a reader sees it (:func:`normalised`) too;
    ``look_alike``: a verdict line spelt with other characters than plain ASCII (a full-width or
    Cyrillic ``RATING: Good``, a no-break space, a right-to-left mark); ``too_long``: the judge reads only its first
    :data:`MAX_JUDGED_CHARS` characters.
    """
    if not reply:
        return []
    seen = normalised(reply)
    flags = [
        name
        for name, pattern in _INJECTION_PATTERNS.items()
        if pattern.search(reply) or (seen != reply and pattern.search(seen))
    ]
    lines = reply.split("\n")
    if any(
        not line.isascii() and is_verdict_line(line, first=i == 0) for i, line in enumerate(lines)
    ):
        flags.append("look_alike")
    if len(reply.strip()) > MAX_JUDGED_CHARS:
        flags.append("too_long")
    return flags


# --- answer probabilities -------------------------------------------------------------------

#: How many alternatives per token the judge asks for when it asks for log-probabilities: the
#: largest number every provider with logprobs accepts (OpenAI, Grok, Together, vLLM, HF).
TOP_LOGPROBS = 5

# What a token may carry around a label: whitespace, markdown emphasis, brackets, quotes.
_TOKEN_TRIM = " \t\r\n*_\"'`[](){}<>!.:"
_LABEL_WORDS: tuple[tuple[str, int], ...] = tuple(
    (label.casefold(), rating) for rating, label in RATING_LABELS.items()
)


def token_label(token: str) -> int | None:
    """The rating a single token stands for, or ``None``.

    A token counts for a label when, trimmed of whitespace and markup and in any case, it is a
    non-empty beginning of exactly one label word (``" Good"``, ``"good"``, ``" Ok"``, ``" G"``):
    a tokenizer may split a label, and the three labels begin with different letters, so the
    first piece decides. ``"Great"`` or ``"RATING"`` stand for nothing.
    """
    word = token.strip(_TOKEN_TRIM).casefold()
    if not word:
        return None
    hits = [rating for label, rating in _LABEL_WORDS if label.startswith(word)]
    return hits[0] if len(hits) == 1 else None


def verdict_probabilities(
    logprobs: object, rating: int | None
) -> tuple[float, float, float] | None:
    """``(P(Bad), P(Okay), P(Good))`` at the verdict token of the judge's final line, or ``None``.

    ``logprobs`` is the judge output's ``choices[0].logprobs`` (Inspect's ``Logprobs``: a list of
    tokens, each with its ``logprob`` and ``top_logprobs``). The verdict token is the last token
    of the final non-empty line that stands for a label (:func:`token_label`); it must stand for
    the parsed ``rating``, else the tokens and the text disagree and nothing is guessed. At that
    position every alternative that stands for a label adds its probability to that label
    (``" Good"`` and ``"good"`` both count for Good), alternatives that stand for none (``"
    Great"``) are dropped, and the three sums are renormalised to add up to 1: the judge's
    probabilities *given that it answers with a label*. ``None`` where there is no verdict, no
    token list, or no alternatives at the verdict token (one token's probability says nothing
    about the other two labels).
    """
    if rating is None or logprobs is None:
        return None
    tokens = list(getattr(logprobs, "content", None) or [])
    if not tokens:
        return None
    # Where the final non-empty line starts, in the text the tokens spell.
    text = "".join(t.token for t in tokens)
    body = text.rstrip()
    line_start = body.rfind("\n") + 1
    offset = 0
    verdict = None
    for tok in tokens:
        start, offset = offset, offset + len(tok.token)
        if offset > line_start and start < len(body) and token_label(tok.token) is not None:
            verdict = tok  # the last one on the final line wins
    if verdict is None or token_label(verdict.token) != rating:
        return None
    alternatives = list(verdict.top_logprobs or [])
    if not alternatives:
        return None
    mass = dict.fromkeys(RATING_LABELS, 0.0)
    for alt in alternatives:
        label = token_label(alt.token)
        if label is not None:
            mass[label] += math.exp(alt.logprob)
    if all(alt.token != verdict.token for alt in alternatives):
        # The chosen token is not among the listed alternatives (a sampled, unlikely token).
        mass[rating] += math.exp(verdict.logprob)
    total = sum(mass.values())
    if not total > 0:
        return None
    bad, okay, good = (mass[r] / total for r in sorted(RATING_LABELS))
    return bad, okay, good
