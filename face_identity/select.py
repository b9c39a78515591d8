"""Deterministic face ordering and selection: order, index lists, max faces, min size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from .errors import InvalidArgumentError
from .types import Face
from .validate import check_index_list, check_integer, check_number

FaceOrder = Literal["large-small", "small-large", "score", "left-right", "right-left", "top-bottom", "bottom-top"]
FACE_ORDERS: tuple[str, ...] = get_args(FaceOrder)
"""The face orders, for choice lists: the values of ``FaceOrder``."""
DEFAULT_ORDER: FaceOrder = "large-small"
"""Largest face first, as ReActor and FaceFusion default to: index 0 is the main face."""


def _sort_key(order: str) -> Callable[[Face], tuple[float, float, float, float]]:
    primary = {
        "large-small": lambda f: -f.area,
        "small-large": lambda f: f.area,
        "score": lambda f: -f.score,
        "left-right": lambda f: float(f.bbox[0]),
        "right-left": lambda f: -float(f.bbox[2]),
        "top-bottom": lambda f: float(f.bbox[1]),
        "bottom-top": lambda f: -float(f.bbox[3]),
    }
    if order not in primary:
        raise InvalidArgumentError(f"unknown face order {order!r}; use one of: {', '.join(FACE_ORDERS)}")
    first = primary[order]
    # Ties (equal areas or edges) fall back to score, then position, so the order never depends on the detector's.
    return lambda f: (first(f), -f.score, float(f.bbox[0]), float(f.bbox[1]))


def order_faces(faces: Sequence[Face], order: str = DEFAULT_ORDER) -> list[Face]:
    """Faces sorted by ``order`` (one of ``FACE_ORDERS``); ties broken by score, then x, then y."""
    return sorted(faces, key=_sort_key(order))


def parse_index_list(text: str) -> list[int] | None:
    """``"0, 2,3"`` -> ``[0, 2, 3]``; empty or blank -> ``None`` (all faces).

    Raises:
        InvalidArgumentError: a part is not a non-negative integer (names the part), or an index is
            listed twice (``validate.check_index_list``: a face is never picked twice).
    """
    parts = [part.strip() for part in text.replace(";", ",").split(",")]
    parts = [part for part in parts if part]
    if not parts:
        return None
    indices = []
    for part in parts:
        if not part.isdecimal():  # isdigit() also accepts "²", which int() rejects
            raise InvalidArgumentError(
                f'face index list {text!r}: {part!r} is not a non-negative whole number. Write indices like "0,2".'
            )
        indices.append(int(part))
    return list(check_index_list(indices))


def select_faces(
    faces: Sequence[Face],
    order: str = DEFAULT_ORDER,
    indices: Sequence[int] | None = None,
    max_faces: int = 0,
    min_size: float = 0.0,
) -> list[Face]:
    """Filter by size, sort, pick indices, cap the count. Never raises for an empty result.

    Args:
        faces: faces of one image.
        order: one of ``FACE_ORDERS``.
        indices: positions in the sorted list to keep, in the given order; out-of-range ones are skipped.
        max_faces: keep at most this many (0 = no limit).
        min_size: drop faces whose box's shorter side is below this many pixels.
    """
    indices = None if indices is None else check_index_list(indices)
    max_faces = check_integer(max_faces, "max faces", minimum=0)
    min_size = check_number(min_size, "min size", minimum=0.0)
    kept = [face for face in faces if min(face.width, face.height) >= min_size]
    ordered = order_faces(kept, order)
    if indices is not None:
        ordered = [ordered[i] for i in indices if 0 <= i < len(ordered)]
    if max_faces > 0:
        ordered = ordered[:max_faces]
    return ordered


@dataclass(frozen=True)
class FaceSelection:
    """Which detected faces to keep per image: the arguments of ``select_faces`` in one value."""

    order: str = DEFAULT_ORDER
    indices: tuple[int, ...] | None = None
    max_faces: int = 0
    min_size: float = 0.0

    def __post_init__(self) -> None:
        if self.indices is not None:
            object.__setattr__(self, "indices", check_index_list(self.indices))
        object.__setattr__(self, "max_faces", check_integer(self.max_faces, "max faces", minimum=0))
        object.__setattr__(self, "min_size", check_number(self.min_size, "min size", minimum=0.0))

    def apply(self, faces: Sequence[Face]) -> list[Face]:
        """``select_faces(faces, ...)`` with this selection's settings."""
        return select_faces(faces, self.order, self.indices, self.max_faces, self.min_size)


EVERY_FACE = FaceSelection()
"""The default selection: every face, largest first."""
