"""Training in several processes under ``torchrun``: DistributedDataParallel, NCCL on CUDA, gloo on the CPU.

The conventions, chosen so that W processes compute what one process computes on the same global batch
(docs/advmix.md, "Several processes: torchrun"):

- ``batch_size`` is the **global** batch of one forward pass; each of the W processes (ranks) takes
  ``batch_size / W`` of it, so W must divide it. ``grad_accum`` still counts forward passes per optimiser
  step: the effective batch is ``batch_size * grad_accum`` whatever W is.
- Every rank draws the same seeded permutation of the epoch (``DistributedSampler`` with the seed that
  makes its permutation the one-process order) and takes positions ``rank, rank + W, ...`` of it, so rank
  r's k-th batch is rows ``r::W`` of the one-process k-th batch and the ranks' batches together are exactly
  that batch. A resumed run skips the same prefix of the permutation on every rank.
- Each rank's loss is the mean over its shard; the shards have equal sizes and DDP averages the gradients,
  so the gradient is that of the mean over the global batch, as in one process.
- BatchNorm normalises per rank by default (as the official code's ``nn.DataParallel`` did per GPU), with
  rank 0's running statistics (DDP broadcasts them, as DataParallel kept replica 0's); ``sync_bn`` uses
  ``torch.nn.SyncBatchNorm`` (global-batch statistics; CUDA only, a torch limitation).

Only rank 0 writes (checkpoints, ``config.yaml``, ``run.json``) and shows progress; a UserError is
printed by rank 0 only, because every rank reads the same configuration and files and fails alike.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import torch

from ..errors import UserError, shown

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun launch."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def torchrun_env(environ: Mapping[str, str] | None = None) -> DistEnv | None:
    """The launch torchrun describes in the environment, or None when this process was not started by it.

    Any of RANK / WORLD_SIZE / LOCAL_RANK set means a launcher started us: then all three must be there
    and make sense, else a one-line error naming the variable (not a hang at the rendezvous).
    """
    env = os.environ if environ is None else environ
    present = [n for n in TORCHRUN_VARIABLES if n in env]
    if not present:
        return None
    missing = [n for n in TORCHRUN_VARIABLES if n not in env]
    if missing:
        raise UserError(f"environment: {', '.join(present)} set but not {', '.join(missing)}; start several "
                        "processes with torchrun (it sets all three), or unset them for one process")
    values: dict[str, int] = {}
    for name in TORCHRUN_VARIABLES:
        try:
            values[name] = int(env[name])
        except ValueError:
            raise UserError(f"environment variable {name}: expected an integer, got {shown(env[name])}") from None
    world, rank, local = values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"]
    if world < 1:
        raise UserError(f"environment variable WORLD_SIZE: expected an integer >= 1, got {world}")
    if not 0 <= rank < world:
        raise UserError(f"environment variable RANK: expected 0..{world - 1} (WORLD_SIZE {world}), got {rank}")
    if local < 0:
        raise UserError(f"environment variable LOCAL_RANK: expected an integer >= 0, got {local}")
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if name not in env:
            raise UserError(f"environment: {name} is not set; start several processes with torchrun, "
                            "which sets it")
    return DistEnv(rank, local, world)


def is_reporting_process() -> bool:
    """Whether this process prints errors and summaries: one process, torchrun's rank 0, or any process
    whose torchrun environment is itself broken (that error may be its own)."""
    try:
        env = torchrun_env()
    except UserError:
        return True
    return env is None or env.is_main


def distributed_device(requested: str, env: DistEnv) -> tuple[torch.device, str]:
    """(device of this rank, backend): ``cuda:LOCAL_RANK`` with NCCL, or the CPU with gloo.

    ``requested`` is ``train --device`` (auto, cpu, cuda). Every refusal is a UserError raised before the
    rendezvous, so a bad launch ends at once on every rank instead of waiting for its peers.
    """
    from .trainer import pick_device

    if not torch.distributed.is_available():
        raise UserError("torchrun: this torch build has no torch.distributed; train in one process")
    dev = pick_device(requested)   # --device cuda without a CUDA device: a one-line error
    if dev.type == "cuda":
        if not torch.distributed.is_nccl_available():
            raise UserError("--device cuda under torchrun needs the NCCL backend, which this torch build lacks "
                            "(gloo is used on the CPU only): use --device cpu, or a CUDA build of torch")
        count = torch.cuda.device_count()
        if env.local_rank >= count:
            raise UserError(f"torchrun started process LOCAL_RANK {env.local_rank} on a node with {count} visible "
                            f"GPU(s): use --nproc_per_node {count} or fewer (one process per GPU)")
        return torch.device("cuda", env.local_rank), "nccl"
    if not torch.distributed.is_gloo_available():
        raise UserError("torchrun on the CPU needs the gloo backend, which this torch build lacks")
    return dev, "gloo"


def check_launch(batch_size: int, sync_bn: bool, device: torch.device, env: DistEnv) -> None:
    """Refuse, in one line, a launch whose global batch does not split evenly over the ranks, or that asks
    for SyncBatchNorm where torch cannot run it (before any net is built or weights are read)."""
    w = env.world_size
    if batch_size % w:
        raise UserError(f"config field 'batch_size': {batch_size} images per forward pass do not split over the "
                        f"{w} processes torchrun started (WORLD_SIZE {w}): --batch-size is the global batch, each "
                        f"process takes batch_size / {w}; give a multiple of {w}")
    if sync_bn and device.type != "cuda":   # torch's SyncBatchNorm refuses CPU tensors, even in 1 process
        raise UserError("--sync-bn needs CUDA: torch.nn.SyncBatchNorm does not run on the CPU (leave it off: "
                        "BatchNorm per process)")


def check_data(num_items: int, batch_size: int, grad_accum: int) -> None:
    """Under torchrun every optimiser step is a full global batch (equal shards, see the module doc)."""
    if num_items < batch_size * grad_accum:
        raise UserError(f"training data: {num_items} persons, fewer than one optimiser step's "
                        f"{batch_size * grad_accum} (batch_size x grad_accum); under torchrun every step must be "
                        "a full global batch: lower --batch-size or --grad-accum")


def join_process_group(backend: str, device: torch.device, env: DistEnv) -> None:
    """Join the torchrun rendezvous (env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE) once per process.

    A later call (a second ``train`` in the same process) reuses the group, and the group is left at
    exit, not when ``train`` returns: creating torch's default group again in one process finds the
    previous group's keys in torchrun's store and hangs or fails (torch 2.13, gloo).
    """
    dist = torch.distributed
    if dist.is_initialized():
        have = (dist.get_rank(), dist.get_world_size(), dist.get_backend())
        if have != (env.rank, env.world_size, backend):
            raise UserError(f"this process already belongs to a process group (rank, world size, backend) {have}, "
                            f"but the environment says {(env.rank, env.world_size, backend)}")
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group(backend, device_id=device)
    else:
        dist.init_process_group(backend)
    atexit.register(_leave_process_group)


def _leave_process_group() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


class SkipSampler(torch.utils.data.Sampler[int]):
    """``sampler``'s indices without its first ``skip`` (resume in the middle of an epoch)."""

    def __init__(self, sampler: torch.utils.data.Sampler[int], skip: int):
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        it = iter(self.sampler)
        for _ in range(self.skip):
            next(it, None)
        return it

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)  # type: ignore[arg-type]


def rank_sampler(dataset: torch.utils.data.Dataset, order_seed: int, epoch: int, skip_global: int,
                 env: DistEnv) -> SkipSampler:
    """This rank's share of the epoch's global order, from global position ``skip_global`` on.

    ``DistributedSampler`` shuffles with ``torch.randperm`` under a generator seeded ``seed + epoch``: with
    ``seed = order_seed`` that is the one-process trainer's permutation (``seed * 100003 + epoch``).
    ``drop_last`` cuts the order to a multiple of W (never a repeated person); ``skip_global`` is a multiple
    of W (whole global batches), so every rank skips ``skip_global / W`` of its own positions.
    """
    sampler = torch.utils.data.distributed.DistributedSampler(
        dataset, num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=order_seed, drop_last=True)
    sampler.set_epoch(epoch)
    return SkipSampler(sampler, skip_global // env.world_size)


def all_mean(values: Sequence[float], device: torch.device) -> list[float]:
    """The mean over ranks of each value (one all-reduce): per-rank means of equal shards -> global means."""
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return (t / torch.distributed.get_world_size()).tolist()
