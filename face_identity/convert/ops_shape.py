"""Op builders: shape and layout (Reshape, Transpose, Shape, Gather, Concat, Slice, ...)."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    axes_from,
    host_ints,
    is_host,
    normalise_axis,
    unsupported,
)
from .graph import NodeSpec

_INT64_MAX = 2**63 - 1


def _build_flatten(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    axis = int(attr(node, "axis", 1))

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = as_tensor(inputs[0], state)
        position = axis if axis >= 0 else axis + x.dim()
        return (x.reshape(math.prod(x.shape[:position]), -1),)

    return run


def _reshape_target(x: Any, shape: Sequence[int], allow_zero: bool) -> list[int]:
    return [int(x.shape[i]) if (d == 0 and not allow_zero) else int(d) for i, d in enumerate(shape)]


def _build_reshape(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    allow_zero = bool(attr(node, "allowzero", 0))
    constant_shape = ctx.array(node.inputs[1]) if ctx.opset >= 5 and len(node.inputs) > 1 else None
    if ctx.opset < 5:
        fixed: tuple[int, ...] | None = tuple(int(v) for v in attr(node, "shape", []))
    elif constant_shape is not None:
        fixed = tuple(int(v) for v in constant_shape.reshape(-1))
        ctx.bake(node.inputs[1])
    else:
        fixed = None

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = as_tensor(inputs[0], state)
        shape = fixed if fixed is not None else host_ints(inputs[1])
        return (x.reshape(_reshape_target(x, shape, allow_zero)),)

    return run


def _build_transpose(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    permutation = attr(node, "perm")

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = as_tensor(inputs[0], state)
        order = permutation if permutation is not None else list(reversed(range(x.dim())))
        return (x.permute(*order),)

    return run


def _build_shape(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    start = attr(node, "start", 0)
    end = attr(node, "end")

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        dims = (len(x),) if isinstance(x, tuple) else () if isinstance(x, int) else tuple(int(d) for d in x.shape)
        return (dims[start:end],)

    return run


def _build_gather(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    axis = int(attr(node, "axis", 0))

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        data, indices = inputs[0], inputs[1]
        if isinstance(data, tuple) and is_host(indices):
            if isinstance(indices, int):
                return (data[indices],)
            return (tuple(data[i] for i in indices),)
        tensor = as_tensor(data, state)
        position = normalise_axis(axis, tensor.dim())
        size = tensor.shape[position]
        if isinstance(indices, int):
            return (tensor.select(position, indices % size if indices < 0 else indices),)
        index = as_tensor(indices, state).to(device=tensor.device, dtype=torch.int64)
        index = torch.where(index < 0, index + size, index)
        gathered = torch.index_select(tensor, position, index.reshape(-1))
        shape = tuple(tensor.shape[:position]) + tuple(index.shape) + tuple(tensor.shape[position + 1 :])
        return (gathered.reshape(shape),)

    return run


def _build_unsqueeze(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    axes, dynamic = axes_from(node, ctx, 13)

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        wanted = host_ints(inputs[1]) if dynamic else axes or ()
        if isinstance(x, int) and tuple(wanted) in ((0,), (-1,)):
            return ((x,),)
        tensor = as_tensor(x, state)
        rank = tensor.dim() + len(wanted)
        for axis in sorted(normalise_axis(a, rank) for a in wanted):
            tensor = tensor.unsqueeze(axis)
        return (tensor,)

    return run


def _build_squeeze(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    axes, dynamic = axes_from(node, ctx, 13)

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        wanted = host_ints(inputs[1]) if dynamic else axes
        if isinstance(x, tuple) and len(x) == 1 and (wanted is None or tuple(wanted) in ((0,), (-1,))):
            return (x[0],)
        tensor = as_tensor(x, state)
        if wanted is None:
            return (tensor.squeeze(),)
        for axis in sorted((normalise_axis(a, tensor.dim()) for a in wanted), reverse=True):
            tensor = tensor.squeeze(axis)
        return (tensor,)

    return run


def _build_concat(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    axis = int(attr(node, "axis", 0))

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        parts = [part for part in inputs if part is not None]
        if all(is_host(part) for part in parts):
            joined: list[int] = []
            for part in parts:
                joined.extend(part if isinstance(part, tuple) else (part,))
            return (tuple(joined),)
        like = next(part for part in parts if not is_host(part))
        tensors = [as_tensor(part, state, like) for part in parts]
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
        position = normalise_axis(int(axis), rank)
        end = min(max(int(end), -_INT64_MAX), _INT64_MAX)
        ranges[position] = range(*slice(int(start), end, int(step)).indices(int(shape[position])))
    return ranges


def _build_slice(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    if ctx.opset < 10:
        fixed: list[tuple[int, ...] | None] | None = [
            tuple(attr(node, "starts", [])),
            tuple(attr(node, "ends", [])),
            tuple(attr(node, "axes")) if attr(node, "axes") is not None else None,
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

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        x = inputs[0]
        if fixed is not None:
            starts, ends, axes, steps = fixed
        else:
            params = [(host_ints(v) if v is not None else None) for v in (list(inputs[1:5]) + [None] * 4)[:4]]
            starts, ends, axes, steps = params
        if isinstance(x, tuple):
            (only,) = _slice_ranges((len(x),), starts, ends, axes, steps).values()  # type: ignore[arg-type]
            return (tuple(x[i] for i in only),)
        tensor = as_tensor(x, state)
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


def _build_split(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    axis = int(attr(node, "axis", 0))
    count = len(node.outputs)
    if ctx.opset < 13:
        sizes: tuple[int, ...] | None = tuple(attr(node, "split")) if attr(node, "split") is not None else None
    else:
        name = node.inputs[1] if len(node.inputs) > 1 else ""
        array = ctx.array(name) if name else None
        if name and array is None:
            raise unsupported(node, "Split with run-time sizes")
        sizes = tuple(int(v) for v in array.reshape(-1)) if array is not None else None
        ctx.bake(name)

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        tensor = as_tensor(inputs[0], state)
        length = tensor.shape[normalise_axis(axis, tensor.dim())]
        parts = (
            list(sizes)
            if sizes is not None
            else [-(-length // count)] * (count - 1) + [length - -(-length // count) * (count - 1)]
        )
        return tuple(torch.split(tensor, parts, dim=axis))

    return run


def _build_expand(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        tensor = as_tensor(inputs[0], state)
        target = torch.broadcast_shapes(tuple(tensor.shape), host_ints(inputs[1]))
        return (tensor.expand(target),)

    return run


def _build_tile(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    return lambda inputs, state: (as_tensor(inputs[0], state).repeat(*host_ints(inputs[1])),)


def _build_constant_of_shape(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    import torch

    reference = attr(node, "value")
    value = ctx.arrays[reference["tensor"]] if reference is not None else np.zeros(1, np.float32)

    def run(inputs: list[Value], state: RunState) -> tuple[Value, ...]:
        shape = host_ints(inputs[0])
        scalar = value.reshape(-1)[0].item()
        if value.dtype.kind in "iu":
            if len(shape) == 1:
                return (tuple([int(scalar)] * shape[0]),)
            return (torch.full(shape, int(scalar), dtype=torch.int64, device=state.device),)
        return (torch.full(shape, float(scalar), dtype=state.dtype, device=state.device),)

    return run


def _build_identity(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    return lambda inputs, state: (inputs[0],)


def _build_dropout(node: NodeSpec, ctx: BuildContext) -> OpFunction:
    if len([o for o in node.outputs if o]) > 1:
        raise unsupported(node, "Dropout's mask output")
    return lambda inputs, state: (inputs[0],)


def builders() -> dict[str, Builder]:
    """Op type -> builder for the shape and layout ops."""
    return {
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
    }
