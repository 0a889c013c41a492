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

Issue 23 adds:

- calibration transfer: ``k`` = 2, 3 or 6 stored sources calibrate a judge whose P(crowd | judge)
  differs between sources (every row's Good odds shifted by a logit N(0, SD), SD 0 = exact
  transfer, 0.3 = moderate), 2,000 replies each; the new source inside the sources' range of
  judge Good rates (interpolating) or above all of them (extrapolating). The crowd-equivalent
  Good rate and relative increase with the reporter's interval (random-effects transfer SD, t)
  against the former one (``z * loso_rms``);
- the relative increase under rater leniency (200 raters x 10 per source): Katz against the
  rater-cluster bootstrap the report shows;
- PPI at 3, 5, 10 and 20 crowd-rated batches of 10 (leniency SD 1.0): the clustered interval
  with t (clusters - 1 df) against the normal quantile;
- small counts, unconditionally: a draw without an interval counts as a miss.

Run ``python benchmarks/interval_coverage.py`` (``--sims`` per clustered case, default 1,000;
``--calibration-sims`` per transfer case, default 1,000; a few minutes). It prints a Markdown table
and puts it into ``benchmarks/results.md`` between the coverage markers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import binom

from empathy_task.analysis import calibration as cal
from empathy_task.analysis import stats
from empathy_task.analysis.ppi import ppi_mean

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


def ratio_unconditional(n: int, pa: float, pb: float, resamples: int) -> dict[str, float]:
    """Exact coverage of the relative-increase intervals over every draw (no interval = a miss:
    the bootstrap has none when the baseline drew 0 Good; Katz is given there too)."""
    k = np.arange(n + 1)
    ka, kb = (x.ravel() for x in np.meshgrid(k, k, indexing="ij"))
    weight = binom.pmf(ka, n, pa) * binom.pmf(kb, n, pb)
    true = (pb - pa) / pa * 100
    katz = stats.relative_increase_ci(ka, n, kb, n)
    boot = stats.bootstrap_relative_increase_ci(ka, n, kb, n, resamples=resamples, seed=0)
    with np.errstate(invalid="ignore"):
        hit_k = (katz.low <= true) & (true <= katz.high)
        hit_b = (boot.low <= true) & (true <= boot.high)
    return {
        "katz": float(weight[hit_k].sum()),
        "bootstrap": float(weight[hit_b].sum()),
        "zero": float(weight[ka == 0].sum()),
    }


# --- calibration transfer (issue 23) ------------------------------------------------------------

#: P(crowd label | judge label) of the simulated judge (rows judge Bad/Okay/Good).
MAP = np.array([[0.55, 0.30, 0.15], [0.20, 0.35, 0.45], [0.05, 0.10, 0.85]])
REPLIES = 2000


def _judge_shares(g: float) -> np.ndarray:
    return np.array([0.3 * (1 - g), 0.7 * (1 - g), g])


def _shifted_map(delta: float) -> np.ndarray:
    """MAP with every row's Good odds shifted by ``delta`` (logit): one source's own relation."""
    good = 1 / (1 + np.exp(-(np.log(MAP[:, 2] / (1 - MAP[:, 2])) + delta)))
    rest = MAP[:, :2] / MAP[:, :2].sum(axis=1, keepdims=True) * (1 - good)[:, None]
    return np.column_stack([rest, good])


