"""HRNet (Sun et al. 2019) for top-down pose, W32 and W48, with ``pose_hrnet.py``'s key names.

Structure and key names follow HRNet's ``lib/models/pose_hrnet.py`` so that official checkpoints
(``pose_hrnet_w32_256x192.pth`` ...) load strictly: ``conv1, bn1, conv2, bn2`` (two stride-2 3x3
stems), ``layer1`` (4 Bottlenecks to 256 channels), ``transition1..3`` (ModuleLists; ``None`` entries
hold no keys, new branches are ``transitionN.i.0.{0,1}``), ``stage2..4`` (Sequentials of modules with
``branches.b.k.*`` and ``fuse_layers.i.j.*``), ``final_layer`` (1x1 conv from the highest-resolution
branch). The last module of stage 4 outputs only the high-resolution branch, as in the official code,
so its ``fuse_layers`` has one row. Output stride 4.
"""
from __future__ import annotations

import torch
from torch import nn

from .simplebaseline import BN_MOMENTUM, BasicBlock, Bottleneck

# (num_modules, num_blocks per branch) of stages 2..4; channels are width * (1, 2, 4, 8).
_STAGES = ((1, (4, 4)), (4, (4, 4, 4)), (3, (4, 4, 4, 4)))


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by all-to-all fusion (sum)."""

    def __init__(self, num_inchannels: list[int], num_blocks: tuple[int, ...], num_channels: list[int],
                 multi_scale_output: bool = True):
        super().__init__()
        self.num_inchannels = list(num_inchannels)
        self.num_branches = len(num_channels)
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            self._make_branch(b, num_blocks[b], num_channels[b]) for b in range(self.num_branches)
        )
        self.fuse_layers = self._make_fuse_layers()
        self.relu = nn.ReLU(inplace=True)

    def _make_branch(self, b: int, blocks: int, channels: int) -> nn.Sequential:
        downsample = None
        if self.num_inchannels[b] != channels * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.num_inchannels[b], channels, 1, 1, bias=False),
                nn.BatchNorm2d(channels, momentum=BN_MOMENTUM),
            )
        layers = [BasicBlock(self.num_inchannels[b], channels, 1, downsample)]
        self.num_inchannels[b] = channels * BasicBlock.expansion
        layers += [BasicBlock(self.num_inchannels[b], channels) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _make_fuse_layers(self) -> nn.ModuleList | None:
        if self.num_branches == 1:
            return None
        c = self.num_inchannels
        rows = []
        for i in range(self.num_branches if self.multi_scale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(nn.Sequential(
                        nn.Conv2d(c[j], c[i], 1, 1, 0, bias=False),
                        nn.BatchNorm2d(c[i], momentum=BN_MOMENTUM),
                        nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                    ))
                elif j == i:
                    row.append(None)
                else:
                    steps: list[nn.Module] = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            steps.append(nn.Sequential(
                                nn.Conv2d(c[j], c[i], 3, 2, 1, bias=False),
                                nn.BatchNorm2d(c[i], momentum=BN_MOMENTUM),
                            ))
                        else:
                            steps.append(nn.Sequential(
                                nn.Conv2d(c[j], c[j], 3, 2, 1, bias=False),
                                nn.BatchNorm2d(c[j], momentum=BN_MOMENTUM),
                                nn.ReLU(inplace=True),
                            ))
                    row.append(nn.Sequential(*steps))
            rows.append(nn.ModuleList(row))
        return nn.ModuleList(rows)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else row[0](x[0])
            for j in range(1, self.num_branches):
                y = y + (x[j] if i == j else row[j](x[j]))
            out.append(self.relu(y))
        return out


def _transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
    layers: list[nn.Module | None] = []
    for i in range(len(cur)):
        if i < len(pre):
            if cur[i] != pre[i]:
                layers.append(nn.Sequential(
                    nn.Conv2d(pre[i], cur[i], 3, 1, 1, bias=False),
                    nn.BatchNorm2d(cur[i], momentum=BN_MOMENTUM),
                    nn.ReLU(inplace=True),
                ))
            else:
                layers.append(None)
        else:
            steps = []
            for j in range(i + 1 - len(pre)):
                cin = pre[-1]
                cout = cur[i] if j == i - len(pre) else cin
                steps.append(nn.Sequential(
                    nn.Conv2d(cin, cout, 3, 2, 1, bias=False),
                    nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
                    nn.ReLU(inplace=True),
                ))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class PoseHighResolutionNet(nn.Module):
    """HRNet-W``width`` (32 or 48 in the paper) producing ``num_joints`` heatmaps at stride 4."""

    def __init__(self, width: int = 32, num_joints: int = 17):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        downsample = nn.Sequential(nn.Conv2d(64, 256, 1, 1, bias=False), nn.BatchNorm2d(256, momentum=BN_MOMENTUM))
        self.layer1 = nn.Sequential(
            Bottleneck(64, 64, 1, downsample), *[Bottleneck(256, 64) for _ in range(3)]
        )
        pre = [256]
        for s, (num_modules, num_blocks) in enumerate(_STAGES, start=2):
            channels = [width * 2 ** b for b in range(len(num_blocks))]
            setattr(self, f"transition{s - 1}", _transition(pre, channels))
            modules = []
            inch = list(channels)
            for m in range(num_modules):
                multi = not (s == 4 and m == num_modules - 1)
                mod = HighResolutionModule(inch, num_blocks, channels, multi_scale_output=multi)
                inch = mod.num_inchannels
                modules.append(mod)
            setattr(self, f"stage{s}", nn.Sequential(*modules))
            pre = channels
        self.final_layer = nn.Conv2d(width, num_joints, 1, 1, 0)
        self._init_weights()

    def _init_weights(self) -> None:
        # As HRNet's init_weights: normal(std=0.001) convs, zero biases, BN 1/0.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _run_transition(trans: nn.ModuleList, xs: list[torch.Tensor], n: int) -> list[torch.Tensor]:
        out = []
        for i in range(n):
            t = trans[i]
            if t is None:
                out.append(xs[i])
            else:
                # New branches grow from the lowest-resolution output, as in pose_hrnet.py.
                out.append(t(xs[i] if i < len(xs) else xs[-1]))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        xs = [x]
        for s in (2, 3, 4):
            n = len(_STAGES[s - 2][1])
            xs = self._run_transition(getattr(self, f"transition{s - 1}"), xs, n)
            for mod in getattr(self, f"stage{s}"):
                xs = mod(xs)
        return self.final_layer(xs[0])
