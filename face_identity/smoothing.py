"""Temporal smoothing of face points along a track, and the jitter measure that says how steady they are.

Two smoothers, both per coordinate of each point:

- ``centred``: a zero-phase Gaussian along time (look-ahead: the whole clip is known, as in the CLI
  or a ComfyUI IMAGE batch). Sigma is ``strength * MAX_SIGMA_FRAMES`` frames. The ends are padded by
  point reflection (``2 * x[0] - x[k]``), so a straight-line motion passes through unchanged up to the
  last frame: no lag and no pull towards the edges.
- ``causal``: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012): an exponential low-pass whose
  cut-off rises with the speed, so slow jitter is removed and fast motion is followed with little lag.
  It reads only past frames (streamed input). ``strength`` lowers its minimum cut-off.
- ``off`` (or strength 0): the points unchanged.

Nothing here knows about faces or images: ``[T, K, 2]`` float32 points in, the same shape out.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidArgumentError
from .validate import check_number

Smoother = Literal["centred", "causal", "off"]
SMOOTHERS: tuple[str, ...] = get_args(Smoother)
"""The smoother names, for choice lists: the values of ``Smoother``."""
MAX_SIGMA_FRAMES = 6.0
"""Gaussian sigma (frames) of the centred smoother at strength 1; strength 0.5 gives 3 frames."""
ONE_EURO_MAX_CUTOFF = 1.0
"""One Euro minimum cut-off (cycles per frame) at strength 0: nearly no smoothing."""
ONE_EURO_MIN_CUTOFF = 0.01
"""One Euro minimum cut-off (cycles per frame) at strength 1."""
ONE_EURO_BETA = 0.05
"""One Euro speed coefficient: the cut-off rises by this much per pixel-per-frame of speed."""
ONE_EURO_DERIVATIVE_CUTOFF = 0.25
"""One Euro cut-off (cycles per frame) of the speed estimate."""


def check_smoother(smoother: str) -> str:
    """``smoother`` when it is one of ``SMOOTHERS``.

    Raises:
        InvalidArgumentError: an unknown name (lists the known ones).
    """
    if smoother not in SMOOTHERS:
        raise InvalidArgumentError(f"unknown smoother {smoother!r}; use one of: {', '.join(SMOOTHERS)}")
    return smoother


def centred_sigma(strength: float) -> float:
    """Gaussian sigma in frames of the centred smoother at ``strength`` 0..1."""
    return float(strength) * MAX_SIGMA_FRAMES


def one_euro_cutoff(strength: float) -> float:
    """One Euro minimum cut-off in cycles per frame at ``strength`` 0..1 (log-spaced from 1 down to 0.01)."""
    return float(ONE_EURO_MAX_CUTOFF * (ONE_EURO_MIN_CUTOFF / ONE_EURO_MAX_CUTOFF) ** float(strength))


def _gaussian(values: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    """Zero-phase Gaussian along axis 0 of ``[T, M]``, ends padded by point reflection."""
    count = values.shape[0]
    radius = min(int(math.ceil(3.0 * sigma)), count - 1)
    if radius < 1:
        return values.copy()
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    head = 2.0 * values[0] - values[radius:0:-1]
    tail = 2.0 * values[-1] - values[-2 : -radius - 2 : -1]
    padded = np.concatenate([head, values, tail])
    result = np.zeros_like(values)
    for weight, offset in zip(kernel, range(2 * radius + 1), strict=True):
        result += weight * padded[offset : offset + count]
    return result


def _alpha(cutoff: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Smoothing factor of an exponential low-pass at ``cutoff`` cycles per frame (one sample per frame)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return np.asarray(1.0 / (1.0 + tau), np.float64)


def _one_euro(values: NDArray[np.float64], min_cutoff: float) -> NDArray[np.float64]:
    """The One Euro filter along axis 0 of ``[T, K, 2]`` (each point's speed is its 2-D speed)."""
    result = np.empty_like(values)
    result[0] = values[0]
    speed = np.zeros(values.shape[1:-1], np.float64)
    derivative_alpha = _alpha(ONE_EURO_DERIVATIVE_CUTOFF)
    for frame in range(1, values.shape[0]):
        step = np.linalg.norm(values[frame] - result[frame - 1], axis=-1)
        speed = derivative_alpha * step + (1.0 - derivative_alpha) * speed
        alpha = _alpha(min_cutoff + ONE_EURO_BETA * speed)[..., None]
        result[frame] = alpha * values[frame] + (1.0 - alpha) * result[frame - 1]
    return result


def smooth_points(points: NDArray[np.floating], strength: float, smoother: str = "centred") -> NDArray[np.float32]:
    """Points smoothed along time.

    Args:
        points: ``[T, K, 2]`` pixel positions of K points in T consecutive frames of one track.
        strength: 0 (unchanged) .. 1 (strongest); see ``centred_sigma`` and ``one_euro_cutoff``.
        smoother: ``centred`` (look-ahead, zero lag), ``causal`` (One Euro, past frames only) or ``off``.

    Returns:
        ``[T, K, 2]`` float32, a new array.

    Raises:
        InvalidArgumentError: not ``[T, K, 2]``, non-finite points, strength outside 0..1, unknown smoother.
    """
    array = np.asarray(points, np.float64)
    if array.ndim != 3 or array.shape[2] != 2:
        raise InvalidArgumentError(f"points must have shape [T, K, 2], got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InvalidArgumentError("points contain NaN or infinity; smooth only detected or interpolated positions")
    strength = check_number(strength, "smoothing strength", minimum=0.0, maximum=1.0)
    check_smoother(smoother)
    if smoother == "off" or strength == 0.0 or array.shape[0] < 2:
        return array.astype(np.float32)
    if smoother == "causal":
        return _one_euro(array, one_euro_cutoff(strength)).astype(np.float32)
    flat = array.reshape(array.shape[0], -1)
    return _gaussian(flat, centred_sigma(strength)).reshape(array.shape).astype(np.float32)


def jitter(path: NDArray[np.floating]) -> float:
    """RMS length of the second difference of a path, in pixels (0 for fewer than 3 frames).

    ``path``: ``[T, 2]`` positions, one per frame. A path moving at constant speed has jitter 0;
    independent noise of standard deviation s per coordinate gives about ``sqrt(12) * s``.
    """
    array = np.asarray(path, np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise InvalidArgumentError(f"a path must have shape [T, 2], got {array.shape}")
    if array.shape[0] < 3:
        return 0.0
    second = array[2:] - 2.0 * array[1:-1] + array[:-2]
    return float(np.sqrt(np.mean(np.sum(second**2, axis=1))))
