"""save_image writes what the library hands out (float 0..1 or uint8 RGB) as a viewable file, in the right colours."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_identity.errors import InvalidImageError
from face_identity.images import read_image, save_image


def gradient() -> np.ndarray:
    """[32, 48, 3] uint8 RGB with distinct red, green and blue ramps."""
    ys, xs = np.mgrid[0:32, 0:48]
    return np.stack([xs * 5, ys * 7, 255 - xs * 5], axis=2).astype(np.uint8)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_png_round_trips_uint8_and_float_rgb(tmp_path: Path, dtype: type) -> None:
    rgb = gradient()
    image = rgb if dtype is np.uint8 else (rgb / 255.0).astype(dtype)
    path = save_image(tmp_path / "out.png", image)
    assert path == tmp_path / "out.png"
    np.testing.assert_array_equal(read_image(path), rgb)


def test_float_output_is_not_black_and_red_stays_red(tmp_path: Path) -> None:
    """The two mistakes of cv2.imwrite on a swap output: float 0..1 written as 0/1 bytes, RGB written as BGR."""
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1.0
    save_image(tmp_path / "red.jpg", red)
    bgr = cv2.imread(str(tmp_path / "red.jpg"))
    assert bgr[..., 2].min() > 240 and bgr[..., 0].max() < 15


def test_out_of_range_floats_and_unknown_extensions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError):
        save_image(tmp_path / "bad.png", np.full((4, 4, 3), 255.0, np.float32))
    with pytest.raises(InvalidImageError, match=r"no encoder for '\.foo'.*\.png"):
        save_image(tmp_path / "bad.foo", gradient())
    assert not list(tmp_path.iterdir())
