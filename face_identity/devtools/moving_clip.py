"""A clip with a known motion, made from a real photo, and the smoothing figures measured on it.

Used by ``tests/test_smoothing_measured.py`` and ``scripts/measure_smoothing.py`` (the figures of
``docs/video.md``). The clip is what a phone or a video model gives of a face that moves slowly: the
photo slides along a smooth known path (under 1 px per frame, sub-pixel positions by bilinear
``warpAffine``) on a plain canvas, each frame gets its own sensor noise and is re-compressed as JPEG,
so the detector's landmarks jitter from frame to frame although the face only glides.

Measured on the face actually pasted: the centre of the swap crop (the inverse of the crop's
alignment matrix applied to the crop's centre, as ``swap.run`` cuts and pastes it) per frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from ..align import alignment_matrix
from ..geometry import invert, transform_points
from ..smoothing import jitter
from ..tracks import TrackSettings, track_faces
from ..types import Face, RGBImage

CLIP_FRAMES = 72
CLIP_SIZE = (288, 320)
"""(height, width) of the canvas."""
FACE_HEIGHT = 150
"""Height the photo is scaled to (px): a face of about 70 px, like a person in a 720p shot."""
AMPLITUDE = (14.0, 6.0)
"""x, y amplitude (px) of the path."""
PERIOD = 96.0
"""Frames per cycle of the path: top speed 2 pi / 96 * 14 = 0.92 px per frame."""
NOISE_SIGMA = 3.0
"""Sensor noise, standard deviation in 0..255 levels, new every frame."""
JPEG_QUALITY = 75


def smooth_path(count: int = CLIP_FRAMES) -> NDArray[np.float64]:
    """``[T, 2]`` px offsets of the photo: x a sine, y a half-cosine arc; under 1 px per frame."""
    phase = 2.0 * math.pi * np.arange(count) / PERIOD
    return np.stack([AMPLITUDE[0] * np.sin(phase), AMPLITUDE[1] * (1.0 - np.cos(phase))], axis=1)


def moving_clip(
    photo: RGBImage,
    path: NDArray[np.floating],
    size: tuple[int, int] = CLIP_SIZE,
    face_height: int = FACE_HEIGHT,
    noise_sigma: float = NOISE_SIGMA,
    jpeg_quality: int = JPEG_QUALITY,
    seed: int = 0,
) -> NDArray[np.uint8]:
    """``[T, H, W, 3]`` uint8 RGB frames: ``photo`` scaled to ``face_height`` px, centred, moved by ``path[t]``.

    Each frame: bilinear sub-pixel placement on a grey canvas, Gaussian noise of ``noise_sigma`` levels,
    then JPEG at ``jpeg_quality`` and decoded again.
    """
    height, width = size
    scale = face_height / photo.shape[0]
    small = cv2.resize(photo, (round(photo.shape[1] * scale), face_height), interpolation=cv2.INTER_AREA)
    left, top = (width - small.shape[1]) / 2.0, (height - small.shape[0]) / 2.0
    rng = np.random.default_rng(seed)
    frames = []
    for dx, dy in np.asarray(path, np.float64):
        matrix = np.array([[1.0, 0.0, left + dx], [0.0, 1.0, top + dy]])
        frame = cv2.warpAffine(
            small, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(118, 118, 118)
        )
        noisy = np.clip(frame + rng.normal(0.0, noise_sigma, frame.shape), 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        assert ok and decoded is not None
        frames.append(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


def crop_centres(faces: Sequence[Face], template: str = "arcface_128", crop_size: int = 128) -> NDArray[np.float64]:
    """``[T, 2]`` image position of the centre of each face's swap crop (``template``, ``crop_size``)."""
    middle = np.array([[(crop_size - 1) / 2.0, (crop_size - 1) / 2.0]])
    return np.stack([transform_points(middle, invert(alignment_matrix(f.landmarks, template, crop_size)))[0] for f in faces])


