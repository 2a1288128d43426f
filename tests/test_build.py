"""The builder: sources, seeds, layouts, parity with the reference pipeline, identical bytes across
--jobs 1 / 2 / dask / shards, failed sources, bad input, and a full disk."""
from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustpose_bench.builder.manifest import item_seed, output_relpath
from robustpose_bench.cli import main

CHEAP = "contrast,pixelate"  # fast corruptions where the full grid is not the point


def build(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["build", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def output_tree(dataset_dir: Path) -> dict[str, bytes]:
    """Every output and the manifest; bookkeeping that legitimately differs (timings) left out."""
    skip = {"build_info.json"}
    return {
        str(p.relative_to(dataset_dir)): p.read_bytes()
        for p in sorted(dataset_dir.rglob("*"))
        if p.is_file() and ".journal" not in p.parts and p.name not in skip
        and not p.name.startswith("build_info.shard-") and not p.name.startswith("manifest.shard-")
    }


def manifest(dataset_dir: Path) -> dict:
    return json.loads((dataset_dir / "manifest.json").read_text())


# ---------------------------------------------------------------- seeds and paths

def test_item_seed_is_a_stable_uint32_of_every_field():
    s = item_seed(2021, "coco-c", "000000000785.jpg", "fog", 3)
    assert s == 1787078463  # pinned (= first 4 bytes of `printf %s JSON | sha256sum`): must never change between Python runs, machines or versions
    assert 0 <= s < 2**32
    others = {
        item_seed(2022, "coco-c", "000000000785.jpg", "fog", 3),
        item_seed(2021, "mpii-c", "000000000785.jpg", "fog", 3),
        item_seed(2021, "coco-c", "000000040083.jpg", "fog", 3),
        item_seed(2021, "coco-c", "000000000785.jpg", "snow", 3),
        item_seed(2021, "coco-c", "000000000785.jpg", "fog", 4),
    }
    assert s not in others and len(others) == 5


def test_output_paths_for_layouts_and_formats():
    assert output_relpath("fog", 1, "a.jpg", "jpeg", "default") == "fog/1/a.jpg"
    assert output_relpath("fog", 1, "a.jpg", "jpeg", "advmix") == "fog/0/a.jpg"
    assert output_relpath("fog", 5, "a.jpg", "png", "advmix") == "fog/4/a.png"
    assert output_relpath("fog", 2, "sub/a.JPEG", "jpeg", "default") == "fog/2/sub/a.JPEG"
    assert output_relpath("fog", 2, "a.png", "jpeg", "default") == "fog/2/a.jpg"


# ---------------------------------------------------------------- synth-c, nothing downloaded

def test_build_synth_c_with_nothing_downloaded(tmp_path, capsys):
    out = tmp_path / "out"
    rc, stdout, _ = build(capsys, "synth-c", "--data", str(out), "--synth-count", "3",
                          "--corruptions", CHEAP, "--severities", "1,5", "--jobs", "1")
    assert rc == 0, stdout
    ds = out / "synth-c"
    m = manifest(ds)
    assert m["counts"] == {"items": 3 * 2 * 2, "failed": 0, "sources": 3}
    assert m["corruptions"] == ["contrast", "pixelate"] and m["severities"] == [1, 5]
    assert m["format"] == "jpeg" and m["jpeg_quality"] == 75 and m["master_seed"] == 2021
    assert {"numpy", "scipy", "opencv-python", "Pillow", "robustpose-bench"} <= set(m["versions"])
    for it in m["items"]:
        assert (ds / it["output"]).is_file()
        assert it["output"] == f"{it['corruption']}/{it['severity']}/{it['source']}"
        assert it["seed"] == item_seed(2021, "synth-c", it["source"], it["corruption"], it["severity"])
    assert (out / "synth" / "images").is_dir()  # generated into the cache folder
    sidecar = (ds / "manifest.json.sha256").read_text().split()
    import hashlib
    assert sidecar[0] == hashlib.sha256((ds / "manifest.json").read_bytes()).hexdigest()
    assert sidecar[0] in stdout
    info = json.loads((ds / "build_info.json").read_text())
    assert info["manifest_sha256"] == sidecar[0]
    assert info["git_hash"] is None or len(info["git_hash"]) == 40
    assert {"package_version", "libraries", "timestamp_utc", "seconds"} <= set(info)


# ---------------------------------------------------------------- parity with the official pipeline

def test_outputs_equal_the_reference_pipeline_bytes(shared_dir, tmp_path, capsys):
    """AdvMix's loop: np.asarray(Image.open(src)) -> imagecorruptions (seeded) -> Image.save (q 75)."""
    from oracle import reference_corrupt

    sample = shared_dir / "data" / "coco_sample"
    rc, _, err = build(capsys, "coco-c", "--images", str(sample), "--ann", str(sample / "test_coco.json"),
                       "--data", str(tmp_path), "--corruptions", "gaussian_noise,contrast", "--severities", "2",
                       "--limit", "1", "--jobs", "1")
    assert rc == 0, err
    m = manifest(tmp_path / "coco-c")
    assert len(m["items"]) == 2
    for it in m["items"]:
        with Image.open(sample / it["source"]) as im:
            image = np.asarray(im)
        ref = reference_corrupt(image, it["corruption"], it["severity"], it["seed"])
        buf = io.BytesIO()
        Image.fromarray(np.uint8(ref)).save(buf, format="JPEG")  # PIL's default quality, as the paper
        assert (tmp_path / "coco-c" / it["output"]).read_bytes() == buf.getvalue(), it["output"]


# ---------------------------------------------------------------- the shared samples, all adapters

@pytest.mark.parametrize("dataset, folder, ann", [
    ("coco-c", "coco_sample", "test_coco.json"),
    ("mpii-c", "mpii_sample", "test_mpii.json"),
    ("ochuman-c", "ochuman_sample", "test_ochuman.json"),
])
def test_build_shared_samples_through_overrides(shared_dir, tmp_path, capsys, dataset, folder, ann):
    sample = shared_dir / "data" / folder
    rc, _, err = build(capsys, dataset, "--images", str(sample), "--ann", str(sample / ann), "--data", str(tmp_path),
                       "--corruptions", "pixelate", "--severities", "3", "--jobs", "1")
    assert rc == 0, err
    m = manifest(tmp_path / dataset)
    expected = sorted(p.name for p in sample.glob("*.jpg"))
    assert [it["source"] for it in m["items"]] == expected  # every referenced image, sorted, once
    assert m["source"]["image_count"] == len(expected)
    assert main(["verify", dataset, "--data", str(tmp_path), "--no-progress"]) == 0


def test_standard_layouts_under_root(shared_dir, tmp_path, capsys):
    # COCO: coco_mini already has the standard layout.
    rc, _, err = build(capsys, "coco-c", "--root", str(shared_dir / "data" / "coco_mini"), "--data", str(tmp_path),
                       "--corruptions", "pixelate", "--severities", "1", "--limit", "2", "--jobs", "1")
    assert rc == 0, err
    assert manifest(tmp_path / "coco-c")["source"]["annotation_file"] == "person_keypoints_val2017.json"
    # MPII and OCHuman: build the layouts from symlinks (nothing is copied).
    mpii = tmp_path / "mpii"
    (mpii / "annot").mkdir(parents=True)
    (mpii / "images").symlink_to(shared_dir / "data" / "mpii_sample")
    (mpii / "annot" / "valid.json").symlink_to(shared_dir / "data" / "mpii_sample" / "test_mpii.json")
    och = tmp_path / "och"
    (och / "annotations").mkdir(parents=True)
    (och / "images").symlink_to(shared_dir / "data" / "ochuman_sample")
    (och / "annotations" / "ochuman_coco_format_val_range_0.00_1.00.json").symlink_to(
        shared_dir / "data" / "ochuman_sample" / "test_ochuman.json")
    for dataset, root in (("mpii-c", mpii), ("ochuman-c", och)):
        rc, _, err = build(capsys, dataset, "--root", str(root), "--data", str(tmp_path / "o"),
                           "--corruptions", "pixelate", "--severities", "1", "--limit", "1", "--jobs", "1")
        assert rc == 0, err
    rc, _, err = build(capsys, "ochuman-c", "--root", str(och), "--split", "test", "--data", str(tmp_path / "o"),
                       "--corruptions", "pixelate", "--jobs", "1")
    assert rc == 2 and "ochuman_coco_format_test_range_0.00_1.00.json" in err


def test_advmix_layout_and_png(shared_dir, tmp_path, capsys):
    sample = shared_dir / "data" / "coco_sample"
    rc, _, err = build(capsys, "coco-c", "--images", str(sample), "--ann", str(sample / "test_coco.json"),
                       "--data", str(tmp_path), "--corruptions", "pixelate", "--severities", "1,5", "--limit", "1",
                       "--layout", "advmix", "--format", "png", "--jobs", "1")
    assert rc == 0, err
    ds = tmp_path / "coco-c"
    assert sorted(str(p.relative_to(ds)) for p in ds.glob("pixelate/*/*")) == [
        "pixelate/0/000000000785.png", "pixelate/4/000000000785.png"]
    m = manifest(ds)
    assert m["layout"] == "advmix" and m["format"] == "png" and m["jpeg_quality"] is None
    from corruptions import corrupt
    with Image.open(sample / "000000000785.jpg") as im:
        src = np.asarray(im)
    it = next(i for i in m["items"] if i["severity"] == 5)
    with Image.open(ds / it["output"]) as im:  # lossless: decodes to exactly the corrupted array
        assert np.array_equal(np.asarray(im), corrupt(src, "pixelate", 5, it["seed"]))


# ---------------------------------------------------------------- identical bytes everywhere

def test_identical_bytes_for_jobs_dask_and_shards(shared_dir, tmp_path, capsys):
    sample = shared_dir / "data" / "coco_sample"
    common = ["coco-c", "--images", str(sample), "--ann", str(sample / "test_coco.json"),
              "--corruptions", "gaussian_noise,pixelate", "--severities", "1,4"]
    trees = {}
    assert build(capsys, *common, "--data", str(tmp_path / "j1"), "--jobs", "1")[0] == 0
    trees["jobs1"] = output_tree(tmp_path / "j1" / "coco-c")
    assert build(capsys, *common, "--data", str(tmp_path / "j2"), "--jobs", "2")[0] == 0
    trees["jobs2"] = output_tree(tmp_path / "j2" / "coco-c")
    # shards are numbered 1..N, as in eval; the old 0-based form is a one-line error naming the new one
    rc, _, err = build(capsys, *common, "--data", str(tmp_path / "sh"), "--jobs", "1", "--shard", "0/2")
    assert rc == 2 and err.count("\n") == 1 and "--shard 0/2 is now --shard 1/2" in err
    assert not (tmp_path / "sh").exists()
    # files keep their 0-based numbers (older partial builds resume): shard 2/2 writes manifest.shard-1-of-2
    rc, out, _ = build(capsys, *common, "--data", str(tmp_path / "sh"), "--jobs", "1", "--shard", "2/2")
    assert rc == 0 and "shard 2/2" in out and "shard-1-of-2" in out
    assert not (tmp_path / "sh" / "coco-c" / "manifest.json").exists()
    rc, out, _ = build(capsys, *common, "--data", str(tmp_path / "sh"), "--jobs", "1", "--shard", "1/2")
    assert rc == 0 and "merged shards" in out
    trees["shards"] = output_tree(tmp_path / "sh" / "coco-c")

    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, threads_per_worker=2, host="127.0.0.1", protocol="tcp://",
                      dashboard_address=None) as cluster:
        rc, _, err = build(capsys, *common, "--data", str(tmp_path / "dask"), "--backend", "dask",
                           "--scheduler", cluster.scheduler_address)
    assert rc == 0, err
    trees["dask"] = output_tree(tmp_path / "dask" / "coco-c")

    ref = trees["jobs1"]
    assert len(ref) == 4 * 2 * 2 + 2  # outputs + manifest + its sha256
    for name, tree in trees.items():
        assert tree.keys() == ref.keys(), name
        for k in ref:
            assert tree[k] == ref[k], f"{name}: {k} differs"


# ---------------------------------------------------------------- failures and bad input

def _tiny_coco(tmp_path: Path, names: list[str]) -> Path:
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": i + 1, "file_name": n, "width": 64, "height": 48}
                                          for i, n in enumerate(names)], "annotations": [], "categories": []}))
    return ann


