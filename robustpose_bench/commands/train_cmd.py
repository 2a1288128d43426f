"""``robustpose-bench train``: standard or AdvMix top-down training (see docs/advmix.md)."""
from __future__ import annotations

import argparse

from .dataset_args import registered
from .spelling import retire

_MIXES = ("adv", "adv-image", "equal", "dirichlet", "sequential")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a heatmap pose model (standard or AdvMix)",
                       description="Top-down heatmap training, standard or AdvMix. Values come from "
                                   "the defaults, then --config, then the flags given here.")
    p.add_argument("--method", choices=("standard", "advmix"), help="training method (default: standard)")
    p.add_argument("--arch", help="architecture, e.g. simplebaseline_r50, hrnet_w32")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--dataset", metavar="NAME",
                      help="what the annotations hold: a keypoint set (coco: COCO keypoint json, as COCO and synth; "
                           "mpii: HRNet's MPII json; crowdpose) or a registered dataset "
                           f"({registered()}; `robustpose-bench list datasets`); its card gives the keypoint count, "
                           "flip pairs and upper body (default: coco)")
    data.add_argument("--dataset-card", metavar="FILE.json",
                      help="your own COCO-format dataset's card (`robustpose-bench docs datasets`) instead of --dataset")
    p.add_argument("--images", help="image folder")
    p.add_argument("--ann", help="annotation file")
    p.add_argument("--config", help="YAML config file, or the name of a shipped one "
                                    "(coco_simplebaseline_r50_256x192, coco_hrnet_w32_256x192, "
                                    "mpii_simplebaseline_r50_256x256, mpii_hrnet_w32_256x256)")
    p.add_argument("--out", required=True, help="output folder (checkpoints, config.yaml, run.json)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pth")
    p.add_argument("--pretrained", help="starting weights (.pth state dict); also the AdvMix teacher")
    p.add_argument("--backbone-weights", metavar="FILE",
                   help="ImageNet weights for the backbone only, as the paper's runs start (a torchvision ResNet "
                        "or an HRNet-Image-Classification / timm hrnet state dict; the classifier head is ignored, "
                        "anything else that does not fit is an error); loaded at iteration 0, not on --resume")
    p.add_argument("--mix", choices=_MIXES, help="AdvMix mixing (ablations): default adv")
    p.add_argument("--no-kd", action="store_true", help="AdvMix without knowledge distillation")
    p.add_argument("--alpha", type=float, help="KD weight (default 0.1)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="images per forward pass, all processes together: under "
                                                  "torchrun each of N processes takes batch size / N")
    p.add_argument("--grad-accum", type=int, help="forward passes per optimiser step (effective batch = "
                                                  "batch size x this; the paper configs use 8 x 32 = 256)")
    p.add_argument("--sync-bn", action="store_true",
                   help="under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm) "
                        "instead of per process (the default, as the official code's DataParallel)")
    p.add_argument("--lr", type=float)
    p.add_argument("--generator-lr", type=float, help="AdvMix generator learning rate (default 1e-3)")
    p.add_argument("--loss", choices=("mse", "smoothl1"),
                   help="heatmap loss: mse (HRNet's, the default) or smoothl1 (the official AdvMix code's default)")
    p.add_argument("--generator-loss", choices=("pose", "gt"),
                   help="what the generator maximises: pose (the pose step's loss, KD included; default) or gt "
                        "(its ground-truth term only, as the official loop)")
    p.add_argument("--generator-bn", choices=("frozen", "update"),
                   help="BN running statistics in the generator step: frozen (restored; default) or update "
                        "(as the official loop's forward in train mode)")
    p.add_argument("--image-size", metavar="HxW",
                   help="input height x width, as everywhere in the project, e.g. 256x192 (heatmaps are H/4 x W/4)")
    p.add_argument("--max-iters", type=int, help="stop after this many iterations in all")
    p.add_argument("--jobs", type=int, help="data loader processes (the config's workers; default 0: in this process)")
    retire(p, "--workers", "--jobs", "parallelism is --jobs in every command; --threads stays the CPU threads")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to train: auto (CUDA when present, the default), cpu or cuda")
    p.add_argument("--threads", type=int, help="CPU threads for training (default: PyTorch's, the usable cores). "
                                               "CPU results depend on it: fix it to repeat a run bit for bit elsewhere")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_hxw(text: str) -> tuple[int, int]:
    """'256x192' -> (256, 192): height first, like every size in the project; both multiples of 4."""
    from ..errors import UserError

    parts = text.lower().replace("×", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise UserError(f"--image-size must be HxW, e.g. 256x192; got {text!r}") from None
    if h <= 0 or w <= 0 or h % 4 or w % 4:
        raise UserError(f"--image-size {text}: height and width must be positive multiples of 4 "
                        "(the heatmaps are a quarter of the input)")
    return h, w


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from ..advmix.config import TrainConfig, read_config_values, shipped_config, update_config
    from ..advmix.distributed import is_reporting_process
    from ..advmix.trainer import fixed_threads, train
    from ..errors import ReportedElsewhere, UserError

    if args.jobs is not None and args.jobs < 0:  # named by its flag, not the config's `workers`
        raise UserError(f"--jobs must be an integer >= 0 (DataLoader processes), got {args.jobs}")
    cfg, origins = TrainConfig(), {}
    if args.config:
        path = Path(args.config)
        path = path if path.suffix in (".yaml", ".yml") or path.exists() else shipped_config(args.config)
        values = read_config_values(path)
        update_config(cfg, values, str(path))
        origins = {key: str(path) for key in values}  # so that a bad value names its file
    # a card file given here is the working directory's (in a config file: relative to the config file)
    card_file = os.path.abspath(args.dataset_card) if args.dataset_card else None
    overrides = {
        "method": args.method, "arch": args.arch, "dataset": card_file or args.dataset, "images": args.images,
        "ann": args.ann, "pretrained": args.pretrained, "mix": args.mix, "alpha": args.alpha,
        "epochs": args.epochs, "batch_size": args.batch_size, "grad_accum": args.grad_accum, "lr": args.lr,
        "generator_lr": args.generator_lr, "max_iters": args.max_iters, "loss": args.loss,
        "generator_loss": args.generator_loss, "generator_bn": args.generator_bn,
        "workers": args.jobs, "seed": args.seed,
    }
    if args.backbone_weights is not None:
        overrides["backbone_weights"] = args.backbone_weights
    if args.image_size:
        h, w = parse_hxw(args.image_size)
        overrides["image_size"] = [h, w]  # the config's order too (config_format 2)
        overrides["heatmap_size"] = [h // 4, w // 4]
    if args.no_kd:
        overrides["kd"] = False
    if args.no_amp:
        overrides["amp"] = False
    if args.sync_bn:
        overrides["sync_bn"] = True
    given = {k: v for k, v in overrides.items() if v is not None}
    update_config(cfg, given, "command line")
    for key in given:
        origins.pop(key, None)
    cfg.validate(origins=origins)  # before anything is written
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    try:
        with fixed_threads(args.threads):   # recorded in run.json (torch_threads)
            summary = train(cfg, args.out, resume=args.resume, progress=not args.no_progress, device=args.device)
    except UserError as exc:
        # Under torchrun every rank reads the same configuration, files and (all-reduced) losses, so every
        # rank fails alike: rank 0 prints the line, the others exit 2 without repeating it.
        if not is_reporting_process():
            raise ReportedElsewhere(str(exc)) from None
        raise
    if not is_reporting_process():
        return 0   # rank 0 prints the summary
    last = summary["history"][-1] if summary["history"] else {}
    print(json.dumps({"checkpoint": summary["checkpoint"], "iterations": summary["global_iter"],
                      "device": summary["device"], "last_loss": last.get("last_loss")}, sort_keys=True))
    return 0
