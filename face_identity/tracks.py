"""Face tracks: the same person followed across the frames of a clip, gaps bridged, points smoothed.

``track_faces`` takes the detected faces of every frame (in frame order) and returns tracks:

1. **Association**, frame by frame. Every face of the frame is scored against every track:
   box IoU with the track's last detected box, plus (when embeddings are given) the cosine of the
   face's embedding with the track's identity (the normalised sum of its faces' unit embeddings, so
   one partly hidden face barely moves it). A pair may be linked when
   - box only: the IoU is at least ``min_overlap``;
   - with embeddings and a ``min_similarity``: the cosine is at least ``min_similarity`` (identity alone
     re-finds a person after a crossing or a gap, wherever they are);
   - with embeddings and no ``min_similarity``: the IoU is at least ``min_overlap`` (the cosine only ranks).
   Pairs are linked greedily, best score first, each track and face at most once (greedy rather than
   Hungarian: there is no scipy dependency, and with the gates above the best pair is nearly always the
   only one). A face linked to no track starts a new one. Track ids count from 0 in order of first frame.
2. **Bridging.** A gap of up to ``max_gap`` missed frames between two detections of a track is filled
   by linear interpolation of the 5 landmarks and the box (``Track.bridged``). A longer gap is not
   filled and is reported (``Track.long_gaps``); the track goes on after it. A cut (``is_cut``: the
   face jumps or changes size abruptly, as when identity links a person across a scene cut) is never
   bridged either; its missing frames, if any, are reported the same way.
3. **Smoothing** (``smoothing.smooth_points``) of the 5 landmarks along each unbroken run of a track
   (a long gap or a cut breaks a run: nothing is smoothed across it). The box follows the landmarks: it is moved
   by the mean shift of its 5 points. The swap crop is cut from the landmarks, so it follows too.

Tracks never mix frames of unrelated images: the caller asks for tracks only for a clip.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidArgumentError
from .smoothing import check_smoother, smooth_points
from .types import Face
from .validate import check_integer, check_number


@dataclass(frozen=True)
class TrackSettings:
    """How faces are followed across frames (see the module docstring).

    - ``max_gap``: missed frames bridged by interpolation (0 = none); longer gaps are reported.
    - ``min_overlap``: box IoU (0..1) to link a face to a track's last box.
    - ``min_similarity``: embedding cosine (-1..1) to link a face to a track (needs embeddings);
      ``None``: ``plan_swaps`` uses the recognizer's match threshold, ``track_faces`` the box gate.
    - ``smoothing``: 0 (off) .. 1 (strongest); ``smoother``: ``centred`` (whole clip known: look-ahead,
      no lag), ``causal`` (One Euro, streamed input) or ``off``.
    """

    max_gap: int = 8
    min_overlap: float = 0.3
    min_similarity: float | None = None
    smoothing: float = 0.5
    smoother: str = "centred"

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_gap", check_integer(self.max_gap, "max gap", minimum=0))
        object.__setattr__(self, "min_overlap", check_number(self.min_overlap, "min overlap", minimum=0.0, maximum=1.0))
        if self.min_similarity is not None:
            similarity = check_number(self.min_similarity, "min similarity", minimum=-1.0, maximum=1.0)
            object.__setattr__(self, "min_similarity", similarity)
        object.__setattr__(self, "smoothing", check_number(self.smoothing, "smoothing", minimum=0.0, maximum=1.0))
        check_smoother(self.smoother)


DEFAULT_TRACKING = TrackSettings()
"""Tracking as the CLI and the nodes default to for video: gaps up to 8 frames bridged, centred smoothing 0.5."""


@dataclass(frozen=True)
class Track:
    """One person followed through a clip.

    - ``frame_indices``: ascending frames where the track has a face (detected or bridged).
    - ``faces``: one ``Face`` per frame index (``image_index`` = that frame), smoothed when smoothing is on.
    - ``bridged``: the frame indices whose face was interpolated.
    - ``long_gaps``: ``(first missing, last missing)`` frames of each gap not bridged: longer than
      ``max_gap``, or across a cut (``is_cut``).
    """

    track_id: int
    frame_indices: tuple[int, ...]
    faces: tuple[Face, ...]
    bridged: tuple[int, ...] = ()
    long_gaps: tuple[tuple[int, int], ...] = ()

    def face_at(self, frame: int) -> Face | None:
        """The track's face in ``frame``, or ``None`` when it has none there."""
        position = bisect_left(self.frame_indices, frame)
        if position < len(self.frame_indices) and self.frame_indices[position] == frame:
            return self.faces[position]
        return None


