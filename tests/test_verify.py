"""verify: passes on a fresh build; names every missing, extra and mismatched file otherwise."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from robustpose_bench.builder.verify import verify_dataset
from robustpose_bench.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("v")
    argv = ["build", "synth-c", "--out", str(out), "--synth-count", "3", "--corruptions", "contrast,pixelate",
            "--severities", "2,3", "--jobs", "1", "--no-progress"]
    assert main(argv) == 0
    return out


@pytest.fixture
def copy(built, tmp_path) -> Path:
    dst = tmp_path / "out"
    shutil.copytree(built, dst)
    return dst


def verify(capsys, out: Path) -> tuple[int, str]:
    rc = main(["verify", "synth-c", "--out", str(out), "--no-progress", "--jobs", "2"])
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
    assert '"master_seed":2021' in text
    m.write_text(text.replace('"master_seed":2021', '"master_seed":2022'))
    rc, out = verify(capsys, copy)
    assert rc == 1 and "manifest: manifest.json: sha256" in out


def test_no_manifest_is_a_clean_error(tmp_path, capsys):
    rc = main(["verify", "synth-c", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "no manifest" in err and err.count("\n") == 1
