"""Standard and AdvMix training loops for any heatmap pose net ((N,3,H,W) -> (N,K,H/4,W/4)).

AdvMix iteration, in order (Wang et al., ICCV 2021, and the official ``train_advmix``):

1. Pose step on ``mix.detach()``:
   ``(1-alpha) * MSE(pose(mix), target) + alpha * MSE(pose(mix), teacher(clean))``; Adam step on the
   pose net. ``mix`` is the generator's per-pixel softmax-weighted sum of the K+1 proposals.
2. Generator step: maximise the same pose loss (``-loss * adv_loss_weight``) on the mix through the
   generator's graph, with the pose net's parameters frozen (``requires_grad=False``, so no pose
   gradients are even computed). The generator has not changed since step 1, so this mix is the
   fresh generator output; it is the same graph rather than a recomputation.

BatchNorm in the generator step: the pose net stays in train mode, so its BN layers normalise with
the batch statistics of the mix exactly as in training (the gradient the generator sees is that of
the training-mode network), but its running mean/var and ``num_batches_tracked`` are snapshotted
before and restored after that forward (:func:`frozen_bn_buffers`), so the running statistics are
updated once per iteration (in the pose step), not twice. We restore rather than set momentum=0
because restoring is exact for every BN variant (including ``momentum=None`` cumulative averages)
and also keeps ``num_batches_tracked`` unchanged.

The teacher is a deep copy of the starting (pretrained) weights, in eval mode with
``requires_grad=False``; it is only ever called under ``torch.no_grad()``. ``alpha = 0`` or
``--no-kd`` drops the KD term (and the teacher forward) entirely.

Ablations (paper Tables 6-7): ``mix`` = ``adv`` (pixel-wise, the method), ``adv-image`` (one
adversarial weight per proposal per image: the generator's logits averaged over pixels),
``equal`` (1/(K+1) each), ``dirichlet`` (weights ~ Dirichlet(1,...,1) per image, AugMix-style),
``sequential`` (no mixing: AutoAugment then GridMask applied in sequence to one crop). Only the
adversarial modes have a generator step.
"""
from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch
from torch import nn

from ..atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_file
from ..errors import UserError
from .config import TrainConfig
from .generator import UnetGenerator, max_levels, mix, mix_weights
from .losses import pose_loss

if TYPE_CHECKING:  # pragma: no cover
    from ..datasets.cards import DatasetCard

CHECKPOINT_NAME = "last.pth"


@contextlib.contextmanager
def frozen_bn_buffers(model: nn.Module) -> Iterator[None]:
    """Run a train-mode forward whose BatchNorm running statistics are left exactly unchanged."""
    saved = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            saved.append((m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()))
    try:
        yield
    finally:
        with torch.no_grad():
            for m, mean, var, nbt in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(nbt)


@contextlib.contextmanager
def frozen_params(model: nn.Module) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on every parameter of ``model``."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)


