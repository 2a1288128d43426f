"""HRNet's JointsMSELoss with target weights: real MSE (the official AdvMix code's "MSE" is SmoothL1).

loss = 1/K * sum_k 0.5 * mean_{n,pixels} ((pred - gt) * w_nk)^2, i.e. 0.5 * the mean over all
elements of the weighted squared error, exactly as HRNet's per-joint loop computes it.
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


def pose_loss(pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor,
              teacher: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """(1-alpha) * MSE(pred, target) + alpha * MSE(pred, teacher); alpha 0 or no teacher = no KD term at all."""
    gt = joints_mse_loss(pred, target, target_weight)
    if teacher is None or alpha == 0:
        return gt
    return (1 - alpha) * gt + alpha * joints_mse_loss(pred, teacher, target_weight)
