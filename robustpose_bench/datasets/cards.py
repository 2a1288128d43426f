"""Dataset cards: one JSON file says everything that makes a dataset, and a registry lists them.

A card (schema ``robustpose-bench/dataset-card/1``, docs/datasets.md) holds the name and title, the
keypoint set (names, flip pairs, OKS sigmas, upper-body joints), the primary metric and the scorer,
the source layout with its default split sizes, and the download hint. The shipped cards live in
``robustpose_bench/dataset_cards/<name>.json``; ``--dataset-card FILE.json`` reads a user's own card
with the same checks, so that any COCO-format keypoint dataset builds, evaluates and scores with no
code. Every table of the package (CLI choices, results, vocabulary, leaderboard, scorer, model
keypoint mapping) reads from here. This module is a leaf: it imports nothing heavier than ``json``.
"""
from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import UserError, shown
from ..jsonfile import read_json

CARD_SCHEMA = "robustpose-bench/dataset-card/1"
#: Which adapter reads the source (``datasets/coco.py``, ``mpii.py``, ``synth.py``).
FORMATS = ("coco", "mpii-hrnet", "synth")
#: scorer -> (reference library recorded in results, its primary metric)
SCORERS: dict[str, tuple[str, str]] = {
    "pycocotools": ("pycocotools", "AP"),
    "xtcocotools-crowd": ("xtcocotools", "AP"),
    "hrnet-pckh": ("hrnet-pckh", "PCKh"),
}
#: A dataset name is a folder name under OUT/ and leaderboard/: lower-case letters, digits, dashes.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_FIELDS = ("schema", "name", "title", "source", "format", "keypoint_set", "keypoints", "flip_pairs", "sigmas",
           "upper_body", "primary_metric", "scorer", "layout", "split_sizes", "download")
_OPTIONAL = {"keypoint_set", "upper_body", "layout", "split_sizes", "download", "source", "format"}


@dataclass(frozen=True)
class SplitLayout:
    """Where one split's files lie under ROOT: the image folder, the annotation file and, for MPII,
    the ground truth the scorer reads (``annot/gt_valid.mat``)."""

    images: str
    annotations: str
    ground_truth: str | None = None


@dataclass(frozen=True)
class DatasetCard:
    """A checked dataset card (see the module docstring); build with :func:`parse_card`."""

    name: str
    title: str
    source: str
    format: str
    keypoint_set: str
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] | None
    upper_body: tuple[str, ...]
    primary_metric: str
    scorer: str
    default_split: str | None
    splits: tuple[tuple[str, SplitLayout], ...]
    split_sizes: tuple[tuple[str, int | None, int | None], ...]  # (split, images, persons)
    download: str
    sha256: str = field(compare=False)
    path: str | None = field(default=None, compare=False)  # a user's card file; None when shipped
    shipped: bool = field(default=False, compare=False)  # one of robustpose_bench/dataset_cards/

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    @property
    def library(self) -> str:
        """The reference library that scores it, as results.json records it (``provenance.scorer``)."""
        return SCORERS[self.scorer][0]

    @property
    def coco_format(self) -> bool:
        return self.format in ("coco", "synth")

    def split(self, name: str | None) -> tuple[str, SplitLayout]:
        """(split name, layout) of ``name`` or the default split; a one-line error for an unknown one."""
        layouts = dict(self.splits)
        split = name or self.default_split
        if split is None or not layouts:
            raise UserError(f"{self.name}: its card gives no standard layout; pass --images DIR and --ann FILE")
        if split not in layouts:
            raise UserError(f"{self.name}: unknown split {split!r}; expected one of {', '.join(layouts)}")
        return split, layouts[split]

    def layout_text(self, split: str | None = None) -> str:
        """'ROOT/val2017/ + ROOT/annotations/person_keypoints_val2017.json' for messages."""
        if not self.splits:
            return "no standard layout (--images DIR --ann FILE)"
        _, lay = self.split(split)
        return f"ROOT/{lay.images}/ + ROOT/{lay.annotations}"

    def upper_body_indices(self) -> tuple[int, ...]:
        return tuple(self.keypoints.index(n) for n in self.upper_body)

    def provenance(self) -> dict[str, Any]:
        """What results.json records of the card (``provenance.dataset_card``): enough to show, check
        and tell apart a results file of a dataset that is not registered here."""
        out = {"name": self.name, "title": self.title, "sha256": self.sha256, "shipped": self.shipped,
               "primary_metric": self.primary_metric, "scorer": self.scorer,
               "keypoints": list(self.keypoints), "sigmas": None if self.sigmas is None else list(self.sigmas),
               "default_split": self.default_split, "split_sizes": self.split_sizes_record()}
        if self.path is not None:
            out["path"] = self.path  # a user's card: the file it came from
        return out

    def split_sizes_record(self) -> dict[str, dict[str, int]]:
        """``split_sizes`` as the card spells it: recorded in results and entries, so that a reader
        without a user's card still knows its full split (``splits.py``)."""
        return split_sizes_record(self.split_sizes)

    def identity(self) -> dict[str, Any]:
        """What of the card decides an eval run's predictions and scores (part of the run identity):
        a changed card must not resume an old run."""
        return {"name": self.name, "keypoints": list(self.keypoints),
                "sigmas": None if self.sigmas is None else list(self.sigmas), "scorer": self.scorer}