def make_teacher(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` in eval mode."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def num_proposals(method: str, mix_mode: str) -> int:
    if method == "standard":
        return 1
    return 2 if mix_mode == "sequential" else 3


def proposal_mode(method: str, mix_mode: str) -> str:
    if method == "standard":
        return "standard"
    return "sequential" if mix_mode == "sequential" else "advmix"


def mixing_weights(mode: str, proposals: torch.Tensor, generator: nn.Module | None,
                   rng: torch.Generator | None = None, shard: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """(N, P, H, W) or (N, P) weights, >= 0 and summing to 1 over P, for a non-sequential mode.

    ``shard`` = (rank, world size) under torchrun: ``proposals`` are rows ``rank::world`` of the global
    batch, so the Dirichlet draws are made for the whole global batch and this rank keeps its rows,
    the weights each image gets in one process.
    """
    n, p = proposals.shape[:2]
    if mode == "adv":
        return mix_weights(generator(proposals))
    if mode == "adv-image":
        return mix_weights(generator(proposals).mean(dim=(2, 3)))
    if mode == "equal":
        return torch.full((n, p), 1.0 / p, device=proposals.device)
    if mode == "dirichlet":
        rank, world = shard
        g = torch.empty((n * world, p)).exponential_(1.0, generator=rng)   # Dirichlet(1) = normalised Exp(1)
        if world > 1:
            g = g[rank::world]
        return (g / g.sum(dim=1, keepdim=True)).to(proposals.device)
    raise ValueError(f"no mixing weights for mode {mode!r}")


@dataclass
class StepResult:
    loss: float                  # pose loss of the pose step (before its update), mean over the effective batch
    gen_loss: float | None       # the pose loss the generator step maximised (None without one)
    # Batch-mean mixing weight of each proposal (clean, AutoAugment, GridMask) in the pose step: how far
    # the generator has moved from uniform. None for standard training and the sequential ablation.
    mix_weights: tuple[float, ...] | None = None
    # (clean share, erased share) of the pose step's mixes: w_clean + w_grid * m and w_grid * (1 - m), m
    # GridMask's keep-mask, averaged over images and pixels. GridMask's proposal *is* the clean crop on
    # its kept stripes, so the clean content a mix keeps is not w_clean alone. None without GridMask.
    shares: tuple[float, float] | None = None


def _mean_weights(weights: torch.Tensor) -> tuple[float, ...]:
    """(N, P[, H, W]) mixing weights -> the mean weight of each proposal over images (and pixels)."""
    dims = [0] + list(range(2, weights.dim()))
    return tuple(float(v) for v in weights.detach().float().mean(dim=dims))


def _mean_shares(proposals: torch.Tensor, weights: torch.Tensor) -> tuple[float, float] | None:
    """(clean share, erased share) of mixes of AdvMix's three proposals (clean, AutoAugment, GridMask).

    GridMask's proposal is the normalised clean crop times a 0/1 mask, so the mask is exactly where it
    equals the clean proposal in every channel (a normalised pixel is never 0 in all three channels:
    the ImageNet means times 255 are not integers).
    """
    if proposals.shape[1] != 3:
        return None
    with torch.no_grad():
        keep = (proposals[:, 2] == proposals[:, 0]).all(dim=1).float()            # (N, H, W)
        w = weights.detach().float()
        w = w if w.dim() == 4 else w[:, :, None, None].expand(-1, -1, *keep.shape[1:])
        clean = (w[:, 0] + w[:, 2] * keep).mean()
        erased = (w[:, 2] * (1 - keep)).mean()
    return float(clean), float(erased)


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]   # proposals, target, target_weight


class Stepper:
    """One training iteration for a given method; holds the nets and optimisers, nothing else.

    ``step`` takes one batch; ``step_accumulated`` takes ``cfg.grad_accum`` micro-batches and makes one
    optimiser step on their summed gradients, so that a 32-image forward pass reproduces the official
    8 GPUs x 32 images = 256 per Adam step (docs/advmix.md, "Effective batch").
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, device: torch.device,
                 teacher: nn.Module | None = None, generator: nn.Module | None = None,
                 channels_last: bool = True):
        # Channels-last (NHWC) memory: the same maths, ~1.5x faster convolutions on CPU (oneDNN)
        # and on CUDA tensor cores; the nets are converted in place.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        for net in (model, teacher, generator):
            if net is not None:
                net.to(memory_format=self.memory_format)
        self.model = model        # what the pose step calls: the net, or its DDP wrapper (distribute)
        self.net = model          # the pose net itself: the generator step, checkpoints
        self.cfg = cfg
        self.device = device
        self.shard = (0, 1)       # (rank, world size) of this process's rows of each global batch
        self.alpha = cfg.alpha if (cfg.method == "advmix" and cfg.kd) else 0.0
        self.teacher = teacher if self.alpha > 0 else None
        if cfg.method == "advmix" and self.alpha > 0 and self.teacher is None:
            raise ValueError("AdvMix with knowledge distillation needs a teacher")
        self.adversarial = cfg.method == "advmix" and cfg.mix in ("adv", "adv-image")
        self.generator = generator if self.adversarial else None
        self.gen_net = self.generator   # the generator itself (self.generator may become its DDP wrapper)
        if self.adversarial and self.generator is None:
            raise ValueError(f"mix mode {cfg.mix!r} needs a generator")
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.generator_lr) if self.generator else None
        self.use_amp = bool(cfg.amp and device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.use_amp)

    def distribute(self, rank: int, world_size: int, sync_bn: bool = False) -> None:
        """Wrap the trained nets in DistributedDataParallel (the process group must exist).

        DDP averages the gradients over the ranks in backward and broadcasts rank 0's buffers (BatchNorm
        running statistics) before each forward, as DataParallel kept replica 0's. The teacher is frozen
        and stays unwrapped. ``sync_bn`` swaps BatchNorm for SyncBatchNorm in place (same parameters and
        buffers, so the optimiser and checkpoints are unaffected).
        """
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        if sync_bn:
            self.net = nn.SyncBatchNorm.convert_sync_batchnorm(self.net)
        # DDP's default: rank 0's buffers are broadcast before each forward (``broadcast_buffers``, renamed
        # ``forward_sync_buffers`` in torch 2.13; left at its default for either name).
        self.model = DDP(self.net, device_ids=ids)
        if self.gen_net is not None:
            self.generator = DDP(self.gen_net, device_ids=ids)
        self.shard = (rank, world_size)

    @staticmethod
    def _sync_unless_last(net: nn.Module | None, last: bool) -> contextlib.AbstractContextManager[Any]:
        """DDP's ``no_sync`` for every micro-batch but the last: one gradient all-reduce per step."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        if last or not isinstance(net, DDP):
            return contextlib.nullcontext()
        return net.no_sync()

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp)

    def _to_device(self, batch: Batch) -> Batch:
        return tuple(t.to(self.device, non_blocking=True) for t in batch)  # type: ignore[return-value]

    def _mixed(self, proposals: torch.Tensor, rng: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mix of one batch's proposals (channels-last) and its weights (None: sequential)."""
        weights = None
        with self._autocast():
            if self.cfg.mix == "sequential":
                mixed = proposals[:, 1]
            else:
                weights = mixing_weights(self.cfg.mix, proposals, self.generator, rng, self.shard).float()
                mixed = mix(proposals, weights)
            mixed = mixed.contiguous(memory_format=self.memory_format)
        return mixed, weights

    def step(self, proposals: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor,
             rng: torch.Generator | None = None) -> StepResult:
        """One optimiser step (two with a generator) on one batch."""
        proposals, target, target_weight = self._to_device((proposals, target, target_weight))
        self.model.train()
        cfg = self.cfg
        fmt = self.memory_format
        if cfg.method == "standard":
            self.opt.zero_grad(set_to_none=True)
            with self._autocast():
                x = proposals[:, 0].contiguous(memory_format=fmt)
                loss = pose_loss(self.model(x), target, target_weight, None, 0.0, cfg.loss)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            return StepResult(float(loss.detach()), None)

        clean = proposals[:, 0].contiguous(memory_format=fmt)
        teacher_out = None
        if self.teacher is not None:
            with torch.no_grad(), self._autocast():
                teacher_out = self.teacher(clean).float()
        if self.generator is not None:
            self.generator.train()
        mixed, weights = self._mixed(proposals, rng)
        mean_w = None if weights is None else _mean_weights(weights)
        shares = None if weights is None else _mean_shares(proposals, weights)
        # 1. pose step on the detached mix
        self.opt.zero_grad(set_to_none=True)
        with self._autocast():
            loss = pose_loss(self.model(mixed.detach()), target, target_weight, teacher_out, self.alpha, cfg.loss)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.generator is None:
            return StepResult(float(loss.detach()), None, mean_w, shares)
        # 2. generator step: maximise the same loss (or its ground-truth term), pose params frozen, BN
        # running stats untouched (or updated, as the official loop's forward in train mode does)
        self.opt_g.zero_grad(set_to_none=True)
        # The buffers are restored after backward: BN saves them for its backward and autograd
        # checks that they were not modified in between.
        # The pose net itself, not its DDP wrapper: its parameters take no gradient here, so there is
        # nothing for DDP to reduce; BN still normalises over this rank's rows.
        with frozen_params(self.net), self._generator_bn():
            with self._autocast():
                adv = self._generator_loss(self.net(mixed), target, target_weight, teacher_out)
            self.scaler_g.scale(-adv * cfg.adv_loss_weight).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        return StepResult(float(loss.detach()), float(adv.detach()), mean_w, shares)

    def _generator_bn(self):
        return frozen_bn_buffers(self.net) if self.cfg.generator_bn == "frozen" else contextlib.nullcontext()

    def _generator_loss(self, pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor,
                        teacher_out: torch.Tensor | None) -> torch.Tensor:
        """What the generator maximises: the pose step's loss, or (``generator_loss: gt``) its ground-truth term."""
        if self.cfg.generator_loss == "gt":
            return pose_loss(pred, target, target_weight, None, 0.0, self.cfg.loss)
        return pose_loss(pred, target, target_weight, teacher_out, self.alpha, self.cfg.loss)

    def step_accumulated(self, batches: list[Batch], rng: torch.Generator | None = None) -> StepResult:
        """One optimiser step (two with a generator) on the summed gradients of ``batches``.

        Each micro-batch's loss is divided by their number, so the gradient is that of the mean loss
        over all of them, as DataParallel computes it over 8 GPUs; BatchNorm normalises each
        micro-batch on its own, as each GPU's replica did. With a generator, the pose step runs over
        every micro-batch first (the mixes computed without a graph), then the generator step
        recomputes each mix with its graph against the updated pose net, as the official code's
        generator step sees the pose net after its update. One batch is exactly ``step``.
        """
        if len(batches) == 1:
            return self.step(*batches[0], rng=rng)
        batches = [self._to_device(b) for b in batches]
        n = len(batches)
        self.model.train()
        cfg = self.cfg
        fmt = self.memory_format
        self.opt.zero_grad(set_to_none=True)
        loss_sum = 0.0
        if cfg.method == "standard":
            for i, (proposals, target, target_weight) in enumerate(batches):
                with self._sync_unless_last(self.model, i == n - 1):
                    with self._autocast():
                        x = proposals[:, 0].contiguous(memory_format=fmt)
                        loss = pose_loss(self.model(x), target, target_weight, None, 0.0, cfg.loss) / n
                    self.scaler.scale(loss).backward()
                loss_sum += float(loss.detach())
            self.scaler.step(self.opt)
            self.scaler.update()
            return StepResult(loss_sum, None)

        if self.generator is not None:
            self.generator.train()
        teacher_outs: list[torch.Tensor | None] = []
        weight_sums: torch.Tensor | None = None
        share_sums: list[float] | None = None
        for i, (proposals, target, target_weight) in enumerate(batches):
            teacher_out = None
            if self.teacher is not None:
                with torch.no_grad(), self._autocast():
                    teacher_out = self.teacher(proposals[:, 0].contiguous(memory_format=fmt)).float()
            teacher_outs.append(teacher_out)
            with torch.no_grad():
                mixed, weights = self._mixed(proposals, rng)
            if weights is not None:
                w = torch.tensor(_mean_weights(weights))
                weight_sums = w if weight_sums is None else weight_sums + w
                sh = _mean_shares(proposals, weights)
                if sh is not None:
                    share_sums = list(sh) if share_sums is None else [a + b for a, b in zip(share_sums, sh)]
            with self._sync_unless_last(self.model, i == n - 1):
                with self._autocast():
                    loss = pose_loss(self.model(mixed), target, target_weight, teacher_out, self.alpha, cfg.loss) / n
                self.scaler.scale(loss).backward()
            loss_sum += float(loss.detach())
        self.scaler.step(self.opt)
        self.scaler.update()
        mean_w = None if weight_sums is None else tuple(float(v) / n for v in weight_sums)
        shares = None if share_sums is None else (share_sums[0] / n, share_sums[1] / n)
        if self.generator is None:
            return StepResult(loss_sum, None, mean_w, shares)
        self.opt_g.zero_grad(set_to_none=True)
        adv_sum = 0.0
        with frozen_params(self.net), self._generator_bn():
            for i, ((proposals, target, target_weight), teacher_out) in enumerate(zip(batches, teacher_outs)):
                with self._sync_unless_last(self.generator, i == n - 1):
                    mixed, _ = self._mixed(proposals, rng)
                    with self._autocast():
                        adv = self._generator_loss(self.net(mixed), target, target_weight, teacher_out) / n
                    self.scaler_g.scale(-adv * cfg.adv_loss_weight).backward()
                adv_sum += float(adv.detach())
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        return StepResult(loss_sum, adv_sum, mean_w, shares)


# ----------------------------------------------------------------------------------------------
# full runs


DEVICES = ("auto", "cpu", "cuda")


def pick_device(requested: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else the CPU; ``cuda`` without a CUDA device is a user error."""
    if requested not in DEVICES:
        raise UserError(f"--device must be one of {', '.join(DEVICES)}, not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def build_generator(cfg: TrainConfig) -> UnetGenerator:
    w, h = cfg.image_size
    levels = max_levels(h, w, cfg.generator_levels)
    return UnetGenerator(num_proposals(cfg.method, cfg.mix), levels, cfg.generator_ngf)


def _lr_at(cfg: TrainConfig, epoch: int, base: float) -> float:
    return base * cfg.lr_factor ** sum(1 for s in cfg.lr_steps if epoch >= s)


class _OffsetSampler(torch.utils.data.Sampler[int]):
    """A fixed index order, starting at ``start`` (resume in the middle of an epoch)."""

    def __init__(self, order: list[int], start: int):
        self.order = order[start:]

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


def _grouped(loader: Any, n: int, drop_last: bool) -> Iterator[list[Batch]]:
    """The loader's batches in groups of ``n`` (one optimiser step each); a short last group only
    when the epoch has fewer than one full step (``drop_last`` False)."""
    group: list[Batch] = []
    for batch in loader:
        group.append(tuple(batch))
        if len(group) == n:
            yield group
            group = []
    if group and not drop_last:
        yield group


@contextlib.contextmanager
def fixed_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` CPU threads (None: unchanged), then restore the caller's count. CPU results depend
    on the thread count, so a run that fixes it repeats on any machine with the same CPU kernels."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def use_deterministic_kernels() -> None:
    """Deterministic CUDA kernels and no cuDNN autotuning, so that a CUDA run repeats on the same GPU
    model and software; a no-op for CPU results, whose kernels are deterministic already (docs/advmix.md,
    Determinism). cuBLAS needs its workspace fixed before its first use, hence the variable."""
    import os

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def cpu_numerics() -> dict[str, Any]:
    """What decides CPU floating-point results besides the code and the seed (docs/advmix.md, Determinism)."""
    import platform

    import os

    from ..determinism import opencv_threads

    info: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "opencv_threads": opencv_threads(),
                            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                            "mkldnn": torch.backends.mkldnn.is_available(), "machine": platform.machine()}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), None)
    except OSError:
        info["cpu_model"] = None
    info["env"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY",
                                              "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR") if k in os.environ}
    return info


