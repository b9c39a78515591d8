"""Tracks and smoothing measured on clips made from real photos, with the small real models of ../shared/data.

- A face glides along a known path (under 1 px per frame) with per-frame sensor noise and JPEG
  re-compression (``devtools.moving_clip``): the pasted face's jitter must drop at least 3x with the
  default smoothing and its path stay within 1 px RMS of the true one (the figures of docs/video.md,
  printed by scripts/measure_smoothing.py).
- Detections dropped for a few frames are bridged; a long run of them is reported.
- Two people cross, one hiding the other: with embeddings from the small recognizer each track keeps
  its person, and reference mode swaps the chosen one in every frame (hidden frames bridged), never the other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.catalog import W600K_R50_SPACE
from face_identity.detect import FaceDetector, load_detector
from face_identity.devtools import synthetic
from face_identity.devtools.moving_clip import (
    CLIP_SIZE,
    crop_centres,
    crossing_clip,
    measure_smoothing,
    moving_clip,
    path_error,
    smooth_path,
)
from face_identity.embed import ArcFaceRecognizer, load_recognizer
from face_identity.geometry import invert, transform_points
from face_identity.images import read_image
from face_identity.smoothing import jitter
from face_identity.swap import TargetSelection, detect_and_swap, load_swapper, plan_swaps
from face_identity.swap.plan import plan_from_tracks
from face_identity.tracks import TrackSettings, track_faces
from face_identity.types import Face, Identity

pytestmark = pytest.mark.usefixtures("no_network")

FIRST = "faces/barack_obama/face_recognition_obama.jpg"
SECOND = "faces/angelina_jolie/deepface_img1.jpg"


def small_detector(real_models: dict[str, Path], size: tuple[int, int]) -> FaceDetector:
    """det_500m on the clip's own canvas (``size`` = height, width), no retries."""
    loaded = load_detector(real_models["det500m"], providers="cpu", allow_download=False)
    return loaded.with_settings(retry_smaller=False, pad_retry=False, det_size=(size[1], size[0]))


@pytest.fixture(scope="module")
def gliding(shared_data: Path) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    path = smooth_path()
    return moving_clip(read_image(shared_data / FIRST), path), path


@pytest.fixture(scope="module")
def gliding_faces(real_models: dict[str, Path], gliding: tuple[NDArray[np.uint8], NDArray[np.float64]]) -> list[list[Face]]:
    return small_detector(real_models, CLIP_SIZE).detect_batch(list(gliding[0]))


def test_default_smoothing_cuts_the_jitter_of_the_pasted_face_3x_and_stays_on_the_path(
    real_models: dict[str, Path],
    gliding: tuple[NDArray[np.uint8], NDArray[np.float64]],
    gliding_faces: list[list[Face]],
    tmp_path: Path,
) -> None:
    clip, path = gliding
    assert np.abs(np.diff(path, axis=0)).max() < 1.0  # slower than 1 px per frame
    assert [len(faces) for faces in gliding_faces] == [1] * len(clip)
    figures = measure_smoothing(gliding_faces, path, TrackSettings())
    assert figures.raw_jitter > 4 * figures.true_jitter  # the detector does jitter on this clip: the test can fail
    assert figures.raw_jitter >= 3.0 * figures.smoothed_jitter, figures.lines()
    assert figures.smoothed_error < 1.0 and figures.smoothed_error < figures.raw_error, figures.lines()
    # The same figure from the faces detect_and_swap actually pasted (their swap crop's matrix).
    swapper = load_swapper(synthetic.build_inswapper_like(tmp_path / "inswapper_like.onnx", seed=0), providers="cpu")
    source = Identity(np.random.default_rng(7).normal(size=(1, 512)).astype(np.float32), W600K_R50_SPACE)
    result = detect_and_swap(
        swapper, small_detector(real_models, CLIP_SIZE), clip, source, tracking=TrackSettings(), on_chunk=lambda *_: None
    )
    assert result.swapped_counts == (1,) * len(clip)
    middle = np.array([[(128 - 1) / 2.0, (128 - 1) / 2.0]])
    pasted = np.stack([transform_points(middle, invert(faces[0].align_matrix))[0] for faces in result.targets])
    np.testing.assert_allclose(pasted, crop_centres([faces[0] for faces in result.targets]), atol=1e-3)
    assert jitter(pasted) == pytest.approx(figures.smoothed_jitter, abs=1e-3)
    assert path_error(pasted, path)[0] == pytest.approx(figures.smoothed_error, abs=1e-3)


