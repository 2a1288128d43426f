"""What a TorchScript archive declares, read without loading it: for ``inspect``.

Why: ``torch.jit.load`` runs code from the file (a scripted class's ``__setstate__``), and a forward
pass runs any TorchScript op, ``torch.from_file(PATH, True, N).fill_(...)`` included, which writes
into any file the user can write (issue 19). ``inspect`` is what a user runs on a file they do not
trust yet, so for TorchScript it opens the zip archive and reads, as data:

- the root module's class, from ``data.pkl``'s first GLOBAL opcode (``pickletools.genops`` lists
  opcodes; nothing is unpickled);
- that class's ``forward`` signature, from its TorchScript source under ``code/`` (Python syntax,
  parsed with ``ast``, never compiled or run);
- the embedded spec, ``extra/robustpose_spec.json``.

Output shapes are not in a TorchScript archive (they follow from running it), so which preset fits is
left to ``eval``, which does run the model.
"""
from __future__ import annotations

import ast
import os
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..errors import UserError

SPEC_EXTRA = "robustpose_spec.json"
#: Files larger than this inside the archive are not read as code or spec (a zip bomb guard).
MAX_MEMBER_BYTES = 64 * 1024 * 1024


@dataclass
class TorchScriptInfo:
    root_class: str                                   # "__torch__.M"
    inputs: list[tuple[str, str]] = field(default_factory=list)   # (name, TorchScript type)
    returns: str | None = None                        # "Tuple[Tensor, Tensor]"
    metadata: dict[str, str] = field(default_factory=dict)


def _read(z: zipfile.ZipFile, name: str, path: os.PathLike | str) -> bytes:
    info = z.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise UserError(f"{path}: {name} in the archive is {info.file_size} bytes; not read")
    return z.read(name)


def _root_global(data: bytes) -> tuple[str, str]:
    """(module, class) of the first object ``data.pkl`` builds, from its opcodes alone."""
    strings: list[str] = []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            module, name = str(arg).split(" ", 1)
            return module, name
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(str(arg))
        if op.name == "STACK_GLOBAL" and len(strings) >= 2:
            return strings[-2], strings[-1]
    raise ValueError("no class in data.pkl")


def read_torchscript(path: str | os.PathLike) -> TorchScriptInfo:
    """The archive's root class, its forward signature and extra files; ``UserError`` if it is not a
    TorchScript archive."""
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a TorchScript archive ({exc})") from None
    with z:
        names = z.namelist()
        data_pkl = next((n for n in names if PurePosixPath(n).name == "data.pkl" and n.count("/") == 1), None)
        if data_pkl is None:
            raise UserError(f"{path}: not a TorchScript archive (no data.pkl)")
        prefix = data_pkl.split("/", 1)[0]
        try:
            module, cls = _root_global(_read(z, data_pkl, path))
        except (ValueError, UserError) as exc:
            raise UserError(f"{path}: cannot read the root module's class from data.pkl ({exc})") from None
        info = TorchScriptInfo(root_class=f"{module}.{cls}")
        spec_name = f"{prefix}/extra/{SPEC_EXTRA}"
        if spec_name in names:
            info.metadata["robustpose_spec"] = _read(z, spec_name, path).decode("utf-8", errors="replace")
        code_name = f"{prefix}/code/{module.replace('.', '/')}.py"
        if code_name not in names:
            return info
        source = _read(z, code_name, path).decode("utf-8", errors="replace")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return info
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "forward":
                    args = item.args.args[1:]  # self
                    info.inputs = [(a.arg, ast.unparse(a.annotation) if a.annotation else "?") for a in args]
                    info.returns = ast.unparse(item.returns) if item.returns else None
    return info
