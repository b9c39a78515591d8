"""SCRFD / RetinaFace-style decoding (insightface ``scrfd.py``): anchor-distance boxes and 5 landmarks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelMismatchError, ModelOutputError
from .postprocess import anchor_centres

_LAYOUTS: dict[int, tuple[tuple[int, ...], int, bool]] = {
    6: ((8, 16, 32), 2, False),
    9: ((8, 16, 32), 2, True),
    10: ((8, 16, 32, 64, 128), 1, False),
    15: ((8, 16, 32, 64, 128), 1, True),
}
"""Output count -> (strides, anchors per cell, has landmarks), as insightface infers it."""


def layout_for_outputs(output_count: int) -> tuple[tuple[int, ...], int, bool]:
    """Strides, anchors per cell and landmark presence for an SCRFD model with ``output_count`` outputs."""
    if output_count not in _LAYOUTS:
        raise ModelMismatchError(f"an SCRFD/RetinaFace detector has 6, 9, 10 or 15 outputs, this one has {output_count}")
    return _LAYOUTS[output_count]


def decode_scrfd(
    outputs: Sequence[NDArray[np.floating]],
    input_height: int,
    input_width: int,
    score_threshold: float,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32] | None]:
    """Boxes, scores and landmarks above ``score_threshold``, in model-input pixels, not yet NMS-ed.

    Args:
        outputs: the model outputs in file order: scores per stride, then boxes, then landmarks;
            each ``[A, k]`` or batched ``[1, A, k]``, distances in stride units.
        input_height, input_width: size of the model input the outputs belong to.

    Returns:
        ``(boxes [N, 4], scores [N], landmarks [N, 5, 2] or None)`` float32.

    Raises:
        ModelOutputError: an output holds another number of anchors than the input size implies.
    """
    strides, anchors_per_cell, has_landmarks = layout_for_outputs(len(outputs))
    levels = len(strides)
    box_list, score_list, landmark_list = [], [], []
    for level, stride in enumerate(strides):

        def take(index: int) -> NDArray[np.float32]:
            array = np.asarray(outputs[index], dtype=np.float32)
            return array[0] if array.ndim == 3 else array

        scores = take(level).reshape(-1)
        height, width = input_height // stride, input_width // stride
        centres = anchor_centres(height, width, stride, anchors_per_cell)
        if centres.shape[0] != scores.shape[0]:
            raise ModelOutputError(
                f"detector output for stride {stride} has {scores.shape[0]} anchors, expected {centres.shape[0]} "
                f"for a {input_width}x{input_height} input; the file's layout is not SCRFD's"
            )
        keep = np.nonzero(scores >= score_threshold)[0]
        if keep.size == 0:
            continue
        distances = take(level + levels)[keep] * stride
        kept_centres = centres[keep]
        boxes = np.concatenate([kept_centres - distances[:, :2], kept_centres + distances[:, 2:4]], axis=1)
        box_list.append(boxes)
        score_list.append(scores[keep])
        if has_landmarks:
            offsets = take(level + 2 * levels)[keep] * stride
            landmark_list.append(kept_centres[:, None, :] + offsets.reshape(-1, 5, 2))
    if not score_list:
        empty_landmarks = np.zeros((0, 5, 2), np.float32) if has_landmarks else None
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), empty_landmarks
    landmarks = np.concatenate(landmark_list).astype(np.float32) if has_landmarks else None
    return np.concatenate(box_list).astype(np.float32), np.concatenate(score_list).astype(np.float32), landmarks
