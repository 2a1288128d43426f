"""``robustpose-bench inspect MODEL``: what a model file holds, which spec fits it, and a skeleton.

Nothing is guessed silently: the report says which values were read off the model's shapes, which
come from a preset family's conventions, and which could not be inferred at all.
"""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect", help="show a model's inputs and outputs, the spec eval would use, and a spec skeleton",
        description="Print MODEL's input and output tensors, the spec `eval` would use (embedded, sidecar or "
                    "--spec), which built-in presets fit its shapes, and a spec to start from, saying what could "
                    "not be inferred from the file.")
    p.add_argument("model", help="model file (.onnx, or a TorchScript archive)")
    p.add_argument("--spec", default=None, metavar="FILE|PRESET", help="check this spec or preset against the model")
    p.add_argument("--write-spec", default=None, metavar="FILE",
                   help="also write the spec shown (the one eval would use, the suggested preset's, or the skeleton "
                        "to fill) to FILE as JSON, ready for `eval --spec FILE`")
    p.add_argument("--overwrite", action="store_true", help="with --write-spec: replace an existing FILE")
    p.set_defaults(func=run)


def _check_write_spec(args: argparse.Namespace) -> None:
    """Before anything runs: the spec file must not be the model, nor replace a file unasked."""
    import os

    from ..errors import UserError
    from ..outputs import check_outputs

    if args.write_spec is None:
        return
    check_outputs([("--write-spec", args.write_spec)], [("the model", args.model), ("the --spec file", args.spec)])
    if os.path.lexists(args.write_spec) and not args.overwrite:
        raise UserError(f"--write-spec {args.write_spec} exists: pass --overwrite to replace it")


def _write_spec(args: argparse.Namespace, spec: dict, what: str) -> None:
    from ..atomic import atomic_write_json

    if args.write_spec is not None:
        atomic_write_json(args.write_spec, spec)
        print(f"wrote {what} to {args.write_spec}")


def _fmt(shape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _skeleton(io) -> tuple[dict, list[str]]:
    """A spec skeleton from the shapes alone, and the fields left to fill."""
    from ..models.spec import SPEC_FORMAT

    name, shape, dtype = io.inputs[0] if io.inputs else ("input", [None] * 4, None)
    unknown = ["output.kind and its fields", "keypoints.dataset_map (which model keypoint is which COCO/MPII "
               "keypoint)", "flip_pairs", "input.channel_order", "input.mean / input.std (normalisation)"]
    layout = "NCHW" if len(shape) == 4 and shape[1] == 3 else ("NHWC" if len(shape) == 4 and shape[3] == 3 else None)
    if layout is None:
        unknown.insert(0, "input.layout (no axis of size 3)")
    h, w = ((shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])) if layout else (None, None)
    if h is None or w is None:
        unknown.insert(0, "input.height / input.width (not declared)")
    out_name = io.outputs[0][0] if io.outputs else None
    skel = {"format": SPEC_FORMAT, "name": "FILL", "input": {
        "name": name, "height": h or "FILL", "width": w or "FILL", "layout": layout or "FILL",
        "dtype": dtype or "FILL", "channel_order": "FILL", "mean": "FILL", "std": "FILL"},
        "output": {"kind": "FILL", "name": out_name},
        "keypoints": {"num": "FILL", "names": None, "dataset_map": {"coco": "FILL"}}, "flip_pairs": "FILL"}
    return skel, unknown


#: Seconds each of inspect's probe forward passes (ONNX) may take before it is stopped.
INSPECT_PROBE_TIMEOUT_S = 20.0


