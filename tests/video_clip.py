"""A short test clip with audio for the video workflow: a real photo panning slowly, written with PyAV.

The example video workflow (LoadVideo -> Face Swap -> SaveVideo) loads ``EXAMPLE_CLIP`` from ComfyUI's
input folder. The fixtures that build that folder call ``write_panning_clip``; for a ComfyUI of your own:

    python tests/video_clip.py PHOTO ComfyUI/input/face_identity_clip.mp4

(any Python with ``av``, ``numpy`` and ``opencv-python-headless``: ComfyUI's own venv has all three).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

EXAMPLE_CLIP = "face_identity_clip.mp4"
"""File name the video workflow's Load Video node reads."""
CLIP_PHOTO = "faces/joe_biden/face_recognition_knn_train_biden_biden2.jpg"
"""The real photo (under the shared data folder) the example clip pans over: one face, not the swap source's."""
FRAMES = 24
FPS = 12
SIZE = (320, 240)
"""(width, height) of the clip: even sides (yuv420p), small enough for a CPU run."""
SAMPLE_RATE = 44100
TONE_HZ = 440.0


def panning_frames(photo: NDArray[np.uint8], count: int = FRAMES, size: tuple[int, int] = SIZE) -> NDArray[np.uint8]:
    """``count`` RGB uint8 frames ``[count, height, width, 3]``: a window over ``photo`` (RGB uint8 ``[H, W, 3]``)
    moving right and down by about a pixel per frame along a straight line, the face fully inside throughout."""
    width, height = size
    scale = 1.3 * max(width / photo.shape[1], height / photo.shape[0])  # room to move, face still large
    resized = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    room_x, room_y = resized.shape[1] - width, resized.shape[0] - height
    frames = []
    for index in range(count):
        t = index / max(count - 1, 1)
        x, y = round(room_x * (0.3 + 0.4 * t)), round(room_y * (0.3 + 0.4 * t))
        frames.append(resized[y : y + height, x : x + width])
    return np.ascontiguousarray(np.stack(frames))


def tone(seconds: float, sample_rate: int = SAMPLE_RATE) -> NDArray[np.float32]:
    """A quiet sine tone, mono float32 ``[1, samples]`` in -0.2..0.2."""
    times = np.arange(round(seconds * sample_rate), dtype=np.float64) / sample_rate
    return (0.2 * np.sin(2 * np.pi * TONE_HZ * times)).astype(np.float32)[None]


def write_clip(frames: NDArray[np.uint8], path: Path, fps: int = FPS, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write RGB uint8 ``frames`` ``[T, H, W, 3]`` as H.264 in MP4 at ``fps``, with a tone as long as the video (AAC)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        audio = container.add_stream("aac", rate=sample_rate, layout="mono")
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        sound = av.AudioFrame.from_ndarray(tone(len(frames) / fps, sample_rate), format="fltp", layout="mono")
        sound.sample_rate = sample_rate
        container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    return path


def write_panning_clip(photo_path: Path, path: Path) -> Path:
    """The example clip: ``FRAMES`` frames of ``photo_path`` panning, ``FPS`` frames/s, with a tone, at ``path``."""
    bgr = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read the photo {photo_path}")
    return write_clip(panning_frames(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path, help="a photo with one face")
    parser.add_argument("out", type=Path, help=f"the .mp4 to write (the workflow reads input/{EXAMPLE_CLIP})")
    arguments = parser.parse_args()
    print(write_panning_clip(arguments.photo, arguments.out))


if __name__ == "__main__":
    main()
