"""Simulation: does the judge panel's crowd-equivalent interval cover at its nominal rate, and
does the calibrated panel err less than each of its judges?

A simulated study: every reply has a latent quality; the crowd rates it through a normal error
and fixed thresholds, so the target, the crowd's expected Good rate of a source's replies, is
known exactly. Three stored sources (2,000 replies each, one crowd rating each) calibrate the
judges; a new source (2,000 replies) is rated by the judges only. Each judge sees the latent
quality through its own scale (thresholds), its own noise, a noise shared by all judges (they
err together on the same reply), and a bias per source: a part shared by all judges (judges
favour some sources alike) plus its own part. The biases are drawn afresh for every source,
the new one included: the leave-one-source-out error is then an honest sample of the error on
a new model, which is the assumption the interval rests on.

Per run: each judge's calibrated estimate and single-judge interval
(``analysis.calibration.crowd_equivalent``, widened by its RMS LOSO error with a normal
quantile), and the panel's (``analysis.panel``: nested LOSO, inverse-MSE weights, joint
bootstrap, widened with a t quantile). ``python benchmarks/panel_coverage.py --sims 1000
--resamples 1000`` (about a minute) prints a table and puts it in ``benchmarks/results.md``
between the panel markers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sp

from empathy_task.analysis import calibration as cal
from empathy_task.analysis import panel as pn

RESULTS = Path(__file__).resolve().parent / "results.md"
START, END = "<!-- panel:start -->", "<!-- panel:end -->"
CROWD_CUTS = (-0.6, 0.1)  # latent + N(0, 1) below -0.6 Bad, above 0.1 Good
N = 2000
JUDGES = (  # (thresholds, own noise SD): a lenient, a strict and a noisy judge
    ((-1.0, -0.2), 0.6),
    ((-0.3, 0.7), 0.7),
    ((-0.7, 0.2), 1.0),
)


def _rate(latent: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    return 1 + (latent > cuts[0]).astype(int) + (latent > cuts[1]).astype(int)


def one_run(
    rng: np.random.Generator, shared_bias: float, own_bias: float, resamples: int
) -> dict[str, object]:
    means = rng.normal(0.3, 0.3, size=4)  # three stored sources, then the new one
    calib: dict[str, np.ndarray] = {}
    new = None
    truth = float("nan")
    for k, mu in enumerate(means):
        q = rng.normal(mu, 1.0, N)
        common = rng.normal(0, 0.5, N)  # what every judge misreads in this reply
        shared = rng.normal(0, shared_bias)
        cols = [
            _rate(q + shared + rng.normal(0, own_bias) + common + rng.normal(0, sd, N), cuts)
            for cuts, sd in JUDGES
        ]
        if k < 3:
            crowd = _rate(q + rng.normal(0, 1.0, N), CROWD_CUTS)
            calib[f"s{k}"] = np.column_stack([*cols, crowd])
        else:
            new = np.column_stack(cols)
            truth = float(sp.norm.sf(CROWD_CUTS[1] - q).mean())
    assert new is not None
    counts = [
        {s: cal.pair_counts(a[:, j], a[:, -1]) for s, a in calib.items()}
        for j in range(len(JUDGES))
    ]
    loso = pn.panel_leave_one_source_out(counts)
    weights = pn.panel_weights(loso.judge_rms_errors)
    est = pn.panel_crowd_equivalent(
        calib, new, weights=weights, loso_rms=loso.rms_error, loso_df=len(loso.rows),
        baseline_good=986, baseline_n=2000, resamples=resamples, seed=rng,
    )  # fmt: skip
    singles = []
    for j in range(len(JUDGES)):
        one = cal.crowd_equivalent(
            list(counts[j].values()), cal.judge_counts(new[:, j]),
            loso_rms=loso.judge_rms_errors[j], baseline_good=986, baseline_n=2000,
            resamples=resamples, seed=rng,
        )  # fmt: skip
        singles.append(one)
    return {"truth": truth, "panel": est, "singles": singles}


def run(sims: int, resamples: int, seed: int = 2026) -> str:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    rows = []
    for shared_bias, own_bias in ((0.0, 0.15), (0.1, 0.15), (0.0, 0.3), (0.0, 0.5)):
        covered, errors, widths = [], [], []
        single_covered: list[list[bool]] = [[] for _ in JUDGES]
        single_errors: list[list[float]] = [[] for _ in JUDGES]
        for _ in range(sims):
            r = one_run(rng, shared_bias, own_bias, resamples)
            t, p = r["truth"], r["panel"]
            covered.append(p.good_rate_ci[0] <= t <= p.good_rate_ci[1])
            errors.append(p.good_rate - t)
            widths.append(p.good_rate_ci[1] - p.good_rate_ci[0])
            for j, s in enumerate(r["singles"]):
                single_covered[j].append(s.good_rate_ci[0] <= t <= s.good_rate_ci[1])
                single_errors[j].append(s.good_rate - t)
        cov = float(np.mean(covered))
        se = float(np.sqrt(cov * (1 - cov) / sims))
        rms = float(np.sqrt(np.mean(np.square(errors))))
        single_rms = [float(np.sqrt(np.mean(np.square(e)))) for e in single_errors]
        rows.append(
            f"| judge bias per source SD shared {shared_bias}, own {own_bias} ({sims} runs) | "
            f"**{cov:.3f}** (MC SE {se:.3f}), width {100 * np.mean(widths):.1f} points | "
            + ", ".join(f"{np.mean(c):.3f}" for c in single_covered)
            + f" | {100 * rms:.1f} | "
            + ", ".join(f"{100 * e:.1f}" for e in single_rms)
            + " |"
        )
    seconds = time.perf_counter() - started
    head = (
        f"{START}\n## Judge panel: coverage and error of the pooled crowd-equivalent Good rate\n\n"
        f"Measured by `python benchmarks/panel_coverage.py --sims {sims} --resamples "
        f"{resamples}` in {seconds:.0f} s. Three simulated judges (lenient, strict, noisy) "
        "rate 3 stored sources x 2,000 replies (with a crowd rating each) and a new source; "
        "the target is the crowd's expected Good rate of the new source's replies. Nominal "
        "coverage 0.95. Single judges: their own calibration, interval widened by their RMS "
        "LOSO error with a normal quantile.\n\n"
        "| case | panel interval coverage | single judges' coverage | panel RMS error "
        "(points) | single judges' RMS error (points) |\n|---|---|---|---|---|\n"
    )
    return head + "\n".join(rows) + f"\n{END}"


def write_section(section: str, path: Path = RESULTS) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000, help="runs per case")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--no-write", action="store_true", help="do not write results.md")
    args = parser.parse_args(argv)
    section = run(args.sims, args.resamples)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
