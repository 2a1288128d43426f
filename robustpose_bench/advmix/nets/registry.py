"""Explicit registry of trainable architectures: name -> builder(num_joints) -> nn.Module.

Every model maps (N, 3, H, W) normalised RGB to (N, K, H/4, W/4) heatmaps. The trainer accepts
any such ``nn.Module``; these are the ones shipped. ``simplebaseline_r18_small`` (ResNet-18 at
width 16 with 64-channel deconvs) exists for CPU tests and benchmarks only.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from ...errors import UserError
from .hrnet import PoseHighResolutionNet
from .simplebaseline import PoseResNet


def _sb(depth: int, width: int = 64, deconv: tuple[int, ...] = (256, 256, 256)) -> Callable[[int], nn.Module]:
    def build(num_joints: int) -> nn.Module:
        return PoseResNet(depth=depth, num_joints=num_joints, deconv_filters=deconv, width=width)
    return build


def _hr(width: int) -> Callable[[int], nn.Module]:
    def build(num_joints: int) -> nn.Module:
        return PoseHighResolutionNet(width=width, num_joints=num_joints)
    return build


ARCHS: dict[str, Callable[[int], nn.Module]] = {
    "simplebaseline_r18": _sb(18),
    "simplebaseline_r50": _sb(50),
    "simplebaseline_r101": _sb(101),
    "simplebaseline_r152": _sb(152),
    "hrnet_w32": _hr(32),
    "hrnet_w48": _hr(48),
    "simplebaseline_r18_small": _sb(18, width=16, deconv=(64, 64, 64)),
}


def build_net(arch: str, num_joints: int) -> nn.Module:
    """Build a registered architecture; unknown names are a user error listing the known ones."""
    try:
        builder = ARCHS[arch]
    except KeyError:
        raise UserError(f"unknown --arch {arch!r} (known: {', '.join(ARCHS)})") from None
    return builder(num_joints)
