"""Op builders: convolution, normalisation and dense layers, including the exact int8 ops.

Quantized ops are computed exactly as ONNX specifies: DynamicQuantizeLinear rounds half to even
and saturates to uint8; ConvInteger/MatMulInteger run on integer-valued float32 tensors
``(x - x_zero_point) * (w - w_zero_point)``, which is exact as long as the sums stay below 2**24.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .context import (
    BuildContext,
    Builder,
    OpFunction,
    RunState,
    Value,
    as_tensor,
    attr,
    pads_for_torch,
    same_padding,
    tensor_pair,
    unsupported,
)
from .graph import NodeSpec


def _conv_geometry(node: NodeSpec, spatial: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], str]:
    strides = tuple(int(v) for v in attr(node, "strides", [1] * spatial))
    dilations = tuple(int(v) for v in attr(node, "dilations", [1] * spatial))
    pads = tuple(int(v) for v in attr(node, "pads", [0] * (2 * spatial)))
    auto_pad = str(attr(node, "auto_pad", "NOTSET"))
    return strides, dilations, pads, auto_pad


def _make_convolution(node: NodeSpec, spatial: int, kernel: Sequence[int]) -> Callable[[Any, Any, Any], Any]:
    """``f(x, weight, bias)`` applying the node's strides, dilations, groups and padding (any ONNX pad form)."""
    import torch.nn.functional as functional

    strides, dilations, pads, auto_pad = _conv_geometry(node, spatial)
    groups = int(attr(node, "group", 1))
    if spatial not in (1, 2, 3):
        raise unsupported(node, f"a {spatial}-D convolution")
    convolution = {1: functional.conv1d, 2: functional.conv2d, 3: functional.conv3d}[spatial]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        upper = auto_pad == "SAME_UPPER"

        def same(x: Any, weight: Any, bias: Any) -> Any:
            padding = same_padding(x.shape[2:], kernel, strides, dilations, upper)
            return convolution(functional.pad(x, pads_for_torch(padding)), weight, bias, strides, 0, dilations, groups)

        return same
    if auto_pad == "VALID":
        pads = (0,) * (2 * spatial)
    begins, ends = pads[:spatial], pads[spatial:]
    if begins == ends:
        return lambda x, weight, bias: convolution(x, weight, bias, strides, begins, dilations, groups)
    torch_pads = pads_for_torch(pads)
    return lambda x, weight, bias: convolution(functional.pad(x, torch_pads), weight, bias, strides, 0, dilations, groups)


def _build_conv(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    weight = ctx.array(node.inputs[1])
    kernel = attr(node, "kernel_shape") or (list(weight.shape[2:]) if weight is not None else None)
    if kernel is None:
        raise unsupported(node, "a convolution with a run-time weight and no kernel_shape")
    spatial = len(kernel)
    convolve = _make_convolution(node, spatial, kernel)
    if weight is not None and spatial == 2 and ctx.channels_last:
        ctx.channels_last_names.add(node.inputs[1])
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        return (convolve(inputs[0], inputs[1], inputs[2] if has_bias else None),)

    return run


def _integer_operand(
    ctx: BuildContext,
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


def _build_conv_integer(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    weight = ctx.array(node.inputs[1])
    if weight is None:
        raise unsupported(node, "ConvInteger with a run-time weight")
    spatial = weight.ndim - 2
    convolve = _make_convolution(node, spatial, attr(node, "kernel_shape") or list(weight.shape[2:]))
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

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0].to(torch.float32)
        if has_zero:
            x = x - as_tensor(inputs[2], state).to(torch.float32)
        return (convolve(x, state.tensors[weight_key], None),)  # type: ignore[index]

    return run


def _build_matmul_integer(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    right_key = _integer_operand(ctx, node, 1, 3, f"{node.name}/b", lambda b: (1,) * (b.ndim - 1) + (b.shape[-1],))
    has_left_zero = len(node.inputs) > 2 and bool(node.inputs[2])
    has_right_zero = len(node.inputs) > 3 and bool(node.inputs[3])

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        left = inputs[0].to(torch.float32)
        if has_left_zero:
            left = left - as_tensor(inputs[2], state).to(torch.float32)
        if right_key is not None:
            right = state.tensors[right_key]
        else:
            right = inputs[1].to(torch.float32)
            if has_right_zero:
                right = right - as_tensor(inputs[3], state).to(torch.float32)
        return (torch.matmul(left, right),)

    return run


def _build_dynamic_quantize_linear(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    per_sample = ctx.per_sample_quantization

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
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


def _build_batch_norm(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    if int(attr(node, "training_mode", 0)):
        raise unsupported(node, "BatchNormalization in training mode")
    epsilon = float(attr(node, "epsilon", 1e-5))
    arrays = [ctx.array(name) for name in node.inputs[1:5]]
    if all(array is not None for array in arrays):
        # Inference BN is y = x * a + b; a and b are computed once in float64.
        gamma, beta, mean, variance = (np.asarray(a, dtype=np.float64) for a in arrays)
        factor = gamma / np.sqrt(variance + epsilon)
        shift = beta - mean * factor
        scale_key = ctx.derive(f"{node.name}/scale", factor.astype(np.float32))
        shift_key = ctx.derive(f"{node.name}/shift", shift.astype(np.float32))
        for name in node.inputs[1:5]:
            ctx.bake(name)

        def affine(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
            x = inputs[0]
            view = (-1,) + (1,) * (x.dim() - 2)
            return (x * state.tensors[scale_key].view(view) + state.tensors[shift_key].view(view),)

        return affine

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x, gamma, beta, mean, variance = inputs[:5]
        return (functional.batch_norm(x, mean, variance, gamma, beta, False, 0.0, epsilon),)

    return run


def _build_instance_norm(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    epsilon = float(attr(node, "epsilon", 1e-5))
    return lambda inputs, state: (functional.instance_norm(inputs[0], weight=inputs[1], bias=inputs[2], eps=epsilon),)


def _build_gemm(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch
    import torch.nn.functional as functional

    alpha, beta = float(attr(node, "alpha", 1.0)), float(attr(node, "beta", 1.0))
    trans_a, trans_b = int(attr(node, "transA", 0)), int(attr(node, "transB", 0))
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    right = ctx.array(node.inputs[1])
    weight_key: str | None = None
    if right is not None and right.ndim == 2 and right.dtype.kind == "f":
        # F.linear wants [out, in]; a transB=0 weight is transposed once here.
        weight_key = ctx.derive(f"{node.name}/weight", right if trans_b else right.T.copy())
        ctx.bake(node.inputs[1])

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
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


def _build_matmul(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        a, b = tensor_pair(inputs[0], inputs[1], state)
        return (torch.matmul(a, b),)

    return run


def builders() -> dict[str, Builder]:
    """Op type -> builder for the convolution, normalisation and dense ops."""
    return {
        "Conv": _build_conv,
        "ConvInteger": _build_conv_integer,
        "MatMulInteger": _build_matmul_integer,
        "DynamicQuantizeLinear": _build_dynamic_quantize_linear,
        "BatchNormalization": _build_batch_norm,
        "InstanceNormalization": _build_instance_norm,
        "Gemm": _build_gemm,
        "MatMul": _build_matmul,
    }
