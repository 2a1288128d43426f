"""``robustpose-bench list corruptions | specs | datasets``: what the engine, the evaluator and the
dataset registry offer."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list", help="list corruptions, model spec presets or datasets",
        description="List the corruption registry (name, family, set: the 15 of the benchmark and the 4 held "
                    "out for validation), the built-in model spec presets usable as `eval --spec NAME` (name, "
                    "family, what it reads) or the registered datasets, one card each (name, title, keypoints, "
                    "metric and scorer, standard layout). A glob PATTERN narrows the list. Exit status 1 when "
                    "nothing matches (the closest names are suggested on stderr).",
    )
    p.add_argument("what", choices=["corruptions", "specs", "datasets"], help="which registry to list")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. '*blur'")
    p.add_argument(
        "--subset", default="all",
        help="corruptions: all, benchmark, validation, or a family (noise, blur, weather, digital)",
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


def _nothing_matched(what: str, pattern: str, where: str, names: list[str]) -> int:
    """Nothing to list is an answer, not a mistake: say so on stderr, suggest, exit 1 (2 is for bad
    arguments)."""
    close = suggest(pattern, names)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; `robustpose-bench list {what}` lists them all"
    noun = {"corruptions": "corruption", "specs": "spec preset", "datasets": "dataset"}[what]
    print(f"robustpose-bench list: no {noun} matches "
          f"{pattern!r}{where}{hint}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    if args.what == "specs":
        return _list_specs(args.pattern)
    if args.what == "datasets":
        return _list_datasets(args.pattern)
    from corruptions import CORRUPTIONS, list_corruptions

    names = list_corruptions(args.pattern, subset=args.subset)
    if not names:
        where = "" if args.subset == "all" else f" in subset {args.subset}"
        return _nothing_matched("corruptions", args.pattern, where, list_corruptions("*", subset=args.subset))
    width = max(len(n) for n in names)
    print(f"{'name':<{width}}  {'family':<8}  set")
    for name in names:
        c = CORRUPTIONS[name]
        print(f"{name:<{width}}  {c.family:<8}  {c.set}")
    return 0


def _list_specs(pattern: str) -> int:
    from ..models.presets import PRESETS, list_presets

    presets = list_presets(pattern)
    if not presets:
        return _nothing_matched("specs", pattern, "", list(PRESETS))
    width = max(len(p.name) for p in presets)
    print(f"{'name':<{width}}  {'family':<9}  what")
    for p in presets:
        print(f"{p.name:<{width}}  {p.family:<9}  {p.description}")
    return 0


def _list_datasets(pattern: str) -> int:
    from ..datasets.cards import get_card, list_datasets

    names = list_datasets(pattern)
    if not names:
        return _nothing_matched("datasets", pattern, "", list_datasets())
    width = max(len(n) for n in names)
    print(f"{'name':<{width}}  {'title':<10}  {'keypoints':>9}  {'metric':<6}  {'scorer':<17}  layout")
    for name in names:
        c = get_card(name)
        print(f"{name:<{width}}  {c.title:<10}  {c.num_keypoints:>9}  {c.primary_metric:<6}  {c.scorer:<17}  "
              f"{c.layout_text()}")
    return 0
