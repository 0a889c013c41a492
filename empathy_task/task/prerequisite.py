"""Inspect's ``PrerequisiteError``, imported in one place.

Raised while a task is built, it ends the run before any sample with its message (one line, no
traceback) and a non-zero exit status; an exception in a hook is only a warning, and a sample's
error does not change the exit status. Inspect exports no public equivalent (checked on inspect-ai
0.3.285), so this is the package's one import from a private Inspect module.
"""

from inspect_ai._util.error import (  # noqa: F401
    PrerequisiteError,
)  # inspect-evals-lint: ignore[private_api_imports] -- no public equivalent

__all__ = ["PrerequisiteError"]
