"""ONNX -> torch converter: parity with onnxruntime (float, half, exact int8, SCRFD), op coverage, backend choice (cache: test_convert_cache.py)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from face_identity import convert  # noqa: E402
from face_identity.convert import ConvertedGraph, convert_model  # noqa: E402
from face_identity.detect.postprocess import image_blob, letterbox, nms  # noqa: E402
from face_identity.detect.scrfd import decode_scrfd  # noqa: E402
from face_identity.devtools import synthetic  # noqa: E402
from face_identity.embed import AUTO_BATCH_CPU, load_recognizer  # noqa: E402
from face_identity.errors import InvalidArgumentError, ModelConversionError  # noqa: E402
from face_identity.runner import LoadOptions, ModelRunner, Probe, load_runner, open_model  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fallback caches go to a temp folder, never to the user's home."""
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))


def _session(path: Path) -> Any:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run_ort(path: Path, *inputs: NDArray[Any]) -> list[NDArray[Any]]:
    session = _session(path)
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)})


def _run_torch(graph: ConvertedGraph, *inputs: NDArray[Any]) -> list[NDArray[Any]]:
    with torch.inference_mode():
        return [t.float().cpu().numpy() for t in graph(*[torch.from_numpy(x) for x in inputs])]


def _cosines(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.float64]:
    a64, b64 = a.reshape(a.shape[0], -1).astype(np.float64), b.reshape(b.shape[0], -1).astype(np.float64)
    return (a64 * b64).sum(axis=1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1)


def _faces_blob(count: int, seed: int = 0) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (count, 3, 112, 112)).astype(np.float32)


