"""Randomly initialised pose models with the real I/O signatures of popular exports.

No pretrained weights can be downloaded here; a seeded random model whose tensors have the real
names, shapes, layouts and value conventions still pins every convention the evaluator must follow
(preprocessing, decoding, geometry). The outputs depend on the image, so corrupted conditions give
other predictions.

- ``rtmpose``: mmdeploy/rtmlib RTMPose: ``input`` [N,3,256,192] -> ``simcc_x`` [N,17,384], ``simcc_y`` [N,17,512]
- ``yolo_pose``: ultralytics YOLO-pose ONNX export: ``images`` [1,3,640,640] -> ``output0`` [1,56,8400]
  (decoded boxes xywh in input pixels, class score after sigmoid, 17 x (x, y, visibility after sigmoid))
- ``rtmo``: RTMO end-to-end export: ``input`` [1,3,640,640] -> ``dets`` [1,P,5] + ``keypoints`` [1,P,17,3]
- ``higherhrnet``: an official HigherHRNet export with dynamic H and W: ``input`` [1,3,H,W] ->
  ``output_low`` [1,34,H/4,W/4] (17 heatmaps + 17 tags), ``output_high`` [1,17,H/2,W/2] (17 heatmaps)

Also used by benchmarks/bench_onestage.py.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn as nn


class TinyRTMPose(nn.Module):
    """Two stride-4 convs, then one linear layer per axis from each keypoint's feature map to its bins."""

    def __init__(self, height: int = 256, width: int = 192, k: int = 17, ratio: float = 2.0) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 5, stride=4, padding=2)
        self.c2 = nn.Conv2d(16, k, 3, stride=4, padding=1)
        cells = (height // 16) * (width // 16)
        self.fx = nn.Linear(cells, int(width * ratio))
        self.fy = nn.Linear(cells, int(height * ratio))

    def forward(self, x):
        f = self.c2(torch.relu(self.c1(x)))       # (N, K, H/16, W/16)
        f = f.flatten(2)
        return self.fx(f) * 4.0, self.fy(f) * 4.0   # logits with a spread, some negative


class TinyYoloPose(nn.Module):
    """Three feature levels (strides 8, 16, 32) and ultralytics' in-graph pose decoding."""

    def __init__(self, k: int = 17, size: int = 640) -> None:
        super().__init__()
        self.k = k
        self.s8 = nn.Conv2d(3, 8, 9, stride=8, padding=4)
        self.s16 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.s32 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.heads = nn.ModuleList(nn.Conv2d(8, 5 + 3 * k, 1) for _ in range(3))
        self.size = size

    def forward(self, x):
        f8 = torch.relu(self.s8(x))
        f16 = torch.relu(self.s16(f8))
        f32 = torch.relu(self.s32(f16))
        outs = []
        for f, head, s in zip((f8, f16, f32), self.heads, (8, 16, 32)):
            t = head(f)
            n, c, h, w = t.shape
            gy, gx = torch.meshgrid(torch.arange(h, dtype=t.dtype), torch.arange(w, dtype=t.dtype), indexing="ij")
            ax, ay = gx + 0.5, gy + 0.5
            cx = (ax + torch.tanh(t[:, 0])) * s
            cy = (ay + torch.tanh(t[:, 1])) * s
            bw = torch.exp(torch.clamp(t[:, 2], -2, 2)) * s * 3
            bh = torch.exp(torch.clamp(t[:, 3], -2, 2)) * s * 5
            cls = torch.sigmoid(t[:, 4] * 4 - 4)
            kx = (t[:, 5::3] * 2 + (ax - 0.5)) * s
            ky = (t[:, 6::3] * 2 + (ay - 0.5)) * s
            kv = torch.sigmoid(t[:, 7::3])
            kp = torch.stack([kx, ky, kv], dim=2).reshape(n, 3 * self.k, h, w)
            outs.append(torch.cat([torch.stack([cx, cy, bw, bh, cls], dim=1), kp], dim=1).flatten(2))
        return torch.cat(outs, dim=2)


class TinyRTMO(nn.Module):
    """Globally pooled features -> P persons: boxes in input pixels, scores, keypoints inside the box."""

    def __init__(self, persons: int = 24, k: int = 17, size: int = 640, channels: int = 8) -> None:
        super().__init__()
        self.p, self.k, self.size = persons, k, size
        self.c1 = nn.Conv2d(3, channels, 9, stride=8, padding=4)
        self.c2 = nn.Conv2d(channels, 16, 3, stride=4, padding=1)
        self.box = nn.Linear(16 * 4, persons * 5)
        self.kp = nn.Linear(16 * 4, persons * k * 3)

    def forward(self, x):
        f = torch.relu(self.c2(torch.relu(self.c1(x / 255.0))))              # RTMO takes raw 0..255 pixels
        f = nn.functional.adaptive_avg_pool2d(f, 2).flatten(1)                  # (N, 64)
        b = self.box(f * 20).view(-1, self.p, 5)
        x1 = torch.sigmoid(b[..., 0]) * self.size * 0.7
        y1 = torch.sigmoid(b[..., 1]) * self.size * 0.6
        w = torch.sigmoid(b[..., 2]) * self.size * 0.3 + 8
        h = torch.sigmoid(b[..., 3]) * self.size * 0.4 + 16
        score = torch.sigmoid(b[..., 4] * 3)
        dets = torch.stack([x1, y1, x1 + w, y1 + h, score], dim=-1)
        k = self.kp(f * 20).view(-1, self.p, self.k, 3)
        kx = x1[..., None] + torch.sigmoid(k[..., 0]) * w[..., None]
        ky = y1[..., None] + torch.sigmoid(k[..., 1]) * h[..., None]
        return dets, torch.stack([kx, ky, torch.sigmoid(k[..., 2])], dim=-1)


class TinyHigherHRNet(nn.Module):
    """Stride-2 and stride-4 features; heatmaps squashed to [0, 1) with sparse peaks, tags spread over
    a few units, so the grouping sees several candidates per joint and several persons."""

    def __init__(self, k: int = 17) -> None:
        super().__init__()
        self.k = k
        self.c2 = nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.c4 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.low = nn.Conv2d(8, 2 * k, 3, padding=1)
        self.high = nn.Conv2d(8, k, 3, padding=1)

    def forward(self, x):
        f2 = torch.relu(self.c2(x))
        f4 = torch.relu(self.c4(f2))
        low = self.low(f4)
        heat_low = torch.sigmoid(low[:, : self.k] * 4 - 5)
        return torch.cat([heat_low, low[:, self.k:] * 3], dim=1), torch.sigmoid(self.high(f2) * 4 - 5)


def _export(net: nn.Module, x: torch.Tensor, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict | None = None) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), input_names=inputs, output_names=outputs, opset_version=17,
                          dynamic_axes=dynamic, dynamo=False)
    return path


