"""The study's vocabulary, written once: the rating scale, the valences, the names of sources and
rater kinds, the rater's question, and which rater ids may leave the machine.

**The scale.** A rater answers the study's question (:data:`RATER_QUESTION`) with Bad, Okay or Good,
stored as 1, 2, 3 (:data:`RATINGS`, :data:`LABELS`, :data:`RATING_LABELS`).

**Sources.** Two pinned files hold the study's six stored sources (:data:`STORED_SOURCES`): the
authors' CSV three (:data:`AUTHORS_SOURCES`), the second file (``registry.yaml: models_data``) the
paper's other three models (:data:`MODELS_FILE_SOURCES`) beside the same human and GPT-4 replies
(:data:`SHARED_SOURCES`). :data:`HUMAN` is the baseline.

**Rater kinds.** Ratings of different kinds are never tested against each other
(docs/design.md, "The method"). A rater in a rating table is one of:

- a **judge model**, named as Inspect names models: ``provider/model`` (a lower-case provider,
  a slash, then no whitespace and no ``@``), e.g. ``openai/gpt-4o``, ``empathy/mock-judge``; its
  kind is its name;
- a **crowd pseudonym**: ``r-`` and 32 hex digits, the keyed pseudonym of the study kit
  (:func:`pseudonym`: HMAC-SHA256 of the participant id under the study's pseudonym key), or
  ``r-`` and 12 hex digits, the pseudonym of the authors' public CSV (:func:`authors_pseudonym`);
  its kind is :data:`CROWD`;
- anything else is taken for a **person's id** (an e-mail, a crowd-platform id) and refused
  by every output: the report never writes one.

The authors' pseudonym is unkeyed on purpose: their annotator ids are already public in their
CSV, so a key would hide nothing, and an unkeyed hash keeps the report of their data (and the
shipped ``human_baseline/crowd_ratings.csv``) the same on every machine. A new study's ids are
not public: they are hashed under a per-study key of 32 random bytes kept in a file beside the
app's database (``<db>.pseudonym-key``, mode 0600) that never leaves the researcher's machine.
Without it a pseudonym cannot be brute-forced from a short id, and the same person gets unrelated
pseudonyms in two studies; 128 bits of HMAC make a collision among a study's raters negligible.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


#: The rating scale: the stored values and the labels a rater sees.
RATINGS: tuple[int, ...] = (1, 2, 3)
LABELS: tuple[str, ...] = ("Bad", "Okay", "Good")
RATING_LABELS: dict[int, str] = dict(zip(RATINGS, LABELS, strict=True))
GOOD: int = 3

#: The question each rater answers about one reply, as the study put it.
RATER_QUESTION = (
    "How empathetic is Speaker #2's response, compared to how you would have responded in the "
    "same situation?"
)

#: The two valences of the 32 emotions (the CSV's ``sentiment`` column).
VALENCES: tuple[str, ...] = ("positive", "negative")

#: Response sources whose replies and crowd ratings the authors' CSV holds; the first is the baseline.
AUTHORS_SOURCES: tuple[str, ...] = ("human", "chatgpt", "chatgpt_empathy")
#: The sources only the second pinned file (Distilling-Empathy, ``models_data``) holds.
MODELS_FILE_SOURCES: tuple[str, ...] = ("llama_empathy", "gemini_empathy", "mixtral_empathy")
#: The sources both files hold; their replies and ratings must agree row for row.
SHARED_SOURCES: tuple[str, ...] = ("human", "chatgpt_empathy")
#: Every stored source (replies and crowd ratings in a pinned file); the first is the baseline.
STORED_SOURCES: tuple[str, ...] = (*AUTHORS_SOURCES, *MODELS_FILE_SOURCES)
HUMAN = "human"

#: The rater kind of every pseudonymised person.
CROWD = "crowd"

#: The scale a Good rate is on, named wherever one is published (listing, EEE records): the
#: crowd's ratings (:data:`CROWD`) or an LLM judge's, comparable only with the same judge's.
JUDGE_SCALE = "judge"
SCALES: dict[str, str] = {
    CROWD: "the study's crowd raters (one rating per reply)",
    JUDGE_SCALE: "an LLM judge (the grader role), comparable only with the same judge's ratings",
}

KEY_BYTES = 32
PSEUDONYM = re.compile(r"r-(?:[0-9a-f]{32}|[0-9a-f]{12})")
JUDGE_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]*/[^\s@]+")


class PseudonymKeyError(ValueError):
    """The study's pseudonym key is missing or unreadable."""


def pseudonym(raw_id: str, key: bytes) -> str:
    """The study kit's pseudonym of a participant id: ``r-`` + 32 hex digits of HMAC-SHA256."""
    if len(key) < KEY_BYTES:
        raise PseudonymKeyError(f"a pseudonym key must be at least {KEY_BYTES} bytes")
    return "r-" + hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def key_path_for(db: str | os.PathLike[str]) -> Path:
    """Where the pseudonym key of the study with database ``db`` lives."""
    return Path(f"{os.fspath(db)}.pseudonym-key")