def _inspect_torchscript(args: argparse.Namespace) -> int:
    """TorchScript: read the archive as data (``models/torchscript_static.py``), never load or run it."""
    from ..errors import UserError
    from ..models.spec import load_spec_file, parse_spec
    from ..models.torchscript_static import read_torchscript

    info = read_torchscript(args.model)
    print(f"model: {args.model} (torchscript; read without loading it: loading a TorchScript file runs its code)")
    print(f"root module: {info.root_class}")
    print("inputs (forward's arguments):")
    for name, typ in info.inputs or [("(forward not found in the archive's code)", "")]:
        print(f"  {name}  {typ}")
    print(f"outputs: {info.returns or '(not declared)'} (shapes are known only by running the model)")
    spec, where = None, None
    try:
        if args.spec is not None:
            from ..models.presets import PRESETS

            if args.spec in PRESETS:
                print(f"spec: preset {args.spec}: its sizes are read off the outputs, which needs a forward pass; "
                      "`eval` runs it")
            else:
                spec, where = load_spec_file(args.spec), f"file:{args.spec}"
        elif info.metadata.get("robustpose_spec"):
            spec, where = parse_spec(info.metadata["robustpose_spec"], source=f"embedded in {args.model}"), "embedded"
    except UserError as exc:
        print(f"spec: none that loads ({str(exc).splitlines()[0]})")
    if spec is not None:
        print(f"spec eval would use: {where} ('{spec.name}', {spec.pipeline}, output {spec.output.kind}); checked "
              "against the outputs only by `eval`, which runs the model")
        print(json.dumps(spec.to_dict(), indent=2, sort_keys=True))
        _write_spec(args, spec.to_dict(), f"the spec eval would use ({where})")
    else:
        if args.spec is None and not info.metadata.get("robustpose_spec"):
            print("spec: none embedded; give --spec FILE|PRESET to `eval` (`robustpose-bench list specs`)")
        if args.write_spec is not None:
            raise UserError(f"--write-spec {args.write_spec}: no spec to write: a TorchScript file's preset fit needs "
                            "a forward pass, which inspect never runs; export to ONNX, or write the spec by hand")
    print("note: `eval` loads and runs this TorchScript file with your permissions (it can read and write your "
          "files); evaluate TorchScript you did not make in a sandbox, or ask for ONNX")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..models.loader import check_model_file, load_model, model_io
    from ..models.onnx_backend import ProbeTimeout
    from ..models.presets import PRESETS

    _check_write_spec(args)
    if check_model_file(args.model) == "torchscript":
        return _inspect_torchscript(args)
    fmt, io, meta = model_io(args.model, probe_timeout_s=INSPECT_PROBE_TIMEOUT_S)
    print(f"model: {args.model} ({fmt})")
    print("inputs:")
    for name, shape, dtype in io.inputs:
        print(f"  {name}  {_fmt(shape)}  {dtype or '(dtype not declared)'}")
    print("outputs:")
    for name, shape in io.outputs:
        print(f"  {name}  {_fmt(shape) if shape else ''}")

    chosen = None
    try:
        m = load_model(args.model, spec=args.spec, device="cpu", probe_timeout_s=INSPECT_PROBE_TIMEOUT_S)
        chosen = m.spec
        print(f"spec eval would use: {m.spec_source} ('{m.spec.name}', {m.spec.pipeline}, output {m.spec.output.kind}) "
              "- checked against the model: OK")
    except ProbeTimeout:
        raise
    except UserError as exc:
        print(f"spec eval would use: none that works ({str(exc).splitlines()[0]})")

    print("presets (conventions of each family; sizes read off the shapes):")
    fits = []
    for name, preset in PRESETS.items():
        try:
            load_model(args.model, spec=name, device="cpu", probe_timeout_s=INSPECT_PROBE_TIMEOUT_S)
            fits.append(name)
            print(f"  {name:<15} fits")
        except ProbeTimeout:
            raise
        except UserError as exc:
            print(f"  {name:<15} no: {str(exc).splitlines()[0]}")

    if chosen is not None:
        print("spec (as eval reads it):")
        print(json.dumps(chosen.to_dict(), indent=2, sort_keys=True))
        _write_spec(args, chosen.to_dict(), f"the spec eval would use ({m.spec_source})")
    elif fits:
        spec = PRESETS[fits[0]].spec(io, __import__("pathlib").Path(args.model).stem)
        print(f"suggested spec (preset {fits[0]}; use --spec {fits[0]}, or save this and edit):")
        print(json.dumps(spec.to_dict(), indent=2, sort_keys=True))
        print(f"read off the model: input size, tensor names, keypoint count; from the {fits[0]} family's conventions "
              "(not from the file): channel order, normalisation, resizing, keypoint order and flip pairs")
        _write_spec(args, spec.to_dict(), f"the {fits[0]} preset's spec")
    else:
        skel, unknown = _skeleton(io)
        print("spec skeleton (no preset fits; fill every FILL, see `robustpose-bench docs model_spec`):")
        print(json.dumps(skel, indent=2, sort_keys=True))
        print("could not infer from the file: " + "; ".join(unknown))
        _write_spec(args, skel, "the skeleton (fill every FILL before `eval --spec` reads it)")
    if meta.get("robustpose_spec") and chosen is None:
        print("note: the model embeds a spec that does not load (see above)")
    return 0
