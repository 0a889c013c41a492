"""The reporter end to end: inputs, analysis, Markdown / HTML / JSON, CLI errors and overwrites."""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from empathy_task import report
from empathy_task.analysis import calibration as cal
from empathy_task.analysis.results import Analysis, AnalysisOptions
from empathy_task.analysis.steps import analyse, interval_gaps
from empathy_task.cli import main as cli
from empathy_task.data.study import emotions
from empathy_task.ratings.inputs import detect_kind, load_inputs
from empathy_task.ratings.table import RATING_COLUMNS
from empathy_task.report import figures as plots
from empathy_task.report import sections
from empathy_task.vocabulary import STORED_SOURCES

# Every report here is built on the authors' CSV (its crowd ratings, or tables cut from it).
pytestmark = pytest.mark.dataset_download

STUDY_CSV = os.environ["EMPATHY_TASK_DATA"]
FAST = ["--resamples", "200"]  # the bootstrap's default 10,000 is for real reports
PNG = b"\x89PNG\r\n\x1a\n"
COMPARISON_KEYS = {
    "a",
    "b",
    "scope",
    "n_a",
    "n_b",
    "good_a",
    "good_b",
    "rel_increase_good",
    "good_chi2",
    "good_p",
    "dist_chi2",
    "dist_p",
}


def _strict_json(text: str) -> dict:
    def reject(name: str) -> None:
        raise AssertionError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def study_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full report of the authors' CSV (all formats), made once for this module."""
    out = tmp_path_factory.mktemp("study-report") / "report"
    assert cli(["report", STUDY_CSV, "--out", str(out), *FAST]) == 0
    return out


@pytest.fixture(scope="module")
def crowd_table() -> pd.DataFrame:
    from empathy_task.data.study import load_study
    from empathy_task.ratings.table import stored_rating_table

    # All six stored sources, with or without the second study file (then from the shipped ratings).
    return stored_rating_table(load_study(STUDY_CSV))[0]


# --- the paper's numbers ------------------------------------------------------------------------


def test_json_reproduces_the_headline_and_has_every_comparison(study_report: Path) -> None:
    doc = _strict_json((study_report / "report.json").read_text())
    groups = doc["groups"]
    # The authors' CSV's three sources, and the second file's three where it is present.
    sources = [s for s in STORED_SOURCES if s in groups]
    assert set(groups) == set(sources) and set(sources) >= {"human", "chatgpt", "chatgpt_empathy"}
    assert groups["human"]["n"] == 2000
    assert groups["human"]["counts"] == {"Bad": 342, "Okay": 672, "Good": 986}
    assert groups["chatgpt_empathy"]["counts"]["Good"] == 1295
    assert doc["groups_by_rater"]["crowd"] == groups

    comparisons = doc["comparisons"]
    # Every pair of the six stored sources, the baseline's first.
    pairs = list(itertools.combinations(STORED_SOURCES, 2))
    scopes = ["overall", "valence:positive", "valence:negative"] + [
        f"emotion:{e}" for e in emotions()
    ]
    assert len(scopes) == 35
    assert [(c["a"], c["b"], c["scope"]) for c in comparisons] == [
        (a, b, s) for a, b in pairs for s in scopes
    ]
    for c in comparisons:
        assert COMPARISON_KEYS <= set(c)
        assert c["rater_kind"] == "crowd"
        assert isinstance(c["n_a"], int) and isinstance(c["good_b"], int)
    head = next(c for c in comparisons if c["b"] == "chatgpt_empathy" and c["scope"] == "overall")
    assert (head["a"], head["good_a"], head["good_b"]) == ("human", 986, 1295)
    assert head["rel_increase_good"] == pytest.approx(31.3, abs=0.05)
    assert head["good_p"] < 1e-20 and head["dist_p"] < 1e-20
    assert head["good_marker"] == "***"
    assert head["rel_increase_good_low"] < 31.3 < head["rel_increase_good_high"]
    # Issue 23: the crowd's headline interval resamples raters (each rated one batch of 10).
    # Human vs vanilla GPT-4: Katz [21.6, 35.9], rater-cluster bootstrap about [20.0, 37.5].
    vanilla = next(c for c in comparisons if c["b"] == "chatgpt" and c["scope"] == "overall")
    assert vanilla["rel_increase_interval"] == "rater-cluster-bootstrap"
    katz = (vanilla["rel_increase_good_low"], vanilla["rel_increase_good_high"])
    assert katz == pytest.approx((21.6, 35.9), abs=0.05)
    emotion = next(c for c in comparisons if c["scope"].startswith("emotion:"))
    assert emotion["rel_increase_interval"] == "katz-log-adjusted"
    assert "(rater clusters)" in (study_report / "report.md").read_text()
    # The valences add up to the whole.
    pos, neg = (
        next(
            c
            for c in comparisons
            if c["b"] == "chatgpt_empathy" and c["a"] == "human" and c["scope"] == f"valence:{v}"
        )
        for v in ("positive", "negative")
    )
    assert pos["n_a"] + neg["n_a"] == 2000 and pos["good_b"] + neg["good_b"] == 1295


