"""Build specs, per-item seeds, output paths and the materialised manifest.

Why a stable hash: the reference corruptions draw from numpy's global RNG and AdvMix's script
reseeds it with 1 before every call, so "the same" -C dataset differs between people. Here every
item's seed is ``uint32(SHA-256(canonical JSON of [master_seed, dataset, source file name,
corruption, severity]))``: independent of order, job count, sharding and Python's salted ``hash()``.

The materialised manifest (``OUT/<dataset>/manifest.json``) holds no timestamps and no absolute
paths, and its items are sorted, so identical builds give identical bytes; its sha256 identifies
the build and evaluation results cite it.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UserError, shown
from ..jsonfile import read_json, read_regular_bytes

MANIFEST_SCHEMA = "robustpose-bench/build-manifest/1"
SPEC_SCHEMA = "robustpose-bench/dataset-spec/1"
MANIFEST_NAME = "manifest.json"
JOURNAL_DIR = ".journal"  # OUT/<dataset>/.journal/<sha256 of the source name>.json: resume records
STATE_DIR = f"{JOURNAL_DIR}/build"  # the build's settings (written before its first output) and locks
SETTINGS_NAME = "settings.json"
SEED_RULES = ("hash", "advmix")
ADVMIX_SEED = 1  # AdvMix tools/make_datasets.py: np.random.seed(1) before every corrupt() call
SEED_RULE_TEXT = {
    "hash": (
        "seed = int.from_bytes(sha256(json.dumps([master_seed, dataset, source_file_name, corruption, "
        "severity], separators=(',', ':'), ensure_ascii=False).encode('utf-8')).digest()[:4], 'big'); "
        "severity is 1..5; corrupt(image, corruption, severity, seed) == imagecorruptions 1.1.2 after "
        "np.random.seed(seed)"
    ),
    "advmix": "seed = 1 for every item, as AdvMix's tools/make_datasets.py (np.random.seed(1) before each call)",
}
FORMATS = {"jpeg": ".jpg", "png": ".png"}
LAYOUTS = ("default", "advmix")
# Distributions whose versions decide the output bytes (decode, corrupt, encode).
VERSIONED = ("numpy", "scipy", "opencv-python", "Pillow", "numba", "scikit-image")


def data_manifest_dir() -> Path:
    """The shipped manifests: ``robustpose_bench/_data_manifests``.

    In a checkout that is a link to the repository's top-level ``data_manifests/`` (one copy, under
    version control); in an installed wheel, setuptools has copied the files there.
    """
    return Path(__file__).resolve().parents[1] / "_data_manifests"


#: The shipped spec whose build settings a user's dataset card gets (``spec_of_card``).
DEFAULT_SPEC_DATASET = "coco-c"


def load_spec(dataset: str) -> dict[str, Any]:
    """The shipped, version-controlled spec ``data_manifests/<dataset>.json``."""
    path = data_manifest_dir() / f"{dataset}.json"
    if not path.is_file():
        raise UserError(f"no shipped manifest for {dataset!r}: {path} is missing")
    spec = read_json(path, "shipped manifest")
    if spec.get("schema") != SPEC_SCHEMA or spec.get("dataset") != dataset:
        raise UserError(f"{path}: expected schema {SPEC_SCHEMA!r} for dataset {dataset!r}")
    return spec


def spec_of_card(card: Any) -> tuple[dict[str, Any], str]:
    """(build spec, its sha256) of a dataset card: the shipped ``data_manifests/<name>.json`` of a
    registered dataset; for a user's card, which has no shipped manifest, the defaults every shipped
    -C set shares (COCO-C's: the 15 benchmark corruptions, severities 1..5, master seed, JPEG 75) with
    the card's own sha256 as the spec's, so that another card never resumes this build."""
    from ..atomic import sha256_file

    if card.shipped:
        return load_spec(card.name), sha256_file(data_manifest_dir() / f"{card.name}.json")
    base = load_spec(DEFAULT_SPEC_DATASET)
    spec = {k: base[k] for k in ("corruptions", "severities", "master_seed", "format", "jpeg_quality")}
    return {**spec, "dataset": card.name}, card.sha256


def item_seed(master_seed: int, dataset: str, file_name: str, corruption: str, severity: int) -> int:
    """uint32 seed of one output item (see SEED_RULE_TEXT['hash'])."""
    key = json.dumps([int(master_seed), dataset, file_name, corruption, int(severity)],
                     separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big")


def output_name(file_name: str, fmt: str) -> str:
    """The source name for JPEG sources written as JPEG; otherwise the suffix becomes the format's.

    ``a/b.jpg`` stays ``a/b.jpg`` for ``jpeg`` (as AdvMix keeps the basename) and becomes ``a/b.png``
    for ``png``; a ``.png`` or ``.jpeg`` source written as ``jpeg`` keeps ``.jpeg`` / gets ``.jpg``.
    """
    stem, suffix = posixpath.splitext(file_name)
    if fmt == "jpeg" and suffix.lower() in (".jpg", ".jpeg"):
        return file_name
    if fmt == "png" and suffix.lower() == ".png":
        return file_name
    return stem + FORMATS[fmt]


def output_collisions(file_names: list[str] | tuple[str, ...], fmt: str) -> list[tuple[str, str, str]]:
    """``(first source, second source, output name)`` for sources that would write the same output.

    ``x.jpg`` and ``x.png`` both become ``x.jpg`` as JPEG: building both would leave one output for two
    manifest items, so the build refuses them before writing anything.
    """
    seen: dict[str, str] = {}
    clashes = []
    for name in file_names:
        out = output_name(name, fmt)
        first = seen.setdefault(out, name)
        if first != name:
            clashes.append((first, name, out))
    return clashes


def output_relpath(corruption: str, severity: int, file_name: str, fmt: str, layout: str) -> str:
    """``<corruption>/<severity>/<name>``: severity 1..5, or 0..4 with the AdvMix layout."""
    folder = severity - 1 if layout == "advmix" else severity
    return f"{corruption}/{folder}/{output_name(file_name, fmt)}"


def engine_versions() -> dict[str, str]:
    """Versions that decide the bytes; recorded in the manifest and checked before skipping work."""
    out = {"robustpose-bench": __version__}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides which items exist and what their bytes are."""

    dataset: str
    source: str
    split: str
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    master_seed: int
    seed_rule: str = "hash"
    fmt: str = "jpeg"
    jpeg_quality: int = 75
    layout: str = "default"
    spec_sha256: str = ""
    versions: dict[str, str] = field(default_factory=engine_versions, compare=False, hash=False)

    def seed(self, file_name: str, corruption: str, severity: int) -> int:
        if self.seed_rule == "advmix":
            return ADVMIX_SEED
        return item_seed(self.master_seed, self.dataset, file_name, corruption, severity)

    def relpath(self, corruption: str, severity: int, file_name: str) -> str:
        return output_relpath(corruption, severity, file_name, self.fmt, self.layout)

    def item_key(self) -> dict[str, Any]:
        """The fields a journal record must match before an existing output is trusted."""
        return {
            "fmt": self.fmt, "jpeg_quality": self.jpeg_quality if self.fmt == "jpeg" else None,
            "versions": self.versions,
        }


def materialise(
    config: BuildConfig,
    results: list[dict[str, Any]],
    source_facts: dict[str, Any],
    selection: dict[str, Any],
) -> dict[str, Any]:
    """The manifest as a plain dict: sorted items and failures, no timestamps, no absolute paths."""
    items, failed = [], []
    for res in results:
        items.extend(res["items"])
        failed.extend(res["failed"])
    items.sort(key=lambda it: (it["source"], it["corruption"], it["severity"]))
    failed.sort(key=lambda f: (f["source"], f.get("corruption") or "", f.get("severity") or 0))
    return {
        "schema": MANIFEST_SCHEMA,
        "dataset": config.dataset,
        "source": {"dataset": config.source, "split": config.split, **source_facts},
        "spec_sha256": config.spec_sha256,
        "corruptions": list(config.corruptions),
        "severities": list(config.severities),
        "master_seed": config.master_seed,
        "seed_rule": config.seed_rule,
        "seed_rule_text": SEED_RULE_TEXT[config.seed_rule],
        "format": config.fmt,
        "jpeg_quality": config.jpeg_quality if config.fmt == "jpeg" else None,
        "layout": config.layout,
        "selection": selection,
        "versions": config.versions,
        "counts": {"items": len(items), "failed": len(failed), "sources": len(results)},
        "items": items,
        "failed": failed,
    }


# Manifest fields that decide which items exist and what their bytes are. Library versions are left
# out (a re-run redoes items whose versions changed), and so is the shard (all shards build one set).
# In the order a difference is best reported (the most readable first).
SETTING_KEYS = ("dataset", "corruptions", "severities", "format", "jpeg_quality", "layout", "seed_rule",
                "master_seed", "spec_sha256")
SOURCE_SETTING_KEYS = ("dataset", "split", "image_count", "annotation_file", "annotation_sha256")


def build_settings(manifest: dict[str, Any]) -> dict[str, Any]:
    """The settings of a build, from its manifest (or a manifest head): two builds may share a
    dataset folder only when these are equal."""
    source = manifest.get("source") if isinstance(manifest.get("source"), dict) else {}
    selection = manifest.get("selection") if isinstance(manifest.get("selection"), dict) else {}
    out = {key: manifest.get(key) for key in SETTING_KEYS}
    out["source"] = {key: source.get(key) for key in SOURCE_SETTING_KEYS}
    out["limit"] = selection.get("limit")
    return out


def settings_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """``"'format' is 'jpeg' there, 'png' here"`` for the first differing setting, or None."""
    for key in [*new, *(k for k in old if k not in new)]:
        if old.get(key) != new.get(key):
            if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
                inner = settings_difference(old[key], new[key])
                return f"'{key}.{inner[1:]}" if inner else None
            return f"'{key}' is {shown(old.get(key), 40)} there, {shown(new.get(key), 40)} here"
    return None


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Canonical JSON bytes: sorted keys, one top-level key and one item per line.

    Compact but grep- and diff-friendly (COCO-C has 375,000 items); equal content gives equal bytes.
    """
    def dump(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    lines = []
    for key in sorted(manifest):
        value = manifest[key]
        if key in ("items", "failed") and value:
            body = ",\n".join(f"  {dump(v)}" for v in value)
            lines.append(f"{dump(key)}:[\n{body}\n ]")
        else:
            lines.append(f"{dump(key)}:{dump(value)}")
    return ("{\n " + ",\n ".join(lines) + "\n}\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Validating a build manifest read back from disk (verify, eval): its names become paths.

_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_DATASET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
ITEM_FIELDS: dict[str, tuple[type, ...]] = {
    "source": (str,), "source_sha256": (str,), "corruption": (str,), "severity": (int,),
    "seed": (int,), "output": (str,), "output_sha256": (str,),
}
FAILED_FIELDS = ("source", "corruption", "severity", "reason")


def path_problem(rel: object) -> str | None:
    """Why ``rel`` is not a plain relative POSIX path that stays inside its root, or None if it is.

    Refused: non-strings, empty, absolute, backslashes, NUL or other control characters, a drive
    (``c:``), empty / ``.`` / ``..`` parts, and a leading ``.`` (the builder's own hidden files).
    """
    if not isinstance(rel, str) or not rel:
        return "must be a non-empty string"
    if rel.startswith("/"):
        return "must be relative, not absolute"
    if _UNSAFE_CHARS.search(rel):
        return "must not hold backslashes or control characters"
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "must not hold empty, '.' or '..' parts"
    if ":" in parts[0] or rel.startswith("."):
        return "must not start with a drive or a '.'"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_settings(obj: dict[str, Any], where: str) -> None:
    """The top-level fields that name folders and decide seeds."""
    from corruptions import CORRUPTIONS

    def bad(name: str, expected: str) -> UserError:
        return UserError(f"{where}: field '{name}' is {shown(obj.get(name))}; expected {expected}")

    if not isinstance(obj.get("dataset"), str) or not _DATASET_NAME.fullmatch(obj["dataset"]):
        raise bad("dataset", "a dataset folder name such as coco-c")
    corruptions = obj.get("corruptions")
    if (not isinstance(corruptions, list) or not corruptions or len(set(map(str, corruptions))) != len(corruptions)
            or not all(isinstance(c, str) and c in CORRUPTIONS for c in corruptions)):
        raise bad("corruptions", "a list of distinct known corruption names (robustpose-bench list corruptions)")
    severities = obj.get("severities")
    if (not isinstance(severities, list) or not severities or len(set(map(str, severities))) != len(severities)
            or not all(_is_int(s) and 1 <= s <= 5 for s in severities)):
        raise bad("severities", "a list of distinct integers 1..5")
    if not _is_int(obj.get("master_seed")):
        raise bad("master_seed", "an integer")
    for name, allowed in (("seed_rule", SEED_RULES), ("format", tuple(FORMATS)), ("layout", LAYOUTS)):
        if obj.get(name) not in allowed:
            raise bad(name, f"one of {', '.join(allowed)}")


def _check_item(item: Any, where: str, corruptions: set[str], severities: set[int],
                safe_sources: set[str]) -> None:
    """One item's fields: present, typed, and naming only known corruptions, severities and safe paths.

    ``safe_sources`` remembers sources already checked (each appears once per corruption × severity).
    """
    if not isinstance(item, dict):
        raise UserError(f"{where}: expected an object, got {type(item).__name__}")
    missing = ITEM_FIELDS.keys() - item.keys()
    if missing:
        raise UserError(f"{where}: missing field {', '.join(repr(m) for m in sorted(missing))}")
    for name, types in ITEM_FIELDS.items():
        value = item[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise UserError(f"{where}.{name}: {shown(value)} is not a {types[0].__name__}")
    if item["source"] not in safe_sources:
        problem = path_problem(item["source"])
        if problem:
            raise UserError(f"{where}.source: {shown(item['source'])} {problem}")
        safe_sources.add(item["source"])
    if item["corruption"] not in corruptions:
        raise UserError(f"{where}.corruption: {shown(item['corruption'])} is not one of the manifest's corruptions")
    if item["severity"] not in severities:
        raise UserError(f"{where}.severity: {shown(item['severity'])} is not one of the manifest's severities")
    if not 0 <= item["seed"] < 2**32:
        raise UserError(f"{where}.seed: {shown(item['seed'])} is not a uint32")
    if not (_SHA256.fullmatch(item["source_sha256"]) and _SHA256.fullmatch(item["output_sha256"])):
        name = "source_sha256" if not _SHA256.fullmatch(item["source_sha256"]) else "output_sha256"
        raise UserError(f"{where}.{name}: {shown(item[name])} is not a lowercase hex sha256")


def _check_failed(entry: Any, where: str) -> None:
    from corruptions import CORRUPTIONS

    if not isinstance(entry, dict) or any(name not in entry for name in FAILED_FIELDS):
        raise UserError(f"{where}: expected an object with fields {', '.join(FAILED_FIELDS)}")
    problem = path_problem(entry["source"])
    if problem:
        raise UserError(f"{where}.source: {shown(entry['source'])} {problem}")
    if entry["corruption"] is not None and entry["corruption"] not in CORRUPTIONS:
        raise UserError(f"{where}.corruption: {shown(entry['corruption'])} is not a known corruption or null")
    if entry["severity"] is not None and not (_is_int(entry["severity"]) and 1 <= entry["severity"] <= 5):
        raise UserError(f"{where}.severity: {shown(entry['severity'])} is not 1..5 or null")
    if not isinstance(entry["reason"], str):
        raise UserError(f"{where}.reason: expected a string")


def validate_manifest(obj: Any, source: str, *, check_seeds: bool = True) -> None:
    """Refuse, with a one-line UserError naming ``source`` and the field, a build manifest whose names
    could reach outside its dataset folder or whose items are not what its settings produce.

    Call it on any ``manifest.json`` read back from disk before one of its names touches the file
    system (``verify`` does; ``eval`` should). Checked: the schema; known corruption names and
    severities 1..5 (ints, not bools); every item's fields present and typed; sources that are plain
    relative paths (:func:`path_problem`); each output equal to the path its corruption, severity,
    source, format and layout give (so it stays inside the dataset folder, and no two items share
    one); and, with ``check_seeds``, each seed equal to the seed rule's (:func:`item_seed`).
    """
    if not isinstance(obj, dict) or obj.get("schema") != MANIFEST_SCHEMA:
        raise UserError(f"{source}: not a robustpose-bench build manifest (schema {MANIFEST_SCHEMA})")
    _check_settings(obj, source)
    for name in ("items", "failed"):
        if not isinstance(obj.get(name), list):
            raise UserError(f"{source}: field '{name}' is {shown(obj.get(name))}; expected a list")
    corruptions, severities = set(obj["corruptions"]), set(obj["severities"])
    fmt, layout, dataset, master = obj["format"], obj["layout"], obj["dataset"], obj["master_seed"]
    outputs: dict[str, int] = {}
    safe_sources: set[str] = set()
    for i, item in enumerate(obj["items"]):
        where = f"{source}: items[{i}]"
        _check_item(item, where, corruptions, severities, safe_sources)
        want = output_relpath(item["corruption"], item["severity"], item["source"], fmt, layout)
        if item["output"] != want:
            problem = path_problem(item["output"]) or "is not the path its fields give"
            raise UserError(f"{where}.output: {shown(item['output'])} {problem} (expected {want!r})")
        first = outputs.setdefault(want, i)
        if first != i:
            raise UserError(f"{where}.output: {want!r} is also the output of items[{first}]")
        if check_seeds:
            seed = ADVMIX_SEED if obj["seed_rule"] == "advmix" else item_seed(
                master, dataset, item["source"], item["corruption"], item["severity"])
            if item["seed"] != seed:
                raise UserError(f"{where}.seed: {item['seed']} is not the seed rule's {seed} "
                                f"({obj['seed_rule']} rule, master seed {master})")
    for i, entry in enumerate(obj["failed"]):
        _check_failed(entry, f"{source}: failed[{i}]")


def read_manifest(path: str | os.PathLike, *, check_seeds: bool = True) -> tuple[dict[str, Any], bytes]:
    """A validated build manifest and its exact bytes (whose sha256 identifies the build).

    Only a regular file is read (never a device or FIFO); bad JSON or content is a one-line UserError.
    """
    path = Path(path)
    raw = read_regular_bytes(path, "build manifest")
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path}: not valid JSON") from None
    validate_manifest(obj, str(path), check_seeds=check_seeds)
    return obj, raw


def load_manifest(path: str | os.PathLike, *, check_seeds: bool = True) -> dict[str, Any]:
    """:func:`read_manifest` without the bytes."""
    return read_manifest(path, check_seeds=check_seeds)[0]