def apply_card(cfg: TrainConfig) -> "DatasetCard":
    """The run's dataset card (``advmix/dataset_card.py``); with ``cfg.dataset`` set, its card fills in
    ``cfg.dataset_format`` (the reader) and ``cfg.keypoints`` (the keypoint set), so that config.yaml
    and the checkpoint say what was trained. One-line errors for an unknown name or a bad card."""
    from .dataset_card import READER_OF_FORMAT, training_card

    card = training_card(cfg.dataset, cfg.keypoints)
    if cfg.dataset:
        cfg.dataset_format = READER_OF_FORMAT[card.format]
        cfg.keypoints = card.keypoint_set
    return card


def build_dataset(cfg: TrainConfig, train: bool = True, card: "DatasetCard | None" = None):
    """The training set of ``cfg``: its annotations read by the card format's reader, with the card's
    keypoint count, flip pairs and upper body (``card``: :func:`apply_card`'s, resolved once per run)."""
    from .data import AugmentConfig, TopDownDataset, read_coco, read_mpii, training_layout

    card = apply_card(cfg) if card is None else card
    layout = f"the {cfg.dataset_format} layout {training_layout(cfg.dataset_format)}"
    if not cfg.ann or not cfg.images:
        raise UserError(f"training data: give --images DIR and --ann FILE ({layout}), or images/ann in the config")
    for value, flag, ok in ((cfg.images, "--images", Path(cfg.images).is_dir()), (cfg.ann, "--ann", Path(cfg.ann).is_file())):
        if not ok:
            raise UserError(f"{flag} {value}: {'folder' if flag == '--images' else 'file'} not found; expected {layout}")
    h, w = cfg.image_size          # [height, width]; the dataset and OpenCV take (width, height)
    aspect = w / h
    if cfg.dataset_format == "coco":
        records = read_coco(cfg.ann, cfg.images, aspect, card)
    else:
        records = read_mpii(cfg.ann, cfg.images)
    aug = AugmentConfig(cfg.scale_factor, cfg.rot_factor, cfg.flip, cfg.prob_half_body,
                        cfg.num_joints_half_body, cfg.sigma)
    return TopDownDataset(records, card, (w, h), (cfg.heatmap_size[1], cfg.heatmap_size[0]), aug,
                          proposal_mode(cfg.method, cfg.mix), seed=cfg.seed, train=train)


