"""Task path parameters (``-T data=``, ``-T calibration=``, ``-T export=``) read against the
user's working folder.

``inspect eval empathy_task`` (the repo-root folder form) or ``inspect eval
empathy_task/task/empathy_task.py`` builds the task with the task file's folder as the working
folder (inspect_ai's ``create_file_tasks`` wraps it in ``chdir_python(file.parent)``, and runs it
in that folder too), so a relative path would resolve inside the package. The registry form
(``empathy_task/empathy_task``) does not change folder. Inspect keeps the folder it was started in
as ``root_dir`` of ``inspect_ai._eval.loader.create_tasks``, the caller of the file form; failing
that (another Inspect version), the shell's ``PWD``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The folder Inspect changes to for a file-form run: the task file's.
TASK_DIR = Path(__file__).resolve().parent


def _inspect_root_dir() -> Path | None:
    """The working folder Inspect's file-form task loading started from, if it is on the stack."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "create_tasks" and frame.f_globals.get("__name__", "").startswith(
            "inspect_ai."
        ):
            root = frame.f_locals.get("root_dir")
            return Path(root) if root is not None else None
        frame = frame.f_back
    return None


def user_folder() -> Path:
    """The user's working folder: the current one unless Inspect changed to the task file's."""
    here = Path(os.getcwd())
    if here.resolve() != TASK_DIR:
        return here
    root = _inspect_root_dir()
    if root is not None:
        return root
    pwd = os.environ.get("PWD")
    if pwd and Path(pwd).is_dir():
        return Path(pwd)
    return here


def user_path(value: str) -> str:
    """``value`` as an absolute path, a relative one read against :func:`user_folder`."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else user_folder() / path)
