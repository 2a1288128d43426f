"""``robustpose-bench table``: results.json files -> the paper's table (md, csv, latex, json)."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table", help="tabulate results.json files in the paper's layout",
        description="Model, Backbone, Input size, Boxes, then the clean score, mPC, rPC and the 15 corruptions "
                    "(mean over severities), one row per results file, values in percent. --metrics adds "
                    "other column sets (clean, mPC and rPC of each).",
    )
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results.json files (one dataset)")
    p.add_argument("--format", default="md", choices=("md", "csv", "latex", "json"))
    p.add_argument("--metrics", metavar="LIST",
                   help="comma-separated column sets: ap, ap50, ap75, apm, apl, ar, ar50, ar75, arm, arl "
                        "(COCO-C, OCHuman-C, synth-C); pckh, pckh@0.1, joints (MPII-C: HRNet's per-joint "
                        "PCKh). One set: the paper's layout for that metric; several: clean, mPC and rPC of "
                        "each (default: ap or pckh)")
    p.add_argument("--name", action="append", metavar="NAME",
                   help="model name for each results file, in order (repeat once per file)")
    p.add_argument("--decimals", type=int, default=1, help="decimals in md/latex (default 1, as the paper)")
    p.add_argument("-o", "--output", default="-", help="file to write ('-' = stdout, the default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import atomic_write_text
    from ..results import load_results
    from ..tables import render_table, results_frame

    from ..outputs import check_outputs

    check_outputs([("-o", args.output)], [("an input", p) for p in args.results])
    results = [load_results(path) for path in args.results]
    frame = results_frame(results, args.name, metrics=args.metrics, sources=args.results)
    text = render_table(frame, args.format, decimals=args.decimals)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(args.output, text)
    return 0
