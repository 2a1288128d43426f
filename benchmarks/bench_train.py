"""Time of one AdvMix iteration vs one standard iteration, side by side in one process.

Both use the same pose net architecture and initial weights, the same batch (random normalised
crops and real Gaussian targets), and the project's own ``Stepper`` (the code ``train`` runs).
AdvMix = teacher forward + generator forward + pose step + generator step (pose forward and an
input-gradient backward through the frozen pose net, generator backward). Iterations are
interleaved (standard, AdvMix, standard, ...) after one warm-up each; the ratio of the minima
(least disturbed by other processes) and of the medians are reported.
Data loading is timed separately, per item, for the standard (1 crop) and AdvMix (3 proposals)
pipelines on the tiny synthetic COCO-format set the tests use.

    python benchmarks/bench_train.py [--arch simplebaseline_r18] [--batch-size 16] [--size 192 256]
                                     [--repeats 3] [--threads N] [--json OUT]

Target (issue 5): AdvMix / standard <= 2.5x. Runs on CUDA (with AMP) when available, else CPU.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from robustpose_bench.advmix.config import TrainConfig  # noqa: E402
from robustpose_bench.advmix.data import gaussian_targets  # noqa: E402
from robustpose_bench.advmix.nets import build_net  # noqa: E402
from robustpose_bench.advmix.trainer import Stepper, build_generator, make_teacher, pick_device  # noqa: E402
from robustpose_bench.provenance import base_provenance  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="simplebaseline_r18")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--size", type=int, nargs=2, default=(192, 256), metavar=("W", "H"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device()
    w, h = args.size
    base = dict(arch=args.arch, image_size=[h, w], heatmap_size=[h // 4, w // 4], batch_size=args.batch_size)
    cfg_std = TrainConfig(method="standard", **base)
    cfg_adv = TrainConfig(method="advmix", **base)
    torch.manual_seed(0)
    n, k = args.batch_size, 17
    g = torch.Generator().manual_seed(0)
    props = torch.randn(n, 3, 3, h, w, generator=g)
    joints = torch.rand(n, k, 2, generator=g) * torch.tensor([w, h])
    tw_list, tg_list = [], []
    for i in range(n):
        t, wt = gaussian_targets(joints[i].numpy(), torch.ones(k).numpy(), (w, h), (w // 4, h // 4), 2.0)
        tg_list.append(torch.from_numpy(t))
        tw_list.append(torch.from_numpy(wt))
    target, weight = torch.stack(tg_list), torch.stack(tw_list)

    net = build_net(args.arch, k)
    std = Stepper(copy.deepcopy(net).to(device), cfg_std, device)
    adv_model = copy.deepcopy(net).to(device)
    adv = Stepper(adv_model, cfg_adv, device, teacher=make_teacher(adv_model),
                  generator=build_generator(cfg_adv).to(device))
    # Operation counts (forward + backward, all nets) of one iteration each: independent of load.
    from torch.utils.flop_counter import FlopCounterMode
    flops = {}
    for name, st, p in (("standard", std, props[:, :1]), ("advmix", adv, props)):
        snap = ({k_: v.clone() for k_, v in st.model.state_dict().items()},
                copy.deepcopy(st.opt.state_dict()))
        with FlopCounterMode(display=False) as fc:
            st.step(p, target, weight)
        flops[name] = fc.get_total_flops()
        st.model.load_state_dict(snap[0])
        st.opt.load_state_dict(snap[1])
    times: dict[str, list[float]] = {"standard": [], "advmix": []}
    for rep in range(args.repeats + 1):
        for name, st, p in (("standard", std, props[:, :1]), ("advmix", adv, props)):
            _sync(device)
            t0 = time.perf_counter()
            st.step(p, target, weight)
            _sync(device)
            if rep > 0:                       # the first round is warm-up
                times[name].append(time.perf_counter() - t0)
        print(f"round {rep}: " + ", ".join(f"{k_}={v[-1]:.3f}s" for k_, v in times.items() if v) if rep else
              "warm-up done", file=sys.stderr)
    med = {k_: statistics.median(v) for k_, v in times.items()}
    # On a shared machine the minimum is the least contention-affected estimate of each cost.
    best = {k_: min(v) for k_, v in times.items()}

    # data pipeline cost per item (tiny synthetic COCO-format set)
    from _advmix_synth import make_coco_dataset
    from robustpose_bench.advmix.trainer import build_dataset
    data_times = {}
    with tempfile.TemporaryDirectory() as tmp:
        images, ann = make_coco_dataset(Path(tmp), n_images=8, size=(320, 427))
        for method in ("standard", "advmix"):
            cfg = TrainConfig(method=method, images=str(images), ann=str(ann), **base)
            ds = build_dataset(cfg)
            ds[0]
            t0 = time.perf_counter()
            for rep in range(4):
                ds.set_epoch(rep)
                for i in range(len(ds)):
                    ds[i]
            data_times[method] = (time.perf_counter() - t0) / (4 * len(ds))

    result = {
        "arch": args.arch, "batch_size": n, "input_wh": [w, h], "device": str(device),
        "threads": torch.get_num_threads(), "amp": adv.use_amp, "repeats": args.repeats,
        "generator_levels": sum(isinstance(m, torch.nn.Conv2d) for m in adv.generator.modules()),
        "params_m": {"pose": sum(p.numel() for p in net.parameters()) / 1e6,
                     "generator": sum(p.numel() for p in adv.generator.parameters()) / 1e6},
        "step_s_median": med, "step_s_min": best, "step_s_all": times,
        "ratio_advmix_over_standard_min": best["advmix"] / best["standard"],
        "ratio_advmix_over_standard_median": med["advmix"] / med["standard"],
        "data_s_per_item": data_times,
        "gflop_per_iteration": {k_: v / 1e9 for k_, v in flops.items()},
        "flop_ratio_advmix_over_standard": flops["advmix"] / flops["standard"],
        "provenance": base_provenance(),
    }
    print(json.dumps({k_: v for k_, v in result.items() if k_ != "provenance"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
