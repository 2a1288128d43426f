"""``robustpose-bench list corruptions``: what the engine offers."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list corruptions (and other registries)")
    p.add_argument("what", choices=["corruptions"], help="which registry to list")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. '*blur'")
    p.add_argument(
        "--subset", default="all",
        help="all, benchmark, validation, or a family (noise, blur, weather, digital)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corruptions import CORRUPTIONS, list_corruptions

    names = list_corruptions(args.pattern, subset=args.subset)
    width = max((len(n) for n in names), default=4)
    print(f"{'name':<{width}}  {'family':<8}  set")
    for name in names:
        c = CORRUPTIONS[name]
        print(f"{name:<{width}}  {c.family:<8}  {c.set}")
    return 0
