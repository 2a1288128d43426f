"""Nothing lost, nothing half-written: SIGKILL a build mid-way, re-run it, and get exactly the bytes
and manifest of an uninterrupted build; re-runs skip finished items and redo damaged ones."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from robustpose_bench import synth
from robustpose_bench.cli import main

REPO = Path(__file__).resolve().parents[1]
COUNT = 40
ARGS = ["--synth-count", str(COUNT), "--corruptions", "gaussian_noise,contrast,pixelate",
        "--severities", "1-5", "--jobs", "1", "--no-progress"]


def tree(dataset_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(dataset_dir)): p.read_bytes()
        for p in sorted(dataset_dir.rglob("*"))
        if p.is_file() and ".journal" not in p.parts and p.name != "build_info.json"
    }


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    synth.ensure_synth(root, count=COUNT)
    return root


@pytest.fixture(scope="module")
def uninterrupted(synth_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref")
    assert main(["build", "synth-c", "--root", str(synth_root), "--data", str(out), *ARGS]) == 0
    return out / "synth-c"


def test_sigkill_mid_build_then_rerun_gives_identical_results(synth_root, uninterrupted, tmp_path, capsys):
    out = tmp_path / "out"
    ds = out / "synth-c"
    cmd = [sys.executable, "-m", "robustpose_bench", "build", "synth-c", "--root", str(synth_root),
           "--data", str(out), *ARGS]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        # Kill once a few sources are finished (journaled) and more are in flight.
        while time.monotonic() < deadline and proc.poll() is None:
            done = len(list((ds / ".journal").glob("*.json"))) if (ds / ".journal").is_dir() else 0
            if done >= 3:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the build finished before it could be killed; enlarge the workload"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (ds / "manifest.json").exists()
    n_before = len(list(ds.rglob("*.jpg")))
    assert 0 < n_before < COUNT * 15

    # Damage the partial state the ways a crash (or a user) can: a half-written file under a final
    # name with no journal record, a flipped byte in a journaled file, and a stray temp file.
    journaled = json.loads(next((ds / ".journal").glob("*.json")).read_text())
    rel = sorted(journaled["items"])[0]
    data = bytearray((ds / rel).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (ds / rel).write_bytes(bytes(data))
    half = ds / "pixelate" / "5" / synth.file_name(COUNT - 1)
    half.parent.mkdir(parents=True, exist_ok=True)
    half.write_bytes(b"\xff\xd8\xff half a jpeg")
    (ds / "contrast" / ".stray.jpg.abc123.tmp").parent.mkdir(parents=True, exist_ok=True)
    (ds / "contrast" / ".stray.jpg.abc123.tmp").write_bytes(b"partial")

    assert main(["build", "synth-c", "--root", str(synth_root), "--data", str(out), *ARGS]) == 0
    stdout = capsys.readouterr().out
    assert "already done" in stdout
    skipped = json.loads((ds / "build_info.json").read_text())["skipped"]
    assert 0 < skipped < COUNT * 15  # finished work was kept, not redone
    assert tree(ds) == tree(uninterrupted)
    assert main(["verify", "synth-c", "--data", str(out), "--no-progress"]) == 0


def test_rerun_of_a_finished_build_writes_nothing(synth_root, uninterrupted, capsys):
    before = {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*.jpg")}
    assert main(["build", "synth-c", "--root", str(synth_root), "--data", str(uninterrupted.parent), *ARGS]) == 0
    info = json.loads((uninterrupted / "build_info.json").read_text())
    assert info["written"] == 0 and info["skipped"] == COUNT * 15
    assert {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*.jpg")} == before


def test_ctrl_c_mid_build_is_one_line_and_a_rerun_completes(synth_root, uninterrupted, tmp_path, capsys):
    """Ctrl-C in a terminal sends SIGINT to the whole process group: the main process and its workers."""
    out = tmp_path / "out"
    ds = out / "synth-c"
    args = list(ARGS)
    args[args.index("--jobs") + 1] = "2"
    cmd = [sys.executable, "-m", "robustpose_bench", "build", "synth-c", "--root", str(synth_root),
           "--data", str(out), *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (ds / ".journal").is_dir() and sum(len(p.stem) == 64 for p in (ds / ".journal").glob("*.json")) >= 2:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the build finished before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and err == "robustpose-bench: interrupted\n", err
    assert not list(ds.rglob("*.tmp")) and not (ds / "manifest.json").exists()
    assert main(["build", "synth-c", "--root", str(synth_root), "--data", str(out), *ARGS]) == 0
    capsys.readouterr()
    assert tree(ds) == tree(uninterrupted)


def test_ctrl_c_mid_dask_build_is_one_line_and_a_rerun_completes(synth_root, uninterrupted, tmp_path, capsys):
    """Issue 19, class 9: with ``--backend dask`` the futures in flight used to fail as the client
    closed, and tornado logged each as a traceback (~40 lines) after "interrupted"."""
    from dask.distributed import LocalCluster

    out = tmp_path / "out"
    ds = out / "synth-c"
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=2, host="127.0.0.1", protocol="tcp://",
                      dashboard_address=None) as cluster:
        args = [a for a in ARGS if a not in ("--jobs", "1")]
        cmd = [sys.executable, "-m", "robustpose_bench", "build", "synth-c", "--root", str(synth_root),
               "--data", str(out), *args, "--backend", "dask", "--scheduler", cluster.scheduler_address]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if (ds / ".journal").is_dir() and sum(len(p.stem) == 64 for p in (ds / ".journal").glob("*.json")) >= 2:
                    break
                time.sleep(0.005)
            assert proc.poll() is None, "the build finished before it could be interrupted"
            # The tracebacks come from result fetches in flight when the client closes. Keep the
            # cluster (this process) slow to answer them: a thread holding the GIL for 0.2 s at a time.
            old_interval, stop = sys.getswitchinterval(), threading.Event()
            hog = threading.Thread(target=lambda: [sum(range(1000)) for _ in iter(stop.is_set, True)], daemon=True)
            sys.setswitchinterval(0.2)
            hog.start()
            try:
                time.sleep(1.0)
                proc.send_signal(signal.SIGINT)
                _, err = proc.communicate(timeout=60)
            finally:
                stop.set()
                hog.join()
                sys.setswitchinterval(old_interval)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 130 and err == "robustpose-bench: interrupted\n", err
        assert not (ds / "manifest.json").exists()
        # The cluster's tasks of the interrupted build are orphans now: the build's voided token stops them
        # at their next write, so the re-run (here, in this process) owns the folder alone.
        assert main(["build", "synth-c", "--root", str(synth_root), "--data", str(out), *ARGS]) == 0
    capsys.readouterr()
    assert not list(ds.rglob("*.tmp"))
    assert tree(ds) == tree(uninterrupted)
