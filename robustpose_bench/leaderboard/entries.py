"""Leaderboard entries: one JSON file per (dataset, model), validated by a JSON Schema.

Layout: ``<leaderboard dir>/<dataset>/<safe name>.json``. Anything else in the folder (rendered
outputs at the top level, ``<dataset>/results/`` copies of results files) is not an entry.
The file name is derived from the entry's name so that names stay unique per dataset even on
case-insensitive file systems.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from ..atomic import atomic_write_bytes, atomic_write_json
from ..datasets.cards import registry
from ..errors import UserError

SCHEMA_NAME = "leaderboard_entry.schema.json"
SCHEMA_VERSION = 1

# The paper's order of the 15 benchmark corruptions (Table 1 columns). Kept here as data, and checked
# against the corruption registry in the tests, so that reading an entry needs no image code.
BENCHMARK_ORDER = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
SEVERITIES = ("1", "2", "3", "4", "5")

# Which metric each registered dataset is scored with: its card's (the paper: AP on COCO-C / OCHuman-C,
# PCKh@0.5 on MPII-C). An entry of a user's own dataset states its metric itself.
DATASET_METRIC = {name: card.primary_metric for name, card in registry().items()}


@dataclass(frozen=True)
class Entry:
    """A loaded entry and the file it came from."""

    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.data.get("name", self.path.stem)

    @property
    def dataset(self) -> str:
        return self.data.get("dataset", self.path.parent.name)


@lru_cache(maxsize=1)
def entry_schema() -> dict[str, Any]:
    """The entry JSON Schema shipped inside the package (so an installed package can check entries)."""
    text = resources.files("robustpose_bench").joinpath("schemas", SCHEMA_NAME).read_text("utf-8")
    return json.loads(text)


def schema_problems(data: Any) -> list[str]:
    """Every schema violation of ``data`` as 'field: message' strings (empty when valid)."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(entry_schema())
    validator = validator_cls(entry_schema())
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        if err.validator == "oneOf" and list(err.absolute_path) == ["origin"]:
            # oneOf's own message dumps the whole object: report the errors of the branch whose
            # 'kind' the entry claims (or say that the kind itself is wrong).
            origin = data.get("origin") if isinstance(data, dict) else None
            kind = origin.get("kind") if isinstance(origin, dict) else None
            branches = [b.get("properties", {}).get("kind", {}).get("const") for b in err.validator_value]
            if kind not in branches:
                problems.append(f"origin.kind: {_repr(kind)} is not one of {branches!r}")
                continue
            problems += [_format(e) for e in (err.context or []) if branches[e.relative_schema_path[0]] == kind]
            continue
        problems.append(_format(err))
    return problems


def _format(err: Any) -> str:
    """'field: message' for one jsonschema error, without echoing long instances."""
    path = [str(p) for p in err.absolute_path]
    if err.validator == "required":
        # Name the missing field itself: 'scores.mPC: missing required field'.
        missing = err.message.split("'")[1] if "'" in err.message else "?"
        return f"{'.'.join([*path, missing])}: missing required field"
    field = ".".join(path) or "(top level)"
    if err.validator == "type":
        return f"{field}: {_repr(err.instance)} is not of type {err.validator_value!r}"
    if err.validator in ("const", "enum"):
        return f"{field}: {_repr(err.instance)} is not one of {err.validator_value!r}"
    msg = err.message
    return f"{field}: {msg if len(msg) <= 160 else msg[:157] + '...'}"


