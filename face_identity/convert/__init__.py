"""ONNX -> torch: run an ONNX graph with torch ops on any torch device, and the torch recognizer backend.

The converter is a small interpreter, not a code generator: ``GraphSpec`` holds the nodes, their
attributes and the initializers as plain data; ``ConvertedGraph`` turns each node into a torch
function once and runs them in topological order. Float initializers become tensors on the device
(in the chosen precision), integer constants of rank 0 or 1 stay Python ints/tuples, so shape
arithmetic (``Shape -> Gather -> Concat -> Resize``) runs on the host without device syncs.
Nodes whose inputs are all constant are evaluated once at build time (the pad plumbing of old
exporters folds away).

Covered: the ArcFace IResNet graphs (Conv, BatchNormalization, PRelu, Add, Flatten, Gemm), the
dynamic-int8 MobileFaceNet (DynamicQuantizeLinear, ConvInteger, MatMulInteger, Cast, Mul, Reshape),
the SCRFD detectors (Relu, Transpose, Reshape, AveragePool, MaxPool, Sigmoid, Resize, and det_500m's
Shape/Gather/Unsqueeze/Concat/Slice), inswapper-style graphs (Pad, LeakyRelu, ReduceMean, Sub,
Div, Sqrt, Pow, Slice, Resize linear, Tanh, Constant, Identity), ReduceL2 (crossface-style L2
normalisation) and a few more. Any other op raises ``ModelConversionError`` naming it, so callers can
fall back to onnxruntime. A Resize ``sizes`` input keeps the input's N and C: exporters compute it from
``Shape``, and a batch-1 export folds it to a constant ``[1, C, h, w]`` (the real SCRFD-2.5G file), which
a batch of frames then keeps its own N through. Every small real model in ../shared/data converts
(tests/test_convert_real_models.py).

Quantized ops are computed exactly as ONNX specifies: DynamicQuantizeLinear rounds half to even
and saturates to uint8; ConvInteger/MatMulInteger run on integer-valued float32 tensors
``(x - x_zero_point) * (w - w_zero_point)``, which is exact as long as the sums stay below 2**24.

The parsed graph and its tensors are cached as ``<stem>.<crc32>.torch.safetensors`` under
``<face_identity home>/torch_cache`` (never beside the user's model file), with the
graph as JSON in the safetensors metadata, so a cached load does not parse the ONNX file.
Nothing is ever pickled.

Modules, in pipeline order: ``graph`` (the ONNX graph as plain data), ``cache`` (the safetensors
disk cache), ``context`` and ``ops_*`` (one torch function per node: elementwise, dense incl. the
exact int8 ops, shape/layout, spatial), ``registry`` (the covered ops), ``interpreter``
(``ConvertedGraph``), ``device`` (device/precision policy), ``backends`` (``convert_model``). What runs a
converted graph for every model kind, checked against onnxruntime, is ``face_identity.runner``.
"""

from __future__ import annotations

from .backends import convert_model
from .cache import CACHE_FORMAT, load_graph_spec
from .device import dtype_supported, resolve_device, resolve_dtype, torch_target, usable_dtype
from .interpreter import ConvertedGraph

__all__ = [
    "CACHE_FORMAT",
    "ConvertedGraph",
    "convert_model",
    "dtype_supported",
    "load_graph_spec",
    "resolve_device",
    "resolve_dtype",
    "torch_target",
    "usable_dtype",
]