def test_json_extras(study_report: Path) -> None:
    doc = _strict_json((study_report / "report.json").read_text())
    assert doc["correction"] == "none" and doc["baseline"] == "human"
    assert doc["power"]["sample_size_for_power_0.95"]["df=8"] == 253
    # The paper's models whose crowd ratings are in the input are computed; the published rows
    # are only the fallback for the others.
    published = {r["source"]: r for r in doc["published"]["rows"]}
    computed = {m["model"] for m in doc["paper_models"] if m["computed"]}
    assert {"Human", "GPT-4"} <= computed and not computed & set(published)
    assert all(doc["groups"].get(r["stored_source"]) is None for r in published.values())
    quality = {(r["rater_kind"], r["source"]): r for r in doc["rater_quality"]}
    assert quality[("crowd", "human")]["raters"] == 200  # each rater counted once
    # Every group with TEQ answers (without the second file, its sources' come without them).
    with_teq = sum(kind == "crowd" for kind, _ in quality)
    assert quality[("all", "all")]["raters"] == 200 * with_teq
    assert 0 <= quality[("all", "all")]["share_reverse_often"] <= 1
    assert doc["agreement"] == []  # one kind of rater only


def test_markdown_has_the_sections_and_published_rows_apart(study_report: Path) -> None:
    md = (study_report / "report.md").read_text()
    for heading in (
        "## Leaderboard",
        "## Between models",
        "## By valence",
        "## By emotion",
        "## Power",
        "## Agreement between rater kinds",
        "## Rater quality",
        "## Multiple comparisons",
        "## Method",
    ):
        assert heading in md
    assert "## Published reference rows" not in md  # published figures: only as fallback rows
    leaderboard = md.split("## Leaderboard")[1].split("\n## ")[0]
    assert "| chatgpt_empathy (GPT-4) | crowd raters |" in leaderboard
    assert "+31.3%***" in leaderboard
    # A paper model whose ratings are not in the input: a labelled published row, no interval.
    fallback = [line for line in leaderboard.splitlines() if "(ratings not in the input)" in line]
    assert all("published" in line and "[" not in line for line in fallback)
    for png in ("ratings_by_source.png", "forest_1.png", "valence_1.png"):
        assert f"]({png})" in md
        assert (study_report / png).read_bytes().startswith(PNG)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.sources.append(a.get("src") or "")
        for key in ("src", "href"):
            value = a.get(key) or ""
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)


def test_html_is_self_contained_with_png_data_uris(study_report: Path) -> None:
    parser = _Images()
    parser.feed((study_report / "report.html").read_text())
    assert parser.external == []
    # ratings per source, valence, forest, heat map, between models
    assert len(parser.sources) == 5
    prefix = "data:image/png;base64,"
    for src in parser.sources:
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :], validate=True).startswith(PNG)


