"""``robustpose-bench submit RESULTS.json --name NAME``: add a measured leaderboard entry."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "submit", help="write a 'measured' leaderboard entry from a complete results.json",
        description="Write leaderboard/<dataset>/<name>.json citing the results file (copied into "
                    "leaderboard/<dataset>/results/), its sha256, the model and build sha256 and the box "
                    "source. Refuses partial results, and a run on fewer images or persons than the full "
                    "split unless --subset is given (subset entries are listed apart, not ranked).",
    )
    p.add_argument("results", help="results.json written by 'eval' or 'score'")
    p.add_argument("--name", required=True, help="entry name, unique within the dataset; the row's label unless "
                                                 "--architecture is given")
    p.add_argument("--method", choices=["standard", "advmix", "other"],
                   help="training method (default: from the results' provenance, else 'other')")
    p.add_argument("--architecture", help="network family, e.g. SimpleBaseline: the row's label with the method (default: --name)")
    p.add_argument("--backbone", help="e.g. ResNet-50")
    p.add_argument("--input-size", help="HxW, e.g. 256x192 (default: from the model spec)")
    p.add_argument("--box-source", metavar="gt|none|FILE",
                   help="where the person boxes came from, when the results do not say (results from 'score' "
                        "without --boxes); a detection file is recorded by its name and sha256, never its path")
    p.add_argument("--subset", action="store_true",
                   help="the run covers fewer images or persons than the full split (e.g. a sample): list it "
                        "as a subset entry, apart from the ranked full-split rows")
    p.add_argument("--model", help="the model file, to cite its sha256 when the results do not record it "
                   "(results from 'score')")
    p.add_argument("--manifest", help="the build's OUT/<dataset>/manifest.json, to cite its sha256 when the "
                   "results do not record it (results from 'score')")
    p.add_argument("--notes", help="free text kept with the entry")
    p.add_argument("--dir", help="leaderboard folder (default: ./leaderboard, made with the AdvMix paper's entries "
                                 "when absent)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..leaderboard.submit import submit
    from .leaderboard_cmd import board_dir

    directory = board_dir(args.dir, must_exist=False)
    path = submit(args.results, args.name, directory, method=args.method, architecture=args.architecture,
                  backbone=args.backbone, input_size=args.input_size, notes=args.notes,
                  box_source=args.box_source, model_file=args.model, manifest_file=args.manifest,
                  subset=args.subset)
    print(path)
    return 0
