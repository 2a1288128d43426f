"""The input geometries of one-stage models, and their exact inverses, in the conventions in use.

A one-stage model takes the whole image: resized keeping its aspect ratio, then padded. The
conventions differ in rounding, placement and inversion, and a pose's pixels move by up to a few
pixels between them, so each is reproduced as its reference does it.

Letterboxes to a fixed input size (``input.resize: letterbox``):

- ``center`` (ultralytics ``LetterBox`` + ``ops.scale_boxes`` / ``ops.scale_coords``): the resized
  size is ``round(side * r)`` (Python's round, half to even), at least 1 px; the padding is split
  ``round(d - 0.1)`` before and ``round(d + 0.1)`` after; the inverse subtracts the padding, divides
  by the per-axis gain ``new_size / old_size`` and clips to ``[0, w]`` x ``[0, h]``.
- ``top-left`` (rtmlib's RTMO, mmdet/YOLOX style): the resized size is ``int(side * r)``
  (truncated); the image sits at the top-left corner; the inverse divides by ``r`` and does not clip.
  An image that already has the input size is used as is.

Resizing is ``cv2.INTER_LINEAR`` in both. Arithmetic on coordinates is float32, as the references
do it on float32 tensors.

mmpose's evaluation pipeline for RTMO (``input.resize: bottomup``, :class:`BottomupResize`):
``BottomupResize`` (``resize_mode='fit'``, no UDP) is no letterbox but a centred affine warp: the
image centre ``(w/2, h/2)`` goes to the input's centre with the non-integer scale
``min(W/w, H/h)``, pad 114, so a 427x640 image sits at (0, 106.5) of a 640x640 input where the
letterboxes put it at (0, 0) or (0, 106); keypoints and boxes come back as
``p / input_size * input_scale + input_center - input_scale / 2`` (``BottomupPoseEstimator.
add_pred_to_datasample``), in float64 from float32 centre and scale, as mmpose computes it.

A size of its own per image (``input.resize: short-side-align64``, :class:`AlignedResize`):
HigherHRNet's ``get_multi_scale_size`` / ``resize_align_multi_scale`` at scale 1: the short side
becomes the model's size, the long side the scaled length made a multiple of 64, through
HRNet's centre/scale affine (``cv2.warpAffine``, bilinear, black outside); the inverse is
``get_final_preds`` (``topdown.transform_preds``).

Everything here is numpy and OpenCV; no library offers these conventions outside the frameworks
themselves, hence this module (docs/model_spec.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import topdown

ALIGNS = ("center", "top-left")


@dataclass(frozen=True)
class Letterbox:
    """The geometry of one letterbox: source (h, w) -> input (h, w), and back."""

    align: str
    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    new_wh: tuple[int, int]     # the resized image inside the input, (w, h)
    left: int
    top: int
    right: int
    bottom: int
    ratio: float                # min(dst_h / src_h, dst_w / src_w)

    def apply(self, image: np.ndarray, pad_value: int) -> np.ndarray:
        """(h, w, 3) uint8 image -> (H, W, 3) uint8 letterboxed input."""
        h, w = image.shape[:2]
        if (h, w) != self.src_hw:
            raise ValueError(f"letterbox made for a {self.src_hw} image, got {(h, w)}")
        if self.align == "top-left":
            if (h, w) == self.dst_hw:
                return image.copy()
            out = np.full((*self.dst_hw, 3), pad_value, np.uint8)
            resized = cv2.resize(image, self.new_wh, interpolation=cv2.INTER_LINEAR)
            out[: self.new_wh[1], : self.new_wh[0]] = resized
            return out
        img = image if (w, h) == self.new_wh else cv2.resize(image, self.new_wh, interpolation=cv2.INTER_LINEAR)
        return cv2.copyMakeBorder(img, self.top, self.bottom, self.left, self.right, cv2.BORDER_CONSTANT,
                                  value=(pad_value,) * 3)

    def _gains(self) -> tuple[np.float32, np.float32]:
        """Per-axis (x, y) scale from image to input pixels, as the inverse uses it."""
        if self.align == "top-left":
            r = np.float32(self.ratio)
            return r, r
        h, w = self.src_hw
        return np.float32(self.new_wh[0] / w), np.float32(self.new_wh[1] / h)

    def points_to_image(self, xy: np.ndarray, clip: bool | None = None) -> np.ndarray:
        """(..., 2) input-pixel points -> image pixels (float32). ``clip`` defaults to the convention's."""
        out = np.array(xy, dtype=np.float32, copy=True)
        gx, gy = self._gains()
        if self.align == "center":
            out[..., 0] -= np.float32(self.left)
            out[..., 1] -= np.float32(self.top)
        out[..., 0] /= gx
        out[..., 1] /= gy
        if clip if clip is not None else self.align == "center":
            h, w = self.src_hw
            out[..., 0] = out[..., 0].clip(0, w)
            out[..., 1] = out[..., 1].clip(0, h)
        return out

    def boxes_to_image(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) input-pixel boxes -> image pixels (clipped as the convention does)."""
        b = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 2, 2)
        return self.points_to_image(b).reshape(-1, 4)


def make_letterbox(src_hw: tuple[int, int], dst_hw: tuple[int, int], align: str) -> Letterbox:
    """The letterbox of a ``src_hw`` image into a ``dst_hw`` input with ``align`` ('center' / 'top-left')."""
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {', '.join(ALIGNS)}, got {align!r}")
    h, w = int(src_hw[0]), int(src_hw[1])
    H, W = int(dst_hw[0]), int(dst_hw[1])
    r = min(H / h, W / w)
    if align == "top-left":
        nw, nh = (w, h) if (h, w) == (H, W) else (int(w * r), int(h * r))
        return Letterbox(align, (h, w), (H, W), (nw, nh), 0, 0, W - nw, H - nh, r)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (W - nw) / 2, (H - nh) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    return Letterbox(align, (h, w), (H, W), (nw, nh), left, top, right, bottom, r)


@dataclass(frozen=True)
class AlignedResize:
    """HigherHRNet's test-time resize of one image, and back (``lib/utils/transforms.py``).

    ``center`` (int, the image centre rounded half up) and ``scale`` (float64, units of 200 px) are
    the values the official code passes to ``get_final_preds``; ``size_wh`` is the input (and
    projected heatmap) size.
    """

    src_hw: tuple[int, int]
    size_wh: tuple[int, int]
    center: np.ndarray
    scale: np.ndarray

    @property
    def dst_hw(self) -> tuple[int, int]:
        return self.size_wh[1], self.size_wh[0]

    def apply(self, image: np.ndarray, pad_value: int = 0) -> np.ndarray:
        """(h, w, 3) uint8 image -> the resized input, ``pad_value`` outside the image (official: 0)."""
        if image.shape[:2] != self.src_hw:
            raise ValueError(f"resize made for a {self.src_hw} image, got {image.shape[:2]}")
        t = topdown.get_affine_transform(self.center, self.scale, self.size_wh)
        return cv2.warpAffine(image, t, self.size_wh, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(pad_value,) * 3)

    def points_to_image(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) input (= projected heatmap) pixels -> image pixels, float32 (``get_final_preds``)."""
        pts = np.asarray(xy, dtype=np.float32)
        out = topdown.transform_preds(pts.reshape(-1, 2), self.center, self.scale, self.size_wh)
        return out.astype(np.float32).reshape(pts.shape)


