"""Complete (or deliberately partial) results.json files for the leaderboard and plot tests.

Written through the evaluator's own ``make_results``/``write_results``, so the files are exactly
what ``eval``/``score`` produce (schema-valid, summary computed from the keyed rows).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from corruptions import BENCHMARK_CORRUPTIONS
from robustpose_bench.results import PRIMARY_METRIC, make_results, write_results


def make_rows(dataset: str, clean: float, robustness: float, seed: int,
              drop: tuple[tuple[str, int], ...] = ()) -> list[dict]:
    """Rows whose scores fall with severity, in the library's native units (AP fraction, PCKh %)."""
    metric = PRIMARY_METRIC[dataset]
    rng = np.random.default_rng(seed)
    rows = [{"dataset": dataset, "corruption": "clean", "severity": 0, "metric": metric, "value": clean}]
    for i, c in enumerate(BENCHMARK_CORRUPTIONS):
        slope = (1.0 - robustness) * (0.6 + 0.8 * rng.random())
        for s in range(1, 6):
            if (c, s) in drop:
                continue
            value = clean * max(0.02, 1.0 - slope * s / 3.0)
            rows.append({"dataset": dataset, "corruption": c, "severity": s, "metric": metric,
                         "value": float(value)})
        if metric == "AP":  # a secondary metric row, which the leaderboard must ignore
            rows.append({"dataset": dataset, "corruption": c, "severity": 1, "metric": "AP50", "value": 0.9})
    return rows


# Full split sizes (robustpose_bench.splits): a fake run is a full benchmark run unless told otherwise.
FULL_SAMPLE = {"coco-c": (5000, 6352), "ochuman-c": (2500, 4291), "mpii-c": (None, 2958), "synth-c": (300, 300)}


def write_fake_results(path: Path, dataset: str = "coco-c", clean: float | None = None,
                       robustness: float = 0.7, seed: int = 0, method: str = "ToyNet",
                       drop: tuple[tuple[str, int], ...] = (), model_byte: str = "a",
                       sample: tuple[int | None, int | None] | None = None,
                       boxes: dict | None = None, config: dict | None = None) -> Path:
    """A complete (or, with ``drop``, partial) results.json; ``sample`` = (images, persons) evaluated."""
    metric = PRIMARY_METRIC[dataset]
    images, persons = FULL_SAMPLE[dataset] if sample is None else sample
    if clean is None:
        clean = 0.70 if metric == "AP" else 88.0
    partial = bool(drop)
    obj = make_results(
        dataset, make_rows(dataset, clean, robustness, seed, drop), partial=partial,
        provenance={
            "model": {"path": f"{method}.onnx", "sha256": model_byte * 64, "spec": {"name": method}},
            "manifest_sha256": "b" * 64,
            "boxes": boxes if boxes is not None else {"source": "gt", "sha256": None},
            "data": {"num_images": images, "num_persons": persons},
            "device": "cpu", "execution_provider": "CPUExecutionProvider", "flip": True,
        },
        config={"method": method, "backbone": "ResNet-18", "input_size": "256x192", **(config or {})},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_results(path, obj)
    return path
