"""ArcFace embedding (batching, preprocessing inferred from the graph, fixed/fp16/int8 models, flip TTA),
ONNX graph facts, and the detect -> align -> embed pipeline on a mixed batch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.align import align_faces
from face_identity.detect import FaceDetector
from face_identity.devtools import synthetic
from face_identity.embed import AUTO_BATCH_CPU, ArcFaceRecognizer, EmbeddingResult, identity_from_embeddings, load_recognizer
from face_identity.errors import InvalidArgumentError, InvalidImageError, ModelFileError, ModelMismatchError
from face_identity.images import read_image
from face_identity.onnx_graph import facts_from_proto, last_initializer, load_model_proto, read_graph_facts
from face_identity.pipeline import Analysis, analyze, detect_faces
from face_identity.select import FaceSelection
from face_identity.types import FaceBatch


def recognizer_at(path: Path, batch_size: int | None = None) -> ArcFaceRecognizer:
    return load_recognizer(path, providers="cpu", batch_size=batch_size, allow_download=False)


def cosine_rows(first: NDArray[np.floating], second: NDArray[np.floating]) -> NDArray[np.float64]:
    a, b = np.asarray(first, np.float64), np.asarray(second, np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class RecordingBackend:
    """Wraps a backend and keeps every blob it is asked to run."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.name = backend.name
        self.blobs: list[NDArray[np.float32]] = []

    def run(self, blob: NDArray[np.float32]) -> NDArray[np.float32]:
        self.blobs.append(np.array(blob, copy=True))
        return self.backend.run(blob)

    def describe(self) -> str:
        return self.backend.describe()


@pytest.fixture(scope="module")
def crops() -> NDArray[np.uint8]:
    """Seven 112 x 112 RGB uint8 crops: smooth random fields (so mirroring changes them) with noise."""
    rng = np.random.default_rng(12)
    ys, xs = np.mgrid[:112, :112] / 111.0
    fields = []
    for _ in range(7):
        coefficients = rng.normal(0, 1, (3, 4))
        channels = [c[0] + c[1] * xs + c[2] * ys + c[3] * xs * ys for c in coefficients]
        image = np.stack(channels, axis=-1) * 60 + 128 + rng.normal(0, 8, (112, 112, 3))
        fields.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(fields)


@pytest.fixture(scope="module")
def tiny(tiny_recognizer_path: Path) -> ArcFaceRecognizer:
    return recognizer_at(tiny_recognizer_path)


# --- batching and outputs ---------------------------------------------------------------------------------


def test_tiny_recognizer_properties(tiny: ArcFaceRecognizer) -> None:
    assert tiny.input_size == 112 and tiny.dimension == 512 and tiny.template == "arcface_112"
    assert tiny.dynamic_batch and tiny.fixed_batch is None
    assert tiny.batch_size == AUTO_BATCH_CPU
    assert tiny.model_id.startswith("tiny_iresnet@")
    assert (tiny.facts.input_mean, tiny.facts.input_std) == (127.5, 127.5)


def test_batched_equals_per_face(tiny: ArcFaceRecognizer, crops: NDArray[np.uint8]) -> None:
    batched = tiny.embed_crops(crops)
    single = np.concatenate([tiny.embed_crops(crops[i : i + 1]).raw for i in range(len(crops))])
    np.testing.assert_allclose(batched.raw, single, rtol=1e-5, atol=1e-5 * np.abs(single).max())
    assert cosine_rows(batched.raw, single).min() > 0.99999


