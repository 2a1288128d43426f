"""``robustpose-bench docs [TOPIC]``: the installed documentation, which every help text cites."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "docs", help="show the documentation that ships with this version",
        description="Without TOPIC, list the pages (topic, title, installed path). With TOPIC, print the page "
                    "(Markdown) to stdout, or with --path only its installed path. The pages are the ones of "
                    "this installed version, so they match what its commands do.",
    )
    p.add_argument("topic", nargs="?", help="a page, e.g. model_spec, results, leaderboard, advmix")
    p.add_argument("--path", action="store_true", help="print the page's installed path instead of its text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import docs

    if args.topic is None:
        for name, path in docs.topics().items():
            print(f"{name:<14} {docs.title(path)}\n{'':<14} {path}")
        return 0
    path = docs.page(args.topic)
    if args.path:
        print(path)
    else:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0
