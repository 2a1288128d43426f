"""Join the results of ``eval --shard I/N`` runs into the results.json of one run.

Shards of one run share its identity (``store.py``): the same model, spec, data, options and package,
so the same run id. ``merge`` refuses shards of different runs, a shard given twice, conditions in
two shards, and missing conditions (unless ``partial``). The merged file equals what a single
process would have written, apart from timing fields: rows in the full condition order, the
provenance of the first shard with every shard's prediction files, the config without its shard.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError
from ..datasets.cards import card_of_results
from ..results import load_results, make_results


def _shard_of(res: dict, path: Path) -> dict:
    shard = res.get("config", {}).get("shard")
    if not isinstance(shard, dict) or not {"index", "count", "conditions"} <= set(shard):
        raise UserError(f"{path}: not a shard's results (written by `eval --shard I/N`)")
    i, n, conds = shard["index"], shard["count"], shard["conditions"]
    if (type(i) is not int or type(n) is not int or not 1 <= i <= n
            or not isinstance(conds, list) or not all(isinstance(c, str) for c in conds)):
        raise UserError(f"{path}: config.shard must hold integers 1 <= index <= count and a list of condition "
                        f"names; got index {i!r}, count {n!r}")
    keys = res.get("config", {}).get("conditions", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise UserError(f"{path}: config.conditions must be a list of condition names")
    preds = res["provenance"].get("predictions")
    if not isinstance(preds, dict) or not isinstance(preds.get("dir"), str) or not isinstance(preds.get("files"), dict):
        raise UserError(f"{path}: provenance.predictions must name the run's predictions folder and files")
    return shard


def _check_records(path: Path, res: dict, key: str, rows: list[dict], run_id: str) -> None:
    """A shard's rows for ``key`` must be what its run recorded beside the predictions, and those
    predictions the file it names: a results file edited afterwards (raised AP) is refused."""
    from ..atomic import sha256_file
    from ..jsonfile import read_json
    from .store import CONDITION_FILE, PREDICTION_FILE

    pred_dir = Path(res["provenance"]["predictions"]["dir"])
    rec_path, pred_path = pred_dir / key / CONDITION_FILE, pred_dir / key / PREDICTION_FILE
    if not rec_path.is_file() or not pred_path.is_file():
        raise UserError(f"{path}: condition {key} has no predictions or record in {pred_dir}; merge re-checks "
                        "every row against them (run merge where the shards' predictions folder is)")
    rec = read_json(rec_path, "condition record")
    sha = sha256_file(pred_path)
    if not isinstance(rec, dict) or rec.get("run_id") != run_id:
        raise UserError(f"{rec_path}: recorded by another run than {path}")
    if rec.get("sha256") != sha or res["provenance"]["predictions"]["files"].get(key) != sha:
        raise UserError(f"{pred_path} was changed after its run wrote it (its sha256 differs from {rec_path} "
                        f"or {path})")
    if rec.get("rows") != rows:
        raise UserError(f"{path}: the rows of condition {key} differ from those its run recorded in {rec_path}; "
                        "the results file was edited")


def merge_results(paths: Sequence[str | os.PathLike], partial: bool = False,
                  card_file: str | os.PathLike | None = None) -> dict:
    """The results of the shards in ``paths``, joined (see the module docstring). ``card_file``: a user's
    dataset card, when the one the shards recorded has moved."""
    if not paths:
        raise UserError("merge: give the shards' results files")
    loaded = [(Path(p), load_results(p)) for p in paths]
    first_path, first = loaded[0]
    first_shard = _shard_of(first, first_path)
    run_id = first["provenance"].get("predictions", {}).get("run_id")
    seen_index: dict[int, Path] = {}
    by_condition: dict[str, tuple[Path, list[dict]]] = {}
    files: dict[str, str] = {}
    for path, res in loaded:
        shard = _shard_of(res, path)
        rid = res["provenance"].get("predictions", {}).get("run_id")
        if rid != run_id or res["dataset"] != first["dataset"]:
            raise UserError(f"{path} is a shard of another run (run {str(rid)[:12]}, not {str(run_id)[:12]} of "
                            f"{first_path}): a different model, spec, data or options")
        if shard["count"] != first_shard["count"] or shard["conditions"] != first_shard["conditions"]:
            raise UserError(f"{path}: shard {shard['index']}/{shard['count']} does not split the same conditions as "
                            f"{first_path} (shard {first_shard['index']}/{first_shard['count']})")
        if shard["index"] in seen_index:
            raise UserError(f"shard {shard['index']}/{shard['count']} given twice: {seen_index[shard['index']]} "
                            f"and {path}")
        seen_index[shard["index"]] = path
        for key in res["config"].get("conditions", []):
            if key in by_condition:
                raise UserError(f"condition {key} is in two shards: {by_condition[key][0]} and {path}")
            cond_rows = [r for r in res["rows"] if _key(r) == key]
            _check_records(path, res, key, cond_rows, run_id)
            by_condition[key] = (path, cond_rows)
        files.update(res["provenance"].get("predictions", {}).get("files", {}))
    all_keys = list(first_shard["conditions"])
    missing = [k for k in all_keys if k not in by_condition]
    if missing and not partial:
        shards = sorted(set(range(1, first_shard["count"] + 1)) - set(seen_index))
        raise UserError(f"merge: {len(missing)} condition(s) missing, e.g. {', '.join(missing[:4])}"
                        + (f" (shard{'s' if len(shards) > 1 else ''} {', '.join(map(str, shards))} of "
                           f"{first_shard['count']} not given)" if shards else "")
                        + "; pass --partial to merge what exists")
    rows = [r for k in all_keys if k in by_condition for r in by_condition[k][1]]
    provenance: dict[str, Any] = dict(first["provenance"])
    provenance["predictions"] = dict(provenance["predictions"], files={k: files[k] for k in sorted(files)})
    devices = sorted({(r["provenance"]["device"], r["provenance"]["execution_provider"]) for _, r in loaded})
    if len(devices) > 1:  # recorded only when shards ran on different devices
        provenance["devices"] = [{"device": d, "execution_provider": p} for d, p in devices]
    config = {k: v for k, v in first["config"].items() if k != "shard"}
    config["conditions"] = [k for k in all_keys if k in by_condition]
    card = card_of_results(first, str(first_path), card_file)
    return make_results(card, rows, metric=first["metric"], partial=partial,
                        provenance=provenance, config=config)


def _key(row: dict) -> str:
    return "clean" if row["corruption"] == "clean" else f"{row['corruption']}/{row['severity']}"
