"""Face detection: SCRFD decoding, NMS, letterbox, YOLOFace rows, retries, and the real SCRFD models on real photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

import face_identity.detect.onnx_detector as detect_module
from face_identity.align import alignment_matrix
from face_identity.detect import DetectionSettings, FaceDetector, load_detector, pad_retry_margin, retry_fit_sizes
from face_identity.detect.postprocess import anchor_centres, image_blob, letterbox, nms
from face_identity.detect.scrfd import decode_scrfd, layout_for_outputs
from face_identity.detect.yoloface import decode_yoloface
from face_identity.devtools import synthetic
from face_identity.errors import InvalidArgumentError, InvalidImageError, ModelMismatchError, ModelOutputError
from face_identity.geometry import warp_face
from face_identity.images import read_image
from face_identity.runtime import ModelSession, TensorInfo

STRIDES = (8, 16, 32)


# --- helpers -------------------------------------------------------------------------------------------------


def empty_scrfd_outputs(height: int, width: int, batched: bool = False, landmarks: bool = True) -> list[NDArray[np.float32]]:
    """All-zero SCRFD outputs (2 anchors per cell) for a ``height`` x ``width`` input, in file order."""
    counts = [(height // s) * (width // s) * 2 for s in STRIDES]
    kinds = [(1, "score"), (4, "bbox")] + ([(10, "kps")] if landmarks else [])
    outputs = [np.zeros((count, depth), np.float32) for depth, _ in kinds for count in counts]
    return [o[None] for o in outputs] if batched else outputs


def plant(
    outputs: list[NDArray[np.float32]],
    level: int,
    anchor: int,
    score: float,
    distances: tuple[float, float, float, float],
    offsets: NDArray[np.float32] | None = None,
) -> None:
    """Write one detection at ``anchor`` of stride level ``level`` (distances and offsets in stride units)."""
    view = [o[0] if o.ndim == 3 else o for o in outputs]
    levels = len(STRIDES)
    view[level][anchor, 0] = score
    view[level + levels][anchor] = distances
    if offsets is not None and len(view) == 3 * levels:
        view[level + 2 * levels][anchor] = offsets.reshape(10)


def box_iou(first: NDArray[np.floating], second: NDArray[np.floating]) -> float:
    x1, y1 = max(first[0], second[0]), max(first[1], second[1])
    x2, y2 = min(first[2], second[2]), min(first[3], second[3])
    inter = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
    union = (first[2] - first[0]) * (first[3] - first[1]) + (second[2] - second[0]) * (second[3] - second[1]) - inter
    return float(inter / union)


def expected_letterbox(image_height: int, image_width: int, fit_width: int, fit_height: int) -> tuple[int, int, float]:
    """insightface SCRFD's rule written out: (new width, new height, scale)."""
    if image_height / image_width > fit_height / fit_width:
        new_height = fit_height
        new_width = max(int(new_height / (image_height / image_width)), 1)
    else:
        new_width = fit_width
        new_height = max(int(new_width * (image_height / image_width)), 1)
    return new_width, new_height, new_height / image_height


