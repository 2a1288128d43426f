"""``robustpose-bench list corruptions``: what the engine offers."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list", help="list the corruptions (name, family, benchmark or validation set)",
        description="List the 19 corruptions of the engine: the 15 of the benchmark (mPC) and the 4 held out "
                    "for validation, with their family. A glob PATTERN and --subset narrow the list. Exit "
                    "status 1 when nothing matches (the closest names are suggested on stderr).",
    )
    p.add_argument("what", choices=["corruptions"], help="which registry to list")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. '*blur'")
    p.add_argument(
        "--subset", default="all",
        help="all, benchmark, validation, or a family (noise, blur, weather, digital)",
    )
    p.set_defaults(func=run)


def suggest(pattern: str, names: list[str], n: int = 4) -> list[str]:
    """Names close to a mistyped glob ('gausian*' -> gaussian_noise, gaussian_blur): the pattern
    without its wildcards against each whole name, its start and its end."""
    from difflib import SequenceMatcher

    core = "".join(ch for ch in pattern if ch not in "*?[]!")
    if not core:
        return []

    def score(name: str) -> float:
        parts = (name, name[:len(core)], name[-len(core):])
        return max(SequenceMatcher(None, core, part).ratio() for part in parts)

    ranked = sorted(((score(name), i, name) for i, name in enumerate(names)), key=lambda t: (-t[0], t[1]))
    return [name for s, _, name in ranked[:n] if s >= 0.7]


def run(args: argparse.Namespace) -> int:
    from corruptions import CORRUPTIONS, list_corruptions

    names = list_corruptions(args.pattern, subset=args.subset)
    if not names:
        where = "" if args.subset == "all" else f" in subset {args.subset}"
        close = suggest(args.pattern, list_corruptions("*", subset=args.subset))
        hint = f"; did you mean {', '.join(close)}?" if close else "; `robustpose-bench list corruptions` lists them all"
        print(f"robustpose-bench list: no corruption matches {args.pattern!r}{where}{hint}", file=sys.stderr)
        return 1
    width = max(len(n) for n in names)
    print(f"{'name':<{width}}  {'family':<8}  set")
    for name in names:
        c = CORRUPTIONS[name]
        print(f"{name:<{width}}  {c.family:<8}  {c.set}")
    return 0
