"""Importers and outputs (issue 14, continued): bounded CSV and JSONL inputs, short excerpts in
the authors' CSV's errors, one whole report per folder, flagged replies counted in the report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from empathy_task.data.fetch import DataError
from empathy_task.ratings.files import read_rating_table, read_table
from empathy_task.ratings.table import RatingTableError, study_rating_table
from tests.conftest import STUDY_CSV


@pytest.fixture
def table(study: pd.DataFrame) -> pd.DataFrame:
    return study_rating_table(study.head(40)).drop(columns="teq")


# --- bounded CSV and JSONL -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_an_input_with_more_rows_than_the_bound_is_a_located_error(
    table: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"t.{suffix}"
    if suffix == "csv":
        table.to_csv(path, index=False)
    else:
        table.to_json(path, orient="records", lines=True)
    monkeypatch.setenv("EMPATHY_TASK_MAX_ROWS", str(len(table)))
    assert len(read_rating_table(path)) == len(table)  # exactly the bound: read
    monkeypatch.setenv("EMPATHY_TASK_MAX_ROWS", str(len(table) - 1))
    # The first row beyond the bound: CSV counts its header line, JSONL counts lines from 1.
    row = len(table) + 1 if suffix == "csv" else len(table)
    with pytest.raises(
        RatingTableError, match=rf"t.{suffix}: row {row}: more than the {len(table) - 1} rows"
    ):
        read_rating_table(path)


def test_the_csv_row_bound_counts_rows_not_line_breaks(
    table: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Line breaks inside cells (and CRLF line ends) are more line ends than rows: the rows are
    # counted as the reader reads them, and the table reads the same as without a bound.
    path = tmp_path / "t.csv"
    frame = table.assign(note=[f"a\nb\r\nc {i}" for i in range(len(table))])
    frame.to_csv(path, index=False, lineterminator="\r\n")
    unbounded = read_table(path)[0]
    monkeypatch.setenv("EMPATHY_TASK_MAX_ROWS", str(len(table)))
    bounded = read_table(path)[0]
    pd.testing.assert_frame_equal(bounded, unbounded)
    assert len(bounded) == len(table)
    monkeypatch.setenv("EMPATHY_TASK_MAX_ROWS", str(len(table) - 1))
    with pytest.raises(
        RatingTableError, match=f"row {len(table) + 1}: more than the {len(table) - 1} rows"
    ):
        read_table(path)


def test_a_large_csv_is_read_in_batches_and_stopped_at_the_bound(
    table: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import empathy_task.ratings.files as files

    # 300 rows in batches of 64 (the real batch is 65,536): the reader stops at the batch that
    # crosses the bound instead of reading the rest of the file.
    monkeypatch.setattr(files, "BATCH_ROWS", 64)
    big = pd.concat([table] * 8, ignore_index=True).assign(n=range(len(table) * 8))
    path = tmp_path / "big.csv"
    big.to_csv(path, index=False)
    monkeypatch.setenv("EMPATHY_TASK_MAX_ROWS", "100")
    seen: list[int] = []
    real = pd.read_csv

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        reader = real(*args, **kwargs)
        assert kwargs.get("chunksize") == 64
        next_chunk = reader.get_chunk

        def get_chunk(size=None):  # noqa: ANN001, ANN202
            part = next_chunk(size)
            seen.append(len(part))
            return part

        reader.get_chunk = get_chunk
        return reader

    monkeypatch.setattr(files.pd, "read_csv", spy)
    with pytest.raises(RatingTableError, match=r"big.csv: row 102: more than the 100 rows"):
        read_table(path)
    assert seen == [64, 64]  # two batches read of five


def test_a_jsonl_file_stops_at_the_first_record_beyond_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from empathy_task.ratings.files import iter_jsonl

    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3}\n' + "not json\n" * 10, encoding="utf-8")
    monkeypatch.setenv("EMPATHY_TASK_MAX_ROWS", "2")
    got = []
    with pytest.raises(RatingTableError, match=r"t.jsonl: row 4: more than the 2 rows"):
        for n, rec in iter_jsonl(path):
            got.append((n, rec["a"]))
    assert got == [(1, 1), (3, 2)]  # a blank line is no record; the bad lines are never parsed


def test_jsonl_batches_give_the_same_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import empathy_task.ratings.files as files

    path = tmp_path / "t.jsonl"
    recs = [{"a": i, "b": f"x{i}"} if i % 3 else {"a": i, "c": [i]} for i in range(50)]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n\n", encoding="utf-8")
    whole, lines = files.read_jsonl(path)
    monkeypatch.setattr(files, "BATCH_ROWS", 7)
    batched, batched_lines = files.read_jsonl(path)
    pd.testing.assert_frame_equal(batched, whole)
    assert batched_lines == lines == list(range(1, 51))


# --- the authors' CSV: short excerpts in its errors ------------------------------------------

MEGA = "x" * 1_000_000


@pytest.fixture(scope="module")
def raw_study() -> pd.DataFrame:
    return pd.read_csv(STUDY_CSV, dtype=str, keep_default_na=False)


@pytest.mark.dataset_download
@pytest.mark.parametrize(
    ("column", "what"),
    [
        ("dialog_id", "dialog id not in the study's manifest"),
        ("emotion", "does not match the manifest's emotion"),
        ("empathy_arr_human", "not a TEQ answer list"),
    ],
)
def test_an_error_in_the_authors_csv_quotes_a_short_excerpt_of_a_1_mb_cell(
    raw_study: pd.DataFrame, tmp_path: Path, column: str, what: str
) -> None:
    from empathy_task.data.study import load_study

    frame = raw_study.copy()
    frame.loc[6, column] = "9" + MEGA
    path = tmp_path / "study.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        load_study(path)
    message = str(e.value)
    assert message.startswith(f"{path}: row 8, column {column!r}: {what}"), message[:300]
    assert len(message) < 400
    assert "1,000,001 characters" in message
    # Nothing chained to it carries the cell either (a traceback would print it).
    cause = e.value.__cause__ or e.value.__context__
    assert cause is None or len(str(cause)) < 1_000


@pytest.mark.dataset_download
def test_a_non_utf8_authors_csv_names_its_line(raw_study: pd.DataFrame, tmp_path: Path) -> None:
    from empathy_task.data.study import load_study

    path = tmp_path / "study.csv"
    raw_study.head(20).to_csv(path, index=False)
    lines = path.read_bytes().split(b"\n")
    lines[5] = b"\xff" + lines[5]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError, match=rf"{path.name}: row 6: not UTF-8 text"):
        load_study(path)


# --- one whole report per folder -------------------------------------------------------------


def _report(*pngs: str, text: bytes = b"new"):  # noqa: ANN202
    from empathy_task.report.document import RenderedReport

    return RenderedReport({n: text for n in ["report.md", "report.html", "report.json", *pngs]})


def _folder(path: Path) -> dict[str, bytes]:
    from empathy_task.report.render import MANIFEST

    # The report's manifest (issue 26) is checked in tests/report/test_report_folder.py.
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


OLD = {"report.md", "report.html", "report.json", "a.png", "b.png"}
NEW = {"report.md", "report.html", "report.json", "a.png", "c.png"}
MINE = {"notes.txt": b"mine", "data/raw.csv": b"1,2"}


@pytest.mark.parametrize("fail_at", range(1, 6))
def test_a_failure_while_moving_the_report_in_leaves_one_whole_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    from empathy_task.report.render import write_report

    out = tmp_path / "r"
    write_report(_report("a.png", "b.png", text=b"old"), out)
    (out / "notes.txt").write_bytes(MINE["notes.txt"])
    (out / "data").mkdir()
    (out / "data" / "raw.csv").write_bytes(MINE["data/raw.csv"])

    # The fail_at-th rename or replace of the write fails (a full disk, a file in use).
    calls = {"n": 0}

    def failing(real):  # noqa: ANN001, ANN202
        def move(src, dst, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise OSError(f"injected failure at move {fail_at}")
            return real(src, dst, *args, **kwargs)

        return move

    monkeypatch.setattr(os, "rename", failing(os.rename))
    monkeypatch.setattr(os, "replace", failing(os.replace))
    try:
        write_report(_report("a.png", "c.png"), out, force=True)
        failed = False
    except OSError as e:
        assert "injected" in str(e)
        failed = True
    monkeypatch.undo()
    files = _folder(out)
    mine = {k: files.pop(k) for k in MINE}
    assert mine == MINE  # files of your own are never lost, whatever failed
    contents = set(files.values())
    assert len(contents) == 1, files  # one report: all old or all new
    if contents == {b"old"}:
        assert failed and set(files) == OLD
    else:
        assert contents == {b"new"} and set(files) == NEW  # no stale b.png
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temporary folder left


def test_force_swaps_the_folder_keeping_its_mode_your_files_and_a_link_to_it(
    tmp_path: Path,
) -> None:
    from empathy_task.report.render import write_report

    real = tmp_path / "real"
    write_report(_report("a.png", "b.png", text=b"old"), real)
    real.chmod(0o750)
    (real / "notes.txt").write_bytes(MINE["notes.txt"])
    (real / "data").mkdir()
    (real / "data" / "raw.csv").write_bytes(MINE["data/raw.csv"])
    (real / "link.png").symlink_to(real / "notes.txt")  # a symlink is never a report file
    link = tmp_path / "r"
    link.symlink_to(real)
    written = write_report(_report("a.png", "c.png"), link, force=True)
    assert link.is_symlink() and link.resolve() == real
    assert {p.name for p in written} == NEW
    files = _folder(real)
    assert {k: files.pop(k) for k in (*MINE, "link.png")} == {**MINE, "link.png": b"mine"}
    assert files == {n: b"new" for n in NEW}
    assert (real.stat().st_mode & 0o777) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "real"]


def test_a_report_into_the_working_folder_swaps_it_and_follows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from empathy_task.report.render import MANIFEST, write_report

    out = tmp_path / "r"
    write_report(_report("a.png", "b.png", text=b"old"), out)
    (out / "sub").mkdir()
    monkeypatch.chdir(out / "sub")
    written = write_report(_report("a.png", "c.png"), Path(".."), force=True)
    assert [p.read_bytes() for p in written] == [b"new"] * 5
    assert Path.cwd() == (out / "sub").resolve() and Path("../report.md").read_bytes() == b"new"
    assert sorted(p.name for p in out.iterdir()) == sorted([*NEW, "sub", MANIFEST])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


# --- flagged replies: from the judge to the report -------------------------------------------


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_the_flagged_column_round_trips_and_is_validated(
    table: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    from empathy_task.ratings.files import write_rating_table

    flags = [True, False, None] * (len(table) // 3)
    path = tmp_path / f"t.{suffix}"
    write_rating_table(table.assign(flagged=flags), path)
    back = read_rating_table(path)
    assert back["flagged"].tolist() == flags
    # No flag recorded anywhere: as if the column were not there.
    write_rating_table(table.assign(flagged=None), path, force=True)
    assert "flagged" not in read_rating_table(path).columns


def test_a_flag_that_is_not_a_boolean_is_a_located_error(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    table.assign(flagged=["true", "False", "1", "", "maybe"] * (len(table) // 5)).to_csv(
        path, index=False
    )
    with pytest.raises(
        RatingTableError, match=r"t.csv: row 6, column 'flagged': flagged must be true or false"
    ):
        read_rating_table(path)


def _adversarial_log(sample: int = 8) -> str:
    """An Inspect run whose model gives an adversarial reply every second prompt, judged by a
    mock judge that quotes the reply before its verdict."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage, get_model

    from empathy_task.task.empathy_task import empathy_task
    from tests.task.adversarial import ADVERSARIAL_REPLIES

    counter = {"n": 0}

    def respond(messages, tools, tool_choice, config) -> ModelOutput:  # noqa: ANN001
        n = counter["n"]
        text = ADVERSARIAL_REPLIES[(n // 2) % 4] if n % 2 == 0 else "So sorry to hear that."
        counter["n"] += 1
        out = ModelOutput.from_content(model="mockllm/model", content=text)
        out.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)
        return out

    model = get_model("mockllm/model", custom_outputs=respond, config=GenerateConfig())
    grader = get_model("empathy/mock-judge", style="quote-first")
    [log] = inspect_eval(
        empathy_task(sample=sample),
        model=model,
        model_roles={"grader": grader},
        display="none",
        log_dir=os.environ["INSPECT_LOG_DIR"],
    )
    assert log.status == "success", log.error
    return log.location


def _expected_flags(log_location: str) -> dict[str, int]:
    """Rated replies the scorer flagged, per source, read from the log's own samples."""
    from inspect_ai.log import read_eval_log

    from empathy_task.task.verdict import injection_flags

    log = read_eval_log(log_location)
    out = {log.eval.model: 0, "human": 0}
    for s in log.samples:
        score = s.scores["empathy_judge"]
        if score.value["rated"] == 1.0:
            out[log.eval.model] += bool(injection_flags(s.output.completion))
        if score.value["human_rated"] == 1.0:
            out["human"] += bool(injection_flags(s.metadata["human_reply"]))
    return out


def _report_flags(folder: Path) -> tuple[dict, str, str]:
    doc = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    md = (folder / "report.md").read_text(encoding="utf-8")
    html = (folder / "report.html").read_text(encoding="utf-8")
    return doc, md, html


@pytest.mark.dataset_download
def test_flagged_replies_travel_from_the_log_to_every_report_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from empathy_task.cli import main as cli

    location = _adversarial_log()
    expected = _expected_flags(location)
    model = next(s for s in expected if s != "human")
    assert expected[model] == 4  # every adversarial reply is flagged and still rated

    exported = tmp_path / "t.csv"
    assert cli(["export", location, "--out", str(exported)]) == 0
    table = read_rating_table(exported)
    got = table.groupby("source")["flagged"].sum().to_dict()
    assert got == expected

    # From the log itself, from the exported table, and beside the crowd's ratings.
    for name, inputs in {
        "log": [location],
        "table": [str(exported)],
        "mixed": [str(exported), str(STUDY_CSV)],
    }.items():
        out = tmp_path / name
        assert cli(["report", *inputs, "--out", str(out), "--resamples", "50"]) == 0
        doc, md, html = _report_flags(out)
        judge = "empathy/mock-judge"
        assert {s: g["flagged"] for s, g in doc["groups_by_rater"][judge].items()} == expected
        line = f"{model} 4 of 8"
        assert "Flagged replies: 4 rated replies addressed the judge" in md, name
        assert line in md and line in html, name
        if name == "mixed":  # crowd ratings record no flags: null, and no line for them
            assert all(g["flagged"] is None for g in doc["groups_by_rater"]["crowd"].values())
            assert doc["groups"]["human"]["flagged"] is None
            assert "crowd raters:" not in md.split("Flagged replies:")[1].split("\n")[0]
    capsys.readouterr()


@pytest.mark.dataset_download
def test_a_report_without_flags_says_nothing_about_them(tmp_path: Path) -> None:
    from empathy_task.cli import main as cli

    out = tmp_path / "r"
    assert cli(["report", str(STUDY_CSV), "--out", str(out), "--resamples", "50"]) == 0
    doc, md, _ = _report_flags(out)
    assert all(g["flagged"] is None for g in doc["groups"].values())
    assert "Flagged replies" not in md


def test_post_hoc_judging_flags_the_replies_it_rates(study: pd.DataFrame) -> None:
    from inspect_ai.model import get_model

    from empathy_task.ratings.posthoc import judge_replies
    from empathy_task.task.verdict import injection_flags
    from tests.task.adversarial import ADVERSARIAL_REPLIES

    rows = study.head(6)
    replies = pd.DataFrame(
        {
            "dialog_id": rows["dialog_id"],
            "source": "acme/model-1",
            "reply": [*ADVERSARIAL_REPLIES[:3], "I am sorry.", "That is sad.", "Oh no."],
        }
    )
    grader = get_model("empathy/mock-judge")
    table, summary = judge_replies(replies, grader, progress=False)
    model = table[table["source"] == "acme/model-1"].set_index("dialog_id")
    assert model.loc[rows["dialog_id"], "flagged"].tolist() == [True] * 3 + [False] * 3
    human = table[table["source"] == "human"].set_index("dialog_id")
    assert human.loc[rows["dialog_id"], "flagged"].tolist() == [
        bool(injection_flags(r)) for r in rows["reply_human"]
    ]
    assert summary.flagged["acme/model-1"] == 3
    assert any("3 rated repl(ies) addressed the judge" in line for line in summary.lines())
