"""Image conversion to [H, W, 3] uint8 RGB and reading files (colour order, formats, errors)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_identity.errors import InvalidImageError
from face_identity.images import as_rgb_uint8, read_image


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """A 9 x 11 RGB uint8 image with every value 0..255 present somewhere and distinct channels."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    image.reshape(-1)[:256] = np.arange(256, dtype=np.uint8)
    return image


def test_rgb_uint8_passes_through(rgb: np.ndarray) -> None:
    converted = as_rgb_uint8(rgb)
    assert converted.dtype == np.uint8 and converted.shape == (9, 11, 3)
    assert np.array_equal(converted, rgb)
    assert converted.flags.c_contiguous
    assert as_rgb_uint8(rgb[:, ::-1]).flags.c_contiguous


def test_grey_images_repeat_the_channel(rgb: np.ndarray) -> None:
    grey = rgb[:, :, 0]
    for array in (grey, grey[:, :, None]):
        converted = as_rgb_uint8(array)
        assert converted.shape == (9, 11, 3)
        for channel in range(3):
            assert np.array_equal(converted[:, :, channel], grey)


def test_rgba_drops_alpha(rgb: np.ndarray) -> None:
    alpha = np.full((9, 11, 1), 17, np.uint8)
    converted = as_rgb_uint8(np.concatenate([rgb, alpha], axis=2))
    assert np.array_equal(converted, rgb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_0_to_1_round_trips_exactly(rgb: np.ndarray, dtype: type) -> None:
    as_float = (rgb.astype(np.float64) / 255.0).astype(dtype)
    assert np.array_equal(as_rgb_uint8(as_float), rgb)


def test_float_slight_overshoot_is_clipped_and_rounded() -> None:
    values = np.array([[[-0.01, 0.0, 1.0], [1.01, 0.6 / 255, 0.4 / 255]]], dtype=np.float32)
    assert as_rgb_uint8(values).tolist() == [[[0, 0, 255], [255, 1, 0]]]


def test_float_out_of_range_is_refused() -> None:
    """The input policy (face_identity.validate): beyond IMAGE_RANGE_TOLERANCE a float image is refused, not clipped."""
    from face_identity.errors import InvalidImageError

    with pytest.raises(InvalidImageError, match=r"values -0\.5\.\.1\.7.*Clamp"):
        as_rgb_uint8(np.array([[[-0.5, 0.0, 1.0], [1.7, 0.5, 0.5]]], dtype=np.float32))
    with pytest.raises(InvalidImageError, match="divide it by 255"):
        as_rgb_uint8(np.full((2, 2, 3), 200.0, np.float32))


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4,), np.uint8),
        np.zeros((2, 4, 4, 3), np.uint8),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 5), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros((4, 0), np.uint8),
    ],
    ids=["1d", "4d", "two-channels", "five-channels", "no-rows", "no-columns"],
)
def test_bad_shapes_raise(array: np.ndarray) -> None:
    with pytest.raises(InvalidImageError, match="shape"):
        as_rgb_uint8(array)


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, np.int64, bool, np.complex64])
def test_bad_dtypes_raise(dtype: type) -> None:
    with pytest.raises(InvalidImageError, match="dtype"):
        as_rgb_uint8(np.zeros((4, 4, 3), dtype))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_floats_raise(value: float) -> None:
    image = np.zeros((4, 4, 3), np.float32)
    image[1, 2, 0] = value
    with pytest.raises(InvalidImageError, match="NaN or infinity"):
        as_rgb_uint8(image)


def test_read_png_returns_rgb_of_a_known_bgr_file(tmp_path: Path, rgb: np.ndarray) -> None:
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    path = tmp_path / "known.png"
    assert cv2.imwrite(str(path), bgr)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (9, 11, 3) and image.flags.c_contiguous
    assert np.array_equal(image, rgb)  # PNG is lossless: exact RGB
    assert np.array_equal(read_image(str(path)), rgb)


def test_read_jpg_returns_rgb_not_bgr(tmp_path: Path) -> None:
    # Flat colour blocks survive JPEG almost unchanged, so the channel order is unambiguous.
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[:, :32] = (220, 30, 30)  # red
    rgb[:, 32:64] = (30, 200, 40)  # green
    rgb[:, 64:] = (20, 40, 230)  # blue
    path = tmp_path / "blocks.jpg"
    assert cv2.imwrite(str(path), rgb[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    image = read_image(path)
    assert image.shape == (64, 96, 3)
    for x, colour in ((16, (220, 30, 30)), (48, (30, 200, 40)), (80, (20, 40, 230))):
        assert np.abs(image[32, x].astype(int) - np.array(colour)).max() <= 6


def test_read_grey_and_rgba_files_give_three_channels(tmp_path: Path, rgb: np.ndarray) -> None:
    grey_path, rgba_path = tmp_path / "grey.png", tmp_path / "rgba.png"
    assert cv2.imwrite(str(grey_path), rgb[:, :, 0])
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((9, 11, 1), 9, np.uint8)], axis=2)
    assert cv2.imwrite(str(rgba_path), bgra)
    grey = read_image(grey_path)
    assert grey.shape == (9, 11, 3) and all(np.array_equal(grey[:, :, c], rgb[:, :, 0]) for c in range(3))
    assert np.array_equal(read_image(rgba_path), rgb)


def test_read_non_ascii_path(tmp_path: Path, rgb: np.ndarray) -> None:
    folder = tmp_path / "Gauß ümlaut 顔"
    folder.mkdir()
    path = folder / "bild.png"
    assert cv2.imwrite(str(tmp_path / "plain.png"), rgb[:, :, ::-1].copy())
    path.write_bytes((tmp_path / "plain.png").read_bytes())
    assert np.array_equal(read_image(path), rgb)


def test_missing_and_unreadable_files_raise(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.png"
    with pytest.raises(InvalidImageError, match="nowhere.png"):
        read_image(missing)
    with pytest.raises(InvalidImageError, match="does not exist"):
        read_image(missing)
    with pytest.raises(InvalidImageError, match="is a folder, not an image file"):
        read_image(tmp_path)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not an image at all")
    with pytest.raises(InvalidImageError, match="garbage.jpg.*damaged"):
        read_image(garbage)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InvalidImageError, match=r"empty.png is empty \(0 bytes\)"):
        read_image(empty)


def test_real_photo_reads_as_rgb(shared_data: Path) -> None:
    path = shared_data / "faces" / "isaac_newton" / "newton.png"
    image = read_image(path)
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert np.array_equal(image, decoded[:, :, ::-1])