def test_short_gaps_are_bridged_on_the_path_and_a_long_gap_is_reported(
    gliding: tuple[NDArray[np.uint8], NDArray[np.float64]], gliding_faces: list[list[Face]]
) -> None:
    _, path = gliding
    short, long = range(20, 23), range(40, 56)
    dropped = [[] if frame in short or frame in long else faces for frame, faces in enumerate(gliding_faces)]
    (track,) = track_faces(dropped, TrackSettings())
    assert track.bridged == tuple(short) and track.long_gaps == ((40, 55),)
    assert track.frame_indices == tuple(frame for frame in range(len(path)) if frame not in long)
    centres = crop_centres(track.faces)
    kept = np.array(track.frame_indices)
    error, offset = path_error(centres, path[kept])
    assert error < 1.0
    bridged = centres[[int(np.searchsorted(kept, frame)) for frame in short]] - offset
    assert np.abs(bridged - path[list(short)]).max() < 1.0  # the interpolated faces lie on the true path
    plan = plan_from_tracks([track], [0], len(path), "large-small")
    assert plan.no_face == tuple(long) and plan.bridged == tuple(short) and plan.long_gaps == ((40, 55),)


@pytest.fixture(scope="module")
def recognizer(real_models: dict[str, Path]) -> ArcFaceRecognizer:
    return load_recognizer(real_models["mbf_int8"], providers="cpu", allow_download=False)


def test_two_people_crossing_keep_their_tracks_and_the_chosen_one_is_swapped_only(
    shared_data: Path, real_models: dict[str, Path], recognizer: ArcFaceRecognizer
) -> None:
    first, second = read_image(shared_data / FIRST), read_image(shared_data / SECOND)
    clip, xs_first, xs_second = crossing_clip(first, second, count=20)
    detector = small_detector(real_models, clip.shape[1:3])
    faces = detector.detect_batch(list(clip))
    hidden = [frame for frame, found in enumerate(faces) if len(found) < 2]
    assert 0 < len(hidden) <= 8  # the second photo hides the first for a few frames
    embedded, _ = recognizer.embed_faces([first], [small_detector(real_models, (640, 640)).detect(first)])
    reference = Identity(embedded.normalised, recognizer.model_id)
    selection = TargetSelection("reference", reference=reference, threshold=0.4)  # mbf has no calibrated one
    plan = plan_swaps(detector, clip, selection, TrackSettings(smoothing=0.0), recognizer, chunk_frames=7)
    assert plan.no_face == () and plan.bridged == tuple(hidden)
    assert len(set(plan.track_ids)) == 1  # one track, the first person, in every frame
    centres = np.array([faces[0].landmarks[:, 0].mean() for faces in plan.targets])
    apart = np.abs(xs_first - xs_second) > 60
    assert np.abs(centres - xs_first).max() < 20
    assert np.all(np.abs(centres - xs_first)[apart] < np.abs(centres - xs_second)[apart])
    # By box alone the first person's track breaks where they were hidden; by identity it goes on.
    by_box = track_faces(faces, TrackSettings(smoothing=0.0))
    assert len(by_box) > 2 and sum(len(track.frame_indices) == len(clip) for track in by_box) == 1
    untracked = plan_swaps(detector, clip, selection, None, recognizer)
    assert untracked.no_face == tuple(hidden) and set(untracked.track_ids) == {(-1,), ()}