def test_corrupt_and_missing_sources_are_failed_items(tmp_path, capsys):
    images = tmp_path / "img"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(images / "good.jpg", quality=90)
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(images / "tiny.jpg")
    ann = _tiny_coco(tmp_path, ["good.jpg", "broken.jpg", "gone.jpg", "tiny.jpg"])
    rc, _, err = build(capsys, "coco-c", "--images", str(images), "--ann", str(ann), "--data", str(tmp_path / "o"),
                       "--corruptions", CHEAP, "--severities", "1", "--jobs", "1")
    assert rc == 1
    assert "failed item" in err and "broken.jpg" in err and "gone.jpg" in err
    m = manifest(tmp_path / "o" / "coco-c")
    reasons = {(f["source"], f["corruption"]): f["reason"] for f in m["failed"]}
    assert "cannot decode source" in reasons[("broken.jpg", None)]
    assert reasons[("gone.jpg", None)] == "missing source file"
    assert "32" in reasons[("tiny.jpg", "contrast")]  # the engine's minimum size, per item
    assert [it["source"] for it in m["items"]] == ["good.jpg", "good.jpg"]
    assert all((tmp_path / "o" / "coco-c" / it["output"]).is_file() for it in m["items"])
    # verify reports the incomplete build
    assert main(["verify", "coco-c", "--data", str(tmp_path / "o"), "--no-progress"]) == 1


