"""``robustpose-bench eval MODEL --dataset ... --data OUT``: run a pose model on clean + every built condition."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dataset_args import add_dataset_arguments
from .spelling import retire

DEFAULT_DATA = Path("out")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate an ONNX or TorchScript pose model on a built -C dataset",
        description=(
            "Run MODEL (ONNX or TorchScript, described by a model spec or a preset: `robustpose-bench docs model_spec`) on the "
            "clean images and every built corruption x severity: top-down models on person boxes, one-stage "
            "models (YOLO-pose, RTMO, HigherHRNet) on whole images. Writes the predictions of each condition "
            "(PRED/clean/results.json, PRED/<corruption>/<severity>/results.json) and results.json "
            "(AP or PCKh per condition, mPC, rPC, provenance). Re-running the same command resumes: finished "
            "conditions are kept."
        ),
    )
    p.add_argument("model", help="model file (.onnx, or a TorchScript archive)")
    add_data_arguments(p)
    p.add_argument("--spec", default=None, metavar="FILE|PRESET",
                   help="model spec JSON, or a built-in preset read off the model's shapes (yolo-pose, rtmo, rtmo-rtmlib, "
                        "rtmpose, hrnet, simplebaseline, movenet, blazepose, higherhrnet; `robustpose-bench list specs`); "
                        "default: "
                        "the spec embedded in the model, else MODEL.spec.json beside it")
    p.add_argument("--boxes", default=None,
                   help="top-down models: 'gt' (ground-truth boxes, the default) or a person detection file in the "
                        "format of COCO_val2017_detections_AP_H_56_person.json (made on clean images, reused for "
                        "every condition); COCO-format datasets only. One-stage models take no boxes")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch", type=int, default=None,
                   help="crops (top-down, default 32; the flip test adds their mirrors to the same pass) or images "
                        "(one-stage, default 8) per forward pass")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="flip test, averaging with the mirrored input (default: the model family's protocol: on for "
                        "top-down models and HigherHRNet, as in the paper; YOLO-pose and RTMO have none)")
    p.add_argument("--post", default="default", choices=("default", "dark", "none"),
                   help="heatmap decoding: HRNet's quarter-pixel shift (default), DARK, or plain argmax")
    thr = p.add_argument_group("COCO-style protocol (HRNet's defaults; changing one marks the run non-standard)")
    thr.add_argument("--det-thr", type=float, default=0.0,
                     help="keep detections scoring >= this (TEST.IMAGE_THRE, 0.0; results: config.det_thr)")
    thr.add_argument("--in-vis-thr", type=float, default=0.2,
                     help="keypoints above this score count in the rescoring (TEST.IN_VIS_THRE, 0.2; results: "
                          "config.in_vis_thr)")
    thr.add_argument("--oks-thr", type=float, default=0.9,
                     help="per-image OKS-NMS threshold (TEST.OKS_THRE, 0.9; results: config.oks_thr)")
    for old, new in (("--det-thre", "--det-thr"), ("--in-vis-thre", "--in-vis-thr"), ("--oks-thre", "--oks-thr")):
        retire(thr, old, new, f"as config.{new[2:].replace('-', '_')} in results.json")
    thr.add_argument("--images-with-keypoints", action="store_true",
                     help="predict and score only the images holding a person with keypoints (ultralytics' "
                          "coco-pose.yaml: 2,346 of val2017's 5,000) instead of every image (HRNet, mmpose); "
                          "marks the run non-standard")
    add_run_arguments(p)
    p.add_argument("--jobs", type=int, default=None,
                   help="image loading / decoding threads, the pool beside the model (default min(4, CPUs))")
    retire(p, "--workers", "--jobs", "parallelism is --jobs in every command")
    p.add_argument("--intra-op-threads", type=int, default=None,
                   help="onnxruntime CPU threads per model (default: one per core)")
    scale = p.add_argument_group("at scale (`robustpose-bench docs scale`)")
    scale.add_argument("--shard", default=None, metavar="I/N",
                       help="evaluate shard I of N (numbered 1..N, as in build): conditions I-1, I-1+N, ... of the "
                            "full list; join the shards' results with `robustpose-bench merge`")
    scale.add_argument("--backend", default="local", choices=("local", "dask"),
                       help="predict the conditions here (default) or on dask workers (one per GPU, started with "
                            "--resources eval=1); this process scores and writes")
    scale.add_argument("--scheduler", default=None, metavar="ADDR",
                       help="dask scheduler address (tcp://HOST:8786), or local:N for N local worker processes")
    p.set_defaults(func=run)


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--dataset (or --dataset-card), --data and the clean source: shared by ``eval`` and ``eval-external``."""
    add_dataset_arguments(p)
    p.add_argument("--data", type=Path, default=None,
                   help=f"the built-datasets folder `robustpose-bench build --data` wrote (holding "
                        f"DATA/<dataset>/...); default "
                        f"./{DEFAULT_DATA} when it holds the dataset; without a build only the clean images are "
                        "evaluated (needs --partial)")
    src = p.add_argument_group("clean source (the builder's layouts)")
    src.add_argument("--root", type=Path, default=None, help="dataset root in its standard layout")
    src.add_argument("--images", type=Path, default=None, help="clean image folder (overrides the layout)")
    src.add_argument("--ann", type=Path, default=None, help="annotation file (overrides the layout)")
    src.add_argument("--gt-mat", type=Path, default=None,
                     help="MPII: HRNet's gt_valid.mat (default: gt_valid.mat beside the annotation file)")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Which conditions, and where results and predictions go: shared by ``eval`` and ``eval-external``."""
    p.add_argument("--corruptions", default=None, metavar="LIST",
                   help="only these corruptions, one comma-separated list as in build, e.g. snow,fog (or benchmark, "
                        "all, validation; default: all the build holds)")
    p.add_argument("--severities", default=None, metavar="LIST",
                   help="only these severities, e.g. 1-5, 3 or 1,3,5 as in build (default: all the build holds)")
    p.add_argument("--partial", action="store_true",
                   help="evaluate what exists even if the 15 x 5 grid is incomplete; marks results partial")
    p.add_argument("--layout", default="auto", choices=("auto", "default", "advmix"),
                   help="severity folders of a build without manifest: 1..5 (default) or AdvMix's 0..4 (advmix)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="results file (default: a new run folder runs/<dataset>/<model>-N/results.json, printed at "
                        "the end; give that file again to resume the run)")
    p.add_argument("--predictions-out", type=Path, default=None,
                   help="where the per-condition predictions go (default: 'predictions' beside the results file)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace another run's predictions in the predictions folder (default: refuse)")
    p.add_argument("--method", default=None, help="method name for tables (default: the spec's name)")
    p.add_argument("--backbone", default=None, help="backbone name for tables")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def selected_conditions(args: argparse.Namespace) -> tuple[list[str] | None, list[int] | None]:
    """--corruptions and --severities, parsed as build parses them (``flag_values``)."""
    from ..flag_values import parse_corruptions, parse_severities

    return (None if args.corruptions is None else list(parse_corruptions(args.corruptions)),
            None if args.severities is None else list(parse_severities(args.severities)))


def resolve_data(args: argparse.Namespace) -> Path | None:
    """--data, or ./out when it holds the dataset."""
    from .dataset_args import card_of

    if args.data is None and (DEFAULT_DATA / card_of(args).name).is_dir():
        return DEFAULT_DATA
    return args.data


def run(args: argparse.Namespace) -> int:
    from ..evaluation import EvalOptions, run_eval

    from ..flag_values import parse_shard

    parse_shard(args.shard)  # checked before the model is opened; run_eval parses it with the same function
    corruptions, severities = selected_conditions(args)
    data = resolve_data(args)
    opts = EvalOptions(
        model=args.model, dataset=args.dataset, dataset_card=args.dataset_card, data=data, root=args.root, images=args.images,
        ann=args.ann, gt_mat=args.gt_mat, spec=args.spec, boxes=args.boxes, device=args.device,
        batch=args.batch, flip=args.flip, post=args.post, corruptions=corruptions,
        severities=severities, partial=args.partial, layout=args.layout, output=args.output,
        predictions_out=args.predictions_out, overwrite=args.overwrite, jobs=args.jobs,
        progress=args.progress, method=args.method, backbone=args.backbone,
        det_thr=args.det_thr, in_vis_thr=args.in_vis_thr, oks_thr=args.oks_thr,
        shard=args.shard, intra_op_threads=args.intra_op_threads, backend=args.backend, scheduler=args.scheduler,
        images_with_keypoints=args.images_with_keypoints,
    )
    results = run_eval(opts)
    s = results["summary"]
    f = results["percent_factor"]
    prov = results["provenance"]

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v * f:.2f}"

    from ..vocabulary import partial_joints_text

    joints = partial_joints_text(s.get("joints"))  # PCKh over the joints the model has (MPII-C)
    print(f"{results['dataset']}  {results['metric']}  clean {pct(s['clean'])}  mPC {pct(s['mPC'])}  "
          f"rPC {'n/a' if s['rPC'] is None else format(s['rPC'], '.2f')}"
          f"{'  (partial)' if s['partial'] else ''}{f'  ({joints})' if joints else ''}")
    print(f"device {prov['device']} ({prov['execution_provider']}); results: {opts.output}; "
          f"predictions: {prov['predictions']['dir']}")
    sys.stdout.flush()
    return 0
