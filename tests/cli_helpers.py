"""Running the CLI in-process, as a user would see it."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

from robustpose_bench.cli import main


def run_cli(*argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``robustpose-bench ARGV...`` (paths may be Path objects)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def build_coco_sample(shared_dir: Path, out: Path, *options: str) -> dict[str, Path]:
    """coco-c of the shared COCO sample built by the real builder into ``out`` (``options`` such as
    ``--corruptions``, ``--severities``, ``--jobs``): {"images", "ann", "dets", "data"}."""
    d = shared_dir / "data" / "coco_sample"
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["build", "coco-c", "--images", str(d), "--ann", str(d / "test_coco.json"), "--data", str(out),
                   "--no-progress", *options])
    assert rc == 0, f"build of the COCO sample into {out} failed ({rc})"
    return {"images": d, "ann": d / "test_coco.json", "dets": d / "test_coco_det_AP_H_56.json", "data": out}