def test_bad_root_names_layout_and_download_command(tmp_path, capsys):
    rc, _, err = build(capsys, "coco-c", "--root", str(tmp_path / "nope"), "--data", str(tmp_path))
    assert rc == 2
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err
    assert "ROOT/val2017/" in line and "person_keypoints_val2017.json" in line
    assert "robustpose-bench download coco --root DIR" in line
    rc, _, err = build(capsys, "mpii-c", "--data", str(tmp_path))
    assert rc == 2 and "annot/valid.json" in err and "human-pose.mpi-inf.mpg.de" in err
    (tmp_path / "r" / "val2017").mkdir(parents=True)
    rc, _, err = build(capsys, "coco-c", "--root", str(tmp_path / "r"), "--data", str(tmp_path))
    assert rc == 2 and "annotation file" in err and "download coco" in err


@pytest.mark.parametrize("args, needle", [
    (["--severities", "0-6"], "--severities"),
    (["--severities", "x"], "--severities"),
    (["--shard", "3/2"], "--shard"),
    (["--shard", "0/2"], "--shard 0/2 is now --shard 1/2"),
    (["--shard", "1"], "--shard"),
    (["--corruptions", "fgo"], "did you mean fog"),
    (["--jobs", "0"], "--jobs"),
    (["--limit", "0"], "--limit"),
    (["--scheduler", "tcp://x:1"], "--backend dask"),
    (["--synth-count", "3"], "synth-c"),
])
def test_bad_arguments_are_one_line_errors(shared_dir, tmp_path, capsys, args, needle):
    sample = shared_dir / "data" / "coco_sample"
    rc, _, err = build(capsys, "coco-c", "--images", str(sample), "--ann", str(sample / "test_coco.json"),
                       "--data", str(tmp_path), *args)
    assert rc == 2 and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "coco-c" / "manifest.json").exists()


