"""Every small real model in ../shared/data/models converts to torch and matches onnxruntime on real photos.

One row per file (the table below): the kind the library loads it as, and the inputs that kind gets,
built from real photos as that kind's preprocessing does. The bound is the runner's own
``TORCH_MATCH_TOLERANCE`` on its own measure (``probe_difference``), so a model passing here is one the
runner accepts for the torch backend. YuNet and RetinaFace-mnet are families the library refuses
(``runtime`` names them unsupported: their outputs need another decoder), yet they convert as graphs, so
they are rows too. The last test loads the files the library's loaders take, with onnxruntime unimportable.

Also here: the SCRFD exports run a batch of frames in one call (their Resize ``sizes`` are folded from a
batch-1 trace), and the ops only the converter's stand-ins exercised before (ReduceL2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from face_identity.convert import convert_model  # noqa: E402
from face_identity.detect.postprocess import image_blob, letterbox  # noqa: E402
from face_identity.errors import ModelConversionError  # noqa: E402
from face_identity.images import read_image  # noqa: E402
from face_identity.runner import TORCH_MATCH_TOLERANCE, probe_difference  # noqa: E402

DETECTOR_PHOTOS = ("faces/isaac_newton/newton.png", "groups/solvay_conference_1927.png", "groups/face_recognition_two_people.jpg")


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))


@dataclass(frozen=True)
class Inputs:
    """Real photos and aligned crops the rows build their model inputs from (RGB uint8)."""

    photos: list[NDArray[np.uint8]]
    crops: NDArray[np.uint8]  # [4, 112, 112, 3] aligned ArcFace crops of four people


def _canvas(photo: NDArray[np.uint8], size: tuple[int, int] = (640, 640)) -> NDArray[np.uint8]:
    return letterbox(photo, size, size)[0]


def scrfd_inputs(data: Inputs) -> list[NDArray[Any]]:
    """SCRFD: RGB letterboxed to 640, ``(x - 127.5) / 128``, one photo per call."""
    return [image_blob(_canvas(photo), 127.5, 128.0) for photo in data.photos]


def det500m_inputs(data: Inputs) -> list[NDArray[Any]]:
    """det_500m has a dynamic input size: 640x640 and a 640x480 (width x height) canvas."""
    return scrfd_inputs(data)[:2] + [image_blob(_canvas(data.photos[2], (640, 480)), 127.5, 128.0)]


def retinaface_inputs(data: Inputs) -> list[NDArray[Any]]:
    """RetinaFace-mnet (biubug6): BGR minus (104, 117, 123), 640x640."""
    mean = np.array([104, 117, 123], np.float32)
    return [np.ascontiguousarray((_canvas(photo)[..., ::-1] - mean).transpose(2, 0, 1)[None]) for photo in data.photos]


def yunet_inputs(data: Inputs) -> list[NDArray[Any]]:
    """YuNet: BGR 0..255 as float, any size (640x640 here)."""
    return [np.ascontiguousarray(_canvas(photo)[..., ::-1].astype(np.float32).transpose(2, 0, 1)[None]) for photo in data.photos]


def arcface_blob(crops: NDArray[np.uint8], dtype: type = np.float32) -> NDArray[Any]:
    """``[N, 3, 112, 112]`` RGB ``(x - 127.5) / 127.5``."""
    return np.ascontiguousarray(((crops.astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)).astype(dtype)


def batch_of_four(data: Inputs) -> list[NDArray[Any]]:
    return [arcface_blob(data.crops)]


def one_face_per_call(data: Inputs) -> list[NDArray[Any]]:
    """The int8 model quantizes per batch (and the fp16 export takes batch 1): one face per call."""
    return [arcface_blob(data.crops[i : i + 1]) for i in range(len(data.crops))]


def one_face_per_call_fp16(data: Inputs) -> list[NDArray[Any]]:
    return [arcface_blob(data.crops[i : i + 1], np.float16) for i in range(len(data.crops))]


def pfld_inputs(data: Inputs) -> list[NDArray[Any]]:
    """PFLD: ``[N, 3, 112, 112]`` RGB in 0..1 (face crops)."""
    return [np.ascontiguousarray((data.crops.astype(np.float32) / 255.0).transpose(0, 3, 1, 2))]


@dataclass(frozen=True)
class Row:
    file: str
    kind: str
    inputs: Callable[[Inputs], list[NDArray[Any]]]


ROWS = [
    Row("scrfd_2.5g_bnkps_640.onnx", "detector (SCRFD-2.5G, fixed 640)", scrfd_inputs),
    Row("det_500m.onnx", "detector (SCRFD-500M, dynamic size)", det500m_inputs),
    Row("w600k_mbf_int8_dynamic.onnx", "recognizer (ArcFace MobileFaceNet, dynamic int8)", one_face_per_call),
    Row("mobilefacenet_foamliu_128d.onnx", "recognizer (foamliu MobileFaceNet fp32)", batch_of_four),
    Row("mobilefacenet_foamliu_128d_fp16.onnx", "recognizer (foamliu MobileFaceNet, fp16 I/O)", one_face_per_call_fp16),
    Row("landmarks_68_pfld.onnx", "landmarker (PFLD 68 points)", pfld_inputs),
    Row("retinaface_mnet025_640.onnx", "not loaded by the library (RetinaFace family); converts as a graph", retinaface_inputs),
    Row("face_detection_yunet_2026may.onnx", "not loaded by the library (YuNet family); converts as a graph", yunet_inputs),
]


@pytest.fixture(scope="module")
def inputs(shared_data: Path, real_crops: NDArray[np.uint8]) -> Inputs:
    return Inputs([read_image(shared_data / relative) for relative in DETECTOR_PHOTOS], real_crops)


def test_the_table_covers_every_model_file(shared_data: Path) -> None:
    assert {path.name for path in (shared_data / "models").glob("*.onnx")} == {row.file for row in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.file.removesuffix(".onnx"))
def test_real_model_converts_and_matches_onnxruntime(row: Row, inputs: Inputs, shared_data: Path) -> None:
    path = shared_data / "models" / row.file
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    graph = convert_model(path, cache=False)
    tolerance = TORCH_MATCH_TOLERANCE[str(graph.dtype).removeprefix("torch.")]
    for blob in row.inputs(inputs):
        expected = [np.asarray(output, np.float32) for output in session.run(None, {name: blob})]
        with torch.inference_mode():
            produced = [t.float().cpu().numpy() for t in graph(torch.from_numpy(blob))]
        assert probe_difference(expected, produced) <= tolerance, f"{row.file} ({row.kind}) on a {blob.shape} input"


@pytest.mark.parametrize("file", ["scrfd_2.5g_bnkps_640.onnx", "det_500m.onnx"])
def test_scrfd_exports_run_a_batch_of_frames_in_one_call(file: str, inputs: Inputs, shared_data: Path) -> None:
    """Their Resize ``sizes`` keep N and C (2.5G: folded to [1, 24, 40, 40]; 500M: from Shape): a batch of 3 keeps 3.

    The outputs' own Transpose + Reshape decide where each frame's rows land: 2.5G (``[0, 2, 3, 1]``) lays the
    frames end to end; 500M (``[2, 3, 0, 1]``) interleaves them per anchor cell of 2 anchors.
    """
    path = shared_data / "models" / file
    blobs = scrfd_inputs(inputs)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    per_frame = [session.run(None, {session.get_inputs()[0].name: blob}) for blob in blobs]
    with torch.inference_mode():
        batched = [t.numpy() for t in convert_model(path, cache=False)(torch.from_numpy(np.concatenate(blobs)))]
    assert len(batched) == len(per_frame[0]) == 9
    for index, output in enumerate(batched):
        frames = [outputs[index] for outputs in per_frame]
        if file == "det_500m.onnx":  # [cells * 2, k] per frame -> [cells, frames, 2 * k]
            expected = np.stack([frame.reshape(-1, 2 * frame.shape[-1]) for frame in frames], axis=1).reshape(-1)
        else:
            expected = np.concatenate([frame.reshape(-1) for frame in frames])
        assert probe_difference([expected], [output.reshape(-1)]) <= TORCH_MATCH_TOLERANCE["float32"]


def _save(path: Path, nodes: list[Any], inputs: list[Any], initializers: list[Any], opset: int = 13) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _resize_to(path: Path, sizes: list[int]) -> Path:
    node = helper.make_node(
        "Resize", ["x", "", "", "sizes"], ["y"], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 4, 5])
    return _save(path, [node], [x], [numpy_helper.from_array(np.array(sizes, np.int64), "sizes")])


def test_constant_batch_one_sizes_keep_the_batch(tmp_path: Path) -> None:
    """Nearest/asymmetric/floor to a non-integer factor (4x5 -> 7x9), equal to onnxruntime frame by frame."""
    path = _resize_to(tmp_path / "resize.onnx", [1, 3, 7, 9])
    frames = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {"x": frames[i : i + 1]})[0] for i in range(2)])
    with torch.inference_mode():
        produced = convert_model(path, cache=False)(torch.from_numpy(frames))[0].numpy()
    np.testing.assert_array_equal(produced, expected)


@pytest.mark.parametrize("sizes", [[1, 6, 8, 10], [2, 3, 8, 10], [3, 8, 10]])
def test_sizes_that_change_channels_or_batch_are_refused(tmp_path: Path, sizes: list[int]) -> None:
    graph = convert_model(_resize_to(tmp_path / "resize.onnx", sizes), cache=False)
    with pytest.raises(ModelConversionError, match="batch or channel"), torch.inference_mode():
        graph(torch.zeros((3, 3, 4, 5)))


@pytest.mark.parametrize(("axes", "keepdims"), [([1], 1), ([2, 3], 0), (None, 1)])
def test_reduce_l2_matches_onnxruntime(tmp_path: Path, axes: list[int] | None, keepdims: int) -> None:
    """ReduceL2 (a crossface/SimSwap-style L2 normalisation); float16 too, where x**2 alone would overflow."""
    attributes: dict[str, Any] = {"keepdims": keepdims} | ({"axes": axes} if axes is not None else {})
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5])
    path = _save(tmp_path / "l2.onnx", [helper.make_node("ReduceL2", ["x"], ["y"], **attributes)], [x], [])
    values = np.random.default_rng(1).normal(size=(2, 3, 4, 5)).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": values})[0]
    with torch.inference_mode():
        produced = convert_model(path, cache=False)(torch.from_numpy(values))[0].numpy()
        large = convert_model(path, dtype="float16", cache=False)(torch.from_numpy(values * 1000))[0].float().numpy()
    np.testing.assert_allclose(produced, expected, rtol=1e-5, atol=1e-6)
    assert np.isfinite(large).all()
    np.testing.assert_allclose(large, expected * 1000, rtol=5e-3)


LOADABLE = {
    "scrfd_2.5g_bnkps_640.onnx": "detector",
    "det_500m.onnx": "detector",
    "w600k_mbf_int8_dynamic.onnx": "recognizer",
    "mobilefacenet_foamliu_128d.onnx": "recognizer",
    "mobilefacenet_foamliu_128d_fp16.onnx": "recognizer",
}
"""Files the library's own loaders take by path (the PFLD landmarker needs catalog facts; its graph row is above)."""


