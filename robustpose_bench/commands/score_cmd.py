"""``robustpose-bench score``: score your own prediction files into a results.json.

For bottom-up models and anything ``eval`` cannot run: lay predictions out as
``DIR/clean/results.json`` and ``DIR/<corruption>/<severity>/results.json`` (see docs/results.md).
"""
from __future__ import annotations

import argparse
import sys

DATASET_CHOICES = ("coco-c", "mpii-c", "ochuman-c", "synth-c")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="score prediction files (clean + corruption/severity folders) into results.json",
        description="Score DIR/clean/results.json and DIR/<corruption>/<severity>/results.json with "
                    "pycocotools (COCO, OCHuman, synth) or HRNet's PCKh (MPII).",
    )
    p.add_argument("--dataset", required=True, choices=DATASET_CHOICES)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--root", help="dataset root in the standard layout (annotations found inside)")
    src.add_argument("--ann", help="the ground-truth file: COCO keypoint JSON, or MPII gt_valid.mat")
    p.add_argument("--predictions", required=True, metavar="DIR", help="folder of prediction files")
    p.add_argument("-o", "--output", default="-", help="results.json to write ('-' = stdout, the default)")
    p.add_argument("--partial", action="store_true",
                   help="summarise even if the 15x5 grid or clean is incomplete (marked partial)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes scoring conditions in parallel")
    p.add_argument("--method", help="method name recorded in config (shown by `table`)")
    p.add_argument("--backbone", help="backbone recorded in config (shown by `table`)")
    p.add_argument("--input-size", help="input size recorded in config, e.g. 256x192")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..atomic import sha256_file
    from ..errors import UserError
    from ..metrics.scoring import resolve_annotations, score_prediction_dir, summary_line
    from ..results import SCORER_FOR_DATASET, make_results, write_results

    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    ann = resolve_annotations(args.dataset, root=args.root, ann=args.ann)
    rows, files = score_prediction_dir(args.dataset, args.predictions, ann, jobs=args.jobs, progress=True)
    provenance = {
        "scorer": {"library": SCORER_FOR_DATASET[args.dataset],
                   "annotations": {"path": str(ann), "sha256": sha256_file(ann)}},
        "predictions": {"dir": str(Path(args.predictions)), "files": files},
    }
    config = {"source": "score", "method": args.method, "backbone": args.backbone,
              "input_size": args.input_size}
    results = make_results(args.dataset, rows, partial=args.partial, provenance=provenance, config=config)
    if args.output == "-":
        sys.stdout.write(json.dumps(results, indent=2, sort_keys=True, allow_nan=False) + "\n")
    else:
        write_results(args.output, results)
    print(f"robustpose-bench score: {summary_line(results['summary'], results['percent_factor'])}",
          file=sys.stderr)
    return 0
