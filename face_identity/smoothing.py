"""Temporal smoothing of face points along a track, and the jitter measure that says how steady they are.

Two smoothers, both per coordinate of each point:

- ``centred``: a local quadratic fit, Gaussian-weighted along time, evaluated at each frame (a
  Gaussian-weighted Savitzky-Golay filter: look-ahead, for when the whole clip is known, as in the CLI
  or a ComfyUI IMAGE batch). Sigma is ``strength * MAX_SIGMA_FRAMES`` frames. It has no lag, and a path
  that is a straight line or a parabola over the window passes through unchanged, so a slow turn is
  not cut short the way a plain Gaussian average cuts it; near the ends the window is one-sided.
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
MAX_SIGMA_FRAMES = 8.0
"""Gaussian sigma (frames) of the centred smoother at strength 1; strength 0.5 gives 4 frames."""
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


def _fit_weights(offsets: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    """Weights that give a Gaussian-weighted least-squares quadratic's value at offset 0 from samples at ``offsets``."""
    degree = min(2, len(offsets) - 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    design = np.stack([offsets**power for power in range(degree + 1)], axis=1)
    weighted = design * weights[:, None]
    return np.asarray(np.linalg.solve(design.T @ weighted, weighted.T)[0], np.float64)


def _local_quadratic(values: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    """Each row of ``[T, M]`` replaced by the value at its frame of a quadratic fitted, Gaussian-weighted, around it.

    Inside the clip that is one fixed symmetric kernel (a Gaussian-weighted Savitzky-Golay filter); near
    the ends the window is one-sided and the fit is made there, so the ends are neither padded nor pulled.
    """
    count = values.shape[0]
    radius = min(int(math.ceil(3.0 * sigma)), count - 1)
    if radius < 2 or sigma < 0.5:  # a quadratic through 3 points is those points; below 0.5 the far weights vanish
        return values.copy()
    result = np.empty_like(values)
    kernel = _fit_weights(np.arange(-radius, radius + 1, dtype=np.float64), sigma)
    if count > 2 * radius:
        windows = np.lib.stride_tricks.sliding_window_view(values, 2 * radius + 1, axis=0)  # [T - 2r, M, 2r + 1]
        result[radius : count - radius] = windows @ kernel
    for frame in [*range(min(radius, count)), *range(max(count - radius, radius), count)]:
        low, high = max(0, frame - radius), min(count, frame + radius + 1)
        result[frame] = _fit_weights(np.arange(low - frame, high - frame, dtype=np.float64), sigma) @ values[low:high]
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
    return _local_quadratic(flat, centred_sigma(strength)).reshape(array.shape).astype(np.float32)


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
