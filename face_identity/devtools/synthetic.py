"""Synthetic ONNX models with the real models' graph shapes, for tests and benchmarks (needs the ``onnx`` package).

- ``build_iresnet``: InsightFace IResNet as exported in w600k_r50 (pre-activation BN, BN folded into
  convs, PRelu, 4 stride-2 stages, BN -> Flatten -> Gemm -> BN); ``IRESNET50`` is exactly w600k_r50's
  architecture (43.6 M parameters, 174 MB), ``TINY_IRESNET`` a small one with the same I/O.
- ``build_auraface_like``: a small recognizer with AuraFace v1's I/O (``[N,3,112,112]`` -> raw ``[N,512]``).
- ``build_scrfd_like``: a detector with SCRFD's 9 outputs (strides 8/16/32, 2 anchors, landmarks),
  fixed-640 (batched 3-D outputs) or dynamic-size (2-D outputs, as det_500m).
- ``build_yoloface_like``: a detector whose ``[1, 20, 8400]`` output holds planted detections.
- ``build_inswapper_like``: inputs ``target`` ``[1,3,128,128]`` and ``source`` ``[1,512]``, output
  ``[1,3,128,128]`` in 0..1, and an ``emap`` ``[512, 512]`` as the last initializer.
- ``build_embedding_swapper_like``: FaceFusion's HyperSwap / SimSwap / GHOST / HifiFace I/O (``source``
  ``[1,512]``, ``target`` ``[1,3,S,S]`` -> ``output`` ``[1,3,S,S]``, optionally ``mask`` ``[1,1,S,S]``),
  whose output is exactly its target (``mode="identity"``) or a known linear function of both inputs.
- ``build_crossface_like``: a crossface converter's I/O (``input`` ``[1,512]`` -> ``output`` ``[1,512]``),
  ``unit(input) @ M``.

Weights are random (seeded) and scaled so activations stay O(1) through any depth: the cost of a
forward pass does not depend on the weight values, so timings equal the real model's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class IResNetConfig:
    """Blocks per stage, channels per stage, stem channels, embedding size, input side."""

    layers: tuple[int, int, int, int]
    widths: tuple[int, int, int, int]
    stem: int = 64
    embedding: int = 512
    input_size: int = 112
    input_name: str = "input.1"
    output_name: str = "683"


IRESNET50 = IResNetConfig(layers=(3, 4, 14, 3), widths=(64, 128, 256, 512))
"""w600k_r50: 24 IBasicBlocks, 53 Conv, 26 BatchNormalization, 25 PRelu, 24 Add, Flatten, Gemm."""
TINY_IRESNET = IResNetConfig(layers=(1, 1, 1, 1), widths=(8, 8, 16, 16), stem=8)


@dataclass
class _GraphBuilder:
    rng: np.random.Generator
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    counter: int = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def constant(self, prefix: str, value: NDArray[np.generic]) -> str:
        from onnx import numpy_helper

        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], **attributes: Any) -> str:
        from onnx import helper

        output = self.name(op)
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attributes))
        return output

    def conv(self, x: str, cin: int, cout: int, kernel: int, stride: int, gain: float = 1.0) -> str:
        fan_in = cin * kernel * kernel
        weight = self.rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), (cout, cin, kernel, kernel)).astype(np.float32)
        bias = self.rng.normal(0.0, 0.01, cout).astype(np.float32)
        pad = kernel // 2
        return self.node(
            "Conv",
            [x, self.constant("W", weight), self.constant("B", bias)],
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[pad, pad, pad, pad],
        )

    def batchnorm(self, x: str, channels: int) -> str:
        scale = self.rng.uniform(0.8, 1.2, channels).astype(np.float32)
        shift = self.rng.normal(0.0, 0.05, channels).astype(np.float32)
        mean = self.rng.normal(0.0, 0.05, channels).astype(np.float32)
        variance = self.rng.uniform(0.8, 1.2, channels).astype(np.float32)
        inputs = [x] + [self.constant(n, v) for n, v in (("gamma", scale), ("beta", shift), ("mean", mean), ("var", variance))]
        return self.node("BatchNormalization", inputs, epsilon=1e-5)

    def prelu(self, x: str, channels: int) -> str:
        slope = self.rng.uniform(0.1, 0.3, (channels, 1, 1)).astype(np.float32)
        return self.node("PRelu", [x, self.constant("slope", slope)])


def _model(builder: _GraphBuilder, inputs: list[Any], outputs: list[Any]) -> Any:
    from onnx import helper

    graph = helper.make_graph(builder.nodes, "synthetic", inputs, outputs, builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="face_identity.synthetic")
    model.ir_version = 8
    return model


def _save(model: Any, path: str | os.PathLike[str]) -> Path:
    import onnx

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return target


def build_iresnet(
    path: str | os.PathLike[str], config: IResNetConfig = TINY_IRESNET, seed: int = 0, batch: int | str = "None"
) -> Path:
    """Write an IResNet recognizer ``[N,3,S,S] -> [N,D]`` (dynamic batch unless ``batch`` is an int) and return its path."""
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(seed))
    x = builder.conv(config.input_name, 3, config.stem, 3, 1)
    x = builder.prelu(x, config.stem)
    channels = config.stem
    for blocks, width in zip(config.layers, config.widths):
        for block in range(blocks):
            stride = 2 if block == 0 else 1
            branch = builder.batchnorm(x, channels)
            branch = builder.conv(branch, channels, width, 3, 1)
            branch = builder.prelu(branch, width)
            branch = builder.conv(branch, width, width, 3, stride, gain=0.2)
            shortcut = builder.conv(x, channels, width, 1, stride) if block == 0 else x
            x = builder.node("Add", [branch, shortcut])
            channels = width
    x = builder.batchnorm(x, channels)
    x = builder.node("Flatten", [x], axis=1)
    side = config.input_size // 16
    fc_in = channels * side * side
    weight = builder.rng.normal(0.0, np.sqrt(1.0 / fc_in), (config.embedding, fc_in)).astype(np.float32)
    bias = builder.rng.normal(0.0, 0.01, config.embedding).astype(np.float32)
    x = builder.node("Gemm", [x, builder.constant("fcW", weight), builder.constant("fcB", bias)], transB=1)
    features = builder.batchnorm(x, config.embedding)
    builder.nodes[-1].output[0] = config.output_name  # the features BN writes the graph output directly, as in w600k_r50
    del features
    batch_dim: int | str = batch if isinstance(batch, int) else batch
    inputs = [
        helper.make_tensor_value_info(config.input_name, TensorProto.FLOAT, [batch_dim, 3, config.input_size, config.input_size])
    ]
    outputs = [helper.make_tensor_value_info(config.output_name, TensorProto.FLOAT, [batch_dim, config.embedding])]
    return _save(_model(builder, inputs, outputs), path)


def build_auraface_like(path: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write a small recognizer with AuraFace v1's I/O and return its path.

    fal/AuraFace-v1's ``glintr100.onnx`` (an ArcFace-style ResNet-100) takes one float32 ``[N, 3, 112, 112]``
    RGB crop aligned to the 112 ArcFace template, ``(pixel - 127.5) / 127.5``, and returns one raw float32
    ``[N, 512]`` embedding (model card; insightface's ArcFaceONNX, which its usage example runs). Its tensor
    names and whether its batch is fixed were not checked (the file was not downloaded); the stand-in keeps
    ``TINY_IRESNET``'s names and a dynamic batch. Tests place it as ``auraface_v1.onnx``.
    """
    return build_iresnet(path, TINY_IRESNET, seed=seed)