def test_unsafe_file_names_in_annotations_are_refused(tmp_path, capsys):
    (tmp_path / "img").mkdir()
    for bad in ("../escape.jpg", "/abs.jpg"):
        ann = _tiny_coco(tmp_path, [bad])
        rc, _, err = build(capsys, "coco-c", "--images", str(tmp_path / "img"), "--ann", str(ann),
                           "--data", str(tmp_path / "o"))
        assert rc == 2 and "unsafe image file name" in err


def test_disk_full_is_a_clean_error_and_leaves_no_partial_files(tmp_path, capsys, monkeypatch):
    import robustpose_bench.atomic as atomic

    real_fdopen = os.fdopen
    calls = {"n": 0}

    class FillsUp:
        """A file object that runs out of space halfway through the 5th write."""

        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            calls["n"] += 1
            if calls["n"] == 5:
                self.fh.write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode="r", *a, **k: FillsUp(real_fdopen(fd, mode, *a, **k)))
    out = tmp_path / "o"
    synth_root = tmp_path / "synth"
    from robustpose_bench import synth
    monkeypatch.setattr(atomic.os, "fdopen", real_fdopen)
    synth.ensure_synth(synth_root, count=3)
    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode="r", *a, **k: FillsUp(real_fdopen(fd, mode, *a, **k)))
    args = ["synth-c", "--root", str(synth_root), "--synth-count", "3", "--corruptions", CHEAP,
            "--severities", "1,2", "--data", str(out), "--jobs", "1"]
    rc, _, err = build(capsys, *args)
    assert rc == 2
    assert err.count("\n") == 1 and "no space left on device" in err and "re-run" in err
    ds = out / "synth-c"
    assert not [p for p in ds.rglob("*") if p.name.endswith(".tmp")]
    assert not (ds / "manifest.json").exists()
    written = [p for p in ds.rglob("*.jpg")]
    assert written  # the first outputs completed
    for p in written:  # and every visible file is whole
        with Image.open(p) as im:
            im.load()
    monkeypatch.setattr(atomic.os, "fdopen", real_fdopen)
    assert build(capsys, *args)[0] == 0
    assert main(["verify", "synth-c", "--data", str(out), "--no-progress"]) == 0


