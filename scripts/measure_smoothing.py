"""Print the smoothing figures of docs/video.md ("Tracks and smoothing"): jitter and path error, raw and smoothed.

The clip (``face_identity.devtools.moving_clip``): a real photo of the test data scaled to 150 px
tall (a face of about 70 px) glides on a 320 x 288 canvas along a known sine/arc path (14 px and 6 px
amplitude, 96 frames per cycle: under 1 px per frame), 72 frames, each with Gaussian sensor noise
(sigma 3 levels) and JPEG re-compression (quality 75). Figures are for the swap crop's centre
(inswapper's arcface_128 crop) of the face tracked through the clip.

    python scripts/measure_smoothing.py [--data ../shared/data] [--detector det_500m.onnx scrfd_2.5g_bnkps_640.onnx]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from face_identity.detect import load_detector  # noqa: E402
from face_identity.devtools.moving_clip import CLIP_SIZE, measure_smoothing, moving_clip, smooth_path  # noqa: E402
from face_identity.images import read_image  # noqa: E402
from face_identity.tracks import TrackSettings  # noqa: E402

PHOTOS = (
    "faces/barack_obama/face_recognition_obama.jpg",
    "faces/isaac_newton/newton.png",
    "faces/joe_biden/face_recognition_biden.jpg",
)
SETTINGS = (
    ("centred 0.25", TrackSettings(smoothing=0.25)),
    ("centred 0.5 (default)", TrackSettings()),
    ("centred 1.0", TrackSettings(smoothing=1.0)),
    ("causal 0.5", TrackSettings(smoother="causal")),
    ("causal 1.0", TrackSettings(smoother="causal", smoothing=1.0)),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get("FACE_IDENTITY_TEST_DATA", str(REPO_ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=Path(default_data), help="the shared test data folder")
    parser.add_argument("--detector", nargs="+", default=["det_500m.onnx", "scrfd_2.5g_bnkps_640.onnx"])
    args = parser.parse_args()
    path = smooth_path()
    clips = {photo: moving_clip(read_image(args.data / photo), path) for photo in PHOTOS}
    print(
        f"clip: {len(path)} frames, {CLIP_SIZE[1]} x {CLIP_SIZE[0]} px, top speed {abs(path[1:] - path[:-1]).max():.2f} px/frame"
    )
    for name in args.detector:
        # det_500m takes any canvas: run it on the clip's own size; scrfd_2.5g is fixed at 640 x 640
        dynamic = "500m" in name
        detector = load_detector(args.data / "models" / name, providers="cpu", allow_download=False).with_settings(
            retry_smaller=False, pad_retry=False, det_size=(CLIP_SIZE[1], CLIP_SIZE[0]) if dynamic else None
        )
        for photo, clip in clips.items():
            started = time.perf_counter()
            faces = detector.detect_batch(list(clip))
            print(f"\n{name} on {photo} (detection {time.perf_counter() - started:.1f} s)")
            for label, settings in SETTINGS:
                figures = measure_smoothing(faces, path, settings)
                print(
                    f"  {label:22} jitter {figures.raw_jitter:.3f} -> {figures.smoothed_jitter:.3f} px "
                    f"({figures.reduction:4.1f}x), RMS path error {figures.raw_error:.3f} -> {figures.smoothed_error:.3f} px"
                    f"  (true path's own jitter {figures.true_jitter:.3f})"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
