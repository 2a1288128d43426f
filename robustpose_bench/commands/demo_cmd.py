"""``robustpose-bench demo``: the whole pipeline on embedded procedural data, offline, on a CPU."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline offline on generated data: build synth-c, train standard vs AdvMix, "
             "evaluate, table, plots, leaderboard",
        description="Generate the procedural synth data, build synth-C, train a small model with standard "
                    "training and fine-tune it with standard training and with AdvMix, export both to ONNX, "
                    "evaluate them on clean + 75 conditions, then print the table, draw the figures and render "
                    "a leaderboard. Offline and seeded; everything is written under "
                    "--out.",
    )
    p.add_argument("--out", default="robustpose-demo", help="output folder (default: ./robustpose-demo)")
    p.add_argument("--images", type=int, default=40, help="evaluation images built into synth-c (default 40)")
    p.add_argument("--train-images", type=int, default=400, help="training images (default 400)")
    p.add_argument("--pretrain-iters", type=int, default=1000, help="standard iterations from scratch (default 1000)")
    p.add_argument("--finetune-iters", type=int, default=100,
                   help="iterations of standard vs AdvMix fine-tuning (default 100)")
    p.add_argument("--jobs", type=int, default=2, help="build processes (default 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..demo import DemoConfig, run_demo

    cfg = DemoConfig(out=Path(args.out), images=args.images, train_images=args.train_images,
                     pretrain_iters=args.pretrain_iters, finetune_iters=args.finetune_iters,
                     jobs=args.jobs, progress=not args.no_progress)
    return run_demo(cfg)