def test_advmix_seed_rule_reproduces_the_official_script(shared_dir, tmp_path, capsys):
    """--seed-rule advmix --layout advmix: AdvMix's make_datasets.py, np.random.seed(1) before every call."""
    from oracle import reference_corrupt

    sample = shared_dir / "data" / "coco_sample"
    rc, _, err = build(capsys, "coco-c", "--images", str(sample), "--ann", str(sample / "test_coco.json"),
                       "--data", str(tmp_path), "--corruptions", "shot_noise", "--severities", "1,3", "--limit", "1",
                       "--layout", "advmix", "--seed-rule", "advmix", "--jobs", "1")
    assert rc == 0, err
    m = manifest(tmp_path / "coco-c")
    assert m["seed_rule"] == "advmix" and {it["seed"] for it in m["items"]} == {1}
    with Image.open(sample / "000000000785.jpg") as im:
        image = np.asarray(im)
    for it in m["items"]:
        buf = io.BytesIO()
        Image.fromarray(np.uint8(reference_corrupt(image, "shot_noise", it["severity"], 1))).save(buf, format="JPEG")
        assert (tmp_path / "coco-c" / f"shot_noise/{it['severity'] - 1}/000000000785.jpg").read_bytes() == buf.getvalue()


def test_progress_bar_with_eta_goes_to_stderr_and_data_to_stdout(tmp_path, capsys):
    rc = main(["build", "synth-c", "--data", str(tmp_path), "--synth-count", "2", "--corruptions", "pixelate",
               "--severities", "1", "--jobs", "1"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "build synth-c" in err and "100%" in err and "<" in err  # tqdm's [elapsed<remaining] ETA
    assert out.count("\n") == 1 and out.startswith("synth-c: 2 source images")


def test_disk_full_while_writing_the_manifest(tmp_path, capsys, monkeypatch):
    from robustpose_bench.builder import runner

    def full(path, data, fsync=True):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    args = ["synth-c", "--data", str(tmp_path), "--synth-count", "2", "--corruptions", CHEAP, "--severities", "1",
            "--jobs", "1"]
    monkeypatch.setattr(runner, "atomic_write_bytes", full)
    rc, _, err = build(capsys, *args)
    assert rc == 2 and err.count("\n") == 1 and "no space left on device while writing the manifest" in err
    ds = tmp_path / "synth-c"
    assert not (ds / "manifest.json").exists() and len(list(ds.rglob("*.jpg"))) == 4  # the outputs are kept
    monkeypatch.undo()
    rc, out, _ = build(capsys, *args)
    assert rc == 0 and "(0 written, 4 already done)" in out
    assert main(["verify", "synth-c", "--data", str(tmp_path), "--no-progress"]) == 0
