"""Shared detector steps: top-left letterbox, input blob, greedy NMS, anchor grids, ``Face`` records."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidImageError
from ..types import Face


def letterbox_size(height: int, width: int, fit_size: tuple[int, int]) -> tuple[int, int, float]:
    """``(new_height, new_width, scale)`` of an ``height`` x ``width`` image scaled to fit ``fit_size``
    (width, height) keeping its aspect ratio, insightface SCRFD's rule (sizes truncated, at least 1)."""
    fit_width, fit_height = fit_size
    ratio = height / width
    if ratio > fit_height / fit_width:
        new_height = fit_height
        new_width = max(int(new_height / ratio), 1)
    else:
        new_width = fit_width
        new_height = max(int(new_width * ratio), 1)
    return new_height, new_width, float(new_height) / height


def letterbox(
    image: NDArray[np.uint8], fit_size: tuple[int, int], canvas_size: tuple[int, int]
) -> tuple[NDArray[np.uint8], float]:
    """Resize keeping the aspect ratio to fit ``fit_size`` and paste at the top-left of a black canvas.

    insightface SCRFD's rule: ``new_h = fit_h`` when the image is relatively taller, else
    ``new_w = fit_w``; the other side is ``int(...)``-truncated; ``cv2.resize`` bilinear.

    Args:
        image: ``[H, W, 3]`` uint8 (channel order kept).
        fit_size: ``(width, height)`` the image is scaled to fit (<= canvas).
        canvas_size: ``(width, height)`` of the model input.

    Returns:
        ``(canvas [canvas_h, canvas_w, 3] uint8, scale)`` with ``canvas_px = image_px * scale``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidImageError(f"detector input must be [H, W, 3] uint8, got {image.shape} {image.dtype}")
    canvas_width, canvas_height = canvas_size
    new_height, new_width, scale = letterbox_size(image.shape[0], image.shape[1], fit_size)
    resized = cv2.resize(image, (new_width, new_height))
    canvas = np.zeros((canvas_height, canvas_width, 3), dtype=np.uint8)
    canvas[:new_height, :new_width] = resized
    return canvas, scale


def image_blob(canvas: NDArray[np.uint8], mean: float, std: float, dtype: type = np.float32) -> NDArray[np.floating]:
    """``[1, 3, H, W]`` model input ``(pixel - mean) / std`` from an ``[H, W, 3]`` uint8 canvas (channel order kept)."""
    blob = (canvas.astype(np.float32) - np.float32(mean)) / np.float32(std)
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None]).astype(dtype, copy=False)


def nms(boxes: NDArray[np.floating], scores: NDArray[np.floating], threshold: float) -> NDArray[np.int64]:
    """Greedy non-maximum suppression as insightface does it (areas with +1, keep while IoU <= threshold).

    Args:
        boxes: ``[N, 4]`` x1, y1, x2, y2.
        scores: ``[N]``.
        threshold: IoU above which the lower-scored box is dropped.

    Returns:
        Indices kept, highest score first (ties keep input order).
    """
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        intersection = width * height
        overlap = intersection / (areas[best] + areas[rest] - intersection)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def anchor_centres(height: int, width: int, stride: int, anchors_per_cell: int) -> NDArray[np.float32]:
    """``[height * width * anchors_per_cell, 2]`` float32 (x, y) anchor centres, row-major, anchors repeated per cell."""
    rows, columns = np.mgrid[:height, :width]
    grid = np.stack([columns, rows], axis=-1).astype(np.float32)
    centres = (grid * stride).reshape(-1, 2)
    if anchors_per_cell > 1:
        centres = np.repeat(centres, anchors_per_cell, axis=0)
    return centres


def faces_from_detections(
    boxes: NDArray[np.float32], scores: NDArray[np.float32], landmarks: NDArray[np.float32], image_index: int
) -> list[Face]:
    """``Face`` records of one image from ``[N, 4]`` boxes, ``[N]`` scores and ``[N, 5, 2]`` landmarks in image pixels."""
    return [
        Face(bbox=boxes[i], score=float(scores[i]), landmarks=landmarks[i], image_index=image_index) for i in range(scores.size)
    ]
