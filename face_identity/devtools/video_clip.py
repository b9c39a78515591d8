"""Test and benchmark clips: frames (and a sine tone) written as an H.264 + AAC file with PyAV (the ``video`` extra)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 44_100
AAC_FRAME = 1024
"""Samples per AAC frame: the tone is written in frames of this length."""


def write_clip(
    path: Path,
    frames: Iterable[NDArray[np.uint8]],
    fps: Fraction,
    audio_seconds: float | None = None,
    codec: str = "libx264",
    loudness: float = 0.3,
) -> Path:
    """A video file of ``frames`` (``[H, W, 3]`` uint8 RGB, all one size; any iterable, consumed once) at ``fps``,
    ``yuv420p``, with a mono 440 Hz AAC sine of amplitude ``loudness`` lasting ``audio_seconds`` when given."""
    import av

    with av.open(str(path), "w") as output:
        video = output.add_stream(codec, rate=fps)
        audio = None
        if audio_seconds:
            audio = output.add_stream("aac", rate=SAMPLE_RATE)
            audio.layout = "mono"
        for index, image in enumerate(frames):
            if index == 0:
                video.height, video.width = image.shape[:2]
                video.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if audio is not None and audio_seconds:
            samples = int(SAMPLE_RATE * audio_seconds)
            wave = (loudness * np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)[None]
            for start in range(0, samples, AAC_FRAME):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(wave[:, start : start + AAC_FRAME]), format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = SAMPLE_RATE, start
                output.mux(audio.encode(chunk))
            output.mux(audio.encode(None))
    return path
