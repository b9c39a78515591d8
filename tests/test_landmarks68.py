"""68-point landmarks: fan_68_5 and 2dfan4 with synthetic models of known output, PFLD on the real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from face_identity.detect import FaceDetector
from face_identity.devtools import synthetic_masks
from face_identity.errors import InvalidArgumentError
from face_identity.face_models import load_face_model
from face_identity.images import read_image
from face_identity.landmarks68 import LANDMARKER_KINDS, add_landmarks_68, brighten_if_dark, landmarks_68
from face_identity.masks import MaskSpec, face_masks
from face_identity.types import Face, FaceBatch

FIVE = np.array([[130.0, 140.0], [190.0, 138.0], [161.0, 175.0], [138.0, 210.0], [186.0, 208.0]])


def test_fan_68_5_points_follow_the_five_points(tmp_path: Path) -> None:
    model = load_face_model(synthetic_masks.build_fan_68_5_like(tmp_path / "fan_68_5.onnx"), LANDMARKER_KINDS, providers="cpu")
    faces = [
        Face(bbox=[100, 100, 220, 240], score=0.9, landmarks=FIVE),
        Face(bbox=[0, 0, 50, 50], score=0.9, landmarks=FIVE * 0.5 + 7),
    ]
    points, scores = landmarks_68(model, np.zeros((300, 300, 3), np.uint8), faces)
    weights = synthetic_masks.fan_68_5_matrix().astype(np.float64)
    # the unit-template similarity is affine and each output row an affine combination: it maps back exactly
    np.testing.assert_allclose(points[0], weights @ FIVE, atol=2e-3)
    np.testing.assert_allclose(points[1], weights @ (FIVE * 0.5 + 7), atol=2e-3)
    assert scores == [None, None]
    batch, _ = add_landmarks_68(model, [np.zeros((300, 300, 3), np.uint8)], FaceBatch(((faces[0],),)))
    assert batch.faces_per_image[0][0].landmarks_68 is not None and batch.faces_per_image[0][0].landmarks_68.shape == (68, 2)
    assert landmarks_68(model, np.zeros((4, 4, 3), np.uint8), []) == ([], [])


def test_2dfan4_crop_maps_back_to_the_box_and_scores_the_heatmaps(tmp_path: Path) -> None:
    grid = np.zeros((68, 2), np.float32)
    grid[:] = 32.0  # crop centre (128, 128) on the 64 grid
    grid[1] = (0.0, 0.0)
    path = synthetic_masks.build_2dfan4_like(tmp_path / "2dfan4.onnx", grid, heat_max=0.45)
    model = load_face_model(path, "landmarker_2dfan4", providers="cpu")
    face = Face(bbox=[100, 50, 300, 250], score=0.9, landmarks=FIVE)
    points, scores = landmarks_68(model, np.full((400, 400, 3), 128, np.uint8), [face])
    # scale 195 / 200 = 0.975, the box centre (200, 150) at the crop centre (128, 128)
    np.testing.assert_allclose(points[0][0], (200.0, 150.0), atol=1e-3)
    np.testing.assert_allclose(points[0][1], (200.0 - 128 / 0.975, 150.0 - 128 / 0.975), atol=1e-3)
    assert scores == [pytest.approx(0.5, abs=1e-6)]  # mean heatmap max 0.45 on the [0, 0.9] -> [0, 1] scale


def test_dark_crops_get_clahe_and_bright_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    dark = (rng.random((64, 64, 3)) * 40).astype(np.uint8)
    bright = (100 + rng.random((64, 64, 3)) * 100).astype(np.uint8)
    assert not np.array_equal(brighten_if_dark(dark), dark)
    assert brighten_if_dark(dark).mean() > dark.mean()
    np.testing.assert_array_equal(brighten_if_dark(bright), bright)


def test_landmarker_kind_is_checked(tmp_path: Path) -> None:
    restorer = load_face_model(
        synthetic_masks.build_restorer_like(tmp_path / "gfpgan_1.4.onnx", size=512), "restorer", providers="cpu"
    )
    with pytest.raises(InvalidArgumentError, match="not a 68-point landmarker"):
        landmarks_68(restorer, np.zeros((8, 8, 3), np.uint8), [Face(bbox=[0, 0, 4, 4], score=1, landmarks=FIVE)])


@pytest.fixture(scope="module")
def pfld(shared_data: Path) -> object:
    return load_face_model(
        shared_data / "models" / "landmarks_68_pfld.onnx", "landmarker_pfld", providers="cpu", allow_download=False
    )


@pytest.mark.parametrize("folder", ["barack_obama", "isaac_newton", "alex_lacamoire"])
def test_real_pfld_mouth_area_reaches_the_mouth_corners_and_no_eye(
    pfld: object, scrfd_detector: FaceDetector, shared_data: Path, folder: str
) -> None:
    candidates = sorted((shared_data / "faces" / folder).glob("*.*"))
    if not candidates:
        pytest.skip(f"no photo of {folder} in the shared data")
    image = read_image(candidates[0])
    faces = scrfd_detector.detect(image)[:1]
    assert faces
    face = faces[0]
    points, scores = landmarks_68(pfld, image, faces)  # type: ignore[arg-type]
    assert scores == [None]
    # PFLD's eye centres, nose tip and mouth corners agree with SCRFD's five points (within 6 % of the face width)
    p = points[0]
    five_from_68 = np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])
    assert np.linalg.norm(five_from_68 - face.landmarks, axis=1).max() < 0.06 * face.width
    spec = MaskSpec(types=("area",), areas=("mouth",), landmarker=pfld)  # type: ignore[arg-type]
    mask = face_masks([image.astype(np.float32) / 255], [[face]], spec)[0]
    ys, xs = np.nonzero(mask > 0)
    assert xs.size and mask.max() > 0.9
    # The mouth area reaches each mouth corner SCRFD found: measured 0.2-7 % of the face width on 15 photos,
    # the two models' disagreement (the feathered hull edge itself is 0); nothing of it is near an eye.
    for corner in face.landmarks[3:5]:
        assert np.hypot(xs - corner[0], ys - corner[1]).min() < 0.08 * face.width
    for eye in face.landmarks[:2]:
        assert np.hypot(xs - eye[0], ys - eye[1]).min() > 0.3 * face.width
    assert ys.min() > face.landmarks[:2, 1].max() + 0.15 * face.width
