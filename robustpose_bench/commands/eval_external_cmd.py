"""``robustpose-bench eval-external --dataset ... --data OUT -- CMD {images} {ann} {out}``."""
from __future__ import annotations

import argparse
import sys

from .eval_cmd import add_data_arguments, add_run_arguments, resolve_data, selected_conditions


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval-external",
        help="run your own prediction command once per condition, then score it (models eval cannot run)",
        description=(
            "For models that predict but cannot be exported to one ONNX file (openpifpaf, DEKR, mmpose's test "
            "tools...): run COMMAND once per condition (clean, then every built corruption x severity) with "
            "{images} (the condition's image folder), {ann} (the annotation file) and {out} (the predictions file "
            "to write, in the format `score` reads) filled in, plus optionally {condition}, {corruption}, "
            "{severity}; then score every condition. Resumable: the same command again keeps finished "
            "conditions. Example: robustpose-bench eval-external --dataset ochuman-c --root data/ochuman --data "
            "out -- python my_predict.py {images} {ann} {out}"),
    )
    add_data_arguments(p)
    add_run_arguments(p)
    p.add_argument("--boxes", metavar="gt|none|FILE",
                   help="where the command's person boxes came from, recorded by name and sha256 (as `score "
                        "--boxes`): 'gt', 'none' (one-stage models), or the detection file (default: not recorded)")
    p.add_argument("--keep-going", action="store_true",
                   help="after a failing condition, run the others (the results are then partial); default: stop")
    p.add_argument("--timeout", type=float, default=None, help="seconds one condition's command may run")
    p.add_argument("predict_command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="the prediction command and its arguments, after --")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import sha256_file
    from ..datasets import open_dataset
    from ..evaluation.external import ExternalOptions, run_external
    from ..metrics.scoring import summary_line
    from .dataset_args import card_of
    from .score_cmd import box_provenance

    pc = args.predict_command
    if pc[:1] != ["--"] and "--" in pc:  # `--corruptions snow fog -- CMD`: argparse gave "fog" to the command
        from ..errors import UserError
        from .spelling import comma_list_hint

        stray = pc[:pc.index("--")]
        flag = "--severities" if args.severities is not None and all(t.isdigit() for t in stray) else "--corruptions"
        value = args.severities if flag == "--severities" else args.corruptions
        hint = comma_list_hint([flag, value, *stray], stray) if value is not None else None
        raise UserError(hint or f"unrecognized arguments before --: {' '.join(stray)}")
    corruptions, severities = selected_conditions(args)
    command = pc[1:] if pc[:1] == ["--"] else pc
    card = card_of(args)
    boxes = None
    if args.boxes is not None:
        ann = open_dataset(card, root=args.root, images=args.images, ann=args.ann, gt_mat=args.gt_mat,
                           data=resolve_data(args)).source.ann_path
        boxes = box_provenance(card, args.boxes, sha256_file(ann))
    opts = ExternalOptions(
        command=command, boxes=boxes, dataset=card.name, dataset_card=args.dataset_card, data=resolve_data(args), root=args.root, images=args.images, ann=args.ann,
        gt_mat=args.gt_mat, corruptions=corruptions, severities=severities, partial=args.partial,
        layout=args.layout, output=args.output, predictions_out=args.predictions_out, overwrite=args.overwrite,
        keep_going=args.keep_going, timeout=args.timeout, progress=args.progress, method=args.method,
        backbone=args.backbone)
    results = run_external(opts)
    failed = results["provenance"]["external"]["failed"]
    print(f"{results['dataset']}  {summary_line(results['summary'], results['percent_factor'])}; results: "
          f"{opts.output}" + (f"; {len(failed)} condition(s) failed: {', '.join(failed)}" if failed else ""))
    sys.stdout.flush()
    return 1 if failed else 0
