"""The one-command demo: the whole pipeline on the embedded procedural data, offline, on a CPU.

It runs the real subcommands (through ``cli.main``) in the order a user would, so the demo
exercises exactly what the README documents:

1. generate a ``synth`` training set and build ``synth-c`` from a disjoint evaluation set;
2. train a small heatmap model with standard training, then fine-tune it twice from the same
   checkpoint, once with standard training and once with AdvMix (the first model is the teacher);
3. export both to ONNX with the model spec embedded and evaluate them on every condition;
4. print the robustness table, draw the figures, submit both models to a leaderboard inside the
   output folder and render it.

The grid is the full 15 corruptions × 5 severities, on a reduced number of images (``--images``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .errors import UserError

# Seeds: the training images come from another synth seed than the evaluation images (synth-c
# uses synth.DEFAULT_SEED), so the two sets share no image.
TRAIN_SYNTH_SEED = 7
# Shipped training config: SimpleBaseline ResNet-18 at width 16, 128×96, AdvMix generator with 16 base
# channels (robustpose_bench/configs/demo_synth_r18small_128x96.yaml).
TRAIN_CONFIG = "demo_synth_r18small_128x96"
BACKBONE = "ResNet-18 (width 16)"
# Training threads, fixed: CPU results depend on the thread count (docs/advmix.md, Determinism), so a
# fixed count makes the demo repeat bit for bit on any machine with the same CPU kernels.
TRAIN_THREADS = 2
# Printed under the table: what these numbers are, and where the AdvMix question is answered.
CAVEAT = ("A pipeline check, not a finding: these models are tiny and trained for minutes. Whether AdvMix "
          "helps: the paired pilot in docs/advmix.md (at its scale it did not).")


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    images: int = 40            # evaluation images built into synth-c
    train_images: int = 400     # training images
    pretrain_iters: int = 1000  # standard training from scratch (also the AdvMix teacher)
    finetune_iters: int = 100   # standard vs AdvMix fine-tuning from that checkpoint
    jobs: int = 2
    seed: int = 0
    progress: bool = True


def _step(title: str) -> None:
    print(f"\n== {title}", file=sys.stderr, flush=True)


def run_demo(cfg: DemoConfig, cli: Callable[[Sequence[str]], int]) -> int:
    """Run every stage; ``cli`` is ``robustpose_bench.cli.main``. Stops at the first failure."""
    from . import synth

    out = cfg.out
    if cfg.images < 1 or cfg.train_images < 1 or cfg.pretrain_iters < 1 or cfg.finetune_iters < 1:
        raise UserError("--images, --train-images and the iteration counts must be at least 1")
    quiet = [] if cfg.progress else ["--no-progress"]

    def call(*argv: str) -> None:
        code = cli([str(a) for a in argv])
        if code != 0:
            raise UserError(f"demo stopped: `robustpose-bench {' '.join(map(str, argv))}` exited with {code}")

    _step(f"1/4 data: synth training set ({cfg.train_images} images) and synth-c ({cfg.images} images × 15 × 5)")
    train_images, train_ann = synth.ensure_synth(out / "synth-train", count=cfg.train_images, seed=TRAIN_SYNTH_SEED)
    data = out / "data"
    call("build", "synth-c", "--out", data, "--synth-count", cfg.images, "--jobs", cfg.jobs)

    _step("2/4 training: standard from scratch, then standard vs AdvMix fine-tuning from that checkpoint")
    runs = out / "runs"
    common = ["--config", TRAIN_CONFIG, "--images", train_images, "--ann", train_ann,
              "--seed", cfg.seed, "--workers", 0, "--threads", TRAIN_THREADS, *quiet]
    call("train", "--method", "standard", "--out", runs / "pretrain", "--max-iters", cfg.pretrain_iters, *common)
    teacher = runs / "pretrain" / "last.pth"
    for method in ("standard", "advmix"):
        call("train", "--method", method, "--out", runs / method, "--pretrained", teacher,
             "--max-iters", cfg.finetune_iters, *common)

    _step("3/4 export to ONNX (spec embedded) and evaluate on clean + 75 corrupted conditions")
    results = {}
    for method in ("standard", "advmix"):
        model = out / "models" / f"{method}.onnx"
        call("export", runs / method / "last.pth", "--format", "onnx", "-o", model, "--name", f"synth-{method}")
        results[method] = out / "results" / f"{method}.json"
        call("eval", model, "--dataset", "synth-c", "--data", data, "--device", "auto",
             "--method", method, "--backbone", BACKBONE, "-o", results[method],
             "--predictions-out", out / "predictions" / method, *quiet)

    _step("4/4 table, figures, leaderboard")
    figures = out / "figures"
    call("plot", results["standard"], results["advmix"], "--name", "standard", "--name", "AdvMix",
         "-o", figures / "standard_vs_advmix.png")
    for method in ("standard", "advmix"):
        call("plot", results[method], "--name", method, "-o", figures / f"{method}.png")
    board = out / "leaderboard"
    board.mkdir(parents=True, exist_ok=True)
    for method in ("standard", "advmix"):
        call("submit", results[method], "--name", f"demo-{method}", "--method", method,
             "--architecture", "SimpleBaseline", "--backbone", BACKBONE,
             "--dir", board, "--copy-results")
    call("leaderboard", "check", "--dir", board)
    call("leaderboard", "render", "--dir", board)
    print(f"\n# synth-c robustness (AP, %), {cfg.images} images × 15 corruptions × 5 severities", flush=True)
    call("table", results["standard"], results["advmix"], "--format", "md")
    print(f"\n{CAVEAT}", flush=True)
    print(f"\noutputs in {out}: results/*.json, predictions/, figures/*.png, models/*.onnx, "
          f"leaderboard/LEADERBOARD.md and leaderboard/index.html", flush=True)
    return 0
