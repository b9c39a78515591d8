"""Tracks, bridging, smoothing and the swap plan on hand-made faces (no model): the rules, one by one."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.errors import InvalidArgumentError
from face_identity.smoothing import jitter, smooth_points
from face_identity.swap import SwapPlan, TargetSelection
from face_identity.swap.plan import choose_tracks, plan_from_tracks
from face_identity.tracks import TrackSettings, iou_matrix, is_cut, track_faces
from face_identity.types import Face, Identity

SHAPE = np.array([[-10.0, -8.0], [10.0, -8.0], [0.0, 2.0], [-8.0, 10.0], [8.0, 10.0]], np.float32)
"""5 landmarks of a 40 px face around its centre."""


def face_at(x: float, y: float, frame: int = 0, size: float = 40.0) -> Face:
    half = size / 2
    return Face(np.array([x - half, y - half, x + half, y + half]), 0.9, SHAPE * (size / 40.0) + [x, y], image_index=frame)


def centre(face: Face) -> NDArray[np.float64]:
    return face.landmarks.astype(np.float64).mean(axis=0) - SHAPE.mean(axis=0)


OFF = TrackSettings(smoothing=0.0)


def test_settings_follow_the_number_policy() -> None:
    with pytest.raises(InvalidArgumentError, match="max gap"):
        TrackSettings(max_gap=-1)
    with pytest.raises(InvalidArgumentError, match="max gap"):
        TrackSettings(max_gap=2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="smoothing"):
        TrackSettings(smoothing=float("nan"))
    with pytest.raises(InvalidArgumentError, match="unknown smoother 'kalman'"):
        TrackSettings(smoother="kalman")
    with pytest.raises(InvalidArgumentError, match="min similarity"):
        TrackSettings(min_similarity=1.5)


def test_two_faces_keep_their_tracks_and_a_new_face_starts_one() -> None:
    frames = [[face_at(50 + t, 50, t), face_at(200 - t, 50, t)] for t in range(5)]
    frames.append([face_at(200 - 5, 50, 5), face_at(55, 50, 5), face_at(120, 150, 5)])  # detector order changes
    tracks = track_faces(frames, OFF)
    assert [t.track_id for t in tracks] == [0, 1, 2]
    assert tracks[0].frame_indices == tuple(range(6)) and tracks[2].frame_indices == (5,)
    np.testing.assert_allclose([centre(f)[0] for f in tracks[0].faces], [50, 51, 52, 53, 54, 55])
    np.testing.assert_allclose([centre(f)[0] for f in tracks[1].faces], [200, 199, 198, 197, 196, 195])
    assert [f.image_index for f in tracks[1].faces] == list(range(6))
    overlap = iou_matrix(np.array([[0, 0, 10, 10], [0, 0, 0, 10]]), np.array([[5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(overlap, [[1 / 3, 0], [0, 0]])


def test_crossing_is_resolved_by_identity_not_by_box() -> None:
    """Two faces swap places in one step; box-only tracking follows the places, embeddings follow the people."""
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    frames = [[face_at(100, 50, 0), face_at(110, 50, 0)], [face_at(110, 50, 1), face_at(100, 50, 1)]]
    embeddings = [np.stack([a, b]), np.stack([a, b])]  # frame 1: the person of track 0 is now at x=110
    by_box = track_faces(frames, OFF)
    by_identity = track_faces(frames, TrackSettings(smoothing=0.0, min_similarity=0.5), embeddings)
    assert centre(by_box[0].faces[1])[0] == pytest.approx(100.0)
    assert centre(by_identity[0].faces[1])[0] == pytest.approx(110.0)
    with pytest.raises(InvalidArgumentError, match="embeddings"):
        track_faces(frames, OFF, embeddings[:1])


def test_short_gaps_are_bridged_by_interpolation_and_long_ones_reported() -> None:
    present = [t for t in range(30) if t not in (5, 6, 7) and not 12 <= t <= 24]
    frames: list[list[Face]] = [[face_at(50 + t, 60, t)] if t in present else [] for t in range(30)]
    (track,) = track_faces(frames, TrackSettings(max_gap=3, smoothing=0.0))
    assert track.bridged == (5, 6, 7) and track.long_gaps == ((12, 24),)
    assert track.frame_indices == tuple(t for t in range(30) if not 12 <= t <= 24)
    np.testing.assert_allclose(centre(track.face_at(6))[0], 56.0, atol=1e-4)  # type: ignore[arg-type]
    assert track.face_at(13) is None
    (shorter,) = track_faces(frames, TrackSettings(max_gap=2, smoothing=0.0))
    assert shorter.bridged == () and shorter.long_gaps == ((5, 7), (12, 24))


def test_centred_smoothing_keeps_a_straight_path_and_removes_noise() -> None:
    rng = np.random.default_rng(0)
    time = np.arange(60.0)
    truth = np.stack([time * 0.5, 5 - 0.004 * (time - 20) ** 2], axis=1)[:, None, :] + SHAPE[None]
    noisy = truth + rng.normal(0, 0.5, truth.shape)
    for strength in (0.25, 0.5, 1.0):  # a line or a parabola: no lag, no cut corner, no pull at the ends
        np.testing.assert_allclose(smooth_points(truth, strength, "centred"), truth, atol=1e-3)
    assert np.abs(smooth_points(truth, 0.5, "causal") - truth).max() > 0.1  # the causal filter lags
    smoothed = smooth_points(noisy, 0.5, "centred")
    assert jitter(smoothed.mean(axis=1)) < jitter(noisy.mean(axis=1)) / 10
    causal = smooth_points(noisy, 0.5, "causal")
    assert jitter(causal.mean(axis=1)) < jitter(noisy.mean(axis=1)) / 2
    np.testing.assert_array_equal(smooth_points(noisy, 0.0, "centred"), noisy.astype(np.float32))
    np.testing.assert_array_equal(smooth_points(noisy, 1.0, "off"), noisy.astype(np.float32))
    assert jitter(np.zeros((2, 2))) == 0.0 and jitter(np.array([[0, 0], [1, 0], [0, 0]])) == pytest.approx(2.0)
    with pytest.raises(InvalidArgumentError, match=r"\[T, K, 2\]"):
        smooth_points(np.zeros((4, 2)), 0.5)


def test_smoothing_never_crosses_a_long_gap() -> None:
    frames: list[list[Face]] = [[face_at(50, 60, t)] if t < 10 else [] for t in range(20)]
    frames += [[face_at(150, 60, t)] for t in range(20, 30)]
    (track,) = track_faces(frames, TrackSettings(max_gap=2, smoothing=1.0, min_overlap=0.0))
    assert track.long_gaps == ((10, 19),)
    np.testing.assert_allclose([centre(f)[0] for f in track.faces], [50] * 10 + [150] * 10, atol=1e-4)


def test_selection_picks_tracks_and_the_plan_swaps_them_only_where_they_are() -> None:
    left = [face_at(50, 50, t, size=30) for t in range(6)]
    right = [face_at(200, 50, t, size=50) for t in range(6)]
    frames = [[left[t]] + ([right[t]] if t >= 2 else []) for t in range(6)]
    tracks = track_faces(frames, OFF)
    biggest = choose_tracks(tracks, TargetSelection("indices", "large-small", (0,)), 6)
    assert biggest == [0]  # frame 0 has one face: the left one is face 0 there
    second = choose_tracks(tracks, TargetSelection("indices", "large-small", (1,)), 6)
    assert second == [0]  # frame 2 is the first with two faces: the left one is the smaller
    assert choose_tracks(tracks, TargetSelection("indices", "left-right", (1,)), 6) == [1]
    assert choose_tracks(tracks, TargetSelection(max_faces=1), 6) == [0]
    plan = plan_from_tracks(tracks, [1], 6, "large-small")
    assert [len(faces) for faces in plan.targets] == [0, 0, 1, 1, 1, 1] and plan.no_face == (0, 1)
    assert plan.track_ids[3] == (1,) and plan.targets[3][0].image_index == 3
    reference = choose_tracks(
        tracks,
        TargetSelection("reference", reference=Identity(np.ones((1, 4), np.float32), "test-space"), threshold=0.5),
        6,
        [0.2, 0.7],
    )
    assert reference == [1]


def test_plan_round_trips_through_json_exactly() -> None:
    faces = (face_at(50.123456, 60.5, 0),), (), (face_at(51.7, 60.25, 2), face_at(10, 10, 2))
    plan = SwapPlan(faces, ((3,), (), (3, 4)), no_face=(1,), bridged=(2,), long_gaps=((5, 9),))
    again = SwapPlan.from_json(plan.to_json())
    assert again.track_ids == plan.track_ids and again.no_face == (1,) and again.bridged == (2,) and again.long_gaps == ((5, 9),)
    for mine, theirs in zip(plan.targets, again.targets, strict=True):
        for face, other in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(face.landmarks, other.landmarks)
            np.testing.assert_array_equal(face.bbox, other.bbox)
            assert face.score == other.score and face.image_index == other.image_index
    with pytest.raises(InvalidArgumentError, match="not a swap plan"):
        SwapPlan.from_json('{"format": "something else"}')
    with pytest.raises(InvalidArgumentError, match="damaged"):
        SwapPlan.from_json(plan.to_json().replace('"landmarks"', '"marks"'))
    with pytest.raises(InvalidArgumentError, match="one track id per target"):
        SwapPlan(faces, ((3,), (), (3,)))


def test_a_cut_is_neither_bridged_nor_smoothed_across() -> None:
    """Identity links one person across a scene cut; their face jumps 150 px: each side keeps its own path."""
    person = np.array([[1.0, 0.0]])
    frames = [[face_at(50 + 0.5 * t, 60, t)] for t in range(10)] + [[] for _ in range(2)]
    frames += [[face_at(200 + 0.5 * t, 60, t)] for t in range(12, 24)]
    embeddings = [person if faces else np.zeros((0, 2)) for faces in frames]
    (track,) = track_faces(frames, TrackSettings(smoothing=1.0, min_similarity=0.5), embeddings)
    assert track.bridged == () and track.long_gaps == ((10, 11),)
    centres = [centre(face)[0] for face in track.faces]
    np.testing.assert_allclose(centres, [50 + 0.5 * t for t in range(10)] + [200 + 0.5 * t for t in range(12, 24)], atol=1e-3)
    assert is_cut(face_at(50, 60), face_at(200, 60), 3) and not is_cut(face_at(50, 60), face_at(70, 60), 3)
    assert is_cut(face_at(50, 60, size=40), face_at(50, 60, size=80), 1)


def test_a_flicker_is_never_face_0() -> None:
    """A false detection in the first frame, left of the real face, would be face 0 left to right; it is skipped."""
    frames = [[face_at(100, 50, t)] for t in range(6)]
    frames[0] = [face_at(20, 150, 0), *frames[0]]
    tracks = track_faces(frames, OFF)
    assert len(tracks) == 2 and tracks[0].frame_indices == (0,)
    assert choose_tracks(tracks, TargetSelection("indices", "left-right", (0,)), 6) == [1]
    assert choose_tracks(tracks[:1], TargetSelection("indices", "left-right", (0,)), 6) == [0]  # nothing longer
