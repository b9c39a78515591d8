"""identify: how an image batch is embedded (faces, detector or aligned crops), and that each way gives the same rows.

The decision is checked on shapes alone; the end-to-end case uses the small real SCRFD and the
real int8 MobileFaceNet of ../shared/data (batch size 1, so results do not depend on the batch).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from face_identity.align import align_faces
from face_identity.detect import FaceDetector
from face_identity.embed import load_recognizer
from face_identity.errors import InvalidArgumentError
from face_identity.identify import EMBED_SOURCES, embed_source, identify
from face_identity.images import read_image
from face_identity.pipeline import detect_faces
from face_identity.types import Face, FaceBatch

RECOGNIZER: Any = SimpleNamespace(input_size=112, template="arcface_112", name="stand-in")
"""Only what the decision reads: the crop size."""


def face(aligned: bool = False) -> Face:
    landmarks = np.array([[40, 50], [70, 50], [55, 65], [45, 80], [65, 80]], np.float32)
    matrix = np.array([[1, 0, 0], [0, 1, 0]], np.float64) if aligned else None
    return Face(np.array([30, 30, 80, 90], np.float32), 0.9, landmarks, align_matrix=matrix, crop_size=112 if aligned else None)


def test_the_source_follows_what_comes_with_the_images() -> None:
    assert set(EMBED_SOURCES) == {"faces", "detector", "aligned crops"}
    on_photos = FaceBatch(((face(),), ()), ((480, 640), (480, 640)))
    cut_from_photos = FaceBatch(((face(True),), (face(True),)), ((480, 640), (480, 640)))
    assert embed_source(RECOGNIZER, (2, 480, 640, 3), on_photos) == "faces"
    assert embed_source(RECOGNIZER, (2, 480, 640, 3), on_photos, detector=object()) == "faces"  # faces win
    assert embed_source(RECOGNIZER, (2, 112, 112, 3), cut_from_photos) == "aligned crops"
    # 112 px photos with their own faces are photos, not crops
    assert embed_source(RECOGNIZER, (2, 112, 112, 3), FaceBatch(((face(True),), (face(True),)), ((112, 112),) * 2)) == "faces"
    assert embed_source(RECOGNIZER, (3, 112, 112, 3), cut_from_photos) == "faces"  # 3 images, 2 faces: not their crops
    assert embed_source(RECOGNIZER, (2, 480, 640, 3), detector=object()) == "detector"
    assert embed_source(RECOGNIZER, (5, 112, 112, 3)) == "aligned crops"
    with pytest.raises(InvalidArgumentError, match=r"Face Embed got 640x480 images without FACES or a detector.*112 px"):
        embed_source(RECOGNIZER, (2, 480, 640, 3), context="Face Embed")


def test_every_way_gives_the_same_rows(scrfd_detector: FaceDetector, real_models: dict[str, Path], shared_data: Path) -> None:
    recognizer = load_recognizer(real_models["mbf_int8"], providers="cpu", batch_size=1, allow_download=False)
    photo = read_image(shared_data / "groups/face_recognition_two_people.jpg")
    images = np.stack([photo, photo[:, ::-1]])
    progress: list[tuple[int, int]] = []
    by_detector = identify(
        recognizer, images, detector=scrfd_detector, on_progress=lambda done, total: progress.append((done, total))
    )
    assert by_detector.source == "detector" and progress[-1] == (2, 2)
    assert by_detector.identity is not None and len(by_detector.identity) == 4
    faces = detect_faces(scrfd_detector, list(images))
    by_faces = identify(recognizer, images.astype(np.float32) / 255.0, faces)
    assert by_faces.source == "faces" and by_faces.identity is not None
    np.testing.assert_allclose(by_faces.identity.embeddings, by_detector.identity.embeddings, atol=1e-6)
    crops, aligned = [], []
    for image, image_faces in zip(images, faces.faces_per_image, strict=True):
        image_crops, image_aligned = align_faces(image, image_faces, "arcface_112", 112)
        crops.extend(image_crops)
        aligned.append(tuple(image_aligned))
    crop_faces = FaceBatch(tuple(aligned), faces.image_sizes)
    progress.clear()
    by_crops = identify(recognizer, np.stack(crops), crop_faces, on_progress=lambda done, total: progress.append((done, total)))
    assert by_crops.source == "aligned crops" and by_crops.identity is not None and progress[-1] == (4, 4)
    np.testing.assert_allclose(by_crops.identity.embeddings, by_faces.identity.embeddings, atol=1e-6)
    np.testing.assert_array_equal(by_crops.identity.image_indices, [0, 0, 1, 1])
    bare = identify(recognizer, np.stack(crops))
    assert bare.faces is None and bare.identity is not None
    np.testing.assert_array_equal(bare.identity.face_indices, [0, 1, 2, 3])  # crops without faces: row numbers only
    with pytest.raises(InvalidArgumentError, match="same images"):
        identify(recognizer, images[:1], faces, context="Face Embed")
    with pytest.raises(InvalidArgumentError, match="ffhq_512"):
        wrong = FaceBatch(
            tuple(tuple(f.with_alignment(f.align_matrix, 112, "ffhq_512") for f in fs) for fs in aligned), faces.image_sizes
        )
        identify(recognizer, np.stack(crops), wrong)
