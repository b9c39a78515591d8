"""Render docs/icon.png, the pack's icon in the Comfy Registry (pyproject ``[tool.comfy] Icon``).

An original drawing, nothing from a photo: a face outline inside a detector's corner-bracket box, with
the five ArcFace template landmarks (``face_identity.align.ARCFACE_112_POINTS``) in the colours Preview
Faces draws them. Drawn at 4x and downscaled, so the edges are smooth; 400 x 400 px RGBA.

    python docs/make_icon.py            # writes docs/icon.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from face_identity.align import ARCFACE_112_POINTS  # noqa: E402

SIZE = 400
SCALE = 4
BACKGROUND = (38, 30, 24)  # BGR: dark blue-grey
OUTLINE = (235, 225, 215)
BOX = (80, 200, 255)  # BGR: amber
LANDMARKS = ((60, 60, 230), (230, 120, 60), (90, 200, 90), (200, 90, 200), (200, 200, 60))  # BGR per point


def icon() -> NDArray[np.uint8]:
    """The icon as ``[SIZE, SIZE, 4]`` uint8 BGRA (transparent outside a rounded square)."""
    side = SIZE * SCALE
    canvas = np.zeros((side, side, 3), np.uint8)
    canvas[:] = BACKGROUND
    alpha = np.zeros((side, side), np.uint8)
    radius = side // 8
    cv2.rectangle(alpha, (radius, 0), (side - radius, side), 255, -1)
    cv2.rectangle(alpha, (0, radius), (side, side - radius), 255, -1)
    for cx in (radius, side - radius):
        for cy in (radius, side - radius):
            cv2.circle(alpha, (cx, cy), radius, 255, -1, cv2.LINE_AA)

    def px(value: float) -> int:
        return round(value * SCALE)

    # The 112 px ArcFace template, scaled and centred so the face fills the icon.
    template = ARCFACE_112_POINTS.astype(np.float64)
    scale = 2.6
    offset = np.array([SIZE / 2, SIZE / 2 + 12]) - template.mean(axis=0) * scale
    points = template * scale + offset
    centre = (px(SIZE / 2), px(SIZE / 2 + 10))
    cv2.ellipse(canvas, centre, (px(108), px(140)), 0, 0, 360, OUTLINE, px(7), cv2.LINE_AA)

    # Corner brackets of a detection box around the face.
    x1, y1, x2, y2 = px(62), px(40), px(SIZE - 62), px(SIZE - 26)
    arm, width = px(48), px(9)
    for x, y, dx, dy in ((x1, y1, 1, 1), (x2, y1, -1, 1), (x1, y2, 1, -1), (x2, y2, -1, -1)):
        cv2.line(canvas, (x, y), (x + dx * arm, y), BOX, width, cv2.LINE_AA)
        cv2.line(canvas, (x, y), (x, y + dy * arm), BOX, width, cv2.LINE_AA)

    # Landmark mesh: eyes - nose - mouth corners, then the points on top.
    pairs = ((0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 4))
    for a, b in pairs:
        pa = (px(points[a][0]), px(points[a][1]))
        pb = (px(points[b][0]), px(points[b][1]))
        cv2.line(canvas, pa, pb, OUTLINE, px(3), cv2.LINE_AA)
    for point, colour in zip(points, LANDMARKS):
        cv2.circle(canvas, (px(point[0]), px(point[1])), px(15), colour, -1, cv2.LINE_AA)
        cv2.circle(canvas, (px(point[0]), px(point[1])), px(15), OUTLINE, px(3), cv2.LINE_AA)

    bgra = np.dstack([canvas, alpha])
    return cv2.resize(bgra, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def main() -> int:
    path = REPO_ROOT / "docs" / "icon.png"
    if not cv2.imwrite(str(path), icon()):
        raise OSError(f"could not write {path}")
    print(f"wrote {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
