"""``robustpose-bench export``: a trained checkpoint to ONNX or TorchScript with its model spec embedded."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a trained checkpoint (ONNX / TorchScript, spec embedded)",
        description="Turn a `train` checkpoint into an ONNX or TorchScript model with its model spec "
                    "(input size, normalisation, keypoints, flip pairs; `robustpose-bench docs model_spec`) embedded, so that "
                    "`eval` runs it with no extra flags. Prints the output file, its sha256 and the spec as JSON.",
    )
    p.add_argument("checkpoint", help="a train checkpoint (OUT/last.pth)")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    p.add_argument("-o", "--output", help="output file (default: next to the checkpoint, .onnx / .pt)")
    p.add_argument("--name", help="model name in the spec (default: ARCH_METHOD)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..advmix.export import export, load_trained, spec_for
    from ..atomic import sha256_file

    model, cfg = load_trained(args.checkpoint)
    name = args.name or f"{cfg['arch']}_{cfg['method']}"
    spec = spec_for(name, cfg, args.format)
    out = Path(args.output) if args.output else Path(args.checkpoint).with_suffix(
        ".onnx" if args.format == "onnx" else ".pt")
    export(model, spec, out, args.format)
    print(json.dumps({"output": str(out), "format": args.format, "sha256": sha256_file(out),
                      "spec": spec.to_dict()}, sort_keys=True))
    return 0
