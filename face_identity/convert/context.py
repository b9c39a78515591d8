"""What op builders work with: the build context (constants, derived tensors), the run state, and host-value helpers.

Integer constants of rank 0 or 1 travel as Python ``int``/``tuple`` ("host values") so shape
arithmetic runs without device syncs; these helpers turn them into tensors when an op needs one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray

from ..errors import InvalidArgumentError, ModelConversionError
from .graph import NodeSpec, contiguous_array

Value = Any
"""A runtime value: a ``torch.Tensor``, or a host integer (``int``) / integer vector (``tuple[int, ...]``)."""


@dataclass
class RunState:
    """What op functions see at run time: the device, the compute dtype and the graph's tensors."""

    device: Any
    dtype: Any
    tensors: dict[str, Any]


OpFunction = Callable[[list[Value], RunState], tuple[Value, ...]]


@dataclass
class BuildContext:
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
        """Register a tensor computed from constants; returns its key in ``RunState.tensors``."""
        import torch

        self.derived[key] = torch.from_numpy(contiguous_array(array, writable=True))
        if exact:
            self.exact.add(key)
        if channels_last:
            self.channels_last_names.add(key)
        return key


Builder = Callable[[NodeSpec, BuildContext], OpFunction]


def attr(node: NodeSpec, name: str, default: Any = None) -> Any:
    return node.attributes.get(name, default)


def unsupported(node: NodeSpec, detail: str) -> ModelConversionError:
    return ModelConversionError(
        f"ONNX {node.op_type} node {node.name!r}: {detail} is not supported by the torch converter. "
        "Use the onnxruntime backend for this model."
    )


def is_host(value: Value) -> bool:
    return isinstance(value, (int, tuple))


def host_value(array: NDArray[Any]) -> Value:
    """Integer arrays of rank 0/1 as Python ints/tuples; anything else ``None``."""
    if array.dtype.kind in "iu" and array.ndim <= 1 and array.size <= 4096:
        return int(array) if array.ndim == 0 else tuple(int(v) for v in array.tolist())
    return None


def as_tensor(value: Value, run: RunState, like: Any = None) -> Any:
    """A host int/tuple as a tensor (int64, or ``like``'s floating dtype); tensors unchanged."""
    import torch

    if not is_host(value):
        return value
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.int64
    device = like.device if like is not None else run.device
    return torch.tensor(value, dtype=dtype, device=device)


def host_ints(value: Value) -> tuple[int, ...]:
    """A shape-like value (tuple, int, or 1-D integer tensor) as a tuple of ints."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value.reshape(-1).tolist())


def host_floats(value: Value) -> tuple[float, ...]:
    if isinstance(value, (int, tuple)):
        return tuple(float(v) for v in host_ints(value))
    return tuple(float(v) for v in value.reshape(-1).tolist())


def trunc_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def host_binary(a: Value, b: Value, operation: Callable[[int, int], int]) -> Value:
    """``operation`` on two host values (ints or int tuples), broadcasting a tuple of one like numpy."""
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
    if left is not None and isinstance(b, int):
        return tuple(operation(x, b) for x in left)
    if right is not None and isinstance(a, int):
        return tuple(operation(a, y) for y in right)
    raise InvalidArgumentError(f"host arithmetic takes ints and int tuples, got {type(a).__name__} and {type(b).__name__}")


def tensor_pair(a: Value, b: Value, run: RunState) -> tuple[Any, Any]:
    """Two operands as tensors of one dtype (host ints take the other operand's dtype; mixed floats go to the run dtype)."""
    if is_host(a):
        a = as_tensor(a, run, b)
    if is_host(b):
        b = as_tensor(b, run, a)
    if a.dtype != b.dtype and a.is_floating_point() and b.is_floating_point():
        a, b = a.to(run.dtype), b.to(run.dtype)
    elif a.dtype != b.dtype and a.is_floating_point() != b.is_floating_point():
        target = a.dtype if a.is_floating_point() else b.dtype
        a, b = a.to(target), b.to(target)
    return a, b


def pads_for_torch(pads: Sequence[int]) -> list[int]:
    """ONNX ``[x1_begin, x2_begin, ..., x1_end, x2_end]`` -> ``F.pad``'s last-axis-first ``[xn_begin, xn_end, ...]``."""
    half = len(pads) // 2
    result: list[int] = []
    for axis in reversed(range(half)):
        result.extend([int(pads[axis]), int(pads[axis + half])])
    return result


def same_padding(
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


def normalise_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def axes_from(
    node: NodeSpec, ctx: BuildContext, inputs_from_opset: int, input_index: int = 1
) -> tuple[tuple[int, ...] | None, bool]:
    """``(constant axes or None, axes come from a run-time input)`` for Squeeze/Unsqueeze/Reduce*."""
    if ctx.opset < inputs_from_opset:
        axes = attr(node, "axes")
        return (tuple(int(a) for a in axes) if axes is not None else None), False
    name = node.inputs[input_index] if len(node.inputs) > input_index else ""
    if not name:
        return None, False
    array = ctx.array(name)
    if array is None:
        return None, True
    ctx.bake(name)
    return tuple(int(a) for a in array.reshape(-1)), False