def export_rtmpose(folder: Path, seed: int = 0, height: int = 256, width: int = 192) -> Path:
    torch.manual_seed(seed)
    net = TinyRTMPose(height, width).eval()
    return _export(net, torch.zeros(1, 3, height, width), folder / "rtmpose_tiny.onnx", ["input"],
                   ["simcc_x", "simcc_y"], {"input": {0: "n"}, "simcc_x": {0: "n"}, "simcc_y": {0: "n"}})


def export_yolo_pose(folder: Path, seed: int = 0, size: int = 640) -> Path:
    torch.manual_seed(seed)
    net = TinyYoloPose(size=size).eval()
    return _export(net, torch.zeros(1, 3, size, size), folder / "yolo_pose_tiny.onnx", ["images"], ["output0"])


def export_rtmo(folder: Path, seed: int = 0, size: int = 640, torchscript: bool = False, channels: int = 8) -> Path:
    """``channels`` widens the first convolution (the benchmark's heavier variant)."""
    torch.manual_seed(seed)
    net = TinyRTMO(size=size, channels=channels).eval()
    if torchscript:
        path = folder / f"rtmo_tiny{'' if channels == 8 else channels}.pt"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.trace(net, torch.zeros(1, 3, size, size)), str(path))
        return path
    name = f"rtmo_tiny{'' if channels == 8 else channels}.onnx"
    return _export(net, torch.zeros(1, 3, size, size), folder / name, ["input"], ["dets", "keypoints"])


def export_higherhrnet(folder: Path, seed: int = 0, dynamic: bool = True) -> Path:
    """``dynamic``: H and W as dynamic axes, as the official models must be exported (else 512x512)."""
    torch.manual_seed(seed)
    net = TinyHigherHRNet().eval()
    axes = {"input": {2: "h", 3: "w"}, "output_low": {2: "h4", 3: "w4"}, "output_high": {2: "h2", 3: "w2"}}
    name = "higherhrnet_tiny.onnx" if dynamic else "higherhrnet_tiny_static.onnx"
    return _export(net, torch.zeros(1, 3, 512, 512), folder / name, ["input"], ["output_low", "output_high"],
                   axes if dynamic else None)
