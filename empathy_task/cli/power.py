"""``empathy-task power --effect W --alpha A --power P --df K``."""

from __future__ import annotations

import argparse

HELP = (
    "Print the total sample size a chi-squared test needs (G*Power's method: noncentral "
    "chi-squared with noncentrality w^2 N). The study's numbers: --effect 0.3 --alpha 0.05 "
    "--power 0.95 --df 8 gives 253."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--effect", type=float, default=0.3, help="effect size w (default 0.3)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    parser.add_argument("--power", type=float, default=0.95, help="wanted power (default 0.95)")
    parser.add_argument("--df", type=int, default=1, help="degrees of freedom (default 1)")


def run(args: argparse.Namespace) -> int:
    import sys

    from empathy_task.analysis.stats import chi2_power, chi2_sample_size

    n = chi2_sample_size(args.effect, alpha=args.alpha, power=args.power, df=args.df)
    achieved = chi2_power(args.effect, n, alpha=args.alpha, df=args.df)
    print(n)
    print(
        f"total sample size for w = {args.effect}, alpha = {args.alpha}, power = {args.power}, "
        f"df = {args.df} (achieved power {achieved:.4f})",
        file=sys.stderr,
    )
    return 0
