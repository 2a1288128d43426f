"""Running the CLI in-process, as a user would see it."""
from __future__ import annotations

import contextlib
import io

from robustpose_bench.cli import main


def run_cli(*argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``robustpose-bench ARGV...`` (paths may be Path objects)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()
