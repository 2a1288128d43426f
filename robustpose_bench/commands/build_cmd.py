"""``robustpose-bench build DATASET --data DIR``: corrupt a dataset's images into DIR/<dataset>/ with a manifest."""
from __future__ import annotations

import argparse
import os
import sys

from ..flag_values import parse_corruptions, parse_severities
from .dataset_args import add_dataset_arguments, card_of
from .spelling import retire


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build", help="build a -C dataset (a registered one, `robustpose-bench list datasets`, or your own from "
                      "its card) with a checksummed manifest",
        description=(
            "Corrupt every source image with each corruption × severity and write "
            "DATA/<dataset>/<corruption>/<severity>/<file_name> plus DATA/<dataset>/manifest.json. "
            "Re-running skips finished items; outputs are identical for any --jobs, backend or sharding."
        ),
    )
    add_dataset_arguments(p, positional=True, help="which -C dataset")
    p.add_argument("--root", help="dataset root in its standard layout (synth-c: where to generate it; default DATA/synth)")
    p.add_argument("--images", help="image folder (overrides the layout; give with --ann)")
    p.add_argument("--ann", help="annotation file listing the images (overrides the layout)")
    p.add_argument("--split", help="source split (ochuman-c: val or test; default: the dataset's standard split)")
    p.add_argument("--data", default="out",
                   help="the built-datasets folder to write DATA/<dataset>/ into, the --data of eval and verify "
                        "(default: ./out)")
    retire(p, "--out", "--data", "the built-datasets folder, as in eval and verify")
    p.add_argument("--corruptions", default=None,
                   help="benchmark (the 15; the default, from data_manifests/<dataset>.json), all (19), "
                        "validation, or one comma-separated list of names, e.g. snow,fog")
    p.add_argument("--severities", default=None, help="e.g. 1-5 (default), 3, or 1,3,5")
    p.add_argument("--format", choices=("jpeg", "png"), default=None,
                   help="jpeg (Pillow quality 75, the default; keeps the source file name) or png (lossless; "
                        "the file suffix becomes .png)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes (default: all cores)")
    p.add_argument("--backend", choices=("loky", "dask"), default="loky",
                   help="loky (this machine) or dask (a dask.distributed cluster, needs --scheduler)")
    p.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://10.0.0.1:8786")
    p.add_argument("--shard", metavar="I/N",
                   help="build only the I-th of N deterministic slices, numbered 1..N as in eval and merge; the "
                        "shard that completes the set writes the merged manifest")
    p.add_argument("--limit", type=int, help="only the first N source images (sorted by file name)")
    p.add_argument("--layout", choices=("default", "advmix"), default="default",
                   help="default: severity folders 1..5; advmix: the official AdvMix layout, folders 0..4")
    p.add_argument("--seed-rule", choices=("hash", "advmix"), default="hash",
                   help="hash: per-item SHA-256 seeds (default); advmix: seed 1 for every item, as AdvMix's script")
    p.add_argument("--synth-count", type=int, default=None, help="synth-c only: number of generated images (default 300)")
    p.add_argument("--rebuild", action="store_true",
                   help="delete the build already in DATA/<dataset> (its outputs, manifest and journal) and "
                        "build anew; without it, a build with other settings there is refused")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def make_config(dataset, sources, corruptions: str | None = None, severities: str | None = None,
                seed_rule: str = "hash", fmt: str | None = None, layout: str = "default"):
    """The ``BuildConfig`` of a build: defaults from the shipped spec (data_manifests/<dataset>.json),
    the single source of truth, or, for a user's card, the default spec with the card's sha256
    (``builder.manifest.card_spec``); ``corruptions`` / ``severities`` as ``--corruptions`` /
    ``--severities`` take them. ``dataset``: a registered name or a card. Shared with the demo, so
    that both build exactly alike."""
    from ..builder.manifest import BuildConfig, spec_of_card
    from ..datasets.cards import resolve_card

    card = resolve_card(dataset)
    spec, spec_sha256 = spec_of_card(card)
    return BuildConfig(
        dataset=card.name, source=sources.source, split=sources.split,
        corruptions=parse_corruptions(corruptions or ",".join(spec["corruptions"])),
        severities=parse_severities(severities or ",".join(str(s) for s in spec["severities"])),
        master_seed=int(spec["master_seed"]), seed_rule=seed_rule, fmt=fmt or spec["format"],
        jpeg_quality=int(spec["jpeg_quality"]), layout=layout,
        spec_sha256=spec_sha256,
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..builder.runner import run_build
    from ..datasets import resolve_sources
    from ..errors import UserError
    from ..flag_values import parse_shard
    from ..provenance import base_provenance

    shard = parse_shard(args.shard)
    card = card_of(args)  # a bad --dataset-card fails here, before anything is written
    args.dataset = card.name
    if args.scheduler and args.backend != "dask":
        raise UserError("--scheduler is only used with --backend dask")
    if args.synth_count is not None and card.format != "synth":
        raise UserError("--synth-count only applies to synth-c")
    if args.synth_count is not None and args.synth_count < 1:
        raise UserError(f"--synth-count must be at least 1, got {args.synth_count}")
    # Checked before the sources are resolved (and synth generated): a bad list fails at once.
    for text, parse in ((args.corruptions, parse_corruptions), (args.severities, parse_severities)):
        if text is not None:
            parse(text)
    out = Path(args.data)
    sources = resolve_sources(
        card, root=args.root, images=args.images, ann=args.ann, split=args.split,
        synth_root=out / "synth", synth_count=args.synth_count,
    )
    config = make_config(card, sources, args.corruptions, args.severities, seed_rule=args.seed_rule,
                         fmt=args.format, layout=args.layout)
    res = run_build(
        config, sources, out, jobs=args.jobs, backend=args.backend, scheduler=args.scheduler,
        shard=shard, limit=args.limit, progress=not args.no_progress, provenance=base_provenance(),
        rebuild=args.rebuild,
    )
    what = ("merged shards into" if res.merged else
            "wrote" if shard is None else f"wrote shard {shard[0]}/{shard[1]} as")
    print(
        f"{args.dataset}: {res.n_sources} source images, {res.n_items} outputs "
        f"({res.written} written, {res.skipped} already done) in {res.seconds:.1f} s; "
        f"{what} {res.manifest_path} (sha256 {res.manifest_sha256})"
    )
    if res.failed:
        print(f"robustpose-bench build: {len(res.failed)} failed item(s); the rest completed:", file=sys.stderr)
        for f in res.failed[:20]:
            where = f" {f['corruption']}/{f['severity']}" if f.get("corruption") else ""
            print(f"  {f['source']}{where}: {f['reason']}", file=sys.stderr)
        if len(res.failed) > 20:
            print(f"  ... and {len(res.failed) - 20} more (see the manifest's 'failed' list)", file=sys.stderr)
        return 1
    return 0
