"""Model loading for evaluation: the model spec, the ONNX and TorchScript backends, and the loader.

Only ``spec`` is imported here: the backends import onnxruntime / torch, which are heavy.
"""
from .spec import (
    ONNX_METADATA_KEY,
    SPEC_FORMAT,
    TORCHSCRIPT_EXTRA_FILE,
    ModelSpec,
    embed_spec_onnx,
    embed_spec_onnx_file,
    heatmap_model_spec,
    load_spec_file,
    parse_spec,
    torchscript_extra_files,
)

__all__ = [
    "ONNX_METADATA_KEY", "SPEC_FORMAT", "TORCHSCRIPT_EXTRA_FILE", "ModelSpec", "embed_spec_onnx",
    "embed_spec_onnx_file", "heatmap_model_spec", "load_spec_file", "parse_spec", "torchscript_extra_files",
]
