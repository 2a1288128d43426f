"""The one-command demo: the whole pipeline on the embedded procedural data, offline, on a CPU.

It calls the library functions behind each command, in the order a user would run them, so the
demo exercises exactly what the README documents:

1. generate a ``synth`` training set and build ``synth-c`` from a disjoint evaluation set;
2. train a small heatmap model with standard training, then fine-tune it twice from the same
   checkpoint, once with standard training and once with AdvMix (the first model is the teacher);
3. export both to ONNX with the model spec embedded and evaluate them on every condition;
4. print the robustness table, draw the figures, submit both models to a leaderboard inside the
   output folder and render it.

The grid is the full 15 corruptions × 5 severities, on a reduced number of images (``--images``), so
the leaderboard lists the two models as subset entries. Everything is written under ``cfg.out``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

# Seeds: the training images come from another synth seed than the evaluation images (synth-c
# uses synth.DEFAULT_SEED), so the two sets share no image.
TRAIN_SYNTH_SEED = 7
# Shipped training config: SimpleBaseline ResNet-18 at width 16, 128×96, AdvMix generator with 16 base
# channels (robustpose_bench/configs/demo_synth_r18small_128x96.yaml).
TRAIN_CONFIG = "demo_synth_r18small_128x96"
ARCHITECTURE = "SimpleBaseline"
BACKBONE = "ResNet-18 (width 16)"
# Training threads, fixed: CPU results depend on the thread count (docs/advmix.md, Determinism), so a
# fixed count makes the demo repeat bit for bit on any machine with the same CPU kernels.
TRAIN_THREADS = 2
# Printed under the table: what these numbers are, and where the AdvMix question is answered.
CAVEAT = ("A pipeline check, not a finding: these models are tiny and trained for minutes. Whether AdvMix "
          "helps: the paired pilot in `robustpose-bench docs advmix` (at its scale it did not).")
METHODS = ("standard", "advmix")
# Where each output goes under --out (the README's table lists the same).
LAYOUT = {
    "train_data": "synth-train", "data": "data", "runs": "runs", "models": "models", "results": "results",
    "predictions": "predictions", "figures": "figures", "leaderboard": "leaderboard",
}


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


def _label(method: str) -> str:
    """The model's label everywhere (table, figures, leaderboard): 'SimpleBaseline + AdvMix'."""
    from .vocabulary import model_label

    return model_label(ARCHITECTURE, method)


def build_data(cfg: DemoConfig) -> tuple[Path, Path, Path]:
    """Generate the training set and build synth-c: (training images, training annotations, OUT of the build)."""
    from . import synth
    from .builder.runner import run_build
    from .commands.build_cmd import make_config
    from .datasets import resolve_sources
    from .provenance import base_provenance

    train_images, train_ann = synth.ensure_synth(cfg.out / LAYOUT["train_data"], count=cfg.train_images,
                                                 seed=TRAIN_SYNTH_SEED)
    data = cfg.out / LAYOUT["data"]
    sources = resolve_sources("synth-c", synth_root=data / "synth", synth_count=cfg.images)
    res = run_build(make_config("synth-c", sources), sources, data, jobs=cfg.jobs, progress=cfg.progress,
                    provenance=base_provenance())
    if res.failed:
        raise UserError(f"demo stopped: {len(res.failed)} synth-c item(s) failed to build (see {res.manifest_path})")
    return train_images, train_ann, data


def train_models(cfg: DemoConfig, images: Path, ann: Path) -> dict[str, Path]:
    """Pretrain, then fine-tune with each method; method -> its last checkpoint."""
    from .advmix.config import load_config, shipped_config, update_config
    from .advmix.trainer import fixed_threads, train

    runs = cfg.out / LAYOUT["runs"]

    def run(name: str, method: str, iters: int, pretrained: Path | None) -> Path:
        tc = load_config(shipped_config(TRAIN_CONFIG))
        values = {"method": method, "images": str(images), "ann": str(ann), "seed": cfg.seed, "workers": 0,
                  "max_iters": iters}
        if pretrained is not None:
            values["pretrained"] = str(pretrained)
        update_config(tc, values, "demo")
        with fixed_threads(TRAIN_THREADS):
            summary = train(tc, runs / name, progress=cfg.progress)
        return Path(summary["checkpoint"])

    teacher = run("pretrain", "standard", cfg.pretrain_iters, None)
    return {m: run(m, m, cfg.finetune_iters, teacher) for m in METHODS}


