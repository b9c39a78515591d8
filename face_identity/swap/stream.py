"""Swap a whole image batch (a video) chunk by chunk: detect, pick targets, swap, write into preallocated outputs.

``swap_stream`` is ``run.detect_and_swap`` for a batch too long to hold twice: frames (ComfyUI's
IMAGE layout, numpy or a torch tensor on any device) are brought to the host a chunk at a time, so
the uint8 and float32 working copies exist for one chunk only, and the results go straight into
``[B, H, W, 3]`` and ``[B, H, W]`` arrays allocated once. Chunks are sized by
``stream.frames_per_chunk``. The results do not depend on the chunk size: detection, target
selection and swapping are per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError
from ..images import as_float_rgb, as_rgb_uint8, image_batch_frames
from ..protocols import Detector, Recognizer
from ..stream import DEFAULT_MEMORY_BUDGET_MB, frames_per_chunk
from ..types import Face, Identity
from ..validate import check_image_batch
from .run import DEFAULT_SWAP, SwapCounts, Swapper, SwapSettings, swap_faces
from .targets import EVERY_TARGET, TargetSelection, select_targets

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SwappedBatch(SwapCounts):
    """A swapped image batch.

    - ``images``: ``[B, H, W, 3]`` float32 RGB 0..1; a frame with no swapped face is an exact float32
      copy of its input (alpha dropped, grey repeated, uint8 divided by 255).
    - ``masks``: ``[B, H, W]`` float32 0..1, per frame the union (maximum) of its paste masks.
    - ``swapped_counts``: faces swapped per frame. ``targets``: the swapped faces per frame, with
      the matrix of their swap crop (as ``SwapResult.targets``) and their frame's batch index.
    """

    images: NDArray[np.float32]
    masks: NDArray[np.float32]
    swapped_counts: tuple[int, ...]
    targets: tuple[tuple[Face, ...], ...]


def _output(given: NDArray[np.float32] | None, shape: tuple[int, ...], name: str) -> NDArray[np.float32]:
    """``given`` when it is a writable float32 numpy array of ``shape``; a new uninitialised one when ``None``."""
    if given is None:
        return np.empty(shape, np.float32)
    if not isinstance(given, np.ndarray) or given.shape != shape or given.dtype != np.float32 or not given.flags.writeable:
        got = f"{type(given).__name__} {getattr(given, 'shape', '')} {getattr(given, 'dtype', '')}"
        raise InvalidArgumentError(f"{name} must be a writable float32 numpy array of shape {shape}, got {got}")
    return given


def swap_stream(
    swapper: Swapper,
    detector: Detector,
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
) -> SwappedBatch:
    """Detect faces in every frame of a batch, pick the targets, swap the source identity onto them, chunk by chunk.

    Args:
        swapper: from ``load_swapper``.
        detector: a ``FaceDetector`` (its own settings apply).
        images: ``[B, H, W, C]`` (or one ``[H, W, C]``), C in 1, 3, 4: float in 0..1 or uint8, a
            numpy array or a torch tensor on any device (``images.image_batch_frames``).
        source: the identity to paste in (``swapper.require_compatible``).
        settings, selection, recognizer, reference_recognizer: as ``detect_and_swap``.
        chunk_frames: frames per chunk; default ``stream.frames_per_chunk(H, W, memory_budget_mb)``.
        memory_budget_mb: host memory one chunk's frames and their copies may take.
        out_images, out_masks: preallocated ``[B, H, W, 3]`` / ``[B, H, W]`` float32 outputs
            (e.g. memory-mapped), every frame overwritten; default: allocated here.
        on_frames_done: called with the number of frames finished after each chunk (progress).
        check_cancel: called before each chunk and after each detected frame; raise from it to stop.

    Returns:
        ``SwappedBatch`` whose ``images``/``masks`` are the output arrays.

    Raises:
        IncompatibleIdentitiesError: the source is not of the swapper's space (raised before any work).
        InvalidImageError: not an image batch, or refused by the input policy (``validate.check_image_batch``).
        InvalidArgumentError: ``chunk_frames`` < 1, wrong output arrays, or as ``detect_and_swap``.
    """
    swapper.require_compatible(source)
    count, height, width, _ = check_image_batch(images, "swap_stream")  # the input policy (validate.py)
    if chunk_frames is not None and chunk_frames < 1:
        raise InvalidArgumentError(f"chunk_frames must be at least 1, got {chunk_frames}")
    swapped = _output(out_images, (count, height, width, 3), "out_images")
    masks = _output(out_masks, (count, height, width), "out_masks")
    step = chunk_frames or frames_per_chunk(height, width, memory_budget_mb)
    counts: list[int] = []
    targets: list[tuple[Face, ...]] = []
    hooks: dict[str, Any] = {} if check_cancel is None else {"on_image_done": lambda _index: check_cancel()}
    for start in range(0, count, step):
        if check_cancel is not None:
            check_cancel()
        chunk = image_batch_frames(images, start, start + step)
        uint8_frames = [as_rgb_uint8(frame) for frame in chunk]
        detected = detector.detect_batch(uint8_frames, **hooks)
        chosen = select_targets(uint8_frames, detected, selection, reference_recognizer or recognizer)
        float_frames = [as_float_rgb(frame) for frame in chunk]
        del chunk
        result = swap_faces(swapper, float_frames, source, chosen, settings, recognizer, uint8_frames)
        for offset, (frame, mask) in enumerate(zip(result.images, result.masks, strict=True)):
            swapped[start + offset] = frame
            masks[start + offset] = mask
        stop = start + len(uint8_frames)
        counts.extend(result.swapped_counts)
        # Detection numbers the frames of a chunk from 0; the batch's faces carry their frame's batch index.
        targets.extend(
            tuple(replace(face, image_index=start + offset) for face in faces) for offset, faces in enumerate(result.targets)
        )
        if on_frames_done is not None:
            on_frames_done(stop - start)
    logger.debug("swap stream: %d frame(s) in chunks of %d; %d face(s) swapped", count, step, sum(counts))
    return SwappedBatch(swapped, masks, tuple(counts), tuple(targets))
