"""One rank of the DDP equality test (tests/test_advmix_ddp.py), started by torchrun:

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/_ddp_worker.py OUT INIT IMAGES ANN

Trains the test's TinyPoseNet (BatchNorm) from INIT with each configuration of ``RUNS`` (standard, AdvMix
with KD from INIT and the adversarial generator, the Dirichlet ablation, whose random weights are drawn
per global batch, and AdvMix over two accumulated passes), through ``trainer.train`` as the CLI does;
rank 0 also saves the pose net's last gradients (``OUT/<method>/grads.pth``): Adam's update hides the
gradient's scale, the gradient does not. The other ranks train into ``OUT/not_rank0/`` with a progress bar
asked for, so that the test sees any file or bar they should not make.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_advmix import TinyPoseNet  # noqa: E402

from robustpose_bench.advmix.trainer import train  # noqa: E402

# (method, overrides): the configurations the test compares with one process
# name: (config overrides, iterations). Accumulating passes under DDP adds each rank's passes before the
# all-reduce, one process adds each pass's halves first: the same sum in another order, so that run is
# compared after one step (its gradients), where the others are compared after 20 (their weights).
RUNS = {
    "standard": ({"method": "standard", "batch_size": 4, "grad_accum": 1}, 20),
    "advmix": ({"method": "advmix", "mix": "adv", "batch_size": 4, "grad_accum": 1}, 20),
    "dirichlet": ({"method": "advmix", "mix": "dirichlet", "kd": False, "batch_size": 4, "grad_accum": 1}, 20),
    "advmix_accum": ({"method": "advmix", "mix": "adv", "batch_size": 4, "grad_accum": 2}, 1),
}


def config(name: str, init: str, images: str, ann: str):
    from robustpose_bench.advmix.config import TrainConfig

    overrides, iters = RUNS[name]
    cfg = TrainConfig(arch="tiny", images=images, ann=ann, image_size=[64, 32], heatmap_size=[16, 8],
                      epochs=1000, generator_ngf=8, amp=False, pretrained=init, max_iters=iters)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    cfg.validate()
    return cfg


def main() -> int:
    out, init, images, ann = sys.argv[1:5]
    main_rank = os.environ["RANK"] == "0"
    for name in RUNS:
        net = TinyPoseNet()
        # The other ranks are given their own folder and asked for a progress bar: both must stay unused
        # (only rank 0 writes and shows progress); a fresh run reads nothing from its folder.
        where = Path(out) / (name if main_rank else f"not_rank0/{name}")
        train(config(name, init, images, ann), where, model=net, progress=not main_rank, device="cpu")
        if main_rank:
            torch.save([p.grad for p in net.parameters()], where / "grads.pth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
