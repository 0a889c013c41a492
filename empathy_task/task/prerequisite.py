"""Inspect's ``PrerequisiteError``, imported in one place, and how its message reaches the user.

Raised while a task is built, it ends the run before any sample with its message (one line, no
traceback) and a non-zero exit status; an exception in a hook is only a warning, and a sample's
error does not change the exit status. Inspect exports no public equivalent (checked on inspect-ai
0.3.285), so this is the package's one import from a private Inspect module.

Under ``--display none`` Inspect quiets its console before the task is built, and the message is
lost (the run exits 1 and prints nothing): :func:`says_why` writes it to stderr and the log then.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from inspect_ai._util.error import (  # noqa: F401
    PrerequisiteError,
)  # inspect-evals-lint: ignore[private_api_imports] -- no public equivalent

__all__ = ["PrerequisiteError", "says_why"]

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def says_why(build: F) -> F:
    """Wrap a task function: a ``PrerequisiteError`` it raises is also written to stderr and
    logged when Inspect's display is ``none`` (which would drop it)."""

    @functools.wraps(build)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return build(*args, **kwargs)
        except PrerequisiteError as e:
            from inspect_ai.util import display_type

            if display_type() == "none":
                logger.error("%s", e.message)
                sys.stderr.write(f"{e.message}\n")
                sys.stderr.flush()
            raise

    return wrapper  # type: ignore[return-value]