def transfer(
    k: int, sd: float, extrapolate: bool, sims: int, resamples: int, seed: int
) -> dict[str, float]:
    """Coverage of the crowd-equivalent Good rate and relative increase of a new source.

    The stored sources' judge Good shares run from 0.25 to 0.65 (crowd Good rates about 0.48 to
    0.68, the study's range); a new source inside that range, or at 0.85 (crowd about 0.78).
    """
    rng = np.random.default_rng(seed)
    goods = np.linspace(0.25, 0.65, k)
    base = 0.493
    hits = {"good": 0, "rel": 0, "good_old": 0, "rel_old": 0}
    width = []
    for _ in range(sims):
        delta = rng.normal(0.0, sd, k + 1)
        tables = {}
        for i in range(k):
            judge = rng.multinomial(REPLIES, _judge_shares(goods[i]))
            m = _shifted_map(delta[i])
            tables[f"s{i}"] = np.stack([rng.multinomial(judge[j], m[j]) for j in range(3)])
        g = 0.85 if extrapolate else rng.uniform(goods[0], goods[-1])
        new = rng.multinomial(REPLIES, _judge_shares(g)).astype(float)
        truth = float(_judge_shares(g) @ _shifted_map(delta[k])[:, 2])
        rel_truth = (truth - base) / base * 100
        common = {
            "loso_rms": cal.leave_one_source_out(tables).rms_error,
            "baseline_good": int(rng.binomial(2000, base)),
            "baseline_n": 2000,
            "resamples": resamples,
            "seed": rng,
        }
        te = cal.transfer_error(tables, resamples=200, seed=rng)
        est = cal.crowd_equivalent(list(tables.values()), new, transfer=te, **common)
        old = cal.crowd_equivalent(list(tables.values()), new, **common)
        for key, e in (("", est), ("_old", old)):
            hits["good" + key] += e.good_rate_ci[0] <= truth <= e.good_rate_ci[1]
            hits["rel" + key] += e.rel_increase_good_ci[0] <= rel_truth <= e.rel_increase_good_ci[1]
        width.append(est.good_rate_ci[1] - est.good_rate_ci[0])
    out = {key: v / sims for key, v in hits.items()}
    out["width"] = float(np.median(width))
    return out


def clustered_ratio(sd: float, sims: int, resamples: int, seed: int) -> dict[str, float]:
    """Coverage of the relative increase's intervals under rater leniency (truth: 0)."""
    rng = np.random.default_rng(seed)
    n = np.full(RATERS, BATCH)
    katz = cluster = 0
    for i in range(sims):
        ga, gb = _lenient(rng, sd), _lenient(rng, sd)
        k = stats.relative_increase_ci(ga.sum(), n.sum(), gb.sum(), n.sum())
        katz += k.low <= 0 <= k.high
        c = stats.cluster_bootstrap_relative_increase_ci(ga, n, gb, n, resamples=resamples, seed=i)
        cluster += c.low <= 0 <= c.high
    return {"katz": katz / sims, "cluster": cluster / sims}


def ppi_batches(batches: int, sims: int, seed: int) -> dict[str, float]:
    """Coverage of the clustered PPI interval with ``batches`` crowd-rated batches of 10.

    200 batches of 10 replies; each rated batch by one rater with leniency SD 1.0; the judge's
    P(Good) a noisy, harsh function of the reply's quality (truth 0.5 by symmetry).
    """
    from scipy.stats import norm, t

    rng = np.random.default_rng(seed)
    batch = np.repeat(np.arange(200), BATCH)
    hit_t = hit_z = 0
    for _ in range(sims):
        quality = 3 * rng.normal(size=batch.size)
        rated = np.isin(batch, rng.choice(200, size=batches, replace=False))
        leniency = rng.normal(scale=1.0, size=200)[batch]
        y = (rng.random(batch.size) < 1 / (1 + np.exp(-(quality + leniency)))).astype(float)
        f = 1 / (1 + np.exp(-(quality + rng.normal(scale=0.7, size=batch.size) - 2)))
        r = ppi_mean(y[rated], f[rated], f[~rated], clusters=batch[rated])
        hit_t += r.interval[0] <= 0.5 <= r.interval[1]
        # The same interval with the normal quantile (the former one).
        scale = norm.ppf(0.975) / t.ppf(0.975, batches - 1)
        half = (r.interval[1] - r.interval[0]) / 2 * scale
        hit_z += r.estimate - half <= 0.5 <= r.estimate + half
    return {"t": hit_t / sims, "z": hit_z / sims}


def _flag(x: float) -> str:
    """A coverage outside 0.93-0.97, marked with its shortfall or excess."""
    if x < 0.93:
        return f"{x:.3f} (short by {0.95 - x:.3f})"
    if x > 0.97:
        return f"{x:.3f} (over by {x - 0.95:.3f})"
    return f"{x:.3f}"


