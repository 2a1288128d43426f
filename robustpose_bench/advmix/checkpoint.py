"""Strict weight loading that names every missing and unexpected key.

Accepts what HRNet's repo writes: a bare state dict (``pose_hrnet_w32_256x192.pth``), a training
checkpoint with a ``state_dict`` (or ``model``) wrapper, and keys prefixed ``module.`` by
DataParallel. Never ``strict=False``: a partially loaded model scores plausibly but wrongly.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Mapping

import torch
from torch import nn

from ..errors import UserError

_WRAPPER_KEYS = ("state_dict", "model", "pose_state_dict")


def unwrap_state_dict(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The tensor state dict inside ``obj``, without wrappers or ``module.`` prefixes."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise UserError(f"{source}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    for key in _WRAPPER_KEYS:
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not torch.is_tensor(v):
            raise UserError(f"{source}: entry {k!r} is not a tensor; not a state dict")
        out[k[len("module."):] if k.startswith("module.") else k] = v
    return out


def load_strict(model: nn.Module, state: object, source: str = "checkpoint") -> None:
    """Load ``state`` into ``model`` requiring identical key sets and shapes.

    Raises UserError listing (up to 10 of) the missing keys, unexpected keys and shape mismatches.
    """
    sd = unwrap_state_dict(state, source)
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))

    def _fmt(keys: list[str]) -> str:
        return ", ".join(keys[:10]) + (f", ... ({len(keys)} in all)" if len(keys) > 10 else "")

    problems = []
    if missing:
        problems.append(f"missing keys: {_fmt(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_fmt(unexpected)}")
    if shapes:
        problems.append("shape mismatch: " + _fmt(
            [f"{k} {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}" for k in shapes]))
    if problems:
        raise UserError(f"{source} does not match the model ({'; '.join(problems)})")
    model.load_state_dict(sd, strict=True)


def read_checkpoint(path: str | os.PathLike) -> object:
    """``torch.load`` of a file of tensors (``weights_only=True``), with one-line errors naming it.

    A truncated, empty or non-torch file raises anything from EOFError to a pickle error deep inside
    torch; every one of them is reported the same way.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path):
            raise UserError(f"checkpoint {path} is not a regular file (a device, FIFO or socket); not read")
        return torch.load(path, map_location="cpu", weights_only=True)
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"checkpoint not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"checkpoint {path} is a folder, expected a .pth file") from None
    except Exception as exc:  # corrupt, truncated, empty or non-tensor pickle
        raise UserError(f"cannot read checkpoint {path}: not a file of tensors saved by torch.save "
                        f"(truncated, empty or another format; {type(exc).__name__})") from None


# What `train` saves (trainer.save) and what --resume needs, with the type each must have.
TRAINING_FIELDS: dict[str, tuple[type, ...]] = {
    "state_dict": (Mapping,), "optimizer": (Mapping,), "epoch": (int,), "iter_in_epoch": (int,),
    "global_iter": (int,), "config": (Mapping,), "history": (list,),
}


def read_training_checkpoint(path: str | os.PathLike, fields: tuple[str, ...] = tuple(TRAINING_FIELDS)) -> dict:
    """A ``train`` checkpoint, checked to hold ``fields`` with their types (counters >= 0)."""
    state = read_checkpoint(path)
    if not isinstance(state, Mapping):
        raise UserError(f"{path}: not a robustpose-bench training checkpoint (a {type(state).__name__}, "
                        "not a mapping)")
    missing = [f for f in fields if f not in state]
    if missing:
        raise UserError(f"{path}: not a robustpose-bench training checkpoint (no {', '.join(map(repr, missing))}; "
                        "a plain weights file goes to --pretrained)")
    for name in fields:
        value, types = state[name], TRAINING_FIELDS[name]
        if not isinstance(value, types) or isinstance(value, bool) or (isinstance(value, int) and value < 0):
            raise UserError(f"{path}: field {name!r} is {type(value).__name__} {str(value)[:40]!r}, expected "
                            f"{'an integer >= 0' if types == (int,) else 'a ' + types[0].__name__}")
    return dict(state)


def load_file_strict(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a ``.pth`` file (tensors only, ``weights_only=True``) strictly into ``model``."""
    load_strict(model, read_checkpoint(path), source=str(path))