def _library_results(file: str, inputs: Inputs, shared_data: Path, backend: str) -> list[NDArray[np.float32]]:
    """A detector's boxes and landmarks per photo, or a recognizer's normalised embeddings, through the library."""
    from face_identity.detect.loading import load_face_detector
    from face_identity.embed import load_recognizer

    path = shared_data / "models" / file
    if LOADABLE[file] == "detector":
        detector = load_face_detector(path, backend=backend)
        found = detector.detect_batch([photo for photo in inputs.photos for _ in range(2)])  # same-size pairs: batches of 2
        return [
            np.concatenate([np.stack([f.bbox for f in faces]), np.stack([f.landmarks for f in faces]).reshape(len(faces), -1)], 1)
            for faces in found
        ]
    recognizer = load_recognizer(path, backend=backend, batch_size=1)
    return [recognizer.embed_crops(inputs.crops).normalised]


@pytest.mark.parametrize("file", sorted(LOADABLE))
def test_library_loads_real_model_without_onnxruntime(
    file: str, inputs: Inputs, shared_data: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With onnxruntime unimportable, ``auto`` runs the torch conversion and gives onnxruntime's faces and embeddings."""
    import sys

    expected = _library_results(file, inputs, shared_data, "onnxruntime")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    produced = _library_results(file, inputs, shared_data, "auto")
    assert "onnxruntime is not installed" in caplog.text  # the torch conversion ran
    assert [a.shape for a in produced] == [e.shape for e in expected]
    for mine, theirs in zip(produced, expected, strict=True):
        if LOADABLE[file] == "recognizer":
            assert (mine * theirs).sum(axis=1).min() >= 1 - TORCH_MATCH_TOLERANCE["float32"]  # cosine per face
            continue
        # Same faces: each of onnxruntime's has one within 3 % of its width (the device letterbox rounds differently).
        for face in theirs:
            nearest = mine[np.abs(mine - face).max(axis=1).argmin()]
            assert np.abs(nearest - face).max() <= 0.03 * (face[2] - face[0])
