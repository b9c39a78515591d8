"""The swap that checks itself: a face below the retention floor is swapped again with the next model.

Two stand-in swappers with HyperSwap's I/O (``synthetic.build_embedding_swapper_like``) make the
retention a known function of the model: ``stand_in_fails`` gives its input back (a face keeps its
own identity: Biden scores about 0 against an Obama source, Obama himself about 0.7 in the group
photo) and ``stand_in_passes`` gives back Obama's own aligned face from another photo for every
crop (about 0.95 wherever it is pasted). Detection and scoring use the small real SCRFD and the
int8 w600k MobileFaceNet of ../shared/data on a real group photo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.align import alignment_matrix
from face_identity.detect import FaceDetector, load_detector
from face_identity.devtools import synthetic
from face_identity.embed import ArcFaceRecognizer, load_recognizer
from face_identity.errors import IncompatibleIdentitiesError, InvalidArgumentError
from face_identity.geometry import warp_face
from face_identity.images import read_image
from face_identity.select import order_faces
from face_identity.swap import (
    DEFAULT_SWAP,
    EmbeddingSwapper,
    FaceCheck,
    SwapSettings,
    TargetSelection,
    detect_and_swap,
    load_swapper,
    swap_checked,
    swap_faces,
)
from face_identity.types import Face, Identity

pytestmark = pytest.mark.usefixtures("no_network")
FLOOR = 0.5
"""Between the unchanged faces' retention (Biden about 0) and the pasted Obama's (about 0.95)."""


@pytest.fixture(scope="module")
def detector(real_models: dict[str, Path]) -> FaceDetector:
    loaded = load_detector(real_models["scrfd"], providers="cpu", allow_download=False)
    return loaded.with_settings(retry_smaller=False, pad_retry=False)


@pytest.fixture(scope="module")
def recognizer(real_models: dict[str, Path]) -> ArcFaceRecognizer:
    return load_recognizer(real_models["mbf_int8"], providers="cpu", batch_size=1, allow_download=False)


@pytest.fixture(scope="module")
def obama(shared_data: Path) -> NDArray[np.uint8]:
    return read_image(shared_data / "faces/barack_obama/face_recognition_obama.jpg")


@pytest.fixture(scope="module")
def source(detector: FaceDetector, recognizer: ArcFaceRecognizer, obama: NDArray[np.uint8]) -> Identity:
    faces = detector.detect(obama)[:1]
    result, aligned = recognizer.embed_faces([obama], [faces])
    return recognizer.identity(result, aligned)


@pytest.fixture(scope="module")
def group(shared_data: Path) -> NDArray[np.float32]:
    """Obama (left) and Biden (right), float32 RGB 0..1."""
    return read_image(shared_data / "groups/face_recognition_two_people.jpg").astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def group_faces(detector: FaceDetector, group: NDArray[np.float32]) -> list[Face]:
    return order_faces(detector.detect((group * 255).round().astype(np.uint8)), "left-right")


def stand_in(folder: Path, name: str, space: str, picture: NDArray[np.float32] | None = None) -> EmbeddingSwapper:
    mode = "identity" if picture is None else "constant"
    path = synthetic.build_embedding_swapper_like(folder / f"{name}.onnx", mode=mode, constant=picture)
    swapper = load_swapper(path, providers="cpu", allow_download=False, family="hyperswap", embedding_space=space)
    assert isinstance(swapper, EmbeddingSwapper)
    return swapper


@pytest.fixture(scope="module")
def fails(tmp_path_factory: pytest.TempPathFactory, recognizer: ArcFaceRecognizer) -> EmbeddingSwapper:
    return stand_in(tmp_path_factory.mktemp("selfcheck"), "stand_in_fails", recognizer.model_id)


@pytest.fixture(scope="module")
def passes(
    tmp_path_factory: pytest.TempPathFactory,
    recognizer: ArcFaceRecognizer,
    detector: FaceDetector,
    fails: EmbeddingSwapper,
    obama: NDArray[np.uint8],
) -> EmbeddingSwapper:
    """Gives back Obama's own face, aligned as the family aligns its crops, in the family's normalised range."""
    face = detector.detect(obama)[0]
    matrix = alignment_matrix(face.landmarks, fails.template, fails.input_size)
    crop = warp_face(obama.astype(np.float32) / 255.0, matrix, fails.input_size, "replicate")
    picture = ((crop - 0.5) / 0.5).transpose(2, 0, 1).astype(np.float32)
    return stand_in(tmp_path_factory.mktemp("selfcheck"), "stand_in_passes", recognizer.model_id, picture)


def summary(checks: tuple[FaceCheck, ...]) -> list[tuple[int, int, str, tuple[str, ...], bool]]:
    return [(check.frame, check.face, check.model, check.tried, check.passed) for check in checks]


def test_the_fallback_picks_the_next_model_for_the_face_below_the_floor(
    fails: EmbeddingSwapper,
    passes: EmbeddingSwapper,
    source: Identity,
    group: NDArray[np.float32],
    group_faces: list[Face],
    recognizer: ArcFaceRecognizer,
    detector: FaceDetector,
) -> None:
    blank = np.full_like(group, 0.5)
    frames = [group, blank, group]
    faces = [group_faces, [], group_faces[:1]]
    result, checks = swap_checked([fails, passes], frames, source, faces, DEFAULT_SWAP, recognizer, detector, FLOOR)
    assert summary(checks) == [
        (0, 0, "stand_in_fails", ("stand_in_fails",), True),  # Obama stays Obama: passes with the first model
        (0, 1, "stand_in_passes", ("stand_in_fails", "stand_in_passes"), True),  # Biden: the fallback wins
        (2, 0, "stand_in_fails", ("stand_in_fails",), True),
    ]
    assert checks[1].retention > 0.9 and checks[0].retention > FLOOR  # the pasted Obama; Obama as he was
    assert checks[1].leakage < 0.3 and checks[0].leakage > 0.9  # the pasted face is no longer Biden's
    assert result.swapped_counts == (2, 0, 1) and result.skipped_faces == ()
    # Biden was swapped again from the frame as it was before him: Obama by the first model, then Biden by the second.
    before = swap_faces(fails, [group], source, [group_faces[:1]])
    expected = swap_faces(passes, [before.images[0]], source, [group_faces[1:]])
    assert np.array_equal(result.images[0], expected.images[0])
    assert np.array_equal(result.masks[0], np.maximum(before.masks[0], expected.masks[0]))
    assert [face.bbox.tolist() for face in result.targets[0]] == [face.bbox.tolist() for face in group_faces]
    assert np.array_equal(result.images[1], blank)
    # the frame where every face passed is the first model's batch result, untouched
    assert np.array_equal(result.images[2], swap_faces(fails, [group], source, [group_faces[:1]]).images[0])


def test_without_a_passing_model_the_highest_retention_is_kept(
    fails: EmbeddingSwapper,
    passes: EmbeddingSwapper,
    source: Identity,
    group: NDArray[np.float32],
    group_faces: list[Face],
    recognizer: ArcFaceRecognizer,
    detector: FaceDetector,
) -> None:
    settings = SwapSettings(face_area_mask=True)
    result, checks = swap_checked([passes, fails], [group], source, [group_faces], settings, recognizer, detector, 0.99)
    both = ("stand_in_passes", "stand_in_fails")
    assert summary(checks) == [(0, 0, "stand_in_passes", both, False), (0, 1, "stand_in_passes", both, False)]
    assert min(check.retention for check in checks) > FLOOR
    # the first model's result, rebuilt from the input frame, is the batch swap's to the bit
    assert np.array_equal(result.images[0], swap_faces(passes, [group], source, [group_faces], settings).images[0])
    # reversed, the first model passes everywhere: nothing is swapped twice
    _, checks = swap_checked([passes, fails], [group], source, [group_faces], settings, recognizer, detector, FLOOR)
    assert [check.tried for check in checks] == [("stand_in_passes",)] * 2


def test_detect_and_swap_reports_the_winner_per_frame_and_is_unchanged_without_the_check(
    fails: EmbeddingSwapper,
    passes: EmbeddingSwapper,
    source: Identity,
    group: NDArray[np.float32],
    recognizer: ArcFaceRecognizer,
    detector: FaceDetector,
) -> None:
    video = np.stack([group, np.full_like(group, 0.5), group[:, ::-1]])
    left_first = TargetSelection("all", "left-right")
    plain = detect_and_swap(fails, detector, video, source, selection=left_first, recognizer=recognizer)
    assert plain.timeline is None
    for options in ({"check_identity": True}, {"retention_floor": FLOOR}):
        scored = detect_and_swap(
            fails, detector, video, source, selection=left_first, recognizer=recognizer, chunk_frames=2, **options
        )
        assert isinstance(scored.images, np.ndarray) and isinstance(plain.images, np.ndarray)
        assert np.array_equal(scored.images, plain.images) and np.array_equal(scored.masks, plain.masks)
        assert scored.timeline is not None and [row.models for row in scored.timeline.rows] == [
            ("stand_in_fails",) * 2,
            (),
            ("stand_in_fails",) * 2,
        ]
    checked = detect_and_swap(
        fails,
        detector,
        video,
        source,
        selection=left_first,
        recognizer=recognizer,
        chunk_frames=2,
        fallback=[passes],
        retention_floor=FLOOR,
    )
    timeline = checked.timeline
    assert timeline is not None and timeline.floor == FLOOR
    assert [row.models for row in timeline.rows] == [
        ("stand_in_fails", "stand_in_passes"),
        (),
        ("stand_in_passes", "stand_in_fails"),  # mirrored: Biden is on the left
    ]
    assert timeline.flagged() == {"no_face": (1,), "bridged": (), "fallback": (0, 2), "below_floor": ()}
    assert timeline.rows[1].retention is None and all(row.retention > FLOOR for row in timeline.rows if row.retention)
    assert checked.swapped_counts == plain.swapped_counts == (2, 0, 2)


def test_refusals_come_before_any_work(
    fails: EmbeddingSwapper,
    passes: EmbeddingSwapper,
    source: Identity,
    group: NDArray[np.float32],
    recognizer: ArcFaceRecognizer,
    tmp_path: Path,
) -> None:
    class Untouchable:
        def detect_batch(self, images: object, **_: object) -> list[list[Face]]:
            raise AssertionError("no detection before the arguments are checked")

    other = stand_in(tmp_path, "other_space", "arcface_elsewhere")
    detector = Untouchable()
    frames = [group]
    with pytest.raises(IncompatibleIdentitiesError, match="other_space"):
        detect_and_swap(fails, detector, frames, source, recognizer=recognizer, fallback=[other], retention_floor=FLOOR)
    with pytest.raises(IncompatibleIdentitiesError, match="other_space"):
        swap_checked([fails, other], frames, source, [[]], DEFAULT_SWAP, recognizer, detector, FLOOR)
    for floor in (float("nan"), float("inf"), 1.5, "high"):
        with pytest.raises(InvalidArgumentError, match="retention floor"):
            detect_and_swap(fails, detector, frames, source, recognizer=recognizer, retention_floor=floor)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="retention_floor"):
        detect_and_swap(fails, detector, frames, source, recognizer=recognizer, fallback=[passes])
    with pytest.raises(InvalidArgumentError, match="recognizer"):
        detect_and_swap(fails, detector, frames, source, check_identity=True)
    with pytest.raises(InvalidArgumentError, match="no swapper"):
        swap_checked([], frames, source, [[]], DEFAULT_SWAP, recognizer, detector, None)

    class SmallBoost:
        """A model offering no pixel boost (only its attributes are read before the work)."""

        name = "no_boost_model"
        pixel_boost_factors = (1,)

        def require_compatible(self, identity: Identity) -> None:
            pass

    with pytest.raises(InvalidArgumentError, match="no_boost_model offers pixel boost 1, not 2"):
        detect_and_swap(
            fails,
            detector,
            frames,
            source,
            SwapSettings(pixel_boost=2),
            recognizer=recognizer,
            fallback=[SmallBoost()],
            retention_floor=FLOOR,
        )
