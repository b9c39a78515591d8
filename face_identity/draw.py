"""Debug pictures: face boxes with indices, landmarks and scores; similarity-matrix, per-image score and
retention charts; ``render(kind, ...)`` reaches each by name.

All functions return ``[H, W, 3]`` uint8 RGB images and never modify their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from .errors import InvalidArgumentError
from .frames import Frames, frames_per_chunk
from .types import Face, FaceBatch, RGBImage
from .validate import check_number

LANDMARK_COLOURS = ((255, 64, 64), (64, 128, 255), (64, 220, 64), (255, 160, 0), (200, 64, 255))
"""RGB per landmark: image-left eye red, image-right eye blue, nose green, left mouth orange, right mouth violet."""
BOX_COLOUR = (0, 255, 0)
PASS_COLOUR = (40, 170, 70)
FAIL_COLOUR = (200, 60, 50)
NO_FACE_COLOUR = (150, 150, 150)
THRESHOLD_COLOUR = (30, 30, 200)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _label(canvas: NDArray[np.uint8], text: str, origin: tuple[int, int], scale: float, colour: tuple[int, int, int]) -> None:
    thickness = max(1, int(round(scale * 2)))
    (width, height), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    x, y = origin
    cv2.rectangle(canvas, (x, y - height - baseline), (x + width, y + baseline), (0, 0, 0), -1)
    cv2.putText(canvas, text, (x, y), _FONT, scale, colour, thickness, cv2.LINE_AA)


def _threshold_line(canvas: NDArray[np.uint8], y: int, start: int, stop: int) -> None:
    """The threshold (or floor) of a chart: a thin line across it at height ``y``."""
    cv2.line(canvas, (start, y), (stop, y), THRESHOLD_COLOUR, 1, cv2.LINE_AA)


def draw_faces(image: RGBImage, faces: Sequence[Face], show_scores: bool = True, show_landmarks: bool = True) -> RGBImage:
    """The image with each face's box, its index in ``faces`` (the selection order), score and 5 landmarks."""
    canvas = np.ascontiguousarray(image.copy())
    side = max(canvas.shape[:2])
    thickness = max(1, side // 400)
    for index, face in enumerate(faces):
        x1, y1, x2, y2 = (int(round(v)) for v in face.bbox)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOUR, thickness, cv2.LINE_AA)
        scale = float(np.clip(face.width / 120.0, 0.4, 2.0))
        text = f"{index}" + (f" {face.score:.2f}" if show_scores else "")
        _label(canvas, text, (max(x1, 0), max(y1 - 4, 14)), scale, BOX_COLOUR)
        if show_landmarks:
            radius = max(2, int(round(face.width / 40)))
            for point, colour in zip(face.landmarks, LANDMARK_COLOURS):
                cv2.circle(canvas, (int(round(point[0])), int(round(point[1]))), radius, colour, -1, cv2.LINE_AA)
    return canvas


def draw_frames(
    images: Any, faces: FaceBatch, show_scores: bool = True, show_landmarks: bool = True, context: str = "draw_frames"
) -> list[RGBImage]:
    """``draw_faces`` on every image of a batch (``frames.Frames`` or anything ``Frames.of`` takes); uint8 RGB copies.

    Raises:
        InvalidArgumentError: faces of another number of images.
    """
    frames = Frames.of(images, context)
    if len(faces) != frames.count:
        raise InvalidArgumentError(f"{context}: faces of {len(faces)} image(s) for {frames.count} image(s)")
    drawn = []
    for start, stop in frames.chunks(frames_per_chunk(*frames.largest, device_frames=False)):
        for frame, image_faces in zip(frames.uint8(start, stop), faces.faces_per_image[start:stop], strict=True):
            drawn.append(draw_faces(frame, image_faces, show_scores, show_landmarks))
    return drawn


def _heat_colour(value: float, threshold: float) -> tuple[int, int, int]:
    """Green above the threshold, red below, brighter with distance from it."""
    if value >= threshold:
        strength = float(np.clip((value - threshold) / max(1.0 - threshold, 1e-6), 0.0, 1.0))
        return (int(40 + 20 * (1 - strength)), int(120 + 100 * strength), int(60 + 20 * (1 - strength)))
    strength = float(np.clip((threshold - value) / max(threshold + 1.0, 1e-6), 0.0, 1.0))
    return (int(140 + 90 * strength), int(70 - 30 * strength), int(60 - 20 * strength))