def _check_output_shape(model: nn.Module, cfg: TrainConfig, num_joints: int, device: torch.device) -> None:
    """Fail early, in one line, when the net's heatmaps do not match the configured size."""
    h, w = cfg.image_size
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, h, w, device=device))
    model.train(was_training)
    want = (1, num_joints, cfg.heatmap_size[0], cfg.heatmap_size[1])
    if tuple(out.shape) != want:
        raise UserError(f"--arch {cfg.arch} maps a {h}x{w} (HxW) input to output {tuple(out.shape)}, expected {want} "
                        "(SimpleBaseline needs width and height divisible by 32)")


def _load_optimizer(opt: torch.optim.Optimizer, state: Any, source: str) -> None:
    try:
        opt.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{source} does not fit this model's optimizer ({first})") from None


def _resume(ckpt_path: Path, cfg: TrainConfig, model: nn.Module, stepper: Stepper,
            world_size: int = 1, card: dict[str, Any] | None = None
            ) -> tuple[int, int, int, list[dict[str, Any]], dict[str, Any] | None]:
    """Restore nets and optimisers from ``last.pth``; (epoch, iter in epoch, global iter, history, the
    record of the backbone weights the run started from, or None).

    A truncated, empty or foreign file, or one from another configuration, is a one-line UserError
    naming it, raised before the run writes anything.
    """
    from .checkpoint import load_strict, read_training_checkpoint
    from .config import from_checkpoint

    state = read_training_checkpoint(ckpt_path)
    saved_cfg = from_checkpoint(state["config"])
    # The dataset card (name + sha256; checkpoints from before cards have none): another card is another
    # keypoint set, or the same keypoints under other flip pairs.
    saved_card = state.get("dataset_card")
    if card is not None and isinstance(saved_card, dict):
        if (saved_card.get("name"), saved_card.get("sha256")) != (card["name"], card["sha256"]):
            raise UserError(f"--resume: {ckpt_path} was trained on dataset card {saved_card.get('name')} (sha256 "
                            f"{str(saved_card.get('sha256'))[:12]}), this run's is {card['name']} (sha256 "
                            f"{card['sha256'][:12]}): give the same --dataset / --dataset-card")
    for key in ("arch", "method", "mix", "image_size", "keypoints", "seed", "kd", "alpha", "batch_size", "grad_accum",
                "sync_bn"):
        if key in saved_cfg and saved_cfg[key] != getattr(cfg, key):
            raise UserError(f"--resume: config field '{key}' is {getattr(cfg, key)!r} but {ckpt_path} "
                            f"was trained with {saved_cfg[key]!r}")
    # The backbone weights were loaded at iteration 0 and live on in the checkpoint: the file is not read
    # again, but whether the run started from one is part of its recipe.
    backbone = state.get("backbone_weights")
    backbone = backbone if isinstance(backbone, dict) else None
    if bool(backbone) != bool(cfg.backbone_weights):
        raise UserError(f"--resume: {ckpt_path} was started " + (
            f"from backbone weights {backbone.get('file')} (sha256 {backbone.get('sha256')}): give --backbone-weights "
            "again (it is not re-read)" if backbone else
            "without backbone weights: leave out --backbone-weights (or backbone_weights in the config)"))
    # With BatchNorm per process, each process normalises batch_size / world_size images: another process
    # count is another recipe, as another batch_size is (a checkpoint without the field: one process).
    saved_world = state.get("world_size", 1)
    if saved_world != world_size and not cfg.sync_bn:
        raise UserError(f"--resume: {ckpt_path} was trained by {saved_world} process(es), this run has {world_size} "
                        f"(BatchNorm normalises batch_size / processes images): launch {saved_world}")
    parts = [("state_dict", model, "optimizer", stepper.opt),
             ("generator", stepper.gen_net, "optimizer_g", stepper.opt_g),
             ("teacher", stepper.teacher, None, None)]
    for key, net, opt_key, opt in parts:
        if net is None:
            continue
        for name in (key, opt_key):
            if name is not None and not isinstance(state.get(name), dict):
                raise UserError(f"{ckpt_path}: no {name!r} (not a checkpoint of this --method / --mix)")
        load_strict(net, state[key], source=f"{ckpt_path} ({key})")
        if opt is not None:
            _load_optimizer(opt, state[opt_key], f"{ckpt_path} ({opt_key})")
    return state["epoch"], state["iter_in_epoch"], state["global_iter"], list(state["history"]), backbone


