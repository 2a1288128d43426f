"""HRNet's JointsMSELoss with target weights: real MSE (the official AdvMix code's "MSE" is SmoothL1).

loss = 1/K * sum_k 0.5 * mean_{n,pixels} ((pred - gt) * w_nk)^2, i.e. 0.5 * the mean over all
elements of the weighted squared error, exactly as HRNet's per-joint loop computes it.

``smoothl1`` is the official AdvMix ``JointsMSELoss`` at its default (``smooth_L1=False`` selects
``nn.SmoothL1Loss``, beta 1, mean): 1/K * sum_k 0.5 * SmoothL1(pred * w, gt * w). On heatmaps in
[0, 1] every |difference| is below 1, where SmoothL1 is 0.5 d^2, so it is half the MSE loss; it
differs only where a prediction is off by more than 1.
"""
from __future__ import annotations

import torch


def joints_mse_loss(pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
    """``pred``/``target`` (N, K, h, w), ``target_weight`` (N, K, 1) -> scalar loss (float32)."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    w = target_weight.reshape(target_weight.shape[0], target_weight.shape[1], 1, 1).float()
    diff = (pred.float() - target.float()) * w
    return 0.5 * diff.pow(2).mean()


def joints_smoothl1_loss(pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
    """The official AdvMix criterion: 0.5 * SmoothL1(beta 1) of the weighted maps, mean over all elements."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    w = target_weight.reshape(target_weight.shape[0], target_weight.shape[1], 1, 1).float()
    return 0.5 * torch.nn.functional.smooth_l1_loss(pred.float() * w, target.float() * w, beta=1.0)


LOSSES = {"mse": joints_mse_loss, "smoothl1": joints_smoothl1_loss}


def pose_loss(pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor,
              teacher: torch.Tensor | None, alpha: float, kind: str = "mse") -> torch.Tensor:
    """(1-alpha) * L(pred, target) + alpha * L(pred, teacher), L the ``kind`` loss; alpha 0 or no teacher =
    no KD term at all."""
    loss = LOSSES[kind]
    gt = loss(pred, target, target_weight)
    if teacher is None or alpha == 0:
        return gt
    return (1 - alpha) * gt + alpha * loss(pred, teacher, target_weight)
