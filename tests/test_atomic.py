"""atomic.py: whole files or nothing, with the file mode a plain ``open()`` would give."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from robustpose_bench.atomic import atomic_write_bytes, atomic_write_json


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_get_the_umask_mode_that_open_gives(tmp_path, umask, mask):
    umask(mask)
    with open(tmp_path / "plain.bin", "wb") as fh:  # the reference: what open() creates
        fh.write(b"x")
    atomic_write_bytes(tmp_path / "atomic.bin", b"x")
    atomic_write_json(tmp_path / "atomic.json", {"a": 1})
    want = _mode(tmp_path / "plain.bin")
    assert want == 0o666 & ~mask
    assert _mode(tmp_path / "atomic.bin") == want
    assert _mode(tmp_path / "atomic.json") == want


def test_overwrite_is_whole_and_leaves_no_temp_file(tmp_path, umask):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new", fsync=False)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_failed_write_removes_its_temp_file(tmp_path, monkeypatch):
    import robustpose_bench.atomic as atomic

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "f.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_build_outputs_and_manifest_are_not_private(tmp_path, umask):
    from robustpose_bench.cli import main

    umask(0o022)
    assert main(["build", "synth-c", "--data", str(tmp_path), "--synth-count", "1", "--corruptions", "contrast",
                 "--severities", "1", "--jobs", "1", "--no-progress"]) == 0
    ds = tmp_path / "synth-c"
    for rel in ("manifest.json", "manifest.json.sha256", "build_info.json", "contrast/1/000000000001.jpg"):
        assert _mode(ds / rel) == 0o644, rel
