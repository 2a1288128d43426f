"""``robustpose-bench score``: score your own prediction files into a results.json.

For one-stage models ``eval`` cannot run (openpifpaf, DEKR) and anything else: lay predictions out as
``DIR/clean/results.json`` and ``DIR/<corruption>/<severity>/results.json`` (see docs/results.md).
"""
from __future__ import annotations

import argparse
import sys

from .dataset_args import add_dataset_arguments, card_of


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="score prediction files (clean + corruption/severity folders) into results.json",
        description="Score DIR/clean/results.json and DIR/<corruption>/<severity>/results.json with the "
                    "dataset card's scorer: pycocotools with the card's OKS sigmas (COCO, OCHuman, synth, your own "
                    "COCO-format data), xtcocotools keypoints_crowd (CrowdPose) or HRNet's PCKh (MPII).",
    )
    add_dataset_arguments(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--root", help="dataset root in the standard layout (annotations found inside)")
    src.add_argument("--ann", help="the ground-truth file: COCO keypoint JSON, or MPII gt_valid.mat")
    p.add_argument("--predictions", required=True, metavar="DIR", help="folder of prediction files")
    p.add_argument("-o", "--output", default="-", help="results.json to write ('-' = stdout, the default)")
    p.add_argument("--partial", action="store_true",
                   help="summarise even if the 15x5 grid or clean is incomplete (marked partial)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes scoring conditions in parallel")
    p.add_argument("--images-with-keypoints", action="store_true",
                   help="score only the images holding a person with keypoints (ultralytics' coco-pose protocol: "
                        "2,346 of val2017's 5,000), as eval --images-with-keypoints; recorded as non-standard "
                        "(HRNet, mmpose and the paper score every image). COCO-format datasets only")
    p.add_argument("--method", help="method name recorded in config (shown by `table`)")
    p.add_argument("--backbone", help="backbone recorded in config (shown by `table`)")
    p.add_argument("--input-size", help="input size recorded in config, e.g. 256x192")
    p.add_argument("--boxes", metavar="gt|none|FILE",
                   help="where the person boxes of these predictions came from, recorded by name and sha256: "
                        "'gt' (ground-truth boxes; MPII: the annotated centre and scale), 'none' (a one-stage model: no boxes), "
                        "or the detection file (default: not recorded)")
    p.set_defaults(func=run)


def box_provenance(dataset, boxes: str | None, ann_sha256: str) -> dict | None:
    """The ``provenance.boxes`` of a scored run: the source by name (never a path) and its sha256."""
    from pathlib import Path

    from ..atomic import sha256_file
    from ..errors import UserError

    if boxes is None:
        return None
    if boxes == "gt":
        from ..datasets.cards import resolve_card

        # MPII's persons are cropped at their annotated centre and scale, not at a box
        gt = "mpii-annotation" if resolve_card(dataset).format == "mpii-hrnet" else "gt"
        return {"source": gt, "sha256": ann_sha256}
    if boxes == "none":
        return {"source": "none", "sha256": None}
    path = Path(boxes)
    if not path.is_file():
        raise UserError(f"--boxes {boxes}: expected 'gt', 'none' or an existing detection file")
    return {"source": path.name, "sha256": sha256_file(path)}


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..atomic import sha256_file
    from ..errors import UserError
    from ..metrics.scoring import resolve_annotations, score_prediction_dir, scoring_dataset_for, summary_line
    from ..results import make_results, write_results

    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    card = card_of(args)
    images = "with-keypoints" if args.images_with_keypoints else "all"
    ann = resolve_annotations(card, root=args.root, ann=args.ann)
    ann_sha = sha256_file(ann)
    boxes = box_provenance(card, args.boxes, ann_sha)
    from ..outputs import check_outputs

    check_outputs([("-o", args.output)], [("the annotation file", ann)],
                  [("the predictions folder", Path(args.predictions))])
    # the ground truth is checked against the card, and the image set against the scorer, before any scoring
    ds = scoring_dataset_for(card, ann, images)
    rows, files = score_prediction_dir(card, args.predictions, ann, jobs=args.jobs, progress=True, images=images)
    counts = ds.counts()
    provenance = {
        "scorer": ds.scorer_provenance(),
        "predictions": {"dir": str(Path(args.predictions)), "files": files},
        "boxes": boxes,
        "data": {"num_images": counts["images"], "num_persons": counts["persons"]},
    }
    config = {"source": "score", "method": args.method, "backbone": args.backbone,
              "input_size": args.input_size}
    if images != "all":  # not every image of the split scored: recorded as eval records it
        config.update(non_standard=["images"], protocol={"images": images})
    results = make_results(card, rows, partial=args.partial, provenance=provenance, config=config)
    line = f"{card.name}  {summary_line(results['summary'], results['percent_factor'])}"
    if args.output == "-":
        # stdout carries the results JSON alone (so it can be piped); the summary is a note beside it.
        sys.stdout.write(json.dumps(results, indent=2, sort_keys=True, allow_nan=False) + "\n")
        print(f"robustpose-bench score: {line}", file=sys.stderr)
    else:
        write_results(args.output, results)
        print(line)
        print(f"results: {args.output}")
    return 0