def _global_means(res: StepResult, device: torch.device) -> StepResult:
    """``res`` averaged over the ranks (one all-reduce): per-rank means over equal shards -> the global
    batch's means, the figures one process reports for the same batch."""
    from .distributed import all_mean

    w = list(res.mix_weights or ())
    sh = list(res.shares or ())
    vals = all_mean([res.loss, res.gen_loss or 0.0, *w, *sh], device)
    return StepResult(vals[0], None if res.gen_loss is None else vals[1],
                      None if res.mix_weights is None else tuple(vals[2:2 + len(w)]),
                      None if res.shares is None else (vals[2 + len(w)], vals[3 + len(w)]))


def _loader_worker_init(_worker_id: int) -> None:
    """DataLoader workers warp their crops with OpenCV single-threaded, as the main process does."""
    from ..determinism import set_opencv_single_threaded

    set_opencv_single_threaded()


def train(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False, model: nn.Module | None = None,
          progress: bool = True, device: str = "auto") -> dict[str, Any]:
    """Train per ``cfg`` into ``out_dir`` (``last.pth``, ``config.yaml``, ``history.json``).

    ``model`` overrides ``cfg.arch`` (any heatmap nn.Module); ``device`` is auto, cpu or cuda (where the
    run happens, not part of the recipe, so it is not in ``cfg``). Returns the run summary.

    OpenCV runs single-threaded meanwhile: a warped training crop's pixels depend on how OpenCV's
    thread pool splits the warp, i.e. on the machine's core count (``robustpose_bench/determinism.py``).

    Started by torchrun (RANK, WORLD_SIZE, LOCAL_RANK in the environment), each process trains its share
    of every global batch under DistributedDataParallel (``distributed.py``). Only rank 0 writes files
    and shows progress.
    """
    from ..determinism import opencv_single_threaded

    with opencv_single_threaded():
        return _train(cfg, out_dir, resume=resume, model=model, progress=progress, device=device)


