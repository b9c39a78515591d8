"""The one pipeline (pipeline.analyze) on the CPU: chunking, host and device alignment, torch detector,
streaming a long batch, and onnxruntime's GPU library preload being best effort."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from face_identity import frames as frames_module  # noqa: E402
from face_identity.align import template_points  # noqa: E402
from face_identity.detect import FaceDetector, load_torch_detector  # noqa: E402
from face_identity.embed import ArcFaceRecognizer, load_recognizer  # noqa: E402
from face_identity.errors import InvalidArgumentError  # noqa: E402
from face_identity.frames import Frames  # noqa: E402
from face_identity.pipeline import analyze, detect_faces  # noqa: E402
from face_identity.select import FaceSelection  # noqa: E402
from face_identity.types import Face, RGBImage  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def tiny_ort(tiny_recognizer_path: Path) -> ArcFaceRecognizer:
    """onnxruntime recognizer with a small batch, so chunks cross batch boundaries."""
    return load_recognizer(tiny_recognizer_path, providers="cpu", batch_size=3)


@pytest.fixture(scope="module")
def tiny_torch(tiny_recognizer_path: Path) -> ArcFaceRecognizer:
    return load_recognizer(tiny_recognizer_path, providers="cpu", backend="torch", device="cpu", batch_size=3)


@pytest.fixture(scope="module")
def detector(scrfd_detector: FaceDetector) -> FaceDetector:
    """SCRFD without the smaller-size retries (the blank frame then costs one padded retry, not six)."""
    return scrfd_detector.with_settings(retry_smaller=False)


@pytest.fixture(scope="module")
def reference(detector: FaceDetector, tiny_ort: ArcFaceRecognizer, photos: list[RGBImage]) -> Any:
    return analyze(detector, tiny_ort, photos)


def _same_faces(a: Any, b: Any, atol: float = 0.0) -> None:
    assert len(a.faces) == len(b.faces)
    assert a.faces.image_sizes == b.faces.image_sizes
    for faces_a, faces_b in zip(a.faces.faces_per_image, b.faces.faces_per_image, strict=True):
        assert len(faces_a) == len(faces_b)
        for face_a, face_b in zip(faces_a, faces_b, strict=True):
            np.testing.assert_allclose(face_a.bbox, face_b.bbox, atol=atol)
            np.testing.assert_allclose(face_a.landmarks, face_b.landmarks, atol=atol)
            assert face_a.align_matrix is not None and face_b.align_matrix is not None


def test_host_alignment_equals_pipeline_exactly(
    detector: FaceDetector, tiny_ort: ArcFaceRecognizer, photos: list[RGBImage], reference: Any
) -> None:
    result = analyze(detector, tiny_ort, photos, align_on="host", chunk_frames=2)
    _same_faces(result, reference)
    np.testing.assert_array_equal(result.identity.embeddings, reference.identity.embeddings)
    np.testing.assert_array_equal(result.identity.image_indices, reference.identity.image_indices)
    np.testing.assert_array_equal(result.identity.face_indices, reference.identity.face_indices)


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_device_alignment_close_to_pipeline(
    detector: FaceDetector,
    tiny_ort: ArcFaceRecognizer,
    tiny_torch: ArcFaceRecognizer,
    photos: list[RGBImage],
    reference: Any,
    backend: str,
) -> None:
    recognizer = tiny_ort if backend == "onnxruntime" else tiny_torch
    result = analyze(detector, recognizer, photos, align_on="device", device="cpu")
    _same_faces(result, reference)
    assert reference.identity is not None and len(result.identity) == len(reference.identity) >= 8
    cosines = (result.identity.embeddings * reference.identity.embeddings).sum(axis=1)
    assert cosines.min() >= 0.999  # float grid_sample crops vs cv2's uint8 crops
    assert not np.array_equal(result.identity.embeddings, reference.identity.embeddings)


@pytest.mark.parametrize("align_on", ["host", "device"])
def test_chunked_equals_unchunked(
    detector: FaceDetector, tiny_torch: ArcFaceRecognizer, photos: list[RGBImage], align_on: str
) -> None:
    whole = analyze(detector, tiny_torch, photos, align_on=align_on, chunk_frames=len(photos))
    for chunk in (1, 3):
        chunked = analyze(detector, tiny_torch, photos, align_on=align_on, chunk_frames=chunk)
        _same_faces(chunked, whole)
        np.testing.assert_array_equal(chunked.identity.embeddings, whole.identity.embeddings)
        np.testing.assert_array_equal(chunked.identity.norms, whole.identity.norms)


def test_frames_without_faces_keep_empty_entries(
    detector: FaceDetector, tiny_torch: ArcFaceRecognizer, photos: list[RGBImage]
) -> None:
    result = analyze(detector, tiny_torch, photos, align_on="device")
    assert result.faces.faces_per_image[2] == ()
    assert result.rows_of_image(2) == []
    assert result.faces.image_sizes[2] == (120, 160)
    blank = analyze(detector, tiny_torch, [np.zeros((64, 64, 3), np.uint8)] * 3)
    assert blank.identity is None and blank.faces.face_count == 0 and len(blank.faces) == 3


def test_comfyui_image_tensor_input(detector: FaceDetector, tiny_ort: ArcFaceRecognizer, photos: list[RGBImage]) -> None:
    """A ComfyUI IMAGE (float 0..1, [B, H, W, C], here with an alpha channel) gives what its uint8 frames give."""
    import cv2

    frames = [cv2.resize(photos[0], (320, 384)), cv2.resize(photos[1], (320, 384))]
    image = torch.from_numpy(np.stack(frames)).float() / 255.0
    rgba = torch.cat([image, torch.ones_like(image[..., :1])], dim=3)
    from_tensor = analyze(detector, tiny_ort, rgba, align_on="host")
    from_arrays = analyze(detector, tiny_ort, frames)
    _same_faces(from_tensor, from_arrays)
    np.testing.assert_array_equal(from_tensor.identity.embeddings, from_arrays.identity.embeddings)
    on_device = analyze(detector, tiny_ort, rgba, align_on="device")
    assert (on_device.identity.embeddings * from_arrays.identity.embeddings).sum(axis=1).min() >= 0.999


def test_selection_and_flip_are_applied(detector: FaceDetector, tiny_torch: ArcFaceRecognizer, photos: list[RGBImage]) -> None:
    selection = FaceSelection(max_faces=1)
    result = analyze(detector, tiny_torch, photos, selection, align_on="device")
    assert [len(f) for f in result.faces.faces_per_image] == [1, 1, 0, 1, 1]
    group_faces = result.faces.faces_per_image[3]
    largest = max(detector.detect(photos[3]), key=lambda f: f.area)
    np.testing.assert_allclose(group_faces[0].bbox, largest.bbox)
    flipped = analyze(detector, tiny_torch, photos, selection, flip=True, align_on="device")
    assert not np.allclose(flipped.identity.embeddings, result.identity.embeddings)
    assert detect_faces(detector, photos, selection).face_count == 4


class PlantedDetector:
    """A stand-in detector: every even frame has one face whose landmarks sit on the ArcFace template, scaled to the frame."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: RGBImage, image_index: int = 0, score_threshold: float | None = None) -> list[Face]:
        self.calls += 1
        if image_index % 2:
            return []
        side = min(image.shape[:2])
        landmarks = template_points("arcface_112", side).astype(np.float32)
        return [Face(bbox=np.array([0, 0, side, side], np.float32), score=0.9, landmarks=landmarks, image_index=image_index)]

    def detect_batch(
        self, images: list[RGBImage], score_threshold: float | None = None, on_image_done: Any = None
    ) -> list[list[Face]]:
        """Frames numbered within their chunk, as a real detector does (chunks of an even size keep the parity)."""
        return [self.detect(image, index) for index, image in enumerate(images)]


