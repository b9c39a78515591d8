"""``render``: every debug picture of the library behind one name, by kind (the public API's entry to ``draw``
and ``timeline``'s charts)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import NDArray

from .draw import draw_frames, retention_chart, score_chart, similarity_chart
from .errors import InvalidArgumentError
from .timeline import IdentityTimeline, timeline_chart
from .types import FaceBatch, FloatImage, RGBImage

PICTURE_KINDS: tuple[str, ...] = ("faces", "similarity", "scores", "retention", "timeline")
"""What ``render`` draws: ``draw_frames``, ``similarity_chart``, ``score_chart``, ``retention_chart``,
``timeline.timeline_chart``."""


@overload
def render(
    kind: Literal["faces"],
    images: Any,
    faces: FaceBatch,
    show_scores: bool = True,
    show_landmarks: bool = True,
    context: str = "draw_frames",
) -> list[RGBImage]: ...


@overload
def render(
    kind: Literal["similarity"],
    matrix: NDArray[np.floating],
    threshold: float,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    cell: int = 64,
) -> RGBImage: ...


@overload
def render(
    kind: Literal["scores"], scores: Sequence[float], threshold: float, has_face: Sequence[bool], best_index: int | None = None
) -> RGBImage: ...


@overload
def render(
    kind: Literal["retention"],
    retention: Sequence[float],
    leakage: Sequence[float],
    labels: Sequence[str],
    threshold: float,
    note: str = "no face swapped",
) -> RGBImage: ...


@overload
def render(
    kind: Literal["timeline"], timeline: IdentityTimeline, floor: float | None = None, width: int = 640, height: int = 260
) -> FloatImage: ...


def render(kind: str, *arguments: Any, **keywords: Any) -> Any:
    """A debug picture by ``kind`` (``PICTURE_KINDS``), with that picture's arguments:

    - ``"faces"``: every image of a batch with its faces drawn (``draw_frames``): a list of images.
    - ``"similarity"``: heat map of a similarity matrix (``similarity_chart``; e.g. ``compare(a, b).matrix``).
    - ``"scores"``: per-image score bars against a threshold (``score_chart``; ``consistency_scores``).
    - ``"retention"``: retention and leakage bars per swapped face (``retention_chart``; ``measure_retention``).
    - ``"timeline"``: retention and leakage over the frames of a clip (``timeline.timeline_chart``;
      ``SwappedBatch.timeline``): a float32 ``[H, W, 3]`` RGB 0..1 image.

    Raises:
        InvalidArgumentError: an unknown kind, or what the picture's own function raises.
    """
    pictures: dict[str, Callable[..., Any]] = {
        "faces": draw_frames,
        "similarity": similarity_chart,
        "scores": score_chart,
        "retention": retention_chart,
        "timeline": timeline_chart,
    }
    if kind not in pictures:
        raise InvalidArgumentError(f"unknown picture {kind!r}; render draws {', '.join(PICTURE_KINDS)}")
    return pictures[kind](*arguments, **keywords)
