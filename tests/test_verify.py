"""verify: passes on a fresh build; names every missing, extra and mismatched file otherwise."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robustpose_bench.builder.verify import verify_dataset
from robustpose_bench.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("v")
    argv = ["build", "synth-c", "--data", str(out), "--synth-count", "3", "--corruptions", "contrast,pixelate",
            "--severities", "2,3", "--jobs", "1", "--no-progress"]
    assert main(argv) == 0
    return out


@pytest.fixture
def copy(built, tmp_path) -> Path:
    dst = tmp_path / "out"
    shutil.copytree(built, dst)
    return dst


def verify(capsys, out: Path) -> tuple[int, str]:
    rc = main(["verify", "synth-c", "--data", str(out), "--no-progress", "--jobs", "2"])
    return rc, capsys.readouterr().out


def test_fresh_build_verifies(copy, capsys):
    rc, out = verify(capsys, copy)
    assert rc == 0 and "OK: 12 files checked" in out


def test_one_flipped_byte_fails_naming_the_file(copy, capsys):
    target = copy / "synth-c" / "pixelate" / "3" / "000000000002.jpg"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    rc, out = verify(capsys, copy)
    assert rc == 1
    assert "mismatch: pixelate/3/000000000002.jpg" in out and "1 mismatched" in out


def test_missing_and_extra_files_are_reported(copy, capsys):
    ds = copy / "synth-c"
    (ds / "contrast" / "2" / "000000000001.jpg").unlink()
    (ds / "contrast" / "2" / "stray.jpg").write_bytes(b"x")
    (ds / "fog" / "1").mkdir(parents=True)
    (ds / "fog" / "1" / "000000000001.jpg").write_bytes(b"x")
    rc, out = verify(capsys, copy)
    assert rc == 1
    assert "missing: contrast/2/000000000001.jpg" in out
    assert "extra: contrast/2/stray.jpg" in out and "extra: fog/1/000000000001.jpg" in out
    rep = verify_dataset(ds, jobs=1, progress=False)
    assert rep.missing == ["contrast/2/000000000001.jpg"] and len(rep.extra) == 2 and not rep.mismatched


def test_edited_manifest_is_caught_by_its_sha256(copy, capsys):
    m = copy / "synth-c" / "manifest.json"
    text = m.read_text()
    assert '"jpeg_quality":75' in text  # an edit that validation alone cannot see (seeds it can)
    m.write_text(text.replace('"jpeg_quality":75', '"jpeg_quality":95'))
    rc, out = verify(capsys, copy)
    assert rc == 1 and "manifest: manifest.json: sha256" in out


def test_no_manifest_is_a_clean_error(tmp_path, capsys):
    rc = main(["verify", "synth-c", "--data", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "no manifest" in err and err.count("\n") == 1


# ---------------------------------------------------------------- hostile manifests and trees

def rewrite(out: Path, mutate) -> None:
    """Edit the manifest and re-seal its sha256 sidecar, so only validation can catch the edit."""
    import hashlib
    import json

    from robustpose_bench.builder.manifest import manifest_bytes

    path = out / "synth-c" / "manifest.json"
    manifest = json.loads(path.read_text())
    mutate(manifest)
    data = manifest_bytes(manifest)
    path.write_bytes(data)
    (out / "synth-c" / "manifest.json.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  manifest.json\n")


def verify_subprocess(out: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """verify in a child process, so that a hang (opening a device or a FIFO) fails instead of blocking."""
    return subprocess.run([sys.executable, "-m", "robustpose_bench", "verify", "synth-c", "--data", str(out),
                           "--no-progress", "--jobs", "1"], capture_output=True, text=True, timeout=timeout)


def _set(index: int, field: str, value):
    def mutate(m):
        m["items"][index][field] = value
    return mutate


def _drop(index: int, field: str):
    def mutate(m):
        del m["items"][index][field]
    return mutate


@pytest.mark.parametrize("mutate, needle", [
    (_set(0, "output", "../../outside.jpg"), "items[0].output"),
    (_set(1, "output", "contrast\\2\\000000000001.jpg"), "items[1].output"),
    (_set(0, "output", "fog/2/000000000001.jpg"), "items[0].output"),
    (_set(2, "source", "../000000000001.jpg"), "items[2].source"),
    (_set(0, "corruption", "../../x"), "items[0].corruption"),
    (_set(0, "severity", 6), "items[0].severity"),
    (_set(0, "severity", True), "items[0].severity"),
    (_set(0, "seed", 12345), "items[0].seed"),
    (_set(0, "output_sha256", "abc"), "items[0].output_sha256"),
    (_drop(0, "output_sha256"), "items[0]: missing field 'output_sha256'"),
    (_drop(3, "seed"), "items[3]: missing field 'seed'"),
    (lambda m: m["corruptions"].append("../../etc"), "corruptions"),
    (lambda m: m["severities"].append(0), "severities"),
    (lambda m: m.update(master_seed=2022), "items[0].seed"),
    (lambda m: m.update(layout="flat"), "layout"),
    (lambda m: m["items"].append(dict(m["items"][0])), "items[12].output"),
    (lambda m: m["failed"].append({"source": "/etc/passwd", "corruption": None, "severity": None,
                                   "reason": "x"}), "failed[0].source"),
    (lambda m: m.update(items={}), "items"),
])
def test_verify_refuses_a_manifest_with_unsafe_or_changed_items_in_one_line(copy, capsys, mutate, needle):
    (copy / "outside.jpg").write_bytes(b"x")  # what a '..' path would reach
    rewrite(copy, mutate)
    rc = main(["verify", "synth-c", "--data", str(copy), "--no-progress", "--jobs", "1"])
    captured = capsys.readouterr()
    assert rc == 2, captured.out + captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""
    assert captured.err.startswith("robustpose-bench verify: error: ") and needle in captured.err, captured.err
    assert "manifest.json" in captured.err


def test_verify_refuses_an_output_at_a_device_instead_of_hanging(copy):
    rewrite(copy, _set(0, "output", "/dev/zero"))
    proc = verify_subprocess(copy)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "items[0].output" in proc.stderr


@pytest.mark.parametrize("kind", ["symlink to a device", "symlink outside", "fifo", "folder symlink"])
def test_verify_never_opens_a_non_regular_output(copy, kind, tmp_path):
    ds = copy / "synth-c"
    target = ds / "pixelate" / "3" / "000000000002.jpg"
    if kind != "folder symlink":
        target.unlink()
    if kind == "symlink to a device":
        target.symlink_to("/dev/zero")
    elif kind == "symlink outside":
        (tmp_path / "elsewhere.jpg").write_bytes(b"x")
        target.symlink_to(tmp_path / "elsewhere.jpg")
    elif kind == "fifo":
        os.mkfifo(target)
    else:  # a folder on the path is a link to a folder outside the dataset
        shutil.move(str(ds / "pixelate" / "3"), str(tmp_path / "moved"))
        (ds / "pixelate" / "3").symlink_to(tmp_path / "moved")
    proc = verify_subprocess(copy, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "refused: pixelate/3/000000000002.jpg" in proc.stdout and "FAILED" in proc.stdout


def test_manifest_that_is_a_fifo_is_refused_not_waited_on(copy):
    m = copy / "synth-c" / "manifest.json"
    m.unlink()
    os.mkfifo(m)
    proc = verify_subprocess(copy, timeout=60)
    assert proc.returncode == 2 and "not a regular file" in proc.stderr and proc.stderr.count("\n") == 1


def test_validate_manifest_accepts_what_the_builder_writes(built):
    import json

    from robustpose_bench.builder.manifest import load_manifest, validate_manifest

    path = built / "synth-c" / "manifest.json"
    validate_manifest(json.loads(path.read_text()), str(path))
    assert load_manifest(path)["counts"]["items"] == 12
