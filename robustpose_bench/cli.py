"""The ``robustpose-bench`` command: one entry point, one subcommand per module in ``commands/``.

User mistakes (``UserError``, and ``ValueError`` from the corruption engine's validation) are
printed as one line on stderr with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import __version__
from .commands import COMMANDS
from .errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robustpose-bench",
        description="Robustness benchmarks for human pose estimation (COCO-C, MPII-C, OCHuman-C).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, OSError) as exc:
        # Bad input or an unusable path (missing, not permitted, disk full): one line naming what was
        # wrong, never a traceback.
        msg = str(exc).strip() or exc.__class__.__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:
            msg = f"no such file: {exc.filename}"
        elif isinstance(exc, OSError) and exc.filename:
            msg = f"{exc.filename}: {exc.strerror or exc.__class__.__name__}"
        # One line, always: some library messages wrapped into ours span many lines.
        msg = msg.splitlines()[0]
        print(f"robustpose-bench {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("robustpose-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
