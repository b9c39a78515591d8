"""Synthetic ONNX models with the I/O of the landmark, mask and restore models, each a known function of its input.

- ``build_fan_68_5_like``: ``input`` ``[1, 5, 2]`` -> ``[1, 68, 2]`` = ``A @ points`` with rows of ``A``
  summing to 1 (affine combinations, so the mapping commutes with any similarity of the points).
- ``build_2dfan4_like``: ``input`` ``[1, 3, 256, 256]`` -> points ``[1, 68, 3]`` (constant, on the 64 grid)
  and heatmaps ``[1, 68, 64, 64]`` with maximum ``heat_max``.
- ``build_xseg_like``: ``input`` ``[N, 256, 256, 3]`` (NHWC, BGR 0..1) -> ``[N, 256, 256, 1]`` = ``1 - blue``.
- ``build_bisenet_like``: ``input`` ``[N, 3, 512, 512]`` (RGB, ImageNet mean/std) -> ``[N, 19, 512, 512]``
  class scores where strongly red, weakly green pixels score class ``red_class`` and all others class 0.
- ``build_restorer_like``: ``input`` ``[N, 3, S, S]`` (RGB in -1..1) -> ``output`` = ``scale * input +
  offset (+ weight_gain * weight)``, with an optional CodeFormer ``weight`` input (float64 ``[1]``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .synthetic import _GraphBuilder, _model, _save

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def fan_68_5_matrix(seed: int = 0) -> NDArray[np.float32]:
    """``[68, 5]`` float32 non-negative rows summing to 1 (the synthetic fan_68_5's weights)."""
    rng = np.random.default_rng(seed)
    weights = rng.random((68, 5)).astype(np.float64) ** 3
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def build_fan_68_5_like(path: str | os.PathLike[str], seed: int = 0) -> Path:
    """fan_68_5's I/O (``input`` ``[1, 5, 2]`` -> ``output`` ``[1, 68, 2]``), output = ``fan_68_5_matrix(seed) @ input``."""
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(seed))
    builder.nodes.append(
        helper.make_node("MatMul", [builder.constant("A", fan_68_5_matrix(seed)), "input"], ["output"], name="matmul")
    )
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 5, 2])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 68, 2])]
    return _save(_model(builder, inputs, outputs), path)


def _zero_of_input(builder: _GraphBuilder, name: str, rank: int) -> str:
    """``0 * mean(input)`` shaped ``[N] + [1] * (rank - 1)``: lets a constant output follow the batch axis."""
    mean = builder.node("ReduceMean", [name], axes=[1, 2, 3], keepdims=0)
    zero = builder.node("Mul", [mean, builder.constant("zero", np.zeros((1,), np.float32))])
    shape = builder.constant("shape", np.array([-1] + [1] * (rank - 1), np.int64))
    return builder.node("Reshape", [zero, shape])


def build_2dfan4_like(path: str | os.PathLike[str], points_64: NDArray[np.floating], heat_max: float = 0.45) -> Path:
    """2dfan4's I/O: ``input`` ``[1, 3, 256, 256]`` -> ``[1, 68, 3]`` (``points_64`` on the 64 grid, third column 1) and ``[1, 68, 64, 64]`` heatmaps peaking at ``heat_max``."""
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(0))
    zero = _zero_of_input(builder, "input", 3)
    points = np.concatenate([np.asarray(points_64, np.float32).reshape(68, 2), np.ones((68, 1), np.float32)], axis=1)
    builder.nodes.append(helper.make_node("Add", [builder.constant("points", points[None]), zero], ["points"], name="points_add"))
    heat = np.zeros((1, 68, 64, 64), np.float32)
    heat[:, :, 10, 20] = heat_max
    zero4 = builder.node("Reshape", [zero, builder.constant("shape4", np.array([-1, 1, 1, 1], np.int64))])
    builder.nodes.append(helper.make_node("Add", [builder.constant("heat", heat), zero4], ["heatmaps"], name="heat_add"))
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 256])]
    outputs = [
        helper.make_tensor_value_info("points", TensorProto.FLOAT, [1, 68, 3]),
        helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, 68, 64, 64]),
    ]
    return _save(_model(builder, inputs, outputs), path)


