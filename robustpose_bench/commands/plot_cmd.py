"""``robustpose-bench plot RESULTS.json [MORE.json ...] -o FIG.png|.svg|.pdf``."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help="robustness figures: per-corruption bars, score vs severity, comparisons",
        description="Draw one figure from results.json files of one dataset: (a) per-corruption bars against "
                    "the clean score, (b) score against severity per corruption family and, for two or more "
                    "files, (c) clean, mPC and rPC side by side and (d) each corruption's change against the "
                    "first file. The title gives the number of images and persons evaluated.",
    )
    p.add_argument("results", nargs="+", help="results.json files of one dataset (two or more: a comparison)")
    p.add_argument("-o", "--output", required=True, help="figure file: .png, .svg or .pdf")
    p.add_argument("--name", action="append", metavar="NAME",
                   help="legend name, once per results file in order (default: from each file's config or model)")
    p.add_argument("--ymax", type=float, metavar="Y",
                   help="top of every score axis (they start at 0), so that figures drawn separately share one "
                        "scale, e.g. --ymax 100 (default: fitted to the data)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..outputs import check_outputs
    from ..plots import plot_results

    check_outputs([("-o", args.output)], [("an input", p) for p in args.results])

    print(plot_results(args.results, args.output, names=args.name, ymax=args.ymax))
    return 0
