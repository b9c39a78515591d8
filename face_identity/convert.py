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
Div, Sqrt, Pow, Slice, Resize linear, Tanh, Constant, Identity) and a few more. Any other op
raises ``ModelConversionError`` naming it, so callers can fall back to onnxruntime.

Quantized ops are computed exactly as ONNX specifies: DynamicQuantizeLinear rounds half to even
and saturates to uint8; ConvInteger/MatMulInteger run on integer-valued float32 tensors
``(x - x_zero_point) * (w - w_zero_point)``, which is exact as long as the sums stay below 2**24.

The parsed graph and its tensors are cached as ``<stem>.<crc32>.torch.safetensors`` next to the
model (or under ``<face_identity home>/torch_cache`` when that folder is not writable), with the
graph as JSON in the safetensors metadata, so a cached load does not parse the ONNX file.
Nothing is ever pickled.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .download import default_model_dir, file_crc32
from .errors import InvalidArgumentError, ModelConversionError, ModelFileError

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

CACHE_FORMAT = "face_identity.onnx_graph"
CACHE_VERSION = "1"
CACHE_SUFFIX = ".torch.safetensors"
DTYPE_NAMES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
"""Accepted precision names -> torch dtype attribute names."""

# ONNX TensorProto element types (onnx.TensorProto.*), kept here so parsing a cached graph needs no onnx import.
_ONNX_FLOAT_TYPES = {1, 10, 11, 16}
_ONNX_INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}
_ONNX_BOOL = 9
_INT64_MAX = 2**63 - 1

Value = Any
"""A runtime value: a ``torch.Tensor``, or a host integer (``int``) / integer vector (``tuple[int, ...]``)."""


# --------------------------------------------------------------------------------------------------
# Graph description (plain data; JSON + tensors)


@dataclass(frozen=True)
class NodeSpec:
    """One ONNX node: op type, unique name, input/output value names ("" = optional input left out), attributes.

    Attribute values are JSON types (int, float, str, lists of them); a tensor attribute is
    ``{"tensor": key}`` naming an entry of ``GraphSpec.tensors``.
    """

    op_type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: Mapping[str, Any]
    domain: str = ""


@dataclass(frozen=True)
class GraphSpec:
    """An ONNX graph as plain data.

    - ``nodes``: in file order (topological for valid ONNX files).
    - ``input_names`` / ``output_names``: graph inputs (initializers excluded) and outputs.
    - ``opset``: version of the default ONNX domain.
    - ``tensors``: initializers, tensor attributes and ``Constant`` values by name, as numpy arrays.
    """

    nodes: tuple[NodeSpec, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    opset: int
    tensors: Mapping[str, NDArray[Any]] = field(repr=False)

    @property
    def op_types(self) -> frozenset[str]:
        return frozenset(node.op_type for node in self.nodes)

    def to_json(self) -> str:
        """The graph without its tensors, as compact JSON."""
        return json.dumps(
            {
                "opset": self.opset,
                "inputs": list(self.input_names),
                "outputs": list(self.output_names),
                "nodes": [
                    {
                        "op": n.op_type,
                        "name": n.name,
                        "domain": n.domain,
                        "in": list(n.inputs),
                        "out": list(n.outputs),
                        "attr": dict(n.attributes),
                    }
                    for n in self.nodes
                ],
            },
            separators=(",", ":"),
        )

    @staticmethod
    def from_json(text: str, tensors: Mapping[str, NDArray[Any]]) -> GraphSpec:
        """Inverse of ``to_json``, given the tensors."""
        data = json.loads(text)
        nodes = tuple(
            NodeSpec(n["op"], n["name"], tuple(n["in"]), tuple(n["out"]), n["attr"], n.get("domain", "")) for n in data["nodes"]
        )
        return GraphSpec(nodes, tuple(data["inputs"]), tuple(data["outputs"]), int(data["opset"]), dict(tensors))


def _contiguous(array: NDArray[Any], writable: bool = False) -> NDArray[Any]:
    """A C-contiguous array of the same shape (``np.ascontiguousarray`` would turn 0-d into 1-d)."""
    if array.flags.c_contiguous and (array.flags.writeable or not writable):
        return array
    return np.array(array, order="C", copy=True)


def _numpy_tensor(tensor: Any) -> NDArray[Any]:
    from onnx import numpy_helper

    array = np.asarray(numpy_helper.to_array(tensor))
    if array.dtype.kind not in "fiub":  # bfloat16/float8 come back as ml_dtypes types
        array = array.astype(np.float32)
    return _contiguous(array)


def graph_spec_from_proto(model: Any, source: str = "model") -> GraphSpec:
    """``GraphSpec`` of a parsed ``onnx.ModelProto`` (external data must already be loaded).

    Raises:
        ModelConversionError: a node has a subgraph attribute (If, Loop, Scan).
    """
    from onnx import AttributeProto, helper

    graph = model.graph
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)
    tensors: dict[str, NDArray[Any]] = {init.name: _numpy_tensor(init) for init in graph.initializer}
    nodes = []
    used_names: set[str] = set()
    for index, node in enumerate(graph.node):
        name = node.name or f"{node.op_type}_{index}"
        if name in used_names:
            name = f"{name}_{index}"
        used_names.add(name)
        attributes: dict[str, Any] = {}
        for attribute in node.attribute:
            if attribute.type == AttributeProto.TENSOR:
                key = f"{name}/{attribute.name}"
                tensors[key] = _numpy_tensor(attribute.t)
                attributes[attribute.name] = {"tensor": key}
            elif attribute.type in (
                AttributeProto.GRAPH,
                AttributeProto.GRAPHS,
                AttributeProto.SPARSE_TENSOR,
                AttributeProto.TENSORS,
            ):
                raise ModelConversionError(
                    f"{source}: node {name} ({node.op_type}) has a {AttributeProto.AttributeType.Name(attribute.type)} "
                    "attribute, which the torch converter does not support. Use the onnxruntime backend."
                )
            else:
                value = helper.get_attribute_value(attribute)
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                elif isinstance(value, list):
                    value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
                attributes[attribute.name] = value
        nodes.append(NodeSpec(node.op_type, name, tuple(node.input), tuple(node.output), attributes, node.domain))
    initializer_names = {init.name for init in graph.initializer}
    inputs = tuple(value.name for value in graph.input if value.name not in initializer_names)
    outputs = tuple(value.name for value in graph.output)
    return GraphSpec(tuple(nodes), inputs, outputs, int(opset), tensors)


# --------------------------------------------------------------------------------------------------
# Cache


def fallback_cache_dir() -> Path:
    """Where converted graphs go when the model's folder is not writable: ``<default model dir>/../torch_cache``."""
    return default_model_dir().parent / "torch_cache"


def cache_file_name(model_path: Path, crc32: str) -> str:
    """``<stem>.<crc32>.torch.safetensors``."""
    return f"{model_path.stem}.{crc32}{CACHE_SUFFIX}"


def _cache_candidates(model_path: Path, crc32: str) -> list[Path]:
    name = cache_file_name(model_path, crc32)
    return [model_path.parent / name, fallback_cache_dir() / name]