def test_the_crowds_headline_interval_resamples_raters(crowd_table: pd.DataFrame) -> None:
    # Issue 23 on the authors' data (design effect about 2): human vs vanilla GPT-4, Katz
    # [21.6, 35.9], a rater-cluster bootstrap about [20.0, 37.5].
    a = analyse(crowd_table, AnalysisOptions(resamples=4000))
    c = a.comparisons
    row = c[(c["b"] == "chatgpt") & (c["scope"] == "overall") & c["vs_baseline"]].iloc[0]
    cluster = (row["rel_increase_good_cluster_low"], row["rel_increase_good_cluster_high"])
    assert cluster == pytest.approx((20.0, 37.5), abs=0.6)
    assert cluster[0] < row["rel_increase_good_low"] and cluster[1] > row["rel_increase_good_high"]
    assert row["rel_increase_interval"] == "rater-cluster-bootstrap"


# --- inputs -------------------------------------------------------------------------------------


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    return path


def test_detects_each_kind_and_kind_overrides(tmp_path: Path, crowd_table: pd.DataFrame) -> None:
    small = crowd_table.head(30)[list(RATING_COLUMNS)]
    for suffix in ("csv", "jsonl", "parquet"):
        path = _write(small, tmp_path / f"r.{suffix}")
        assert detect_kind(path) == "ratings"
        table, loaded = load_inputs([path])
        assert len(table) == 30 and loaded[0].kind == "ratings"
    assert detect_kind(STUDY_CSV) == "study"
    (tmp_path / "x.eval").write_bytes(b"")
    assert detect_kind(tmp_path / "x.eval") == "log"
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="--kind"):
        detect_kind(tmp_path / "notes.txt")

    # A rating table that happens to carry the study's marker columns looks like the authors'
    # CSV; --kind ratings reads it as what it is.
    odd = small.assign(speaker_uttr="", rating_human=0)
    path = _write(odd, tmp_path / "odd.csv")
    assert detect_kind(path) == "study"
    out = tmp_path / "out"
    assert cli(["report", str(path), "--out", str(out), "--format", "json", *FAST]) == 2
    assert not out.exists()
    assert (
        cli(["report", str(path), "--kind", "ratings", "--out", str(out), "--format", "json"]) == 0
    )
    doc = _strict_json((out / "report.json").read_text())
    assert sum(g["n"] for g in doc["groups"].values()) == 30


def test_the_same_rating_in_two_inputs_counts_once_and_a_different_one_is_an_error(
    tmp_path: Path, crowd_table: pd.DataFrame
):
    small = crowd_table.head(30)[list(RATING_COLUMNS)]
    a = _write(small, tmp_path / "a.csv")
    b = _write(small.iloc[10:], tmp_path / "b.jsonl")
    table, loaded = load_inputs([a, b])
    assert len(table) == 30
    assert [i.repeats for i in loaded] == [0, 20]
    assert "counted once" in loaded[1].notes[0]
    other = small.iloc[10:].copy()
    other.iloc[0, other.columns.get_loc("rating")] = 1 + other.iloc[0]["rating"] % 3
    c = _write(other, tmp_path / "c.jsonl")
    with pytest.raises(ValueError, match=r"c\.jsonl: row 1: rating .*/a\.csv: row 12"):
        load_inputs([a, c])


# --- rater kinds: judge vs crowd ----------------------------------------------------------------


def _judge_table(crowd: pd.DataFrame, judge: str, sources: list[str], n: int = 400) -> pd.DataFrame:
    """A judge that mostly agrees with the crowd on the first ``n`` prompts of each source."""
    rng = np.random.default_rng(7)
    part = crowd[crowd["source"].isin(sources)].groupby("source").head(n).copy()
    flip = rng.random(len(part)) < 0.3
    part.loc[flip, "rating"] = rng.integers(1, 4, int(flip.sum()))
    part["rater"] = judge
    return part[list(RATING_COLUMNS)]


