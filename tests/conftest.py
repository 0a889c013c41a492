"""Shared test set-up: offline data, an isolated Inspect cache and log folder.

Tests never touch the network. They read the authors' CSV from ``EMPATHY_TASK_DATA`` (default: the
shared copy beside the repo) or use small fixtures they generate.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_CSV = REPO.parent / "shared" / "data" / "llm-empathy-evaluation" / "dataset_and_ratings.csv"
SHARED_MODELS_CSV = REPO.parent / "shared" / "data" / "distilling-empathy" / "dataset.csv"

# Without a copy the variable still names a path, so that nothing falls back to a download.
if not os.environ.get("EMPATHY_TASK_DATA"):
    os.environ["EMPATHY_TASK_DATA"] = str(SHARED_CSV)

if not os.environ.get("EMPATHY_TASK_MODELS_DATA"):
    os.environ["EMPATHY_TASK_MODELS_DATA"] = str(SHARED_MODELS_CSV)

STUDY_CSV = Path(os.environ["EMPATHY_TASK_DATA"])
MODELS_CSV = Path(os.environ["EMPATHY_TASK_MODELS_DATA"])
#: Whether the authors' CSV is here. Without it, tests marked ``dataset_download`` (Inspect Evals'
#: marker for tests that need a dataset from elsewhere) are skipped and the rest still run.
HAVE_DATA = STUDY_CSV.is_file()
NO_DATA_REASON = (
    f"needs the authors' CSV: set EMPATHY_TASK_DATA to a copy (there is none at {STUDY_CSV})"
)

#: Whether the second study file is here too. Without it, tests marked ``models_data`` (they need
#: the replies of llama_empathy, gemini_empathy or mixtral_empathy) are skipped.
HAVE_MODELS_DATA = HAVE_DATA and MODELS_CSV.is_file()
NO_MODELS_DATA_REASON = (
    "needs the second study file: set EMPATHY_TASK_MODELS_DATA to a copy "
    f"(there is none at {MODELS_CSV})"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason=NO_DATA_REASON)
    skip_models = pytest.mark.skip(reason=NO_MODELS_DATA_REASON)
    for item in items:
        if not HAVE_DATA and item.get_closest_marker("dataset_download"):
            item.add_marker(skip)
        elif not HAVE_MODELS_DATA and item.get_closest_marker("models_data"):
            item.add_marker(skip_models)


@pytest.fixture(autouse=True)
def _isolated_inspect(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own empathy-task cache; Inspect's cache and logs stay under tmp."""
    monkeypatch.setenv("EMPATHY_TASK_CACHE", str(tmp_path_factory.mktemp("empathy-cache")))
    if "INSPECT_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path_factory.mktemp("inspect-cache")))
    monkeypatch.setenv("INSPECT_LOG_DIR", str(tmp_path_factory.mktemp("inspect-logs")))
    # Never reach for a tokenizer download or a hub.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.mktemp("no-tiktoken")))


@pytest.fixture(scope="session")
def study():
    if not HAVE_DATA:
        pytest.skip(NO_DATA_REASON)
    from empathy_task.data.study import load_study

    return load_study()
