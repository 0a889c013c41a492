"""The ``empathy`` Inspect model provider.

- ``empathy/human``, ``empathy/chatgpt``, ``empathy/chatgpt_empathy`` replay the stored reply of
  that source for each prompt, so the human baseline and the paper's GPT-4 replies run through the
  same pipeline as any model. ``empathy/llama_empathy``, ``empathy/gemini_empathy`` and
  ``empathy/mixtral_empathy`` replay the paper's other three models from the second study file
  (``EMPATHY_TASK_MODELS_DATA``, ``-M models_data=``, or the cache).
- ``empathy/mock-judge`` is an offline, deterministic judge for dry runs and tests: it answers in
  the judge format with a rating derived from a hash of the response. ``empathy/mock-judge-strict``
  is a second, differently named judge that rates one step lower (Good -> Okay, Okay -> Bad), for
  re-judging a log with another judge. It rates nothing; it checks
  the plumbing without an API key. ``empathy/mock-responder`` answers any prompt with one of a
  few fixed replies (a hash of the prompt), for a user's own prompt set offline. Model args (``-M`` or the role's dict) inject faults:
  ``style`` (``rating``, ``bare``: a bare label, ``nonsense``: another format, ``empty``,
  ``quote-first``/``quote-last``: the response quoted verbatim before/after the verdict),
  ``fail_after`` (raise after that many calls in this process), ``delay`` (seconds before each
  answer, to provoke timeouts) and ``calls_file`` (append one line per call, to count calls
  across processes). Asked for log-probabilities (``GenerateConfig(logprobs=True)``), it returns
  them as a provider would (:func:`mock_logprobs`: deterministic, a hash of the response);
  ``logprobs=false`` plays a provider that has none.
- ``empathy/mock-judge-<name>`` (any name): more mock judges for a panel, each its own rater.
  Two model args give any mock judge known biases (:func:`panel_mock_rating`): ``crowd`` (0 to 1,
  default 0), the chance that it gives a stored reply the crowd's rating of it (else its hash
  verdict), and ``bias`` (``source:shift,...``; a shift in -1..1 moves that source's ratings one
  step up, or down, with that chance; ``model`` is any reply that is not stored).

Usage is reported in words (no tokenizer is involved), so Inspect never reaches for tiktoken.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from pathlib import Path
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from empathy_task.data.study import load_study
from empathy_task.vocabulary import LABELS, MODELS_FILE_SOURCES, STORED_SOURCES

MOCK_JUDGE = "mock-judge"
MOCK_JUDGE_STRICT = "mock-judge-strict"
MOCK_JUDGES: tuple[str, ...] = (MOCK_JUDGE, MOCK_JUDGE_STRICT)
#: An offline model that answers any prompt (a user's own prompt set has no stored replies).
MOCK_RESPONDER = "mock-responder"
_MOCK_REPLIES = (
    "That sounds really hard. I am sorry you are going through this; I am here to help.",
    "Thank you for telling me. It makes sense that you feel this way.",
    "Oh no. Let us sort this out together, step by step.",
    "I see. Here is what you can do next.",
)
_STRICTER = {"Good": "Okay", "Okay": "Bad", "Bad": "Bad"}


def _usage(prompt: list[ChatMessage], completion: str) -> ModelUsage:
    n_in = sum(len(m.text.split()) for m in prompt)
    n_out = len(completion.split())
    return ModelUsage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)


class EmpathyProvider(ModelAPI):
    """Replays stored study replies, or plays a deterministic offline judge."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        data: str | None = None,
        models_data: str | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        if model_name not in (*STORED_SOURCES, MOCK_RESPONDER) and not is_mock_judge(model_name):
            raise ValueError(
                f"unknown empathy model {model_name!r}: use one of "
                + ", ".join(f"empathy/{m}" for m in (*STORED_SOURCES, *MOCK_JUDGES, MOCK_RESPONDER))
                + f", empathy/{MOCK_JUDGE}-<name>"
            )
        if model_name in MODELS_FILE_SOURCES:
            _require_models_data(model_name, models_data)
        self._data = data
        self._models_data = models_data
        self._replies: dict[str, str] | None = None
        self._style = str(model_args.get("style", "rating"))
        if self._style not in MOCK_STYLES:
            raise ValueError(f"mock-judge style must be one of {', '.join(MOCK_STYLES)}")
        fail_after = model_args.get("fail_after")
        self._fail_after = int(fail_after) if fail_after is not None else None
        self._delay = float(model_args.get("delay", 0.0))
        calls_file = model_args.get("calls_file")
        self._calls_file = Path(str(calls_file)) if calls_file else None
        self._logprobs = str(model_args.get("logprobs", "true")).lower() not in ("false", "0", "no")
        self._calls = 0
        self._crowd_share = float(model_args.get("crowd", 0.0))
        self._bias = parse_bias(model_args.get("bias"))
        if not 0 <= self._crowd_share <= 1:
            raise ValueError("mock-judge crowd= must be between 0 and 1")
        self._known: dict[str, tuple[str, int]] | None = None

    def _reply_for(self, dialog_id: str) -> str:
        if self._replies is None:
            study = load_study(self._data, models_data=self._models_data)
            self._replies = dict(zip(study["dialog_id"], study[f"reply_{self.model_name}"]))
        if dialog_id not in self._replies:
            raise ValueError(f"empathy/{self.model_name}: no stored reply for dialog {dialog_id!r}")
        return self._replies[dialog_id]

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if is_mock_judge(self.model_name):
            completion = await self._judge(input[-1].text)
        elif self.model_name == MOCK_RESPONDER:
            self._count_call(input[-1].text, fail=False)
            digest = hashlib.sha256(input[-1].text.encode()).digest()[0]
            completion = _MOCK_REPLIES[digest % len(_MOCK_REPLIES)]
        else:
            dialog_id = _dialog_id(input)
            completion = self._reply_for(dialog_id)
        output = ModelOutput.from_content(model=self.model_name, content=completion)
        output.usage = _usage(input, completion)
        if self.model_name == MOCK_JUDGE and config.logprobs and self._logprobs:
            output.choices[0].logprobs = mock_logprobs(
                input[-1].text, completion, config.top_logprobs or 0
            )
        return output

    async def _judge(self, prompt: str) -> str:
        self._calls += 1
        fail = self._fail_after is not None and self._calls > self._fail_after
        self._count_call(prompt, fail)
        if fail:
            raise RuntimeError(f"mock-judge: injected failure after {self._fail_after} calls")
        if self._delay:
            await asyncio.sleep(self._delay)
        judgement = mock_judgement(prompt, self._style, strict=self.model_name == MOCK_JUDGE_STRICT)
        if self._crowd_share or self._bias:
            label = mock_verdict(prompt, strict=self.model_name == MOCK_JUDGE_STRICT)
            text = rated_response(prompt).strip()
            rating = panel_mock_rating(
                self.model_name,
                text,
                LABELS.index(label) + 1,
                self._stored().get(text),
                self._crowd_share,
                self._bias,
            )
            judgement = judgement.replace(f"RATING: {label}", f"RATING: {LABELS[rating - 1]}")
        return judgement

    def _stored(self) -> dict[str, tuple[str, int]]:
        """Each stored reply's text -> (its source, the crowd's rating of it)."""
        if self._known is None:
            from empathy_task.data.study import crowd_ratings

            study = load_study(self._data).set_index("dialog_id")
            known: dict[str, tuple[str, int]] = {}
            for r in crowd_ratings().itertuples(index=False):
                if r.dialog_id in study.index and f"reply_{r.source}" in study.columns:
                    text = str(study.at[r.dialog_id, f"reply_{r.source}"]).strip()
                    known.setdefault(text, (str(r.source), int(r.rating)))
            self._known = known
        return self._known

    def _count_call(self, prompt: str, fail: bool) -> None:
        if self._calls_file is not None:
            # One line per call: the prompt's hash, and "failed" for a call that raised.
            with self._calls_file.open("a", encoding="utf-8") as f:
                digest = hashlib.sha256(prompt.encode()).hexdigest()[:16]
                f.write(f"{digest}{' failed' if fail else ''}\n")

    def max_connections(self) -> int:
        # Nothing is rate-limited: let Inspect run samples as fast as the event loop allows.
        return 256


