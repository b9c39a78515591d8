"""Render docs/swap_example.png (before | after | paste mask) for the README's face-swap section.

The committed picture is synthetic from end to end, so the repository ships no third-party photo:
two drawn faces with known 5-point landmarks, the synthetic swapper (``synthetic.build_inswapper_like``:
inswapper's I/O and emap, random weights, so the "swapped" face is a colour pattern, not a person)
and a random w600k_r50-space source identity. What it shows is real code: the arcface_128 crop at
pixel boost 2, the face-area mask and insightface's feathered paste-back; the right-hand face is left
alone (index selection), and its pixels are unchanged.

With your own models and photos (the output is then yours to keep, not to commit):

    python docs/make_swap_example.py --swapper inswapper_128.onnx --recognizer w600k_r50.onnx \\
        --detector det_10g.onnx --source-image source.jpg --target-image target.jpg --output swap.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from face_identity.align import ARCFACE_112_POINTS  # noqa: E402
from face_identity.catalog import W600K_R50_SPACE  # noqa: E402
from face_identity.devtools import synthetic  # noqa: E402
from face_identity.images import as_rgb_uint8, read_image, save_image  # noqa: E402
from face_identity.swap import SwapSettings, TargetSelection, detect_and_swap, load_swapper, swap_faces  # noqa: E402
from face_identity.types import Face, Identity  # noqa: E402

LABEL_HEIGHT = 28


def drawn_faces(height: int = 320, width: int = 560) -> tuple[NDArray[np.uint8], list[Face]]:
    """A picture of two cartoon faces and their landmarks (the ArcFace template placed on each head)."""
    canvas = np.full((height, width, 3), (70, 110, 150), dtype=np.uint8)
    faces = []
    for centre_x, tilt in ((150, -8.0), (410, 6.0)):
        centre = (centre_x, 165)
        cv2.ellipse(canvas, centre, (85, 110), tilt, 0, 360, (225, 185, 150), -1, cv2.LINE_AA)
        matrix = cv2.getRotationMatrix2D((56.0, 60.0), -tilt, 1.6)
        matrix[:, 2] += np.array(centre) - np.array([56.0, 60.0])
        landmarks = ARCFACE_112_POINTS.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
        for x, y in landmarks[:2]:
            cv2.circle(canvas, (int(x), int(y)), 9, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(canvas, (int(x), int(y)), 5, (40, 40, 60), -1, cv2.LINE_AA)
        cv2.circle(canvas, tuple(int(v) for v in landmarks[2]), 6, (200, 140, 110), -1, cv2.LINE_AA)
        cv2.line(canvas, tuple(int(v) for v in landmarks[3]), tuple(int(v) for v in landmarks[4]), (150, 60, 60), 5, cv2.LINE_AA)
        box = [centre_x - 85, 55, centre_x + 85, 275]
        faces.append(Face(bbox=box, score=1.0, landmarks=landmarks, image_index=0))
    return canvas, faces


def labelled(image: NDArray[np.uint8], label: str) -> NDArray[np.uint8]:
    strip = np.full((LABEL_HEIGHT, image.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(strip, label, (8, LABEL_HEIGHT - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, image])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "swap_example.png")
    parser.add_argument("--swapper", help="a real inswapper_128.onnx (default: the synthetic stand-in)")
    parser.add_argument("--recognizer", help="w600k_r50.onnx, to embed --source-image")
    parser.add_argument("--detector", help="a detector .onnx, to find the faces in --source-image and --target-image")
    parser.add_argument("--source-image", type=Path, help="photo of the person to paste in")
    parser.add_argument("--target-image", type=Path, help="photo to paste into")
    parser.add_argument("--pixel-boost", type=int, default=2, choices=(1, 2, 4))
    arguments = parser.parse_args(argv)
    real_swap_only = [name for name in ("source_image", "target_image", "recognizer", "detector") if getattr(arguments, name)]
    if real_swap_only and not arguments.swapper:
        given = ", ".join("--" + name.replace("_", "-") for name in real_swap_only)
        parser.error(
            f"{given} {'is' if len(real_swap_only) == 1 else 'are'} used only for a real swap: add --swapper (e.g. --swapper inswapper_128.onnx) with "
            "--recognizer, --detector, --source-image and --target-image. Without --swapper the script draws its "
            "synthetic picture and reads no photo."
        )

    settings = SwapSettings(pixel_boost=arguments.pixel_boost, face_area_mask=True)
    with tempfile.TemporaryDirectory() as scratch:
        if arguments.swapper:
            from face_identity.detect import load_detector
            from face_identity.embed import load_recognizer
            from face_identity.pipeline import analyze
            from face_identity.select import FaceSelection

            if not (arguments.recognizer and arguments.detector and arguments.source_image and arguments.target_image):
                raise SystemExit("a real swap needs --recognizer, --detector, --source-image and --target-image")
            swapper = load_swapper(arguments.swapper, providers="cpu", allow_download=False)
            recognizer = load_recognizer(arguments.recognizer, providers="cpu", allow_download=False, model_id=W600K_R50_SPACE)
            detector = load_detector(arguments.detector, providers="cpu", allow_download=False)
            source = analyze(detector, recognizer, [read_image(arguments.source_image)], FaceSelection(max_faces=1)).identity
            if source is None:
                raise SystemExit(f"no face in {arguments.source_image}")
            target = read_image(arguments.target_image)
            result = detect_and_swap(swapper, detector, [target], source, settings, TargetSelection("indices", indices=(0,)))
            caption = f"after: {swapper.name}"
        else:
            swapper = load_swapper(
                synthetic.build_inswapper_like(Path(scratch) / "inswapper_like.onnx"), providers="cpu", allow_download=False
            )
            source = Identity(np.random.default_rng(2024).normal(size=512).astype(np.float32), W600K_R50_SPACE)
            target, faces = drawn_faces()
            result = swap_faces(swapper, [target], source, [[faces[0]]], settings)
            caption = "after: synthetic swapper, left face only"
    panels = [
        labelled(target, "before"),
        labelled(as_rgb_uint8(result.images[0]), caption),
        labelled(as_rgb_uint8(result.masks[0]), "paste mask (face area, feathered)"),
    ]
    picture = np.concatenate(panels, axis=1)
    save_image(arguments.output, picture)
    print(f"wrote {arguments.output} ({picture.shape[1]} x {picture.shape[0]})")  # noqa: T201


if __name__ == "__main__":
    main()
