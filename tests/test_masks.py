"""Face masks: hand-computed box/threshold/area masks, and the whole crop -> model -> mask -> paste path with synthetic XSeg/BiSeNet."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_identity.align import template_points
from face_identity.devtools import synthetic_masks
from face_identity.errors import InvalidArgumentError, ModelMismatchError
from face_identity.face_models import FaceModel, load_face_model
from face_identity.geometry import paste_crop, paste_crop_mask, snap_mask
from face_identity.masks import (
    AREAS,
    MaskSpec,
    area_mask,
    box_mask,
    crop_masks,
    face_masks,
    region_masks,
    smooth_threshold,
)
from face_identity.types import Face, FaceBatch

OFFSET = np.array([40.0, 30.0])
"""A face whose 5 points are the ffhq_512 template at 512 shifted by OFFSET: its 512 crop is the image shifted by -OFFSET."""


def _shifted_face(offset: np.ndarray = OFFSET, image_index: int = 0) -> Face:
    points = template_points("ffhq_512", 512) + offset
    return Face(
        bbox=[offset[0] + 100, offset[1] + 100, offset[0] + 412, offset[1] + 450],
        score=0.9,
        landmarks=points,
        image_index=image_index,
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mask_models")
    return {
        "xseg_1": synthetic_masks.build_xseg_like(folder / "xseg_1.onnx"),
        "xseg_2": synthetic_masks.build_xseg_like(folder / "xseg_2.onnx", batch="N"),
        "bisenet_resnet_34": synthetic_masks.build_bisenet_like(folder / "bisenet_resnet_34.onnx"),
        "fan_68_5": synthetic_masks.build_fan_68_5_like(folder / "fan_68_5.onnx"),
    }


def _load(models: dict[str, Path], name: str, kind: str, **options: object) -> FaceModel:
    return load_face_model(models[name], kind, providers="cpu", allow_download=False, **options)  # type: ignore[arg-type]


def test_box_mask_without_blur_zeroes_one_pixel_border_and_padding() -> None:
    mask = box_mask(20, blur=0.0)
    expected = np.zeros((20, 20), np.float32)
    expected[1:-1, 1:-1] = 1
    np.testing.assert_array_equal(mask, expected)
    padded = box_mask(100, blur=0.0, padding=(10, 0, 5, 20))
    expected = np.zeros((100, 100), np.float32)
    expected[10:95, 20:99] = 1
    np.testing.assert_array_equal(padded, expected)


def test_box_mask_default_blur_is_a_symmetric_feather() -> None:
    mask = box_mask(512)
    assert mask[256, 256] == pytest.approx(1.0, abs=1e-5)
    assert mask[0, 0] < 5e-3 and mask[256, 0] < 0.05  # sigma 19 reaching the 38 px zero border: 2 Phi(-2) per axis
    # blur 0.3 at 512: blur_amount 76, border 38 px, sigma 19: the border value is about Phi(-2) of the step
    assert 0.0 < mask[256, 38] < 0.6
    np.testing.assert_allclose(mask, mask[::-1, ::-1], atol=1e-6)


def test_smooth_threshold_keeps_the_inside_and_drops_the_edge() -> None:
    hard = np.zeros((200, 200), np.float32)
    hard[50:150, 60:140] = 1
    soft = smooth_threshold(hard)
    assert soft[100, 100] == pytest.approx(1.0, abs=1e-6)
    assert np.all(soft[:50] == 0) and np.all(soft[:, :60] == 0) and np.all(soft[150:] == 0)
    # sigma 5: 2 * Phi(d / 5) - 1 at distance d inside the edge (half-pixel edge at 49.5)
    assert soft[60, 100] == pytest.approx(2 * 0.97724987 - 1, abs=0.03)  # d = 10.5 px -> ~0.96
    assert soft[50, 100] < 0.1


def _ring(centre: tuple[float, float], radius: float, count: int) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], axis=1)


def test_area_mask_is_the_smoothed_hull_of_the_index_set() -> None:
    points = np.zeros((68, 2))
    points[:48] = _ring((100.0, 80.0), 60.0, 48)
    points[48:] = _ring((100.0, 150.0), 30.0, 20)
    mouth = area_mask(256, points, ["mouth"])
    hard = np.zeros((256, 256), np.float32)
    cv2.fillConvexPoly(hard, cv2.convexHull(points[48:].astype(np.int32)), 1.0)
    np.testing.assert_allclose(mouth, smooth_threshold(hard), atol=1e-6)
    assert mouth[150, 100] == pytest.approx(1.0) and mouth[80, 100] == 0.0
    both = area_mask(256, points, ["mouth", "upper-face"])
    hull = cv2.convexHull(points[list(AREAS["mouth"] + AREAS["upper-face"])].astype(np.int32))
    hard_both = np.zeros((256, 256), np.float32)
    cv2.fillConvexPoly(hard_both, hull, 1.0)
    np.testing.assert_allclose(both, smooth_threshold(hard_both), atol=1e-6)


def test_masks_combine_by_minimum() -> None:
    size = 256
    crop = np.full((1, size, size, 3), 0.5, np.float32)
    points = np.zeros((68, 2))
    points[:48] = _ring((128.0, 100.0), 70.0, 48)
    points[48:] = _ring((128.0, 190.0), 35.0, 20)
    face = Face(bbox=[0, 0, size, size], score=1, landmarks=template_points("ffhq_512", size), landmarks_68=points)
    face = face.with_alignment(np.array([[1.0, 0, 0], [0, 1.0, 0]]), size, "ffhq_512")
    spec = MaskSpec(types=("box", "area"), areas=("mouth",), blur=0.5)
    combined = crop_masks(crop, [face], spec)[0]
    expected = np.minimum(box_mask(size, 0.5), area_mask(size, points, ["mouth"]))
    np.testing.assert_allclose(combined, expected, atol=1e-6)
    assert combined.max() <= 1.0 and combined.min() >= 0.0


def test_parser_stand_in_margin_selects_skin_coloured_pixels(tmp_path: Path) -> None:
    """``build_bisenet_like(margin=...)`` scores its class where R - G > margin (the parity script's skin-wide region)."""
    parser = load_face_model(
        synthetic_masks.build_bisenet_like(tmp_path / "bisenet_resnet_34.onnx", margin=0.06), "parser", providers="cpu"
    )
    crops = np.zeros((1, 512, 512, 3), np.float32)
    crops[0, :, :256] = (0.80, 0.60, 0.50)  # skin: R - G = 0.2
    crops[0, :, 256:] = (0.60, 0.58, 0.50)  # R - G = 0.02, under the margin
    chosen = region_masks(crops, parser, ["mouth"])[0]
    assert chosen[:, :200].min() == pytest.approx(1.0) and chosen[:, 312:].max() == 0.0
    (tmp_path / "default").mkdir()
    default_path = synthetic_masks.build_bisenet_like(tmp_path / "default" / "bisenet_resnet_34.onnx")
    default = load_face_model(default_path, "parser", providers="cpu")
    assert region_masks(crops, default, ["mouth"]).max() == 0.0  # the default (0.9) wants pure red


def test_parser_rectangle_labelled_mouth_is_that_region_in_image_space(models: dict[str, Path]) -> None:
    parser = _load(models, "bisenet_resnet_34", "parser")
    image = np.full((620, 600, 3), 0.6, np.float32)
    image[..., 1] = 0.5  # skin-ish everywhere: class 0
    image[300:360, 200:330] = (1.0, 0.0, 0.0)  # pure red: the synthetic parser's "mouth" (11)
    spec = MaskSpec(types=("region",), parser=parser, regions=("mouth",))
    mask = face_masks([image], [[_shifted_face()]], spec)[0]
    hard = np.zeros(image.shape[:2], np.float32)
    hard[300:360, 200:330] = 1
    expected = smooth_threshold(hard)
    # the crop covers image [30:542, 40:552]; the crop is the image shifted, so the mask is exact there
    np.testing.assert_allclose(mask[30:542, 40:552], expected[30:542, 40:552], atol=1e-5)
    assert mask[330, 265] == pytest.approx(1.0) and mask[:300].max() == 0 and mask[360:].max() == 0
    # colour order: a pure blue rectangle is not red after the RGB input
    image[300:360, 200:330] = (0.0, 0.0, 1.0)
    assert face_masks([image], [[_shifted_face()]], spec)[0].max() == 0
    # other regions do not include it
    other = MaskSpec(types=("region",), parser=parser, regions=("skin", "eyes"))
    image[300:360, 200:330] = (1.0, 0.0, 0.0)
    assert face_masks([image], [[_shifted_face()]], other)[0].max() == 0


def test_occlusion_uses_bgr_nhwc_and_combines_occluders_by_minimum(models: dict[str, Path]) -> None:
    first = _load(models, "xseg_1", "occluder")
    second = _load(models, "xseg_2", "occluder")
    assert first.batch_size == 1 and second.batch_size > 1
    image = np.full((620, 600, 3), 0.2, np.float32)
    image[..., 2] = 0.0  # no blue: visible everywhere
    image[230:290, 200:330, 2] = 1.0  # a blue object over the face: occluded
    spec = MaskSpec(types=("occlusion",), occluders=(first,))
    mask = face_masks([image], [[_shifted_face()]], spec)[0]
    crop = image[30:542, 40:552]
    raw = 1.0 - crop[..., 2]
    reference = smooth_threshold(cv2.resize(cv2.resize(raw, (256, 256)), (512, 512)).clip(0, 1))
    np.testing.assert_allclose(mask[30:542, 40:552], reference, atol=1e-5)
    assert mask[260, 265] == 0.0 and mask[450, 300] == pytest.approx(1.0)
    both = face_masks([image], [[_shifted_face()]], MaskSpec(types=("occlusion",), occluders=(first, second)))[0]
    np.testing.assert_allclose(both, mask, atol=1e-5)  # identical occluders: the minimum is the same mask


def test_image_mask_is_max_over_faces_and_zero_without_faces(models: dict[str, Path]) -> None:
    image = np.full((700, 760, 3), 0.5, np.float32)
    spec = MaskSpec(types=("box",))
    one = face_masks([image], [[_shifted_face()]], spec)[0]
    other = face_masks([image], [[_shifted_face(np.array([200.0, 150.0]))]], spec)[0]
    both = face_masks([image], [[_shifted_face(), _shifted_face(np.array([200.0, 150.0]))]], spec)[0]
    np.testing.assert_allclose(both, np.maximum(one, other), atol=1e-6)
    empty = face_masks([image, image], FaceBatch(((), ())), spec)
    assert len(empty) == 2 and all(m.shape == (700, 760) and m.max() == 0 for m in empty)


def test_chunked_equals_unchunked(models: dict[str, Path]) -> None:
    parser = _load(models, "bisenet_resnet_34", "parser", batch_size=1)
    parser_batched = _load(models, "bisenet_resnet_34", "parser", batch_size=8)
    image = np.full((620, 600, 3), 0.5, np.float32)
    image[300:360, 200:330] = (1.0, 0.0, 0.0)
    faces = [[_shifted_face(), _shifted_face(np.array([10.0, 20.0]))], [], [_shifted_face()]]
    images = [image, image, image[::-1].copy()]
    one = face_masks(images, faces, MaskSpec(types=("box", "region"), parser=parser), faces_per_step=1)
    many = face_masks(images, faces, MaskSpec(types=("box", "region"), parser=parser_batched), faces_per_step=32)
    for a, b in zip(one, many):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_area_mask_with_fan_68_5_landmarker(models: dict[str, Path]) -> None:
    landmarker = _load(models, "fan_68_5", "landmarker_68_5")
    image = np.full((620, 600, 3), 0.5, np.float32)
    spec = MaskSpec(types=("area",), areas=("mouth",), landmarker=landmarker)
    mask = face_masks([image], [[_shifted_face()]], spec)[0]
    assert mask.shape == (620, 600)  # the synthetic 68 points collapse towards the 5 points; the hull may be thin
    with pytest.raises(InvalidArgumentError, match="landmarker"):
        face_masks([image], [[_shifted_face()]], MaskSpec(types=("area",)))


def test_spec_errors_name_the_fix(models: dict[str, Path]) -> None:
    with pytest.raises(InvalidArgumentError, match="occluder"):
        MaskSpec(types=("occlusion",))
    with pytest.raises(InvalidArgumentError, match="parser"):
        MaskSpec(types=("region",))
    with pytest.raises(InvalidArgumentError, match="regions"):
        MaskSpec(types=("box",), regions=("hair",))
    with pytest.raises(InvalidArgumentError, match="padding"):
        MaskSpec(padding=(0, 0, 0, 120))
    with pytest.raises(ModelMismatchError):
        load_face_model(
            models["xseg_1"],
            "parser",
            providers="cpu",
            allow_download=False,
            facts=_load(models, "bisenet_resnet_34", "parser").facts,
        )


@pytest.mark.parametrize("name,kind", [("xseg_2", "occluder"), ("bisenet_resnet_34", "parser")])
def test_torch_backend_matches_onnxruntime(models: dict[str, Path], name: str, kind: str) -> None:
    pytest.importorskip("torch")
    reference = _load(models, name, kind)
    converted = _load(models, name, kind, backend="torch", device="cpu")
    assert converted.backend.name == "torch"
    rng = np.random.default_rng(3)
    crops = rng.random((2, 64, 64, 3), dtype=np.float32)
    blob = reference.preprocess(crops)
    np.testing.assert_allclose(converted.run(blob)[0], reference.run(blob)[0], atol=1e-4)


def test_warped_back_masks_are_exactly_zero_or_one_where_they_are_by_definition() -> None:
    # a near-identity matrix (Umeyama's residual is ~1e-9): OpenCV 5 samples with exact float coordinates,
    # so the bilinear warp mixes ~1e-7 of the neighbour row into rows that are 0 or 1 by definition
    hard = np.zeros((64, 64), np.float32)
    hard[16:48, 16:48] = 1.0
    matrix = np.array([[1.0 + 1e-9, 0.0, -20.0 + 1e-7], [0.0, 1.0 - 1e-9, -10.0 - 1e-7]])
    warped, (x1, y1, x2, y2) = paste_crop_mask(hard, matrix, 100, 100)
    assert set(np.unique(warped)) <= {0.0, 1.0}
    image = np.random.default_rng(0).random((100, 100, 3), dtype=np.float32)
    pasted, weight = paste_crop(image, np.zeros((64, 64, 3), np.float32), hard, matrix)
    outside = weight == 0
    assert outside.sum() == 100 * 100 - 32 * 32
    np.testing.assert_array_equal(pasted[outside], image[outside])  # bit-identical outside the pasted square
    assert np.all(pasted[~outside] == 0.0)
    # the bounds only: a real feather keeps its values
    soft = snap_mask(np.array([-0.5, 1e-7, 0.25, 1 - 1e-7, 1.5], np.float32))
    np.testing.assert_array_equal(soft, np.array([0.0, 0.0, 0.25, 1.0, 1.0], np.float32))
