"""The video case: a short 720p clip with audio through the ``swap`` command's path, with stand-in models.

``python -m face_identity.bench.video --frames 100`` (what ``python -m face_identity.bench --only video``
and ``python -m face_identity.bench.gpu`` run, each in a fresh process so the peak memory is this case's):
a clip of a real photo moving (../shared/data, upscaled to 1280x720, 30 fps, a sine audio track) is
tracked, swapped (with the box mask), restored and encoded by ``swap_video.swap_video_file`` exactly as ``face-identity swap``
does it. Models: the real SCRFD-2.5G detector of the test data, the synthetic swapper with inswapper's
I/O (``devtools.synthetic.build_inswapper_like``; a swap's cost does not depend on the weights) and a
synthetic 512 px restorer (GFPGAN's I/O). Prints one JSON object: frames/s (wall clock, the whole file
from decode to the muxed output) and the process' peak resident memory during the run (Linux: ``VmHWM``
reset when the run starts, so writing the test clip does not count; elsewhere ``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..devtools.video_clip import write_clip
from .inputs import DETECTOR_REAL, REPO_ROOT, data_dir
from .machine import maxrss_mb, memory_mb, reset_peak_memory

CLIP_SIZE = (720, 1280)
CLIP_FPS = Fraction(30)
PHOTO = "faces/isaac_newton/newton.png"


def make_clip(path: Path, data: Path, frames: int, size: tuple[int, int] = CLIP_SIZE, fps: Fraction = CLIP_FPS) -> Path:
    """An H.264 + AAC clip of ``frames`` frames: the photo upscaled, its window sliding 1 px per frame (written once)."""
    import cv2

    from ..images import read_image

    if path.is_file():
        return path
    height, width = size
    photo = read_image(data / PHOTO)
    big = np.asarray(cv2.resize(photo, (width + frames, height + frames), interpolation=cv2.INTER_LINEAR), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    window = (big[index : index + height, index : index + width] for index in range(frames))
    return write_clip(path, window, fps, audio_seconds=frames / float(fps), loudness=0.2)


def _job(data: Path, cache: Path, device: str, restore: bool) -> Any:
    from ..detect import load_detector
    from ..devtools.synthetic import build_inswapper_like
    from ..devtools.synthetic_masks import build_restorer_like
    from ..face_models import load_face_model
    from ..masks import MaskSpec
    from ..restore import RestoreSettings
    from ..swap import SwapSettings, load_swapper
    from ..swap.job import SwapJob
    from ..tracks import DEFAULT_TRACKING
    from ..types import Identity
    from .variants import load_torch_detector

    on_gpu = device.startswith("cuda")
    swapper_path = cache / "inswapper_like.onnx"
    if not swapper_path.is_file():
        build_inswapper_like(swapper_path, seed=0)
    backend = "torch" if on_gpu else "onnxruntime"
    swapper = load_swapper(swapper_path, providers="cpu", backend=backend, device=device, allow_download=False)
    detector: Any = load_detector(data / "models" / DETECTOR_REAL, providers="cpu", allow_download=False)
    if on_gpu:
        detector = load_torch_detector(detector, device, "float32")
    restorer = None
    if restore:
        restorer_path = cache / "restorer" / "gfpgan_1.4.onnx"
        if not restorer_path.is_file():
            build_restorer_like(restorer_path, batch="N")
        restorer = load_face_model(
            restorer_path, "restorer", backend=backend, device=device, providers="cpu", allow_download=False
        )
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(1, swapper.dimension)).astype(np.float32)
    source = Identity(embeddings=embedding / np.linalg.norm(embedding), model_id=swapper.embedding_space)
    restore_settings = RestoreSettings() if restore else None
    swap = SwapSettings(masks=MaskSpec())  # the Face Mask stage's box mask (FaceFusion's default), as --masks box
    return SwapJob(swapper, detector, source, swap, restorer=restorer, restore=restore_settings, tracking=DEFAULT_TRACKING)


def video_case(
    data: Path, cache: Path, frames: int, device: str = "cpu", chunk: int | None = None, restore: bool = True
) -> dict[str, Any]:
    """Run the case in this process; the figures are this process' (run it in a fresh one)."""
    from ..swap_video import swap_video_file
    from ..video_io import probe_video

    clip = make_clip(cache / f"clip_{frames}_{CLIP_SIZE[0]}p.mp4", data, frames)
    job = _job(data, cache, device, restore)
    job.run([np.zeros((*CLIP_SIZE, 3), np.uint8)])  # warm-up: sessions and kernels, not timed
    work = Path(tempfile.mkdtemp(prefix="video_case_", dir=cache))
    reset = reset_peak_memory()  # the peak of the run, not of writing the clip above (x264's own buffers)
    before = memory_mb("VmRSS") or 0.0
    start = time.perf_counter()
    chunks: list[int] = []
    report = swap_video_file(job, clip, work / "out.mp4", work / "parts", chunk, on_chunk_done=lambda _s, n: chunks.append(n))
    seconds = time.perf_counter() - start
    written = probe_video(work / "out.mp4")
    shutil.rmtree(work, ignore_errors=True)
    return {
        "frames": frames,
        "size": f"{CLIP_SIZE[1]}x{CLIP_SIZE[0]}",
        "device": device,
        "chunk": max(chunks) if chunks else 0,
        "restore": restore,
        "frames_with_face": report.with_face,
        "frames_per_s": round(frames / seconds, 2),
        "seconds": round(seconds, 1),
        "peak_rss_mb": round((memory_mb("VmHWM") if reset else None) or maxrss_mb(), 1),
        "peak_measure": "VmHWM since the run started" if reset else "ru_maxrss (process lifetime)",
        "rss_before_mb": round(before, 1),
        "output_frames": written.count,
        "output_audio_s": round(written.audio_seconds, 3),
    }


def run_in_subprocess(
    frames: int, device: str, data: Path, cache: Path, chunk: int | None = None, timeout: float = 1800
) -> dict[str, Any]:
    """``video_case`` in a fresh Python (its peak RSS is the case's alone); ``{"error": ...}`` when it fails."""
    command = [sys.executable, "-m", "face_identity.bench.video", "--frames", str(frames), "--device", device]
    command += ["--data", str(data), "--cache", str(cache)] + (["--chunk", str(chunk)] if chunk else [])
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"frames": frames, "error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        return {"frames": frames, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def describe(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"video {row['frames']} frames: {row['error']}"
    return (
        f"video {row['size']} {row['frames']} frames ({row['device']}, chunk {row['chunk']}, restore {row['restore']}): "
        f"{row['frames_per_s']:.2f} frames/s, peak RSS {row['peak_rss_mb']:.0f} MB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m face_identity.bench.video", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100, help="clip length (default 100)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--chunk", type=int, default=None, help="frames per chunk (default: frames_per_chunk of 720p)")
    parser.add_argument("--no-restore", action="store_true", help="leave the restore stage out")
    parser.add_argument("--data", default=None, help="test data folder (default $FACE_IDENTITY_TEST_DATA or ../shared/data)")
    parser.add_argument("--cache", type=Path, default=None, help="where the clip and stand-in models are kept")
    args = parser.parse_args(argv)
    data = data_dir(args.data)
    if data is None:
        print(json.dumps({"frames": args.frames, "error": "test data (../shared/data) not found"}))
        return 1
    cache = args.cache or Path(tempfile.gettempdir()) / "face_identity_bench"
    cache.mkdir(parents=True, exist_ok=True)
    print(json.dumps(video_case(data, cache, args.frames, args.device, args.chunk, not args.no_restore)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