def is_mock_judge(name: str) -> bool:
    """``mock-judge``, ``mock-judge-strict`` or a panel's ``mock-judge-<name>``."""
    return name == MOCK_JUDGE or name.startswith(f"{MOCK_JUDGE}-")


def parse_bias(value: object) -> dict[str, float]:
    """``source:shift,...`` (or a mapping) -> shifts in -1..1, for :func:`panel_mock_rating`."""
    if value is None or value == "":
        return {}
    items = value.items() if isinstance(value, dict) else (
        part.split(":", 1) for part in str(value).split(",") if part.strip()
    )  # fmt: skip
    out = {}
    for item in items:
        key, shift = item
        out[str(key).strip()] = float(shift)
        if not -1 <= out[str(key).strip()] <= 1:
            raise ValueError(f"mock-judge bias= shifts must be in -1..1, got {shift}")
    return out


def _uniform(*parts: str) -> float:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big") / 2**64


def panel_mock_rating(
    judge: str,
    response: str,
    verdict: int,
    known: tuple[str, int] | None,
    crowd_share: float,
    bias: dict[str, float],
) -> int:
    """A mock judge's rating with known biases: the crowd's rating of a stored reply with chance
    ``crowd_share`` (else a verdict of its own, or ``verdict`` with ``crowd_share`` 0), then
    moved a step by its source's ``bias`` shift.

    Deterministic: each chance is a hash of the judge's name and the response, so two judges of
    different names err apart, and a judge repeats itself.
    """
    source, crowd = known if known is not None else ("model", None)
    # The judge's own noise: a hash verdict of its name and the response (judges err apart).
    rating = verdict
    if crowd_share:
        rating = (1, 2, 2, 3, 3, 3)[int(_uniform(judge, "verdict", response) * 6)]
    if crowd is not None and _uniform(judge, "crowd", response) < crowd_share:
        rating = crowd
    shift = bias.get(source, 0.0)
    if shift and _uniform(judge, "bias", response) < abs(shift):
        rating = min(3, max(1, rating + (1 if shift > 0 else -1)))
    return rating


