"""Who may start a batch: Prolific's link proof, signed links, claims per address; the app's layout."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("flask")

from empathy_task.study import app as app_module  # noqa: E402
from tests.test_study_app import _app, _sheets  # noqa: E402


def test_the_views_are_module_level_functions_of_one_blueprint(tmp_path: Path) -> None:
    app, _ = _app(tmp_path, _sheets([0]))
    rules = {r.endpoint for r in app.url_map.iter_rules()} - {"static"}
    assert rules and all(e.startswith("study.") for e in rules)
    for endpoint in rules:
        view = app.view_functions[endpoint]
        assert view is getattr(app_module, endpoint.split(".", 1)[1]), endpoint
    # One module serves several apps, each with its own state.
    other, _ = _app(tmp_path / "other", _sheets([1]))
    assert other.extensions["empathy_study"] is not app.extensions["empathy_study"]