def read_pseudonym_key(path: str | os.PathLike[str]) -> bytes:
    """The key in ``path`` (hex), or a :class:`PseudonymKeyError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except FileNotFoundError:
        raise PseudonymKeyError(f"{path}: no such pseudonym key file") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise PseudonymKeyError(f"{path}: not a pseudonym key (hex digits): {e}") from None
    if len(key) < KEY_BYTES:
        raise PseudonymKeyError(f"{path}: the key must be at least {KEY_BYTES} bytes")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # Whoever reads the key can undo the pseudonyms (or forge what it signs): say so, since
        # a key made 0600 became readable by a copy, an archive or a chmod.
        logging.getLogger(__name__).warning(
            "%s is readable by others (mode %o): anyone who can read it can re-identify raters "
            "or forge what it signs; chmod 600 %s",
            path,
            mode,
            path,
        )
    return key


def load_or_create_pseudonym_key(path: str | os.PathLike[str]) -> bytes:
    """The key in ``path``; a new random one, written readable by its owner only, if absent."""
    path = Path(path)
    if not path.exists():
        key = secrets.token_bytes(KEY_BYTES)
        try:
            # O_EXCL: two app processes starting at once agree on one key (the loser reads it).
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(key.hex() + "\n")
            return key
    return read_pseudonym_key(path)


#: The providers a judge's name may start with: Inspect's model providers (inspect-ai 0.3.285;
#: tests/ratings/test_hardening_reporter.py checks the list against Inspect's registry) and this
#: package's ``empathy``. ``gmail.com/alice.smith`` or ``mturk/A1B2C3D4E5F6G7`` has the shape of a
#: judge's name but no provider: a judge of another provider is named with ``--judge``.
JUDGE_PROVIDERS: frozenset[str] = frozenset(
    "anthropic azureai bedrock cloudflare deepseek empathy fireworks google grok groq hf "
    "hf-inference-providers litellm-proxy llama-cpp-python meta mistral mockllm moonshot nnterp "
    "ollama openai openai-api openai-api-completions openrouter perplexity sagemaker sambanova "
    "sglang together transformer_lens vllm vllm-completions".split()
)


def is_judge_name(name: str, known: Collection[str] = ()) -> bool:
    """A judge's model name: one of ``known`` (the judges the logs recorded, or named with
    ``--judge``), or ``provider/model`` with a provider of :data:`JUDGE_PROVIDERS`."""
    if name in known:
        return True
    return bool(JUDGE_NAME.fullmatch(name)) and name.split("/", 1)[0] in JUDGE_PROVIDERS


def is_allowed_rater(rater: str, known: Collection[str] = ()) -> bool:
    """True for a crowd pseudonym or a judge's name (:func:`is_judge_name`): an id that may
    leave the machine."""
    return bool(PSEUDONYM.fullmatch(rater)) or is_judge_name(rater, known)


#: A cell that reads as an e-mail address: never a source's name (a model, "human").
EMAIL = re.compile(r"[^\s@/]+@[^\s@/]+\.[A-Za-z]{2,}")


def first_email(values: pd.Series) -> int | None:
    """The position of the first value that holds an e-mail address, or None."""
    import pandas as pd

    names = pd.Series(values, dtype=object).astype(str)
    bad = {v for v in pd.unique(names) if EMAIL.search(v)}
    if not bad:
        return None
    return int(names.isin(bad).to_numpy().nonzero()[0][0])


def first_personal_id(raters: pd.Series, known: Collection[str] = ()) -> int | None:
    """The position of the first rater that is neither a pseudonym nor a judge name, or None.

    ``known``: judge names accepted as they are (:func:`is_judge_name`)."""
    import pandas as pd

    names = pd.Series(raters, dtype=object).astype(str)
    unique = pd.unique(names)
    bad = {r for r in unique if not is_allowed_rater(r, known)}
    if not bad:
        return None
    return int(names.isin(bad).to_numpy().nonzero()[0][0])


def masked(raw_id: str) -> str:
    """A person's id as an error message may show it: its first two characters only."""
    return repr(raw_id[:2] + "…") if len(raw_id) > 2 else "(a short id)"


PERSONAL_ID_HELP = (
    "is neither a crowd pseudonym (r- and 32 or 12 hex digits) nor a judge model "
    "(provider/model, with a provider Inspect knows): it looks like a person's id, which no output may hold. A judge's ratings: "
    "name the judge provider/model in the rater column (e.g. openai/gpt-4o-mini, not "
    "gpt-4o-mini), or name it on the command line: `--judge openai/gpt-4o-mini` takes a rater "
    "named gpt-4o-mini as that judge (`--judge RATER=PROVIDER/MODEL` for any other name). "
    "People's ratings: import them with `empathy-task import-returns --pseudonym-key FILE`, "
    "which replaces each id by its keyed pseudonym"
)


def authors_pseudonym(raw: str) -> str:
    """The pseudonym of an annotator id of the authors' public CSV (unkeyed: see above)."""
    return "r-" + hashlib.sha256(f"empathy-task:{raw}".encode()).hexdigest()[:12]


def rater_kind(rater: str) -> str:
    """:data:`CROWD` for a pseudonymised person, else the judge's name."""
    return CROWD if PSEUDONYM.fullmatch(rater) else rater


def rater_kinds(raters: Sequence[str] | pd.Index) -> np.ndarray:
    """:func:`rater_kind` of many raters at once (an object array).

    Crowd pseudonyms are recognised with one vectorised match (a study has thousands of raters);
    the rest, judge names, are few and go through ``rater_kind`` itself.
    """
    import numpy as np
    import pandas as pd

    names = pd.Series(pd.Index(raters).astype(str))  # pandas' string dtype: a vectorised regex
    crowd = names.str.fullmatch(PSEUDONYM.pattern).fillna(False).to_numpy(dtype=bool)
    kinds = np.full(len(names), CROWD, dtype=object)
    kinds[~crowd] = [rater_kind(r) for r in names[~crowd]]
    return kinds
