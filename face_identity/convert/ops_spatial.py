"""Op builders: pooling, resizing, padding, reductions, Softmax, Where and comparisons."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ModelConversionError
from .context import (
    BuildContext,
    Builder,
    OpFunction,
    RunState,
    Value,
    as_tensor,
    attr,
    axes_from,
    host_floats,
    host_ints,
    normalise_axis,
    pads_for_torch,
    same_padding,
    tensor_pair,
    unsupported,
)
from .graph import NodeSpec


def _pool_geometry(node: NodeSpec) -> tuple[list[int], list[int], list[int], bool, str]:
    kernel = [int(k) for k in attr(node, "kernel_shape")]
    spatial = len(kernel)
    strides = [int(s) for s in attr(node, "strides", [1] * spatial)]
    pads = [int(p) for p in attr(node, "pads", [0] * (2 * spatial))]
    ceil_mode = bool(attr(node, "ceil_mode", 0))
    return kernel, strides, pads, ceil_mode, str(attr(node, "auto_pad", "NOTSET"))


def _build_average_pool(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    kernel, strides, pads, ceil_mode, auto_pad = _pool_geometry(node)
    count_pad = bool(attr(node, "count_include_pad", 0))
    spatial = len(kernel)
    if auto_pad not in ("NOTSET", "VALID") or any(d != 1 for d in attr(node, "dilations", [1] * spatial)):
        raise unsupported(node, f"AveragePool with auto_pad={auto_pad} or dilations")
    if auto_pad == "VALID":
        pads = [0] * (2 * spatial)
    begins, ends = pads[:spatial], pads[spatial:]
    if begins != ends or any(2 * p > k for p, k in zip(begins, kernel, strict=False)):
        raise unsupported(node, f"AveragePool pads {pads} for kernel {kernel}")
    pool = {1: functional.avg_pool1d, 2: functional.avg_pool2d, 3: functional.avg_pool3d}.get(spatial)
    if pool is None:
        raise unsupported(node, f"a {spatial}-D AveragePool")
    return lambda inputs, state: (pool(inputs[0], kernel, strides, begins, ceil_mode, count_pad),)


def _build_max_pool(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    if len([o for o in node.outputs if o]) > 1:
        raise unsupported(node, "MaxPool's Indices output")
    kernel, strides, pads, ceil_mode, auto_pad = _pool_geometry(node)
    spatial = len(kernel)
    dilations = [int(d) for d in attr(node, "dilations", [1] * spatial)]
    pool = {1: functional.max_pool1d, 2: functional.max_pool2d, 3: functional.max_pool3d}.get(spatial)
    if pool is None or auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise unsupported(node, f"a {spatial}-D MaxPool with auto_pad={auto_pad}")
    if auto_pad == "VALID":
        pads = [0] * (2 * spatial)
    begins, ends = pads[:spatial], pads[spatial:]
    symmetric = begins == ends and all(2 * p <= k for p, k in zip(begins, kernel, strict=False))

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        if auto_pad.startswith("SAME"):
            padding = same_padding(x.shape[2:], kernel, strides, dilations, auto_pad == "SAME_UPPER")
            x = functional.pad(x, pads_for_torch(padding), value=float("-inf"))
            return (pool(x, kernel, strides, 0, dilations, ceil_mode),)
        if symmetric:
            return (pool(x, kernel, strides, begins, dilations, ceil_mode),)
        x = functional.pad(x, pads_for_torch(pads), value=float("-inf"))
        return (pool(x, kernel, strides, 0, dilations, ceil_mode),)

    return run


def _build_global_pool(reduce: str) -> Builder:
    def build(node: NodeSpec, ctx: BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
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
        raise unsupported(node, f"Resize nearest with coordinate_transformation_mode={transform}, nearest_mode={nearest_mode}")
    if mode in ("linear", "cubic"):
        torch_mode = "linear" if mode == "linear" else "cubic"
        if transform in ("half_pixel", "pytorch_half_pixel"):
            return torch_mode, False
        if transform == "align_corners":
            return torch_mode, True
        raise unsupported(node, f"Resize {mode} with coordinate_transformation_mode={transform}")
    raise unsupported(node, f"Resize mode {mode}")


def _kept_leading_sizes(node: NodeSpec, sizes: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """A Resize ``sizes`` input checked against the input's ``[N, C, ...]`` shape; returns it with N and C kept.

    Exporters compute ``sizes`` from ``Shape`` of the resized tensor (N and C unchanged), and a batch-1
    export folds that to a constant such as ``[1, 24, 40, 40]`` (the real SCRFD-2.5G file). Such a
    constant is the trace's batch, not a request to resize the batch axis, so a batch of n keeps n.

    Raises:
        ModelConversionError: ``sizes`` has another rank than the input, changes C, or asks for a batch
            other than the input's or 1 (a real resize of the batch or channel axis).
    """
    if len(sizes) != len(shape) or sizes[1] != shape[1] or sizes[0] not in (shape[0], 1):
        raise ModelConversionError(
            f"ONNX {node.op_type} node {node.name!r} resizes a {list(shape)} input to {list(sizes)}: "
            "a resize of the batch or channel axis is not supported; run this model with onnxruntime"
        )
    return (shape[0], shape[1], *sizes[2:])


def _build_resize(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    mode = str(attr(node, "mode", "nearest"))
    if node.op_type == "Upsample" or ctx.opset < 11:
        transform, nearest_mode = "asymmetric", "floor"
    else:
        transform = str(attr(node, "coordinate_transformation_mode", "half_pixel"))
        nearest_mode = str(attr(node, "nearest_mode", "round_prefer_floor"))
    if int(attr(node, "antialias", 0)) or int(attr(node, "exclude_outside", 0)):
        raise unsupported(node, "Resize with antialias or exclude_outside")
    if mode == "cubic" and float(attr(node, "cubic_coeff_a", -0.75)) != -0.75:
        raise unsupported(node, "Resize cubic with cubic_coeff_a other than -0.75")
    if attr(node, "axes") is not None:
        raise unsupported(node, "Resize with axes")
    torch_mode, align_corners = _interpolation(node, mode, transform, nearest_mode)
    if node.op_type == "Upsample" and ctx.opset < 9:
        scale_attribute = attr(node, "scales")
        scales_index, sizes_index = -1, -1
    else:
        scale_attribute = None
        scales_index, sizes_index = (1, -1) if (node.op_type == "Upsample" or ctx.opset < 11) else (2, 3)
    for index in (1, 2, 3):
        if len(node.inputs) > index and node.inputs[index] and ctx.array(node.inputs[index]) is not None:
            ctx.bake(node.inputs[index])
    constant_scales = ctx.array(node.inputs[scales_index]) if 0 < scales_index < len(node.inputs) else None
    constant_sizes = ctx.array(node.inputs[sizes_index]) if 0 < sizes_index < len(node.inputs) else None

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
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
            sizes = host_ints(inputs[sizes_index])
        if sizes is None:
            if scale_attribute is not None:
                scales = tuple(float(v) for v in scale_attribute)
            elif constant_scales is not None:
                scales = tuple(float(v) for v in constant_scales.reshape(-1))
            else:
                scales = host_floats(inputs[scales_index])
        if sizes is not None:
            sizes = _kept_leading_sizes(node, sizes, tuple(int(d) for d in x.shape))
        elif tuple(scales[:2]) != (1.0, 1.0):  # type: ignore[index]
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


def _build_pad(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch.nn.functional as functional

    mode = str(attr(node, "mode", "constant"))
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    if torch_mode is None:
        raise unsupported(node, f"Pad mode {mode}")
    if ctx.opset < 11:
        fixed_pads: tuple[int, ...] | None = tuple(int(p) for p in attr(node, "pads", []))
        fixed_value: float | None = float(attr(node, "value", 0.0))
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
        raise unsupported(node, "Pad with axes")

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        pads = fixed_pads if fixed_pads is not None else host_ints(inputs[1])
        value = fixed_value if fixed_value is not None else float(inputs[2].reshape(-1)[0])
        torch_pads = pads_for_torch(pads)
        while len(torch_pads) > 2 and torch_pads[-1] == 0 and torch_pads[-2] == 0:
            torch_pads = torch_pads[:-2]
        if torch_mode == "constant":
            return (functional.pad(x, torch_pads, mode="constant", value=value),)
        return (functional.pad(x, torch_pads, mode=torch_mode),)

    return run


def _build_reduce(kind: str) -> Builder:
    def build(node: NodeSpec, ctx: BuildContext) -> OpFunction:
        import torch

        inputs_from = 13 if kind == "sum" else 18
        axes, dynamic = axes_from(node, ctx, inputs_from)
        keep = bool(attr(node, "keepdims", 1))
        noop_when_empty = bool(attr(node, "noop_with_empty_axes", 0))

        def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
            x = as_tensor(inputs[0], state)
            wanted = host_ints(inputs[1]) if dynamic else axes
            if not wanted:
                if noop_when_empty:
                    return (x,)
                wanted = tuple(range(x.dim()))
            dims = tuple(normalise_axis(a, x.dim()) for a in wanted)
            if kind == "mean":
                return (x.mean(dim=dims, keepdim=keep),)
            if kind == "sum":
                return (x.sum(dim=dims, keepdim=keep),)
            if kind == "max":
                return (x.amax(dim=dims, keepdim=keep),)
            if kind == "l2":  # sqrt(sum(x**2)), without overflowing x**2 in float16
                return (torch.linalg.vector_norm(x, 2, dim=dims, keepdim=keep),)
            return (x.amin(dim=dims, keepdim=keep),)

        return run

    return build


def _build_softmax(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    log = node.op_type == "LogSoftmax"
    axis = int(attr(node, "axis", -1 if ctx.opset >= 13 else 1))
    function = torch.log_softmax if log else torch.softmax

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        position = normalise_axis(axis, x.dim())
        if ctx.opset >= 13 or position == x.dim() - 1:
            return (function(x, dim=position),)
        flat = x.reshape(math.prod(x.shape[:position]), -1)  # opset < 13: softmax over the flattened tail
        return (function(flat, dim=1).reshape(x.shape),)

    return run


def _build_where(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        condition = as_tensor(inputs[0], state).to(torch.bool)
        a, b = tensor_pair(inputs[1], inputs[2], state)
        return (torch.where(condition, a, b),)

    return run


def _comparison(operation: Callable[[Any, Any], Any]) -> Builder:
    def build(node: NodeSpec, ctx: BuildContext) -> OpFunction:
        def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
            a, b = tensor_pair(inputs[0], inputs[1], state)
            return (operation(a, b),)

        return run

    return build


def builders() -> dict[str, Builder]:
    """Op type -> builder for the pooling, resize, pad, reduce and selection ops."""
    import torch

    return {
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
        "ReduceL2": _build_reduce("l2"),
        "Softmax": _build_softmax,
        "LogSoftmax": _build_softmax,
        "Where": _build_where,
        "Equal": _comparison(torch.eq),
        "Less": _comparison(torch.lt),
        "Greater": _comparison(torch.gt),
    }
