"""The judge's answer probabilities: asked only with ``-T judge_logprobs=true``, read from the
verdict token of the final line, renormalised over the three labels, kept in the score, used by
the mean rating, exported as ``p_bad, p_okay, p_good`` and validated in the rating table."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from inspect_ai.log import read_eval_log
from inspect_ai.model import (
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    TopLogprob,
    get_model,
)

from empathy_task.ratings.files import read_rating_table, write_rating_table
from empathy_task.ratings.logs import rating_table_from_logs
from empathy_task.ratings.table import (
    PROBABILITY_COLUMNS,
    RATING_COLUMNS,
    RatingTableError,
    validate_rating_table,
)
from empathy_task.task.provider import mock_label_probabilities, mock_logprobs
from empathy_task.task.scorer import PROBABILITY_KEYS
from empathy_task.task.verdict import parse_rating, token_label, verdict_probabilities
from tests.task.support import metric_values, run_task

INSPECT = str(Path(sys.executable).with_name("inspect"))
LABELS = ("Bad", "Okay", "Good")


def _tokens(*pieces: tuple[str, float, list[tuple[str, float]] | None]) -> Logprobs:
    """Logprobs from (token, probability, [(alternative, probability), ...])."""
    return Logprobs(
        content=[
            Logprob(
                token=t,
                logprob=math.log(p),
                top_logprobs=None
                if alts is None
                else [TopLogprob(token=a, logprob=math.log(q)) for a, q in alts],
            )
            for t, p, alts in pieces
        ]
    )


# --- reading the verdict token --------------------------------------------------------------


def test_token_label_reads_a_label_or_its_first_piece() -> None:
    assert [token_label(t) for t in (" Good", "good", "**Bad**", " Ok", " okay", " G")] == [
        3,
        3,
        1,
        2,
        2,
        3,
    ]
    assert [token_label(t) for t in ("RATING", ":", " Great", "Goodness", " ", "")] == [None] * 6


def test_probabilities_sum_spellings_drop_other_tokens_and_renormalise() -> None:
    # "RATING: Good" with alternatives at the verdict: two spellings of Good, one of Okay, a
    # non-label token and Bad. By hand: Good 0.6 + 0.1, Okay 0.15, Bad 0.05, " Great" dropped;
    # total 0.9, so P = (0.05, 0.15, 0.7) / 0.9.
    alts = [(" Good", 0.6), (" Okay", 0.15), (" good", 0.1), (" Great", 0.1), (" Bad", 0.05)]
    lp = _tokens(
        ("Fine reply.", 1.0, [("Fine reply.", 1.0)]),
        ("\n", 1.0, None),
        ("RATING", 1.0, None),
        (":", 1.0, None),
        (" Good", 0.6, alts),
    )
    p = verdict_probabilities(lp, 3)
    assert p == pytest.approx((0.05 / 0.9, 0.15 / 0.9, 0.7 / 0.9))
    assert sum(p) == pytest.approx(1.0)
    # The tokens say Good; a parsed rating of Okay means they disagree: nothing is guessed.
    assert verdict_probabilities(lp, 2) is None
    assert verdict_probabilities(lp, None) is None
    assert verdict_probabilities(None, 3) is None


def test_only_the_final_lines_label_counts() -> None:
    # A label earlier in the answer ("Good" in the explanation) is not the verdict.
    lp = _tokens(
        ("Good", 0.5, [("Good", 0.5), ("Bad", 0.5)]),
        (" effort", 1.0, None),
        ("\n", 1.0, None),
        ("RATING", 1.0, None),
        (":", 1.0, None),
        (" Bad", 0.8, [(" Bad", 0.8), (" Okay", 0.2)]),
        ("\n", 1.0, None),
    )
    assert verdict_probabilities(lp, 1) == pytest.approx((0.8, 0.2, 0.0))
    # Without a label on the final line there is no verdict token.
    no_verdict = _tokens(("Good", 0.5, [("Good", 0.5)]), ("\n", 1.0, None), ("Hmm", 1.0, None))
    assert verdict_probabilities(no_verdict, 3) is None


def test_a_chosen_token_outside_the_listed_alternatives_still_counts() -> None:
    lp = _tokens((" Bad", 0.02, [(" Good", 0.7), (" Okay", 0.2)]))
    assert verdict_probabilities(lp, 1) == pytest.approx(np.array([0.02, 0.2, 0.7]) / 0.92)


def test_no_alternatives_means_no_probabilities() -> None:
    # One token's probability says nothing about the other two labels.
    assert verdict_probabilities(_tokens((" Good", 0.9, None)), 3) is None
    assert verdict_probabilities(_tokens((" Good", 0.9, [])), 3) is None
    assert verdict_probabilities(Logprobs(content=[]), 3) is None


def test_mock_logprobs_give_back_the_mock_probabilities() -> None:
    prompt = "<<<BEGIN RESPONSE-0123456789abcdef>>>\nSo sorry to hear.\n<<<END RESPONSE-0123456789abcdef>>>"
    from empathy_task.task.provider import mock_judgement

    text = mock_judgement(prompt)
    expected = mock_label_probabilities(prompt)
    got = verdict_probabilities(mock_logprobs(prompt, text, 20), parse_rating(text))
    assert got == pytest.approx(tuple(expected[label] for label in LABELS))
    assert max(expected, key=expected.get) == text.split()[-1]  # the verdict is the likeliest
    # Deterministic.
    assert mock_logprobs(prompt, text, 5) == mock_logprobs(prompt, text, 5)
    # top_logprobs=0: no alternatives, so no probabilities.
    assert verdict_probabilities(mock_logprobs(prompt, text, 0), parse_rating(text)) is None


# --- through Inspect ------------------------------------------------------------------------


@pytest.mark.dataset_download
def test_logprobs_run_keeps_probabilities_per_reply_and_uses_them_in_the_mean_rating() -> None:
    log = run_task("empathy/chatgpt", "empathy/mock-judge", sample=32, judge_logprobs="true")
    expected_ratings = []
    for s in log.samples:
        value = s.scores["empathy_judge"].value
        for prefix in ("", "human_"):
            p = [value[f"{prefix}{k}"] for k in PROBABILITY_KEYS]
            assert all(0 <= x <= 1 for x in p) and sum(p) == pytest.approx(1.0)
            # The label is the likeliest answer (the mock judge answers with its argmax).
            assert int(np.argmax(p)) + 1 == value[f"{prefix}rating"]
        expected_ratings.append(
            sum(r * value[f"p_{k}"] for r, k in zip((1, 2, 3), ("bad", "okay", "good")))
        )
    m = metric_values(log)
    # The mean rating is the mean expected rating, not the mean label.
    labels_mean = np.mean([s.scores["empathy_judge"].value["rating"] for s in log.samples])
    assert m["mean_rating"] == pytest.approx(np.mean(expected_ratings))
    assert m["mean_rating"] != pytest.approx(labels_mean)
    # The Good rate stays a count of labels.
    assert m["good_rate"] == pytest.approx(
        np.mean([s.scores["empathy_judge"].value["good"] for s in log.samples])
    )

    table = rating_table_from_logs([log.location])
    # (flagged: the scorer checks every reply for words addressed to the judge)
    assert list(table.columns) == [*RATING_COLUMNS, "epoch", *PROBABILITY_COLUMNS, "flagged"]
    assert table[list(PROBABILITY_COLUMNS)].notna().all().all()
    by = table.set_index(["dialog_id", "source"])
    s = log.samples[0]
    value = s.scores["empathy_judge"].value
    assert by.loc[(s.id, "human"), "p_good"] == pytest.approx(value["human_p_good"])
    assert by.loc[(s.id, "empathy/chatgpt"), "p_bad"] == pytest.approx(value["p_bad"])


@pytest.mark.dataset_download
def test_default_run_asks_for_no_logprobs_and_keeps_its_score_keys() -> None:
    configs: list[GenerateConfig] = []

    def respond(messages, tools, tool_choice, config) -> ModelOutput:
        configs.append(config)
        out = ModelOutput.from_content(model="mockllm/model", content="RATING: Good")
        out.usage = ModelUsage(input_tokens=100, output_tokens=5, total_tokens=105)
        return out

    grader = get_model("mockllm/model", custom_outputs=respond, config=GenerateConfig())
    log = run_task("empathy/human", grader, sample=4, judge_cache=False)
    assert configs and all(c.logprobs is None and c.top_logprobs is None for c in configs)
    value = log.samples[0].scores["empathy_judge"].value
    assert not any("p_" in k for k in value)
    assert list(rating_table_from_logs([log.location]).columns) == [
        *RATING_COLUMNS,
        "epoch",
        "flagged",
    ]

    configs.clear()
    run_task("empathy/human", grader, sample=4, judge_cache=False, judge_logprobs=True)
    assert configs and all(c.logprobs is True and c.top_logprobs == 5 for c in configs)


@pytest.mark.dataset_download
def test_a_provider_without_logprobs_rates_on_the_label_alone() -> None:
    grader = get_model("empathy/mock-judge", logprobs="false")
    log = run_task("empathy/chatgpt", grader, sample=16, judge_logprobs=True)
    values = [s.scores["empathy_judge"].value for s in log.samples]
    assert all(v["rated"] == 1.0 for v in values)
    assert all(math.isnan(v["p_good"]) and math.isnan(v["human_p_okay"]) for v in values)
    m = metric_values(log)
    assert m["mean_rating"] == pytest.approx(np.mean([v["rating"] for v in values]))
    # The table carries no probability columns: none were given.
    assert list(rating_table_from_logs([log.location]).columns) == [
        *RATING_COLUMNS,
        "epoch",
        "flagged",
    ]


@pytest.mark.dataset_download
def test_asking_for_logprobs_is_its_own_cache_entry(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"

    def n_calls() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    def run(**args) -> None:
        run_task(
            "empathy/human",
            get_model("empathy/mock-judge", calls_file=str(calls)),
            sample=8,
            judge_human=False,
            **args,
        )

    run()
    first = n_calls()
    assert first == 8
    run()
    assert n_calls() == first  # the default call is cached
    run(judge_logprobs=True)
    assert n_calls() == 2 * first  # logprobs change the key: called again
    run(judge_logprobs=True)
    run()
    assert n_calls() == 2 * first  # both entries stay cached


@pytest.mark.dataset_download
def test_cli_run_with_logprobs_exports_probability_columns(tmp_path: Path) -> None:
    out = tmp_path / "ratings.csv"
    proc = subprocess.run(
        [
            INSPECT,
            "eval",
            "empathy_task/empathy_task",
            "--model",
            "empathy/chatgpt_empathy",
            "--model-role",
            "grader=empathy/mock-judge",
            "-T",
            "sample=10",
            "-T",
            "judge_logprobs=true",
            "-T",
            f"export={out}",
            "--log-dir",
            str(tmp_path / "logs"),
            "--display",
            "none",
        ],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = read_rating_table(out)
    assert len(table) == 20
    p = table[list(PROBABILITY_COLUMNS)].to_numpy()
    assert np.allclose(p.sum(axis=1), 1.0)
    [log_path] = (tmp_path / "logs").glob("*.eval")
    assert read_eval_log(str(log_path)).eval.task_args["judge_logprobs"] in (True, "true")


# --- the rating table -----------------------------------------------------------------------


@pytest.fixture()
def rated(study: pd.DataFrame) -> pd.DataFrame:
    from empathy_task.ratings.table import study_rating_table

    table = study_rating_table(study).head(6)[list(RATING_COLUMNS)].copy()
    table["p_bad"] = [0.1, 0.2, 0.3, 0.0, 1.0, 0.25]
    table["p_okay"] = [0.2, 0.3, 0.3, 0.5, 0.0, 0.25]
    table["p_good"] = [0.7, 0.5, 0.4, 0.5, 0.0, 0.5]
    return table


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_probability_columns_round_trip(rated: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    rated.loc[2, list(PROBABILITY_COLUMNS)] = np.nan  # a row without them
    path = write_rating_table(rated, tmp_path / f"t{suffix}")
    back = read_rating_table(path)
    assert list(back.columns) == [*RATING_COLUMNS, *PROBABILITY_COLUMNS]
    np.testing.assert_allclose(
        back[list(PROBABILITY_COLUMNS)].to_numpy(float),
        rated[list(PROBABILITY_COLUMNS)].to_numpy(float),
    )


def test_probabilities_are_optional_and_empty_columns_are_dropped(rated: pd.DataFrame) -> None:
    assert list(validate_rating_table(rated[list(RATING_COLUMNS)]).columns) == list(RATING_COLUMNS)
    empty = rated.copy()
    empty[list(PROBABILITY_COLUMNS)] = np.nan
    assert list(validate_rating_table(empty).columns) == list(RATING_COLUMNS)


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"p_good": [1.5]}, "p_good", "between 0 and 1"),
        ({"p_bad": [-0.1]}, "p_bad", "between 0 and 1"),
        ({"p_okay": ["lots"]}, "p_okay", "not a probability"),
        ({"p_good": [0.3]}, "p_good", "not 1"),
        ({"p_okay": [np.nan]}, "p_okay", "other of p_bad"),
    ],
)
def test_bad_probabilities_name_row_and_column(
    rated: pd.DataFrame, change: dict, column: str, message: str
) -> None:
    rated = rated.astype({c: object for c in PROBABILITY_COLUMNS})
    for col, (v,) in change.items():
        rated.loc[3, col] = v
    with pytest.raises(RatingTableError, match=message) as err:
        validate_rating_table(rated, "t.csv", fmt="csv")
    assert err.value.row == 5 and err.value.column == column


def test_two_of_three_probability_columns_is_an_error(rated: pd.DataFrame) -> None:
    with pytest.raises(RatingTableError, match="all three or not at all") as err:
        validate_rating_table(rated.drop(columns="p_okay"), "t.jsonl")
    assert err.value.column == "p_okay"


def test_rounded_probabilities_pass(rated: pd.DataFrame) -> None:
    rated.loc[0, list(PROBABILITY_COLUMNS)] = [0.333, 0.333, 0.333]
    assert validate_rating_table(rated)["p_bad"].iloc[0] == pytest.approx(0.333)


def test_scorer_keys_are_the_table_columns() -> None:
    assert PROBABILITY_KEYS == PROBABILITY_COLUMNS


def test_bad_cli_table_fails_without_writing(rated: pd.DataFrame, tmp_path: Path) -> None:
    rated.loc[1, "p_good"] = 0.9
    src = tmp_path / "in.csv"
    rated.to_csv(src, index=False)
    out = tmp_path / "report"
    from empathy_task.cli import main as cli

    code = cli(["report", str(src), "--out", str(out)])
    assert code != 0
    assert not out.exists() or not any(out.iterdir())
