"""``robustpose-bench download coco --root DIR``: the official COCO val2017 archives, checked and extracted."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download", help="download and extract COCO val2017 (resumable, checksum-checked)",
        description=(
            "Downloads val2017.zip and annotations_trainval2017.zip (resuming partial downloads), checks "
            "their size, md5 and sha256 against data_manifests/coco-c.json and extracts them safely into "
            "ROOT/val2017 and ROOT/annotations. MPII and OCHuman need a manual download (see docs)."
        ),
    )
    p.add_argument("dataset", choices=("coco",), help="which dataset (only COCO is redistributable this way)")
    p.add_argument("--root", required=True, help="where the standard layout goes")
    p.add_argument("--base-url", help="a mirror serving the same archive names (default: images.cocodataset.org)")
    p.add_argument("--remove-archives", action="store_true", help="delete the zips after extracting them")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..builder.download import download_coco

    tops = download_coco(args.root, base_url=args.base_url, progress=not args.no_progress,
                         remove_archives=args.remove_archives)
    print(f"coco: ready under {args.root} ({', '.join(tops)}); build with "
          f"`robustpose-bench build coco-c --root {args.root}`")
    return 0
