"""One-off import of the AdvMix paper's published rows as ``reported`` leaderboard entries.

Reads ``paper_results.csv`` (see ../shared/README.md) once; the generated entries are committed and
the CSV is not. Table 1 rows carry the 15 per-corruption scores; Tables 2-3 only clean/mPC/rPC.
Input sizes the source text lost are never guessed: empty stays null, and leftovers such as
'512 (first row)' become the size that survived (512) plus a footnote naming the row.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..vocabulary import DETECTIONS, GT_CENTRE_SCALE, NO_BOXES, ONE_STAGE_PARADIGM, TOP_DOWN
from .entries import BENCHMARK_ORDER, DATASET_METRIC, SCHEMA_VERSION, entry_path, refuse_unless_paper_entry, write_entry

CITATION = (
    "J. Wang, S. Jin, W. Liu, W. Liu, C. Qian, P. Luo. When Human Pose Estimation Meets Robustness: "
    "Adversarial Algorithms and Benchmarks. arXiv:2105.06152 (2021)."
)
CITATION_URL = "https://arxiv.org/abs/2105.06152"
PAPER_DETECTIONS = "COCO_val2017_detections_AP_H_56_person.json"
REQUIRED_COLUMNS = ("table", "dataset", "method", "training", "backbone", "input_size", "clean", "mPC", "rPC")
#: How the paper's CSV marks a bottom-up row's method (its own taxonomy); read as one-stage.
PAPER_BOTTOM_UP = "(bottom-up)"
# The paper's tables give one decimal.
PAPER_PRECISION = 0.1


def _box_source(dataset: str, paradigm: str) -> str:
    """Where the paper's person boxes came from (../shared/README.md and the paper's protocol), in the
    vocabulary of docs/results.md. The COCO detections were made on clean images and reused for every
    corruption (docs/leaderboard.md)."""
    if paradigm == ONE_STAGE_PARADIGM:
        return NO_BOXES
    if dataset == "mpii-c":
        return GT_CENTRE_SCALE
    return f"{DETECTIONS}{PAPER_DETECTIONS}"


ROW_TEXT = re.compile(r"^(?:(?P<size>\d+(?:x\d+)?) )?\(?(?P<row>first|second) row\)?$")


def split_input_size(text: str | None, architecture: str, backbone: str, table: int) -> tuple[str | None, str | None]:
    """(input size, footnote) from the CSV's input-size text.

    The source text lost some HigherHRNet sizes and kept leftovers such as '512 (first row)' or
    'second row': the size, where one survives, becomes the input size, and the row it names becomes
    the entry's footnote; nothing is guessed.
    """
    if text is None:
        return None, None
    m = ROW_TEXT.match(text)
    if m is None:
        return text, None
    which = m.group("row")
    note = (f"Table {table} lists two {architecture} {backbone} rows; this is the {which} one. "
            + (f"Its input size, {m.group('size')}, is what the source text kept."
               if m.group("size") else "The source text lost its input size (the official HigherHRNet "
                                       "models are 512 px for W32 and 640 px for W32 and W48)."))
    return m.group("size"), note


def paper_entry_name(architecture: str, backbone: str, input_size: str | None, training: str, table: int) -> str:
    """E.g. 'SimpleBaseline-ResNet-50-256x192 (paper, Table 1)', 'HRNet-W32-256x192+AdvMix (paper, Table 2)'.

    The architecture is left out when the backbone already starts with it (HRNet / HRNet-W32).
    """
    name = backbone if backbone.startswith(f"{architecture}-") else f"{architecture}-{backbone}"
    if input_size:
        name += f"-{input_size}" if re.fullmatch(r"\d+(x\d+)?", input_size) else f" [{input_size}]"
    if training == "advmix":
        name += "+AdvMix"
    return f"{name} (paper, Table {table})"


def _number(row: dict[str, Any], column: str, where: str) -> float | None:
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: column {column!r} is not a number ({value!r})") from None


def paper_entries(csv_path: str | Path) -> list[dict[str, Any]]:
    """Parse the CSV into entry dicts (not yet written). Names are unique per dataset."""
    import pandas as pd

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise UserError(f"{csv_path}: no such file (the AdvMix paper's table; leave CSV out to install the entries shipped with the package)")
    # Read everything as text, then convert: numbers are ours to parse, and a blank stays blank.
    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    missing = [c for c in (*REQUIRED_COLUMNS, *BENCHMARK_ORDER) if c not in df.columns]
    if missing:
        raise UserError(f"{csv_path}: missing columns {', '.join(missing)}")
    entries: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(df.to_dict("records"), start=2):  # line 1 is the header
        where = f"{csv_path}:{i}"
        row = {k: (v.strip() if v.strip() else None) for k, v in row.items()}
        dataset = row["dataset"]
        if dataset not in DATASET_METRIC:
            raise UserError(f"{where}: unknown dataset {dataset!r}")
        training = row["training"]
        if training not in ("standard", "advmix"):
            raise UserError(f"{where}: training must be standard or advmix, not {training!r}")
        arch_text = row["method"] or ""
        # the paper marks its bottom-up rows "(bottom-up)"; the entry says one-stage, the one word for a
        # model that finds the persons itself (vocabulary.ONE_STAGE_PARADIGM)
        paradigm = ONE_STAGE_PARADIGM if PAPER_BOTTOM_UP in arch_text else TOP_DOWN
        architecture = arch_text.replace(PAPER_BOTTOM_UP, "").strip()
        table = int(row["table"])
        scores: dict[str, Any] = {}
        for col in ("clean", "mPC", "rPC"):
            v = _number(row, col, where)
            if v is None:
                raise UserError(f"{where}: column {col!r} is empty")
            scores[col] = v
        per = {c: _number(row, c, where) for c in BENCHMARK_ORDER}
        given = [c for c, v in per.items() if v is not None]
        if len(given) == len(BENCHMARK_ORDER):
            scores["per_corruption"] = per
        elif given:
            raise UserError(f"{where}: {len(given)} of 15 per-corruption scores given; expected all or none")
        name = paper_entry_name(architecture, row["backbone"], row["input_size"], training, table)
        key = (dataset, name)
        if key in seen:
            raise UserError(f"{where}: entry name {name!r} repeats line {seen[key]} in {dataset}")
        seen[key] = i
        input_size, note = split_input_size(row["input_size"], architecture, row["backbone"], table)
        entry = {
            "schema_version": SCHEMA_VERSION,
            "name": name,
            "dataset": dataset,
            "metric": DATASET_METRIC[dataset],
            "method": training,
            "architecture": architecture,
            "paradigm": paradigm,
            "backbone": row["backbone"],
            "input_size": input_size,
            "box_source": _box_source(dataset, paradigm),
            "precision": PAPER_PRECISION,
            "scores": scores,
            "origin": {"kind": "reported", "citation": CITATION, "source": f"Table {table}", "url": CITATION_URL},
        }
        if note:
            entry["notes"] = note
        entries.append(entry)
    return entries


def import_paper(csv_path: str | Path, directory: str | Path, overwrite: bool = False) -> list[Path]:
    """Write every paper row as an entry under ``directory``; refuse to clobber unless ``overwrite``."""
    entries = paper_entries(csv_path)
    directory = Path(directory)
    if not overwrite:
        clash = [entry_path(directory, e["dataset"], e["name"]) for e in entries]
        clash = [p for p in clash if p.exists()]
        if clash:
            raise UserError(f"{clash[0]} already exists ({len(clash)} paper entries present); "
                            "pass --overwrite to regenerate them")
    for e in entries:
        path = entry_path(directory, e["dataset"], e["name"])
        if path.exists():
            refuse_unless_paper_entry(path)
    return [write_entry(directory, e, overwrite=True) for e in entries]
