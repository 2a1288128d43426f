"""Top-down geometry and decoding against independent, loop-style re-computations of HRNet's formulas.

The oracles below follow HRNet's ``lib/core/inference.py``, ``lib/nms/nms.py`` and the DARK paper one
keypoint at a time (plain Python loops); ``robustpose_bench.topdown`` is vectorised, so agreement
checks the vectorisation as well as the formulas.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from robustpose_bench import topdown as td


# ----------------------------------------------------------------------------------------------
# oracles (HRNet structure, one keypoint at a time)


def oracle_final_coords(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, k, h, w = hm.shape
    coords = np.zeros((n, k, 2))
    vals = np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            m = hm[i, j]
            idx = int(np.argmax(m))
            v = float(m.reshape(-1)[idx])
            x, y = (idx % w, idx // w) if v > 0 else (0, 0)
            px, py = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                dx = m[py][px + 1] - m[py][px - 1]
                dy = m[py + 1][px] - m[py - 1][px]
                x += np.sign(dx) * 0.25
                y += np.sign(dy) * 0.25
            coords[i, j] = (x, y)
            vals[i, j] = v
    return coords, vals


def oracle_oks_nms(kpts: np.ndarray, scores: np.ndarray, areas: np.ndarray, thr: float) -> list[int]:
    var = (td.COCO_SIGMAS * 2) ** 2
    order = list(np.argsort(scores)[::-1])
    keep = []
    while order:
        i = order[0]
        keep.append(int(i))
        rest = []
        for j in order[1:]:
            e = ((kpts[j, :, 0] - kpts[i, :, 0]) ** 2 + (kpts[j, :, 1] - kpts[i, :, 1]) ** 2) / var / (
                (areas[i] + areas[j]) / 2 + np.spacing(1)) / 2
            if np.sum(np.exp(-e)) / len(e) <= thr:
                rest.append(j)
        order = rest
    return keep


def gaussian_map(h: int, w: int, cx: float, cy: float, sigma: float = 2.0) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# boxes, affine, warp


def test_box_to_center_scale_hrnet_values():
    c, s = td.box_to_center_scale([10, 20, 100, 50], aspect_ratio=192 / 256)
    np.testing.assert_allclose(c, [60, 45])
    # wide box: height grown to w / 0.75, then both x1.25, in units of 200 px
    np.testing.assert_allclose(s, [100 / 200 * 1.25, 100 / 0.75 / 200 * 1.25], rtol=1e-6)
    c, s = td.box_to_center_scale([0, 0, 30, 120], aspect_ratio=0.75)
    np.testing.assert_allclose(s, [120 * 0.75 / 200 * 1.25, 120 / 200 * 1.25], rtol=1e-6)


def test_clean_gt_box_clips_like_hrnet():
    assert td.clean_gt_box([-5, 10, 50, 40], 1000, 100, 200) == [0.0, 10.0, 49.0, 39.0]
    assert td.clean_gt_box([90, 10, 50, 40], 1000, 100, 200) == [90.0, 10.0, 9.0, 39.0]
    assert td.clean_gt_box([10, 10, 5, 5], 0, 100, 200) is None  # zero area


def test_mpii_center_scale_hrnet():
    c, s = td.mpii_center_scale([100, 200], 2.0)
    np.testing.assert_allclose(c, [99, 200 + 15 * 2 - 1])
    np.testing.assert_allclose(s, [2.5, 2.5])
    _, s = td.mpii_center_scale([100, 200], 2.0, aspect_ratio=0.75)
    np.testing.assert_allclose(s, [2.5, 2.5 / 0.75], rtol=1e-6)


def test_affine_maps_box_onto_output():
    c, s = np.array([300.0, 200.0], np.float32), np.array([1.0, 4 / 3], np.float32)  # 200 x 266.7 px box
    size = (192, 256)
    t = td.get_affine_transform(c, s, size)
    apply = lambda p: t @ np.array([p[0], p[1], 1.0])  # noqa: E731
    np.testing.assert_allclose(apply(c), [96, 128], atol=1e-4)
    np.testing.assert_allclose(apply(c - s * 100), [0, 0], atol=1e-3)  # top-left of the box -> (0, 0)
    np.testing.assert_allclose(apply(c + s * 100), [192, 256], atol=1e-3)
    pts = np.array([[10.0, 20.0], [150.0, 30.0], [96.0, 128.0]])
    fwd = (np.c_[pts, np.ones(3)] @ td.get_affine_transform(c, s, size, inv=True).T)
    np.testing.assert_allclose(np.c_[fwd, np.ones(3)] @ t.T, pts, atol=1e-3)
    np.testing.assert_allclose(td.transform_preds(pts, c, s, size), fwd, atol=1e-6)


def test_warp_crop_puts_a_point_where_the_affine_says():
    img = np.zeros((400, 600, 3), np.uint8)
    img[246:255, 326:335] = (255, 128, 0)  # a 9 x 9 blob centred on (330, 250): survives the 4x downscale
    c, s = td.box_to_center_scale([250, 150, 120, 160], 0.75)
    crop = td.warp_crop(img, c, s, (48, 64))
    assert crop.shape == (64, 48, 3)
    t = td.get_affine_transform(c, s, (48, 64))
    x, y = t @ np.array([330, 250, 1.0])
    w = crop[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0:64, 0:48]
    cx, cy = (w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()
    assert abs(cx - x) < 0.3 and abs(cy - y) < 0.3
    yy, xx = int(round(cy)), int(round(cx))
    # the channel order survives the warp
    assert crop[yy, xx, 0] >= crop[yy, xx, 1] >= crop[yy, xx, 2]


def test_preprocess_layouts_and_normalisation():
    crops = np.random.default_rng(0).integers(0, 256, size=(2, 4, 3, 3), dtype=np.uint8)
    mean = (10.0, 20.0, 30.0)
    x = td.preprocess(crops, "NCHW", "float32", "RGB", mean, (2.0, 4.0, 5.0))
    assert x.shape == (2, 3, 4, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[1, 2, 3, 1], (crops[1, 3, 1, 2] - mean[2]) / 5.0, rtol=1e-6)
    b = td.preprocess(crops, "NHWC", "uint8", "BGR", (0, 0, 0), (1, 1, 1))
    assert b.dtype == np.uint8 and np.array_equal(b[..., 0], crops[..., 2])


# ----------------------------------------------------------------------------------------------
# heatmap decoding


def test_decode_default_matches_hrnet_loop():
    rng = np.random.default_rng(3)
    hm = rng.normal(size=(4, 17, 16, 12)).astype(np.float32)
    hm[0, 0] = -1.0  # all negative: HRNet puts the keypoint at (0, 0)
    hm[0, 1, 0, 5] = 9.0  # maximum on the border: no refinement
    hm[0, 2, 8, 6] = 9.0
    hm[0, 2, 8, 7] = 9.0 - 1e-3  # ties broken toward the higher neighbour
    coords, vals = td.decode_heatmaps(hm, "default")
    oc, ov = oracle_final_coords(hm)
    np.testing.assert_allclose(coords, oc, atol=1e-6)
    np.testing.assert_allclose(vals, ov, atol=1e-7)
    assert tuple(coords[0, 0]) == (0.0, 0.0) and tuple(coords[0, 1]) == (5.0, 0.0)
    assert coords[0, 2, 0] == 6.25  # toward the higher right neighbour


def test_dark_recovers_subpixel_peak():
    h, w = 64, 48
    truth = [(20.3, 30.7), (10.8, 12.2), (33.5, 40.45)]
    hm = np.stack([gaussian_map(h, w, x, y) for x, y in truth])[None]
    dark, _ = td.decode_heatmaps(hm, "dark")
    quarter, _ = td.decode_heatmaps(hm, "default")
    plain, _ = td.decode_heatmaps(hm, "none")
    err = lambda c: np.abs(c[0] - np.array(truth)).max()  # noqa: E731
    assert err(dark) < 0.05 < err(quarter) <= err(plain) + 1e-6


def test_flip_back_swaps_mirrors_and_shifts():
    rng = np.random.default_rng(5)
    hm = rng.random((2, 17, 8, 6)).astype(np.float32)
    perm = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    out = td.flip_back(hm, perm, shift=True)
    for k in range(17):
        mirrored = hm[:, perm[k], :, ::-1]
        np.testing.assert_array_equal(out[:, k, :, 1:], mirrored[:, :, :-1])
        np.testing.assert_array_equal(out[:, k, :, 0], mirrored[:, :, 0])
    np.testing.assert_array_equal(td.flip_back(hm, perm, shift=False)[:, 1], hm[:, 2, :, ::-1])


# ----------------------------------------------------------------------------------------------
# keypoint outputs


def test_decode_keypoint_output_conventions():
    raw = np.array([[[0.25, 0.5, 0.9], [1.0, 0.0, 0.1]]], np.float32)  # (y, x, score)
    xy, sc = td.decode_keypoint_output(raw, 2, 3, "normalized", "yx", 2, "none", (192, 256))
    np.testing.assert_allclose(xy[0], [[0.5 * 192 - 0.5, 0.25 * 256 - 0.5], [-0.5, 255.5]])
    np.testing.assert_allclose(sc[0], [0.9, 0.1], rtol=1e-6)
    raw = np.array([[10.0, 20.0, 0.0, 0.0, 5.0]], np.float32)  # (x, y, z, vis logit, presence)
    xy, sc = td.decode_keypoint_output(raw, 1, 5, "pixel", "xy", 3, "sigmoid", (256, 256))
    np.testing.assert_allclose(xy[0, 0], [9.5, 19.5])
    assert sc[0, 0] == pytest.approx(0.5)
    _, sc = td.decode_keypoint_output(raw, 1, 5, "pixel", "xy", None, "none", (256, 256))
    assert sc[0, 0] == 1.0


def test_unflip_keypoints_is_an_involution():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 191, size=(3, 17, 2)).astype(np.float32)
    sc = rng.random((3, 17)).astype(np.float32)
    perm = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    a, b = td.unflip_keypoints(*td.unflip_keypoints(xy, sc, perm, 192), perm, 192)
    np.testing.assert_allclose(a, xy, atol=1e-5)
    np.testing.assert_array_equal(b, sc)


def test_movenet_flip_consistency_on_a_real_crop(shared_dir):
    """MoveNet on a crop and on its mirror agree after un-flipping: checks x -> W-1-x and the pairs."""
    import json

    from robustpose_bench.evaluation import read_image_rgb
    from robustpose_bench.models.loader import load_model
    from test_models import doc_specs

    spec = doc_specs()["movenet_lightning_int8"]
    m = load_model(shared_dir / "models" / "movenet_lightning_int8.onnx", spec=spec, device="cpu")
    ann = json.loads((shared_dir / "data" / "coco_sample" / "test_coco.json").read_text())
    a = next(x for x in ann["annotations"] if x["image_id"] == 785)
    img = read_image_rgb(shared_dir / "data" / "coco_sample" / "000000000785.jpg")
    c, s = td.box_to_center_scale(a["bbox"], 1.0)
    crop = td.warp_crop(img, c, s, (192, 192))[None]
    args = (17, 3, "normalized", "yx", 2, "none", (192, 192))
    xy, _ = td.decode_keypoint_output(m.infer(crop), *args)
    xyf, _ = td.unflip_keypoints(*td.decode_keypoint_output(m.infer(np.ascontiguousarray(crop[:, :, ::-1])), *args),
                                 m.spec.flip_permutation(), 192)
    d = np.linalg.norm(xy - xyf, axis=2)[0]
    assert np.median(d) < 3.0  # crop pixels; swapping the wrong sides would give tens of pixels


# ----------------------------------------------------------------------------------------------
# rescoring and OKS-NMS


def test_rescore_matches_hrnet_loop():
    rng = np.random.default_rng(1)
    ks = rng.random((20, 17))
    ks[3] = 0.1  # no keypoint above 0.2 -> score 0
    box = rng.random(20)
    got = td.rescore(box, ks)
    for i in range(20):
        valid = [v for v in ks[i] if v > 0.2]
        want = box[i] * (sum(valid) / len(valid) if valid else 0.0)
        assert got[i] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_oks_nms_matches_hrnet_loop():
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 300, size=(6, 17, 2))
    kpts = np.concatenate([base, base + rng.normal(scale=1.0, size=base.shape),
                           base + rng.normal(scale=15.0, size=base.shape)])  # near-duplicates and far ones
    kpts = np.concatenate([kpts, rng.random((18, 17, 1))], axis=2)
    scores = rng.random(18)
    areas = rng.uniform(2000, 40000, size=18)
    for thr in (0.9, 0.5, 0.99):
        keep = td.oks_nms(kpts, scores, areas, thr)
        assert keep == oracle_oks_nms(kpts, scores, areas, thr)
    keep = td.oks_nms(kpts, scores, areas, 0.9)
    assert 6 <= len(keep) < 18  # the near-duplicates were suppressed
    assert td.oks_nms(kpts[:0], scores[:0], areas[:0]) == []