def build_scrfd_like(path: str | os.PathLike[str], dynamic: bool = False, seed: int = 0, score_bias: float = -4.0) -> Path:
    """Write a detector with SCRFD's 9-output layout (random weights: a few random detections).

    ``dynamic``: input ``[1,3,?,?]`` and 2-D outputs ``[A, k]`` like det_500m; else ``[1,3,640,640]``
    and batched 3-D outputs like scrfd_2.5g_bnkps.
    """
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(seed))
    input_name = "input.1"
    groups: dict[str, list[str]] = {"score": [], "bbox": [], "kps": []}
    for stride in (8, 16, 32):
        pooled = builder.node("AveragePool", [input_name], kernel_shape=[stride, stride], strides=[stride, stride])
        for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
            weight = builder.rng.normal(0.0, 0.5, (2 * width, 3, 1, 1)).astype(np.float32)
            bias = np.full(2 * width, score_bias if kind == "score" else 1.0, dtype=np.float32)
            y = builder.node("Conv", [pooled, builder.constant("W", weight), builder.constant("B", bias)], kernel_shape=[1, 1])
            y = builder.node("Transpose", [y], perm=[0, 2, 3, 1])
            shape = np.array([-1, width] if dynamic else [1, -1, width], dtype=np.int64)
            y = builder.node("Reshape", [y, builder.constant("shape", shape)])
            if kind == "score":
                y = builder.node("Sigmoid", [y])
            groups[kind].append(y)
    ordered = groups["score"] + groups["bbox"] + groups["kps"]
    side: int | str = "?" if dynamic else 640
    inputs = [
        helper.make_tensor_value_info(
            input_name, TensorProto.FLOAT, [1, 3, "height" if dynamic else side, "width" if dynamic else side]
        )
    ]
    outputs = []
    for name in ordered:
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return _save(_model(builder, inputs, outputs), path)


