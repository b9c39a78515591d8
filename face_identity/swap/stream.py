"""Detect and swap a whole image batch, chunk by chunk: the one entry point of the swap stage.

``detect_and_swap`` takes ``frames.Frames`` (or anything ``Frames.of`` takes: a list of photos, a
ComfyUI IMAGE tensor on any device, a long video), validated once. Frames come to the host a
chunk at a time, so the uint8 and float32 working copies exist for one chunk only, and the results
go straight into ``[B, H, W, 3]`` and ``[B, H, W]`` arrays allocated once (frames of different
sizes get one array each). Chunks are sized by ``frames.frames_per_chunk``. The results do not
depend on the chunk size: detection, target selection and swapping are per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError, ModelOutputError
from ..faults import SkippedFace
from ..frames import DEFAULT_MEMORY_BUDGET_MB, Frames, frames_per_chunk
from ..protocols import Detector, Recognizer
from ..timeline import IdentityTimeline, build_timeline
from ..types import Face, FloatImage, Identity, RGBImage
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
    """

    images: NDArray[np.float32] | tuple[FloatImage, ...]
    masks: NDArray[np.float32] | tuple[NDArray[np.float32], ...]
    swapped_counts: tuple[int, ...]
    targets: tuple[tuple[Face, ...], ...]
    skipped_faces: tuple[SkippedFace, ...] = ()
    timeline: IdentityTimeline | None = None


def _detect_each(
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


def _output(given: NDArray[np.float32] | None, shape: tuple[int, ...], name: str) -> NDArray[np.float32]:
    """``given`` when it is a writable float32 numpy array of ``shape``; a new uninitialised one when ``None``."""
    if given is None:
        return np.empty(shape, np.float32)
    if not isinstance(given, np.ndarray) or given.shape != shape or given.dtype != np.float32 or not given.flags.writeable:
        got = f"{type(given).__name__} {getattr(given, 'shape', '')} {getattr(given, 'dtype', '')}"
        raise InvalidArgumentError(f"{name} must be a writable float32 numpy array of shape {shape}, got {got}")
    return given


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
) -> SwappedBatch:
    """Detect faces in every frame, pick the targets, swap the source identity onto them, chunk by chunk.

    Args:
        swapper: from ``load_swapper``.
        detector: a ``FaceDetector`` (its own settings apply).
        images: ``frames.Frames``, or anything ``Frames.of`` takes (``[B, H, W, C]`` float 0..1 or
            uint8, numpy or torch on any device; a sequence of ``[H, W, C]`` images or paths).
        source: the identity to paste in (``swapper.require_compatible``).
        settings: see ``SwapSettings``.
        selection: see ``TargetSelection``.
        recognizer: ``ArcFaceRecognizer`` of the swapper's space for strength < 1 (and reference
            mode when ``reference_recognizer`` is not given).
        reference_recognizer: recognizer of the reference identity's model, for reference mode.
        chunk_frames: frames per chunk; default ``frames.frames_per_chunk(H, W, memory_budget_mb)``.
        memory_budget_mb: host memory one chunk's frames and their copies may take.
        out_images, out_masks: preallocated ``[B, H, W, 3]`` / ``[B, H, W]`` float32 outputs
            (e.g. memory-mapped), every frame overwritten; default: allocated here.
        on_frames_done: called with the number of frames finished after each chunk (progress).
        check_cancel: called before each chunk and after each detected frame; raise from it to stop.
        context: names the caller (e.g. a node) in error messages.
        fallback: models to try, in order, on a face whose retention is below ``retention_floor``
            after ``swapper`` (``selfcheck.swap_checked``); all of the source's space. Needs the floor.
        retention_floor: the lowest retention (cosine to the source, -1..1) a swapped face may keep;
            given, every face is scored and the frames below it are flagged.
        check_identity: score every swapped face even without a floor or fallback (the timeline).
        With any of the three, ``recognizer`` (of the source's space) scores the faces and
        ``SwappedBatch.timeline`` is filled; without them nothing is scored (today's swap, bit for bit).

    Returns:
        ``SwappedBatch``; frames without a (matching) face come back unchanged and count as skipped.

    Raises:
        IncompatibleIdentitiesError: the source is not of the swapper's space (raised before any work).
        InvalidImageError: refused by the input policy (``frames.Frames.of``).
        InvalidArgumentError: ``chunk_frames`` < 1, wrong output arrays, or as ``swap_faces``.
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
    count = frames.count
    uniform = frames.size is not None
    height, width = frames.size or (0, 0)
    swapped: Any = _output(out_images, (count, height, width, 3), "out_images") if uniform else [None] * count
    masks: Any = _output(out_masks, (count, height, width), "out_masks") if uniform else [None] * count
    if detector is None:
        raise InvalidArgumentError(f"{context}: a detector is needed to find the faces to swap")
    largest = (max((h for h, _ in frames.sizes), default=1), max((w for _, w in frames.sizes), default=1))
    step = chunk_frames or frames_per_chunk(*largest, memory_budget_mb)
    counts: list[int] = []
    targets: list[tuple[Face, ...]] = []
    skipped: list[SkippedFace] = []
    checks: list[FaceCheck] = []
    hooks: dict[str, Any] = {} if check_cancel is None else {"on_image_done": lambda _index: check_cancel()}
    for start, stop in frames.chunks(step):
        if check_cancel is not None:
            check_cancel()
        uint8_frames = frames.uint8(start, stop)
        detected = _detect_each(detector, uint8_frames, hooks, start, skipped)
        chosen = select_targets(uint8_frames, detected, selection, reference_recognizer or recognizer)
        window = frames.window(start, stop)
        if checking:
            assert recognizer is not None  # check_chain
            result, found = swap_checked(chain, window, source, chosen, settings, recognizer, detector, floor, uint8_frames)
            checks.extend(replace(check, frame=start + check.frame) for check in found)
        else:
            result = swap_faces(swapper, window, source, chosen, settings, recognizer, uint8_frames)
        for offset, (frame, mask) in enumerate(zip(result.images, result.masks, strict=True)):
            swapped[start + offset] = frame
            masks[start + offset] = mask
        counts.extend(result.swapped_counts)
        skipped.extend(replace(face, image_index=start + face.image_index) for face in result.skipped_faces)
        # Detection numbers the frames of a chunk from 0; the batch's faces carry their frame's batch index.
        targets.extend(
            tuple(replace(face, image_index=start + offset) for face in faces) for offset, faces in enumerate(result.targets)
        )
        if on_frames_done is not None:
            on_frames_done(stop - start)
    logger.debug("detect and swap: %d frame(s) in chunks of %d; %d face(s) swapped", count, step, sum(counts))
    if not uniform:
        swapped, masks = tuple(swapped), tuple(masks)
    timeline = build_timeline(count, checks, None, floor) if checking else None
    return SwappedBatch(swapped, masks, tuple(counts), tuple(targets), tuple(skipped), timeline)
