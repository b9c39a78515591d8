"""Identity retention of a swap: re-detect, embed, score against the source (retention) and the replaced face (leakage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.detect import FaceDetector, load_detector
from face_identity.devtools import synthetic
from face_identity.embed import ArcFaceRecognizer, load_recognizer
from face_identity.errors import IncompatibleIdentitiesError, InvalidArgumentError
from face_identity.images import read_image
from face_identity.select import order_faces
from face_identity.swap import EmbeddingSwapper, load_swapper, match_swapped, measure_retention, swap_faces
from face_identity.types import Face, Identity

pytestmark = pytest.mark.usefixtures("no_network")
TWO_PEOPLE = "groups/face_recognition_two_people.jpg"
OBAMA = "faces/barack_obama/face_recognition_obama.jpg"


@pytest.fixture(scope="module")
def detector(real_models: dict[str, Path]) -> FaceDetector:
    return load_detector(real_models["scrfd"], providers="cpu", allow_download=False)


@pytest.fixture(scope="module")
def recognizer(real_models: dict[str, Path]) -> ArcFaceRecognizer:
    return load_recognizer(real_models["mbf_int8"], providers="cpu", batch_size=1, allow_download=False)


@pytest.fixture(scope="module")
def second_recognizer(tiny_recognizer_path: Path) -> ArcFaceRecognizer:
    return load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)


@pytest.fixture(scope="module")
def two_people(shared_data: Path) -> NDArray[np.float32]:
    return read_image(shared_data / TWO_PEOPLE).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def two_people_faces(detector: FaceDetector, two_people: NDArray[np.float32]) -> list[Face]:
    return order_faces(detector.detect((two_people * 255).round().astype(np.uint8)), "left-right")


def embed_one(recognizer: ArcFaceRecognizer, detector: FaceDetector, image: NDArray[np.uint8]) -> Identity:
    faces = detector.detect(image)
    result, aligned = recognizer.embed_faces([image], [faces[:1]])
    return recognizer.identity(result, aligned)


@pytest.fixture(scope="module")
def identity_swapper(tmp_path_factory: pytest.TempPathFactory, recognizer: ArcFaceRecognizer) -> EmbeddingSwapper:
    path = synthetic.build_embedding_swapper_like(tmp_path_factory.mktemp("retention") / "hyperswap_1a_256.onnx", mode="identity")
    swapper = load_swapper(path, providers="cpu", allow_download=False, family="hyperswap", embedding_space=recognizer.model_id)
    assert isinstance(swapper, EmbeddingSwapper)
    return swapper


def test_output_equals_target_retention_is_the_targets_own_similarity(
    identity_swapper: EmbeddingSwapper,
    detector: FaceDetector,
    recognizer: ArcFaceRecognizer,
    second_recognizer: ArcFaceRecognizer,
    shared_data: Path,
    two_people: NDArray[np.float32],
    two_people_faces: list[Face],
) -> None:
    source = embed_one(recognizer, detector, read_image(shared_data / OBAMA))
    second_source = embed_one(second_recognizer, detector, read_image(shared_data / OBAMA))
    blank = np.full((96, 128, 3), 0.5, np.float32)
    frames = [two_people, blank]
    result = swap_faces(identity_swapper, frames, source, [two_people_faces, []])
    report = measure_retention(
        detector, recognizer, frames, result.images, result.targets, source, second_recognizer, second_source
    )
    assert len(report.faces) == 2 and all(face.redetected for face in report.faces)
    uint8 = (two_people * 255).round().astype(np.uint8)
    own, _ = recognizer.embed_faces([uint8], [two_people_faces])
    expected = own.normalised.astype(np.float64) @ source.centroid().astype(np.float64)
    assert np.allclose(report.retention_scores, expected, atol=0.03)
    assert report.retention_scores[0] > report.retention_scores[1] + 0.2  # Obama is the source; Biden is not
    assert min(report.leakage_scores) > 0.95  # nothing was swapped: the target survives (int8 model, resampled twice)
    assert report.faces[0].second_retention is not None and report.second_model_id == second_recognizer.model_id
    assert report.images[1].faces == 0 and report.images[0].faces == 2
    assert report.images[0].mean_retention == pytest.approx(float(np.mean(report.retention_scores)))
    text = report.summary()
    assert recognizer.model_id in text and "image 0: 2 face(s)" in text and "image 1" not in text


def test_a_face_not_found_again_is_scored_on_its_landmarks(
    identity_swapper: EmbeddingSwapper,
    recognizer: ArcFaceRecognizer,
    two_people: NDArray[np.float32],
    two_people_faces: list[Face],
) -> None:
    class Blind:
        def detect_batch(self, images: list[NDArray[np.uint8]], **_: object) -> list[list[Face]]:
            return [[] for _ in images]

    source = Identity(np.random.default_rng(1).normal(size=(1, recognizer.dimension)).astype(np.float32), recognizer.model_id)
    report = measure_retention(Blind(), recognizer, [two_people], [two_people], [two_people_faces[:1]], source)
    assert [face.redetected for face in report.faces] == [False]
    assert report.faces[0].leakage > 0.99


def test_matching_and_refusals(recognizer: ArcFaceRecognizer, two_people_faces: list[Face]) -> None:
    obama, biden = two_people_faces
    assert match_swapped([obama, biden], [biden, obama]) == [obama, biden]
    assert match_swapped([obama], [biden]) == [None]
    other = Identity(np.ones((1, 512), np.float32), "arcface_glintr100")
    with pytest.raises(IncompatibleIdentitiesError):
        measure_retention(None, recognizer, [], [], [], other)
    with pytest.raises(InvalidArgumentError):
        measure_retention(None, recognizer, [np.zeros((4, 4, 3))], [], [[]], other)
