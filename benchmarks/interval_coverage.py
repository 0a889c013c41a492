"""Coverage and size of the reporter's intervals and tests, by simulation (issue 17).

Each case draws data with a known truth and counts how often an interval covers it (nominal 0.95)
or a test rejects a true null (nominal 0.05). The functions are the ones the reporter calls
(``empathy_task.analysis.stats``). Cases:

- rater clusters: 200 crowd raters per source, each rating a batch of 10, with a rater leniency
  (a logit shift with SD 0, 0.5 or 1.0 around 0, so the population Good rate is 0.5): the
  independent (Wilson) interval against the cluster bootstrap; the paper's 2x2 chi-squared against
  the Rao-Scott corrected test, on two sources with the same population rate;
- small counts: a Good rate at n = 60, p = 0.02 and p = 0.1 (percentile bootstrap against Wilson),
  and the relative increase with a baseline of n = 60 at p = 1/60 and 0.05 against p_b = 0.1
  (percentile bootstrap, with the share of resamples it drops, against the Katz log interval).
  These are exact: every possible count is enumerated and weighted by its binomial probability.

Run ``python benchmarks/interval_coverage.py`` (``--sims`` per clustered case, default 1,000; a few
minutes). It prints a Markdown table and puts it into ``benchmarks/results.md`` between the
coverage markers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import binom

from empathy_task.analysis import stats

RESULTS = Path(__file__).resolve().parent / "results.md"
START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"
RATERS, BATCH = 200, 10


def _lenient(rng: np.random.Generator, sd: float) -> np.ndarray:
    p = 1 / (1 + np.exp(-rng.normal(0.0, sd, RATERS)))
    return rng.binomial(BATCH, p)


def clustered(sd: float, sims: int, resamples: int, seed: int) -> dict[str, float]:
    """Coverage of the Good-rate intervals and size of the Good tests under rater leniency."""
    rng = np.random.default_rng(seed)
    n = np.full(RATERS, BATCH)
    hits = {"wilson": 0, "cluster": 0, "chi2": 0, "rao_scott": 0}
    for i in range(sims):
        ga, gb = _lenient(rng, sd), _lenient(rng, sd)
        w = stats.wilson_interval(ga.sum(), n.sum())
        hits["wilson"] += w.low <= 0.5 <= w.high
        c = stats.cluster_bootstrap_good_rate_ci(ga, n, resamples=resamples, seed=i)
        hits["cluster"] += c.low <= 0.5 <= c.high
        ca = np.array([0, n.sum() - ga.sum(), ga.sum()])
        cb = np.array([0, n.sum() - gb.sum(), gb.sum()])
        hits["chi2"] += stats.good_test(ca, cb).pvalue < 0.05
        _, p = stats.rao_scott_good_tests(
            ca[None], [stats.design_effect(ga, n)], cb[None], [stats.design_effect(gb, n)]
        )
        hits["rao_scott"] += p[0] < 0.05
    return {k: v / sims for k, v in hits.items()}


def rate_exact(n: int, p: float, resamples: int) -> dict[str, float]:
    """Exact coverage of the Good-rate intervals at ``n``, ``p`` (and the bootstrap's zero widths)."""
    k = np.arange(n + 1)
    weight = binom.pmf(k, n, p)
    boot = stats.bootstrap_good_rate_ci(k, np.full(n + 1, n), resamples=resamples, seed=0)
    wil = stats.wilson_interval(k, np.full(n + 1, n))
    return {
        "bootstrap": float(weight[(boot.low <= p) & (p <= boot.high)].sum()),
        "wilson": float(weight[(wil.low <= p) & (p <= wil.high)].sum()),
        "zero_width": float(weight[boot.low == boot.high].sum()),
    }


def ratio_exact(n: int, pa: float, pb: float, resamples: int) -> dict[str, float]:
    """Exact coverage of the relative-increase intervals, given the baseline drew a Good rating."""
    k = np.arange(n + 1)
    ka, kb = (x.ravel() for x in np.meshgrid(k, k, indexing="ij"))
    weight = binom.pmf(ka, n, pa) * binom.pmf(kb, n, pb)
    true = (pb - pa) / pa * 100
    defined = ka > 0
    katz = stats.relative_increase_ci(ka, n, kb, n)
    boot = stats.bootstrap_relative_increase_ci(ka, n, kb, n, resamples=resamples, seed=0)

    def cover(low: np.ndarray, high: np.ndarray) -> float:
        hit = defined & (low <= true) & (true <= high)
        return float(weight[hit].sum() / weight[defined].sum())

    dropped = np.asarray(boot.dropped) / resamples
    return {
        "bootstrap": cover(boot.low, boot.high),
        "katz": cover(katz.low, katz.high),
        "dropped": float((weight * dropped)[defined].sum() / weight[defined].sum()),
    }


def run(sims: int = 1000, resamples: int = 1000) -> str:
    """The Markdown section (heading, note and table)."""
    start = time.perf_counter()
    rows = []
    for sd in (0.0, 0.5, 1.0):
        r = clustered(sd, sims, resamples, seed=int(sd * 10))
        rows.append(
            f"| Good rate, {RATERS} raters x {BATCH}, leniency SD {sd} ({sims:,} runs) "
            f"| Wilson (independent) {r['wilson']:.3f} | cluster bootstrap {r['cluster']:.3f} | "
            f"chi2 {r['chi2']:.3f} | Rao-Scott {r['rao_scott']:.3f} |"
        )
    for p in (0.02, 0.1):
        r = rate_exact(60, p, resamples)
        rows.append(
            f"| Good rate, n = 60, p = {p} (exact) | bootstrap {r['bootstrap']:.3f} "
            f"({r['zero_width']:.1%} zero width) | Wilson {r['wilson']:.3f} | | |"
        )
    for pa in (1 / 60, 0.05):
        r = ratio_exact(60, pa, 0.1, resamples)
        rows.append(
            f"| Relative increase, n = 60 each, p_a = {pa:.3g}, p_b = 0.1 (exact, baseline Good "
            f"> 0) | bootstrap {r['bootstrap']:.3f} ({r['dropped']:.1%} resamples dropped) | "
            f"Katz log {r['katz']:.3f} | | |"
        )
    seconds = time.perf_counter() - start
    return "\n".join(
        [
            START,
            "## Coverage of intervals and size of tests",
            "",
            f"Measured by `python benchmarks/interval_coverage.py --sims {sims} --resamples {resamples}` "
            f"in {seconds:.0f} s. Nominal: coverage 0.95, size (rejections of a true null) 0.05. "
            "The reporter shows Wilson and Katz log intervals, and the cluster bootstrap and "
            "Rao-Scott test in its Rater clusters section.",
            "",
            "| case | coverage | coverage | size | size |",
            "|---|---|---|---|---|",
            *rows,
            END,
        ]
    )


def write_section(section: str, path: Path = RESULTS) -> None:
    """Put ``section`` into ``path`` in place of the previous one (or at its end)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def saved_section(path: Path = RESULTS) -> str | None:
    """The coverage section currently in ``path``, if any (for run.py to keep it)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START not in text or END not in text:
        return None
    return START + text.split(START, 1)[1].split(END, 1)[0] + END


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000, help="runs per clustered case")
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
