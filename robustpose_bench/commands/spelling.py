"""Old spellings of flags, each answered with one line naming the new one (one spelling per idea).

Every command registers its retired flags here (``retire``) instead of checking them itself; the flag
stays out of ``--help``. The table of what became what, for the docs and the tests:

- ``build --out``, ``verify --out`` -> ``--data`` (the folder ``build`` writes and ``eval`` reads);
- ``eval --workers`` and ``train --workers`` -> ``--jobs`` (the command's pool, as in build, verify, score);
- ``eval --det-thre``, ``--in-vis-thre``, ``--oks-thre`` -> ``--det-thr``, ``--in-vis-thr``, ``--oks-thr``
  (the names of the thresholds in results.json ``config``).

``comma_list_hint`` turns argparse's "unrecognized arguments" after ``--corruptions snow fog`` (eval's
old space-separated form) into the comma-separated form.
"""
from __future__ import annotations

import argparse
from typing import Any, Sequence

#: Flags whose value is one comma-separated list, in every command that takes them.
COMMA_LIST_FLAGS = ("--corruptions", "--severities")


class _Retired(argparse.Action):
    """A hidden flag that stops the parse with "OLD is now NEW" (through the parser's one-line error)."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "", why: str = "", **kwargs: Any):
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs="?", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
        self.new, self.why = new, why

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error(f"{option_string} is now {self.new}" + (f" ({self.why})" if self.why else ""))


def retire(parser: argparse.ArgumentParser | argparse._ArgumentGroup, old: str, new: str, why: str = "") -> None:
    """Register ``old`` on ``parser`` as a retired spelling of ``new``: using it is a one-line error, exit 2."""
    parser.add_argument(old, action=_Retired, new=new, why=why)


def comma_list_hint(argv: Sequence[str], extra: Sequence[str]) -> str | None:
    """The message for leftovers that are more names after a comma-list flag (``--corruptions snow fog``):
    ``--corruptions takes one comma-separated list: --corruptions snow,fog``; None for other leftovers."""
    argv = list(argv)
    if not extra:
        return None
    for k, token in enumerate(argv):
        flag, eq, value = token.partition("=")
        if flag not in COMMA_LIST_FLAGS:
            continue
        start = k + 1 if eq else k + 2            # first token after the flag's value
        if not eq:
            if k + 1 >= len(argv):
                continue
            value = argv[k + 1]
        more = []
        for tok in argv[start:]:
            if tok.startswith("-") or len(more) >= len(extra) or tok != extra[len(more)]:
                break
            more.append(tok)
        if more:
            joined = ",".join([value, *more])
            return f"{flag} takes one comma-separated list: {flag} {joined}"
    return None
