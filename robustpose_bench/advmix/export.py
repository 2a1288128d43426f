"""Export a trained heatmap model to ONNX or TorchScript with its model spec embedded.

The spec (``robustpose_bench.models.spec``) tells ``robustpose-bench eval`` how to feed the model
(NCHW float32 RGB, ImageNet mean/std on 0..255) and read it (NKHW heatmaps, stride 4, the
dataset card's keypoint names and flip pairs, and a ``dataset_map`` onto its keypoint set), so an
exported model is scored with no extra flags, on a user's own card too (``eval --dataset-card``). ONNX:
``metadata_props['robustpose_spec']``; TorchScript: extra file ``robustpose_spec.json``.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..atomic import atomic_write_bytes
from ..errors import UserError
from ..models.spec import ModelSpec, embed_spec_onnx, heatmap_model_spec, torchscript_extra_files

if TYPE_CHECKING:  # pragma: no cover
    from ..datasets.cards import DatasetCard

FORMATS = ("onnx", "torchscript")
INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"


def spec_for(name: str, cfg: dict[str, Any], fmt: str = "onnx") -> ModelSpec:
    """The model spec of a model trained with config ``cfg`` (a TrainConfig dict), for format ``fmt``.

    ONNX names its tensors ``input`` / ``heatmaps``; TorchScript tensors are unnamed, so there the
    names are null (= the first input / output).
    """
    h, w = cfg["image_size"]        # [height, width]
    hh, hw = cfg["heatmap_size"]
    if w % hw or h % hh or w // hw != h // hh:
        raise UserError(f"config: image_size {cfg['image_size']} is not an integer multiple of heatmap_size "
                        f"{cfg['heatmap_size']}")
    card = export_card(cfg)
    return heatmap_model_spec(name, height=h, width=w, dataset=card.keypoint_set, stride=w // hw,
                              input_name=INPUT_NAME if fmt == "onnx" else None,
                              output_name=OUTPUT_NAME if fmt == "onnx" else None,
                              keypoint_names=card.keypoints, flip_pairs=card.flip_pairs)


def export_card(cfg: dict[str, Any]) -> "DatasetCard":
    """The dataset card of a trained model: the one its checkpoint recorded (``cfg['dataset_card']``, as
    :func:`load_trained` returns it), else the registered keypoint set ``cfg['keypoints']`` names."""
    from ..datasets.cards import keypoint_sets
    from .dataset_card import card_from_record

    record = cfg.get("dataset_card")
    if record is not None:
        return card_from_record(record, "checkpoint")
    sets = keypoint_sets()
    if cfg["keypoints"] not in sets:
        raise UserError(f"config field 'keypoints': {cfg['keypoints']!r} is not a registered keypoint set "
                        f"({', '.join(sets)}) and the checkpoint records no dataset card")
    return sets[cfg["keypoints"]]


# Config fields an export reads: the net, its keypoints, its input and heatmap sizes, the spec's name.
EXPORT_FIELDS = ("arch", "method", "keypoints", "image_size", "heatmap_size")


def checkpoint_config(config: Any, source: str) -> dict[str, Any]:
    """The training config saved in a checkpoint, checked as ``train`` checks its own (one-line errors
    naming ``source``); the fields an export needs must be there, not filled in from defaults."""
    from .config import TrainConfig, from_checkpoint, update_config

    if not isinstance(config, dict):
        raise UserError(f"{source}: its 'config' is a {type(config).__name__}, not a mapping of config fields")
    missing = [f for f in EXPORT_FIELDS if f not in config]
    if missing:
        raise UserError(f"{source}: the checkpoint's config lacks {', '.join(map(repr, missing))} "
                        "(not a complete robustpose-bench training checkpoint)")
    cfg = update_config(TrainConfig(), from_checkpoint(config), source)   # older checkpoints: [w, h] swapped
    cfg.validate(source)
    return cfg.to_dict()


def load_trained(checkpoint: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the pose net of a ``train`` checkpoint (strict load) and return it with its config, to
    which ``dataset_card`` is added: the card record the checkpoint holds (None before cards), whose
    keypoint names and flip pairs :func:`spec_for` writes into the spec."""
    from .checkpoint import load_strict, read_training_checkpoint
    from .dataset_card import card_from_record
    from .nets import ARCHS, build_net

    path = Path(checkpoint)
    state = read_training_checkpoint(path, fields=("config", "state_dict"))
    cfg = checkpoint_config(state["config"], str(path))
    if cfg["arch"] not in ARCHS:
        raise UserError(f"{path}: config field 'arch' is {cfg['arch']!r}, not one of {', '.join(ARCHS)}")
    record = state.get("dataset_card")   # checkpoints from before dataset cards have none
    if record is not None:
        card = card_from_record(record, str(path))
        if card.keypoint_set != cfg["keypoints"]:
            raise UserError(f"{path}: config field 'keypoints' is {cfg['keypoints']!r}, but its dataset card "
                            f"{card.name} has keypoint set {card.keypoint_set!r}")
    cfg["dataset_card"] = record
    try:
        card = export_card(cfg)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    model = build_net(cfg["arch"], card.num_keypoints)
    load_strict(model, state["state_dict"], source=str(path))
    return model.eval(), cfg


def export_onnx(model: nn.Module, spec: ModelSpec, path: str | os.PathLike, opset: int = 17) -> None:
    """ONNX with a dynamic batch axis and the spec in metadata_props."""
    import onnx

    model = model.eval()
    x = torch.zeros(1, 3, spec.input.height, spec.input.width)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter needs no onnxscript; its deprecation notice is not for users.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        torch.onnx.export(
            model, (x,), buf, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset, dynamo=False, do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    embed_spec_onnx(proto, spec)
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())


def export_torchscript(model: nn.Module, spec: ModelSpec, path: str | os.PathLike) -> None:
    """TorchScript (traced; the nets have no data-dependent control flow) with the spec as extra file."""
    model = model.eval()
    x = torch.zeros(1, 3, spec.input.height, spec.input.width)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # TorchScript is what the evaluator loads; torch's deprecation notices are not for our users.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        traced = torch.jit.trace(model, (x,), check_trace=True)
        torch.jit.save(traced, buf, _extra_files=torchscript_extra_files(spec))
    atomic_write_bytes(path, buf.getvalue())


def export(model: nn.Module, spec: ModelSpec, path: str | os.PathLike, fmt: str) -> None:
    if fmt == "onnx":
        export_onnx(model, spec, path)
    elif fmt == "torchscript":
        export_torchscript(model, spec, path)
    else:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