def make_aligned_resize(src_hw: tuple[int, int], input_size: int) -> AlignedResize:
    """``get_multi_scale_size(image, input_size, 1.0, 1.0)``: the short side becomes ``input_size``
    (itself first made a multiple of 64), the long side keeps the aspect ratio as
    ``(input_size * long / short + 63) // 64 * 64`` (so 768.5 gives 768, not 832). Python float
    arithmetic in the official order, so sizes and scale match."""
    h, w = int(src_hw[0]), int(src_hw[1])
    center = np.array([int(w / 2.0 + 0.5), int(h / 2.0 + 0.5)])
    short = int((1.0 * input_size + 63) // 64 * 64)
    if w < h:
        w_resized, h_resized = short, int((short / w * h + 63) // 64 * 64)
        scale = np.array([w / 200.0, h_resized / w_resized * w / 200.0])
    else:
        h_resized, w_resized = short, int((short / h * w + 63) // 64 * 64)
        scale = np.array([w_resized / h_resized * h / 200.0, h / 200.0])
    return AlignedResize((h, w), (w_resized, h_resized), center, scale)


@dataclass(frozen=True)
class BottomupResize:
    """mmpose's ``BottomupResize`` of one image into a fixed (H, W) input, and back (module docstring).

    ``center`` and ``scale`` are mmpose's ``input_center`` and ``input_scale`` (float32, image
    pixels), ``matrix`` the 2x3 warp ``get_warp_matrix`` gives them.
    """

    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    center: np.ndarray
    scale: np.ndarray
    matrix: np.ndarray

    def apply(self, image: np.ndarray, pad_value: int = 114) -> np.ndarray:
        """(h, w, 3) uint8 image -> the (H, W, 3) input, ``pad_value`` outside the image."""
        if image.shape[:2] != self.src_hw:
            raise ValueError(f"resize made for a {self.src_hw} image, got {image.shape[:2]}")
        H, W = self.dst_hw
        return cv2.warpAffine(image, self.matrix, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(pad_value,) * 3)

    def points_to_image(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) input pixels -> image pixels, float64: ``p / size * scale + centre - scale / 2``."""
        size = np.array([self.dst_hw[1], self.dst_hw[0]], dtype=np.int64)  # mmpose's (w, h) tuple of ints
        pts = np.asarray(xy, dtype=np.float32)
        return pts / size * self.scale + self.center - 0.5 * self.scale


def bottomup_warp_matrix(center: np.ndarray, scale: np.ndarray, output_wh: tuple[int, int]) -> np.ndarray:
    """mmpose's ``get_warp_matrix`` without rotation or shift: the box of width ``scale[0]`` centred at
    ``center`` onto ``output_wh``, built from the point half a width to the *left* of the centre (HRNet's
    and rtmlib's warps use the point above it; the matrices agree to float32 rounding, not bit for bit).
    The points are summed in float64 and stored as float32, as mmpose does."""
    dst_w, dst_h = float(output_wh[0]), float(output_wh[1])
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = np.asarray(center, dtype=np.float64) + np.array([float(scale[0]) * -0.5, 0.0])
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = [dst_w * 0.5 + dst_w * -0.5, dst_h * 0.5]
    src[2] = topdown._third_point(src[0], src[1])
    dst[2] = topdown._third_point(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


def make_bottomup(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> BottomupResize:
    """``BottomupResize(input_size=(W, H))`` of a ``src_hw`` image (``resize_mode='fit'``): the image is
    scaled to fit (``min(W, H * w / h)`` by ``min(H, W * h / w)``, not rounded) and centred."""
    h, w = int(src_hw[0]), int(src_hw[1])
    H, W = int(dst_hw[0]), int(dst_hw[1])
    ratio = w / h
    rsz_w, rsz_h = min(W, H * ratio), min(H, W / ratio)
    center = np.array([w / 2, h / 2], dtype=np.float32)
    scale = np.array([w * W / rsz_w, h * H / rsz_h], dtype=np.float32)
    return BottomupResize((h, w), (H, W), center, scale, bottomup_warp_matrix(center, scale, (W, H)))
