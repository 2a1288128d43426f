"""``robustpose-bench verify DATASET --data DIR``: re-hash a build against its manifest."""
from __future__ import annotations

import argparse
import os

from .dataset_args import add_dataset_arguments, card_of
from .spelling import retire


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify", help="re-hash a built -C dataset; report missing, extra and mismatched files",
        description="Re-hash every file of DATA/<dataset>/ against the build's manifest.json and list what is "
                    "missing, extra, mismatched or failed at build time. Exit status 0 when everything matches, "
                    "1 otherwise.",
    )
    add_dataset_arguments(p, positional=True, help="which built dataset under --data")
    p.add_argument("--data", default="out", help="the built-datasets folder build wrote (default: ./out)")
    retire(p, "--out", "--data", "the built-datasets folder, as in build and eval")
    p.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), help="hashing threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--recompute", action="store_true",
                   help="also re-render the outputs from their sources (--images) and compare bytes: catches an "
                        "image replaced together with its manifest entry, which hashing cannot")
    p.add_argument("--images", help="with --recompute: the source image folder the build read")
    p.add_argument("--sample", type=int, help="with --recompute: re-render only this many outputs, drawn at random")
    p.add_argument("--seed", type=int, help="with --sample: the draw's seed (default: a fresh one, printed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..builder.verify import verify_dataset
    from ..errors import UserError

    args.dataset = card_of(args).name
    if args.recompute and not args.images:
        raise UserError("--recompute needs --images DIR: the source images the build read")
    if not args.recompute and (args.images or args.sample is not None or args.seed is not None):
        raise UserError("--images, --sample and --seed go with --recompute")
    rep = verify_dataset(Path(args.data) / args.dataset, jobs=args.jobs, progress=not args.no_progress)
    if rep.manifest_problem:
        print(f"manifest: {rep.manifest_problem}")
    for rel in rep.missing:
        print(f"missing: {rel}")
    for rel, want, got in rep.mismatched:
        print(f"mismatch: {rel} (expected sha256 {want}, got {got})")
    for rel, why in rep.refused:
        print(f"refused: {rel} ({why}; only regular files inside the dataset folder are read)")
    for rel in rep.extra:
        print(f"extra: {rel}")
    for f in rep.failed_items:
        where = f" {f['corruption']}/{f['severity']}" if f.get("corruption") else ""
        print(f"failed at build: {f['source']}{where}: {f['reason']}")
    status = "OK" if rep.ok else "FAILED"
    print(
        f"verify {args.dataset}: {status}: {rep.checked} files checked, {len(rep.missing)} missing, "
        f"{len(rep.mismatched)} mismatched, {len(rep.refused)} refused, {len(rep.extra)} extra, {len(rep.failed_items)} failed at build; "
        f"manifest sha256 {rep.manifest_sha256}"
    )
    if not args.recompute:
        return 0 if rep.ok else 1
    from ..builder.recompute import recompute_outputs

    rec = recompute_outputs(Path(args.data) / args.dataset, args.images, sample=args.sample, seed=args.seed,
                            jobs=args.jobs, progress=not args.no_progress)
    for name, why in rec.differ:
        print(f"differs: {name}: {why}")
    drawn = f" (a random sample, --seed {rec.seed})" if rec.seed is not None else ""
    print(f"recompute {args.dataset}: {'OK' if rec.ok else 'FAILED'}: {rec.checked} of {rec.total} outputs "
          f"re-rendered from their sources{drawn}, {len(rec.differ)} differ")
    return 0 if rep.ok and rec.ok else 1
