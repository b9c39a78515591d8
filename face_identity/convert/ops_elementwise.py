"""Op builders: elementwise arithmetic, activations, Clip and Cast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .context import (
    BuildContext,
    Builder,
    OpFunction,
    RunState,
    Value,
    as_tensor,
    attr,
    host_binary,
    is_host,
    tensor_pair,
    trunc_div,
    unsupported,
)
from .graph import NodeSpec

# ONNX TensorProto element types (onnx.TensorProto.*), kept here so parsing a cached graph needs no onnx import.
_ONNX_FLOAT_TYPES = {1, 10, 11, 16}
_ONNX_INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}
_ONNX_BOOL = 9


def _binary(tensor_op: Callable[[Any, Any], Any], host_op: Callable[[int, int], int] | None) -> Builder:
    def build(node: NodeSpec, ctx: BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
            a, b = inputs[0], inputs[1]
            if host_op is not None and is_host(a) and is_host(b):
                return (host_binary(a, b, host_op),)
            a, b = tensor_pair(a, b, state)
            return (tensor_op(a, b),)

        return run

    return build


def _divide(a: Any, b: Any) -> Any:
    import torch

    if a.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _unary(tensor_op: Callable[[Any], Any]) -> Builder:
    def build(node: NodeSpec, ctx: BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
            return (tensor_op(as_tensor(inputs[0], state)),)

        return run

    return build


def _build_variadic(tensor_op: Callable[[Any, Any], Any]) -> Builder:
    def build(node: NodeSpec, ctx: BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
            result = as_tensor(inputs[0], state)
            for other in inputs[1:]:
                result, other = tensor_pair(result, other, state)
                result = tensor_op(result, other)
            return (result,)

        return run

    return build


def _build_leaky_relu(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    slope = float(attr(node, "alpha", 0.01))
    return lambda inputs, state: (functional.leaky_relu(inputs[0], slope),)


def _build_hard_sigmoid(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    alpha, beta = float(attr(node, "alpha", 0.2)), float(attr(node, "beta", 0.5))
    return lambda inputs, state: ((inputs[0] * alpha + beta).clamp(0.0, 1.0),)


def _build_hard_swish(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    return lambda inputs, state: (inputs[0] * (inputs[0] / 6.0 + 0.5).clamp(0.0, 1.0),)


def _build_elu(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    alpha = float(attr(node, "alpha", 1.0))
    return lambda inputs, state: (functional.elu(inputs[0], alpha),)


def _build_prelu(node: NodeSpec, ctx: BuildContext) -> OpFunction:
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

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        if per_channel_key is not None:
            weight = state.tensors[per_channel_key]
            if slope_count == 1 or (x.dim() == slope_rank + 1 and x.shape[1] == slope_count):
                return (functional.prelu(x, weight),)
            full = weight.reshape(slope.shape)  # type: ignore[union-attr]
            return (torch.where(x >= 0, x, x * full),)
        x, weight = tensor_pair(x, inputs[1], state)
        return (torch.where(x >= 0, x, x * weight),)

    return run


def _build_clip(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    if ctx.opset < 11:
        low, high = attr(node, "min"), attr(node, "max")
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

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
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
                as_tensor(low_value, state, x) if low_value is not None else None,
                as_tensor(high_value, state, x) if high_value is not None else None,
            ),
        )

    return run


def _build_cast(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    target = int(attr(node, "to", 1))
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

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        if target in _ONNX_FLOAT_TYPES:
            if is_host(x):
                return (torch.tensor(x, dtype=state.dtype, device=state.device),)
            if x.is_floating_point() and x.dtype == torch.float32 and state.dtype == torch.float32:
                return (x,)
            return (x.to(state.dtype),)
        if target in _ONNX_INT_TYPES:
            if is_host(x):
                return (x,)
            return (x.to(int_dtypes[target]),)
        if target == _ONNX_BOOL:
            return (as_tensor(x, state).to(torch.bool),)
        raise unsupported(node, f"Cast to ONNX type {target}")

    return run


def builders() -> dict[str, Builder]:
    """Op type -> builder for the elementwise ops."""
    import operator

    import torch

    return {
        "Add": _binary(torch.add, operator.add),
        "Sub": _binary(torch.sub, operator.sub),
        "Mul": _binary(torch.mul, operator.mul),
        "Div": _binary(_divide, trunc_div),
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
    }