def split_sizes_record(sizes: Iterable[tuple[str, int | None, int | None]]) -> dict[str, dict[str, int]]:
    """(split, images, persons) triples as a card spells ``split_sizes``: the inverse of
    :func:`parse_split_sizes`."""
    return {split: {k: n for k, n in (("images", images), ("persons", persons)) if n is not None}
            for split, images, persons in sizes}


def _fail(source: str, fld: str, msg: str) -> UserError:
    return UserError(f"{source}: field {fld}: {msg}")


def _string(obj: Mapping, key: str, source: str, default: str | None = None) -> str:
    v = obj.get(key, default)
    if not isinstance(v, str) or not v.strip():
        raise _fail(source, key, f"must be a non-empty string, got {shown(v)}")
    return v


def _names(v: Any, source: str, fld: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        raise _fail(source, fld, f"must be a list of non-empty strings, got {shown(v)}")
    seen: set[str] = set()
    for i, s in enumerate(v):
        if s in seen:
            raise _fail(source, f"{fld}[{i}]", f"{s!r} is a duplicate name; every keypoint needs its own")
        seen.add(s)
    return tuple(v)


def _flip_pairs(v: Any, k: int, source: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(v, list):
        raise _fail(source, "flip_pairs", f"must be a list of [left, right] index pairs, got {shown(v)}")
    out: list[tuple[int, int]] = []
    used: set[int] = set()
    for i, p in enumerate(v):
        ok = (isinstance(p, list) and len(p) == 2
              and all(isinstance(j, int) and not isinstance(j, bool) for j in p))
        if not ok:
            raise _fail(source, f"flip_pairs[{i}]", f"must be two keypoint indices, got {shown(p)}")
        if not all(0 <= j < k for j in p):
            raise _fail(source, f"flip_pairs[{i}]", f"{p} is out of range: the card has {k} keypoints, 0..{k - 1}")
        if p[0] == p[1] or p[0] in used or p[1] in used:
            raise _fail(source, f"flip_pairs[{i}]", f"{p} pairs a keypoint with itself or reuses one of another pair")
        used.update(p)
        out.append((p[0], p[1]))
    return tuple(out)


def _sigmas(v: Any, k: int, scorer: str, source: str) -> tuple[float, ...] | None:
    if scorer == "hrnet-pckh":
        if v is not None:
            raise _fail(source, "sigmas", "must be null for a PCKh-scored dataset (OKS sigmas are for AP)")
        return None
    if not isinstance(v, list) or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in v):
        raise _fail(source, "sigmas", f"must be a list of {k} OKS sigmas (numbers), one per keypoint, got {shown(v)}")
    if len(v) != k:
        raise _fail(source, "sigmas", f"has {len(v)} values but the card has {k} keypoints; give one sigma per keypoint")
    for i, s in enumerate(v):
        if not math.isfinite(s) or s <= 0:
            raise _fail(source, f"sigmas[{i}]", f"must be a positive number, got {s!r}")
    return tuple(float(s) for s in v)


def _layout(v: Any, fmt: str, source: str) -> tuple[str | None, tuple[tuple[str, SplitLayout], ...]]:
    if v is None:
        return None, ()
    if not isinstance(v, Mapping) or not isinstance(v.get("splits"), Mapping) or not v["splits"]:
        raise _fail(source, "layout", "must be {\"default_split\": NAME, \"splits\": {NAME: {\"images\": DIR, "
                    "\"annotations\": FILE}}}")
    splits = []
    for name, lay in v["splits"].items():
        where = f"layout.splits.{name}"
        if not isinstance(lay, Mapping) or set(lay) - {"images", "annotations", "ground_truth"}:
            raise _fail(source, where, "must hold 'images', 'annotations' (and, for MPII, 'ground_truth') only")
        parts = {}
        for key in ("images", "annotations", "ground_truth"):
            p = lay.get(key)
            if p is None and key == "ground_truth":
                continue
            if not isinstance(p, str) or not p or p.startswith("/") or ".." in p.split("/") or "\\" in p:
                raise _fail(source, f"{where}.{key}", f"must be a relative path inside ROOT, got {shown(p)}")
            parts[key] = p
        if fmt == "mpii-hrnet" and "ground_truth" not in parts:
            raise _fail(source, f"{where}.ground_truth", "is missing (HRNet's annot/gt_valid.mat)")
        splits.append((str(name), SplitLayout(**parts)))
    default = v.get("default_split", splits[0][0])
    if default not in dict(splits):
        raise _fail(source, "layout.default_split", f"{shown(default)} is not one of the splits {', '.join(dict(splits))}")
    return default, tuple(splits)


def parse_split_sizes(v: Any, source: str) -> tuple[tuple[str, int | None, int | None], ...]:
    """(split, images, persons) of a card's ``split_sizes`` object, in a card or as a results file or an
    entry recorded it; a one-line ``UserError`` naming ``source`` on a malformed one."""
    if v is None:
        return ()
    if not isinstance(v, Mapping):
        raise _fail(source, "split_sizes", f"must map split names to {{\"images\": N}} or {{\"persons\": N}}, got {shown(v)}")
    out = []
    for split, size in v.items():
        ok = isinstance(size, Mapping) and size and set(size) <= {"images", "persons"} and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size.values())
        if not ok:
            raise _fail(source, f"split_sizes.{split}", f"must be {{\"images\": N}} or {{\"persons\": N}}, N > 0, got {shown(size)}")
        out.append((str(split), size.get("images"), size.get("persons")))
    return tuple(out)


