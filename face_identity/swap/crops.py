"""Crop geometry of a swap: FaceFusion-style pixel boost (split/merge) and the face-area mask from 5 landmarks.

Pure array functions, independent of the swapper family: crops are ``[S, S, C]`` arrays aligned to
the family's template; cutting and pasting back are ``geometry``'s.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError
from ..geometry import transform_points
from ..types import AffineMatrix

PIXEL_BOOST_FACTORS: tuple[int, ...] = (1, 2, 4)
"""Crop at 1x, 2x or 4x the model size; FaceFusion offers 128..1024 px for inswapper (1x..8x)."""
FACE_AREA_HALF_WIDTH = 1.1
"""Face-area ellipse half-width, in eye distances (cheek to cheek is about two eye distances)."""
FACE_AREA_HALF_HEIGHT = 1.3
"""Face-area ellipse half-height, in eyes-to-mouth distances (brows to chin)."""
FACE_AREA_CENTRE = 0.5
"""Face-area ellipse centre: this fraction of the way from the eye midpoint to the mouth midpoint."""
ScalarT = TypeVar("ScalarT", bound=np.generic)


def split_pixel_boost(crop: NDArray[ScalarT], factor: int) -> NDArray[ScalarT]:
    """Split a ``factor * S`` crop into ``factor**2`` model-size images by strided sampling.

    Tile ``i * factor + j`` holds ``crop[i::factor, j::factor]``: the whole face at sub-pixel phase
    ``(i, j) / factor`` (FaceFusion's ``implode_pixel_boost``).

    Args:
        crop: ``[factor * S, factor * S, C]``.

    Returns:
        ``[factor**2, S, S, C]`` of the crop's dtype.
    """
    side = crop.shape[0]
    if crop.ndim != 3 or crop.shape[1] != side or side % factor:
        raise InvalidArgumentError(f"pixel boost {factor} needs a square crop whose side divides by {factor}, got {crop.shape}")
    size = side // factor
    channels = crop.shape[2]
    tiles = crop.reshape(size, factor, size, factor, channels).transpose(1, 3, 0, 2, 4)
    return np.ascontiguousarray(tiles.reshape(factor * factor, size, size, channels))


def merge_pixel_boost(tiles: NDArray[ScalarT], factor: int) -> NDArray[ScalarT]:
    """Interleave ``factor**2`` model-size images back into one ``factor * S`` crop (inverse of ``split_pixel_boost``).

    Args:
        tiles: ``[factor**2, S, S, C]``.

    Returns:
        ``[factor * S, factor * S, C]`` of the tiles' dtype.
    """
    if tiles.ndim != 4 or tiles.shape[0] != factor * factor or tiles.shape[1] != tiles.shape[2]:
        raise InvalidArgumentError(f"pixel boost {factor} needs [{factor * factor}, S, S, C] tiles, got {tiles.shape}")
    size, channels = tiles.shape[1], tiles.shape[3]
    crop = tiles.reshape(factor, factor, size, size, channels).transpose(2, 0, 3, 1, 4)
    return np.ascontiguousarray(crop.reshape(factor * size, factor * size, channels))


def landmarks_in_crop(landmarks: NDArray[np.floating], matrix: AffineMatrix) -> NDArray[np.float64]:
    """``[5, 2]`` image landmarks mapped into crop pixels by the ``[2, 3]`` image-to-crop matrix."""
    return transform_points(landmarks, matrix)


def face_area_mask(crop_landmarks: NDArray[np.floating], crop_size: int) -> NDArray[np.float32]:
    """``[S, S]`` float32 0/1 ellipse over the inner face, placed from 5 crop-space landmarks.

    The ellipse is tilted with the eye line, centred ``FACE_AREA_CENTRE`` of the way from the eye
    midpoint to the mouth midpoint, ``FACE_AREA_HALF_WIDTH`` eye distances wide on each side and
    ``FACE_AREA_HALF_HEIGHT`` eyes-to-mouth distances tall on each side. insightface's paste
    (``geometry.paste_mask``) erodes and feathers it like the square; FaceFusion's paste smooths it
    like an area mask (``masks.smooth_threshold``).
    """
    points = np.asarray(crop_landmarks, dtype=np.float64)
    eyes = (points[0] + points[1]) / 2
    mouth = (points[3] + points[4]) / 2
    eye_vector = points[1] - points[0]
    eye_distance = max(float(np.linalg.norm(eye_vector)), 1e-6)
    axis_x = eye_vector / eye_distance
    axis_y = np.array([-axis_x[1], axis_x[0]])  # eye line turned 90 degrees, pointing down the face
    centre = eyes + FACE_AREA_CENTRE * (mouth - eyes)
    half_width = FACE_AREA_HALF_WIDTH * eye_distance
    half_height = FACE_AREA_HALF_HEIGHT * max(float(np.linalg.norm(mouth - eyes)), 1e-6)
    ys, xs = np.mgrid[0:crop_size, 0:crop_size].astype(np.float64)
    offset_x, offset_y = xs - centre[0], ys - centre[1]
    along = offset_x * axis_x[0] + offset_y * axis_x[1]
    across = offset_x * axis_y[0] + offset_y * axis_y[1]
    inside = (along / half_width) ** 2 + (across / half_height) ** 2 <= 1.0
    return inside.astype(np.float32)
