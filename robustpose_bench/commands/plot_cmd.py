"""``robustpose-bench plot RESULTS.json [MORE.json ...] -o FIG.png|.svg|.pdf``."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="robustness figures: per-corruption bars, score vs severity, comparisons")
    p.add_argument("results", nargs="+", help="results.json files of one dataset (two or more: a comparison)")
    p.add_argument("-o", "--output", required=True, help="figure file: .png, .svg or .pdf")
    p.add_argument("--name", action="append", metavar="NAME",
                   help="legend name, once per results file in order (default: from each file's config or model)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..plots import plot_results

    print(plot_results(args.results, args.output, names=args.name))
    return 0
