"""One swap recipe applied to frames a chunk at a time: swap, then (optionally) restore, then uint8 for a file.

``SwapJob`` bundles the loaded models and settings the ``swap`` command (and the benchmark's video
case) apply to every image and every chunk of a video. ``run(frames)`` swaps and restores the given
frames and returns them as ``[H, W, 3]`` uint8 RGB, ready to be written; nothing of a chunk is kept
after it returns, so memory is one chunk's frames whatever the length of the video.

A video with tracking is two passes: ``plan(frames)`` is pass 1 over the whole clip (faces only, no
pixels kept: ``plan.plan_swaps``), then each chunk is swapped by ``run(window, window_plan(plan, start,
stop))``. The plan round-trips through JSON, so a resumed run swaps the very faces the first run chose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..face_models import FaceModel
from ..frames import Frames
from ..images import as_rgb_uint8
from ..protocols import Detector, Recognizer
from ..restore import RestoreSettings, restore_faces
from ..timeline import TimelineRow
from ..tracks import TrackSettings
from ..types import Identity, RGBImage
from .plan import SwapPlan, plan_swaps
from .run import DEFAULT_SWAP, Swapper, SwapSettings
from .stream import detect_and_swap
from .targets import EVERY_TARGET, TargetSelection


@dataclass(frozen=True)
class ChunkResult:
    """One chunk done: ``images`` ``[H, W, 3]`` uint8 RGB, faces swapped per frame, faces restored in total,
    and the identity-over-time rows of its frames (frame numbers of the chunk, from 0; empty without a check)."""

    images: list[RGBImage]
    swapped_counts: tuple[int, ...]
    restored: int
    rows: tuple[TimelineRow, ...] = ()


def window_plan(plan: SwapPlan, start: int, stop: int) -> SwapPlan:
    """Frames ``start..stop`` of ``plan`` as a plan of their own (frames numbered from 0)."""

    def inside(frames: Sequence[int]) -> tuple[int, ...]:
        return tuple(frame - start for frame in frames if start <= frame < stop)

    targets = tuple(
        tuple(replace(face, image_index=offset) for face in plan.targets[start + offset]) for offset in range(stop - start)
    )
    gaps = tuple((max(a, start) - start, min(b, stop - 1) - start) for a, b in plan.long_gaps if a < stop and b >= start)
    return SwapPlan(targets, plan.track_ids[start:stop], inside(plan.no_face), inside(plan.bridged), gaps)


@dataclass(frozen=True)
class SwapJob:
    """What to swap and how (see ``detect_and_swap``; ``restorer`` None = no restore stage).

    - ``tracking``: for a clip (``plan``); ``None``: frames are unrelated images.
    - ``fallback``, ``retention_floor``, ``check_identity``: the self-check (``detect_and_swap``'s); any of
      them needs ``recognizer`` of the source's space and fills ``ChunkResult.rows``.
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
    tracking: TrackSettings | None = None
    fallback: tuple[Swapper, ...] = ()
    retention_floor: float | None = None
    check_identity: bool = False

    @property
    def checking(self) -> bool:
        return bool(self.fallback) or self.retention_floor is not None or self.check_identity

    def plan(self, frames: Any, chunk_frames: int, on_frames_done: Callable[[int], None] | None = None) -> SwapPlan:
        """Pass 1 over a whole clip (``plan.plan_swaps`` with ``tracking``): one ``Face`` list per frame, no pixels."""
        return plan_swaps(
            self.detector,
            frames,
            self.selection,
            self.tracking,
            self.reference_recognizer or self.recognizer,
            chunk_frames=chunk_frames,
            on_frames_done=on_frames_done,
        )

    def run(self, images: Any, plan: SwapPlan | None = None, context: str = "swap") -> ChunkResult:
        """Swap (and restore) ``images`` (anything ``Frames.of`` takes, e.g. a ``Frames.window`` of a video).

        ``plan``: the faces to swap in these frames (``window_plan``); ``None``: detected here, frame by frame.
        """
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
            plan=plan,
            fallback=self.fallback,
            retention_floor=self.retention_floor,
            check_identity=self.checking,
        )
        swapped: Any = result.images
        restored = 0
        if self.restorer is not None and any(result.swapped_counts):
            done = restore_faces(self.restorer, list(swapped), result.targets, self.restore)
            swapped, restored = done.images, sum(done.restored_counts)
        rows = result.timeline.rows if result.timeline is not None else ()
        return ChunkResult([as_rgb_uint8(np.asarray(image)) for image in swapped], result.swapped_counts, restored, rows)
