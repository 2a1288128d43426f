"""The ``robustpose-bench`` command: one entry point, one subcommand per module in ``commands/``.

User mistakes (``UserError``, and ``ValueError`` from the corruption engine's validation) are
printed as one line on stderr with exit status 2, never as a traceback. Usage mistakes caught by
argparse are one line too, plus where to read more, instead of argparse's usage block.
"""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Sequence

from . import __version__
from .commands import COMMANDS
from .errors import ReportedElsewhere, UserError


class UsageError(UserError):
    """A command line argparse rejected; ``prog`` is the (sub)command it belongs to."""

    def __init__(self, prog: str, message: str):
        super().__init__(f"{message} (see `{prog} --help`)")
        self.prog = prog


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line plus a hint, not a 12-line usage block.

    ``add_subparsers`` creates its subparsers with the parent's class, so every subcommand (and
    ``leaderboard``'s own subcommands) behaves the same. Raising instead of exiting lets callers that
    parse arguments themselves (``leaderboard verify --eval-arg``) report through the usual path.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


def remember_prog(parser: argparse.ArgumentParser) -> None:
    """Record each subparser's ``prog`` in its defaults, so a leftover argument names its subcommand."""
    parser.set_defaults(_usage_prog=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                remember_prog(child)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="robustpose-bench",
        description="Robustness benchmarks for human pose estimation (COCO-C, MPII-C, OCHuman-C).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    remember_prog(parser)
    return parser


def parse_command_line(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parse_args``, with unrecognised arguments blamed on the subcommand they were given to (and more
    names after ``--corruptions NAME`` answered with the comma-separated form: ``commands/spelling.py``)."""
    from .commands.spelling import comma_list_hint

    args, extra = parser.parse_known_args(argv)
    if extra:
        hint = comma_list_hint(sys.argv[1:] if argv is None else argv, extra)
        raise UsageError(args._usage_prog, hint or f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parse_command_line(parser, argv)
    except UsageError as exc:
        print(f"{exc.prog}: error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # `robustpose-bench docs | head`: the reader left; not an error of ours or the user's. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UserError, ValueError, OSError) as exc:
        # Bad input or an unusable path (missing, not permitted, disk full): one line naming what was
        # wrong, never a traceback.
        if isinstance(exc, ReportedElsewhere):
            return 2
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
