"""Issue 23, class 5: an empty image (height or width 0) is the same everywhere.

Decision (validate.py): an empty image given on its own is an ``InvalidImageError`` that says it is
empty; inside a list of separate images it is "no face" for that image (logged with its index) and
the other images go on. One table per kind of entry point; every shape in ``EMPTY_SHAPES``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from face_identity import FaceSelection, detect_faces
from face_identity.align import norm_crop
from face_identity.detect import load_detector
from face_identity.embed import load_recognizer
from face_identity.errors import InvalidImageError
from face_identity.faceid import FaceAnalysisCompat
from face_identity.images import as_float_image, as_rgb_uint8
from face_identity.pipeline import analyze
from face_identity.validate import check_image_batch

EMPTY_SHAPES = [(0, 0, 3), (0, 10, 3), (10, 0, 3)]
LANDMARKS = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]], np.float32)


@pytest.fixture(scope="module")
def models(scrfd_like_path: Path, tiny_recognizer_path: Path) -> dict[str, Any]:
    detector = load_detector(scrfd_like_path, providers="cpu", allow_download=False)
    recognizer = load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)
    found: dict[str, Any] = {"detector": detector, "recognizer": recognizer}
    found["analyser"] = FaceAnalysisCompat(detector, recognizer, require_space=None)
    try:
        from face_identity.detect import load_torch_detector

        found["torch_detector"] = load_torch_detector(detector, device="cpu")
    except ImportError:
        found["torch_detector"] = None
    return found


def _torch(models: dict[str, Any]) -> Any:
    if models["torch_detector"] is None:
        pytest.skip("torch is not installed")
    return models["torch_detector"]


SINGLE: list[tuple[str, Callable[[dict[str, Any], np.ndarray], object]]] = [
    ("onnx_detector_detect", lambda m, image: m["detector"].detect(image)),
    ("torch_detector_detect", lambda m, image: _torch(m).detect(image)),
    ("faceid_get", lambda m, image: m["analyser"].get(image)),
    ("faceid_detect", lambda m, image: m["analyser"].detect(image)),
    ("as_rgb_uint8", lambda m, image: as_rgb_uint8(image)),
    ("as_float_image", lambda m, image: as_float_image(image)),
    ("norm_crop", lambda m, image: norm_crop(image, LANDMARKS, 112)),
    ("node_image_batch", lambda m, image: check_image_batch(image[None].astype(np.float32), "Face Detect")),
]


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("call", [row[1] for row in SINGLE], ids=[row[0] for row in SINGLE])
def test_an_empty_image_alone_is_a_clear_error(
    models: dict[str, Any], call: Callable[[dict[str, Any], np.ndarray], object], shape: tuple[int, int, int]
) -> None:
    with pytest.raises(InvalidImageError, match="empty"):
        call(models, np.zeros(shape, np.uint8))


BATCH: list[tuple[str, Callable[[dict[str, Any], list[np.ndarray]], list[int]]]] = [
    ("onnx_detect_batch", lambda m, images: [len(f) for f in m["detector"].detect_batch(images)]),
    ("torch_detect_batch", lambda m, images: [len(f) for f in _torch(m).detect_batch(images)]),
    ("detect_faces", lambda m, images: [len(f) for f in detect_faces(m["detector"], images).faces_per_image]),
    (
        "analyze",
        lambda m, images: [
            len(f) for f in analyze(m["detector"], m["recognizer"], images, FaceSelection()).faces.faces_per_image
        ],
    ),
]


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("call", [row[1] for row in BATCH], ids=[row[0] for row in BATCH])
def test_an_empty_image_in_a_batch_is_no_face_named_in_the_log(
    models: dict[str, Any],
    call: Callable[[dict[str, Any], list[np.ndarray]], list[int]],
    shape: tuple[int, int, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = np.zeros((64, 64, 3), np.uint8)
    with caplog.at_level(logging.WARNING, logger="face_identity"):
        counts = call(models, [other, np.zeros(shape, np.uint8), other])
    assert len(counts) == 3 and counts[1] == 0
    assert "image 1 of the batch is empty" in caplog.text
