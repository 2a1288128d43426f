"""The evaluator, as a small package (phases in ``runner.py``):

- ``conditions.py``: which conditions a build holds, checked names, the 15 x 5 grid;
- ``pipeline.py``: the batched, overlapped inference loop;
- ``topdown_predictor.py`` / ``onestage_predictor.py``: one predictor per model family;
- ``store.py``: the run identity that owns a predictions folder and lets a run resume;
- ``runner.py``: ``run_eval``, the driver.

Datasets (ground truth, boxes, result format, scorer) live in ``robustpose_bench.datasets``; output
decoding in ``robustpose_bench.codecs``; model loading in ``robustpose_bench.models``.
"""
from .conditions import CLEAN, SEVERITIES, Condition, check_condition_files, check_grid, find_conditions
from .images import read_image_bgr, read_image_rgb
from .onestage_predictor import letterbox_input, predict_onestage
from .runner import EvalOptions, run_eval
from ..types import Instances, Predictions
from .topdown_predictor import flip_input, predict_topdown

__all__ = [
    "CLEAN", "SEVERITIES", "Condition", "EvalOptions", "Instances", "Predictions", "check_condition_files",
    "check_grid", "find_conditions", "flip_input", "letterbox_input", "predict_onestage", "predict_topdown",
    "read_image_bgr", "read_image_rgb", "run_eval",
]