def similarity_chart(
    matrix: NDArray[np.floating],
    threshold: float,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    cell: int = 64,
) -> RGBImage:
    """A heat map of a ``[K, M]`` similarity matrix with each value printed; green cells are matches."""
    threshold = check_number(threshold, "threshold", "similarity_chart")
    values = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    rows, columns = values.shape
    cell = int(np.clip(cell, 24, 128)) if max(rows, columns) <= 16 else 24
    margin = 70
    canvas = np.full((margin + rows * cell + 10, margin + columns * cell + 10, 3), 255, dtype=np.uint8)
    row_labels = list(row_labels) if row_labels is not None else [f"a{i}" for i in range(rows)]
    column_labels = list(column_labels) if column_labels is not None else [f"b{j}" for j in range(columns)]
    scale = cell / 110.0
    for i in range(rows):
        cv2.putText(canvas, row_labels[i][:8], (4, margin + i * cell + cell // 2 + 5), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(columns):
            x, y = margin + j * cell, margin + i * cell
            cv2.rectangle(canvas, (x, y), (x + cell - 2, y + cell - 2), _heat_colour(values[i, j], threshold), -1)
            cv2.putText(canvas, f"{values[i, j]:.2f}", (x + 4, y + cell // 2 + 5), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    for j in range(columns):
        cv2.putText(canvas, column_labels[j][:8], (margin + j * cell + 2, margin - 10), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, f"thr {threshold:.2f}", (4, 20), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def score_chart(scores: Sequence[float], threshold: float, has_face: Sequence[bool], best_index: int | None = None) -> RGBImage:
    """Bars of per-image scores (-1..1 drawn from 0 up), the threshold as a line, face-less images grey and marked.

    Raises ``InvalidArgumentError`` for a NaN/infinite threshold; a non-finite score is drawn as 0.
    """
    threshold = check_number(threshold, "threshold", "score_chart")
    scores = [float(score) if np.isfinite(score) else 0.0 for score in scores]
    count = len(scores)
    bar, gap, height, margin = 28, 8, 220, 30
    width = max(margin * 2 + count * (bar + gap), 240)
    canvas = np.full((height + margin * 2, width, 3), 255, dtype=np.uint8)
    base = margin + height
    top_y = int(base - height * float(np.clip(threshold, 0, 1)))
    for index, (score, face_found) in enumerate(zip(scores, has_face)):
        x = margin + index * (bar + gap)
        bar_top = int(base - height * float(np.clip(score, 0.0, 1.0)))
        colour = NO_FACE_COLOUR if not face_found else (PASS_COLOUR if score >= threshold else FAIL_COLOUR)
        cv2.rectangle(canvas, (x, bar_top), (x + bar, base), colour, -1)
        if index == best_index:
            cv2.rectangle(canvas, (x - 2, bar_top - 2), (x + bar + 2, base), (0, 0, 0), 2)
        label = f"{score:.2f}" if face_found else "none"
        cv2.putText(canvas, label, (x, max(bar_top - 4, 12)), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, str(index), (x + bar // 3, base + 16), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    _threshold_line(canvas, top_y, margin - 6, width - margin // 2)
    cv2.putText(canvas, f"threshold {threshold:.2f}", (margin, margin - 10), _FONT, 0.45, THRESHOLD_COLOUR, 1, cv2.LINE_AA)
    return canvas


def retention_chart(
    retention: Sequence[float], leakage: Sequence[float], labels: Sequence[str], threshold: float, note: str = "no face swapped"
) -> RGBImage:
    """Paired bars per swapped face: identity retention (green at or above ``threshold``, red below) and
    leakage of the replaced face (grey), both cosines drawn from 0 up to 1; labels under each pair;
    ``note`` is written instead when there is no bar."""
    count = len(retention)
    pair, gap, height, margin = 36, 14, 200, 34
    width = max(margin * 2 + count * (pair + gap), 260)
    canvas = np.full((height + margin * 2 + 14, width, 3), 255, dtype=np.uint8)
    base = margin + height
    for index, (kept, leaked) in enumerate(zip(retention, leakage, strict=True)):
        x = margin + index * (pair + gap)
        for offset, value, colour in (
            (0, kept, PASS_COLOUR if kept >= threshold else FAIL_COLOUR),
            (pair // 2, leaked, NO_FACE_COLOUR),
        ):
            top = int(base - height * float(np.clip(value, 0.0, 1.0)))
            cv2.rectangle(canvas, (x + offset, top), (x + offset + pair // 2 - 2, base), colour, -1)
            cv2.putText(canvas, f"{value:.2f}", (x + offset - 2, max(top - 4, 12)), _FONT, 0.32, (0, 0, 0), 1, cv2.LINE_AA)
        label = labels[index] if index < len(labels) else str(index)
        cv2.putText(canvas, label[:7], (x, base + 16), _FONT, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    top_y = int(base - height * float(np.clip(threshold, 0, 1)))
    _threshold_line(canvas, top_y, margin - 6, width - margin // 2)
    cv2.putText(canvas, "retention (colour) / leakage (grey)", (margin, margin - 14), _FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    if count == 0:
        cv2.putText(canvas, note[:34], (margin // 2, base - height // 2), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


Series = tuple[str, Sequence[float | None], tuple[int, int, int]]
"""A line of ``line_chart``: (label, one value or ``None`` per x, RGB colour)."""
Marks = tuple[str, Sequence[int], tuple[int, int, int]]
"""A row of ticks of ``line_chart``: (label, x indices to mark, RGB colour)."""


def _value_y(value: float, top: int, plot: int) -> int:
    return int(round(top + plot * (1.0 - float(np.clip(value, 0.0, 1.0)))))


def line_chart(
    lines: Sequence[Series],
    count: int,
    threshold: float | None = None,
    marks: Sequence[Marks] = (),
    width: int = 640,
    height: int = 240,
) -> RGBImage:
    """Values over ``count`` steps (frames) as lines drawn from 0 up to 1, a threshold line, rows of ticks below.

    A ``None`` or non-finite value leaves a gap in its line (a value alone between gaps is a dot);
    values are clipped to 0..1 where drawn. Each ``marks`` row gets its label and a tick under
    every listed index. ``width``/``height``: the image size in pixels (at least 160 x 120).

    Raises:
        InvalidArgumentError: a NaN/infinite threshold, a size below the minimum, or a negative count.
    """
    if count < 0 or width < 160 or height < 120 or height < 90 + 12 * len(marks):
        raise InvalidArgumentError(f"line_chart: {count} steps in {width} x {height} px with {len(marks)} mark rows is too small")
    level = None if threshold is None else check_number(threshold, "threshold", "line_chart")
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    left, right, top = 54, width - 12, 26
    bottom = height - 24 - 12 * len(marks)
    plot, span = bottom - top, max(right - left, 1)

    def x_of(index: int) -> int:
        return int(round(left + span * (index + 0.5) / max(count, 1)))

    cv2.rectangle(canvas, (left, top), (right, bottom), (200, 200, 200), 1)
    for value in (0.0, 0.5, 1.0):
        cv2.putText(canvas, f"{value:.1f}", (4, _value_y(value, top, plot) + 4), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    if level is not None:
        _threshold_line(canvas, _value_y(level, top, plot), left, right)
    legend = left
    for label, values, colour in lines:
        points = [
            (x_of(index), _value_y(float(value), top, plot)) if value is not None and np.isfinite(value) else None
            for index, value in enumerate(values)
        ]
        for index, point in enumerate(points):
            if point is None:
                continue
            after = points[index + 1] if index + 1 < len(points) else None
            before = points[index - 1] if index > 0 else None
            if after is not None:
                cv2.line(canvas, point, after, colour, 2, cv2.LINE_AA)
            elif before is None:
                cv2.circle(canvas, point, 2, colour, -1, cv2.LINE_AA)
        cv2.putText(canvas, label, (legend, top - 8), _FONT, 0.4, colour, 1, cv2.LINE_AA)
        legend += 12 + cv2.getTextSize(label, _FONT, 0.4, 1)[0][0]
    if level is not None:
        cv2.putText(canvas, f"floor {level:.2f}", (legend, top - 8), _FONT, 0.4, THRESHOLD_COLOUR, 1, cv2.LINE_AA)
    for row, (label, indices, colour) in enumerate(marks):
        y = bottom + 8 + 12 * row
        cv2.putText(canvas, label[:8], (2, y + 8), _FONT, 0.3, colour, 1, cv2.LINE_AA)
        for index in indices:
            if 0 <= index < count:
                cv2.line(canvas, (x_of(index), y), (x_of(index), y + 8), colour, 1)
    for index in sorted({0, max(count - 1, 0)}) if count else ():
        cv2.putText(canvas, str(index), (x_of(index) - 4, height - 6), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