def _blob_of(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    return np.ascontiguousarray(((crops.astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2))


# --------------------------------------------------------------------------------------------------
# Recognizer parity


def test_tiny_iresnet_float32_matches_onnxruntime(tiny_recognizer_path: Path) -> None:
    blob = _faces_blob(5)
    reference = _run_ort(tiny_recognizer_path, blob)[0]
    ours = _run_torch(convert_model(tiny_recognizer_path, cache=False, channels_last=False), blob)[0]
    assert ours.shape == reference.shape == (5, 512)
    assert _cosines(ours, reference).min() >= 0.9999
    assert np.abs(ours - reference).max() <= 1e-3 * np.abs(reference).max()


@pytest.mark.parametrize(("dtype", "bound"), [("float16", 0.999), ("bfloat16", 0.99)])
def test_tiny_iresnet_half_precisions(tiny_recognizer_path: Path, dtype: str, bound: float, record_property: Any) -> None:
    blob = _faces_blob(4, seed=1)
    reference = _run_ort(tiny_recognizer_path, blob)[0]
    graph = convert_model(tiny_recognizer_path, dtype=dtype, cache=False)
    assert graph.dtype == getattr(torch, dtype)
    with torch.inference_mode():
        output = graph(torch.from_numpy(blob))[0]
    assert output.dtype == getattr(torch, dtype)
    cosine = float(_cosines(output.float().numpy(), reference).min())
    record_property(f"min_cosine_{dtype}", cosine)
    assert cosine >= bound


def test_channels_last_gives_the_same_embeddings(tiny_recognizer_path: Path) -> None:
    blob = _faces_blob(3, seed=2)
    plain = _run_torch(convert_model(tiny_recognizer_path, cache=False, channels_last=False), blob)[0]
    graph = convert_model(tiny_recognizer_path, cache=False, channels_last=True)
    assert graph.channels_last
    last = _run_torch(graph, blob)[0]
    assert _cosines(plain, last).min() >= 0.99999


def test_full_size_iresnet50_matches_onnxruntime(tmp_path: Path) -> None:
    """The real w600k_r50 architecture (174 MB), two faces: checks every layer shape of the real graph converts."""
    started = time.perf_counter()
    path = synthetic.build_iresnet(tmp_path / "iresnet50.onnx", synthetic.IRESNET50, seed=3)
    blob = _faces_blob(2, seed=3)
    reference = _run_ort(path, blob)[0]
    ours = _run_torch(convert_model(path, cache=False), blob)[0]
    assert _cosines(ours, reference).min() >= 0.9999
    assert time.perf_counter() - started < 60  # a guard for the suite's budget, not a speed claim


def test_real_float_mobilefacenet_matches_onnxruntime(real_models: dict[str, Path], real_crops: NDArray[np.uint8]) -> None:
    """foamliu MobileFaceNet: Clip (ReLU6), Constant, and the Shape/Gather/Unsqueeze/Concat/Reshape tail."""
    blob = _blob_of(real_crops)
    reference = _run_ort(real_models["foamliu"], blob)[0]
    graph = convert_model(real_models["foamliu"], cache=False)
    assert _cosines(_run_torch(graph, blob)[0], reference).min() >= 0.9999
    half = convert_model(real_models["foamliu"], dtype="float16", cache=False)
    assert _cosines(_run_torch(half, blob)[0], reference).min() >= 0.999


def test_int8_model_exact_rewrite_at_batch_one(
    real_models: dict[str, Path], real_crops: NDArray[np.uint8], record_property: Any
) -> None:
    """w600k_mbf int8: DynamicQuantizeLinear + ConvInteger/MatMulInteger done exactly, face by face as onnxruntime at batch 1."""
    blob = _blob_of(real_crops)
    session = _session(real_models["mbf_int8"])
    reference = np.concatenate([session.run(None, {"input.1": blob[i : i + 1]})[0] for i in range(len(blob))])
    graph = convert_model(real_models["mbf_int8"], cache=False)
    ours = np.concatenate([_run_torch(graph, blob[i : i + 1])[0] for i in range(len(blob))])
    cosines = _cosines(ours, reference)
    record_property("int8_min_cosine_batch1", float(cosines.min()))
    assert cosines.min() >= 0.9999
    assert np.abs(ours - reference).max() <= 1e-4 * np.abs(reference).max()


def test_int8_per_face_quantization_makes_batches_match_batch_one(
    real_models: dict[str, Path], real_crops: NDArray[np.uint8]
) -> None:
    blob = _blob_of(real_crops)
    per_face = convert_model(real_models["mbf_int8"], cache=False, per_sample_quantization=True)
    one_by_one = np.concatenate([_run_torch(per_face, blob[i : i + 1])[0] for i in range(len(blob))])
    batched = _run_torch(per_face, blob)[0]
    assert _cosines(batched, one_by_one).min() >= 0.99999
    # Whole-tensor quantization (ONNX semantics) on the same batch matches onnxruntime on that batch instead.
    whole = convert_model(real_models["mbf_int8"], cache=False, per_sample_quantization=False)
    assert _cosines(_run_torch(whole, blob)[0], _run_ort(real_models["mbf_int8"], blob)[0]).min() >= 0.9999


def test_quantized_graphs_stay_float32(real_models: dict[str, Path]) -> None:
    graph = convert_model(real_models["mbf_int8"], dtype="float16", cache=False)
    assert graph.dtype == torch.float32  # integer sums overflow float16


def _dynamic_quantize_graph(path: Path, size: int) -> Path:
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "scale", "zero"], name="dql")
    graph = helper.make_graph(
        [node],
        "dql",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size])],
        [
            helper.make_tensor_value_info("y", TensorProto.UINT8, [size]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("zero", TensorProto.UINT8, []),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    "values",
    [
        np.arange(0.5, 250.0, 1.0, dtype=np.float32),  # scale 1 -> every value a tie: round half to even
        np.array([-3.0, -1.25, 0.0, 0.3, 7.9, 300.0, 1e-3], dtype=np.float32),  # saturation, zero point from the minimum
        np.random.default_rng(5).normal(0.0, 2.0, 97).astype(np.float32),
        np.full(4, -2.0, dtype=np.float32),  # no positive values
    ],
)
def test_dynamic_quantize_linear_matches_onnxruntime_bit_for_bit(tmp_path: Path, values: NDArray[np.float32]) -> None:
    path = _dynamic_quantize_graph(tmp_path / "dql.onnx", values.size)
    y, scale, zero = _run_ort(path, values)
    ours = _run_torch(convert_model(path, cache=False), values)
    np.testing.assert_array_equal(ours[0].astype(np.int64), y.astype(np.int64))
    assert np.float32(ours[1]) == np.float32(scale)
    assert int(ours[2]) == int(zero)


# --------------------------------------------------------------------------------------------------
# Detectors


def _letterboxed(image: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.float32]:
    canvas, _ = letterbox(image, size, size)
    return image_blob(canvas, 127.5, 128.0)


@pytest.mark.parametrize(("short_name", "size"), [("scrfd", (640, 640)), ("det500m", (640, 640)), ("det500m", (640, 480))])
def test_scrfd_outputs_and_decoded_faces_match_onnxruntime(
    real_models: dict[str, Path], solvay_image: NDArray[np.uint8], short_name: str, size: tuple[int, int]
) -> None:
    blob = _letterboxed(solvay_image, size)
    reference = _run_ort(real_models[short_name], blob)
    ours = _run_torch(convert_model(real_models[short_name], cache=False), blob)
    assert len(ours) == len(reference) == 9
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine.shape == theirs.shape
        assert np.abs(mine - theirs).max() <= 1e-3
    width, height = size
    decoded = []
    for outputs in (reference, ours):
        boxes, scores, landmarks = decode_scrfd(outputs, height, width, 0.4)
        keep = nms(boxes, scores, 0.4)
        decoded.append((boxes[keep], landmarks[keep]))  # type: ignore[index]
    assert decoded[0][0].shape[0] >= 20  # Solvay has 29 faces
    assert decoded[0][0].shape == decoded[1][0].shape
    np.testing.assert_allclose(decoded[1][0], decoded[0][0], atol=0.01)
    np.testing.assert_allclose(decoded[1][1], decoded[0][1], atol=0.01)


# --------------------------------------------------------------------------------------------------
# Op coverage (inswapper-style and shape plumbing)


def _initializer(name: str, value: NDArray[Any]) -> Any:
    return numpy_helper.from_array(np.asarray(value), name)


def _op_zoo(path: Path) -> Path:
    """A graph with inswapper's op set and the exporters' shape/pad plumbing, plus detector-style pooling and resizing."""
    rng = np.random.default_rng(7)
    n = helper.make_node
    inits = [
        _initializer("pad_rank", np.array([4], np.int64)),
        _initializer("pad_tail", np.array([1, 1, 1, 1], np.int64)),
        _initializer("minus_one_two", np.array([-1, 2], np.int64)),
        _initializer("slice_start", np.array([-1], np.int64)),
        _initializer("slice_end", np.array([-(2**63) + 1], np.int64)),
        _initializer("slice_axis", np.array([0], np.int64)),
        _initializer("slice_step", np.array([-1], np.int64)),
        _initializer("minus_one", np.array([-1], np.int64)),
        _initializer("conv_w", rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)),
        _initializer("conv_b", rng.normal(0, 0.1, 4).astype(np.float32)),
        _initializer("axes_23", np.array([2, 3], np.int64)),
        _initializer("eps", np.array(1e-8, np.float32)),
        _initializer("gemm_w", rng.normal(0, 0.5, (8, 8)).astype(np.float32)),
        _initializer("gemm_b", rng.normal(0, 0.1, 8).astype(np.float32)),
        _initializer("s0", np.array([0], np.int64)),
        _initializer("s4", np.array([4], np.int64)),
        _initializer("s8", np.array([8], np.int64)),
        _initializer("ax1", np.array([1], np.int64)),
        _initializer("scales2", np.array([1, 1, 2, 2], np.float32)),
        _initializer("two", np.array(2.0, np.float32)),
        _initializer("one", np.array(1.0, np.float32)),
        _initializer("clip_lo", np.array(-0.5, np.float32)),
        _initializer("clip_hi", np.array(0.5, np.float32)),
        _initializer("bn_scale", rng.uniform(0.5, 1.5, 4).astype(np.float32)),
        _initializer("bn_bias", rng.normal(0, 0.1, 4).astype(np.float32)),
        _initializer("bn_mean", rng.normal(0, 0.1, 4).astype(np.float32)),
        _initializer("bn_var", rng.uniform(0.5, 1.5, 4).astype(np.float32)),
        _initializer("slope", rng.uniform(0.1, 0.3, (4, 1, 1)).astype(np.float32)),
        _initializer("nine", np.array([9], np.int64)),
        _initializer("idx01", np.array([0, 1], np.int64)),
    ]
    nodes = [
        # torch.onnx's F.pad plumbing: ConstantOfShape, Concat, Reshape [-1, 2], reversed Slice, Transpose, Reshape, Cast.
        n("ConstantOfShape", ["pad_rank"], ["zeros4"], value=numpy_helper.from_array(np.array([0], np.int64))),
        n("Concat", ["pad_tail", "zeros4"], ["pads8"], axis=0),
        n("Reshape", ["pads8", "minus_one_two"], ["pads_pairs"]),
        n("Slice", ["pads_pairs", "slice_start", "slice_end", "slice_axis", "slice_step"], ["pads_reversed"]),
        n("Transpose", ["pads_reversed"], ["pads_t"], perm=[1, 0]),
        n("Reshape", ["pads_t", "minus_one"], ["pads_flat"]),
        n("Cast", ["pads_flat"], ["pads"], to=TensorProto.INT64),
        n("Pad", ["target", "pads"], ["padded"], mode="reflect"),
        n("Conv", ["padded", "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3]),
        n("LeakyRelu", ["conv"], ["act"], alpha=0.2),
        # Instance norm written op by op.
        n("ReduceMean", ["act"], ["mean"], axes=[2, 3], keepdims=1),
        n("Sub", ["act", "mean"], ["centred"]),
        n("Pow", ["centred", "two"], ["squared"]),
        n("ReduceMean", ["squared"], ["variance"], axes=[2, 3], keepdims=1),
        n("Add", ["variance", "eps"], ["variance_eps"]),
        n("Sqrt", ["variance_eps"], ["std"]),
        n("Div", ["centred", "std"], ["normed"]),
        # Style from the source vector: Gemm, Slice into scale and shift, Unsqueeze to [1, C, 1, 1].
        n("Gemm", ["source", "gemm_w", "gemm_b"], ["style"], transB=1),
        n("Slice", ["style", "s0", "s4", "ax1"], ["style_scale"]),
        n("Slice", ["style", "s4", "s8", "ax1"], ["style_shift"]),
        n("Unsqueeze", ["style_scale", "axes_23"], ["scale4"]),
        n("Unsqueeze", ["style_shift", "axes_23"], ["shift4"]),
        n("Mul", ["normed", "scale4"], ["scaled"]),
        n("Add", ["scaled", "shift4"], ["styled"]),
        n("Relu", ["styled"], ["relu"]),
        n("Resize", ["relu", "", "scales2"], ["up"], mode="linear", coordinate_transformation_mode="half_pixel"),
        n("Tanh", ["up"], ["tanh"]),
        n("Add", ["tanh", "one"], ["tanh1"]),
        n("Div", ["tanh1", "two"], ["unit"]),
        n("BatchNormalization", ["unit", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"], epsilon=1e-5),
        n("PRelu", ["bn", "slope"], ["prelu"]),
        n("Identity", ["prelu"], ["image_out"]),
        # Detector-style: dynamic sizes from Shape/Gather, nearest Resize to 9 x 9, ceil-mode pooling, MaxPool, Sigmoid.
        n("Shape", ["relu"], ["relu_shape"]),
        n("Gather", ["relu_shape", "idx01"], ["batch_channels"], axis=0),
        n("Concat", ["batch_channels", "nine", "nine"], ["size9"], axis=0),
        n(
            "Resize",
            ["relu", "", "", "size9"],
            ["nine_by_nine"],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        ),
        n("AveragePool", ["nine_by_nine"], ["avg"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        n("MaxPool", ["nine_by_nine"], ["max"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("Add", ["avg", "max"], ["pooled"]),
        n("Clip", ["pooled", "clip_lo", "clip_hi"], ["clipped"]),
        n("Softmax", ["clipped"], ["soft"], axis=1),
        n("Sigmoid", ["soft"], ["sig"]),
        n("Transpose", ["sig"], ["nhwc"], perm=[0, 2, 3, 1]),
        n("Reshape", ["nhwc", "minus_one_two"], ["rows"]),
        n("Flatten", ["rows"], ["flat_out"], axis=0),
    ]
    graph = helper.make_graph(
        nodes,
        "zoo",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 16, 16]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 8]),
        ],
        [
            helper.make_tensor_value_info("image_out", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("flat_out", TensorProto.FLOAT, None),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_inswapper_and_plumbing_ops_match_onnxruntime(tmp_path: Path) -> None:
    path = _op_zoo(tmp_path / "zoo.onnx")
    rng = np.random.default_rng(8)
    target = rng.uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)
    source = rng.normal(0, 1, (1, 8)).astype(np.float32)
    reference = _run_ort(path, target, source)
    graph = convert_model(path, cache=False)
    ours = _run_torch(graph, target, source)
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, atol=2e-5, rtol=1e-4)
    # The constant pad plumbing was folded at build time: no Pad-size node runs per call.
    assert len(graph._steps) < len(graph.spec.nodes) - 6


@pytest.mark.parametrize("float16_inputs", [False, True])
def test_synthetic_inswapper_and_yoloface_convert(tmp_path: Path, float16_inputs: bool) -> None:
    swapper = synthetic.build_inswapper_like(tmp_path / "swap.onnx", float16_inputs=float16_inputs)
    dtype = np.float16 if float16_inputs else np.float32
    target = np.random.default_rng(9).uniform(0, 1, (1, 3, 128, 128)).astype(dtype)
    source = np.random.default_rng(10).normal(0, 0.05, (1, 512)).astype(dtype)
    reference = _run_ort(swapper, target, source)[0].astype(np.float32)
    ours = _run_torch(convert_model(swapper, cache=False), target, source)[0]
    np.testing.assert_allclose(ours, reference, atol=2e-3 if float16_inputs else 1e-5)
    detections = np.zeros((1, 20), np.float32)
    detections[0, :5] = [320, 320, 100, 120, 0.9]
    yolo = synthetic.build_yoloface_like(tmp_path / "yolo.onnx", detections)
    image = np.random.default_rng(11).uniform(0, 1, (1, 3, 640, 640)).astype(np.float32)
    np.testing.assert_allclose(_run_torch(convert_model(yolo, cache=False), image)[0], _run_ort(yolo, image)[0], atol=1e-5)


def _graph_with(path: Path, op: str, domain: str = "") -> Path:
    node = helper.make_node(op, ["x"], ["y"], name="odd", domain=domain)
    graph = helper.make_graph(
        [node],
        "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, None)],
    )
    opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("op", "domain", "named"), [("NonZero", "", "NonZero"), ("FusedConv", "com.microsoft", "com.microsoft:FusedConv")]
)
def test_unknown_op_raises_model_conversion_error_naming_it(tmp_path: Path, op: str, domain: str, named: str) -> None:
    path = _graph_with(tmp_path / "odd.onnx", op, domain)
    with pytest.raises(ModelConversionError, match=named) as caught:
        convert_model(path)
    assert "onnxruntime" in str(caught.value)  # the message says what to do instead
    assert not list(tmp_path.glob("*.safetensors"))  # nothing cached for an unconvertible graph


def test_unsupported_attribute_combination_raises(tmp_path: Path) -> None:
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear", coordinate_transformation_mode="asymmetric")
    graph = helper.make_graph(
        [node],
        "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [_initializer("scales", np.array([1, 1, 2, 2], np.float32))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "resize.onnx"))
    with pytest.raises(ModelConversionError, match="asymmetric"):
        convert_model(tmp_path / "resize.onnx", cache=False)


# --------------------------------------------------------------------------------------------------
# Backend choice


def test_auto_on_cpu_keeps_onnxruntime(tiny_recognizer_path: Path) -> None:
    recognizer = load_recognizer(tiny_recognizer_path, providers="cpu", backend="auto", device="cpu")
    assert recognizer.backend.name == "onnxruntime"


def _runner_for(path: Path, backend: str, device: str, dtype: str = "float32") -> ModelRunner:
    """The shared runner's choice for a graph, probed on two seeded rows."""
    options = LoadOptions(providers="cpu", backend=backend, device=device, dtype=dtype)
    model, chosen = open_model(path, options)
    info = model.inputs[0]
    shape = (2, *[dim if isinstance(dim, int) and dim > 0 else 3 for dim in info.shape[1:]])
    feeds = {info.name: np.random.default_rng(0).random(shape, np.float32)}
    return load_runner(model, chosen, options, Probe(feeds, (info.name,)))


def test_auto_falls_back_with_a_warning_when_conversion_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _graph_with(tmp_path / "odd.onnx", "NonZero")
    with caplog.at_level(logging.WARNING, logger="face_identity.runner"):
        assert _runner_for(path, "auto", "meta").name == "onnxruntime"  # any non-CPU device asks for torch
    assert "NonZero" in caplog.text and "onnxruntime" in caplog.text
    with pytest.raises(ModelConversionError, match="NonZero"):
        _runner_for(path, "torch", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch build or machine without CUDA")
def test_unusable_device_is_refused_or_skipped(tiny_recognizer_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="face_identity.convert"):
        assert _runner_for(tiny_recognizer_path, "auto", "cuda", "float16").name == "onnxruntime"
    assert "cannot use device cuda" in caplog.text
    with pytest.raises(ModelConversionError, match="cannot use device cuda"):
        _runner_for(tiny_recognizer_path, "torch", "cuda")


def test_torch_backend_in_load_recognizer(tiny_recognizer_path: Path) -> None:
    reference = load_recognizer(tiny_recognizer_path, providers="cpu")
    recognizer = load_recognizer(tiny_recognizer_path, providers="cpu", backend="torch", device="cpu")
    assert isinstance(recognizer.backend, ModelRunner)
    assert recognizer.backend.name == "torch"
    assert recognizer.backend.describe().startswith("torch cpu float32")
    assert recognizer.batch_size == AUTO_BATCH_CPU
    crops = np.random.default_rng(12).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    ours, theirs = recognizer.embed_crops(crops), reference.embed_crops(crops)
    assert (ours.normalised * theirs.normalised).sum(axis=1).min() >= 0.9999
    tensor = torch.from_numpy(crops).permute(0, 3, 1, 2).float()
    from_tensor = recognizer.embed_tensor(tensor)
    np.testing.assert_allclose(from_tensor.raw, ours.raw, rtol=1e-5, atol=1e-5)
    device_output = recognizer.backend.run_tensor(recognizer.preprocess_tensor(tensor))
    assert isinstance(device_output, torch.Tensor) and device_output.dtype == torch.float32 and device_output.device.type == "cpu"


def test_torch_backend_batches_the_int8_model(real_models: dict[str, Path], real_crops: NDArray[np.uint8]) -> None:
    """Per-face quantization makes the int8 model batch-independent, so the torch backend batches it."""
    reference = load_recognizer(real_models["mbf_int8"], providers="cpu", allow_download=False)
    assert reference.batch_size == 1
    recognizer = load_recognizer(real_models["mbf_int8"], providers="cpu", backend="torch", device="cpu", allow_download=False)
    assert recognizer.batch_size == AUTO_BATCH_CPU
    assert "per-face" in recognizer.backend.describe()
    ours, theirs = recognizer.embed_crops(real_crops), reference.embed_crops(real_crops)
    assert (ours.normalised * theirs.normalised).sum(axis=1).min() >= 0.9999


def test_every_supported_op_has_a_builder() -> None:
    from face_identity.convert.registry import SUPPORTED_OPS, op_builders

    assert set(op_builders()) | {"Constant"} == SUPPORTED_OPS


def test_precision_names_and_devices() -> None:
    assert convert.resolve_dtype("fp16") == torch.float16
    assert convert.resolve_dtype("bf16") == torch.bfloat16
    assert convert.resolve_dtype(torch.float32) == torch.float32
    with pytest.raises(InvalidArgumentError, match="float32, float16 or bfloat16"):
        convert.resolve_dtype("int8")
    with pytest.raises(InvalidArgumentError, match="unknown torch device"):
        convert.resolve_device("warp-drive")
    assert convert.resolve_device("cpu").type == "cpu"
    assert convert.dtype_supported("cpu", "float32")
    with pytest.raises(InvalidArgumentError, match="unknown backend"):
        LoadOptions(backend="tensorflow")
