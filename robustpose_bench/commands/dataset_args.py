"""The dataset arguments every data command shares: a registered name, or ``--dataset-card FILE.json``.

Names are checked against the card registry (``datasets/cards.py``) as argparse parses them, so an
unknown name is a one-line usage error naming the closest registered names.
"""
from __future__ import annotations

import argparse
from pathlib import Path

CARD_HELP = ("your own dataset's card (keypoint names, flip pairs, OKS sigmas, scorer; `robustpose-bench docs "
             "datasets`) instead of a registered name; the dataset is then the card's name")


def dataset_name(text: str) -> str:
    """argparse ``type``: a registered dataset name."""
    from ..datasets.cards import find_card, unknown_dataset

    if find_card(text) is None:
        raise argparse.ArgumentTypeError(str(unknown_dataset(text)))
    return text


def registered() -> str:
    """'coco-c, crowdpose-c, ...' for help texts."""
    from ..datasets.cards import list_datasets

    return ", ".join(list_datasets())


def add_dataset_arguments(p: argparse.ArgumentParser, positional: bool = False, help: str = "which dataset") -> None:
    """``--dataset NAME`` (also ``DATASET`` where the dataset is the command's subject: build, verify) or
    ``--dataset-card FILE.json``: exactly one of them. Without ``--dataset`` in build, argparse would
    take ``build --dataset coco-c`` for an abbreviated ``--dataset-card coco-c``."""
    group = p.add_mutually_exclusive_group(required=True)
    names = f"{help}: {registered()} (`robustpose-bench list datasets`)"
    if positional:  # build coco-c: the dataset is the command's subject; --dataset NAME works as in eval
        group.add_argument("dataset", nargs="?", type=dataset_name, help=names)
        group.add_argument("--dataset", dest="dataset_option", type=dataset_name, metavar="NAME",
                           help="the same, spelled as in eval, score and train")
    else:
        group.add_argument("--dataset", type=dataset_name, metavar="NAME", help=names)
    group.add_argument("--dataset-card", type=Path, metavar="FILE.json", help=CARD_HELP)


def card_of(args: argparse.Namespace):
    """The parsed arguments' dataset card (a registered one, or the ``--dataset-card`` file)."""
    from ..datasets.cards import resolve_card

    name = args.dataset if args.dataset is not None else getattr(args, "dataset_option", None)
    return resolve_card(name, args.dataset_card)