def _repr(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def safe_filename(name: str) -> str:
    """The file stem for an entry name: ASCII letters, digits and ``._+-``; runs of others -> '_'.

    Deterministic and readable ('HRNet-W32-256x192 (paper, Table 1)' ->
    'HRNet-W32-256x192_paper_Table_1'); collisions are caught by ``write_entry`` and ``check``.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", ascii_name).strip("._")
    if not stem:
        raise UserError(f"entry name {name!r} has no letters or digits to build a file name from")
    return stem[:150]


def entry_path(directory: Path, dataset: str, name: str) -> Path:
    return Path(directory) / dataset / f"{safe_filename(name)}.json"


#: Where ``default_leaderboard_dir`` puts the board: ``./leaderboard`` in the working directory.
DEFAULT_DIR_NAME = "leaderboard"


def paper_entries_dir() -> Path:
    """The AdvMix paper's 48 entries, shipped with the package (``leaderboard/paper/<dataset>/``).

    They are the rows of the paper's Tables 1-3 as ``import-paper`` writes them from the paper's CSV
    (tests/test_leaderboard.py compares the two), so a pip user has the paper's rows to rank beside.
    """
    return Path(__file__).resolve().parent / "paper"


def refuse_unless_paper_entry(path: Path) -> None:
    """``--overwrite`` replaces paper rows, never a measured entry that happens to share a name."""
    try:
        kind = read_json(path).get("origin", {}).get("kind")
    except (UserError, AttributeError):
        kind = None
    if kind != "reported":
        raise UserError(f"{path} is not a paper entry (origin.kind {kind!r}); --overwrite replaces paper "
                        "entries only: rename or move it first")


def install_paper_entries(directory: Path, overwrite: bool = False) -> list[Path]:
    """Copy the shipped paper entries into ``directory`` (never over a measured entry)."""
    written = []
    for src in entry_files(paper_entries_dir()):
        dest = Path(directory) / src.parent.name / src.name
        if os.path.lexists(dest):
            if not overwrite:
                raise UserError(f"{dest} already exists: pass --overwrite to replace the paper entries")
            refuse_unless_paper_entry(dest)
        atomic_write_bytes(dest, src.read_bytes())
        written.append(dest)
    return written


def default_leaderboard_dir(create: bool = True) -> tuple[Path, int]:
    """``./leaderboard`` in the working directory, made with the paper's entries when absent; and how
    many entries were installed (0: it was there).

    The working directory, not the package or the checkout: a wheel has no repository beside it, and a
    command run in a checkout must not rewrite tracked files unasked (the project's rendered board of
    the paper's rows is docs/leaderboard/, re-checked by a test).
    """
    d = Path.cwd() / DEFAULT_DIR_NAME
    if not d.is_dir():
        if os.path.lexists(d):
            raise UserError(f"{d} exists and is not a folder; pass --dir DIR to name the leaderboard folder")
        if not create:
            raise UserError(f"no leaderboard folder {d}; pass --dir DIR to name one")
        return d, len(install_paper_entries(d))
    return d, 0


def resolve_dir(directory: str | Path) -> Path:
    d = Path(directory)
    if not d.is_dir():
        raise UserError(f"leaderboard folder {d} does not exist")
    return d


def entry_files(directory: Path) -> list[Path]:
    """Entry files: ``<dir>/<dataset>/*.json`` (sorted), nothing deeper and nothing at the top."""
    return sorted(p for p in Path(directory).glob("*/*.json") if p.is_file() and not p.name.startswith("."))


def read_json(path: Path) -> Any:
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def load_entry(path: str | Path, validate: bool = True) -> Entry:
    """Load one entry; with ``validate`` raise a UserError naming the first schema problem."""
    path = Path(path)
    data = read_json(path)
    if validate:
        problems = schema_problems(data)
        if problems:
            raise UserError(f"{path}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return Entry(path, data)


def iter_entries(directory: Path) -> Iterator[Entry]:
    """Every valid entry under ``directory``; the first invalid one raises (use check for a report)."""
    for path in entry_files(directory):
        yield load_entry(path)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def invalid_entry_message(data: dict[str, Any], problems: list[str]) -> str:
    """One line of bounded length: a 15,000-character name gave a 15,000-character message."""
    shown = "; ".join(_clip(p) for p in problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return f"entry {_clip(repr(data.get('name')), 80)} is not valid: {shown}"


def write_entry(directory: str | Path, data: dict[str, Any], overwrite: bool = False) -> Path:
    """Validate and write an entry atomically; refuse an existing name (or file name) in its dataset."""
    problems = schema_problems(data)
    if problems:
        raise UserError(invalid_entry_message(data, problems))
    directory = Path(directory)
    if not overwrite:
        ensure_new(directory, data["dataset"], data["name"])
    path = entry_path(directory, data["dataset"], data["name"])
    atomic_write_json(path, data)
    return path


def ensure_new(directory: Path, dataset: str, name: str) -> None:
    """Refuse a name (or a file name, compared case-insensitively) already used in ``dataset``."""
    wanted = entry_path(directory, dataset, name).name.lower()
    for existing in entry_files(directory):
        if existing.parent.name != dataset:
            continue
        try:
            other = read_json(existing)
        except UserError:
            other = None
        other_name = other.get("name") if isinstance(other, dict) else None
        if existing.name.lower() == wanted or other_name == name:
            raise UserError(
                f"an entry named {other_name or name!r} already exists in {dataset} "
                f"({existing}); choose another --name"
            )