def test_judge_and_crowd_are_never_compared_and_their_agreement_is_measured(
    tmp_path: Path, crowd_table: pd.DataFrame
) -> None:
    judge = _judge_table(crowd_table, "openai/gpt-judge", ["human", "chatgpt_empathy", "chatgpt"])
    lone = _judge_table(crowd_table, "other/judge", ["chatgpt"], n=100)
    table = pd.concat([crowd_table, judge, lone], ignore_index=True)
    a = analyse(table, AnalysisOptions(resamples=100))
    assert a.rater_kinds == ("crowd", "openai/gpt-judge", "other/judge")
    c = a.comparisons
    assert set(c["rater_kind"]) == {"crowd", "openai/gpt-judge"}
    # Within each kind, a and b are rated by that kind alone.
    judged = c[(c["rater_kind"] == "openai/gpt-judge") & (c["scope"] == "overall")]
    assert set(judged["n_a"]) == {400}
    # The lone judge never rated the baseline: descriptive numbers only, with the reason.
    assert [(k, s) for k, s, _ in a.descriptive_only] == [("other/judge", "chatgpt")]
    assert "never tested against each other" in a.descriptive_only[0][2]
    pairs = {(g.reference, g.other) for g in a.agreement}
    assert ("crowd", "openai/gpt-judge") in pairs and ("crowd", "other/judge") in pairs
    ag = next(g for g in a.agreement if g.other == "openai/gpt-judge")
    assert ag.overall.n == 1200 and len(ag.per_source) == 3
    assert 0.3 < ag.overall.kappa_linear < 1 and 0.3 < ag.overall.alpha_ordinal < 1
    assert sum(map(sum, ag.overall.confusion)) == 1200
    assert isinstance(ag.rank.same_order, bool)
    # A judge gives every one of its ratings: its clusters are the prompts, one rating each.
    cl = a.clusters.set_index(["rater_kind", "source"])
    assert cl.loc[("openai/gpt-judge", "human"), "unit"] == "prompt"
    assert cl.loc[("openai/gpt-judge", "human"), "clusters"] == 400
    assert cl.loc[("crowd", "human"), "unit"] == "rater"

    path = _write(table, tmp_path / "mixed.parquet")
    out = tmp_path / "out"
    # "other" is no provider Inspect knows: the judge is vouched for by name (issue 26, item 11).
    judge = ["--judge", "other/judge"]
    assert cli(["report", str(path), "--out", str(out), "--format", "json", *FAST, *judge]) == 0
    doc = _strict_json((out / "report.json").read_text())
    assert doc["primary_rater_kind"] == "crowd"
    assert set(doc["groups_by_rater"]) == {"crowd", "openai/gpt-judge", "other/judge"}
    assert doc["groups_by_rater"]["openai/gpt-judge"]["human"]["n"] == 400
    assert doc["agreement"][0]["reference"] == "crowd"
    # The document itself, without drawing its figures (plots are tested in the module fixture).
    md = report.render_markdown(report.build_document(a, {}))
    assert "descriptive only" in md and "### judge openai/gpt-judge vs crowd raters" in md
    assert "Same order of sources: " in md
    assert plots.confusion_plot(np.eye(3) * 5, "crowd", "judge", "t").startswith(PNG)