def build_xseg_like(path: str | os.PathLike[str], batch: int | str = 1) -> Path:
    """XSeg's I/O: ``input`` ``[N, 256, 256, 3]`` NHWC BGR 0..1 -> ``[N, 256, 256, 1]`` = ``1 - input[..., 0]`` (1 - blue)."""
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(0))
    blue = builder.node(
        "Slice", ["input", *(builder.constant(n, np.array(v, np.int64)) for n, v in (("s", [0]), ("e", [1]), ("a", [3])))]
    )
    builder.nodes.append(
        helper.make_node("Sub", [builder.constant("one", np.ones((1,), np.float32)), blue], ["output"], name="invert")
    )
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 256, 256, 3])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 256, 256, 1])]
    return _save(_model(builder, inputs, outputs), path)


def build_bisenet_like(path: str | os.PathLike[str], red_class: int = 11, batch: int | str = "N", margin: float = 0.9) -> Path:
    """BiSeNet's I/O: ``input`` ``[N, 3, 512, 512]`` -> ``output`` ``[N, 19, 512, 512]``.

    A 1x1 convolution: class 0 scores 0 everywhere; class ``red_class`` scores
    ``R - G - margin`` in 0..1 pixel units (undoing ImageNet normalisation). With the default 0.9 it is
    positive only for pixels that are strongly red and weakly green (pure red 255,0,0 and e.g. 240,20,20);
    a small ``margin`` (e.g. 0.06) selects most skin of a real photo. Every other class scores -10.
    """
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(0))
    weight = np.zeros((19, 3, 1, 1), np.float32)
    bias = np.full(19, -10.0, np.float32)
    bias[0] = 0.0
    # pixel = x * std + mean per channel, so R - G - margin = x_r std_r - x_g std_g + (mean_r - mean_g - margin)
    weight[red_class, 0, 0, 0] = IMAGENET_STD[0]
    weight[red_class, 1, 0, 0] = -IMAGENET_STD[1]
    bias[red_class] = IMAGENET_MEAN[0] - IMAGENET_MEAN[1] - margin
    builder.nodes.append(
        helper.make_node(
            "Conv",
            ["input", builder.constant("W", weight), builder.constant("B", bias)],
            ["output"],
            name="classes",
            kernel_shape=[1, 1],
        )
    )
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 512, 512])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 19, 512, 512])]
    return _save(_model(builder, inputs, outputs), path)


def build_restorer_like(
    path: str | os.PathLike[str],
    size: int = 512,
    scale: float = 1.0,
    offset: float = 0.0,
    with_weight: bool = False,
    weight_gain: float = 0.0,
    batch: int | str = 1,
) -> Path:
    """A restorer's I/O: ``input`` ``[N, 3, S, S]`` (and CodeFormer's ``weight`` float64 ``[1]``) -> ``output`` ``[N, 3, S, S]``.

    ``output = scale * input + offset + weight_gain * weight`` (identity with the defaults).
    """
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(0))
    value = builder.node("Mul", ["input", builder.constant("scale", np.array([scale], np.float32))])
    value = builder.node("Add", [value, builder.constant("offset", np.array([offset], np.float32))])
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])]
    if with_weight:
        weight = builder.node("Cast", ["weight"], to=TensorProto.FLOAT)
        weight = builder.node("Mul", [weight, builder.constant("gain", np.array([weight_gain], np.float32))])
        value = builder.node("Add", [value, weight])
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
    builder.nodes.append(helper.make_node("Identity", [value], ["output"], name="output_identity"))
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, size, size])]
    return _save(_model(builder, inputs, outputs), path)
