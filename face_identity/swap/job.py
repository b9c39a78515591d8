"""One swap recipe applied to frames a chunk at a time: swap, then (optionally) restore, then uint8 for a file.

``SwapJob`` bundles the loaded models and settings the ``swap`` command (and the benchmark's video
case) apply to every image and every chunk of a video. ``run(frames)`` swaps and restores the given
frames and returns them as ``[H, W, 3]`` uint8 RGB, ready to be written; nothing of a chunk is kept
after it returns, so memory is one chunk's frames whatever the length of the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..face_models import FaceModel
from ..frames import Frames
from ..images import as_rgb_uint8
from ..protocols import Detector, Recognizer
from ..restore import RestoreSettings, restore_faces
from ..types import Identity, RGBImage
from .run import DEFAULT_SWAP, Swapper, SwapSettings
from .stream import detect_and_swap
from .targets import EVERY_TARGET, TargetSelection


@dataclass(frozen=True)
class ChunkResult:
    """One chunk done: ``images`` ``[H, W, 3]`` uint8 RGB, faces swapped per frame, faces restored in total."""

    images: list[RGBImage]
    swapped_counts: tuple[int, ...]
    restored: int


@dataclass(frozen=True)
class SwapJob:
    """What to swap and how (see ``detect_and_swap``; ``restorer`` None = no restore stage).

    ``extra`` holds further ``detect_and_swap`` keyword arguments (tracking, fallback) as they are given.
    """

    swapper: Swapper
    detector: Detector
    source: Identity
    settings: SwapSettings = DEFAULT_SWAP
    selection: TargetSelection = EVERY_TARGET
    recognizer: Recognizer | None = None
    reference_recognizer: Recognizer | None = None
    restorer: FaceModel | None = None
    restore: RestoreSettings | None = None

    def run(self, images: Any, context: str = "swap") -> ChunkResult:
        """Swap (and restore) ``images`` (anything ``Frames.of`` takes, e.g. a ``Frames.window`` of a video)."""
        frames = Frames.of(images, context)
        result = detect_and_swap(
            self.swapper,
            self.detector,
            frames,
            self.source,
            self.settings,
            self.selection,
            self.recognizer,
            self.reference_recognizer,
            chunk_frames=max(frames.count, 1),
            context=context,
        )
        swapped: Any = result.images
        restored = 0
        if self.restorer is not None and any(result.swapped_counts):
            done = restore_faces(self.restorer, list(swapped), result.targets, self.restore)
            swapped, restored = done.images, sum(done.restored_counts)
        return ChunkResult([as_rgb_uint8(np.asarray(image)) for image in swapped], result.swapped_counts, restored)