def _require_models_data(model_name: str, models_data: str | None) -> None:
    """Fail before the run, saying how to give the second study file, when it is absent."""
    from empathy_task.data.fetch import MODELS_DATA_ENV, DataError, find_models_data_file

    try:
        found = find_models_data_file(models_data)
    except DataError as e:
        raise ValueError(f"empathy/{model_name}: {e}") from None
    if found is None:
        raise ValueError(
            f"empathy/{model_name} replays the second study file (Distilling-Empathy "
            f"datasets/dataset.csv), which is not here: set {MODELS_DATA_ENV} to a copy, pass "
            "-M models_data=PATH, or fetch it into the cache with `empathy-task data`"
        )


def _dialog_id(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.metadata and "dialog_id" in message.metadata:
            return str(message.metadata["dialog_id"])
    raise ValueError(
        "the empathy replay models answer only the empathy_task's prompts: the user message "
        "carries no dialog_id in its metadata"
    )


MOCK_STYLES: tuple[str, ...] = ("rating", "bare", "nonsense", "empty", "quote-first", "quote-last")
_FENCE = re.compile(r"^<<<BEGIN (RESPONSE-[0-9a-f]{16})>>>$", re.MULTILINE)


def rated_response(prompt: str) -> str:
    """The response a judge prompt asks about: the text inside its fence (see ``reply_fence``).

    A prompt without a fence (an older wording) gives everything after the last ``Speaker #2:``.
    """
    fence = _FENCE.search(prompt)
    if fence is None:
        return prompt.rsplit("Speaker #2:", 1)[-1]
    end = prompt.find(f"\n<<<END {fence.group(1)}>>>", fence.end())
    return prompt[fence.end() + 1 : end if end >= 0 else None]


def mock_verdict(prompt: str, strict: bool = False) -> str:
    """The label the mock judge gives a prompt: a hash of the response being rated (one step
    lower for the strict judge)."""
    digest = hashlib.sha256(rated_response(prompt).encode()).digest()[0]
    label = ("Bad", "Okay", "Okay", "Good", "Good", "Good")[digest % 6]
    return _STRICTER[label] if strict else label


def mock_judgement(prompt: str, style: str = "rating", strict: bool = False) -> str:
    """A deterministic judge answer: the rating is a hash of the response being rated.

    The ``quote-*`` styles quote the response verbatim, before (``quote-first``) or after
    (``quote-last``) the verdict line, as a real judge explaining itself might: they show what a
    reply written to steer the judge can do to the parsed rating.
    """
    label = mock_verdict(prompt, strict)
    digest = hashlib.sha256(rated_response(prompt).encode()).digest()[0]
    if style == "quote-first":
        return f"The response reads:\n{rated_response(prompt)}\nRATING: {label}"
    if style == "quote-last":
        return f"RATING: {label}\n\nNote: the response reads:\n{rated_response(prompt)}"
    if style == "bare":
        return f"A mock judgement.\n{label}"
    if style == "nonsense":
        return f"Empathy score: {digest % 5 + 1}/5"
    if style == "empty":
        return ""
    return f"A mock judgement, not a rating of empathy.\nRATING: {label}"


# Words, punctuation and line breaks: a tokenizer's pieces, roughly ("RATING", ":", " Good").
_TOKENS = re.compile(r"[ \t]*[A-Za-z0-9]+|[ \t]*[^\sA-Za-z0-9]|\s+")


def mock_label_probabilities(prompt: str) -> dict[str, float]:
    """The mock judge's probabilities of each label for a prompt: deterministic, a hash of the
    response, with the most probable label :func:`mock_verdict`'s (0.5 to 0.9 of the mass)."""
    digest = hashlib.sha256(rated_response(prompt).encode()).digest()
    label = mock_verdict(prompt)
    top = 0.5 + (digest[1] % 5) / 10
    others = [x for x in LABELS if x != label]
    split = 0.2 + (digest[2] % 7) / 10  # the first other label's share of the rest
    return {label: top, others[0]: (1 - top) * split, others[1]: (1 - top) * (1 - split)}


def mock_logprobs(prompt: str, completion: str, top_logprobs: int) -> Logprobs:
    """Token log-probabilities for a mock judgement, shaped as a provider returns them.

    Every token is certain except a label on the final line (the verdict), whose alternatives
    spread :func:`mock_label_probabilities` over each label's spelling (``" Good"``), its
    lower-case variant and a non-label token (``" Great"``), so that a reader must sum variants
    and renormalise. ``top_logprobs`` alternatives are listed, the most probable first.
    """
    tokens = _TOKENS.findall(completion)
    final_start = len(completion.rstrip()) - len(completion.rstrip().split("\n")[-1])
    labels = LABELS
    probabilities = mock_label_probabilities(prompt)
    content: list[Logprob] = []
    offset = 0
    for tok in tokens:
        start, offset = offset, offset + len(tok)
        word = tok.strip()
        if start >= final_start and word in labels:
            lead = tok[: len(tok) - len(word)]
            # A non-label token takes 5% of the mass; each label's share goes 9:1 to its
            # capitalised and lower-case spellings. Renormalised over the labels, the reader
            # recovers mock_label_probabilities exactly (with enough alternatives listed).
            alternatives = [(lead + "Great", 0.05)]
            for label in labels:
                p = 0.95 * probabilities[label]
                alternatives += [(lead + label, 0.9 * p), (lead + label.lower(), 0.1 * p)]
            alternatives.sort(key=lambda a: -a[1])
            listed = [
                TopLogprob(token=t, logprob=math.log(p)) for t, p in alternatives[:top_logprobs]
            ]
            chosen = next(p for t, p in alternatives if t == tok)
            content.append(Logprob(token=tok, logprob=math.log(chosen), top_logprobs=listed))
        else:
            listed = [TopLogprob(token=tok, logprob=0.0)][:top_logprobs]
            content.append(Logprob(token=tok, logprob=0.0, top_logprobs=listed))
    return Logprobs(content=content)