def test_long_batch_streams_in_small_chunks(tiny_torch: ArcFaceRecognizer, monkeypatch: pytest.MonkeyPatch) -> None:
    frame_count, chunk = 200, 16
    rng = np.random.default_rng(0)
    video = torch.from_numpy(rng.uniform(0, 1, (frame_count, 48, 64, 3)).astype(np.float32))
    largest_chunk = []
    original = Frames.device_groups

    def recording(self: Any, start: int, stop: int, device: Any) -> Any:
        groups = original(self, start, stop, device)
        largest_chunk.append(max(int(group.shape[0]) for group, _ in groups))
        return groups

    monkeypatch.setattr(Frames, "device_groups", recording)
    progress: list[int] = []
    detector = PlantedDetector()
    result = analyze(detector, tiny_torch, video, align_on="device", chunk_frames=chunk, on_frames_done=progress.append)  # type: ignore[arg-type]
    assert detector.calls == frame_count
    assert max(largest_chunk) <= chunk and len(largest_chunk) == -(-frame_count // chunk)
    assert sum(progress) == frame_count
    assert len(result.faces) == frame_count and result.faces.face_count == frame_count // 2
    assert result.identity is not None and len(result.identity) == frame_count // 2
    np.testing.assert_array_equal(result.identity.image_indices, np.arange(0, frame_count, 2))
    monkeypatch.setattr(Frames, "device_groups", original)
    whole = analyze(PlantedDetector(), tiny_torch, video, align_on="device", chunk_frames=frame_count)  # type: ignore[arg-type]
    np.testing.assert_array_equal(result.identity.embeddings, whole.identity.embeddings)


def test_chunk_size_follows_the_memory_budget() -> None:
    per_frame_1080p = 1920 * 1080 * 3 * 9
    assert frames_module.frames_per_chunk(1080, 1920, 1024) == 1024 * 1024 * 1024 // per_frame_1080p
    assert frames_module.frames_per_chunk(1080, 1920, 1) == 1
    assert frames_module.frames_per_chunk(8, 8, 10_000) == frames_module.MAX_CHUNK_FRAMES
    assert frames_module.frames_per_chunk(480, 640, 512, (640, 640)) < frames_module.frames_per_chunk(480, 640, 512)


def test_invalid_arguments(detector: FaceDetector, tiny_torch: ArcFaceRecognizer, photos: list[RGBImage]) -> None:
    with pytest.raises(InvalidArgumentError, match="align_on"):
        analyze(detector, tiny_torch, photos, align_on="gpu")
    with pytest.raises(InvalidArgumentError, match="chunk_frames"):
        analyze(detector, tiny_torch, photos, chunk_frames=0)


# --------------------------------------------------------------------------------------------------
# Torch detector in the stream (the detector itself: test_torch_detector.py)


def test_analyze_with_the_torch_detector(
    detector: FaceDetector, tiny_torch: ArcFaceRecognizer, photos: list[RGBImage], reference: Any
) -> None:
    torch_detector = load_torch_detector(detector, device="cpu", cache=False)
    result = analyze(torch_detector, tiny_torch, photos, chunk_frames=2)
    assert [len(f) for f in result.faces.faces_per_image] == [len(f) for f in reference.faces.faces_per_image]
    _same_faces(result, reference, atol=1.5)
    assert (result.identity.embeddings * reference.identity.embeddings).sum(axis=1).min() >= 0.99


# --------------------------------------------------------------------------------------------------
# onnxruntime's GPU library preload is best effort (the rest of the provider checks live in test_runtime.py)


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_failing_preload_is_logged_and_the_provider_check_still_reports(
    tiny_recognizer_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import onnxruntime

    from face_identity.errors import ProviderUnavailableError
    from face_identity.runtime import open_session

    calls: list[int] = []

    def broken_preload() -> None:
        calls.append(1)
        raise OSError("libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(onnxruntime, "preload_dlls", broken_preload, raising=False)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with caplog.at_level(logging.DEBUG, logger="face_identity.runtime"):
        session = open_session(tiny_recognizer_path, "cuda")
    assert calls == [1]
    assert "preload_dlls() failed" in caplog.text and "libcudnn" in caplog.text
    assert session.active_providers[0] == "CPUExecutionProvider" and not session.on_gpu
    with pytest.raises(ProviderUnavailableError, match="CUDAExecutionProvider"):
        open_session(tiny_recognizer_path, "cuda", strict=True)
    calls.clear()
    open_session(tiny_recognizer_path, "cpu")
    assert calls == []  # a CPU session never touches the GPU libraries