def iou_matrix(first: NDArray[np.floating], second: NDArray[np.floating]) -> NDArray[np.float64]:
    """``[N, M]`` intersection over union of ``[N, 4]`` and ``[M, 4]`` x1, y1, x2, y2 boxes (0 where either is empty)."""
    a = np.asarray(first, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(second, np.float64).reshape(-1, 4)[None, :, :]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    inter = width * height
    area_a = np.clip(a[..., 2] - a[..., 0], 0.0, None) * np.clip(a[..., 3] - a[..., 1], 0.0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0.0, None) * np.clip(b[..., 3] - b[..., 1], 0.0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _unit_rows(rows: NDArray[np.floating], count: int, frame: int) -> NDArray[np.float64]:
    array = np.asarray(rows, np.float64)
    if array.ndim != 2 or array.shape[0] != count:
        raise InvalidArgumentError(f"frame {frame}: {count} face(s) but embeddings of shape {array.shape}; give [F, D] rows")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


def _scores(
    overlap: NDArray[np.float64], similarity: NDArray[np.float64] | None, settings: TrackSettings
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """``[tracks, faces]`` (may link, score) by the gates of the module docstring."""
    if similarity is None:
        return overlap >= settings.min_overlap, overlap
    if settings.min_similarity is None:
        return overlap >= settings.min_overlap, overlap + similarity
    return similarity >= settings.min_similarity, overlap + similarity


def associate(
    faces_per_frame: Sequence[Sequence[Face]],
    settings: TrackSettings,
    embeddings_per_frame: Sequence[NDArray[np.floating]] | None = None,
) -> list[list[tuple[int, Face]]]:
    """Step 1 of the module docstring: per track (in order of first frame) its ``(frame, detected face)`` pairs.

    A track's identity is the normalised sum of its faces' unit embeddings (one partly hidden face
    barely moves it); its box is its last detected one.
    """
    if embeddings_per_frame is not None and len(embeddings_per_frame) != len(faces_per_frame):
        raise InvalidArgumentError(f"{len(faces_per_frame)} frames of faces but embeddings for {len(embeddings_per_frame)}")
    tracks: list[list[tuple[int, Face]]] = []
    last_boxes = np.zeros((0, 4), np.float64)
    identities: list[NDArray[np.float64]] = []
    for frame, faces in enumerate(faces_per_frame):
        if not faces:
            continue
        boxes = np.stack([face.bbox for face in faces]).astype(np.float64)
        rows = None if embeddings_per_frame is None else _unit_rows(embeddings_per_frame[frame], len(faces), frame)
        similarity = None
        if rows is not None and identities:
            sums = np.stack(identities)
            similarity = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)) @ rows.T
        allowed, score = _scores(iou_matrix(last_boxes, boxes), similarity, settings)
        track_numbers, face_numbers = np.nonzero(allowed)
        order = np.lexsort((face_numbers, track_numbers, -score[track_numbers, face_numbers]))
        linked_tracks: set[int] = set()
        linked_faces: set[int] = set()
        for track_number, face_number in zip(track_numbers[order].tolist(), face_numbers[order].tolist(), strict=True):
            if track_number in linked_tracks or face_number in linked_faces:
                continue
            linked_tracks.add(track_number)
            linked_faces.add(face_number)
            tracks[track_number].append((frame, faces[face_number]))
            last_boxes[track_number] = boxes[face_number]
            if rows is not None:
                identities[track_number] = identities[track_number] + rows[face_number]
        new = [number for number in range(len(faces)) if number not in linked_faces]
        tracks.extend([(frame, faces[number])] for number in new)
        last_boxes = np.concatenate([last_boxes, boxes[new]])
        if rows is not None:
            identities.extend(rows[number].copy() for number in new)
    return tracks


def interpolate_face(before: Face, after: Face, frame: int, first: int, last: int) -> Face:
    """The face of ``frame`` on the straight line from ``before`` (at frame ``first``) to ``after`` (at ``last``)."""
    weight = (frame - first) / (last - first)
    landmarks = (1.0 - weight) * before.landmarks.astype(np.float64) + weight * after.landmarks.astype(np.float64)
    bbox = (1.0 - weight) * before.bbox.astype(np.float64) + weight * after.bbox.astype(np.float64)
    return Face(bbox.astype(np.float32), min(before.score, after.score), landmarks.astype(np.float32), image_index=frame)


CUT_SPEED = 1.0
"""A track's face moving more than this many box sides per frame between two detections is a cut (see ``is_cut``)."""
CUT_SCALE = 1.5
"""A track's box growing or shrinking by more than this factor between two detections is a cut."""


def is_cut(before: Face, after: Face, frames: int) -> bool:
    """Whether ``after``, ``frames`` frames after ``before`` in one track, is a jump rather than a motion.

    Identity links a person across a scene cut or a camera switch; their face then jumps (more than
    ``CUT_SPEED`` box sides per frame) or changes size abruptly (by more than ``CUT_SCALE``). Nothing
    is interpolated or smoothed across such a jump.
    """
    side_before = max(np.sqrt(max(before.area, 0.0)), 1.0)
    side_after = max(np.sqrt(max(after.area, 0.0)), 1.0)
    shift = np.linalg.norm(after.landmarks.mean(axis=0) - before.landmarks.mean(axis=0))
    speed = float(shift) / max(frames, 1) / (0.5 * (side_before + side_after))
    return speed > CUT_SPEED or max(side_before, side_after) / min(side_before, side_after) > CUT_SCALE


def _bridge(
    detections: list[tuple[int, Face]], max_gap: int
) -> tuple[list[list[tuple[int, Face]]], list[int], list[tuple[int, int]]]:
    """Step 2: the track's unbroken runs of ``(frame, face)``, the bridged frames and the gaps not bridged.

    A run breaks at a gap longer than ``max_gap`` and at a cut (``is_cut``); the missing frames of
    such a break, if any, are reported.
    """
    first_frame, first_face = detections[0]
    runs: list[list[tuple[int, Face]]] = [[(first_frame, replace(first_face, image_index=first_frame))]]
    bridged: list[int] = []
    gaps: list[tuple[int, int]] = []
    for (first, before), (last, after) in zip(detections, detections[1:]):
        missing = last - first - 1
        if missing > max_gap or is_cut(before, after, last - first):
            if missing > 0:
                gaps.append((first + 1, last - 1))
            runs.append([])
        else:
            for frame in range(first + 1, last):
                runs[-1].append((frame, interpolate_face(before, after, frame, first, last)))
                bridged.append(frame)
        runs[-1].append((last, replace(after, image_index=last)))
    return runs, bridged, gaps


def smooth_run(faces: Sequence[Face], strength: float, smoother: str) -> list[Face]:
    """Step 3 on one unbroken run: landmarks smoothed, each box moved by the mean shift of its landmarks."""
    points = np.stack([face.landmarks for face in faces])
    smoothed = smooth_points(points, strength, smoother)
    shifts = (smoothed.astype(np.float64) - points.astype(np.float64)).mean(axis=1)
    result = []
    for face, landmarks, (dx, dy) in zip(faces, smoothed, shifts, strict=True):
        bbox = face.bbox.astype(np.float64) + np.array([dx, dy, dx, dy])
        result.append(replace(face, landmarks=landmarks, bbox=bbox))
    return result


def build_track(track_id: int, detections: Sequence[tuple[int, Face]], settings: TrackSettings) -> Track:
    """Steps 2 and 3 on one track's ``(frame, detected face)`` pairs (ascending frames, from ``associate``)."""
    runs, bridged, gaps = _bridge(list(detections), settings.max_gap)
    frames: list[int] = []
    faces: list[Face] = []
    for run in runs:
        frames.extend(frame for frame, _ in run)
        faces.extend(smooth_run([face for _, face in run], settings.smoothing, settings.smoother))
    return Track(track_id, tuple(frames), tuple(faces), tuple(bridged), tuple(gaps))


def track_faces(
    faces_per_frame: Sequence[Sequence[Face]],
    settings: TrackSettings,
    embeddings_per_frame: Sequence[NDArray[np.floating]] | None = None,
) -> tuple[Track, ...]:
    """Tracks of the faces of a clip: associated, bridged and smoothed (see the module docstring).

    Args:
        faces_per_frame: the detected faces of each frame, frames in clip order.
        settings: gates, gap length and smoothing.
        embeddings_per_frame: optional, per frame ``[F_i, D]`` embeddings of its faces (normalised here).

    Returns:
        Tracks in order of their first frame, ``track_id`` 0, 1, ...; every face's ``image_index`` is its frame.

    Raises:
        InvalidArgumentError: embeddings not given for every frame, or not one row per face.
    """
    detections = associate(faces_per_frame, settings, embeddings_per_frame)
    return tuple(build_track(track_id, pairs, settings) for track_id, pairs in enumerate(detections))