def run(sims: int = 1000, resamples: int = 1000, calibration_sims: int = 1000) -> str:
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
    r = rate_exact(60, 1 / 60, resamples)
    rows.append(
        f"| Good rate, n = 60, p = 1/60 (exact) | bootstrap {r['bootstrap']:.3f} "
        f"({r['zero_width']:.1%} zero width) | Wilson {_flag(r['wilson'])} | | |"
    )
    for pa in (1 / 60, 0.05):
        r = ratio_exact(60, pa, 0.1, resamples)
        rows.append(
            f"| Relative increase, n = 60 each, p_a = {pa:.3g}, p_b = 0.1 (exact, baseline Good "
            f"> 0) | bootstrap {r['bootstrap']:.3f} ({r['dropped']:.1%} resamples dropped) | "
            f"Katz log {r['katz']:.3f} | | |"
        )
        u = ratio_unconditional(60, pa, 0.1, resamples)
        rows.append(
            f"| Relative increase, n = 60 each, p_a = {pa:.3g}, p_b = 0.1 (exact, every draw; "
            f"no interval = a miss) | bootstrap {_flag(u['bootstrap'])} | Katz log "
            f"{_flag(u['katz'])} (given at a baseline of 0 Good too; {u['zero']:.1%} of draws) "
            "| | |"
        )
    for sd in (0.0, 0.5, 1.0):
        r = clustered_ratio(sd, sims, resamples, seed=100 + int(sd * 10))
        rows.append(
            f"| Relative increase, {RATERS} raters x {BATCH} per source, leniency SD {sd} "
            f"({sims:,} runs) | Katz (independent) {_flag(r['katz'])} | rater-cluster "
            f"bootstrap (the report's) {_flag(r['cluster'])} | | |"
        )
    for batches in (3, 5, 10, 20):
        r = ppi_batches(batches, sims, seed=200 + batches)
        rows.append(
            f"| PPI Good rate, {batches} crowd-rated batches of {BATCH}, leniency SD 1.0 "
            f"({sims:,} runs) | t, {batches - 1} df (the report's) {_flag(r['t'])} | "
            f"normal quantile {_flag(r['z'])} | | |"
        )
    for k in (2, 3, 6):
        for sd in (0.0, 0.3):
            for extrapolate in (False, True):
                r = transfer(k, sd, extrapolate, calibration_sims, 500, seed=300 + 10 * k)
                where = "extrapolating" if extrapolate else "interpolating"
                rows.append(
                    f"| Crowd-equivalent, {k} calibrating sources, transfer SD {sd}, {where} "
                    f"({calibration_sims:,} runs) | Good rate: random effects + t (the "
                    f"report's) {_flag(r['good'])}, z * RMS {_flag(r['good_old'])} | relative "
                    f"increase: random effects + t {_flag(r['rel'])}, z * RMS "
                    f"{_flag(r['rel_old'])} | median width {r['width']:.3f} | |"
                )
    seconds = time.perf_counter() - start
    return "\n".join(
        [
            START,
            "## Coverage of intervals and size of tests",
            "",
            f"Measured by `python benchmarks/interval_coverage.py --sims {sims} --resamples "
            f"{resamples} --calibration-sims {calibration_sims}` in {seconds:.0f} s. Nominal: "
            "coverage 0.95, size (rejections of a true null) 0.05; a coverage outside 0.93-0.97 "
            "is marked with its shortfall or excess. The reporter shows Wilson intervals of the "
            "Good rates, the rater-cluster bootstrap of the crowd's relative increase (overall "
            "against the baseline; Katz elsewhere), the cluster bootstrap and Rao-Scott test in its "
            "Rater clusters section, PPI with t, and crowd-equivalent intervals with the "
            "random-effects transfer SD and t.",
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
    parser.add_argument(
        "--calibration-sims", type=int, default=1000, help="runs per calibration-transfer case"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write results.md")
    args = parser.parse_args(argv)
    section = run(args.sims, args.resamples, args.calibration_sims)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
