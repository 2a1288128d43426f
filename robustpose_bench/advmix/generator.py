"""The AdvMix mixing generator: a pix2pix-style U-Net that outputs per-pixel mixing logits.

As in the official ``Unet_generator.py`` (pix2pix's UnetSkipConnectionBlock without tanh):
4x4 stride-2 convolutions, InstanceNorm (no affine, no running stats), LeakyReLU(0.2) going down,
ReLU going up, skip connections by concatenation, 64 base channels doubling up to 512. Input: the
K+1 proposals concatenated (3(K+1) channels); output: K+1 logits per pixel, softmaxed over the
proposal axis by :func:`mix_weights`.
"""
from __future__ import annotations

import torch
from torch import nn


class UnetBlock(nn.Module):
    """One U-Net level: down (conv), the inner block, up (transposed conv), skip by concatenation."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False):
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        # InstanceNorm has no affine shift, so the convolutions keep their bias (pix2pix's use_bias).
        downconv = nn.Conv2d(input_nc, inner_nc, 4, 2, 1, bias=True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1)
            layers = [downconv, submodule, nn.ReLU(True), upconv]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=True)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, nn.InstanceNorm2d(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=True)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.InstanceNorm2d(inner_nc), submodule,
                      nn.ReLU(True), upconv, nn.InstanceNorm2d(outer_nc)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def max_levels(height: int, width: int, wanted: int = 6) -> int:
    """Most down/up levels (<= wanted) that divide H and W exactly and leave >= 2x2 at the bottom.

    6 at 256x192 (bottleneck 4x3) as in the paper; fewer for small crops, because InstanceNorm
    needs more than one pixel and the skips need exact halving.
    """
    n = 0
    while n < wanted and height % 2 ** (n + 1) == 0 and width % 2 ** (n + 1) == 0 \
            and height // 2 ** (n + 1) * (width // 2 ** (n + 1)) >= 2:
        n += 1
    if n < 2:
        raise ValueError(f"input {height}x{width} is too small for the U-Net generator (needs >= 2 levels)")
    return n


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` levels; channels ngf, 2ngf, 4ngf, 8ngf, 8ngf, ... (capped at 8ngf)."""

    def __init__(self, num_proposals: int = 3, num_downs: int = 6, ngf: int = 64):
        super().__init__()
        if num_downs < 2:
            raise ValueError("the generator needs at least 2 levels")
        chans = [min(ngf * 2 ** i, ngf * 8) for i in range(num_downs)]
        # Build from the innermost level outwards, as pix2pix does.
        # Level i has chans[i] inner channels and chans[i-1] outer ones (level 0: the proposals).
        block = UnetBlock(chans[-2], chans[-1], innermost=True)
        for lvl in range(num_downs - 2, 0, -1):
            block = UnetBlock(chans[lvl - 1], chans[lvl], submodule=block)
        self.model = UnetBlock(num_proposals, chans[0], input_nc=3 * num_proposals, submodule=block, outermost=True)
        self.num_proposals = num_proposals

    def forward(self, proposals: torch.Tensor) -> torch.Tensor:
        """``proposals`` (N, P, 3, H, W) -> logits (N, P, H, W)."""
        n, p, c, h, w = proposals.shape
        x = proposals.reshape(n, p * c, h, w)
        if self.model.model[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)   # match a channels-last generator
        return self.model(x)


def mix_weights(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel mixing weights: softmax over the proposal axis (dim 1), >= 0 and summing to 1."""
    return torch.softmax(logits, dim=1)


def mix(proposals: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum of (N, P, 3, H, W) proposals with (N, P, H, W) or (N, P, 1, 1) weights, in normalised space."""
    if weights.dim() == 2:
        weights = weights[:, :, None, None]
    return (proposals * weights.unsqueeze(2)).sum(dim=1)
