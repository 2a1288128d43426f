"""``robustpose-bench table``: results.json files -> the paper's table (md, csv, latex, json)."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table", help="tabulate results.json files in the paper's layout",
        description="Method, Backbone, Input size, AP*/PCKh* (clean), mPC, rPC and the 15 corruptions "
                    "(mean over severities), one row per results file, values in percent.",
    )
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results.json files (one dataset)")
    p.add_argument("--format", default="md", choices=("md", "csv", "latex", "json"))
    p.add_argument("--name", action="append", metavar="NAME",
                   help="method name for each results file, in order (repeat once per file)")
    p.add_argument("--decimals", type=int, default=1, help="decimals in md/latex (default 1, as the paper)")
    p.add_argument("-o", "--output", default="-", help="file to write ('-' = stdout, the default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import atomic_write_text
    from ..results import load_results
    from ..tables import render_table, results_frame

    results = [load_results(path) for path in args.results]
    text = render_table(results_frame(results, args.name), args.format, decimals=args.decimals)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(args.output, text)
    return 0