def build_yoloface_like(path: str | os.PathLike[str], detections: NDArray[np.floating], anchors: int = 8400) -> Path:
    """Write a 640 detector whose ``[1, 20, anchors]`` output holds ``detections`` (rows of 20) and zeros.

    The output is ``constant + 0 * mean(input)`` so it depends on the input like a real graph.
    """
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(0))
    table = np.zeros((anchors, 20), dtype=np.float32)
    rows = np.asarray(detections, dtype=np.float32).reshape(-1, 20)
    table[: rows.shape[0]] = rows
    constant = builder.constant("detections", table.T[None])
    mean = builder.node("ReduceMean", ["images"], keepdims=1)
    zero = builder.node("Mul", [mean, builder.constant("zero", np.zeros((1, 1, 1, 1), np.float32))])
    squeezed = builder.node("Reshape", [zero, builder.constant("shape", np.array([1, 1, 1], np.int64))])
    builder.nodes.append(helper.make_node("Add", [constant, squeezed], ["output0"], name="output_add"))
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 20, anchors])]
    return _save(_model(builder, inputs, outputs), path)


def build_inswapper_like(
    path: str | os.PathLike[str],
    seed: int = 0,
    float16_inputs: bool = False,
    dimension: int = 512,
    embedding_space: str | None = None,
) -> Path:
    """Write a swapper with inswapper_128's I/O names and shapes and an ``emap`` as last initializer.

    Output: ``sigmoid(conv(target) + A @ source)`` per pixel, so it depends on both inputs and lies in 0..1.
    ``embedding_space``: the identity space the file declares it takes (ONNX metadata
    ``face_identity.embedding_space``), e.g. the ``<stem>@<crc32>`` space of the stand-in recognizer
    it is paired with in a test; without it the loader assumes the catalog's w600k_r50 space.
    """
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(seed))
    target, source = "target", "source"
    if float16_inputs:
        target = builder.node("Cast", ["target"], to=TensorProto.FLOAT)
        source = builder.node("Cast", ["source"], to=TensorProto.FLOAT)
    conv_weight = builder.rng.normal(0.0, 0.5, (3, 3, 3, 3)).astype(np.float32)
    image = builder.node(
        "Conv",
        [target, builder.constant("W", conv_weight), builder.constant("B", np.zeros(3, np.float32))],
        kernel_shape=[3, 3],
        pads=[1, 1, 1, 1],
    )
    style = builder.node("Gemm", [source, builder.constant("A", builder.rng.normal(0, 2.0, (dimension, 3)).astype(np.float32))])
    style = builder.node("Reshape", [style, builder.constant("shape", np.array([1, 3, 1, 1], np.int64))])
    mixed = builder.node("Add", [image, style])
    output = builder.node("Sigmoid", [mixed])
    if float16_inputs:
        output = builder.node("Cast", [output], to=TensorProto.FLOAT16)
    builder.nodes.append(helper.make_node("Identity", [output], ["output"], name="output_identity"))
    emap = builder.rng.normal(0.0, 1.0 / np.sqrt(dimension), (dimension, dimension)).astype(np.float32)
    builder.constant("emap", emap)
    element = TensorProto.FLOAT16 if float16_inputs else TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("target", element, [1, 3, 128, 128]),
        helper.make_tensor_value_info("source", element, [1, dimension]),
    ]
    outputs = [helper.make_tensor_value_info("output", element, [1, 3, 128, 128])]
    model = _model(builder, inputs, outputs)
    if embedding_space:
        helper.set_model_props(model, {"face_identity.embedding_space": embedding_space})
    return _save(model, path)


