"""Source images the builder must not get wrong: every Pillow mode, deterministic failure reasons, and
two sources that would build to one output."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from robustpose_bench.builder.tasks import UnsupportedSource, decode_image
from robustpose_bench.cli import main

H, W = 36, 40
RNG_SEED = 7


def _encode(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def _sample(mode: str) -> tuple[bytes, np.ndarray | None]:
    """An encoded image of ``mode`` and the array a careful conversion gives (None: must be refused).

    The expected arrays are computed here from the raw samples, not by Pillow's convert(): alpha is
    dropped, palettes are looked up, 1-bit is 0/255, CMYK is (255-C)(255-K)/255 rounded, and 16-bit
    samples keep their high byte (what OpenCV's imread, which eval uses for clean images, gives).
    """
    rng = np.random.default_rng(RNG_SEED)
    u8 = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    gray3 = lambda a: np.repeat(a[..., None], 3, axis=2)  # noqa: E731
    if mode == "1":
        bits = u8[..., 0] > 127
        return _encode(Image.fromarray(bits), "PNG"), gray3(np.where(bits, 255, 0).astype(np.uint8))
    if mode == "L":
        return _encode(Image.fromarray(u8[..., 0]), "PNG"), u8[..., 0]
    if mode == "LA":
        im = Image.merge("LA", [Image.fromarray(u8[..., 0]), Image.fromarray(u8[..., 1])])
        return _encode(im, "PNG"), gray3(u8[..., 0])
    if mode == "P":
        palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
        im = Image.frombytes("P", (W, H), u8[..., 0].tobytes())
        im.putpalette(palette.flatten().tolist())
        return _encode(im, "PNG"), palette[u8[..., 0]]
    if mode == "RGBA":
        return _encode(Image.frombytes("RGBA", (W, H), u8.tobytes()), "PNG"), u8[..., :3]
    if mode == "CMYK":
        c = u8.astype(np.int64)
        rgb = ((255 - c[..., :3]) * (255 - c[..., 3:]) + 127) // 255
        return _encode(Image.frombytes("CMYK", (W, H), u8.tobytes()), "TIFF"), rgb.astype(np.uint8)
    if mode == "I;16":
        v = rng.integers(0, 65536, (H, W), dtype=np.uint16)
        v[0, :4] = [0, 255, 256, 65535]
        return _encode(Image.fromarray(v), "PNG"), gray3((v >> 8).astype(np.uint8))
    if mode == "I":
        return _encode(Image.fromarray(rng.integers(0, 1 << 20, (H, W), dtype=np.int32)), "TIFF"), None
    if mode == "F":
        return _encode(Image.fromarray(rng.random((H, W), dtype=np.float32)), "TIFF"), None
    raise AssertionError(mode)


MODES = ["1", "L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F"]


@pytest.mark.parametrize("mode", MODES)
def test_every_pillow_mode_decodes_carefully_or_is_refused(mode):
    data, expected = _sample(mode)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == mode  # the sample really is of that mode
    if expected is None:
        with pytest.raises(UnsupportedSource, match=rf"mode {re.escape(mode)}\b"):
            decode_image(data)
        return
    got = decode_image(data)
    if mode == "L":  # grayscale stays H x W (the engine stacks it, as imagecorruptions does)
        assert got.shape == (H, W)
    else:
        assert got.shape == (H, W, 3)
    assert got.dtype == np.uint8
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "I;16"])
def test_decoding_agrees_with_the_clean_image_eval_reads(tmp_path, mode):
    """eval reads clean images with cv2.imread(IMREAD_COLOR): the corrupted ones must start from the same."""
    data, _ = _sample(mode)
    path = tmp_path / "x.png"
    path.write_bytes(data)
    clean = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)[..., ::-1]
    got = decode_image(data)
    if got.ndim == 2:
        got = np.repeat(got[..., None], 3, axis=2)
    assert np.array_equal(got, clean)


def _coco(tmp_path: Path, names: list[str]) -> Path:
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": i + 1, "file_name": n, "width": W, "height": H}
                                          for i, n in enumerate(names)], "annotations": [], "categories": []}))
    return ann


def _build(capsys, images: Path, ann: Path, out: Path, *extra: str) -> tuple[int, str]:
    rc = main(["build", "coco-c", "--images", str(images), "--ann", str(ann), "--data", str(out),
               "--corruptions", "contrast", "--severities", "2", "--jobs", "1", "--no-progress", *extra])
    return rc, capsys.readouterr().err


def test_a_16_bit_png_builds_from_its_real_pixels_not_white(tmp_path, capsys):
    from corruptions import corrupt

    images = tmp_path / "img"
    images.mkdir()
    ramp = np.tile(np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16), 1)
    Image.fromarray(ramp).save(images / "deep.png")
    (images / "float.tif").write_bytes(_sample("F")[0])
    ann = _coco(tmp_path, ["deep.png", "float.tif"])
    rc, err = _build(capsys, images, ann, tmp_path / "o", "--format", "png")
    assert rc == 1 and "float.tif" in err
    m = json.loads((tmp_path / "o" / "coco-c" / "manifest.json").read_text())
    [item] = m["items"]
    with Image.open(tmp_path / "o" / "coco-c" / item["output"]) as im:
        built = np.asarray(im)
    assert np.array_equal(built, corrupt((ramp >> 8).astype(np.uint8), "contrast", 2, item["seed"]))
    assert built.min() < 100  # the all-white image of the bug would be 255 everywhere (before contrast)
    [failed] = m["failed"]
    assert failed["source"] == "float.tif" and "mode F" in failed["reason"]


def test_failure_reasons_are_deterministic(tmp_path, capsys):
    images = tmp_path / "img"
    images.mkdir()
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(images / "good.jpg")
    (images / "text.png").write_bytes(b"this is not an image at all")
    (images / "cut.jpg").write_bytes((images / "good.jpg").read_bytes()[:200])
    (images / "float.tif").write_bytes(_sample("F")[0])
    ann = _coco(tmp_path, ["good.jpg", "text.png", "cut.jpg", "float.tif", "gone.jpg"])
    runs = []
    for name in ("a", "b"):
        rc, _ = _build(capsys, images, ann, tmp_path / name)
        assert rc == 1
        runs.append((tmp_path / name / "coco-c" / "manifest.json").read_bytes())
    assert runs[0] == runs[1]  # two identical builds, identical manifests
    reasons = [f["reason"] for f in json.loads(runs[0])["failed"]]
    assert len(reasons) == 4
    for reason in reasons:
        assert not re.search(r"0x[0-9a-fA-F]{4,}", reason), reason  # no object addresses
        assert "\n" not in reason


@pytest.mark.parametrize("names, fmt, clash", [
    (["x.jpg", "x.png"], "jpeg", "x.jpg"),
    (["a/x.jpg", "a/x.png", "b.jpg"], "png", "a/x.png"),
    (["y.jpeg", "y.png", "y.jpg"], "jpeg", "y.jpg"),
])
def test_two_sources_building_to_one_output_are_refused_before_building(tmp_path, capsys, names, fmt, clash):
    images = tmp_path / "img"
    for i, name in enumerate(names):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)).save(images / name, format="PNG")
    ann = _coco(tmp_path, names)
    rc, err = _build(capsys, images, ann, tmp_path / "o", "--format", fmt)
    assert rc == 2 and err.count("\n") == 1, err
    assert f"would both build to {clash!r}" in err and str(ann) in err
    ds = tmp_path / "o" / "coco-c"
    assert not ds.exists() or not [p for p in ds.rglob("*") if p.is_file()]  # nothing written


def test_distinct_outputs_are_not_a_collision(tmp_path, capsys):
    images = tmp_path / "img"
    images.mkdir()
    for i, name in enumerate(["y.jpeg", "y.png"]):  # y.jpeg keeps its name, y.png becomes y.jpg
        Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)).save(images / name, format="PNG")
    rc, err = _build(capsys, images, _coco(tmp_path, ["y.jpeg", "y.png"]), tmp_path / "o")
    assert rc == 0, err


def test_a_source_that_is_a_fifo_or_device_is_a_failed_item_not_a_hang(tmp_path):
    import os
    import subprocess
    import sys

    images = tmp_path / "img"
    images.mkdir()
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(images / "good.jpg")
    os.mkfifo(images / "pipe.jpg")
    (images / "zero.jpg").symlink_to("/dev/zero")
    ann = _coco(tmp_path, ["good.jpg", "pipe.jpg", "zero.jpg"])
    proc = subprocess.run([sys.executable, "-m", "robustpose_bench", "build", "coco-c", "--images", str(images),
                           "--ann", str(ann), "--data", str(tmp_path / "o"), "--corruptions", "contrast",
                           "--severities", "1", "--jobs", "1", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    m = json.loads((tmp_path / "o" / "coco-c" / "manifest.json").read_text())
    reasons = {f["source"]: f["reason"] for f in m["failed"]}
    assert set(reasons) == {"pipe.jpg", "zero.jpg"} and all("not a regular file" in r for r in reasons.values())
    assert [it["source"] for it in m["items"]] == ["good.jpg"]
