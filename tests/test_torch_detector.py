"""The torch detector (detect.torch_detector): same faces as the onnxruntime detector, batching, device decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from face_identity.detect import TorchFaceDetector, load_detector, load_torch_detector  # noqa: E402
from face_identity.detect.postprocess import image_blob, letterbox  # noqa: E402
from face_identity.detect.scrfd import decode_scrfd  # noqa: E402
from face_identity.detect.torch_detector import decode_scrfd_tensors  # noqa: E402
from face_identity.images import read_image  # noqa: E402
from face_identity.types import RGBImage  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("short_name", ["scrfd", "det500m"])
def test_torch_detector_finds_the_same_faces(
    real_models: dict[str, Path], photos: list[RGBImage], solvay_image: RGBImage, short_name: str
) -> None:
    detector = load_detector(real_models[short_name], providers="cpu", allow_download=False)
    torch_detector = load_torch_detector(detector, device="cpu", cache=False)
    assert isinstance(torch_detector, TorchFaceDetector)
    for image in [*photos, solvay_image]:
        expected = detector.detect(image)
        found = torch_detector.detect(image)
        assert len(found) == len(expected)
        for mine, theirs in zip(sorted(found, key=lambda f: f.bbox[0]), sorted(expected, key=lambda f: f.bbox[0]), strict=True):
            # The device letterbox resizes in float (then rounds) where cv2 resizes uint8: sub-pixel differences.
            np.testing.assert_allclose(mine.bbox, theirs.bbox, atol=1.5)
            np.testing.assert_allclose(mine.landmarks, theirs.landmarks, atol=1.5)
            assert abs(mine.score - theirs.score) < 0.02


def test_torch_detector_batches_frames_like_single_calls(real_models: dict[str, Path], shared_data: Path) -> None:
    detector = load_detector(real_models["det500m"], providers="cpu", allow_download=False)
    torch_detector = load_torch_detector(detector, device="cpu", cache=False)
    frames = [
        read_image(shared_data / "groups" / name)[:300, :400]
        for name in ("insightface_t1.jpg", "face_recognition_kit_with_rose.jpg")
    ]
    frames.append(np.zeros((300, 400, 3), np.uint8))  # no face: retried alone at smaller sizes and padded
    batched = torch_detector.detect_batch(frames)
    assert [len(f) for f in batched] == [len(torch_detector.detect(frame)) for frame in frames]
    for frame_faces, frame in zip(batched, frames, strict=True):
        for mine, single in zip(frame_faces, torch_detector.detect(frame), strict=True):
            np.testing.assert_allclose(mine.bbox, single.bbox, atol=1e-3)
    assert batched[2] == [] and sum(len(f) for f in batched) >= 3


def test_device_decoding_equals_numpy_decoding(real_models: dict[str, Path], solvay_image: RGBImage) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(real_models["scrfd"]), providers=["CPUExecutionProvider"])
    canvas, _ = letterbox(solvay_image, (640, 640), (640, 640))
    outputs = session.run(None, {session.get_inputs()[0].name: image_blob(canvas, 127.5, 128.0)})
    boxes, scores, landmarks = decode_scrfd(outputs, 640, 640, 0.4)
    candidates = decode_scrfd_tensors([torch.from_numpy(o) for o in outputs], 1, 640, 640, 0.4)
    assert candidates is not None and scores.size >= 29
    np.testing.assert_array_equal(candidates.boxes, boxes)
    np.testing.assert_array_equal(candidates.scores, scores)
    np.testing.assert_array_equal(candidates.landmarks, landmarks)
    assert not candidates.frame.any()