def read_cached_graph(cache_path: Path, crc32: str) -> GraphSpec | None:
    """The graph stored in a cache file, or ``None`` when the file is unreadable or belongs to another model/version."""
    from safetensors import safe_open

    try:
        with safe_open(str(cache_path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            if (
                metadata.get("format") != CACHE_FORMAT
                or metadata.get("version") != CACHE_VERSION
                or metadata.get("source_crc32") != crc32
            ):
                logger.debug("ignoring %s: written for another model or converter version", cache_path)
                return None
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open is not iterable)
        return GraphSpec.from_json(metadata["graph"], tensors)
    except Exception as error:  # a truncated or foreign file must only cost a re-conversion
        logger.debug("ignoring unreadable cache %s: %s", cache_path, error)
        return None


def write_cache_file(cache_path: Path, spec: GraphSpec, crc32: str, source_name: str) -> None:
    """Write ``spec`` as safetensors (tensors) + metadata (graph JSON), atomically.

    Raises:
        OSError: the folder is not writable (or the disk is full).
    """
    from safetensors.numpy import save_file

    cache_path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "source_crc32": crc32,
        "source_name": source_name,
        "graph": spec.to_json(),
    }
    tensors = {key: _contiguous(value) for key, value in spec.tensors.items()}
    handle, temporary = tempfile.mkstemp(prefix=".converting-", suffix=CACHE_SUFFIX, dir=str(cache_path.parent))
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=metadata)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; the cache is as readable as a model file
        os.replace(temporary, cache_path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def folder_writable(folder: Path) -> bool:
    """Whether we may add files to ``folder``: the OS allows it and the folder has a write bit.

    The mode check matters when running as root, where ``os.access`` says yes even for a folder
    its owner made read-only (e.g. a shared, read-only model folder).
    """
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    try:
        return os.access(probe, os.W_OK) and bool(probe.stat().st_mode & 0o222)
    except OSError:
        return False


def _store_in_cache(spec: GraphSpec, model_path: Path, crc32: str) -> Path | None:
    for candidate in _cache_candidates(model_path, crc32):
        if not folder_writable(candidate.parent):
            logger.debug("not caching the torch conversion in %s: folder not writable", candidate.parent)
            continue
        try:
            write_cache_file(candidate, spec, crc32, model_path.name)
            logger.debug("cached the torch conversion of %s at %s", model_path.name, candidate)
            return candidate
        except Exception as error:  # read-only folder, full disk, ...: try the next place, then give up quietly
            logger.debug("could not write the torch cache %s: %s", candidate, error)
    return None


def load_graph_spec(path: str | os.PathLike[str], *, cache: bool = True) -> GraphSpec:
    """The ``GraphSpec`` of an ONNX file, from the safetensors cache when present (no ONNX parsing then).

    Args:
        path: the ``.onnx`` file.
        cache: read and write the cache (keyed by the file's CRC32, so an edited model gets a new entry).

    Raises:
        ModelFileError: missing or unreadable file.
        ModelConversionError: the graph has an op the converter does not cover (nothing is cached then).
    """
    from .onnx_graph import load_model_proto

    model_path = Path(path)
    if not model_path.is_file():
        raise ModelFileError(f"model file {model_path} does not exist")
    crc32 = file_crc32(model_path)
    if cache:
        for candidate in _cache_candidates(model_path, crc32):
            if candidate.is_file():
                spec = read_cached_graph(candidate, crc32)
                if spec is not None:
                    logger.debug("loaded the torch conversion of %s from %s", model_path.name, candidate)
                    return spec
    spec = graph_spec_from_proto(load_model_proto(model_path, load_external_data=True), model_path.name)
    check_convertible(spec, model_path.name)
    if cache:
        _store_in_cache(spec, model_path, crc32)
    return spec


# --------------------------------------------------------------------------------------------------
# Interpreter


@dataclass
class _Run:
    """What op functions see at run time: the device, the compute dtype and the graph's tensors."""

    device: Any
    dtype: Any
    tensors: dict[str, Any]


OpFunction = Callable[[list[Value], _Run], tuple[Value, ...]]


@dataclass
class _Step:
    function: OpFunction
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    release: tuple[str, ...] = ()


@dataclass
class _BuildContext:
    """What node builders may ask for: constant values, and extra tensors they derive from constants."""

    opset: int
    dtype: Any
    channels_last: bool
    per_sample_quantization: bool
    arrays: dict[str, NDArray[Any]]
    derived: dict[str, Any] = field(default_factory=dict)
    exact: set[str] = field(default_factory=set)
    channels_last_names: set[str] = field(default_factory=set)
    baked: set[str] = field(default_factory=set)

    def array(self, name: str) -> NDArray[Any] | None:
        """The constant numpy value of an input, or ``None`` when it is computed at run time (or left out)."""
        return self.arrays.get(name) if name else None

    def bake(self, name: str) -> None:
        """The builder took this constant input into its function: the step need not keep it."""
        if name:
            self.baked.add(name)

    def derive(self, key: str, array: NDArray[Any], exact: bool = False, channels_last: bool = False) -> str:
        """Register a tensor computed from constants; returns its key in ``_Run.tensors``."""
        import torch

        self.derived[key] = torch.from_numpy(_contiguous(array, writable=True))
        if exact:
            self.exact.add(key)
        if channels_last:
            self.channels_last_names.add(key)
        return key


Builder = Callable[[NodeSpec, _BuildContext], OpFunction]


def _attr(node: NodeSpec, name: str, default: Any = None) -> Any:
    return node.attributes.get(name, default)


def _unsupported(node: NodeSpec, detail: str) -> ModelConversionError:
    return ModelConversionError(
        f"ONNX {node.op_type} node {node.name!r}: {detail} is not supported by the torch converter. "
        "Use the onnxruntime backend for this model."
    )


def _is_host(value: Value) -> bool:
    return isinstance(value, (int, tuple))


def _host_value(array: NDArray[Any]) -> Value:
    """Integer arrays of rank 0/1 as Python ints/tuples; anything else ``None``."""
    if array.dtype.kind in "iu" and array.ndim <= 1 and array.size <= 4096:
        return int(array) if array.ndim == 0 else tuple(int(v) for v in array.tolist())
    return None


def _as_tensor(value: Value, run: _Run, like: Any = None) -> Any:
    """A host int/tuple as a tensor (int64, or ``like``'s floating dtype); tensors unchanged."""
    import torch

    if not _is_host(value):
        return value
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.int64
    device = like.device if like is not None else run.device
    return torch.tensor(value, dtype=dtype, device=device)


def _host_ints(value: Value) -> tuple[int, ...]:
    """A shape-like value (tuple, int, or 1-D integer tensor) as a tuple of ints."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value.reshape(-1).tolist())


def _host_floats(value: Value) -> tuple[float, ...]:
    if isinstance(value, (int, tuple)):
        return tuple(float(v) for v in _host_ints(value))
    return tuple(float(v) for v in value.reshape(-1).tolist())


def _trunc_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def _host_binary(a: Value, b: Value, operation: Callable[[int, int], int]) -> Value:
    if isinstance(a, int) and isinstance(b, int):
        return operation(a, b)
    left = a if isinstance(a, tuple) else None
    right = b if isinstance(b, tuple) else None
    if left is not None and right is not None:
        if len(left) == len(right):
            return tuple(operation(x, y) for x, y in zip(left, right, strict=False))
        if len(left) == 1:
            return tuple(operation(left[0], y) for y in right)
        if len(right) == 1:
            return tuple(operation(x, right[0]) for x in left)
        raise InvalidArgumentError(f"cannot broadcast shapes {len(left)} and {len(right)}")
    if left is not None:
        return tuple(operation(x, b) for x in left)  # type: ignore[arg-type]
    return tuple(operation(a, y) for y in right)  # type: ignore[arg-type, union-attr]


def _tensor_pair(a: Value, b: Value, run: _Run) -> tuple[Any, Any]:
    """Two operands as tensors of one dtype (host ints take the other operand's dtype; mixed floats go to the run dtype)."""
    if _is_host(a):
        a = _as_tensor(a, run, b)
    if _is_host(b):
        b = _as_tensor(b, run, a)
    if a.dtype != b.dtype and a.is_floating_point() and b.is_floating_point():
        a, b = a.to(run.dtype), b.to(run.dtype)
    elif a.dtype != b.dtype and a.is_floating_point() != b.is_floating_point():
        target = a.dtype if a.is_floating_point() else b.dtype
        a, b = a.to(target), b.to(target)
    return a, b


# ---- elementwise


def _binary(tensor_op: Callable[[Any, Any], Any], host_op: Callable[[int, int], int] | None) -> Builder:
    def build(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
            a, b = inputs[0], inputs[1]
            if host_op is not None and _is_host(a) and _is_host(b):
                return (_host_binary(a, b, host_op),)
            a, b = _tensor_pair(a, b, state)
            return (tensor_op(a, b),)

        return run

    return build


def _divide(a: Any, b: Any) -> Any:
    import torch

    if a.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _unary(tensor_op: Callable[[Any], Any]) -> Builder:
    def build(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
            return (tensor_op(_as_tensor(inputs[0], state)),)

        return run

    return build


def _build_variadic(tensor_op: Callable[[Any, Any], Any]) -> Builder:
    def build(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
            result = _as_tensor(inputs[0], state)
            for other in inputs[1:]:
                result, other = _tensor_pair(result, other, state)
                result = tensor_op(result, other)
            return (result,)

        return run

    return build


def _build_leaky_relu(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    slope = float(_attr(node, "alpha", 0.01))
    return lambda inputs, state: (functional.leaky_relu(inputs[0], slope),)


def _build_hard_sigmoid(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    alpha, beta = float(_attr(node, "alpha", 0.2)), float(_attr(node, "beta", 0.5))
    return lambda inputs, state: ((inputs[0] * alpha + beta).clamp(0.0, 1.0),)


def _build_hard_swish(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    return lambda inputs, state: (inputs[0] * (inputs[0] / 6.0 + 0.5).clamp(0.0, 1.0),)


def _build_elu(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    alpha = float(_attr(node, "alpha", 1.0))
    return lambda inputs, state: (functional.elu(inputs[0], alpha),)


def _build_prelu(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch
    import torch.nn.functional as functional

    slope = ctx.array(node.inputs[1])
    per_channel_key: str | None = None
    slope_rank = 0
    slope_count = 0
    if slope is not None and slope.dtype.kind == "f" and (slope.ndim == 0 or all(d == 1 for d in slope.shape[1:])):
        # [C, 1, 1] (or [C], [1]) slopes: F.prelu's per-channel form, one fused kernel.
        slope_rank = slope.ndim
        per_channel_key = ctx.derive(f"{node.name}/slope", slope.reshape(-1).astype(np.float32))
        ctx.bake(node.inputs[1])
        slope_count = int(slope.size)

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        if per_channel_key is not None:
            weight = state.tensors[per_channel_key]
            if slope_count == 1 or (x.dim() == slope_rank + 1 and x.shape[1] == slope_count):
                return (functional.prelu(x, weight),)
            full = weight.reshape(slope.shape)  # type: ignore[union-attr]
            return (torch.where(x >= 0, x, x * full),)
        x, weight = _tensor_pair(x, inputs[1], state)
        return (torch.where(x >= 0, x, x * weight),)

    return run


def _build_clip(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    if ctx.opset < 11:
        low, high = _attr(node, "min"), _attr(node, "max")
        constant_bounds: tuple[float | None, float | None] | None = (low, high)
    else:
        bounds: list[float | None] = []
        constant = True
        for index in (1, 2):
            name = node.inputs[index] if len(node.inputs) > index else ""
            if not name:
                bounds.append(None)
                continue
            array = ctx.array(name)
            if array is None:
                constant = False
                break
            bounds.append(float(array.reshape(-1)[0]))
            ctx.bake(name)
        constant_bounds = (bounds[0], bounds[1]) if constant else None

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        if constant_bounds is not None:
            low, high = constant_bounds
            if low is not None and high is not None and low == 0.0 and x.is_floating_point():
                return (torch.clamp(x, 0.0, high),)
            return (torch.clamp(x, low, high),)
        low_value = inputs[1] if len(inputs) > 1 else None
        high_value = inputs[2] if len(inputs) > 2 else None
        return (
            torch.clamp(
                x,
                _as_tensor(low_value, state, x) if low_value is not None else None,
                _as_tensor(high_value, state, x) if high_value is not None else None,
            ),
        )

    return run


def _build_cast(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    target = int(_attr(node, "to", 1))
    int_dtypes = {
        2: torch.uint8,
        3: torch.int8,
        5: torch.int16,
        6: torch.int32,
        7: torch.int64,
        4: torch.int32,
        12: torch.int64,
        13: torch.int64,
    }

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        if target in _ONNX_FLOAT_TYPES:
            if _is_host(x):
                return (torch.tensor(x, dtype=state.dtype, device=state.device),)
            if x.is_floating_point() and x.dtype == torch.float32 and state.dtype == torch.float32:
                return (x,)
            return (x.to(state.dtype),)
        if target in _ONNX_INT_TYPES:
            if _is_host(x):
                return (x,)
            return (x.to(int_dtypes[target]),)
        if target == _ONNX_BOOL:
            return (_as_tensor(x, state).to(torch.bool),)
        raise _unsupported(node, f"Cast to ONNX type {target}")

    return run


# ---- convolution, normalisation, dense


def _pads_for_torch(pads: Sequence[int]) -> list[int]:
    """ONNX ``[x1_begin, x2_begin, ..., x1_end, x2_end]`` -> ``F.pad``'s last-axis-first ``[xn_begin, xn_end, ...]``."""
    half = len(pads) // 2
    result: list[int] = []
    for axis in reversed(range(half)):
        result.extend([int(pads[axis]), int(pads[axis + half])])
    return result


def _same_padding(
    sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], upper: bool
) -> list[int]:
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=False):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begins.append(small if upper else total - small)
        ends.append(total - small if upper else small)
    return begins + ends


def _conv_geometry(node: NodeSpec, spatial: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], str]:
    strides = tuple(int(v) for v in _attr(node, "strides", [1] * spatial))
    dilations = tuple(int(v) for v in _attr(node, "dilations", [1] * spatial))
    pads = tuple(int(v) for v in _attr(node, "pads", [0] * (2 * spatial)))
    auto_pad = str(_attr(node, "auto_pad", "NOTSET"))
    return strides, dilations, pads, auto_pad


def _make_convolution(node: NodeSpec, spatial: int, kernel: Sequence[int]) -> Callable[[Any, Any, Any], Any]:
    """``f(x, weight, bias)`` applying the node's strides, dilations, groups and padding (any ONNX pad form)."""
    import torch.nn.functional as functional

    strides, dilations, pads, auto_pad = _conv_geometry(node, spatial)
    groups = int(_attr(node, "group", 1))
    if spatial not in (1, 2, 3):
        raise _unsupported(node, f"a {spatial}-D convolution")
    convolution = {1: functional.conv1d, 2: functional.conv2d, 3: functional.conv3d}[spatial]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        upper = auto_pad == "SAME_UPPER"

        def same(x: Any, weight: Any, bias: Any) -> Any:
            padding = _same_padding(x.shape[2:], kernel, strides, dilations, upper)
            return convolution(functional.pad(x, _pads_for_torch(padding)), weight, bias, strides, 0, dilations, groups)

        return same
    if auto_pad == "VALID":
        pads = (0,) * (2 * spatial)
    begins, ends = pads[:spatial], pads[spatial:]
    if begins == ends:
        return lambda x, weight, bias: convolution(x, weight, bias, strides, begins, dilations, groups)
    torch_pads = _pads_for_torch(pads)
    return lambda x, weight, bias: convolution(functional.pad(x, torch_pads), weight, bias, strides, 0, dilations, groups)


def _build_conv(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    weight = ctx.array(node.inputs[1])
    kernel = _attr(node, "kernel_shape") or (list(weight.shape[2:]) if weight is not None else None)
    if kernel is None:
        raise _unsupported(node, "a convolution with a run-time weight and no kernel_shape")
    spatial = len(kernel)
    convolve = _make_convolution(node, spatial, kernel)
    if weight is not None and spatial == 2 and ctx.channels_last:
        ctx.channels_last_names.add(node.inputs[1])
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        return (convolve(inputs[0], inputs[1], inputs[2] if has_bias else None),)

    return run


def _integer_operand(
    ctx: _BuildContext,
    node: NodeSpec,
    value_index: int,
    zero_index: int,
    key: str,
    per_row_shape: Callable[[NDArray[Any]], tuple[int, ...]],
    channels_last: bool = False,
) -> str | None:
    """A constant quantized operand as integer-valued float32 ``value - zero_point`` (derived once), or ``None``."""
    values = ctx.array(node.inputs[value_index])
    if values is None:
        return None
    zero_name = node.inputs[zero_index] if len(node.inputs) > zero_index else ""
    zero = ctx.array(zero_name) if zero_name else np.zeros((), values.dtype)
    if zero is None:
        return None
    zero = zero.astype(np.float32)
    if zero.ndim == 1 and zero.size > 1:
        zero = zero.reshape(per_row_shape(values))
    ctx.bake(node.inputs[value_index])
    ctx.bake(zero_name)
    return ctx.derive(key, values.astype(np.float32) - zero, exact=True, channels_last=channels_last)


def _build_conv_integer(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    weight = ctx.array(node.inputs[1])
    if weight is None:
        raise _unsupported(node, "ConvInteger with a run-time weight")
    spatial = weight.ndim - 2
    convolve = _make_convolution(node, spatial, _attr(node, "kernel_shape") or list(weight.shape[2:]))
    weight_key = _integer_operand(
        ctx,
        node,
        1,
        3,
        f"{node.name}/weight",
        lambda w: (w.shape[0],) + (1,) * (w.ndim - 1),
        channels_last=ctx.channels_last and spatial == 2,
    )
    has_zero = len(node.inputs) > 2 and bool(node.inputs[2])

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0].to(torch.float32)
        if has_zero:
            x = x - _as_tensor(inputs[2], state).to(torch.float32)
        return (convolve(x, state.tensors[weight_key], None),)  # type: ignore[index]

    return run


def _build_matmul_integer(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    right_key = _integer_operand(ctx, node, 1, 3, f"{node.name}/b", lambda b: (1,) * (b.ndim - 1) + (b.shape[-1],))
    has_left_zero = len(node.inputs) > 2 and bool(node.inputs[2])
    has_right_zero = len(node.inputs) > 3 and bool(node.inputs[3])

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        left = inputs[0].to(torch.float32)
        if has_left_zero:
            left = left - _as_tensor(inputs[2], state).to(torch.float32)
        if right_key is not None:
            right = state.tensors[right_key]
        else:
            right = inputs[1].to(torch.float32)
            if has_right_zero:
                right = right - _as_tensor(inputs[3], state).to(torch.float32)
        return (torch.matmul(left, right),)

    return run


def _build_dynamic_quantize_linear(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    per_sample = ctx.per_sample_quantization

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        # ONNX: scale = (max(x, 0) - min(x, 0)) / 255 (1/255 when the range is empty), zero point =
        # round(saturate(-min / scale)), y = saturate(round(x / scale) + zero point); rounding is half to even.
        x = inputs[0].to(torch.float32)
        if per_sample and x.dim() >= 1:
            flat = x.reshape(x.shape[0], -1)
            shape = (x.shape[0],) + (1,) * (x.dim() - 1)
            high = flat.amax(dim=1).reshape(shape).clamp_min(0.0)
            low = flat.amin(dim=1).reshape(shape).clamp_max(0.0)
        else:
            high = x.max().clamp_min(0.0)
            low = x.min().clamp_max(0.0)
        span = torch.where(high == low, torch.ones_like(high), high - low)
        scale = span / 255.0
        zero_point = torch.round(torch.clamp(0.0 - low / scale, 0.0, 255.0))
        quantized = torch.clamp(torch.round(x / scale) + zero_point, 0.0, 255.0)
        return quantized, scale.to(state.dtype), zero_point

    return run


def _build_batch_norm(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    if int(_attr(node, "training_mode", 0)):
        raise _unsupported(node, "BatchNormalization in training mode")
    epsilon = float(_attr(node, "epsilon", 1e-5))
    arrays = [ctx.array(name) for name in node.inputs[1:5]]
    if all(array is not None for array in arrays):
        # Inference BN is y = x * a + b; a and b are computed once in float64.
        gamma, beta, mean, variance = (np.asarray(a, dtype=np.float64) for a in arrays)  # type: ignore[arg-type]
        factor = gamma / np.sqrt(variance + epsilon)
        shift = beta - mean * factor
        scale_key = ctx.derive(f"{node.name}/scale", factor.astype(np.float32))
        shift_key = ctx.derive(f"{node.name}/shift", shift.astype(np.float32))
        for name in node.inputs[1:5]:
            ctx.bake(name)

        def affine(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
            x = inputs[0]
            view = (-1,) + (1,) * (x.dim() - 2)
            return (x * state.tensors[scale_key].view(view) + state.tensors[shift_key].view(view),)

        return affine

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x, gamma, beta, mean, variance = inputs[:5]
        return (functional.batch_norm(x, mean, variance, gamma, beta, False, 0.0, epsilon),)

    return run


def _build_instance_norm(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    epsilon = float(_attr(node, "epsilon", 1e-5))
    return lambda inputs, state: (functional.instance_norm(inputs[0], weight=inputs[1], bias=inputs[2], eps=epsilon),)


def _build_gemm(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch
    import torch.nn.functional as functional

    alpha, beta = float(_attr(node, "alpha", 1.0)), float(_attr(node, "beta", 1.0))
    trans_a, trans_b = int(_attr(node, "transA", 0)), int(_attr(node, "transB", 0))
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    right = ctx.array(node.inputs[1])
    weight_key: str | None = None
    if right is not None and right.ndim == 2 and right.dtype.kind == "f":
        # F.linear wants [out, in]; a transB=0 weight is transposed once here.
        weight_key = ctx.derive(f"{node.name}/weight", right if trans_b else right.T.copy())
        ctx.bake(node.inputs[1])

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        a = inputs[0].transpose(0, 1) if trans_a else inputs[0]
        bias = inputs[2] if has_bias else None
        if weight_key is not None:
            weight = state.tensors[weight_key]
            if alpha == 1.0 and beta == 1.0:
                return (functional.linear(a, weight, bias),)
            product = functional.linear(a, weight) * alpha
        else:
            b = inputs[1].transpose(0, 1) if trans_b else inputs[1]
            product = torch.matmul(a, b) * alpha if alpha != 1.0 else torch.matmul(a, b)
        if bias is not None:
            product = product + (bias * beta if beta != 1.0 else bias)
        return (product,)

    return run


def _build_matmul(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        a, b = _tensor_pair(inputs[0], inputs[1], state)
        return (torch.matmul(a, b),)

    return run


# ---- shape and layout


def _build_flatten(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    axis = int(_attr(node, "axis", 1))

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = _as_tensor(inputs[0], state)
        position = axis if axis >= 0 else axis + x.dim()
        return (x.reshape(math.prod(x.shape[:position]), -1),)

    return run


def _reshape_target(x: Any, shape: Sequence[int], allow_zero: bool) -> list[int]:
    return [int(x.shape[i]) if (d == 0 and not allow_zero) else int(d) for i, d in enumerate(shape)]


def _build_reshape(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    allow_zero = bool(_attr(node, "allowzero", 0))
    constant_shape = ctx.array(node.inputs[1]) if ctx.opset >= 5 and len(node.inputs) > 1 else None
    if ctx.opset < 5:
        fixed: tuple[int, ...] | None = tuple(int(v) for v in _attr(node, "shape", []))
    elif constant_shape is not None:
        fixed = tuple(int(v) for v in constant_shape.reshape(-1))
        ctx.bake(node.inputs[1])
    else:
        fixed = None

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = _as_tensor(inputs[0], state)
        shape = fixed if fixed is not None else _host_ints(inputs[1])
        return (x.reshape(_reshape_target(x, shape, allow_zero)),)

    return run


def _build_transpose(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    permutation = _attr(node, "perm")

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = _as_tensor(inputs[0], state)
        order = permutation if permutation is not None else list(reversed(range(x.dim())))
        return (x.permute(*order),)

    return run


def _build_shape(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    start = _attr(node, "start", 0)
    end = _attr(node, "end")

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        dims = (len(x),) if isinstance(x, tuple) else () if isinstance(x, int) else tuple(int(d) for d in x.shape)
        return (dims[start:end],)

    return run


def _normalise_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _build_gather(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    axis = int(_attr(node, "axis", 0))

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        data, indices = inputs[0], inputs[1]
        if isinstance(data, tuple) and _is_host(indices):
            if isinstance(indices, int):
                return (data[indices],)
            return (tuple(data[i] for i in indices),)
        tensor = _as_tensor(data, state)
        position = _normalise_axis(axis, tensor.dim())
        size = tensor.shape[position]
        if isinstance(indices, int):
            return (tensor.select(position, indices % size if indices < 0 else indices),)
        index = _as_tensor(indices, state).to(device=tensor.device, dtype=torch.int64)
        index = torch.where(index < 0, index + size, index)
        gathered = torch.index_select(tensor, position, index.reshape(-1))
        shape = tuple(tensor.shape[:position]) + tuple(index.shape) + tuple(tensor.shape[position + 1 :])
        return (gathered.reshape(shape),)

    return run


def _axes_from(
    node: NodeSpec, ctx: _BuildContext, inputs_from_opset: int, input_index: int = 1
) -> tuple[tuple[int, ...] | None, bool]:
    """``(constant axes or None, axes come from a run-time input)`` for Squeeze/Unsqueeze/Reduce*."""
    if ctx.opset < inputs_from_opset:
        axes = _attr(node, "axes")
        return (tuple(int(a) for a in axes) if axes is not None else None), False
    name = node.inputs[input_index] if len(node.inputs) > input_index else ""
    if not name:
        return None, False
    array = ctx.array(name)
    if array is None:
        return None, True
    ctx.bake(name)
    return tuple(int(a) for a in array.reshape(-1)), False


def _build_unsqueeze(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    axes, dynamic = _axes_from(node, ctx, 13)

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        wanted = _host_ints(inputs[1]) if dynamic else axes or ()
        if isinstance(x, int) and tuple(wanted) in ((0,), (-1,)):
            return ((x,),)
        tensor = _as_tensor(x, state)
        rank = tensor.dim() + len(wanted)
        for axis in sorted(_normalise_axis(a, rank) for a in wanted):
            tensor = tensor.unsqueeze(axis)
        return (tensor,)

    return run


def _build_squeeze(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    axes, dynamic = _axes_from(node, ctx, 13)

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        wanted = _host_ints(inputs[1]) if dynamic else axes
        if isinstance(x, tuple) and len(x) == 1 and (wanted is None or tuple(wanted) in ((0,), (-1,))):
            return (x[0],)
        tensor = _as_tensor(x, state)
        if wanted is None:
            return (tensor.squeeze(),)
        for axis in sorted((_normalise_axis(a, tensor.dim()) for a in wanted), reverse=True):
            tensor = tensor.squeeze(axis)
        return (tensor,)

    return run


def _build_concat(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    axis = int(_attr(node, "axis", 0))

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        parts = [part for part in inputs if part is not None]
        if all(_is_host(part) for part in parts):
            joined: list[int] = []
            for part in parts:
                joined.extend(part if isinstance(part, tuple) else (part,))
            return (tuple(joined),)
        like = next(part for part in parts if not _is_host(part))
        tensors = [_as_tensor(part, state, like) for part in parts]
        tensors = [t.to(like.dtype) if t.dtype != like.dtype else t for t in tensors]
        return (torch.cat(tensors, dim=axis),)

    return run


def _slice_ranges(
    shape: Sequence[int], starts: Sequence[int], ends: Sequence[int], axes: Sequence[int] | None, steps: Sequence[int] | None
) -> dict[int, range]:
    rank = len(shape)
    axis_list = list(axes) if axes is not None else list(range(len(starts)))
    step_list = list(steps) if steps is not None else [1] * len(starts)
    ranges = {}
    for start, end, axis, step in zip(starts, ends, axis_list, step_list, strict=False):
        position = _normalise_axis(int(axis), rank)
        end = min(max(int(end), -_INT64_MAX), _INT64_MAX)
        ranges[position] = range(*slice(int(start), end, int(step)).indices(int(shape[position])))
    return ranges


def _build_slice(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    if ctx.opset < 10:
        fixed: list[tuple[int, ...] | None] | None = [
            tuple(_attr(node, "starts", [])),
            tuple(_attr(node, "ends", [])),
            tuple(_attr(node, "axes")) if _attr(node, "axes") is not None else None,
            None,
        ]
    else:
        fixed = []
        for index in range(1, 5):
            name = node.inputs[index] if len(node.inputs) > index else ""
            array = ctx.array(name) if name else None
            if name and array is None:
                fixed = None
                break
            fixed.append(tuple(int(v) for v in array.reshape(-1)) if array is not None else None)
            ctx.bake(name)

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        if fixed is not None:
            starts, ends, axes, steps = fixed
        else:
            params = [(_host_ints(v) if v is not None else None) for v in (list(inputs[1:5]) + [None] * 4)[:4]]
            starts, ends, axes, steps = params
        if isinstance(x, tuple):
            (only,) = _slice_ranges((len(x),), starts, ends, axes, steps).values()  # type: ignore[arg-type]
            return (tuple(x[i] for i in only),)
        tensor = _as_tensor(x, state)
        for position, span in _slice_ranges(tuple(tensor.shape), starts, ends, axes, steps).items():  # type: ignore[arg-type]
            if span.step > 0:
                index: list[Any] = [slice(None)] * tensor.dim()
                index[position] = (
                    slice(span.start, span.stop if span.stop >= 0 else None, span.step) if len(span) else slice(0, 0)
                )
                tensor = tensor[tuple(index)]
            else:
                picks = torch.tensor(list(span), dtype=torch.int64, device=tensor.device)
                tensor = torch.index_select(tensor, position, picks)
        return (tensor,)

    return run


def _build_split(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    axis = int(_attr(node, "axis", 0))
    count = len(node.outputs)
    if ctx.opset < 13:
        sizes: tuple[int, ...] | None = tuple(_attr(node, "split")) if _attr(node, "split") is not None else None
    else:
        name = node.inputs[1] if len(node.inputs) > 1 else ""
        array = ctx.array(name) if name else None
        if name and array is None:
            raise _unsupported(node, "Split with run-time sizes")
        sizes = tuple(int(v) for v in array.reshape(-1)) if array is not None else None
        ctx.bake(name)

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        tensor = _as_tensor(inputs[0], state)
        length = tensor.shape[_normalise_axis(axis, tensor.dim())]
        parts = (
            list(sizes)
            if sizes is not None
            else [-(-length // count)] * (count - 1) + [length - -(-length // count) * (count - 1)]
        )
        return tuple(torch.split(tensor, parts, dim=axis))

    return run


def _build_expand(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        tensor = _as_tensor(inputs[0], state)
        target = torch.broadcast_shapes(tuple(tensor.shape), _host_ints(inputs[1]))
        return (tensor.expand(target),)

    return run


def _build_tile(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    return lambda inputs, state: (_as_tensor(inputs[0], state).repeat(*_host_ints(inputs[1])),)


def _build_constant_of_shape(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    reference = _attr(node, "value")
    value = ctx.arrays[reference["tensor"]] if reference is not None else np.zeros(1, np.float32)

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        shape = _host_ints(inputs[0])
        scalar = value.reshape(-1)[0].item()
        if value.dtype.kind in "iu":
            if len(shape) == 1:
                return (tuple([int(scalar)] * shape[0]),)
            return (torch.full(shape, int(scalar), dtype=torch.int64, device=state.device),)
        return (torch.full(shape, float(scalar), dtype=state.dtype, device=state.device),)

    return run


def _build_identity(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    return lambda inputs, state: (inputs[0],)


def _build_dropout(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    if len([o for o in node.outputs if o]) > 1:
        raise _unsupported(node, "Dropout's mask output")
    return lambda inputs, state: (inputs[0],)


# ---- pooling, resizing, padding, reductions


def _pool_geometry(node: NodeSpec) -> tuple[list[int], list[int], list[int], bool, str]:
    kernel = [int(k) for k in _attr(node, "kernel_shape")]
    spatial = len(kernel)
    strides = [int(s) for s in _attr(node, "strides", [1] * spatial)]
    pads = [int(p) for p in _attr(node, "pads", [0] * (2 * spatial))]
    ceil_mode = bool(_attr(node, "ceil_mode", 0))
    return kernel, strides, pads, ceil_mode, str(_attr(node, "auto_pad", "NOTSET"))


def _build_average_pool(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    kernel, strides, pads, ceil_mode, auto_pad = _pool_geometry(node)
    count_pad = bool(_attr(node, "count_include_pad", 0))
    spatial = len(kernel)
    if auto_pad not in ("NOTSET", "VALID") or any(d != 1 for d in _attr(node, "dilations", [1] * spatial)):
        raise _unsupported(node, f"AveragePool with auto_pad={auto_pad} or dilations")
    if auto_pad == "VALID":
        pads = [0] * (2 * spatial)
    begins, ends = pads[:spatial], pads[spatial:]
    if begins != ends or any(2 * p > k for p, k in zip(begins, kernel, strict=False)):
        raise _unsupported(node, f"AveragePool pads {pads} for kernel {kernel}")
    pool = {1: functional.avg_pool1d, 2: functional.avg_pool2d, 3: functional.avg_pool3d}.get(spatial)
    if pool is None:
        raise _unsupported(node, f"a {spatial}-D AveragePool")
    return lambda inputs, state: (pool(inputs[0], kernel, strides, begins, ceil_mode, count_pad),)


def _build_max_pool(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    if len([o for o in node.outputs if o]) > 1:
        raise _unsupported(node, "MaxPool's Indices output")
    kernel, strides, pads, ceil_mode, auto_pad = _pool_geometry(node)
    spatial = len(kernel)
    dilations = [int(d) for d in _attr(node, "dilations", [1] * spatial)]
    pool = {1: functional.max_pool1d, 2: functional.max_pool2d, 3: functional.max_pool3d}.get(spatial)
    if pool is None or auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise _unsupported(node, f"a {spatial}-D MaxPool with auto_pad={auto_pad}")
    if auto_pad == "VALID":
        pads = [0] * (2 * spatial)
    begins, ends = pads[:spatial], pads[spatial:]
    symmetric = begins == ends and all(2 * p <= k for p, k in zip(begins, kernel, strict=False))

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        if auto_pad.startswith("SAME"):
            padding = _same_padding(x.shape[2:], kernel, strides, dilations, auto_pad == "SAME_UPPER")
            x = functional.pad(x, _pads_for_torch(padding), value=float("-inf"))
            return (pool(x, kernel, strides, 0, dilations, ceil_mode),)
        if symmetric:
            return (pool(x, kernel, strides, begins, dilations, ceil_mode),)
        x = functional.pad(x, _pads_for_torch(pads), value=float("-inf"))
        return (pool(x, kernel, strides, 0, dilations, ceil_mode),)

    return run


def _build_global_pool(reduce: str) -> Builder:
    def build(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
            x = inputs[0]
            dims = tuple(range(2, x.dim()))
            return (x.mean(dim=dims, keepdim=True) if reduce == "mean" else x.amax(dim=dims, keepdim=True),)

        return run

    return build


def _interpolation(node: NodeSpec, mode: str, transform: str, nearest_mode: str) -> tuple[str, bool | None]:
    """ONNX Resize attributes -> ``(F.interpolate mode, align_corners)``; raises for combinations torch lacks."""
    if mode == "nearest":
        if transform == "asymmetric" and nearest_mode == "floor":
            return "nearest", None
        if transform in ("half_pixel", "pytorch_half_pixel") and nearest_mode == "round_prefer_ceil":
            return "nearest-exact", None
        raise _unsupported(node, f"Resize nearest with coordinate_transformation_mode={transform}, nearest_mode={nearest_mode}")
    if mode in ("linear", "cubic"):
        torch_mode = "linear" if mode == "linear" else "cubic"
        if transform in ("half_pixel", "pytorch_half_pixel"):
            return torch_mode, False
        if transform == "align_corners":
            return torch_mode, True
        raise _unsupported(node, f"Resize {mode} with coordinate_transformation_mode={transform}")
    raise _unsupported(node, f"Resize mode {mode}")


def _build_resize(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    mode = str(_attr(node, "mode", "nearest"))
    if node.op_type == "Upsample" or ctx.opset < 11:
        transform, nearest_mode = "asymmetric", "floor"
    else:
        transform = str(_attr(node, "coordinate_transformation_mode", "half_pixel"))
        nearest_mode = str(_attr(node, "nearest_mode", "round_prefer_floor"))
    if int(_attr(node, "antialias", 0)) or int(_attr(node, "exclude_outside", 0)):
        raise _unsupported(node, "Resize with antialias or exclude_outside")
    if mode == "cubic" and float(_attr(node, "cubic_coeff_a", -0.75)) != -0.75:
        raise _unsupported(node, "Resize cubic with cubic_coeff_a other than -0.75")
    if _attr(node, "axes") is not None:
        raise _unsupported(node, "Resize with axes")
    torch_mode, align_corners = _interpolation(node, mode, transform, nearest_mode)
    if node.op_type == "Upsample" and ctx.opset < 9:
        scale_attribute = _attr(node, "scales")
        scales_index, sizes_index = -1, -1
    else:
        scale_attribute = None
        scales_index, sizes_index = (1, -1) if (node.op_type == "Upsample" or ctx.opset < 11) else (2, 3)
    for index in (1, 2, 3):
        if len(node.inputs) > index and node.inputs[index] and ctx.array(node.inputs[index]) is not None:
            ctx.bake(node.inputs[index])
    constant_scales = ctx.array(node.inputs[scales_index]) if 0 < scales_index < len(node.inputs) else None
    constant_sizes = ctx.array(node.inputs[sizes_index]) if 0 < sizes_index < len(node.inputs) else None

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        spatial = x.dim() - 2
        sizes: tuple[int, ...] | None = None
        scales: tuple[float, ...] | None = None
        if constant_sizes is not None and constant_sizes.size:
            sizes = tuple(int(v) for v in constant_sizes.reshape(-1))
        elif (
            sizes_index > 0
            and len(inputs) > sizes_index
            and inputs[sizes_index] is not None
            and (not hasattr(inputs[sizes_index], "numel") or inputs[sizes_index].numel())
        ):
            sizes = _host_ints(inputs[sizes_index])
        if sizes is None:
            if scale_attribute is not None:
                scales = tuple(float(v) for v in scale_attribute)
            elif constant_scales is not None:
                scales = tuple(float(v) for v in constant_scales.reshape(-1))
            else:
                scales = _host_floats(inputs[scales_index])
        leading = sizes[:2] if sizes is not None else scales[:2]  # type: ignore[index]
        if sizes is not None and tuple(leading) != tuple(x.shape[:2]) or scales is not None and tuple(leading) != (1.0, 1.0):
            raise ModelConversionError(f"ONNX {node.op_type} node {node.name!r} resizes the batch or channel axis; not supported")
        interpolate_mode = torch_mode
        if torch_mode == "linear":
            interpolate_mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[spatial]
        elif torch_mode == "cubic":
            interpolate_mode = "bicubic"
        if sizes is not None:
            return (functional.interpolate(x, size=tuple(sizes[2:]), mode=interpolate_mode, align_corners=align_corners),)
        return (functional.interpolate(x, scale_factor=tuple(scales[2:]), mode=interpolate_mode, align_corners=align_corners),)  # type: ignore[index]

    return run


def _build_pad(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    mode = str(_attr(node, "mode", "constant"))
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    if torch_mode is None:
        raise _unsupported(node, f"Pad mode {mode}")
    if ctx.opset < 11:
        fixed_pads: tuple[int, ...] | None = tuple(int(p) for p in _attr(node, "pads", []))
        fixed_value: float | None = float(_attr(node, "value", 0.0))
    else:
        pads_array = ctx.array(node.inputs[1])
        fixed_pads = tuple(int(p) for p in pads_array.reshape(-1)) if pads_array is not None else None
        if pads_array is not None:
            ctx.bake(node.inputs[1])
        value_name = node.inputs[2] if len(node.inputs) > 2 else ""
        value_array = ctx.array(value_name) if value_name else np.zeros(1, np.float32)
        fixed_value = float(value_array.reshape(-1)[0]) if value_array is not None and value_array.size else 0.0
        if value_array is not None:
            ctx.bake(value_name)
    if len(node.inputs) > 3 and node.inputs[3]:
        raise _unsupported(node, "Pad with axes")

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        pads = fixed_pads if fixed_pads is not None else _host_ints(inputs[1])
        value = fixed_value if fixed_value is not None else float(inputs[2].reshape(-1)[0])
        torch_pads = _pads_for_torch(pads)
        while len(torch_pads) > 2 and torch_pads[-1] == 0 and torch_pads[-2] == 0:
            torch_pads = torch_pads[:-2]
        if torch_mode == "constant":
            return (functional.pad(x, torch_pads, mode="constant", value=value),)
        return (functional.pad(x, torch_pads, mode=torch_mode),)

    return run


def _build_reduce(kind: str) -> Builder:
    def build(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
        inputs_from = 13 if kind == "sum" else 18
        axes, dynamic = _axes_from(node, ctx, inputs_from)
        keep = bool(_attr(node, "keepdims", 1))
        noop_when_empty = bool(_attr(node, "noop_with_empty_axes", 0))

        def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
            x = _as_tensor(inputs[0], state)
            wanted = _host_ints(inputs[1]) if dynamic else axes
            if not wanted:
                if noop_when_empty:
                    return (x,)
                wanted = tuple(range(x.dim()))
            dims = tuple(_normalise_axis(a, x.dim()) for a in wanted)
            if kind == "mean":
                return (x.mean(dim=dims, keepdim=keep),)
            if kind == "sum":
                return (x.sum(dim=dims, keepdim=keep),)
            if kind == "max":
                return (x.amax(dim=dims, keepdim=keep),)
            return (x.amin(dim=dims, keepdim=keep),)

        return run

    return build


def _build_softmax(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    log = node.op_type == "LogSoftmax"
    axis = int(_attr(node, "axis", -1 if ctx.opset >= 13 else 1))
    function = torch.log_softmax if log else torch.softmax

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        x = inputs[0]
        position = _normalise_axis(axis, x.dim())
        if ctx.opset >= 13 or position == x.dim() - 1:
            return (function(x, dim=position),)
        flat = x.reshape(math.prod(x.shape[:position]), -1)  # opset < 13: softmax over the flattened tail
        return (function(flat, dim=1).reshape(x.shape),)

    return run


def _build_where(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
    import torch

    def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
        condition = _as_tensor(inputs[0], state).to(torch.bool)
        a, b = _tensor_pair(inputs[1], inputs[2], state)
        return (torch.where(condition, a, b),)

    return run


def _comparison(operation: Callable[[Any, Any], Any]) -> Builder:
    def build(node: NodeSpec, ctx: _BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: _Run) -> tuple[Value, ...]:
            a, b = _tensor_pair(inputs[0], inputs[1], state)
            return (operation(a, b),)

        return run

    return build


def _builders() -> dict[str, Builder]:
    """Op type -> builder for every op the converter covers."""
    import operator

    import torch

    return {
        "Add": _binary(torch.add, operator.add),
        "Sub": _binary(torch.sub, operator.sub),
        "Mul": _binary(torch.mul, operator.mul),
        "Div": _binary(_divide, _trunc_div),
        "Pow": _binary(torch.pow, None),
        "Max": _build_variadic(torch.maximum),
        "Min": _build_variadic(torch.minimum),
        "Sum": _build_variadic(torch.add),
        "Relu": _unary(torch.relu),
        "Sigmoid": _unary(torch.sigmoid),
        "Tanh": _unary(torch.tanh),
        "Sqrt": _unary(torch.sqrt),
        "Exp": _unary(torch.exp),
        "Log": _unary(torch.log),
        "Neg": _unary(torch.neg),
        "Abs": _unary(torch.abs),
        "Reciprocal": _unary(torch.reciprocal),
        "Erf": _unary(torch.erf),
        "Floor": _unary(torch.floor),
        "Ceil": _unary(torch.ceil),
        "Not": _unary(torch.logical_not),
        "LeakyRelu": _build_leaky_relu,
        "HardSigmoid": _build_hard_sigmoid,
        "HardSwish": _build_hard_swish,
        "Elu": _build_elu,
        "PRelu": _build_prelu,
        "Clip": _build_clip,
        "Cast": _build_cast,
        "Conv": _build_conv,
        "ConvInteger": _build_conv_integer,
        "MatMulInteger": _build_matmul_integer,
        "DynamicQuantizeLinear": _build_dynamic_quantize_linear,
        "BatchNormalization": _build_batch_norm,
        "InstanceNormalization": _build_instance_norm,
        "Gemm": _build_gemm,
        "MatMul": _build_matmul,
        "Flatten": _build_flatten,
        "Reshape": _build_reshape,
        "Transpose": _build_transpose,
        "Shape": _build_shape,
        "Gather": _build_gather,
        "Unsqueeze": _build_unsqueeze,
        "Squeeze": _build_squeeze,
        "Concat": _build_concat,
        "Slice": _build_slice,
        "Split": _build_split,
        "Expand": _build_expand,
        "Tile": _build_tile,
        "ConstantOfShape": _build_constant_of_shape,
        "Identity": _build_identity,
        "Dropout": _build_dropout,
        "AveragePool": _build_average_pool,
        "MaxPool": _build_max_pool,
        "GlobalAveragePool": _build_global_pool("mean"),
        "GlobalMaxPool": _build_global_pool("max"),
        "Resize": _build_resize,
        "Upsample": _build_resize,
        "Pad": _build_pad,
        "ReduceMean": _build_reduce("mean"),
        "ReduceSum": _build_reduce("sum"),
        "ReduceMax": _build_reduce("max"),
        "ReduceMin": _build_reduce("min"),
        "Softmax": _build_softmax,
        "LogSoftmax": _build_softmax,
        "Where": _build_where,
        "Equal": _comparison(torch.eq),
        "Less": _comparison(torch.lt),
        "Greater": _comparison(torch.gt),
    }


SUPPORTED_OPS: frozenset[str] = frozenset(
    {
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Pow",
        "Max",
        "Min",
        "Sum",
        "Relu",
        "Sigmoid",
        "Tanh",
        "Sqrt",
        "Exp",
        "Log",
        "Neg",
        "Abs",
        "Reciprocal",
        "Erf",
        "Floor",
        "Ceil",
        "Not",
        "LeakyRelu",
        "HardSigmoid",
        "HardSwish",
        "Elu",
        "PRelu",
        "Clip",
        "Cast",
        "Conv",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeLinear",
        "BatchNormalization",
        "InstanceNormalization",
        "Gemm",
        "MatMul",
        "Flatten",
        "Reshape",
        "Transpose",
        "Shape",
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Concat",
        "Slice",
        "Split",
        "Expand",
        "Tile",
        "ConstantOfShape",
        "Identity",
        "Dropout",
        "AveragePool",
        "MaxPool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "Resize",
        "Upsample",
        "Pad",
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "Softmax",
        "LogSoftmax",
        "Where",
        "Equal",
        "Less",
        "Greater",
        "Constant",
    }
)
"""Op types of the default ONNX domain the converter covers (``Constant`` is folded at build time)."""
QUANTIZED_OPS: frozenset[str] = frozenset({"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"})


def check_convertible(spec: GraphSpec, source: str = "model") -> None:
    """Raise ``ModelConversionError`` naming every op of ``spec`` the converter does not cover."""
    unknown = sorted(
        {
            f"{node.domain}:{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
            for node in spec.nodes
            if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS
        }
    )
    if unknown:
        raise ModelConversionError(
            f"{source} uses ONNX op(s) the torch converter does not cover: {', '.join(unknown)}. "
            "Use the onnxruntime backend for this model."
        )


def _topological_nodes(spec: GraphSpec) -> list[NodeSpec]:
    """``spec.nodes`` in an order where every input is produced before use (file order when it already is)."""
    available = set(spec.tensors) | set(spec.input_names) | {""}
    ordered: list[NodeSpec] = []
    pending = list(spec.nodes)
    while pending:
        remaining = []
        for node in pending:
            if all(name in available for name in node.inputs):
                ordered.append(node)
                available.update(node.outputs)
            else:
                remaining.append(node)
        if len(remaining) == len(pending):
            missing = sorted({n for node in remaining for n in node.inputs if n not in available})[:5]
            raise ModelConversionError(f"the graph uses values nothing produces: {', '.join(missing)}")
        pending = remaining
    return ordered


def _constant_node_value(node: NodeSpec, spec: GraphSpec) -> NDArray[Any]:
    attributes = node.attributes
    if "value" in attributes:
        return np.asarray(spec.tensors[attributes["value"]["tensor"]])
    for key, dtype in (
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in attributes:
            return np.asarray(attributes[key], dtype=dtype)
    raise _unsupported(node, f"Constant with attributes {sorted(attributes)}")


class ConvertedGraph:
    """An ONNX graph run with torch ops: ``graph(x, ...) -> tuple of output tensors``.

    It is a plain object holding its tensors (not an ``nn.Module``: it is only ever used for
    inference). Float tensors are kept in ``dtype``; quantized operands stay float32 (their values
    are integers). Call it under ``torch.inference_mode()``.

    Args:
        spec: the graph.
        dtype: ``float32``, ``float16`` or ``bfloat16`` (or the torch dtype).
        device: any torch device.
        channels_last: keep 4-D convolution weights and 4-D inputs in channels-last memory format.
        per_sample_quantization: DynamicQuantizeLinear picks a scale per batch item instead of one
            for the whole tensor, so each item's result equals running it alone (ONNX semantics
            at batch 1) and no longer depends on its batch mates.

    Raises:
        ModelConversionError: an op or attribute the converter does not cover.
    """

    def __init__(
        self,
        spec: GraphSpec,
        dtype: Any = "float32",
        device: Any = "cpu",
        channels_last: bool = False,
        per_sample_quantization: bool = False,
    ) -> None:
        import torch

        check_convertible(spec)
        self.spec = spec
        self.dtype = resolve_dtype(dtype)
        if self.dtype != torch.float32 and spec.op_types & QUANTIZED_OPS:
            # Integer accumulations overflow float16 (and lose digits in bfloat16): quantized graphs stay float32.
            logger.info("the graph has quantized ops; it runs in float32 instead of %s", self.dtype)
            self.dtype = torch.float32
        self.device = torch.device(device)
        self.channels_last = bool(channels_last)
        self.per_sample_quantization = bool(per_sample_quantization)
        self.input_names = spec.input_names
        self.output_names = spec.output_names
        self._steps: list[_Step] = []
        self._constants: dict[str, Value] = {}
        self._tensors: dict[str, Any] = {}
        self._build()

    # -- building

    def _build(self) -> None:
        import torch

        arrays: dict[str, NDArray[Any]] = dict(self.spec.tensors)
        ctx = _BuildContext(self.spec.opset, self.dtype, self.channels_last, self.per_sample_quantization, arrays)
        builders = _builders()
        fold_state = _Run(torch.device("cpu"), torch.float32, ctx.derived)
        steps: list[_Step] = []
        needed: set[str] = set(self.spec.output_names)
        for node in _topological_nodes(self.spec):
            if node.op_type == "Constant":
                arrays[node.outputs[0]] = _constant_node_value(node, self.spec)
                continue
            ctx.baked = set()
            function = builders[node.op_type](node, ctx)
            if node.inputs and all((not name) or name in arrays for name in node.inputs):
                # Every input is constant: evaluate once now (float work in float32 on the CPU).
                inputs = [self._fold_input(arrays, name) for name in node.inputs]
                for name, value in zip(node.outputs, function(inputs, fold_state), strict=False):
                    if name:
                        arrays[name] = self._fold_output(value)
                continue
            needed.update(name for name in node.inputs if name and name not in ctx.baked)
            steps.append(_Step(function, node.inputs, node.outputs))
        produced = {name for step in steps for name in step.outputs}
        for name in sorted(needed - produced - set(self.spec.input_names)):
            if name not in arrays:
                continue
            host = _host_value(arrays[name])
            if host is not None:
                self._constants[name] = host
            else:
                self._tensors[name] = self._device_tensor(torch.from_numpy(_contiguous(arrays[name], writable=True)), name, ctx)
        for key, tensor in ctx.derived.items():
            self._tensors[key] = self._device_tensor(tensor, key, ctx)
        self._steps = self._with_releases(steps)

    @staticmethod
    def _fold_input(arrays: Mapping[str, NDArray[Any]], name: str) -> Value:
        import torch

        if not name:
            return None
        array = arrays[name]
        host = _host_value(array)
        if host is not None:
            return host
        tensor = torch.from_numpy(_contiguous(array, writable=True))
        if tensor.dtype in (torch.uint8, torch.int8):
            tensor = tensor.to(torch.float32)
        return tensor

    @staticmethod
    def _fold_output(value: Value) -> NDArray[Any]:
        import torch

        if isinstance(value, int):
            return np.asarray(value, dtype=np.int64)
        if isinstance(value, tuple):
            return np.asarray(value, dtype=np.int64)
        tensor = value.detach().cpu()
        if tensor.dtype == torch.bfloat16 or tensor.dtype == torch.float16:
            tensor = tensor.to(torch.float32)
        return tensor.contiguous().numpy()

    def _device_tensor(self, tensor: Any, name: str, ctx: _BuildContext) -> Any:
        import torch

        if tensor.dtype in (torch.uint8, torch.int8):
            tensor = tensor.to(torch.float32)  # quantized values: integer-valued float32
        elif tensor.is_floating_point() and name not in ctx.exact:
            tensor = tensor.to(self.dtype)
        if name in ctx.channels_last_names and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor.to(self.device)

    def _with_releases(self, steps: list[_Step]) -> list[_Step]:
        last_use: dict[str, int] = {}
        for index, step in enumerate(steps):
            for name in step.inputs:
                if name:
                    last_use[name] = index
        keep = set(self.spec.output_names) | set(self._constants) | set(self._tensors)
        releases: dict[int, list[str]] = {}
        for name, index in last_use.items():
            if name not in keep:
                releases.setdefault(index, []).append(name)
        return [_Step(s.function, s.inputs, s.outputs, tuple(releases.get(i, ()))) for i, s in enumerate(steps)]

    # -- running

    def to(self, device: Any) -> ConvertedGraph:
        """Move every tensor to ``device`` (in place); returns ``self``."""
        import torch

        self.device = torch.device(device)
        self._tensors = {name: tensor.to(self.device) for name, tensor in self._tensors.items()}
        return self

    @property
    def tensors(self) -> Mapping[str, Any]:
        """The graph's tensors on the device (weights, derived BN affines, ...), by name."""
        return self._tensors

    def parameter_bytes(self) -> int:
        return sum(int(t.numel()) * t.element_size() for t in self._tensors.values())

    def __call__(self, *inputs: Any) -> tuple[Any, ...]:
        """Run the graph.

        Args:
            inputs: one tensor per graph input, in ``input_names`` order. Float inputs are moved
                to the device and cast to the graph's dtype.

        Returns:
            One tensor per graph output, on the device (float outputs in the graph's dtype).
        """
        import torch

        if len(inputs) != len(self.input_names):
            raise InvalidArgumentError(f"the graph takes {len(self.input_names)} input(s), got {len(inputs)}")
        values: dict[str, Value] = dict(self._constants)
        values.update(self._tensors)
        for name, tensor in zip(self.input_names, inputs, strict=False):
            if isinstance(tensor, np.ndarray):
                tensor = torch.from_numpy(tensor)
            if tensor.is_floating_point():
                tensor = tensor.to(device=self.device, dtype=self.dtype)
                if self.channels_last and tensor.dim() == 4:
                    tensor = tensor.contiguous(memory_format=torch.channels_last)
            else:
                tensor = tensor.to(self.device)
            values[name] = tensor
        state = _Run(self.device, self.dtype, self._tensors)
        for step in self._steps:
            arguments = [values.get(name) if name else None for name in step.inputs]
            results = step.function(arguments, state)
            for name, result in zip(step.outputs, results, strict=False):
                if name:
                    values[name] = result
            for name in step.release:
                values.pop(name, None)
        return tuple(_as_tensor(values[name], state) for name in self.output_names)


# --------------------------------------------------------------------------------------------------
# Devices and precision


def resolve_dtype(dtype: Any) -> Any:
    """``"float16"``/``"fp16"``/``torch.float16``... -> the torch dtype.

    Raises:
        InvalidArgumentError: not one of float32, float16, bfloat16.
    """
    import torch

    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise InvalidArgumentError(f"torch backend precision must be float32, float16 or bfloat16, got {dtype}")
        return dtype
    name = DTYPE_NAMES.get(str(dtype).lower().replace("torch.", ""))
    if name is None:
        raise InvalidArgumentError(f"unknown precision {dtype!r}; use float32, float16 or bfloat16")
    return getattr(torch, name)


def default_torch_device() -> Any:
    """CUDA (or ROCm) device 0 when available, else Apple MPS, else Intel XPU, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return torch.device("xpu")
    return torch.device("cpu")


def resolve_device(device: Any) -> Any:
    """``None`` -> ``default_torch_device()``; a string or ``torch.device`` -> ``torch.device``.

    Raises:
        InvalidArgumentError: a string torch does not understand.
    """
    import torch

    if device is None:
        return default_torch_device()
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InvalidArgumentError(f"unknown torch device {device!r}: {error}") from error


def device_problem(device: Any) -> str | None:
    """Why a tensor cannot be put on ``device`` (e.g. "Torch not compiled with CUDA enabled"), or ``None`` when it can."""
    import torch

    try:
        torch.zeros(1, device=device)
        return None
    except (RuntimeError, AssertionError, TypeError) as error:  # torch raises AssertionError for a CPU-only build
        return str(error).splitlines()[0] if str(error) else type(error).__name__


def dtype_supported(device: Any, dtype: Any) -> bool:
    """Whether a small convolution runs on ``device`` in ``dtype`` (probed: half support differs by device and build)."""
    import torch
    import torch.nn.functional as functional

    torch_dtype = resolve_dtype(dtype)
    if torch_dtype == torch.float32:
        return True
    try:
        with torch.inference_mode():
            x = torch.ones((1, 2, 4, 4), dtype=torch_dtype, device=device)
            weight = torch.ones((2, 2, 3, 3), dtype=torch_dtype, device=device)
            result = functional.conv2d(x, weight, padding=1)
            return bool(torch.isfinite(result.float()).all())
    except (RuntimeError, TypeError, NotImplementedError):
        return False


def default_channels_last(device: Any) -> bool:
    """Channels-last weights where measured to help: CUDA (NHWC tensor-core kernels) and the CPU (oneDNN)."""
    return resolve_device(device).type in ("cuda", "cpu")


def convert_model(
    path: str | os.PathLike[str],
    *,
    dtype: Any = "float32",
    device: Any = "cpu",
    channels_last: bool | None = None,
    per_sample_quantization: bool = False,
    cache: bool = True,
) -> ConvertedGraph:
    """Load (from the cache when possible) and convert an ONNX file to a ``ConvertedGraph`` on ``device``.

    Raises:
        ModelFileError: missing or unreadable file.
        ModelConversionError: an op the converter does not cover.
    """
    spec = load_graph_spec(path, cache=cache)
    use_channels_last = default_channels_last(device) if channels_last is None else channels_last
    return ConvertedGraph(spec, dtype, resolve_device(device), use_channels_last, per_sample_quantization)


# --------------------------------------------------------------------------------------------------
# Recognizer backend


class TorchBackend:
    """A recognizer graph converted to torch, on any torch device (``EmbeddingBackend`` protocol).

    ``run`` takes and returns numpy (host) arrays; ``run_tensor`` stays on the device.
    ``batch_independent`` is True when each face's embedding does not depend on its batch mates
    (always, since dynamic quantization is done per face here).
    """

    name = "torch"

    def __init__(self, graph: ConvertedGraph, source: str = "") -> None:
        if len(graph.input_names) != 1 or len(graph.output_names) < 1:
            raise ModelConversionError(f"{source or 'the graph'} is not a one-input recognizer graph")
        self.graph = graph
        self.source = source
        self.batch_independent = graph.per_sample_quantization or "DynamicQuantizeLinear" not in graph.spec.op_types

    @property
    def device(self) -> Any:
        return self.graph.device

    @property
    def dtype(self) -> Any:
        return self.graph.dtype

    @property
    def on_gpu(self) -> bool:
        return self.graph.device.type != "cpu"

    def run_tensor(self, blob: Any) -> Any:
        """``[N, 3, S, S]`` normalised input tensor (any device, any float dtype) -> ``[N, D]`` float32 raw embeddings there."""
        import torch

        with torch.inference_mode():
            output = self.graph(blob)[0]
            return output.reshape(output.shape[0], -1).to(torch.float32)

    def run(self, blob: NDArray[np.float32]) -> NDArray[np.float32]:
        """``[N, 3, S, S]`` float32 normalised input -> ``[N, D]`` float32 raw embeddings (host arrays)."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(blob, dtype=np.float32))
        return self.run_tensor(tensor).cpu().numpy()

    def describe(self) -> str:
        """e.g. ``torch cuda:0 float16 channels_last``."""
        parts = ["torch", str(self.graph.device), str(self.graph.dtype).replace("torch.", "")]
        if self.graph.channels_last:
            parts.append("channels_last")
        if "DynamicQuantizeLinear" in self.graph.spec.op_types:
            parts.append("int8-exact per-face" if self.graph.per_sample_quantization else "int8-exact")
        return " ".join(parts)


def usable_dtype(device: Any, dtype: Any, what: str = "the torch backend") -> Any:
    """``dtype`` as a torch dtype when ``device`` runs it, else float32 (with a warning naming ``what``)."""
    torch_dtype = resolve_dtype(dtype)
    if not dtype_supported(device, torch_dtype):
        logger.warning("%s is not usable on %s; %s runs in float32", torch_dtype, device, what)
        torch_dtype = resolve_dtype("float32")
    return torch_dtype


def torch_target(name: str, backend: str, device: Any, dtype: Any) -> tuple[Any, Any] | None:
    """``(torch device, torch dtype)`` for converting the model file ``name``, or ``None`` when ``auto`` keeps onnxruntime.

    ``auto`` keeps onnxruntime without PyTorch, on the CPU (faster there: see the benchmark) and on
    a device torch cannot use (with a warning); ``torch`` raises in the first and last case and
    runs on the CPU. A precision the device cannot run becomes float32 with a warning.

    Raises:
        ModelConversionError: ``backend="torch"`` without PyTorch or on a device torch cannot use.
    """
    try:
        import torch  # noqa: F401
    except ImportError as error:
        if backend == "torch":
            raise ModelConversionError("the torch backend needs PyTorch; install torch or use the onnxruntime backend") from error
        return None
    torch_device = resolve_device(device)
    if backend == "auto" and torch_device.type == "cpu":
        logger.debug("backend auto on the CPU: keeping onnxruntime for %s", name)
        return None
    problem = device_problem(torch_device)
    if problem is not None:
        if backend == "torch":
            raise ModelConversionError(
                f"torch cannot use device {torch_device} ({problem}); pick another device or the onnxruntime backend"
            )
        logger.warning("torch cannot use device %s (%s); using onnxruntime for %s", torch_device, problem, name)
        return None
    return torch_device, usable_dtype(torch_device, dtype)


def choose_torch_backend(
    path: str | os.PathLike[str],
    backend: str = "auto",
    device: Any = None,
    dtype: Any = "float32",
    *,
    channels_last: bool | None = None,
    cache: bool = True,
) -> TorchBackend | None:
    """The torch backend for a recognizer file, or ``None`` when ``auto`` should keep onnxruntime.

    ``auto`` keeps onnxruntime on the CPU (it is faster there: see the benchmark) and when the
    graph cannot be converted (with a warning); ``torch`` always converts and raises on failure.
    A precision the device cannot run falls back to float32 with a warning.

    Raises:
        ModelConversionError: ``backend="torch"`` and the graph (or torch itself) is not usable.
        InvalidArgumentError: unknown backend, device or precision name.
    """
    if backend not in ("auto", "torch"):
        raise InvalidArgumentError(f"choose_torch_backend takes backend auto or torch, got {backend!r}")
    target = torch_target(Path(path).name, backend, device, dtype)
    if target is None:
        return None
    torch_device, torch_dtype = target
    try:
        graph = convert_model(
            path,
            dtype=torch_dtype,
            device=torch_device,
            channels_last=channels_last,
            per_sample_quantization=True,
            cache=cache,
        )
        return TorchBackend(graph, Path(path).name)
    except ModelConversionError as error:
        if backend == "torch":
            raise ModelConversionError(f"cannot run {Path(path).name} with the torch backend: {error}") from error
        logger.warning("%s: torch conversion failed (%s); using onnxruntime instead", Path(path).name, error)
        return None
