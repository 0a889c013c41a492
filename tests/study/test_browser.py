"""The rating app end to end in headless Chromium (Debian's, driven by Playwright).

A rater's whole session from a replayed source (the stored chatgpt_empathy replies): participant
id, information, tutorial, questionnaire, ten screens with Back and required answers, submit and the
completion code; a second attempt with the same id is refused; the admin export goes through
``import-returns`` into a rating table that the reporter reads with the stored crowd ratings.
The screenshots for the docs come from sheets with invented text only.

Set ``EMPATHY_TASK_UPDATE_SCREENSHOTS=1`` to copy the screenshots into docs/images/.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

pytest.importorskip("flask")
pytest.importorskip("waitress")

from empathy_task.cli import main as cli  # noqa: E402
from empathy_task.ratings.files import read_rating_table  # noqa: E402
from empathy_task.study.sheets import make_sheets, read_key, write_sheets  # noqa: E402
from empathy_task.study.store import StudyStore  # noqa: E402
from empathy_task.vocabulary import key_path_for, pseudonym, read_pseudonym_key  # noqa: E402
from tests.study.support import (  # noqa: E402
    ADMIN_TOKEN,
    COMPLETION_CODE,
    running_server,
    synthetic_items,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
#: What the rater clicks on screens 1-10 (3 Good, 2 Okay, 1 Bad); screen 2 is changed after Back.
CLICKS = {1: "Good", 2: "Bad", 3: "Okay", 4: "Good", 5: "Good", 6: "Bad", 7: "Okay", 8: "Good"}
CLICKS |= {9: "Okay", 10: "Good"}
VALUE = {"Bad": 1, "Okay": 2, "Good": 3}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if importlib.util.find_spec("playwright") is None or not CHROMIUM.is_file():
        why = f"needs the playwright package and {CHROMIUM} (scripts/install_browser.sh)"
        if _in_ci():
            pytest.fail(why)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _page(browser, **kwargs):
    context = browser.new_context(viewport={"width": 1000, "height": 760}, **kwargs)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def _button(page, name: str) -> None:
    """Click a button or button-styled link by its exact label (replies may contain any word)."""
    exact = re.compile(rf"^\s*{re.escape(name)}\s*$")
    page.locator("button, a.button", has_text=exact).click()


def _answer_teq(page) -> list[int]:
    answers = [(i * 3) % 5 for i in range(16)]
    for number, value in enumerate(answers, start=1):
        page.check(f'input[name="teq_{number}"][value="{value}"]')
    return answers


@pytest.mark.dataset_download  # the sheets are cut from the authors' CSV
def test_a_rater_session_from_a_replayed_source(browser, tmp_path: Path) -> None:
    sheets, key_path, db = tmp_path / "sheets", tmp_path / "sheets.key.csv", tmp_path / "study.db"
    assert cli(["sheets", "--source", "chatgpt_empathy", "--out", str(sheets), "--seed", "1"]) == 0
    pid = "5f1a2b3c4d5e6f7a8b9c0d1e"
    with running_server(sheets, db) as server:
        context, page = _page(browser, accept_downloads=True)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{server.url}/?PROLIFIC_PID={pid}")
        assert page.input_value("#pid") == pid  # the platform passes the id in the URL
        _button(page, "Start")
        page.wait_for_url("**/info")
        assert "Payment: 2.25 EUR" in page.inner_text("main")
        _button(page, "Continue")
        page.wait_for_url("**/tutorial")
        for emotion in ("disappointed", "afraid", "prepared", "anticipating", "confident"):
            assert page.locator(".example .emotion", has_text=emotion).count() == 1
        _button(page, "Continue to the questionnaire")
        page.wait_for_url("**/teq")
        # The questionnaire is required: the browser will not send it half answered.
        _button(page, "Continue to the ratings")
        assert page.url.endswith("/teq")
        teq = _answer_teq(page)
        _button(page, "Continue to the ratings")
        page.wait_for_url("**/rate/1")
        for n in range(1, 11):
            assert page.inner_text(".progress-text") == f"Screen {n} of 10"
            assert page.locator("#reply").inner_text().strip()
            if n == 1:
                _button(page, "Next")  # no answer chosen: stays here
                assert page.url.endswith("/rate/1")
            if n == 3:
                # Back to screen 2: its answer is shown and can be changed.
                page.get_by_role("link", name="Back", exact=True).click()
                page.wait_for_url("**/rate/2")
                assert page.is_checked('input[name="rating"][value="1"]')
                page.check('label:has-text("Okay") input')
                CLICKS[2] = "Okay"
                _button(page, "Next")
                page.wait_for_url("**/rate/3")
            page.check(f'label:has-text("{CLICKS[n]}") input')
            _button(page, "Submit" if n == 10 else "Next")
            page.wait_for_url("**/done" if n == 10 else f"**/rate/{n + 1}")
        assert page.inner_text("#completion-code") == COMPLETION_CODE
        assert dialogs == []
        context.close()

        # The stored answers are what was clicked, in the order of the rater's sheet.
        store = StudyStore(db, create=False)
        [row] = [r for r in store.progress() if r.submitted]
        key = read_key(key_path).set_index("item_id")
        returns = store.returns()
        assert len(returns) == 10 and {r["rater"] for r in returns} == {
            pseudonym(pid, read_pseudonym_key(key_path_for(db)))
        }
        assert [r["rating"] for r in returns] == [VALUE[CLICKS[n]] for n in range(1, 11)]
        assert all(key.loc[r["item_id"], "sheet_id"] == row.sheet_id for r in returns)
        assert all(json.loads(r["teq"]) == teq for r in returns)

        # A second attempt with the same id, in a fresh browser, is refused.
        context, page = _page(browser)
        page.goto(server.url + "/")
        page.fill("#pid", pid)
        _button(page, "Start")
        assert "already completed a batch" in page.inner_text("main")
        context.close()

        # The researcher downloads the returns and imports them through the key.
        context, page = _page(browser, accept_downloads=True)
        page.goto(server.url + "/admin")
        page.fill("#token", ADMIN_TOKEN)
        _button(page, "Sign in")
        assert "1 batches submitted" in page.inner_text("main")
        with page.expect_download() as download:
            page.get_by_role("link", name="CSV", exact=True).click()
        export = tmp_path / "returns.csv"
        download.value.save_as(export)
        context.close()

    # A re-rating of a stored source is named apart from the stored group of that name.
    table_path = tmp_path / "new-group.csv"
    args = ["import-returns", str(export), "--key", str(key_path), "--out", str(table_path)]
    assert cli([*args, "--source", "replayed-gpt4"]) == 0
    table = read_rating_table(table_path)
    assert len(table) == 10 and set(table["source"]) == {"replayed-gpt4"}
    assert table["part_no"].nunique() == 1 and table["teq"].notna().all()
    if importlib.util.find_spec("empathy_task.cli.report") is None:
        pytest.fail("empathy-task report is missing: the returns cannot be compared")
    # The study's comparison: the new group against the stored crowd ratings.
    study_csv = os.environ["EMPATHY_TASK_DATA"]
    out = tmp_path / "report"
    report = ["report", study_csv, str(table_path), "--out", str(out), "--format", "json"]
    assert cli([*report, "--resamples", "200"]) == 0
    result = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert result["groups"]["replayed-gpt4"]["n"] == 10
    [overall] = [
        c
        for c in result["comparisons"]
        if (c["a"], c["b"], c["scope"]) == ("human", "replayed-gpt4", "overall")
    ]
    # On the prompts both have (issue "Many runs"): the crowd's ratings of the human replies to
    # this batch's 10 prompts, not all 2,000.
    assert overall["n_a"] == overall["n_b"] == overall["n_prompts"] == 10 and "good_p" in overall


def _synthetic_sheets(tmp_path: Path, **text: str) -> Path:
    items = synthetic_items([3], source="model-under-test")
    for column, value in text.items():
        items[column] = value
    write_sheets(make_sheets(items, seed=3), tmp_path / "sheets")
    return tmp_path / "sheets"


def test_screenshots_with_invented_text(browser, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    sheets = _synthetic_sheets(tmp_path)
    with running_server(
        sheets, tmp_path / "study.db", extra=["--pay", "2.25 EUR for about 10 minutes"]
    ) as server:
        context, page = _page(browser)
        page.goto(server.url + "/?PROLIFIC_PID=demo-participant")
        _button(page, "Start")
        page.wait_for_url("**/info")
        page.screenshot(path=str(shots / "study-info.png"), full_page=True)
        page.goto(server.url + "/teq")
        _answer_teq(page)
        page.screenshot(path=str(shots / "study-teq.png"), full_page=True)
        _button(page, "Continue to the ratings")
        page.wait_for_url("**/rate/1")
        page.check('label:has-text("Good") input')
        page.screenshot(path=str(shots / "study-rating.png"), full_page=True)
        for n in range(1, 11):
            page.check('label:has-text("Good") input')
            _button(page, "Submit" if n == 10 else "Next")
        page.wait_for_url("**/done")
        page.screenshot(path=str(shots / "study-done.png"), full_page=True)
        context.close()
    names = sorted(p.name for p in shots.iterdir())
    assert names == ["study-done.png", "study-info.png", "study-rating.png", "study-teq.png"]
    assert all((shots / n).stat().st_size > 5_000 for n in names)
    if os.environ.get("EMPATHY_TASK_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        for n in names:
            shutil.copyfile(shots / n, DOCS_IMAGES / n)


def test_html_in_a_model_reply_is_shown_as_text(browser, tmp_path: Path) -> None:
    evil = '<script>alert("reply")</script><img src=x onerror="alert(1)"><b>not bold</b>'
    sheets = _synthetic_sheets(tmp_path, reply=evil, situation="<i>plain</i> & text")
    with running_server(sheets, tmp_path / "study.db") as server:
        context, page = _page(browser)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server.url + "/?PROLIFIC_PID=careful-rater")
        _button(page, "Start")
        page.goto(server.url + "/teq")
        _answer_teq(page)
        _button(page, "Continue to the ratings")
        page.wait_for_url("**/rate/1")
        assert page.locator("#reply").inner_text() == evil
        assert page.locator("#situation").inner_text() == "<i>plain</i> & text"
        assert page.locator("main script, main img, main b, main i").count() == 0
        page.wait_for_timeout(200)
        assert dialogs == []
        context.close()


def test_exports_are_only_for_the_admin(browser, tmp_path: Path) -> None:
    sheets = _synthetic_sheets(tmp_path)
    with running_server(sheets, tmp_path / "study.db") as server:
        context, page = _page(browser)
        page.goto(server.url + "/admin")
        page.fill("#token", "not-the-token-at-all")
        _button(page, "Sign in")
        assert "Wrong token" in page.inner_text("main")
        response = page.goto(server.url + "/admin/returns.csv")
        assert response is not None and response.status == 401
        context.close()
