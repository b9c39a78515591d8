"""Pass 1 of a video swap: which face to swap in which frame, decided for the whole clip before any swap.

``plan_swaps`` detects every frame chunk by chunk (only the ``Face`` records are kept, never the
pixels), then, with tracking, follows the faces through the clip (``tracks.track_faces``: associated,
gaps bridged, landmarks smoothed), picks the chosen person's track(s) and lists per frame the faces to
swap. Without tracking each frame is chosen on its own (``targets.select_targets``: today's per-image
behaviour). The ``SwapPlan`` it returns is what pass 2 (``stream.detect_and_swap``) swaps, and it
round-trips through JSON so an interrupted run resumes with the same faces.

Selection with tracks (``TargetSelection`` mode):

- ``all``: every track. ``max_faces`` N keeps the tracks that ``indices`` 0..N-1 would pick.
- ``indices``: index N is the track of face N (faces sorted by ``selection.order``) in the first frame
  where at least N + 1 faces are visible; several indices naming one track count once. Only steady
  tracks count here: a track detected in fewer than ``MIN_TRACK_FRAMES`` frames (a flicker, such as
  a false detection in one frame) is never face N, unless no track is longer.
- ``reference``: the tracks whose detected faces' mean cosine to the reference centroid is at least the
  threshold, best first (``max_faces`` caps their number).

A chosen track is swapped in every frame where it has a face (detected or bridged) and only there;
in each frame its faces are swapped in ``selection.order``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..compare import match_threshold
from ..errors import IncompatibleIdentitiesError, InvalidArgumentError, ModelOutputError
from ..faults import SkippedFace
from ..frames import DEFAULT_MEMORY_BUDGET_MB, Frames, frames_per_chunk
from ..protocols import Detector, Recognizer
from ..select import order_faces
from ..tracks import Track, TrackSettings, associate, build_track
from ..types import Face, RGBImage
from .targets import TargetSelection, select_targets, unit_embeddings_per_image

logger = logging.getLogger(__name__)

PLAN_FORMAT = "face-identity swap plan"
PLAN_VERSION = 1


def _face_record(face: Face) -> dict[str, Any]:
    return {"bbox": face.bbox.tolist(), "score": face.score, "landmarks": face.landmarks.tolist()}


@dataclass(frozen=True)
class SwapPlan:
    """The faces to swap in each frame of a clip (pass 1's result; see the module docstring).

    - ``targets``: per frame the faces to swap (smoothed or bridged with tracking), ``image_index`` = frame.
    - ``track_ids``: per frame, per target, its track id (-1 when tracking is off).
    - ``no_face``: frames where the chosen person is not found (not swapped).
    - ``bridged``: frames with a target interpolated over a short gap.
    - ``long_gaps``: ``(first, last)`` missing frames of the chosen tracks' gaps longer than ``max_gap``.
    """

    targets: tuple[tuple[Face, ...], ...]
    track_ids: tuple[tuple[int, ...], ...]
    no_face: tuple[int, ...] = ()
    bridged: tuple[int, ...] = ()
    long_gaps: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        targets = tuple(tuple(faces) for faces in self.targets)
        track_ids = tuple(tuple(int(i) for i in ids) for ids in self.track_ids)
        if len(targets) != len(track_ids) or any(len(f) != len(i) for f, i in zip(targets, track_ids, strict=True)):
            raise InvalidArgumentError("a swap plan needs one track id per target face, frame by frame")
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "track_ids", track_ids)
        object.__setattr__(self, "no_face", tuple(int(i) for i in self.no_face))
        object.__setattr__(self, "bridged", tuple(int(i) for i in self.bridged))
        object.__setattr__(self, "long_gaps", tuple((int(a), int(b)) for a, b in self.long_gaps))

    @property
    def count(self) -> int:
        """Frames the plan covers."""
        return len(self.targets)

    def to_json(self) -> str:
        """The plan as JSON text (float32 coordinates written exactly: ``from_json`` gives back equal arrays)."""
        document = {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "frames": self.count,
            "targets": [[_face_record(face) for face in faces] for faces in self.targets],
            "track_ids": [list(ids) for ids in self.track_ids],
            "no_face": list(self.no_face),
            "bridged": list(self.bridged),
            "long_gaps": [list(gap) for gap in self.long_gaps],
        }
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SwapPlan:
        """The plan written by ``to_json``.

        Raises:
            InvalidArgumentError: not a swap plan of this version, or a malformed field (names it).
        """
        try:
            document = json.loads(text)
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(f"a swap plan must be JSON written by SwapPlan.to_json: {error}") from None
        if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
            raise InvalidArgumentError("this JSON is not a swap plan; delete it and plan the clip again")
        if document.get("version") != PLAN_VERSION:
            raise InvalidArgumentError(
                f"swap plan version {document.get('version')!r} is not {PLAN_VERSION}; delete it and plan the clip again"
            )
        try:
            targets = tuple(
                tuple(Face(r["bbox"], r["score"], r["landmarks"], image_index=frame) for r in faces)
                for frame, faces in enumerate(document["targets"])
            )
            plan = cls(targets, document["track_ids"], document["no_face"], document["bridged"], document["long_gaps"])
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgumentError(
                f"the swap plan is damaged ({type(error).__name__}: {error}); plan the clip again"
            ) from None
        if plan.count != document.get("frames"):
            raise InvalidArgumentError(f"the swap plan says {document.get('frames')} frames but holds {plan.count}")
        return plan


def detect_each(
    detector: Detector, images: list[RGBImage], hooks: dict[str, Any], start: int, skipped: list[SkippedFace]
) -> list[list[Face]]:
    """``detector.detect_batch``; when a detector output is bad (``ModelOutputError``), frame by frame: a frame
    whose own detection is bad gets no face (left unchanged) and a ``SkippedFace`` (face index -1), the others go on."""
    try:
        return detector.detect_batch(images, **hooks)
    except ModelOutputError:
        pass
    found: list[list[Face]] = []
    for offset, image in enumerate(images):
        try:
            found.append([replace(face, image_index=offset) for face in detector.detect_batch([image])[0]])
        except ModelOutputError as error:
            found.append([])
            skipped.append(SkippedFace("detect", start + offset, -1, str(error)))
            logger.warning("%s", skipped[-1].line())
    return found


def _visible(tracks: Sequence[Track], frame: int) -> list[tuple[Face, int]]:
    """``(face, track number)`` of every track with a face in ``frame``."""
    present = [(track.face_at(frame), number) for number, track in enumerate(tracks)]
    return [(face, number) for face, number in present if face is not None]


MIN_TRACK_FRAMES = 3
"""Tracks detected in fewer frames (a flicker: a false detection) are not counted by index (when any track is longer)."""


def steady_tracks(tracks: Sequence[Track]) -> list[int]:
    """Numbers of the tracks detected in at least ``MIN_TRACK_FRAMES`` frames (or as many as the longest)."""
    detected = [len(track.frame_indices) - len(track.bridged) for track in tracks]
    floor = min(MIN_TRACK_FRAMES, max(detected, default=0))
    return [number for number, frames in enumerate(detected) if frames >= floor]


def _track_at_index(tracks: Sequence[Track], eligible: Sequence[int], index: int, order: str, count: int) -> int | None:
    """The track number (of ``eligible``) of face ``index`` (in ``order``) in the first frame with more than ``index`` faces."""
    candidates = [tracks[number] for number in eligible]
    for frame in range(count):
        visible = _visible(candidates, frame)
        if len(visible) > index:
            owner = {id(face): eligible[number] for face, number in visible}
            return owner[id(order_faces([face for face, _ in visible], order)[index])]
    return None


def choose_tracks(
    tracks: Sequence[Track], selection: TargetSelection, count: int, similarities: Sequence[float] | None = None
) -> list[int]:
    """Numbers of the chosen tracks (see the module docstring); ``similarities``: per track its mean reference cosine."""
    if selection.mode == "reference":
        assert similarities is not None  # plan_swaps computes them in reference mode
        threshold = selection.effective_threshold()
        kept = sorted((n for n in range(len(tracks)) if similarities[n] >= threshold), key=lambda n: -similarities[n])
        return kept[: selection.max_faces] if selection.max_faces > 0 else kept
    if selection.mode == "all" and selection.max_faces == 0:
        return list(range(len(tracks)))
    indices = selection.indices if selection.mode == "indices" else tuple(range(selection.max_faces))
    eligible = steady_tracks(tracks)
    chosen: list[int] = []
    for index in indices:
        number = _track_at_index(tracks, eligible, index, selection.order, count)
        if number is not None and number not in chosen:
            chosen.append(number)
    return chosen[: selection.max_faces] if selection.max_faces > 0 else chosen


def plan_from_tracks(tracks: Sequence[Track], chosen: Sequence[int], count: int, order: str) -> SwapPlan:
    """The plan that swaps the ``chosen`` tracks' faces in every frame where they have one, in ``order``."""
    targets: list[tuple[Face, ...]] = []
    track_ids: list[tuple[int, ...]] = []
    picked = [tracks[number] for number in chosen]
    bridged = sorted({frame for track in picked for frame in track.bridged})
    for frame in range(count):
        visible = _visible(picked, frame)
        owner = {id(face): picked[number].track_id for face, number in visible}
        faces = order_faces([face for face, _ in visible], order)
        targets.append(tuple(faces))
        track_ids.append(tuple(owner[id(face)] for face in faces))
    no_face = [frame for frame, faces in enumerate(targets) if not faces]
    gaps = sorted({gap for track in picked for gap in track.long_gaps})
    return SwapPlan(tuple(targets), tuple(track_ids), tuple(no_face), tuple(bridged), tuple(gaps))


def _embedder(recognizer: Recognizer | None, selection: TargetSelection) -> Recognizer | None:
    """The recognizer that embeds the faces for tracking (and reference mode), checked against the reference."""
    if selection.mode != "reference":
        return recognizer
    reference = selection.reference
    assert reference is not None  # checked by TargetSelection
    if recognizer is None:
        raise InvalidArgumentError('target mode "reference" needs a recognizer to embed the target faces')
    if recognizer.model_id != reference.model_id or recognizer.dimension != reference.dimension:
        raise IncompatibleIdentitiesError(
            f"the reference identity comes from {reference.model_id} ({reference.dimension}-d) but the recognizer "
            f"is {recognizer.model_id} ({recognizer.dimension}-d). Embed the reference with the recognizer used "
            "for target selection."
        )
    return recognizer


def plan_swaps(
    detector: Detector,
    frames: Any,
    selection: TargetSelection,
    tracking: TrackSettings | None,
    recognizer: Recognizer | None = None,
    *,
    chunk_frames: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    on_frames_done: Callable[[int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
    skipped: list[SkippedFace] | None = None,
    context: str = "plan_swaps",
) -> SwapPlan:
    """Pass 1: detect every frame, chunk by chunk, and decide the faces to swap (see the module docstring).

    Args:
        detector: finds the faces (its own settings apply).
        frames: ``frames.Frames`` or anything ``Frames.of`` takes, in clip order.
        selection: which person(s) to swap.
        tracking: ``None``: every frame chosen on its own (unrelated images); else tracks, gaps, smoothing.
        recognizer: embeds the faces: for the reference mode (of the reference's model, required there)
            and, when given, for tracking by identity (``tracking.min_similarity`` None: its match threshold).
            The faces of a chunk are embedded together: with a model whose output depends on its batch
            (a dynamically quantised int8 one) the embeddings, so rarely the tracks, may depend on the chunk size.
        chunk_frames, memory_budget_mb: as ``detect_and_swap``.
        on_frames_done: called with the number of frames detected after each chunk.
        check_cancel: called before each chunk and after each detected frame; raise from it to stop.
        skipped: frames whose detection output was bad are appended here (``SkippedFace``, face -1).

    Raises:
        InvalidArgumentError: ``chunk_frames`` < 1; reference mode without a recognizer.
        IncompatibleIdentitiesError: the recognizer is not of the reference's model.
    """
    given = Frames.of(frames, context)
    if chunk_frames is not None and chunk_frames < 1:
        raise InvalidArgumentError(f"chunk_frames must be at least 1, got {chunk_frames}")
    embedder = _embedder(recognizer, selection)
    step = chunk_frames or frames_per_chunk(*given.largest, memory_budget_mb)
    failures = skipped if skipped is not None else []
    hooks: dict[str, Any] = {} if check_cancel is None else {"on_image_done": lambda _index: check_cancel()}
    faces_per_frame: list[list[Face]] = []
    embeddings: list[NDArray[np.float32]] = []
    chosen_per_frame: list[list[Face]] = []
    for start, stop in given.chunks(step):
        if check_cancel is not None:
            check_cancel()
        pictures = given.uint8(start, stop)
        detected = detect_each(detector, pictures, hooks, start, failures)
        if tracking is None:
            chosen = select_targets(pictures, detected, selection, embedder)
            chosen_per_frame.extend([replace(f, image_index=start + i) for f in faces] for i, faces in enumerate(chosen))
        else:
            sized = [
                [replace(f, image_index=start + i) for f in faces if min(f.width, f.height) >= selection.min_size]
                for i, faces in enumerate(detected)
            ]
            faces_per_frame.extend(sized)
            if embedder is not None:
                embeddings.extend(unit_embeddings_per_image(embedder, pictures, sized))
        if on_frames_done is not None:
            on_frames_done(stop - start)
    if tracking is None:
        targets = tuple(tuple(faces) for faces in chosen_per_frame)
        no_face = tuple(frame for frame, faces in enumerate(targets) if not faces)
        return SwapPlan(targets, tuple((-1,) * len(faces) for faces in targets), no_face)
    return _plan_tracked(faces_per_frame, embeddings if embedder is not None else None, selection, tracking, embedder)


def _plan_tracked(
    faces_per_frame: list[list[Face]],
    embeddings: list[NDArray[np.float32]] | None,
    selection: TargetSelection,
    tracking: TrackSettings,
    embedder: Recognizer | None,
) -> SwapPlan:
    """Tracks, the chosen ones and the plan, from pass 1's faces and (optional) unit embeddings."""
    if embedder is not None and tracking.min_similarity is None:
        tracking = replace(tracking, min_similarity=match_threshold(embedder.model_id, warn=False))
    detections = associate(faces_per_frame, tracking, embeddings)
    tracks = [build_track(number, pairs, tracking) for number, pairs in enumerate(detections)]
    similarities = None
    if selection.mode == "reference":
        assert embeddings is not None and selection.reference is not None
        centroid = selection.reference.centroid().astype(np.float32)
        cosine = {
            id(face): float(np.dot(row, centroid))
            for faces, rows in zip(faces_per_frame, embeddings, strict=True)
            for face, row in zip(faces, rows, strict=True)
        }
        similarities = [float(np.mean([cosine[id(face)] for _, face in pairs])) for pairs in detections]
        logger.debug("track reference similarities %s", np.round(similarities, 3))
    chosen = choose_tracks(tracks, selection, len(faces_per_frame), similarities)
    logger.debug("%d track(s), chosen %s", len(tracks), chosen)
    return plan_from_tracks(tracks, chosen, len(faces_per_frame), selection.order)