def path_error(measured: NDArray[np.floating], truth: NDArray[np.floating]) -> tuple[float, NDArray[np.float64]]:
    """(RMS distance, constant offset): ``measured`` against ``truth`` after removing their mean difference.

    The offset is where the detector puts the crop centre relative to the photo (a fixed bias of the
    model, not an error of the smoothing); it is estimated from the frames themselves.
    """
    difference = np.asarray(measured, np.float64) - np.asarray(truth, np.float64)
    offset = difference.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum((difference - offset) ** 2, axis=1)))), offset


@dataclass(frozen=True)
class SmoothingFigures:
    """Jitter (px, RMS second difference) and RMS path error (px) of the swap crop centre, raw and smoothed."""

    frames: int
    raw_jitter: float
    smoothed_jitter: float
    raw_error: float
    smoothed_error: float
    true_jitter: float

    @property
    def reduction(self) -> float:
        """How many times the jitter dropped."""
        return self.raw_jitter / self.smoothed_jitter if self.smoothed_jitter > 0 else math.inf

    def lines(self) -> list[str]:
        return [
            f"frames: {self.frames}",
            f"jitter of the true path: {self.true_jitter:.3f} px",
            f"jitter raw: {self.raw_jitter:.3f} px, smoothed: {self.smoothed_jitter:.3f} px ({self.reduction:.1f}x lower)",
            f"RMS path error raw: {self.raw_error:.3f} px, smoothed: {self.smoothed_error:.3f} px",
        ]


def measure_smoothing(
    faces_per_frame: Sequence[Sequence[Face]], path: NDArray[np.floating], settings: TrackSettings
) -> SmoothingFigures:
    """The figures of one face's track (the longest) without smoothing and with ``settings``.

    Raises:
        ValueError: the track misses frames (the detector lost the face): the clip measures nothing then.
    """
    raw_tracks = track_faces(faces_per_frame, TrackSettings(max_gap=settings.max_gap, smoothing=0.0))
    smoothed_tracks = track_faces(faces_per_frame, settings)
    raw = max(raw_tracks, key=lambda t: len(t.frame_indices))
    smoothed = max(smoothed_tracks, key=lambda t: len(t.frame_indices))
    if len(raw.frame_indices) != len(path):
        raise ValueError(f"the face was tracked in {len(raw.frame_indices)} of {len(path)} frames")
    raw_centres, smoothed_centres = crop_centres(raw.faces), crop_centres(smoothed.faces)
    return SmoothingFigures(
        len(path),
        jitter(raw_centres),
        jitter(smoothed_centres),
        path_error(raw_centres, path)[0],
        path_error(smoothed_centres, path)[0],
        jitter(np.asarray(path, np.float64)),
    )


def crossing_clip(
    first: RGBImage, second: RGBImage, count: int = 30, size: tuple[int, int] = (192, 480), face_height: int = 150
) -> tuple[NDArray[np.uint8], NDArray[np.float64], NDArray[np.float64]]:
    """Two photos crossing: ``first`` slides left to right, ``second`` right to left in front of it.

    Returns ``([T, H, W, 3]`` uint8 RGB frames, ``[T]`` x of the centre of ``first``, ``[T]`` of ``second``).
    Around the middle frames ``second`` hides ``first`` wholly or partly (a gap in its detections).
    """
    height, width = size
    patches = []
    for photo in (first, second):
        scale = face_height / photo.shape[0]
        patch = cv2.resize(photo, (round(photo.shape[1] * scale), face_height), interpolation=cv2.INTER_AREA)
        side = min(patch.shape[1], face_height)
        left = (patch.shape[1] - side) // 2
        patches.append(patch[:, left : left + side])
    start, stop = 0.15 * width, 0.85 * width
    xs_first = np.linspace(start, stop, count)
    xs_second = xs_first[::-1].copy()
    frames = []
    for x_first, x_second in zip(xs_first, xs_second, strict=True):
        frame = np.full((height, width, 3), 118, np.uint8)
        for patch, x in ((patches[0], x_first), (patches[1], x_second)):
            left, top = int(round(x - patch.shape[1] / 2)), (height - patch.shape[0]) // 2
            low, high = max(left, 0), min(left + patch.shape[1], width)
            frame[top : top + patch.shape[0], low:high] = patch[:, low - left : high - left]
        frames.append(frame)
    return np.stack(frames), xs_first, xs_second