SYNTHETIC_SOURCE_GAIN = 0.05
"""Scale of the source-to-colour map ``A`` of ``build_embedding_swapper_like``'s linear mode."""


def embedding_swapper_weights(seed: int = 0, dimension: int = 512) -> NDArray[np.float32]:
    """``[D, 3]`` float32 ``A`` of ``build_embedding_swapper_like(seed=seed)``: output = ``0.5 * target + (source @ A)`` per channel."""
    return np.random.default_rng(seed).normal(0.0, SYNTHETIC_SOURCE_GAIN, (dimension, 3)).astype(np.float32)


def crossface_weights(seed: int = 0, dimension: int = 512) -> NDArray[np.float32]:
    """``[D, D]`` float32 ``M`` of ``build_crossface_like(seed=seed)``: output = ``unit(input) @ M``."""
    rng = np.random.default_rng(1000 + seed)
    return (np.eye(dimension) * 0.2 + rng.normal(0.0, 1.0 / np.sqrt(dimension), (dimension, dimension))).astype(np.float32)


def build_embedding_swapper_like(
    path: str | os.PathLike[str],
    size: int = 256,
    mode: str = "linear",
    mask: bool = False,
    seed: int = 0,
    embedding_space: str | None = None,
    plain_output: tuple[Sequence[float], Sequence[float]] | None = None,
    float16_outputs: bool = False,
    dimension: int = 512,
    constant: NDArray[np.floating] | None = None,
) -> Path:
    """Write a swapper with FaceFusion's embedding-driven swappers' I/O: ``source`` ``[1, 512]`` and
    ``target`` ``[1, 3, S, S]`` float32 in, ``output`` ``[1, 3, S, S]`` float32 out (and ``mask``
    ``[1, 1, S, S]`` when ``mask``, as HyperSwap's export).

    - ``mode="identity"``: ``output = target + 0 * (source @ A)`` (gives back its input exactly). With
      ``plain_output=(mean, std)`` (families whose output is plain RGB 0..1 while their input is
      normalised, e.g. SimSwap 256's ImageNet mean/std): ``output = target * std + mean``, the target image.
    - ``mode="linear"``: ``output = 0.5 * target + (source @ A)`` per channel, ``A = embedding_swapper_weights(seed)``.
    - ``mode="constant"``: ``output = constant + 0 * target + 0 * (source @ A)``, the same ``[3, S, S]`` picture
      (in the family's output range: the model's normalised space when the family de-normalises) for every
      input, e.g. the source person's own aligned face: a stand-in whose swaps keep the source's identity.
    - ``mask`` output: ``sigmoid(4 - 8 * r)`` with ``r`` the distance from the crop centre in half-sides
      (a soft disc, like a learned face mask).
    ``embedding_space``: the identity space the file declares (ONNX metadata), for stand-ins.
    ``float16_outputs``: the outputs are cast to float16 (an fp16 export wrapped to take float32 inputs).
    ``dimension``: the ``source`` vector's length (512 for every family; another value makes a mismatched file).
    """
    from onnx import TensorProto, helper

    if mode not in ("identity", "linear", "constant"):
        raise ValueError(f"mode must be identity, linear or constant, got {mode!r}")
    if (mode == "constant") != (constant is not None):
        raise ValueError("mode constant takes the picture as constant=[3, S, S] (and only that mode does)")
    builder = _GraphBuilder(np.random.default_rng(seed))
    weights = embedding_swapper_weights(seed, dimension)
    style = builder.node("Gemm", ["source", builder.constant("A", weights)])
    style = builder.node("Reshape", [style, builder.constant("shape", np.array([1, 3, 1, 1], np.int64))])
    if mode == "identity":
        style = builder.node("Mul", [style, builder.constant("zero", np.zeros((), np.float32))])
        image = "target"
        if plain_output is not None:
            mean = np.asarray(plain_output[0], np.float32).reshape(1, 3, 1, 1)
            std = np.asarray(plain_output[1], np.float32).reshape(1, 3, 1, 1)
            image = builder.node(
                "Add", [builder.node("Mul", [image, builder.constant("std", std)]), builder.constant("mean", mean)]
            )
    elif constant is not None:
        style = builder.node("Mul", [style, builder.constant("zero", np.zeros((), np.float32))])
        picture = np.asarray(constant, np.float32).reshape(1, 3, size, size)
        image = builder.node("Mul", ["target", builder.constant("nothing", np.zeros((), np.float32))])
        image = builder.node("Add", [image, builder.constant("picture", picture)])
    else:
        image = builder.node("Mul", ["target", builder.constant("half", np.array(0.5, np.float32))])
    element = TensorProto.FLOAT16 if float16_outputs else TensorProto.FLOAT

    def named(value: str, name: str) -> None:
        if float16_outputs:
            builder.nodes.append(helper.make_node("Cast", [value], [name], name=f"{name}_out", to=TensorProto.FLOAT16))
        else:
            builder.nodes.append(helper.make_node("Identity", [value], [name], name=f"{name}_out"))

    named(builder.node("Add", [image, style]), "output")
    outputs = [helper.make_tensor_value_info("output", element, [1, 3, size, size])]
    if mask:
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
        radius = np.sqrt(axis[None, :] ** 2 + axis[:, None] ** 2)
        disc = (1.0 / (1.0 + np.exp(-(4.0 - 8.0 * radius)))).astype(np.float32).reshape(1, 1, size, size)
        zero = builder.node("Mul", ["target", builder.constant("nothing", np.zeros((), np.float32))])
        zero = builder.node("ReduceMean", [zero], axes=[1], keepdims=1)
        named(builder.node("Add", [zero, builder.constant("disc", disc)]), "mask")
        outputs.append(helper.make_tensor_value_info("mask", element, [1, 1, size, size]))
    inputs = [
        helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, dimension]),
        helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
    ]
    model = _model(builder, inputs, outputs)
    if embedding_space:
        helper.set_model_props(model, {"face_identity.embedding_space": embedding_space})
    return _save(model, path)