@pytest.mark.parametrize("batch_size,calls", [(1, [1] * 7), (3, [3, 3, 1]), (32, [7])])
def test_chunking_gives_identical_results(
    tiny_recognizer_path: Path, crops: NDArray[np.uint8], tiny: ArcFaceRecognizer, batch_size: int, calls: list[int]
) -> None:
    recognizer = recognizer_at(tiny_recognizer_path, batch_size=batch_size)
    assert recognizer.batch_size == batch_size
    recorder = RecordingBackend(recognizer.backend)
    recognizer.backend = recorder
    progress: list[int] = []
    result = recognizer.embed_crops(crops, on_chunk=progress.append)
    assert progress == calls and [b.shape[0] for b in recorder.blobs] == calls
    reference = tiny.embed_crops(crops)
    np.testing.assert_allclose(result.normalised, reference.normalised, rtol=0, atol=1e-5)
    assert cosine_rows(result.raw, reference.raw).min() > 0.99999


def test_raw_norms_and_normalised_are_consistent(tiny: ArcFaceRecognizer, crops: NDArray[np.uint8]) -> None:
    result = tiny.embed_crops(crops)
    assert len(result) == 7
    assert result.raw.shape == result.normalised.shape == (7, 512) and result.norms.shape == (7,)
    assert result.raw.dtype == result.normalised.dtype == result.norms.dtype == np.float32
    np.testing.assert_allclose(result.norms, np.sqrt((result.raw.astype(np.float64) ** 2).sum(axis=1)), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(result.normalised, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(result.normalised * result.norms[:, None], result.raw, rtol=1e-5, atol=1e-6)
    # Distinct crops give distinct embeddings (the model is not constant).
    off_diagonal = (result.normalised @ result.normalised.T)[~np.eye(7, dtype=bool)]
    assert off_diagonal.max() < 0.999


def test_onnxruntime_backend_declares_its_capabilities(tiny: ArcFaceRecognizer, crops: NDArray[np.uint8]) -> None:
    """The protocol's capabilities, read without getattr: no torch device, CPU here, batch rule left to the graph."""
    torch = pytest.importorskip("torch")
    backend = tiny.backend
    assert backend.device is None and backend.on_gpu is False and backend.batch_independent is False
    blob = tiny.preprocess(crops[:3])
    from_tensor = backend.run_tensor(torch.from_numpy(blob))
    assert isinstance(from_tensor, torch.Tensor) and from_tensor.device.type == "cpu"
    np.testing.assert_array_equal(from_tensor.numpy(), backend.run(blob))


def test_embedding_result_of_zero_rows() -> None:
    result = EmbeddingResult.from_raw(np.array([[0.0, 0.0], [3.0, 4.0]]))
    assert result.norms.tolist() == [0.0, 5.0]
    np.testing.assert_allclose(result.normalised, [[0.0, 0.0], [0.6, 0.8]], rtol=1e-6)


def test_no_crops_give_an_empty_result(tiny: ArcFaceRecognizer) -> None:
    result = tiny.embed_crops(np.zeros((0, 112, 112, 3), np.uint8))
    assert result.raw.shape == (0, 512) and len(result) == 0
    with pytest.raises(InvalidArgumentError):
        identity_from_embeddings(result, tiny.model_id)


def test_flip_tta_is_the_mean_of_crop_and_mirror(tiny: ArcFaceRecognizer, crops: NDArray[np.uint8]) -> None:
    flipped = tiny.embed_crops(crops, flip=True)
    plain = tiny.embed_crops(crops).raw
    mirrored = tiny.embed_crops(np.ascontiguousarray(crops[:, :, ::-1])).raw
    np.testing.assert_allclose(flipped.raw, (plain + mirrored) / 2, rtol=1e-5, atol=1e-6)
    assert cosine_rows(plain, mirrored).max() < 0.9999  # the mirror really differs, so the test can fail


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 112, 112, 4), np.uint8),
        np.zeros((112, 112, 3), np.uint8),
        np.zeros((2, 112, 112, 3), np.float32),
        np.zeros((2, 128, 128, 3), np.uint8),
        np.zeros((2, 3, 112, 112), np.uint8),
    ],
    ids=["rgba", "no-batch-axis", "float", "wrong-size", "nchw"],
)
def test_wrong_crops_raise(tiny: ArcFaceRecognizer, bad: NDArray[np.generic]) -> None:
    with pytest.raises(InvalidImageError, match="Align faces first"):
        tiny.embed_crops(bad)


