"""``robustpose-bench list corruptions | specs``: what the engine and the evaluator offer."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list corruptions or model spec presets",
                       description="List the corruption registry (name, family, set) or the built-in model spec "
                                   "presets usable as `eval --spec NAME` (name, family, what it reads).")
    p.add_argument("what", choices=["corruptions", "specs"], help="which registry to list")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. '*blur'")
    p.add_argument(
        "--subset", default="all",
        help="all, benchmark, validation, or a family (noise, blur, weather, digital)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.what == "specs":
        return _list_specs(args.pattern)
    from corruptions import CORRUPTIONS, list_corruptions

    names = list_corruptions(args.pattern, subset=args.subset)
    width = max((len(n) for n in names), default=4)
    print(f"{'name':<{width}}  {'family':<8}  set")
    for name in names:
        c = CORRUPTIONS[name]
        print(f"{name:<{width}}  {c.family:<8}  {c.set}")
    return 0


def _list_specs(pattern: str) -> int:
    from ..errors import UserError
    from ..models.presets import PRESETS, list_presets

    presets = list_presets(pattern)
    if not presets:
        raise UserError(f"no spec preset matches {pattern!r}; presets: {', '.join(PRESETS)}")
    width = max(len(p.name) for p in presets)
    print(f"{'name':<{width}}  {'family':<9}  what")
    for p in presets:
        print(f"{p.name:<{width}}  {p.family:<9}  {p.description}")
    return 0
