"""YOLOv8-face decoding (FaceFusion's ``yoloface_8n``): rows of cx, cy, w, h, score, 5 x (x, y, visibility)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelMismatchError

ROW_LENGTH = 20


def decode_yoloface(
    outputs: Sequence[NDArray[np.floating]], score_threshold: float
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Boxes, scores and landmarks above ``score_threshold``, in model-input pixels, not yet NMS-ed.

    Args:
        outputs: one array ``[1, 20, A]`` (YOLOv8 export) or ``[1, A, 20]``.

    Returns:
        ``(boxes [N, 4] x1 y1 x2 y2, scores [N], landmarks [N, 5, 2])`` float32.
    """
    raw = np.asarray(outputs[0], dtype=np.float32)
    raw = raw[0] if raw.ndim == 3 else raw
    if raw.ndim != 2 or ROW_LENGTH not in raw.shape:
        raise ModelMismatchError(f"a YOLOFace output is [1, 20, A]; got {list(np.asarray(outputs[0]).shape)}")
    rows = raw.T if raw.shape[0] == ROW_LENGTH and raw.shape[1] != ROW_LENGTH else raw
    scores = rows[:, 4]
    keep = np.nonzero(scores > score_threshold)[0]
    rows = rows[keep]
    centre, size = rows[:, 0:2], rows[:, 2:4]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    landmarks = rows[:, 5:20].reshape(-1, 5, 3)[:, :, :2]
    return boxes.astype(np.float32), rows[:, 4].astype(np.float32), np.ascontiguousarray(landmarks, dtype=np.float32)