# --- preprocessing inferred from the graph -----------------------------------------------------------------------


def self_normalising_graph(path: Path, sub_name: str, mul_name: str, filler_nodes: int = 0) -> Path:
    """``[N,3,112,112] -> [N,3]``: (x - 127.5) * (1/127.5) inside the graph, then the per-channel mean.

    ``filler_nodes`` Identity nodes come first, pushing Sub/Mul out of insightface's first-8 window.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, current = [], "data"
    for index in range(filler_nodes):
        nodes.append(helper.make_node("Identity", [current], [f"filler_{index}"], name=f"Identity_{index}"))
        current = f"filler_{index}"
    nodes += [
        helper.make_node("Sub", [current, "mean"], ["centred"], name=sub_name),
        helper.make_node("Mul", ["centred", "scale"], ["scaled"], name=mul_name),
        helper.make_node("GlobalAveragePool", ["scaled"], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["embedding"], name="flatten", axis=1),
    ]
    initializers = [
        numpy_helper.from_array(np.array(127.5, np.float32), "mean"),
        numpy_helper.from_array(np.array(1.0 / 127.5, np.float32), "scale"),
    ]
    graph = helper.make_graph(
        nodes,
        "normalising",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 3])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("sub_name,mul_name", [("Sub_0", "Mul_1"), ("_minusscalar0", "_mulscalar0")])
def test_mxnet_style_graph_gets_raw_pixels(tmp_path: Path, crops: NDArray[np.uint8], sub_name: str, mul_name: str) -> None:
    recognizer = recognizer_at(self_normalising_graph(tmp_path / "mx.onnx", sub_name, mul_name))
    assert (recognizer.facts.input_mean, recognizer.facts.input_std) == (0.0, 1.0)
    recorder = RecordingBackend(recognizer.backend)
    recognizer.backend = recorder
    result = recognizer.embed_crops(crops)
    fed = np.concatenate(recorder.blobs)
    np.testing.assert_array_equal(fed, crops.astype(np.float32).transpose(0, 3, 1, 2))
    # The graph normalises once itself: its output is the channel means of (x - 127.5) / 127.5, RGB order kept.
    expected = ((crops.astype(np.float64) - 127.5) / 127.5).mean(axis=(1, 2))
    np.testing.assert_allclose(result.raw, expected, atol=1e-5)


def test_plain_graph_gets_insightface_normalisation(tmp_path: Path, tiny: ArcFaceRecognizer, crops: NDArray[np.uint8]) -> None:
    recorder = RecordingBackend(tiny.backend)
    tiny.backend = recorder
    try:
        tiny.embed_crops(crops[:2])
    finally:
        tiny.backend = recorder.backend
    expected = ((crops[:2].astype(np.float64) - 127.5) / 127.5).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(recorder.blobs[0], expected, rtol=0, atol=1e-6)
    assert recorder.blobs[0].dtype == np.float32 and recorder.blobs[0].flags.c_contiguous
    # Sub/Mul outside the first 8 nodes do not count (insightface looks at graph.node[:8]).
    late = recognizer_at(self_normalising_graph(tmp_path / "late.onnx", "Sub_0", "Mul_1", filler_nodes=7))
    assert (late.facts.input_mean, late.facts.input_std) == (127.5, 127.5)


def test_graph_facts_rules(tiny_recognizer_path: Path) -> None:
    model = load_model_proto(tiny_recognizer_path)
    assert (facts_from_proto(model).input_mean, facts_from_proto(model).input_std) == (127.5, 127.5)
    model.graph.node[0].name = "Sub_first"
    assert facts_from_proto(model).input_mean == 127.5  # Sub alone is not enough
    model.graph.node[1].name = "Mul_second"
    facts = facts_from_proto(model)
    assert (facts.input_mean, facts.input_std) == (0.0, 1.0)
    assert "Conv" in facts.op_types and not facts.batch_dependent
    model.graph.node[0].name, model.graph.node[1].name = "conv_first", "Mul_second"
    assert facts_from_proto(model).input_mean == 127.5


def test_load_model_proto_rejects_garbage(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.onnx"
    garbage.write_bytes(b"\x00\x01 definitely not a protobuf" * 10)
    with pytest.raises(ModelFileError, match="broken.onnx"):
        read_graph_facts(garbage)


def test_last_initializer_is_the_emap(tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    path = synthetic.build_inswapper_like(tmp_path / "swapper.onnx", dimension=64)
    emap = last_initializer(path)
    expected = numpy_helper.to_array(onnx.load(str(path)).graph.initializer[-1])
    assert emap.shape == (64, 64) and emap.dtype == np.float32
    assert np.array_equal(emap, expected)


def test_input_name_is_read_from_the_session(tmp_path: Path, crops: NDArray[np.uint8]) -> None:
    config = synthetic.IResNetConfig(
        layers=(1, 1, 1, 1), widths=(8, 8, 16, 16), stem=8, embedding=128, input_name="data", output_name="fc1"
    )
    recognizer = recognizer_at(synthetic.build_iresnet(tmp_path / "named.onnx", config, seed=3))
    assert recognizer.backend.input_names == ("data",)  # type: ignore[attr-defined]
    assert recognizer.dimension == 128
    assert recognizer.embed_crops(crops[:2]).raw.shape == (2, 128)


# --- fixed batch, float16 and int8 models -----------------------------------------------------------------------


def test_fixed_batch_model_runs_face_by_face(tmp_path: Path, crops: NDArray[np.uint8]) -> None:
    fixed = recognizer_at(synthetic.build_fixed_batch_recognizer(tmp_path / "fixed.onnx", seed=1), batch_size=16)
    assert fixed.fixed_batch == 1 and fixed.batch_size == 1 and not fixed.dynamic_batch
    recorder = RecordingBackend(fixed.backend)
    fixed.backend = recorder
    result = fixed.embed_crops(crops)
    assert [b.shape[0] for b in recorder.blobs] == [1] * 7
    # The same weights with a dynamic batch axis (same builder, same seed) give the same embeddings.
    dynamic = recognizer_at(synthetic.build_iresnet(tmp_path / "dynamic.onnx", synthetic.TINY_IRESNET, seed=1))
    np.testing.assert_allclose(result.normalised, dynamic.embed_crops(crops).normalised, atol=1e-5)


def test_float16_input_model(tmp_path: Path, crops: NDArray[np.uint8]) -> None:
    half = recognizer_at(synthetic.build_fixed_batch_recognizer(tmp_path / "half.onnx", float16_input=True, seed=1))
    assert set(half.backend.input_dtypes.values()) == {np.float16}  # type: ignore[attr-defined]
    assert half.backend.input_names == ("input0",)  # type: ignore[attr-defined]
    full = recognizer_at(synthetic.build_fixed_batch_recognizer(tmp_path / "full.onnx", seed=1))
    half_result, full_result = half.embed_crops(crops), full.embed_crops(crops)
    assert half_result.raw.dtype == np.float32
    assert cosine_rows(half_result.raw, full_result.raw).min() > 0.999


def test_real_fp16_mobilefacenet_matches_fp32(real_models: dict[str, Path], real_crops: NDArray[np.uint8]) -> None:
    fp32 = recognizer_at(real_models["foamliu"])
    fp16 = recognizer_at(real_models["foamliu_fp16"])
    assert set(fp16.backend.input_dtypes.values()) == {np.float16} and fp16.batch_size == 1  # type: ignore[attr-defined]
    assert fp32.dimension == fp16.dimension == 128
    first, second = fp32.embed_crops(real_crops), fp16.embed_crops(real_crops)
    assert cosine_rows(first.raw, second.raw).min() > 0.99
    # Different people stay apart in both (so the agreement above is not trivial).
    assert abs(float(first.normalised[0] @ first.normalised[1])) < 0.6


def test_int8_model_gets_batch_size_one(
    real_models: dict[str, Path], real_crops: NDArray[np.uint8], caplog: pytest.LogCaptureFixture
) -> None:
    automatic = recognizer_at(real_models["mbf_int8"])
    assert automatic.facts.batch_dependent and automatic.batch_size == 1
    assert automatic.dimension == 512
    recorder = RecordingBackend(automatic.backend)
    automatic.backend = recorder
    result = automatic.embed_crops(real_crops)
    assert [b.shape[0] for b in recorder.blobs] == [1, 1, 1, 1]
    with caplog.at_level(logging.WARNING, logger="face_identity.embed"):
        forced = recognizer_at(real_models["mbf_int8"], batch_size=4)
    assert forced.batch_size == 4 and "quantizes activations per batch" in caplog.text
    # Batch 1 is reproducible: the same face alone gives the same embedding as in the per-face loop.
    alone = automatic.embed_crops(real_crops[2:3])
    np.testing.assert_allclose(alone.raw[0], result.raw[2], rtol=0, atol=1e-6)


def test_a_detector_is_not_a_recognizer(real_models: dict[str, Path]) -> None:
    with pytest.raises(ModelMismatchError, match="detector"):
        recognizer_at(real_models["scrfd"])


# --- embed_faces and the pipeline --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_batch(shared_data: Path, newton_image: NDArray[np.uint8]) -> list[NDArray[np.uint8]]:
    """Image 0: one face; image 1: none (grey); image 2: two faces (Obama left, Biden right)."""
    return [
        newton_image,
        np.full((240, 320, 3), 128, np.uint8),
        read_image(shared_data / "groups" / "face_recognition_two_people.jpg"),
    ]


class CachedDetector:
    """Answers ``detect_batch`` for the mixed batch from one real detection run (keeps the pipeline tests fast)."""

    def __init__(self, detector: FaceDetector, images: list[NDArray[np.uint8]]) -> None:
        self.images = images
        self.results = detector.detect_batch(images)

    def detect_batch(
        self, images: list[NDArray[np.uint8]], score_threshold: float | None = None, on_image_done: Any = None
    ) -> list[list[Any]]:
        answers = []
        for index, image in enumerate(images):
            known = [i for i, candidate in enumerate(self.images) if candidate is image]
            assert known, "CachedDetector only knows the mixed batch's images"
            answers.append([face.__class__(face.bbox, face.score, face.landmarks, index) for face in self.results[known[0]]])
            if on_image_done is not None:
                on_image_done(index)
        return answers


@pytest.fixture(scope="module")
def quick_detector(scrfd_detector: FaceDetector, mixed_batch: list[NDArray[np.uint8]]) -> FaceDetector:
    return CachedDetector(scrfd_detector.with_settings(retry_smaller=False, pad_retry=False), mixed_batch)  # type: ignore[return-value]


def test_detect_faces_keeps_empty_images(
    scrfd_detector: FaceDetector, quick_detector: FaceDetector, mixed_batch: list[NDArray[np.uint8]]
) -> None:
    done: list[int] = []
    batch = detect_faces(
        scrfd_detector.with_settings(retry_smaller=False, pad_retry=False), mixed_batch, on_image_done=done.append
    )
    assert done == [0, 1, 2]
    assert isinstance(batch, FaceBatch) and len(batch) == 3
    assert [len(f) for f in batch.faces_per_image] == [1, 0, 2] and batch.face_count == 3
    assert batch.image_sizes == tuple(image.shape[:2] for image in mixed_batch)
    assert [f.image_index for f in batch.all_faces()] == [0, 2, 2]
    left_first = detect_faces(quick_detector, mixed_batch, FaceSelection(order="left-right"))
    obama, biden = left_first.faces_per_image[2]
    assert obama.bbox[0] < biden.bbox[0]
    only_right = detect_faces(quick_detector, mixed_batch, FaceSelection(order="left-right", indices=(1,)))
    assert [len(f) for f in only_right.faces_per_image] == [0, 0, 1]
    assert np.array_equal(only_right.faces_per_image[2][0].bbox, biden.bbox)


def test_analyze_given_faces_rows_follow_images_and_faces(
    quick_detector: FaceDetector, tiny: ArcFaceRecognizer, mixed_batch: list[NDArray[np.uint8]]
) -> None:
    faces = detect_faces(quick_detector, mixed_batch, FaceSelection(order="left-right"))
    analysis = analyze(None, tiny, mixed_batch, faces=faces)
    assert isinstance(analysis, Analysis) and analysis.identity is not None
    identity = analysis.identity
    assert len(identity) == 3 and identity.model_id == tiny.model_id
    assert identity.image_indices.tolist() == [0, 2, 2]
    assert identity.face_indices.tolist() == [0, 0, 1]
    assert analysis.rows_of_image(0) == [0] and analysis.rows_of_image(1) == [] and analysis.rows_of_image(2) == [1, 2]
    assert analysis.rows_of_image(5) == []
    assert [len(f) for f in analysis.faces.faces_per_image] == [1, 0, 2]
    assert all(face.align_matrix is not None and face.crop_size == 112 for face in analysis.faces.all_faces())
    # Each row equals the embedding of that face aligned and embedded on its own.
    for row, (image_index, face_index) in enumerate(zip(identity.image_indices, identity.face_indices, strict=True)):
        face = faces.faces_per_image[image_index][face_index]
        crop, _ = align_faces(mixed_batch[image_index], [face], "arcface_112", 112)
        alone = tiny.embed_crops(crop)
        np.testing.assert_allclose(identity.embeddings[row], alone.normalised[0], atol=1e-5)
        assert identity.norms[row] == pytest.approx(float(alone.norms[0]), rel=1e-5)
        np.testing.assert_allclose(identity.bboxes[row], face.bbox)
        np.testing.assert_allclose(identity.landmarks[row], face.landmarks)


def test_analyze_matches_the_steps_and_handles_no_faces(
    quick_detector: FaceDetector, tiny: ArcFaceRecognizer, mixed_batch: list[NDArray[np.uint8]]
) -> None:
    selection = FaceSelection(order="large-small", max_faces=1)
    analysis = analyze(quick_detector, tiny, mixed_batch, selection)
    assert analysis.identity is not None and analysis.identity.image_indices.tolist() == [0, 2]
    stepwise = analyze(None, tiny, mixed_batch, faces=detect_faces(quick_detector, mixed_batch, selection))
    assert stepwise.identity is not None
    np.testing.assert_allclose(analysis.identity.embeddings, stepwise.identity.embeddings, atol=1e-6)
    flipped = analyze(quick_detector, tiny, mixed_batch, selection, flip=True)
    assert flipped.identity is not None
    assert not np.allclose(flipped.identity.embeddings, analysis.identity.embeddings, atol=1e-4)
    empty = analyze(quick_detector, tiny, [mixed_batch[1], mixed_batch[1]])
    assert empty.identity is None and empty.rows_of_image(0) == []
    assert [len(f) for f in empty.faces.faces_per_image] == [0, 0]


def test_embed_faces_checks_lengths(tiny: ArcFaceRecognizer, mixed_batch: list[NDArray[np.uint8]]) -> None:
    with pytest.raises(InvalidArgumentError):
        tiny.embed_faces(mixed_batch, [[]])
    result, aligned = tiny.embed_faces(mixed_batch, [[], [], []])
    assert len(result) == 0 and aligned == []