def parse_card(obj: Any, source: str, sha256: str, path: str | None = None, shipped: bool = False) -> DatasetCard:
    """Check a card's JSON object; every problem is a one-line ``UserError`` naming ``source`` and the field."""
    if not isinstance(obj, Mapping):
        raise UserError(f"{source}: a dataset card must be a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise _fail(source, unknown[0], f"is not a card field (known: {', '.join(_FIELDS)})")
    missing = [f for f in _FIELDS if f not in obj and f not in _OPTIONAL]
    if missing:
        raise _fail(source, missing[0], "is missing")
    if obj["schema"] != CARD_SCHEMA:
        raise _fail(source, "schema", f"must be {CARD_SCHEMA!r}, got {shown(obj['schema'])}")
    name = _string(obj, "name", source)
    if not NAME_PATTERN.match(name):
        raise _fail(source, "name", f"{name!r} must be lower-case letters, digits and dashes (it names folders), "
                    "e.g. 'ap10k-c'")
    fmt = obj.get("format", "coco")
    if fmt not in FORMATS:
        raise _fail(source, "format", f"must be one of {', '.join(FORMATS)}, got {shown(fmt)}")
    scorer = obj["scorer"]
    if scorer not in SCORERS:
        raise _fail(source, "scorer", f"must be one of {', '.join(SCORERS)}, got {shown(scorer)}")
    if (scorer == "hrnet-pckh") != (fmt == "mpii-hrnet"):
        raise _fail(source, "scorer", f"{scorer} does not score the {fmt} format (PCKh goes with mpii-hrnet, "
                    "pycocotools and xtcocotools-crowd with COCO-format annotations)")
    if obj["primary_metric"] != SCORERS[scorer][1]:
        raise _fail(source, "primary_metric", f"{scorer} reports {SCORERS[scorer][1]}, got {shown(obj['primary_metric'])}")
    keypoints = _names(obj["keypoints"], source, "keypoints")
    if not keypoints:
        raise _fail(source, "keypoints", "must name at least one keypoint")
    k = len(keypoints)
    pairs = _flip_pairs(obj["flip_pairs"], k, source)
    sigmas = _sigmas(obj["sigmas"], k, scorer, source)
    upper = _names(obj.get("upper_body", []), source, "upper_body")
    for i, n in enumerate(upper):
        if n not in keypoints:
            raise _fail(source, f"upper_body[{i}]", f"{n!r} is not one of the card's keypoints")
    default, splits = _layout(obj.get("layout"), fmt, source)
    return DatasetCard(
        name=name, title=_string(obj, "title", source), source=_string(obj, "source", source, name),
        format=fmt, keypoint_set=_string(obj, "keypoint_set", source, name), keypoints=keypoints, flip_pairs=pairs,
        sigmas=sigmas, upper_body=upper, primary_metric=obj["primary_metric"], scorer=scorer, default_split=default,
        splits=splits, split_sizes=parse_split_sizes(obj.get("split_sizes"), source),
        download=_string(obj, "download", source, "your own data"), sha256=sha256, path=path, shipped=shipped)


def _card_dir():
    return files("robustpose_bench").joinpath("dataset_cards")


@lru_cache(maxsize=1)
def registry() -> dict[str, DatasetCard]:
    """The shipped cards by name, in name order (``robustpose_bench/dataset_cards/*.json``)."""
    cards: dict[str, DatasetCard] = {}
    for entry in sorted(_card_dir().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data = entry.read_bytes()
        source = f"dataset card {entry.name}"
        try:
            obj = json.loads(data)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}: not valid JSON ({exc})") from None
        card = parse_card(obj, source, hashlib.sha256(data).hexdigest(), shipped=True)
        if entry.name != f"{card.name}.json":
            raise UserError(f"{source}: field name: {card.name!r} must match the file name")
        cards[card.name] = card
    return cards


@lru_cache(maxsize=1)
def keypoint_sets() -> dict[str, DatasetCard]:
    """Each registered keypoint set (a model spec's ``keypoints.dataset_map`` key: 'coco', 'mpii', ...)
    and the first card that defines it; the cards sharing a set must agree on its keypoints and pairs."""
    sets: dict[str, DatasetCard] = {}
    for card in registry().values():
        first = sets.setdefault(card.keypoint_set, card)
        if (first.keypoints, first.flip_pairs) != (card.keypoints, card.flip_pairs):
            raise UserError(f"dataset card {card.name}.json: field keypoints: keypoint set {card.keypoint_set!r} is "
                            f"defined differently by {first.name}.json")
    return sets


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching a glob (``timm.list_models`` style), in name order."""
    return [n for n in registry() if fnmatch.fnmatchcase(n, pattern)]


def find_card(name: str) -> DatasetCard | None:
    """The registered card of ``name``, or None (e.g. a results file of a user's own dataset)."""
    return registry().get(name)


def unknown_dataset(name: Any) -> UserError:
    """The one error for a dataset name that is not registered: it names the closest ones."""
    names = list(registry())
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return UserError(f"unknown dataset {name!r}; {hint}registered: {', '.join(names)} (`robustpose-bench list "
                     "datasets`); for your own data pass --dataset-card FILE.json")


def get_card(name: str) -> DatasetCard:
    """The registered card of ``name``; an unknown name is a one-line error naming the closest names."""
    card = find_card(name)
    if card is None:
        raise unknown_dataset(name)
    return card


def load_card_file(path: str | Path) -> DatasetCard:
    """A user's card file, checked like the shipped ones. A card named like a registered dataset must
    be that dataset's card, byte for byte: another keypoint set under a known name would mix results."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--dataset-card {p}: no such file")
    obj = read_json(p, "dataset card")
    data = p.read_bytes()
    card = parse_card(obj, str(p), hashlib.sha256(data).hexdigest(), path=str(p))
    shipped = find_card(card.name)
    if shipped is not None:
        if shipped.sha256 != card.sha256:
            raise _fail(str(p), "name", f"{card.name!r} is a registered dataset with its own card; give yours another "
                        "name")
        return shipped
    return card


def resolve_card(dataset: "str | DatasetCard | None", card_file: str | Path | None = None) -> DatasetCard:
    """The card of a command: ``--dataset-card FILE`` (whose name ``dataset``, if given, must match) or
    the registered ``dataset``."""
    if isinstance(dataset, DatasetCard):
        return dataset
    if card_file is not None:
        card = load_card_file(card_file)
        if dataset is not None and dataset != card.name:
            raise UserError(f"--dataset-card {card_file} is dataset {card.name!r}, not {dataset!r}; give one of them "
                            "or the card's own name")
        return card
    if dataset is None:
        raise UserError("no dataset given: name a registered one (`robustpose-bench list datasets`) or pass "
                        "--dataset-card FILE.json")
    return get_card(dataset)


def card_of_results(results: Mapping, source: str, card_file: str | Path | None = None) -> DatasetCard:
    """The card a results file was made with, for commands that rebuild results from it (``merge``):
    the registered card of its dataset, else ``card_file`` (``--dataset-card``), else the card file it
    recorded (``provenance.dataset_card.path``). A user's card must still have the recorded sha256: a
    changed card would relabel the run."""
    name = results.get("dataset")
    record = (results.get("provenance") or {}).get("dataset_card") or {}
    if card_file is None and isinstance(name, str) and find_card(name) is not None:
        return get_card(name)
    if card_file is None:
        path = record.get("path")
        if not isinstance(path, str) or not Path(path).is_file():
            where = f"the card file it recorded ({path}) is not at hand" if isinstance(path, str) else \
                "it recorded no card file"
            raise UserError(f"{source}: dataset {name!r} is a user's card and {where}: pass --dataset-card FILE.json")
        card_file = path
    card = resolve_card(name if isinstance(name, str) else None, card_file)
    if record.get("sha256") and card.sha256 != record["sha256"]:
        raise _fail(source, "provenance.dataset_card.sha256", f"the run used another card than {card_file} "
                    f"(sha256 {str(record['sha256'])[:12]}…, the file's is {card.sha256[:12]}…)")
    return card


def check_annotation_keypoints(card: DatasetCard, data: Mapping, source: str) -> None:
    """A COCO-format annotation object must hold the card's keypoint count: in its categories' keypoint
    names and in every annotation's keypoint triples (one-line error naming the file and the field)."""
    k = card.num_keypoints
    for i, cat in enumerate(data.get("categories") or []):
        names = cat.get("keypoints") if isinstance(cat, Mapping) else None
        if isinstance(names, list) and len(names) != k:
            raise _fail(source, f"categories[{i}].keypoints", f"lists {len(names)} keypoints; dataset {card.name} "
                        f"has {k} ({', '.join(card.keypoints)})")
    for i, ann in enumerate(data.get("annotations") or []):
        kp = ann.get("keypoints") if isinstance(ann, Mapping) else None
        if isinstance(kp, list) and len(kp) != 3 * k:
            raise _fail(source, f"annotations[{i}].keypoints", f"has {len(kp)} values; dataset {card.name}'s {k} "
                        f"keypoints need {3 * k} (x, y, v each)")