def _train(cfg: TrainConfig, out_dir: str | Path, *, resume: bool, model: nn.Module | None, progress: bool,
           device: str) -> dict[str, Any]:
    import yaml
    from ..progress import progress_bar

    from ..provenance import base_provenance
    from . import distributed as ddp
    from .checkpoint import load_file_strict
    from .dataset_card import card_record
    from .nets import build_net
    from .nets.backbone import load_backbone_weights

    cfg.validate()
    card = apply_card(cfg)    # before anything is written: an unknown name or a bad card is one line
    card_rec = card_record(card)
    denv = ddp.torchrun_env()          # None: one process, exactly as before torchrun support
    world = denv.world_size if denv else 1
    is_main = denv is None or denv.is_main
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT_NAME
    if ckpt_path.exists() and not resume:
        raise UserError(f"{ckpt_path} exists: pass --resume to continue it, or choose another --out")
    if resume and not ckpt_path.exists():
        raise UserError(f"--resume: no checkpoint {ckpt_path}")
    backend = None
    if denv is None:
        dev = pick_device(device)
    else:
        dev, backend = ddp.distributed_device(device, denv)
        ddp.check_launch(cfg.batch_size, cfg.sync_bn, dev, denv)
    torch.manual_seed(cfg.seed)
    if cfg.deterministic:
        use_deterministic_kernels()
    num_joints = card.num_keypoints
    if model is None:
        model = build_net(cfg.arch, num_joints)
    if cfg.pretrained:
        load_file_strict(model, cfg.pretrained)
    backbone = None
    if cfg.backbone_weights and not resume:
        # Iteration 0 only (a resumed run's weights come from its checkpoint); under torchrun every rank
        # loads the same file here, before DDP wraps the net.
        backbone = load_backbone_weights(model, cfg.arch, cfg.backbone_weights)
    model.to(dev)
    _check_output_shape(model, cfg, num_joints, dev)
    teacher = None
    if cfg.method == "advmix" and cfg.kd and cfg.alpha > 0:
        if not cfg.pretrained:
            raise UserError("AdvMix distils from the pretrained model: give --pretrained CHECKPOINT "
                            "(e.g. a standard-training last.pth), or --no-kd")
        teacher = make_teacher(model)
    generator = None
    if cfg.method == "advmix" and cfg.mix in ("adv", "adv-image"):
        generator = build_generator(cfg).to(dev)
    stepper = Stepper(model, cfg, dev, teacher=teacher, generator=generator)

    dataset = build_dataset(cfg, card=card)
    if denv is not None:
        ddp.check_data(len(dataset), cfg.batch_size, cfg.grad_accum)
    step_batch = cfg.batch_size * cfg.grad_accum   # images per optimiser step (all processes together)
    iters_per_epoch = max(1, len(dataset) // step_batch) if len(dataset) >= step_batch else 1
    drop_last = len(dataset) >= step_batch
    start_epoch, start_iter, global_iter = 0, 0, 0
    history: list[dict[str, Any]] = []
    if resume:
        start_epoch, start_iter, global_iter, history, backbone = _resume(ckpt_path, cfg, model, stepper, world,
                                                                          card_rec)
    if denv is not None:
        # Every check that can refuse the launch has run: a bad launch never reaches the rendezvous, and
        # no rank writes before every rank got here.
        ddp.join_process_group(backend, dev, denv)
        stepper.distribute(denv.rank, world, sync_bn=cfg.sync_bn)
        model = stepper.net
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=True))
        meta = base_provenance()
        meta.update({
            "device": str(dev), "amp": stepper.use_amp, "seed": cfg.seed,
            "annotation_sha256": sha256_file(cfg.ann),
            "dataset_card": {"name": card.name, "sha256": card.sha256, "path": card.path},
            "pretrained_sha256": sha256_file(cfg.pretrained) if cfg.pretrained else None,
            "backbone_weights": backbone,   # file, sha256, key mapping, tensors loaded / ignored (or None)
            "num_persons": len(dataset), "iters_per_epoch": iters_per_epoch,
            "effective_batch": step_batch, "world_size": world, "backend": backend,
            "batch_per_process": cfg.batch_size // world, "sync_bn": bool(cfg.sync_bn and denv is not None),
            **cpu_numerics(),
            "cuda_device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        })
        atomic_write_json(out / "run.json", meta)

    def save(epoch: int, iter_in_epoch: int) -> None:
        if not is_main:
            return
        state = {
            "state_dict": model.state_dict(), "optimizer": stepper.opt.state_dict(),
            "epoch": epoch, "iter_in_epoch": iter_in_epoch, "global_iter": global_iter,
            "config": cfg.to_dict(), "history": history, "arch": cfg.arch, "world_size": world,
            "backbone_weights": backbone, "dataset_card": card_rec,
        }
        if generator is not None:
            state["generator"] = generator.state_dict()
            state["optimizer_g"] = stepper.opt_g.state_dict()
        if teacher is not None:
            state["teacher"] = teacher.state_dict()
        import io
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(ckpt_path, buf.getvalue())
        atomic_write_json(out / "history.json", history)

    total = cfg.epochs * iters_per_epoch
    if cfg.max_iters is not None:
        total = min(total, cfg.max_iters)
    bar = progress_bar(total=total, initial=min(global_iter, total), desc=f"train {cfg.method}", unit="it",
                       enabled=progress and is_main)
    stop = global_iter >= total
    epoch = start_epoch
    while not stop and epoch < cfg.epochs:
        for g in stepper.opt.param_groups:
            g["lr"] = _lr_at(cfg, epoch, cfg.lr)
        if stepper.opt_g is not None:
            for g in stepper.opt_g.param_groups:
                g["lr"] = _lr_at(cfg, epoch, cfg.generator_lr)
        dataset.set_epoch(epoch)
        perm_gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
        order = torch.randperm(len(dataset), generator=perm_gen).tolist()
        first = start_iter if epoch == start_epoch else 0
        if denv is None:
            sampler: torch.utils.data.Sampler[int] = _OffsetSampler(order, first * step_batch)
        else:   # this rank's rows r::W of the same global batches (distributed.rank_sampler)
            sampler = ddp.rank_sampler(dataset, cfg.seed * 100003, epoch, first * step_batch, denv)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=cfg.batch_size // world, sampler=sampler,
            num_workers=cfg.workers, drop_last=drop_last, pin_memory=dev.type == "cuda",
            worker_init_fn=_loader_worker_init if cfg.workers else None,
        )
        it = first
        for group in _grouped(loader, cfg.grad_accum, drop_last):
            rng = torch.Generator().manual_seed(cfg.seed * 1000003 + global_iter)
            res = stepper.step_accumulated(group, rng)
            if denv is not None:
                res = _global_means(res, dev)   # the same on every rank: all stop together on a NaN
            if not math.isfinite(res.loss):
                raise UserError(f"training diverged: the loss became {res.loss} at iteration {global_iter} "
                                f"(lr {cfg.lr}); {ckpt_path} keeps the last saved state")
            if not history or history[-1]["epoch"] != epoch:
                history.append({"epoch": epoch, "iters": 0, "loss_sum": 0.0, "gen_loss_sum": 0.0,
                                "last_loss": None})
            h = history[-1]
            h["iters"] += 1
            h["loss_sum"] += res.loss
            h["gen_loss_sum"] += res.gen_loss or 0.0
            if res.mix_weights is not None:   # per-proposal sums: divide by iters for the epoch's mean
                prev = h.get("mix_weight_sum") or [0.0] * len(res.mix_weights)
                h["mix_weight_sum"] = [a + b for a, b in zip(prev, res.mix_weights)]
            if res.shares is not None:        # (clean share, erased share) sums, likewise
                prev = h.get("share_sum") or [0.0, 0.0]
                h["share_sum"] = [a + b for a, b in zip(prev, res.shares)]
            h["last_loss"] = res.loss
            global_iter += 1
            it += 1
            bar.update(1)
            bar.set_postfix(loss=f"{res.loss:.3g}")
            if global_iter >= total:
                stop = True
                break
            if cfg.checkpoint_every and global_iter % cfg.checkpoint_every == 0:
                save(epoch, it)
        if stop and it < iters_per_epoch:
            save(epoch, it)
        else:
            epoch += 1
            save(epoch, 0)
    bar.close()
    if is_main and not ckpt_path.exists():
        save(epoch, 0)
    return {"out_dir": str(out), "checkpoint": str(ckpt_path), "global_iter": global_iter,
            "history": history, "device": str(dev)}