def build_crossface_like(path: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write a crossface-converter stand-in: ``input`` ``[1, 512]`` float32 -> ``output`` ``[1, 512]``,
    ``unit(input) @ M`` with ``M = crossface_weights(seed)`` (the real MLP also L2-normalises its input)."""
    from onnx import TensorProto, helper

    builder = _GraphBuilder(np.random.default_rng(seed))
    norm = builder.node("ReduceL2", ["input"], axes=[1], keepdims=1)
    unit = builder.node("Div", ["input", norm])
    builder.nodes.append(
        helper.make_node("MatMul", [unit, builder.constant("M", crossface_weights(seed))], ["output"], name="out")
    )
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 512])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 512])]
    return _save(_model(builder, inputs, outputs), path)


def build_fixed_batch_recognizer(path: str | os.PathLike[str], float16_input: bool = False, seed: int = 1) -> Path:
    """A tiny IResNet with a fixed batch of 1 (and optionally a float16 input), like Facegate's fp16 MobileFaceNet."""
    built = build_iresnet(path, TINY_IRESNET, seed=seed, batch=1)
    if not float16_input:
        return built
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(built))
    graph = model.graph
    original = graph.input[0].name
    graph.input[0].name = "input0"
    graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    graph.node.insert(0, helper.make_node("Cast", ["input0"], [original], name="cast_input", to=TensorProto.FLOAT))
    return _save(model, built)
