"""Detect and swap a whole image batch, chunk by chunk: the one entry point of the swap stage.

``detect_and_swap`` takes ``frames.Frames`` (or anything ``Frames.of`` takes: a list of photos, a
ComfyUI IMAGE tensor on any device, a long video), validated once. Frames come to the host a
chunk at a time, so the uint8 and float32 working copies exist for one chunk only, and the results
go straight into ``[B, H, W, 3]`` and ``[B, H, W]`` arrays allocated once (frames of different
sizes get one array each). Chunks are sized by ``frames.frames_per_chunk``. The results do not
depend on the chunk size: detection, target selection and swapping are per frame.

With ``tracking`` (a clip, not unrelated images) the work is two passes: pass 1
(``plan.plan_swaps``) detects every frame chunk by chunk, keeps only the ``Face`` records, follows the
faces through the clip, bridges short gaps and smooths the landmarks into a ``SwapPlan``; pass 2 swaps
chunk by chunk from that plan. A plan given by the caller (e.g. read back on resume) skips pass 1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError
from ..faults import SkippedFace
from ..frames import DEFAULT_MEMORY_BUDGET_MB, Frames, frames_per_chunk
from ..protocols import Detector, Recognizer
from ..timeline import IdentityTimeline, build_timeline
from ..tracks import TrackSettings
from ..types import Face, FloatImage, Identity, RGBImage
from ..validate import check_integer
from .plan import SwapPlan, detect_each, plan_swaps
from .run import DEFAULT_SWAP, SwapCounts, Swapper, SwapSettings, swap_faces
from .selfcheck import FaceCheck, check_chain, swap_checked
from .targets import EVERY_TARGET, TargetSelection, select_targets

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SwappedBatch(SwapCounts):
    """A swapped image batch.

    - ``images``: ``[B, H, W, 3]`` float32 RGB 0..1 (a tuple of ``[H, W, 3]`` when the frames differ
      in size); a frame with no swapped face is an exact float32 copy of its input (alpha dropped,
      grey repeated, uint8 divided by 255).
    - ``masks``: ``[B, H, W]`` float32 0..1 (a tuple of ``[H, W]`` likewise), per frame the union
      (maximum) of its paste masks.
    - ``swapped_counts``: faces swapped per frame. ``targets``: the swapped faces per frame, with
      the matrix of their swap crop (as ``SwapResult.targets``) and their frame's batch index.
    - ``skipped_faces``: faces left as they were because a model output was bad, by batch frame index.
    - ``timeline``: retention and leakage per frame, the model that won, the flagged frames
      (``timeline.IdentityTimeline``), when the swap checked itself (fallback, floor or ``check_identity``).
    - ``plan``: the ``SwapPlan`` swapped (given, or made by pass 1 with tracking); ``None`` without tracking.

    From ``start_frame`` on: every per-frame field covers frames ``start_frame..`` (faces keep their
    batch index); with ``on_chunk`` the images and masks were handed over and hold 0 frames here.
    """

    images: NDArray[np.float32] | tuple[FloatImage, ...]
    masks: NDArray[np.float32] | tuple[NDArray[np.float32], ...]
    swapped_counts: tuple[int, ...]
    targets: tuple[tuple[Face, ...], ...]
    skipped_faces: tuple[SkippedFace, ...] = ()
    plan: SwapPlan | None = None
    timeline: IdentityTimeline | None = None


def _output(given: NDArray[np.float32] | None, shape: tuple[int, ...], name: str) -> NDArray[np.float32]:
    """``given`` when it is a writable float32 numpy array of ``shape``; a new uninitialised one when ``None``."""
    if given is None:
        return np.empty(shape, np.float32)
    if not isinstance(given, np.ndarray) or given.shape != shape or given.dtype != np.float32 or not given.flags.writeable:
        got = f"{type(given).__name__} {getattr(given, 'shape', '')} {getattr(given, 'dtype', '')}"
        raise InvalidArgumentError(f"{name} must be a writable float32 numpy array of shape {shape}, got {got}")
    return given


ChunkSink = Callable[[int, NDArray[np.float32], NDArray[np.float32]], None]
"""``on_chunk(first frame, images [n, H, W, 3] float32 RGB 0..1, masks [n, H, W] float32 0..1)``, in frame order;
frames of different sizes come in one call per run of one size."""


def _hand_over(on_chunk: ChunkSink, start: int, images: Sequence[FloatImage], masks: Sequence[NDArray[np.float32]]) -> None:
    """One chunk to ``on_chunk``, stacked: in one piece when its frames share a size, else one piece per run of one size."""
    first = 0
    for stop in range(1, len(images) + 1):
        if stop == len(images) or images[stop].shape != images[first].shape:
            on_chunk(start + first, np.stack(images[first:stop]), np.stack(masks[first:stop]))
            first = stop


def detect_and_swap(
    swapper: Swapper,
    detector: Detector | None,
    images: Any,
    source: Identity,
    settings: SwapSettings = DEFAULT_SWAP,
    selection: TargetSelection = EVERY_TARGET,
    recognizer: Recognizer | None = None,
    reference_recognizer: Recognizer | None = None,
    *,
    chunk_frames: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    out_images: NDArray[np.float32] | None = None,
    out_masks: NDArray[np.float32] | None = None,
    on_frames_done: Callable[[int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
    context: str = "detect_and_swap",
    fallback: Sequence[Swapper] = (),
    retention_floor: float | None = None,
    check_identity: bool = False,
    tracking: TrackSettings | None = None,
    plan: SwapPlan | None = None,
    start_frame: int = 0,
    on_chunk: ChunkSink | None = None,
    on_frames_planned: Callable[[int], None] | None = None,
) -> SwappedBatch:
    """Detect faces in every frame, pick the targets, swap the source identity onto them, chunk by chunk.

    Args:
        swapper: from ``load_swapper``.
        detector: a ``FaceDetector`` (its own settings apply); may be ``None`` when ``plan`` is given.
        images: ``frames.Frames``, or anything ``Frames.of`` takes (``[B, H, W, C]`` float 0..1 or
            uint8, numpy or torch on any device; a sequence of ``[H, W, C]`` images or paths).
        source: the identity to paste in (``swapper.require_compatible``).
        settings: see ``SwapSettings``.
        selection: see ``TargetSelection`` (with tracking: see ``plan``'s module docstring).
        recognizer: ``ArcFaceRecognizer`` of the swapper's space for strength < 1 (and reference
            mode when ``reference_recognizer`` is not given).
        reference_recognizer: recognizer of the reference identity's model, for reference mode.
            With tracking, ``reference_recognizer or recognizer`` also links faces by identity.
        chunk_frames: frames per chunk; default ``frames.frames_per_chunk(H, W, memory_budget_mb)``.
        memory_budget_mb: host memory one chunk's frames and their copies may take.
        out_images, out_masks: preallocated ``[B - start_frame, H, W, 3]`` / ``[B - start_frame, H, W]``
            float32 outputs (e.g. memory-mapped), every frame overwritten; default: allocated here.
        on_frames_done: called with the number of frames swapped after each chunk (progress; pass 2 only).
        check_cancel: called before each chunk and after each detected frame; raise from it to stop.
        context: names the caller (e.g. a node) in error messages.
        fallback: models to try, in order, on a face whose retention is below ``retention_floor``
            after ``swapper`` (``selfcheck.swap_checked``); all of the source's space. Needs the floor.
        retention_floor: the lowest retention (cosine to the source, -1..1) a swapped face may keep;
            given, every face is scored and the frames below it are flagged.
        check_identity: score every swapped face even without a floor or fallback (the timeline).
        With any of the three, ``recognizer`` (of the source's space) scores the faces and
        ``SwappedBatch.timeline`` is filled; without them nothing is scored (today's swap, bit for bit).
        tracking: ``None``: the frames are unrelated images, each chosen on its own (bit-identical to
            earlier versions). Given: the frames are a clip; two passes (module docstring).
        plan: a ``SwapPlan`` of these frames (e.g. ``SwappedBatch.plan`` of an interrupted run): no detection.
        start_frame: frames before it are neither swapped nor returned (resume); pass 1 still reads them.
        on_chunk: given, each finished chunk is handed to it (``ChunkSink``) and not kept: bounded memory.
        on_frames_planned: called with the number of frames detected after each chunk of pass 1 (progress).

    Returns:
        ``SwappedBatch``; frames without a (matching) face come back unchanged and count as skipped.

    Raises:
        IncompatibleIdentitiesError: the source is not of the swapper's space (raised before any work).
        InvalidImageError: refused by the input policy (``frames.Frames.of``).
        InvalidArgumentError: ``chunk_frames`` < 1, wrong output arrays, ``start_frame`` outside the
            frames, a plan of another frame count, or as ``swap_faces``.
    """
    swapper.require_compatible(source)
    checking = bool(fallback) or retention_floor is not None or check_identity
    chain = (swapper, *fallback)
    if fallback and retention_floor is None:
        raise InvalidArgumentError(
            f"{context}: fallback models are tried on faces below the retention floor; give retention_floor (e.g. 0.5)"
        )
    floor = check_chain(chain, source, recognizer, detector, retention_floor, context, settings=settings) if checking else None
    frames = Frames.of(images, context)  # the one validation of these pixels
    if chunk_frames is not None and chunk_frames < 1:
        raise InvalidArgumentError(f"chunk_frames must be at least 1, got {chunk_frames}")
    first = check_integer(start_frame, "start frame", context, minimum=0, maximum=frames.count)
    if on_chunk is not None and (out_images is not None or out_masks is not None):
        raise InvalidArgumentError(f"{context}: give on_chunk or out_images/out_masks, not both (on_chunk keeps no frames)")
    kept = 0 if on_chunk is not None else frames.count - first
    uniform = frames.size is not None
    height, width = frames.size or (0, 0)
    swapped: Any = _output(out_images, (kept, height, width, 3), "out_images") if uniform else [None] * kept
    masks: Any = _output(out_masks, (kept, height, width), "out_masks") if uniform else [None] * kept
    if detector is None and plan is None:
        raise InvalidArgumentError(f"{context}: a detector is needed to find the faces to swap")
    if plan is not None and plan.count != frames.count:
        raise InvalidArgumentError(f"{context}: the swap plan covers {plan.count} frames but {frames.count} were given")
    step = chunk_frames or frames_per_chunk(*frames.largest, memory_budget_mb)
    counts: list[int] = []
    targets: list[tuple[Face, ...]] = []
    skipped: list[SkippedFace] = []
    checks: list[FaceCheck] = []
    if plan is None and tracking is not None:
        assert detector is not None  # checked above
        pass_one = reference_recognizer or recognizer
        plan = plan_swaps(
            detector,
            frames,
            selection,
            tracking,
            pass_one,
            chunk_frames=step,
            on_frames_done=on_frames_planned,
            check_cancel=check_cancel,
            skipped=skipped,
        )
    hooks: dict[str, Any] = {} if check_cancel is None else {"on_image_done": lambda _index: check_cancel()}
    for start in range(first, frames.count, step):
        stop = min(start + step, frames.count)
        if check_cancel is not None:
            check_cancel()
        if plan is None:
            assert detector is not None  # checked above
            pictures = frames.uint8(start, stop)
            detected = detect_each(detector, pictures, hooks, start, skipped)
            chosen = select_targets(pictures, detected, selection, reference_recognizer or recognizer)
            uint8_frames: list[RGBImage] | None = pictures
        else:
            uint8_frames = frames.uint8(start, stop) if settings.strength < 1.0 or checking else None
            chosen = [list(faces) for faces in plan.targets[start:stop]]
        window = frames.window(start, stop)
        if checking:
            assert recognizer is not None and detector is not None  # check_chain
            result, found = swap_checked(chain, window, source, chosen, settings, recognizer, detector, floor, uint8_frames)
            checks.extend(replace(check, frame=start + check.frame) for check in found)
        else:
            result = swap_faces(swapper, window, source, chosen, settings, recognizer, uint8_frames)
        if on_chunk is not None:
            _hand_over(on_chunk, start, result.images, result.masks)
        else:
            for offset, (frame, mask) in enumerate(zip(result.images, result.masks, strict=True)):
                swapped[start - first + offset] = frame
                masks[start - first + offset] = mask
        counts.extend(result.swapped_counts)
        skipped.extend(replace(face, image_index=start + face.image_index) for face in result.skipped_faces)
        # Detection numbers the frames of a chunk from 0; the batch's faces carry their frame's batch index.
        targets.extend(
            tuple(replace(face, image_index=start + offset) for face in faces) for offset, faces in enumerate(result.targets)
        )
        if on_frames_done is not None:
            on_frames_done(stop - start)
    logger.debug("detect and swap: %d frame(s) in chunks of %d; %d face(s) swapped", len(counts), step, sum(counts))
    if not uniform:
        swapped, masks = tuple(swapped), tuple(masks)
    timeline = build_timeline(frames.count, checks, plan, floor) if checking else None
    return SwappedBatch(swapped, masks, tuple(counts), tuple(targets), tuple(skipped), plan, timeline)