class FakeScrfdSession:
    """Stands in for an onnxruntime session: records the blob and answers with planted SCRFD outputs.

    ``planted`` holds ``(canvas x, canvas y, box half-size, score)``: each becomes one anchor of stride 8
    at the cell containing (x, y), with landmarks at fixed offsets from the anchor centre.
    """

    def __init__(self, planted: list[tuple[float, float, float, float]]) -> None:
        self.planted = planted
        self.blobs: list[NDArray[np.float32]] = []

    def run(self, output_names: Any, feeds: dict[str, NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        blob = next(iter(feeds.values()))
        self.blobs.append(blob)
        height, width = blob.shape[2:]
        outputs = empty_scrfd_outputs(height, width, batched=True)
        for x, y, half, score in self.planted:
            column, row = int(x // 8), int(y // 8)
            anchor = 2 * (row * (width // 8) + column)
            offsets = (np.arange(10, dtype=np.float32).reshape(5, 2) - 4.5) / 4.0
            plant(outputs, 0, anchor, score, (half / 8, half / 8, half / 8, half / 8), offsets)
        return outputs


def fake_detector(planted: list[tuple[float, float, float, float]], **settings: Any) -> tuple[FaceDetector, FakeScrfdSession]:
    session = FakeScrfdSession(planted)
    names = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in STRIDES]
    model = ModelSession(
        session=session,
        path=Path("fake_scrfd.onnx"),
        requested_providers=("CPUExecutionProvider",),
        active_providers=("CPUExecutionProvider",),
        inputs=(TensorInfo("input.1", (1, 3, 640, 640), "tensor(float)"),),
        outputs=tuple(TensorInfo(name, (1, None, 1), "tensor(float)") for name in names),
    )
    return FaceDetector(model, "scrfd", "fake", settings=DetectionSettings(**settings)), session


# --- decoding ------------------------------------------------------------------------------------------------


def test_decode_single_survivor_at_anchor_zero() -> None:
    """Anchor 0 of the first stride is a valid detection (a truthiness check on indices would drop it)."""
    outputs = empty_scrfd_outputs(64, 64)
    offsets = np.array([[1, 1], [2, 1], [1.5, 2], [1, 3], [2, 3]], np.float32)
    plant(outputs, 0, 0, 0.9, (1.0, 2.0, 3.0, 4.0), offsets)
    boxes, scores, landmarks = decode_scrfd(outputs, 64, 64, 0.5)
    assert scores.tolist() == pytest.approx([0.9])
    # Anchor 0 sits at (0, 0); distances are in stride (8 px) units.
    np.testing.assert_allclose(boxes, [[-8.0, -16.0, 24.0, 32.0]])
    np.testing.assert_allclose(landmarks, offsets[None] * 8.0)
    assert boxes.dtype == np.float32 and landmarks is not None and landmarks.dtype == np.float32


def test_decode_anchor_centres_for_two_anchors_per_cell() -> None:
    height, width = 96, 128  # non-square: rows and columns must not be swapped
    outputs = empty_scrfd_outputs(height, width)
    # (level, row, column, which of the 2 anchors of the cell)
    places = [(0, 5, 9, 1), (1, 2, 7, 0), (2, 1, 3, 1), (0, 11, 15, 0)]
    for level, row, column, second in places:
        columns = width // STRIDES[level]
        plant(outputs, level, 2 * (row * columns + column) + second, 0.8, (0.0, 0.0, 0.0, 0.0))
    boxes, scores, landmarks = decode_scrfd(outputs, height, width, 0.5)
    expected = sorted((column * STRIDES[level], row * STRIDES[level]) for level, row, column, _ in places)
    assert sorted(map(tuple, boxes[:, :2].tolist())) == expected
    np.testing.assert_allclose(boxes[:, :2], boxes[:, 2:])
    assert landmarks is not None and np.allclose(landmarks, boxes[:, None, :2])


def test_anchor_centres_layout() -> None:
    centres = anchor_centres(2, 3, 16, 2)
    expected = [[0, 0], [0, 0], [16, 0], [16, 0], [32, 0], [32, 0], [0, 16], [0, 16], [16, 16], [16, 16], [32, 16], [32, 16]]
    assert centres.tolist() == expected
    assert anchor_centres(2, 3, 8, 1).tolist() == [[0, 0], [8, 0], [16, 0], [0, 8], [8, 8], [16, 8]]


def test_decode_batched_equals_two_dimensional() -> None:
    rng = np.random.default_rng(4)
    flat = empty_scrfd_outputs(64, 96)
    for level in range(3):
        count = flat[level].shape[0]
        flat[level][:, 0] = rng.uniform(0, 1, count)
        flat[level + 3][:] = rng.uniform(0, 3, (count, 4))
        flat[level + 6][:] = rng.normal(0, 1, (count, 10))
    batched = [o[None] for o in flat]
    for first, second in zip(decode_scrfd(flat, 64, 96, 0.6), decode_scrfd(batched, 64, 96, 0.6), strict=True):
        assert first is not None and second is not None
        assert np.array_equal(first, second)
    boxes, scores, _ = decode_scrfd(flat, 64, 96, 0.6)
    assert scores.size == sum(int((flat[level][:, 0] >= 0.6).sum()) for level in range(3)) > 0


def test_decode_threshold_is_inclusive_and_empty_is_well_formed() -> None:
    outputs = empty_scrfd_outputs(32, 32)
    plant(outputs, 2, 1, 0.5, (1, 1, 1, 1))
    assert decode_scrfd(outputs, 32, 32, 0.5)[1].size == 1
    boxes, scores, landmarks = decode_scrfd(outputs, 32, 32, 0.51)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and landmarks is not None and landmarks.shape == (0, 5, 2)


def test_decode_without_landmarks_and_unknown_layouts() -> None:
    outputs = empty_scrfd_outputs(32, 32, landmarks=False)
    plant(outputs, 0, 3, 0.9, (1, 1, 1, 1))
    boxes, scores, landmarks = decode_scrfd(outputs, 32, 32, 0.5)
    assert landmarks is None and scores.size == 1
    assert layout_for_outputs(9) == ((8, 16, 32), 2, True)
    assert layout_for_outputs(15) == ((8, 16, 32, 64, 128), 1, True)
    with pytest.raises(ModelMismatchError, match="6, 9, 10 or 15"):
        layout_for_outputs(7)


def test_decode_five_strides_one_anchor() -> None:
    strides = (8, 16, 32, 64, 128)
    counts = [(256 // s) ** 2 for s in strides]
    outputs = [np.zeros((c, d), np.float32) for d in (1, 4, 10) for c in counts]
    outputs[4][0, 0] = 0.7  # stride 128, cell (0, 0)
    outputs[3][5, 0] = 0.8  # stride 64, 4 columns: cell row 1, column 1
    boxes, scores, _ = decode_scrfd(outputs, 256, 256, 0.5)
    assert sorted(map(tuple, boxes[:, :2].tolist())) == [(0.0, 0.0), (64.0, 64.0)]


def test_decode_rejects_outputs_of_another_input_size() -> None:
    # an output problem found in a run: ModelOutputError, which the stages catch per frame (issue 23)
    with pytest.raises(ModelOutputError, match="anchors"):
        decode_scrfd(empty_scrfd_outputs(64, 64), 96, 64, 0.5)


# --- NMS -----------------------------------------------------------------------------------------------------


def test_nms_uses_plus_one_areas_and_keeps_at_the_threshold() -> None:
    # With insightface's +1 pixel areas: intersection 10 x 5 = 50, areas 100 and 50 -> IoU exactly 0.5.
    # Without the +1 the IoU would be 36 / 81 = 0.444.
    boxes = np.array([[0, 0, 9, 9], [0, 0, 9, 4]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]  # kept while IoU <= threshold
    assert nms(boxes, scores, 0.47).tolist() == [0]


def test_nms_greedy_order_and_stable_ties() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [8, 0, 18, 10], [50, 50, 60, 60], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.5, 0.9, 0.7, 0.6, 0.6], np.float32)
    # 1 suppresses 0; 2 overlaps 1 by IoU 33/(121+121-33) = 0.158 -> kept; 3 and 4 tie: the first one wins.
    assert nms(boxes, scores, 0.4).tolist() == [1, 2, 3]
    assert nms(boxes, scores, 0.1).tolist() == [1, 3]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.4).tolist() == []
    assert nms(boxes[3:], scores[3:], 1.0).tolist() == [0, 1]


# --- letterbox and blob ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,fit",
    [
        ((100, 200), (640, 640)),
        ((300, 200), (640, 640)),
        ((200, 300), (640, 640)),
        ((3, 7), (640, 640)),
        ((100, 100), (640, 480)),
        ((480, 960), (320, 320)),
        ((2, 2000), (640, 640)),
    ],
)
def test_letterbox_top_left_truncated(shape: tuple[int, int], fit: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    canvas, scale = letterbox(image, fit, (640, 640))
    new_width, new_height, expected_scale = expected_letterbox(*shape, *fit)
    assert canvas.shape == (640, 640, 3) and canvas.dtype == np.uint8
    assert scale == pytest.approx(expected_scale)
    assert np.array_equal(canvas[:new_height, :new_width], cv2.resize(image, (new_width, new_height)))
    assert not canvas[new_height:].any() and not canvas[:, new_width:].any()


def test_letterbox_scale_follows_the_truncated_side() -> None:
    # 3 x 7 into 640: width 640, height int(274.28) = 274, so scale = 274 / 3, not 640 / 7.
    _, scale = letterbox(np.zeros((3, 7, 3), np.uint8), (640, 640), (640, 640))
    assert scale == pytest.approx(274 / 3)
    # 2 x 3: height int(426.67) = 426 (truncated, not rounded to 427).
    canvas, scale = letterbox(np.full((2, 3, 3), 255, np.uint8), (640, 640), (640, 640))
    assert scale == pytest.approx(426 / 2) and canvas[425, 0, 0] == 255 and canvas[426, 0, 0] == 0
    with pytest.raises(InvalidImageError):
        letterbox(np.zeros((10, 10), np.uint8), (640, 640), (640, 640))


def test_image_blob_normalises_and_keeps_channel_order() -> None:
    canvas = np.zeros((2, 3, 3), np.uint8)
    canvas[..., 0], canvas[..., 1], canvas[..., 2] = 0, 128, 255
    blob = image_blob(canvas, 127.5, 128.0)
    assert blob.shape == (1, 3, 2, 3) and blob.dtype == np.float32
    np.testing.assert_allclose(blob[0, :, 0, 0], [-127.5 / 128, 0.5 / 128, 127.5 / 128])
    assert image_blob(canvas, 0.0, 255.0, np.float16).dtype == np.float16


# --- the detector with a fake session: coordinates mapped back ----------------------------------------------


def test_detector_maps_canvas_coordinates_back_to_the_image() -> None:
    detector, session = fake_detector([(200.0, 120.0, 40.0, 0.9), (520.0, 300.0, 24.0, 0.7)])
    image = np.random.default_rng(1).integers(0, 256, (480, 900, 3), dtype=np.uint8)
    faces = detector.detect(image, image_index=3)
    new_width, new_height, scale = expected_letterbox(480, 900, 640, 640)
    assert len(session.blobs) == 1
    blob = session.blobs[0]
    # The model saw the letterboxed RGB image normalised as (x - 127.5) / 128, black below it.
    expected_canvas = np.zeros((640, 640, 3), np.float32)
    expected_canvas[:new_height, :new_width] = cv2.resize(image, (new_width, new_height))
    np.testing.assert_allclose(blob[0].transpose(1, 2, 0), (expected_canvas - 127.5) / 128.0, atol=1e-6)
    assert len(faces) == 2 and [f.image_index for f in faces] == [3, 3]
    assert faces[0].score == pytest.approx(0.9) and faces[1].score == pytest.approx(0.7)
    for face, (x, y, half, _) in zip(faces, [(200.0, 120.0, 40.0, 0.9), (520.0, 300.0, 24.0, 0.7)], strict=True):
        cx, cy = (x // 8) * 8, (y // 8) * 8
        np.testing.assert_allclose(face.bbox, np.array([cx - half, cy - half, cx + half, cy + half]) / scale, rtol=1e-5)
        offsets = (np.arange(10, dtype=np.float32).reshape(5, 2) - 4.5) / 4.0 * 8
        np.testing.assert_allclose(face.landmarks, (np.array([cx, cy]) + offsets) / scale, rtol=1e-5)


def test_detector_retries_smaller_then_padded(monkeypatch: pytest.MonkeyPatch) -> None:
    detector, session = fake_detector([])
    seen: list[tuple[tuple[int, int], tuple[int, ...]]] = []
    real_letterbox = detect_module.letterbox

    def recording_letterbox(image: NDArray[np.uint8], fit: tuple[int, int], canvas: tuple[int, int]) -> Any:
        seen.append((fit, image.shape))
        return real_letterbox(image, fit, canvas)

    monkeypatch.setattr(detect_module, "letterbox", recording_letterbox)
    image = np.zeros((100, 60, 3), np.uint8)
    assert detector.detect(image) == []
    assert [fit for fit, _ in seen] == [(640, 640), (576, 576), (512, 512), (448, 448), (384, 384), (320, 320), (640, 640)]
    assert seen[-1][1] == (200, 160, 3)  # padded by half the longer side (50 px) on every side
    seen.clear()
    assert detector.with_settings(retry_smaller=False, pad_retry=False).detect(image) == []
    assert [fit for fit, _ in seen] == [(640, 640)]


def test_padded_retry_maps_coordinates_back_to_the_unpadded_image(monkeypatch: pytest.MonkeyPatch) -> None:
    detector, session = fake_detector([(300.0, 300.0, 40.0, 0.9)], retry_smaller=False)
    calls = {"count": 0}
    real_run = session.run

    def run_failing_first(output_names: Any, feeds: dict[str, NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        calls["count"] += 1
        outputs = real_run(output_names, feeds)
        if calls["count"] == 1:
            outputs[0][:] = 0.0  # nothing at the first try, only in the padded image
        return outputs

    monkeypatch.setattr(session, "run", run_failing_first)
    image = np.zeros((200, 100, 3), np.uint8)
    faces = detector.detect(image)
    assert calls["count"] == 2 and len(faces) == 1
    pad = 100  # half the longer side
    _, _, scale = expected_letterbox(200 + 2 * pad, 100 + 2 * pad, 640, 640)
    np.testing.assert_allclose(faces[0].bbox, np.array([256, 256, 336, 336]) / scale - pad, rtol=1e-5)


def test_detection_settings_validation() -> None:
    with pytest.raises(InvalidArgumentError):
        DetectionSettings(det_size=(630, 640))
    with pytest.raises(InvalidArgumentError):
        DetectionSettings(det_size=(0, 640))
    with pytest.raises(InvalidArgumentError):
        DetectionSettings(score_threshold=1.5)
    with pytest.raises(InvalidArgumentError):
        DetectionSettings(nms_threshold=-0.1)


def test_retry_policy_shared_by_both_detectors() -> None:
    """One policy: fit sizes shrink by 64 px down to 320, never above a fixed input; the pad is half the longer side."""
    assert retry_fit_sizes(DetectionSettings(), None) == [(640, 640), (576, 576), (512, 512), (448, 448), (384, 384), (320, 320)]
    assert retry_fit_sizes(DetectionSettings(det_size=(640, 480)), None) == [(640, 480), (576, 416), (512, 352)]
    assert retry_fit_sizes(DetectionSettings(det_size=(800, 800)), (640, 640))[0] == (640, 640)
    assert retry_fit_sizes(DetectionSettings(retry_smaller=False), (320, 320)) == [(320, 320)]
    assert pad_retry_margin(100, 60) == 50 and pad_retry_margin(201, 10) == 100
    import face_identity.detect.torch_detector as torch_detector_module

    for module in (detect_module, torch_detector_module):
        assert "_fit_sizes" not in vars(module) and "PAD_RETRY_FRACTION" not in vars(module)
    assert not hasattr(FaceDetector, "_fit_sizes")


def test_detect_rejects_non_rgb_uint8() -> None:
    detector, _ = fake_detector([])
    for image in (np.zeros((50, 50), np.uint8), np.zeros((50, 50, 4), np.uint8), np.zeros((50, 50, 3), np.float32)):
        with pytest.raises(InvalidImageError):
            detector.detect(image)


# --- YOLOFace and layouts, synthetic models ---------------------------------------------------------------------


def test_decode_yoloface_rows_and_transposed_layout() -> None:
    rows = np.zeros((6, 20), np.float32)
    rows[0, :5] = [100, 200, 40, 60, 0.9]
    rows[0, 5:] = np.arange(15)
    rows[1, :5] = [10, 10, 4, 4, 0.3]
    boxes, scores, landmarks = decode_yoloface([rows.T[None]], 0.5)
    np.testing.assert_allclose(boxes, [[80, 170, 120, 230]])
    np.testing.assert_allclose(scores, [0.9])
    np.testing.assert_allclose(landmarks[0], np.arange(15).reshape(5, 3)[:, :2])
    again = decode_yoloface([rows[None]], 0.5)
    assert all(np.array_equal(a, b) for a, b in zip((boxes, scores, landmarks), again, strict=True))
    with pytest.raises(ModelMismatchError):
        decode_yoloface([np.zeros((1, 19, 30), np.float32)], 0.5)


def test_yoloface_detector_maps_planted_rows_to_a_non_square_image(tmp_path: Path) -> None:
    # Rows in 640-canvas pixels: cx, cy, w, h, score, then 5 x (x, y, visibility).
    def row(cx: float, cy: float, w: float, h: float, score: float) -> list[float]:
        points = [(cx - 10, cy - 8), (cx + 10, cy - 8), (cx, cy), (cx - 7, cy + 12), (cx + 7, cy + 12)]
        return [cx, cy, w, h, score] + [v for x, y in points for v in (x, y, 0.95)]

    planted = np.array(
        [row(160, 100, 60, 80, 0.92), row(400, 220, 50, 64, 0.81), row(405, 222, 52, 60, 0.6), row(600, 30, 20, 20, 0.3)],
        np.float32,
    )
    path = synthetic.build_yoloface_like(tmp_path / "yoloface_like.onnx", planted)
    detector = load_detector(path, providers="cpu", allow_download=False)
    assert detector.family == "yoloface"
    image = np.full((480, 960, 3), 90, np.uint8)  # wide: fits as 640 x 320 at the top of the canvas
    faces = detector.detect(image)
    new_width, new_height, scale = expected_letterbox(480, 960, 640, 640)
    assert (new_width, new_height) == (640, 320)
    # Row 3 overlaps row 2 with a lower score (NMS drops it); row 4 is below the 0.5 threshold.
    assert [round(f.score, 2) for f in faces] == [0.92, 0.81]
    for face, source in zip(faces, planted[:2], strict=True):
        cx, cy, w, h = source[:4]
        np.testing.assert_allclose(face.bbox, np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) / scale, rtol=1e-5)
        np.testing.assert_allclose(face.landmarks, source[5:].reshape(5, 3)[:, :2] / scale, rtol=1e-5)


def test_landmark_less_scrfd_is_refused(scrfd_like_path: Path, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(scrfd_like_path))
    kept = list(model.graph.output)[:6]  # scores and boxes only, as scrfd_*g (non-bnkps) exports have
    del model.graph.output[:]
    model.graph.output.extend(kept)
    path = tmp_path / "scrfd_no_kps.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelMismatchError, match="without landmarks"):
        load_detector(path, providers="cpu", allow_download=False)


def test_synthetic_scrfd_models_run_at_several_sizes(scrfd_like_path: Path, scrfd_like_dynamic_path: Path) -> None:
    image = np.random.default_rng(2).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    fixed = load_detector(scrfd_like_path, providers="cpu", allow_download=False, settings=DetectionSettings(score_threshold=0.2))
    assert fixed.fixed_input == (640, 640)
    dynamic = load_detector(scrfd_like_dynamic_path, providers="cpu", allow_download=False)
    assert dynamic.fixed_input is None
    for detector in (
        fixed,
        dynamic.with_settings(det_size=(320, 256), score_threshold=0.2),
        dynamic.with_settings(score_threshold=0.2),
    ):
        faces = detector.detect(image)
        for face in faces:
            assert np.all(np.isfinite(face.bbox)) and np.all(np.isfinite(face.landmarks))
        assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


# --- real models on real photos ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> dict[str, Any]:
    return json.loads((shared_data / "annotations" / "reference_values.json").read_text())["cospectrum_scrfd_truth"]


@pytest.fixture(scope="module")
def det_500m(real_models: dict[str, Path]) -> FaceDetector:
    return load_detector(real_models["det500m"], providers="cpu", allow_download=False)


def test_scrfd_finds_29_faces_in_solvay_at_0_4(
    scrfd_detector: FaceDetector, solvay_image: NDArray[np.uint8], reference: dict[str, Any]
) -> None:
    expected = reference["groups/solvay_conference_1927.png"]["num_faces_at_probability_0.4"]
    faces = scrfd_detector.with_settings(score_threshold=0.4).detect(solvay_image)
    assert len(faces) == expected == 29
    assert all(f.score >= 0.4 for f in faces)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    # The per-call threshold override gives the same.
    assert len(scrfd_detector.detect(solvay_image, score_threshold=0.4)) == 29


@pytest.mark.parametrize("relative", ["faces/isaac_newton/newton.png", "faces/carl_friedrich_gauss/gauss.png"])
def test_scrfd_matches_the_cospectrum_reference(
    scrfd_detector: FaceDetector, shared_data: Path, reference: dict[str, Any], relative: str
) -> None:
    truth = reference[relative]
    faces = scrfd_detector.detect(read_image(shared_data / relative))
    assert faces
    top = faces[0]
    assert np.abs(top.landmarks - np.array(truth["kps"], np.float32)).max() <= 3.0
    assert np.abs(top.bbox - np.array(truth["bbox_xyxy"], np.float32)).max() <= 3.0
    assert abs(top.score - truth["probability"]) <= 0.02


@pytest.mark.parametrize("det_size", [(640, 640), (640, 480), (480, 640), (320, 320)])
def test_det_500m_dynamic_sizes_on_group_photos(
    det_500m: FaceDetector,
    scrfd_detector: FaceDetector,
    shared_data: Path,
    det_size: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    detector = det_500m.with_settings(det_size=det_size)
    shapes: list[tuple[int, ...]] = []
    real_run = detector.model.session.run

    def recording_run(names: Any, feeds: dict[str, NDArray[np.float32]]) -> Any:
        shapes.append(next(iter(feeds.values())).shape)
        return real_run(names, feeds)

    monkeypatch.setattr(detector.model.session, "run", recording_run, raising=False)
    image = read_image(shared_data / "groups" / "face_recognition_two_people.jpg")
    faces = detector.detect(image)
    assert shapes[0] == (1, 3, det_size[1], det_size[0])  # det_size is (width, height)
    reference_faces = scrfd_detector.detect(image)
    assert len(reference_faces) == 2 and len(faces) == 2
    for face in faces:
        best = max(box_iou(face.bbox, other.bbox) for other in reference_faces)
        assert best > 0.6
    if det_size != (320, 320):
        assert len(detector.detect(read_image(shared_data / "groups" / "insightface_t1.jpg"))) == 6


def test_det_500m_on_solvay(det_500m: FaceDetector, solvay_image: NDArray[np.uint8]) -> None:
    assert len(det_500m.with_settings(score_threshold=0.4).detect(solvay_image)) == 29
    smaller = det_500m.with_settings(det_size=(320, 320), score_threshold=0.4).detect(solvay_image)
    assert 0 < len(smaller) <= 29


@pytest.mark.parametrize("kind", ["black", "white", "noise", "tiny", "strip"])
def test_no_face_images_give_an_empty_list(scrfd_detector: FaceDetector, kind: str) -> None:
    rng = np.random.default_rng(7)
    image = {
        "black": np.zeros((480, 640, 3), np.uint8),
        "white": np.full((300, 300, 3), 255, np.uint8),
        "noise": rng.integers(0, 256, (400, 400, 3), dtype=np.uint8),
        "tiny": np.full((1, 1, 3), 128, np.uint8),
        "strip": rng.integers(0, 256, (2, 1500, 3), dtype=np.uint8),
    }[kind]
    # The full retry chain (6 sizes, then padding) runs once, on the black image; the others skip the smaller sizes.
    detector = scrfd_detector if kind == "black" else scrfd_detector.with_settings(retry_smaller=False)
    assert detector.detect(image) == []


@pytest.fixture(scope="module")
def tight_crops(
    scrfd_detector: FaceDetector, newton_image: NDArray[np.uint8], gauss_image: NDArray[np.uint8]
) -> list[tuple[NDArray[np.uint8], NDArray[np.float64]]]:
    """Tight face crops and where the detected landmarks of the source land in them.

    For each portrait: the aligned 112 crop (LFW-style, the face fills the frame) and the same crop upscaled 4x.
    """
    crops = []
    for image in (newton_image, gauss_image):
        face = scrfd_detector.detect(image)[0]
        matrix = alignment_matrix(face.landmarks, "arcface_112", 112)
        expected = face.landmarks.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
        crop = warp_face(image, matrix, 112)
        crops.append((crop, expected))
        crops.append((cv2.resize(crop, (448, 448), interpolation=cv2.INTER_LINEAR), expected * 4 + 1.5))
    return crops


def test_tight_crops_need_the_retries(scrfd_detector: FaceDetector, tight_crops: list) -> None:
    bare = scrfd_detector.with_settings(retry_smaller=False, pad_retry=False)
    for crop, _ in tight_crops:
        # A face filling the canvas is too big for SCRFD at 640 (this is what the retries are for).
        assert bare.detect(crop) == []


@pytest.mark.parametrize(
    "settings", [{}, {"pad_retry": False}, {"retry_smaller": False}], ids=["defaults", "smaller-only", "pad-only"]
)
def test_tight_crops_are_found_with_retries(scrfd_detector: FaceDetector, tight_crops: list, settings: dict[str, bool]) -> None:
    detector = scrfd_detector.with_settings(**settings)
    for crop, expected in (tight_crops[0], tight_crops[3]):  # Newton's 112 crop, Gauss's crop upscaled to 448
        faces = detector.detect(crop)
        assert len(faces) >= 1
        side = crop.shape[0]
        # The landmarks come back in the crop's own pixels (padding and scale undone).
        assert np.abs(faces[0].landmarks - expected).max() <= 0.08 * side


def test_detect_batch_keeps_per_image_lists(
    scrfd_detector: FaceDetector, newton_image: NDArray[np.uint8], shared_data: Path
) -> None:
    two_people = read_image(shared_data / "groups" / "face_recognition_two_people.jpg")
    blank = np.zeros((200, 300, 3), np.uint8)
    done: list[int] = []
    detector = scrfd_detector.with_settings(retry_smaller=False)
    results = detector.detect_batch([newton_image, blank, two_people], on_image_done=done.append)
    assert done == [0, 1, 2]
    assert [len(r) for r in results] == [1, 0, 2]
    assert all(face.image_index == index for index, faces in enumerate(results) for face in faces)
    single = detector.detect(two_people)
    for batched, alone in zip(results[2], single, strict=True):
        assert np.array_equal(batched.bbox, alone.bbox) and np.array_equal(batched.landmarks, alone.landmarks)
    assert detector.detect_batch([]) == []
