"""Which dataset card a training run uses, and how a checkpoint carries it.

``train --dataset NAME`` takes a registered dataset (``coco-c``, ``ochuman-c``, ``crowdpose-c``,
``synth-c``, ``mpii-c``) or a keypoint set (``coco``, ``mpii``, ``crowdpose``: the first card that
defines it), and ``--dataset-card FILE.json`` a user's own card; the card gives the keypoint count,
names, flip pairs and upper-body joints, and its format picks the reader (COCO-format json, or HRNet's
MPII json). The card's bytes go into every checkpoint, so that ``export`` writes the card's keypoints
into the model spec with no card file at hand, and ``--resume`` refuses another card.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from ..datasets.cards import DatasetCard, keypoint_sets, load_card_file, parse_card, registry
from ..errors import UserError

#: TrainConfig.dataset_format of each card format: the reader it needs.
READER_OF_FORMAT = {"coco": "coco", "synth": "coco", "mpii-hrnet": "mpii"}


def is_card_path(value: str) -> bool:
    """A ``dataset`` value naming a card file rather than a registered name (which is lower-case letters,
    digits and dashes): it ends in .json or holds a path separator."""
    return value.lower().endswith(".json") or "/" in value or "\\" in value


def resolve_dataset(value: str) -> DatasetCard:
    """The card of a ``dataset`` value: a card file, a registered dataset or a keypoint set.

    An unknown name is a one-line error naming the closest registered names and keypoint sets.
    """
    if is_card_path(value):
        return load_card_file(value)
    cards, sets = registry(), keypoint_sets()
    if value in cards:
        return cards[value]
    if value in sets:
        return sets[value]
    known = sorted(set(cards) | set(sets))
    close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise UserError(f"unknown dataset {value!r}; {hint}train takes a registered dataset or keypoint set "
                    f"({', '.join(known)}; `robustpose-bench list datasets`), or --dataset-card FILE.json")


def training_card(dataset: str | None, keypoints: str) -> DatasetCard:
    """The card of a TrainConfig: its ``dataset``, else (configs and checkpoints from before cards) the
    registered keypoint set ``keypoints`` names."""
    if dataset:
        return resolve_dataset(dataset)
    sets = keypoint_sets()
    if keypoints not in sets:
        raise UserError(f"config field 'keypoints': must be one of {', '.join(sets)}, got {keypoints!r}")
    return sets[keypoints]


def card_record(card: DatasetCard) -> dict[str, Any]:
    """What a checkpoint keeps of the card: its name, sha256 and bytes (as text), so that ``export``
    and ``--resume`` need no card file."""
    if card.path is not None:
        data = Path(card.path).read_bytes()
    else:
        from importlib.resources import files

        data = files("robustpose_bench").joinpath("dataset_cards", f"{card.name}.json").read_bytes()
    if hashlib.sha256(data).hexdigest() != card.sha256:
        raise UserError(f"dataset card {card.path or card.name}: changed while training started; run again")
    return {"name": card.name, "sha256": card.sha256, "text": data.decode("utf-8")}


def card_from_record(record: Any, source: str) -> DatasetCard:
    """The card a checkpoint recorded (:func:`card_record`), checked again; one-line errors naming ``source``."""
    ok = isinstance(record, Mapping) and all(isinstance(record.get(k), str) for k in ("name", "sha256", "text"))
    if not ok:
        raise UserError(f"{source}: its 'dataset_card' is not a card record (name, sha256, text)")
    data = record["text"].encode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    if sha != record["sha256"]:
        raise UserError(f"{source}: its dataset card {record['name']!r} does not match its sha256")
    try:
        obj = json.loads(data)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}: its dataset card is not valid JSON ({exc})") from None
    shipped = registry().get(record["name"])
    if shipped is not None and shipped.sha256 == sha:
        return shipped
    return parse_card(obj, f"{source} (dataset card {record['name']})", sha)

