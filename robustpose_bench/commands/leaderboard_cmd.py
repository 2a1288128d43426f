"""``robustpose-bench leaderboard import-paper|check|verify|render``."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard", help="check, verify and render the leaderboard (one JSON entry per model)",
        description="The leaderboard is one JSON file per (dataset, model) under leaderboard/<dataset>/ "
                    "(`robustpose-bench docs leaderboard`). check validates and recomputes every entry, verify re-evaluates a "
                    "measured one, render writes LEADERBOARD.md, leaderboard.tex, leaderboard.csv and index.html, "
                    "import-paper writes the AdvMix paper's rows.",
    )
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="SUBCOMMAND", required=True)
    dir_help = "leaderboard folder (default: ./leaderboard, made with the AdvMix paper's entries when absent)"

    imp = lsub.add_parser("import-paper", help="write the AdvMix paper's rows as 'reported' entries")
    imp.add_argument("csv", metavar="CSV", nargs="?",
                     help="the paper's published numbers, one row per model and table (columns: table, dataset, "
                          "method, training, backbone, input_size, clean, mPC, rPC and the 15 corruptions); "
                          "default: the 48 entries shipped with the package, made from that table")
    imp.add_argument("--dir", help=dir_help)
    imp.add_argument("--overwrite", action="store_true", help="regenerate paper entries that already exist")
    imp.set_defaults(func=run_import)

    chk = lsub.add_parser("check", help="validate every entry, recompute mPC/rPC, compare with results files")
    chk.add_argument("--dir", help=dir_help)
    chk.add_argument("--strict", action="store_true",
                     help="ignore the stated rounding of reported numbers (shows rows that agree only up to rounding)")
    chk.set_defaults(func=run_check)

    ver = lsub.add_parser("verify", help="re-evaluate a measured entry and compare its numbers")
    ver.add_argument("entry", help="the entry's JSON file")
    ver.add_argument("--model", required=True, help="the model file the entry was measured with")
    ver.add_argument("--data", required=True, help="the built datasets folder (OUT of 'build')")
    ver.add_argument("--subset", default="full",
                     help="'full' (all 76 conditions) or 'quick' (clean + every corruption at severity 3); "
                          "default full")
    ver.add_argument("--tolerance", type=float, default=None,
                     help="largest allowed difference in points (default 0.1)")
    ver.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ver.add_argument("--out", help="folder to keep the re-evaluation's results.json and predictions in "
                          "(default: a temporary folder, removed when verify ends)")
    ver.add_argument("--eval-arg", action="append", default=[], metavar="ARG",
                     help="extra argument passed to the evaluator (repeatable), e.g. --eval-arg=--root=DIR")
    ver.set_defaults(func=run_verify)

    ren = lsub.add_parser("render", help="write LEADERBOARD.md, leaderboard.tex, leaderboard.csv, index.html")
    ren.add_argument("--dir", help=dir_help)
    ren.add_argument("--out", help="output folder (default: the leaderboard folder)")
    ren.set_defaults(func=run_render)


def board_dir(given: str | None, must_exist: bool = True):
    """``--dir``, or ``./leaderboard`` (made with the paper's entries when absent, said on stderr)."""
    from pathlib import Path

    from ..leaderboard.entries import default_leaderboard_dir, resolve_dir

    if given is not None:
        return resolve_dir(given) if must_exist else Path(given)
    path, made = default_leaderboard_dir()
    if made:
        print(f"created {path} with the AdvMix paper's {made} entries", file=sys.stderr)
    return path


def run_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..leaderboard.entries import DEFAULT_DIR_NAME, install_paper_entries
    from ..leaderboard.importer import import_paper

    directory = Path(args.dir) if args.dir is not None else Path.cwd() / DEFAULT_DIR_NAME
    if args.csv is None:
        paths = install_paper_entries(directory, overwrite=args.overwrite)
    else:
        paths = import_paper(args.csv, directory, overwrite=args.overwrite)
    print(f"wrote {len(paths)} reported entries under {directory}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..leaderboard.check import check_dir

    directory = board_dir(args.dir)
    report = check_dir(directory, strict=args.strict)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    status = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    print(f"checked {report.entries} entries in {directory} ({report.results_compared} against their "
          f"results file): {status}")
    return 0 if report.ok else 1


def run_verify(args: argparse.Namespace) -> int:
    from ..leaderboard.verify import DEFAULT_TOLERANCE, verify_entry

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    report = verify_entry(args.entry, args.model, args.data, subset=args.subset, tolerance=tolerance,
                          device=args.device, extra_args=args.eval_arg, out_dir=args.out)
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def run_render(args: argparse.Namespace) -> int:
    from ..leaderboard.render import render

    directory = board_dir(args.dir)
    for path in render(directory, args.out):
        print(path)
    return 0
