"""``robustpose-bench merge SHARD.json ... -o results.json``: join the shards of one eval run."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge", help="join the results of `eval --shard I/N` runs into one results.json",
        description="Join the results files of the shards of one evaluation run (`eval --shard I/N`, same model, "
                    "spec, data and options) into the results.json a single process would have written. Refuses "
                    "shards of different runs, shards or conditions given twice, and missing conditions.")
    p.add_argument("shards", nargs="+", type=Path, help="the shards' results files")
    p.add_argument("-o", "--output", type=Path, default=Path("results.json"), help="merged results (default results.json)")
    p.add_argument("--dataset-card", type=Path, default=None, metavar="FILE.json",
                   help="a user's dataset card, when the card file the shards recorded is no longer where it was "
                        "(robustpose-bench docs datasets)")
    p.add_argument("--partial", action="store_true", help="merge even if conditions are missing (marks results partial)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.merge import merge_results
    from ..metrics.scoring import summary_line
    from ..outputs import check_outputs
    from ..results import write_results

    check_outputs([("-o", args.output)], [("one of the shards", s) for s in args.shards])
    results = merge_results(args.shards, partial=args.partial, card_file=args.dataset_card)
    # the run's predictions folder is an input too (merge_results has checked every file in it)
    pred_dir = results["provenance"].get("predictions", {}).get("dir")
    check_outputs([("-o", args.output)], [], [("the run's predictions folder", pred_dir)] if pred_dir else [])
    write_results(args.output, results)
    print(f"{results['dataset']}  {summary_line(results['summary'], results['percent_factor'])}  "
          f"({len(args.shards)} shards) -> {args.output}")
    return 0