def test_a_third_partys_judge_named_without_provider_is_named_with_judge(
    tmp_path: Path, crowd_table: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 23, item 6: a judge table whose rater is "gpt-4o-mini" (no provider).
    judge = _judge_table(crowd_table, "gpt-4o-mini", ["human", "chatgpt"], n=100)
    path = _write(judge, tmp_path / "third-party.csv")
    out = tmp_path / "out"
    capsys.readouterr()
    assert cli(["report", str(path), "--out", str(out), "--format", "json", *FAST]) == 2
    err = capsys.readouterr().err
    assert "third-party.csv" in err and "row 2" in err
    assert "openai/gpt-4o-mini" in err and "--judge" in err
    assert "rater 'gp…'" in err  # the id itself stays masked
    assert not out.exists()
    args = ["report", str(path), "--out", str(out), "--format", "json", *FAST]
    assert cli([*args, "--judge", "openai/gpt-4o-mini"]) == 0
    doc = _strict_json((out / "report.json").read_text())
    assert set(doc["groups_by_rater"]) == {"openai/gpt-4o-mini"}
    out2 = tmp_path / "out2"
    args2 = ["report", str(path), "--out", str(out2), "--format", "json", *FAST]
    assert cli([*args2, "--judge", "gpt-4o-mini=acme/judge-1"]) == 0
    doc = _strict_json((out2 / "report.json").read_text())
    assert set(doc["groups_by_rater"]) == {"acme/judge-1"}
    # A name that is not provider/model is refused, saying how to write one.
    assert cli([*args2, "--force", "--judge", "gpt-4o-mini"]) == 2
    assert "provider/model" in capsys.readouterr().err
    # calibrate names the judge the same way (its --judge also picks the judge to calibrate).
    cal_file = tmp_path / "gpt-4o-mini.calibration.json"
    assert cli(["calibrate", str(path), "--out", str(cal_file)]) == 2
    assert "--judge" in capsys.readouterr().err
    assert (
        cli(["calibrate", str(path), "--out", str(cal_file), "--judge", "openai/gpt-4o-mini"]) == 0
    )
    [entry] = json.loads(cal_file.read_text())["calibrations"]
    assert entry["key"]["judge"] == "openai/gpt-4o-mini"


def test_degenerate_scopes_give_null_with_a_reason(tmp_path: Path, crowd_table: pd.DataFrame):
    # Model "m" answered only sad prompts, and every one of its ratings is Good.
    sad = crowd_table[crowd_table["emotion"] == "sad"].query("source == 'human'").copy()
    sad["source"], sad["rating"] = "m", 3
    table = pd.concat([crowd_table[crowd_table["source"] == "human"], sad], ignore_index=True)
    a = analyse(table, AnalysisOptions(resamples=50))
    c = a.comparisons.set_index("scope")
    assert c.loc["emotion:sad", "good_reason"] is None
    assert math.isnan(c.loc["emotion:afraid", "good_p"])
    assert c.loc["emotion:afraid", "good_reason"] == "a group has no ratings in this scope"
    path = _write(table, tmp_path / "t.csv")
    assert cli(["report", str(path), "--out", str(tmp_path / "o"), "--format", "json", *FAST]) == 0
    doc = _strict_json((tmp_path / "o" / "report.json").read_text())
    afraid = next(x for x in doc["comparisons"] if x["scope"] == "emotion:afraid")
    assert afraid["good_chi2"] is None and afraid["good_reason"]
    # Issue 23: every comparison has an interval of the relative increase or a counted reason.
    gaps = doc["rel_increase_interval_gaps"]
    missing = [x for x in doc["comparisons"] if x["rel_increase_good_low"] is None]
    assert sum(gaps.values()) == len(missing) > 0
    assert all(x["rel_increase_reason"] for x in missing)
    assert gaps == {"no prompt in this scope was rated for both sources": 32}  # 31 + positive
    assert any("comparisons have no interval of the relative increase" in n for n in a.notes)
    # A baseline with no Good rating in a scope: the relative increase is a division by 0, but
    # its interval is given (on the prompts both share, the sad ones: overall, negative, sad).
    worst = table.copy()
    worst.loc[(worst["source"] == "human") & (worst["emotion"] == "sad"), "rating"] = 1
    b = analyse(worst, AnalysisOptions(resamples=50))
    undefined = b.comparisons[b.comparisons["rel_increase_good"].isna()]
    assert len(undefined) == 35 and interval_gaps(b.comparisons) == gaps
    assert undefined["rel_increase_good_low"].notna().sum() == 3
    assert any(n.startswith("3 comparisons have no relative increase") for n in b.notes)


def test_holm_and_bh_adjust_within_families(crowd_table: pd.DataFrame) -> None:
    none = analyse(crowd_table, AnalysisOptions(resamples=50)).comparisons
    for method in ("holm", "bh"):
        a = analyse(crowd_table, AnalysisOptions(resamples=50, correction=method))
        c = a.comparisons
        assert (c["good_p_adjusted"] >= c["good_p"] - 1e-15).all()
        assert (c["good_p"] == none["good_p"]).all()
        fam = {f.name: f.size for f in a.families}
        k = crowd_table["source"].nunique()
        pairs = k * (k - 1) // 2
        assert (
            fam["crowd / good / emotion"] == 32 * pairs and fam["crowd / dist / overall"] == pairs
        )
        emo = c[c["level"] == "emotion"]
        assert (emo["family_good"] == "crowd / good / emotion").all()
    assert (none["good_p_adjusted"] == none["good_p"]).all()


# --- the command line ---------------------------------------------------------------------------


def _bad_table(crowd: pd.DataFrame, tmp_path: Path, case: str) -> tuple[Path, list[str]]:
    t = crowd.head(40)[list(RATING_COLUMNS)].copy()
    if case == "rating":
        t.loc[7, "rating"] = 4
        return _write(t, tmp_path / "bad.csv"), ["bad.csv", "row 9", "'rating'"]
    if case == "emotion":
        t["emotion"] = t["emotion"].astype(object)
        t.loc[3, "emotion"] = "elated"
        return _write(t, tmp_path / "bad.jsonl"), ["bad.jsonl", "row 4", "'emotion'"]
    if case == "dialog":
        t.loc[5, "dialog_id"] = "hit:0_conv:0"
        return _write(t, tmp_path / "bad.csv"), ["bad.csv", "row 7", "'dialog_id'"]
    if case == "column":
        return _write(t.drop(columns="rating"), tmp_path / "bad.csv"), ["bad.csv", "'rating'"]
    if case == "duplicate":
        t = pd.concat([t, t.iloc[[2]]], ignore_index=True)
        return _write(t, tmp_path / "bad.parquet"), ["bad.parquet", "row 41", "'dialog_id'"]
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["rating", "emotion", "dialog", "column", "duplicate"])
def test_bad_input_exits_2_naming_file_row_column_and_writes_nothing(
    case: str, tmp_path: Path, crowd_table: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    path, wanted = _bad_table(crowd_table, tmp_path, case)
    out = tmp_path / "report"
    assert cli(["report", str(path), "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    for w in wanted:
        assert w in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "nobody"], "baseline 'nobody' has no ratings"),
        (["--sources", "human,ghost"], "'ghost' have no ratings"),
        (["--format", "pdf"], "unknown --format"),
    ],
)
def test_empty_groups_and_bad_options_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert cli(["report", STUDY_CSV, "--out", str(out), *args, *FAST]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_input_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["report", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.csv" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_refuses_to_overwrite_without_force(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    args = ["report", STUDY_CSV, "--out", str(out), "--format", "json", *FAST]
    assert cli(args) == 0
    before = (out / "report.json").read_bytes()
    (out / "keep.txt").write_text("mine")
    assert cli([*args, "--seed", "5"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "report.json").read_bytes() == before
    assert cli([*args, "--seed", "5", "--force"]) == 0
    assert (out / "report.json").read_bytes() != before
    assert (out / "keep.txt").read_text() == "mine"
    # With the manifest of the files the report wrote (issue 26, tests/report/test_report_folder.py).
    assert sorted(p.name for p in out.iterdir()) == [
        ".empathy-report.json",
        "keep.txt",
        "report.json",
    ]


def test_power_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["power", "--effect", "0.3", "--alpha", "0.05", "--power", "0.95", "--df", "8"]) == 0
    assert capsys.readouterr().out.strip() == "253"
    assert cli(["power", "--effect", "0", "--df", "1"]) == 2


def test_reproduce_prints_the_headline_and_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "empathy-report"
    args = ["reproduce", "--data", STUDY_CSV, "--out", str(out), "--format", "json", *FAST]
    assert cli(args) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    gpt4 = next(line for line in lines if line.startswith("  chatgpt_empathy"))
    assert "GPT-4" in gpt4 and "Good 1,295 of 2,000 (64.8%)  +31.3%***" in gpt4
    llama = next(line for line in lines if line.startswith("  llama_empathy"))
    assert "LLaMA-2-70B-Chat" in llama and "Good 1,219 of 2,000 (61.0%)  +23.6%***" in llama
    human = next(line for line in lines if line.startswith("  human"))
    assert "Good   986 of 2,000 (49.3%)  baseline" in human
    # Published figures are printed only for paper models whose ratings are not in the input.
    computed = sum(line.startswith("  llama_empathy") for line in lines)
    assert ("Published" in printed) == (not computed)
    assert f"Report: {(out / 'report.json').resolve()}" in printed
    assert cli(args) == 2  # no overwrite without --force


def test_vectorised_rater_kinds_agree_with_rater_kind() -> None:
    from empathy_task.vocabulary import authors_pseudonym, rater_kind, rater_kinds

    raters = [
        authors_pseudonym("a"),
        authors_pseudonym("b"),
        "openai/gpt-4o",
        "r-0123456789ab",
        "r-0123456789AB",  # upper case: not a pseudonym
        "r-0123456789abc",
        "r-",
        "empathy/mock-judge",
    ]
    assert list(rater_kinds(raters)) == [rater_kind(r) for r in raters]


def test_html_escapes_names_from_the_input(crowd_table: pd.DataFrame) -> None:
    table = crowd_table.copy()
    table["source"] = table["source"].replace({"chatgpt": "<img src=x onerror=alert(1)>"})
    a = analyse(table, AnalysisOptions(resamples=20))
    html = report.render_html(report.build_document(a, {}))
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    piped = crowd_table.assign(source=crowd_table["source"].replace({"chatgpt": "a|b"}))
    md = report.render_markdown(
        report.build_document(analyse(piped, AnalysisOptions(resamples=20)), {})
    )
    assert "| a\\|b |" in md  # a | in a name is escaped, so the table keeps its columns


# --- honest statistics at the edges (issue 17) ---------------------------------------------------


def test_no_power_at_the_observed_effect(study_report: Path) -> None:
    doc = _strict_json((study_report / "report.json").read_text())
    head = next(c for c in doc["comparisons"] if c["vs_baseline"] and c["scope"] == "overall")
    assert not any("observed" in key for key in head)
    assert 0 < head["power_good_w"] <= 1 and 0 < head["power_dist_w"] <= 1
    power = (study_report / "report.md").read_text().split("## Power")[1].split("\n## ")[0]
    assert "power at observed w" not in power and "power, Good test, w=0.3" in power


def test_json_p_values_at_full_precision(crowd_table: pd.DataFrame) -> None:
    a = analyse(crowd_table, AnalysisOptions(resamples=50))
    doc = _strict_json(report.render_json(a))
    tiny = 0
    for c, (_, r) in zip(doc["comparisons"], a.comparisons.iterrows()):
        for key in ("good_p", "dist_p", "good_chi2", "rel_increase_good_low"):
            expected = float(r[key])
            assert (c[key] is None) if math.isnan(expected) else c[key] == expected, key
        tiny += 1e-15 < r["good_p"] < 1e-6
    assert tiny > 0  # p-values that 15 decimal places would round


def _with_twin(crowd_table: pd.DataFrame) -> pd.DataFrame:
    twin = crowd_table[crowd_table["source"] == "chatgpt"].copy()
    twin["source"] = "twin"  # the very same ratings under another name
    return pd.concat([crowd_table, twin], ignore_index=True)


def test_intervals_for_every_source_and_scope_and_identical_for_identical_data(
    crowd_table: pd.DataFrame,
) -> None:
    a = analyse(_with_twin(crowd_table), AnalysisOptions(resamples=200, detail_sources=1))
    assert (
        len(a.detail_sources["crowd"]) == 2
    )  # the document details one source besides the baseline
    g = a.groups
    assert g["good_rate_low"].notna().all() and g["good_rate_high"].notna().all()
    assert (g["good_rate_low"] <= g["good_rate"]).all() and (
        g["good_rate"] <= g["good_rate_high"]
    ).all()
    by = g.set_index(["source", "scope"])
    for col in ("good_rate_low", "good_rate_high"):
        assert (by.loc["twin", col] == by.loc["chatgpt", col]).all()
    c = a.comparisons
    vs = c[c["vs_baseline"]]
    defined = vs["good_a"] > 0
    assert vs.loc[defined, "rel_increase_good_low"].notna().all()
    models = set(crowd_table["source"]) - {"human"}
    assert set(vs.loc[vs["level"] == "emotion", "b"]) == models | {"twin"}
    cv = vs.set_index(["b", "scope"])
    for col in ("rel_increase_good_low", "rel_increase_good_high"):
        assert (cv.loc["twin", col] == cv.loc["chatgpt", col]).all()
    # The same counts in different scopes get the same interval too.
    same = g[(g["n"] == g["n"].iloc[0]) & (g["Good"] == g["Good"].iloc[0])]
    assert same["good_rate_low"].nunique() == 1


def test_zero_good_gets_an_interval_and_the_method_is_named(
    tmp_path: Path, crowd_table: pd.DataFrame
) -> None:
    table = crowd_table.copy()
    none_good = (table["source"] == "chatgpt") & (table["emotion"] == "sad")
    table.loc[none_good, "rating"] = 1
    a = analyse(table, AnalysisOptions(resamples=200))
    sad = a.groups.set_index(["source", "scope"]).loc[("chatgpt", "emotion:sad")]
    assert sad["Good"] == 0 and sad["good_rate_low"] == 0 and sad["good_rate_high"] > 0.02
    doc = _strict_json(report.render_json(a))
    assert doc["intervals"]["good_rate"] == "wilson"
    assert doc["intervals"]["rel_increase_good"] == "katz-log-adjusted"
    method = sections._method(a)
    assert any("Wilson" in b.text and "Katz" in b.text for b in method.blocks)


def test_crowd_clusters_are_raters_and_the_report_shows_them(crowd_table: pd.DataFrame) -> None:
    from empathy_task.analysis import stats

    a = analyse(crowd_table, AnalysisOptions(resamples=300))
    cl = a.clusters.set_index("source")
    assert (cl["unit"] == "rater").all() and (cl["clusters"] == 200).all()
    assert (cl["largest_cluster"] == 10).all()
    human = crowd_table[crowd_table["source"] == "human"]
    per_rater = human.groupby("rater")["rating"]
    good, n = (per_rater.apply(lambda r: int((r == 3).sum()))), per_rater.size()
    expected = stats.cluster_bootstrap_good_rate_ci(good.to_numpy(), n.to_numpy(), resamples=300)
    assert cl.loc["human", "good_rate_cluster_low"] == expected.low
    deff = stats.design_effect(good.to_numpy(), n.to_numpy())
    assert cl.loc["human", "design_effect"] == pytest.approx(deff, rel=1e-12)  # summation order
    c = a.comparisons
    overall = c[c["scope"] == "overall"]
    assert (
        overall["good_rs_p"].notna().all()
        and c.loc[c["scope"] != "overall", "good_rs_p"].isna().all()
    )
    # The clustered test is more cautious than the paper's where raters are heterogeneous.
    assert (overall["good_rs_chi2"] < overall["good_chi2"] * 1.05).all()
    doc = _strict_json(report.render_json(a))
    assert {r["source"] for r in doc["clusters"]["rows"]} == set(crowd_table["source"])
    md = report.render_markdown(report.build_document(a, {}))
    assert "## Rater clusters" in md and "| crowd raters | human | rater | 200 |" in md


# --- text that says no more than the code does (issue 23, item 5) ---------------------------------

DOCS_ROOT = Path(__file__).resolve().parents[2]


def test_design_promises_only_the_intervals_the_code_computes() -> None:
    design = (DOCS_ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    # The relative increase has closed-form and cluster/prompt bootstrap intervals, no plain one.
    assert "bootstrap intervals for Good rates and the relative increase" not in design
    assert "rater-cluster bootstrap" in design and "rel_increase_good_cluster_low" in design


def test_method_says_the_stuart_maxwell_df_is_the_rank() -> None:
    a = Analysis.__new__(Analysis)  # the text needs the options only
    object.__setattr__(a, "options", AnalysisOptions())
    text = sections._method_rater_designs(a)
    assert "Stuart-Maxwell" in text and "rank of its covariance" in text


def test_readme_calls_the_loso_error_a_share() -> None:
    readme = (DOCS_ROOT / "README.md").read_text(encoding="utf-8")
    part = readme.split("**The calibration.**", 1)[1].split("**Crowd-equivalent rows**", 1)[0]
    assert "(in points)" not in part
    assert "`loso_rms_error`, a share" in part
    # The code's error is a share: a Good rate minus a Good rate.
    assert "a share, not points" in cal.leave_one_source_out.__doc__
