"""The package as a pip user gets it: a wheel built from this checkout, installed outside it, and the
README's real-data path (build, verify, eval, table, plot, submit, leaderboard check and render: all
76 conditions, on the 4-image sample; ground-truth boxes keep it short) run from a folder that has no repository beside it, on the shared COCO sample and a real model.

Why a test: a checkout hides everything a wheel lacks (package data, paths beside the source);
issue 24 found the leaderboard dead from a wheel. The installed copy goes into a ``--target``
folder put first on ``PYTHONPATH``, so the test's own environment supplies the dependencies
(nothing is downloaded) while every ``robustpose_bench`` module comes from the wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wheel")
    dist, site, src = root / "dist", root / "site", root / "src"
    # Built from a copy of the checkout's files (tracked, and new ones not ignored), never in place: an
    # in-place build leaves build/lib behind, whose stale files a later wheel would ship.
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / rel).is_symlink():
            os.symlink(os.readlink(REPO / rel), src / rel)  # robustpose_bench/_data_manifests
        elif (REPO / rel).is_file():
            shutil.copy2(REPO / rel, src / rel)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(src)], check=True, capture_output=True, cwd=root)
    wheel = next(dist.glob("robustpose_bench-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, cwd=root)
    work = root / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1", "PYTHONNOUSERSITE": "1"}
    return {"wheel": wheel, "site": site, "work": work, "env": env}


def rpb(inst: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robustpose_bench", *map(str, args)], cwd=inst["work"],
                          env=inst["env"], capture_output=True, text=True, timeout=600)


def test_the_readme_real_data_path_runs_from_the_wheel_outside_the_repo(installed, shared_dir):
    """Schemas, data manifests and the paper's 48 entries are in the wheel, and the path runs."""
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert sum(n.startswith("robustpose_bench/leaderboard/paper/") and n.endswith(".json") for n in names) == 48
    for needed in ("robustpose_bench/schemas/results.schema.json", "robustpose_bench/_data_manifests/coco-c.json",
                   "corruptions/registry.py"):
        assert needed in names

    where = subprocess.run([sys.executable, "-c", "import robustpose_bench, corruptions; "
                            "print(robustpose_bench.__file__); print(corruptions.__file__)"],
                           cwd=installed["work"], env=installed["env"], capture_output=True, text=True, check=True)
    assert all(line.startswith(str(installed["site"])) for line in where.stdout.split()), where.stdout

    s = shared_dir / "data" / "coco_sample"
    model = shared_dir / "models" / "movenet_lightning_int8.onnx"
    steps = [
        ("build", "coco-c", "--images", s, "--ann", s / "test_coco.json", "--data", "data", "--jobs", "2",
         "--no-progress"),
        ("verify", "coco-c", "--data", "data", "--no-progress"),
        ("eval", model, "--spec", "movenet", "--dataset", "coco-c", "--images", s, "--ann", s / "test_coco.json",
         "--data", "data", "--boxes", "gt", "--no-flip", "-o", "results.json",
         "--no-progress"),
        ("table", "results.json", "--format", "latex"),
        ("plot", "results.json", "-o", "robustness.png"),
        ("submit", "results.json", "--name", "MoveNet-Lightning-int8", "--method", "standard", "--backbone",
         "MobileNetV2", "--subset"),
        ("leaderboard", "check"),
        ("leaderboard", "render"),
    ]
    outs = {}
    for argv in steps:
        r = rpb(installed, *argv)
        assert r.returncode == 0, f"{' '.join(map(str, argv[:2]))}: {r.stderr}"
        outs[argv[0] if argv[0] != "leaderboard" else argv[1]] = r
    work = installed["work"]
    results = json.loads((work / "results.json").read_text())
    assert len({(r["corruption"], r["severity"]) for r in results["rows"]}) == 1 + 15 * 5
    assert "created" in outs["submit"].stderr and "48 entries" in outs["submit"].stderr
    assert "checked 49 entries" in outs["check"].stdout and "OK" in outs["check"].stdout
    board = (work / "leaderboard" / "LEADERBOARD.md").read_text("utf-8")
    assert "MoveNet-Lightning-int8" in board and "(paper, Table 1)" in board
    assert (work / "robustness.png").stat().st_size > 0
    # nothing the user meets points into a repository that a wheel user does not have
    for r in outs.values():
        assert str(REPO) not in r.stdout + r.stderr


def test_the_documentation_ships_and_help_cites_it_not_repository_paths(installed):
    """Help texts and errors cite `robustpose-bench docs TOPIC`; from a wheel that prints the page."""
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    pages = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("robustpose_bench/_docs/")) == pages
    listing = rpb(installed, "docs")
    assert listing.returncode == 0 and "model_spec" in listing.stdout and str(installed["site"]) in listing.stdout
    shown = rpb(installed, "docs", "model-spec")
    assert shown.returncode == 0
    assert shown.stdout == (REPO / "docs" / "model_spec.md").read_text("utf-8")
    wrong = rpb(installed, "docs", "modelspec")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "did you mean model_spec" in wrong.stderr
    from robustpose_bench.commands import COMMANDS

    commands = [m.__name__.rsplit(".", 1)[1].removesuffix("_cmd").replace("_", "-") for m in COMMANDS]
    for command in commands:
        r = rpb(installed, command, "--help")
        assert r.returncode == 0 and "docs/" not in r.stdout.replace("robustpose-bench docs", ""), command