def export_and_evaluate(cfg: DemoConfig, checkpoints: dict[str, Path], data: Path) -> dict[str, Path]:
    """ONNX export (spec embedded) and evaluation on clean + 75 conditions; method -> results.json."""
    from .advmix.export import export, load_trained, spec_for
    from .evaluation import EvalOptions, run_eval

    results = {}
    for method, checkpoint in checkpoints.items():
        model_path = cfg.out / LAYOUT["models"] / f"{method}.onnx"
        model, train_cfg = load_trained(checkpoint)
        export(model, spec_for(f"synth-{method}", train_cfg, "onnx"), model_path, "onnx")
        results[method] = cfg.out / LAYOUT["results"] / f"{method}.json"
        run_eval(EvalOptions(model=model_path, dataset="synth-c", data=data, device="auto", method=_label(method),
                             backbone=BACKBONE, output=results[method],
                             predictions_out=cfg.out / LAYOUT["predictions"] / method, progress=cfg.progress))
    return results


def report(cfg: DemoConfig, results: dict[str, Path]) -> str:
    """Figures (one shared scale), the leaderboard, and the table as Markdown."""
    from .leaderboard.check import check_dir
    from .leaderboard.render import render
    from .leaderboard.results_view import read_results, sample_size
    from .leaderboard.submit import submit
    from .plots import plot_views
    from .results import load_results
    from .splits import is_full_split
    from .tables import render_table, results_frame

    views = {m: read_results(p) for m, p in results.items()}
    figures = cfg.out / LAYOUT["figures"]
    plot_views(list(views.values()), figures / "standard_vs_advmix.png")
    # The single-model figures share one scale, so that they compare at a glance.
    top = max([v.clean or 0.0 for v in views.values()] + [x for v in views.values() for x in v.per_corruption.values()])
    for method, view in views.items():
        plot_views([view], figures / f"{method}.png", ymax=max(1.0, top * 1.12))

    board = cfg.out / LAYOUT["leaderboard"]
    for method, view in views.items():
        subset = is_full_split("synth-c", *sample_size(view)) is not True
        submit(results[method], f"demo-{method}", board, method=method, architecture=ARCHITECTURE,
               backbone=BACKBONE, subset=subset)
    checked = check_dir(board)
    if not checked.ok:
        raise UserError(f"demo stopped: leaderboard check failed: {checked.problems[0]}")
    render(board)
    paths = list(results.values())
    return render_table(results_frame([load_results(p) for p in paths], sources=[str(p) for p in paths]), "md")


def run_demo(cfg: DemoConfig) -> int:
    """Run every stage; the first failure stops the demo with its one-line error."""
    if cfg.images < 1 or cfg.train_images < 1 or cfg.pretrain_iters < 1 or cfg.finetune_iters < 1:
        raise UserError("--images, --train-images and the iteration counts must be at least 1")

    _step(f"1/4 data: synth training set ({cfg.train_images} images) and synth-c ({cfg.images} images × 15 × 5)")
    images, ann, data = build_data(cfg)
    _step("2/4 training: standard from scratch, then standard vs AdvMix fine-tuning from that checkpoint")
    checkpoints = train_models(cfg, images, ann)
    _step("3/4 export to ONNX (spec embedded) and evaluate on clean + 75 corrupted conditions")
    results = export_and_evaluate(cfg, checkpoints, data)
    _step("4/4 table, figures, leaderboard")
    table = report(cfg, results)
    print(f"# synth-c robustness (AP, %), {cfg.images} images × 15 corruptions × 5 severities", flush=True)
    sys.stdout.write(table)
    print(f"\n{CAVEAT}", flush=True)
    print(f"\noutputs in {cfg.out}: results/*.json, predictions/, figures/*.png, models/*.onnx, "
          "leaderboard/LEADERBOARD.md and leaderboard/index.html", flush=True)
    return 0
