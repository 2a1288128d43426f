"""ImageNet classification weights onto a pose net's backbone: ``train --backbone-weights FILE``.

The official pose code starts every net from ImageNet weights (HRNet's ``init_weights(pretrained)``:
``resnet50-19c8e357.pth`` for SimpleBaseline, ``hrnet_w32-36af842e.pth`` for HRNet-W32), loading them
with ``strict=False``. Here the mapping is strict instead: every backbone tensor of the pose net must
come from the file with the same shape, and every tensor of the file must land in the backbone or be
one of the classification parts named below; anything else is a one-line error naming the file.

Mappings (the pose nets keep the classification nets' module names, so each is the identity on the
names it loads):

- ``torchvision-resnet`` (SimpleBaseline, ``PoseResNet``): torchvision's / timm's ResNet naming,
  ``conv1, bn1, layer1..layer4`` (``layerN.i.conv1/bn1/...``, ``layerN.0.downsample.0/1``). Ignored:
  ``fc.*``, the 1000-class classifier. Not loaded: the pose head (``deconv_layers.*``, ``final_layer.*``).
- ``hrnet-imagenet`` (HRNet, ``PoseHighResolutionNet``): HRNet-Image-Classification's ``cls_hrnet.py``
  naming, which timm's ``hrnet_w32`` / ``hrnet_w48`` keep: ``conv1, bn1, conv2, bn2, layer1,
  transition1..3, stage2..4``. Ignored: the classification head (``incre_modules.*``,
  ``downsamp_modules.*``, ``final_layer.*``, ``classifier.*``) and, in the last module of stage 4, the
  fusion rows into the three lower resolutions (``stage4.<last>.fuse_layers.1..3.*``), which the pose
  net does not have because it outputs the highest resolution only (the official pose code drops
  them too: its ``strict=False`` load skips them). Not loaded: the pose head (``final_layer.*``).

BatchNorm's ``num_batches_tracked`` counters are absent from checkpoints saved before PyTorch 0.4.1
(``resnet50-19c8e357.pth`` is one): a file with none of them leaves the counters at 0; a file with
some but not all of them is refused like any other missing key.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...errors import UserError
from .hrnet import PoseHighResolutionNet
from .simplebaseline import PoseResNet

_COUNTER = "num_batches_tracked"


@dataclass(frozen=True)
class BackboneMapping:
    """How one classification checkpoint family's keys land in one pose net family's backbone."""

    name: str            # recorded in run.json
    naming: str          # for messages: whose names the file must use
    head: tuple[str, ...]                # pose-net key prefixes that are not backbone (never loaded)
    ignored: tuple[str, ...]             # file key prefixes that are documented classification parts


RESNET = BackboneMapping("torchvision-resnet", "torchvision ResNet naming (conv1, bn1, layer1..4, fc)",
                 head=("deconv_layers.", "final_layer."), ignored=("fc.",))
HRNET = BackboneMapping("hrnet-imagenet", "HRNet-Image-Classification / timm hrnet naming "
                                  "(conv1, bn1, conv2, bn2, layer1, transition1..3, stage2..4)",
                head=("final_layer.",),
                ignored=("incre_modules.", "downsamp_modules.", "final_layer.", "classifier."))


def mapping_for(model: nn.Module, arch: str) -> tuple[BackboneMapping, tuple[str, ...]]:
    """The mapping of ``model``'s family and the extra file prefixes it ignores (HRNet's last fusions)."""
    if isinstance(model, PoseResNet):
        return RESNET, ()
    if isinstance(model, PoseHighResolutionNet):
        last = len(model.stage4) - 1
        return HRNET, tuple(f"stage4.{last}.fuse_layers.{i}." for i in (1, 2, 3))
    raise UserError(f"--backbone-weights: no ImageNet backbone mapping for --arch {arch} (there is one for the "
                    "simplebaseline_* and hrnet_* nets)")


def _first(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str]:
    """The tensor state dict in ``path`` (tensors only: ``weights_only=True``) and the file's sha256."""
    from ...jsonfile import read_regular_bytes
    from ..checkpoint import unwrap_state_dict

    raw = read_regular_bytes(path, "backbone weights file")
    try:
        obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, empty, another format, or a pickle of anything but tensors
        raise UserError(f"cannot read backbone weights file {path}: not a file of tensors saved by torch.save "
                        f"(truncated, empty or another format; {type(exc).__name__})") from None
    return unwrap_state_dict(obj, source=f"backbone weights file {path}"), hashlib.sha256(raw).hexdigest()


def map_backbone(model: nn.Module, arch: str, sd: dict[str, torch.Tensor], source: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The file's tensors under the pose net's names, and a record of what was loaded and ignored.

    One-line UserError (naming ``source``, counts and the first keys) on any missing or unexpected key
    or shape mismatch.
    """
    mapping, extra_ignored = mapping_for(model, arch)
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(mapping.head)}
    ignored_prefixes = mapping.ignored + extra_ignored
    ignored = sorted(k for k in sd if k.startswith(ignored_prefixes))
    given = {k: v for k, v in sd.items() if not k.startswith(ignored_prefixes)}
    counters_absent = not any(k.endswith("." + _COUNTER) for k in given)
    wanted = [k for k in own if not (counters_absent and k.endswith("." + _COUNTER))]
    missing = sorted(set(wanted) - set(given))
    unexpected = sorted(set(given) - set(own))
    shapes = sorted(k for k in set(wanted) & set(given) if tuple(own[k].shape) != tuple(given[k].shape))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) ({_first(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) ({_first(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es) (" + _first(
            [f"{k} {tuple(given[k].shape)} in the file, {tuple(own[k].shape)} in {arch}" for k in shapes], 2) + ")")
    if problems:
        raise UserError(f"{source}: does not fit the backbone of {arch} ({mapping.naming}; ignored as classifier "
                        f"parts: {', '.join(p + '*' for p in mapping.ignored)}): {'; '.join(problems)}")
    mapped = {k: given[k] for k in wanted}
    record = {
        "mapping": mapping.name, "loaded_tensors": len(mapped),
        "ignored_tensors": len(ignored), "ignored_prefixes": sorted({_prefix(k, ignored_prefixes) for k in ignored}),
        "num_batches_tracked": "absent from the file: left at 0" if counters_absent else "from the file",
        "not_loaded": [p + "*" for p in mapping.head],
    }
    return mapped, record


def _prefix(key: str, prefixes: tuple[str, ...]) -> str:
    return next(p for p in prefixes if key.startswith(p)) + "*"


def load_backbone_weights(model: nn.Module, arch: str, path: str | os.PathLike) -> dict[str, Any]:
    """Load ``path``'s ImageNet weights onto ``model``'s backbone (strictly; see the module docstring).

    Returns the provenance record for run.json: file, sha256, mapping, what was loaded and ignored.
    """
    sd, sha = read_weights(path)
    mapped, record = map_backbone(model, arch, sd, f"backbone weights file {path}")
    with torch.no_grad():
        own = model.state_dict()
        for k, v in mapped.items():
            own[k].copy_(v.to(dtype=own[k].dtype))
    return {"file": str(path), "sha256": sha, **record}
