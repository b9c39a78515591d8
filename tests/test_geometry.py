"""Crop and paste geometry (``face_identity.geometry``): the two borders, the snapped mask warp, FaceFusion's paste."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.align import alignment_matrix, template_points
from face_identity.errors import InvalidArgumentError
from face_identity.geometry import MASK_SNAP, paste_crop, paste_crop_mask, paste_region, warp_face
from face_identity.masks import box_mask

HEIGHT, WIDTH = 240, 300


def ramp() -> NDArray[np.float32]:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    return np.stack([0.2 + 0.6 * x / WIDTH, 0.3 + 0.5 * y / HEIGHT, 0.8 - 0.3 * x / WIDTH], axis=-1).astype(np.float32)


def matrix_at(centre_x: float, centre_y: float, size: int = 256, scale: float = 0.5) -> NDArray[np.float64]:
    """A slightly rotated face of ``arcface_128`` shape at ``size * scale`` px around the centre."""
    points = (template_points("arcface_128", size) - size / 2) * scale
    angle = 0.2
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    return alignment_matrix(points @ rotation + np.array([centre_x, centre_y]), "arcface_128", size)


def test_borders_are_opencv_constant_and_replicate() -> None:
    image = ramp()
    matrix = matrix_at(20.0, 120.0)  # the crop reaches well past the left edge
    black = warp_face(image, matrix, 256)
    replicated = warp_face(image, matrix, 256, "replicate")
    for border, crop in ((cv2.BORDER_CONSTANT, black), (cv2.BORDER_REPLICATE, replicated)):
        expected = cv2.warpAffine(image, matrix, (256, 256), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
        assert crop.dtype == np.float32 and np.array_equal(crop, expected)
    assert black.min() == 0.0 and replicated.min() > 0.19  # the ramp's darkest value is 0.2; no black enters
    uint8 = warp_face(np.rint(image * 255).astype(np.uint8), matrix, 256)
    assert uint8.dtype == np.uint8
    with pytest.raises(InvalidArgumentError, match="replicate"):
        warp_face(image, matrix, 256, "reflect")


def test_a_mask_warps_back_snapped_to_exact_zeros_and_ones() -> None:
    matrix = matrix_at(150.0, 120.0)
    mask = box_mask(256, 0.3)
    assert 1 - MASK_SNAP < mask.max() < 1.0  # the blurred box never quite reaches 1 in float32
    warped, (x1, y1, x2, y2) = paste_crop_mask(mask, matrix, HEIGHT, WIDTH)
    assert warped.shape == (y2 - y1, x2 - x1) and warped.dtype == np.float32
    assert warped.max() == 1.0 and (warped == 1.0).sum() > 0.2 * warped.size and (warped == 0.0).any()
    assert not ((warped > 0) & (warped < MASK_SNAP)).any() and not ((warped < 1) & (warped > 1 - MASK_SNAP)).any()
    outside, _ = paste_crop_mask(np.ones((256, 256), np.float32), matrix_at(5000.0, 5000.0), HEIGHT, WIDTH)
    assert outside.size == 0


def test_facefusion_paste_weight_is_the_crop_mask_alone() -> None:
    image = ramp()
    matrix = matrix_at(15.0, 110.0)  # cut by the left edge
    crop = 1.0 - warp_face(image, matrix, 256, "replicate")
    mask = box_mask(256, 0.3)
    pasted, weight = paste_crop(image, crop, mask, matrix)
    expected_weight, (x1, y1, x2, y2) = paste_crop_mask(mask, matrix, HEIGHT, WIDTH)
    full = np.zeros((HEIGHT, WIDTH), np.float32)
    full[y1:y2, x1:x2] = expected_weight
    assert np.array_equal(weight, full)
    # the blend, written out with OpenCV: crop warped back over the whole image with its edge replicated
    back = cv2.warpAffine(crop, cv2.invertAffineTransform(matrix), (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(pasted, image * (1 - full[..., None]) + back * full[..., None], atol=2e-6)
    untouched, replaced = weight == 0, weight == 1
    assert untouched.mean() > 0.5 and np.array_equal(pasted[untouched], image[untouched])
    # weight 1: the warped-back crop, bit for bit (the same warp as the paste's own: the region's local matrix;
    # OpenCV's whole-image warp above may differ from it by 1 ulp, hence atol there)
    (rx1, ry1, rx2, ry2), local = paste_region(HEIGHT, WIDTH, matrix, 256)
    region = np.zeros_like(back)
    region[ry1:ry2, rx1:rx2] = cv2.warpAffine(crop, local, (rx2 - rx1, ry2 - ry1), borderMode=cv2.BORDER_REPLICATE)
    assert replaced.sum() > 1000 and np.array_equal(pasted[replaced], region[replaced])
    half, half_weight = paste_crop(image, crop, mask, matrix, amount=0.5)
    assert np.array_equal(half_weight, full * np.float32(0.5))
    assert np.array_equal(half[untouched], image[untouched])


def test_paste_region_covers_the_crop_and_stays_in_the_image() -> None:
    (x1, y1, x2, y2), local = paste_region(HEIGHT, WIDTH, matrix_at(15.0, 110.0), 256)
    assert x1 == 0 and 0 < y1 < y2 <= HEIGHT and 0 < x2 <= WIDTH
    corner = local @ np.array([0.0, 0.0, 1.0])
    assert np.all(np.isfinite(corner))
