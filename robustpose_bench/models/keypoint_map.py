"""Which model keypoint is which keypoint of a dataset: from the spec's ``dataset_map``, else by name.

A spec maps its keypoints onto registered keypoint sets (``keypoints.dataset_map``: 'coco', 'mpii',
...) and may name them (``keypoints.names``; the presets do). A dataset's card names its keypoints, so
a model fits any dataset whose keypoints it has under the same names: a COCO-17 model scores a card
holding five of COCO's keypoints without a spec edit. Where the names do not fit, the error is one line
naming both sets.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from ..datasets.cards import DatasetCard
    from .spec import ModelSpec


def model_keypoint_names(spec: "ModelSpec") -> dict[str, int]:
    """name -> model index: the spec's own names, then the names of every keypoint set it maps onto."""
    from ..datasets.cards import keypoint_sets

    by_name: dict[str, int] = {}
    if spec.keypoints.names:
        by_name.update({n: i for i, n in enumerate(spec.keypoints.names)})
    sets = keypoint_sets()
    for kp_set, idx in spec.keypoints.dataset_map.items():
        if kp_set in sets:
            for n, j in zip(sets[kp_set].keypoints, idx):
                if j is not None:
                    by_name.setdefault(n, j)
    return by_name


def dataset_indices(spec: "ModelSpec", card: "DatasetCard") -> tuple[int, ...]:
    """The model index of each of ``card``'s keypoints, in the card's order.

    The spec's ``dataset_map`` entry for the card's keypoint set when it has one (as before cards), or
    for MPII a COCO model's map by joint name (``ModelSpec.dataset_indices``: -1 for the four joints COCO
    lacks, scored as partial PCKh); otherwise the card's keypoint names looked up among the model's
    (``model_keypoint_names``).
    """
    dmap = spec.keypoints.dataset_map
    if card.keypoint_set == "mpii" and "mpii" not in dmap and "coco" in dmap:
        return spec.dataset_indices("mpii")  # a COCO model's MPII joints by name: partial PCKh
    if card.keypoint_set in dmap:
        idx = spec.dataset_indices(card.keypoint_set)
        if len(idx) != card.num_keypoints:  # a user's keypoint set: the spec cannot check its size alone
            raise UserError(f"model spec '{spec.name}': keypoints.dataset_map.{card.keypoint_set} lists {len(idx)} "
                            f"keypoints, but dataset {card.name} has {card.num_keypoints}")
        return idx
    by_name = model_keypoint_names(spec)
    missing = [n for n in card.keypoints if n not in by_name]
    if not missing:
        return tuple(by_name[n] for n in card.keypoints)
    from .spec import DATASET_KEYPOINTS

    have = f"[{_few(list(by_name))}]" if by_name else f"{spec.keypoints.num} unnamed keypoints"
    sets = ", ".join(sorted(spec.keypoints.dataset_map)) or "none"
    also = f", or map them in keypoints.dataset_map.{card.keypoint_set}" if card.keypoint_set in DATASET_KEYPOINTS else ""
    raise UserError(
        f"model spec '{spec.name}': keypoints.dataset_map has no entry for '{card.keypoint_set}' (it maps onto: "
        f"{sets}) and its keypoints do not fit dataset {card.name} by name: the model's are {have}, the dataset's "
        f"[{_few(card.keypoints)}], none of the model's is named {_few(missing)} (name them in the spec's "
        f"keypoints.names{also}); this model cannot be scored on that dataset")


def _few(names, n: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")
