"""Reading image files and bringing arrays into the library's conventions: ``[H, W, 3]`` uint8 RGB, or float32 RGB 0..1."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from .errors import InvalidImageError
from .files import write_atomic
from .types import FloatImage, RGBImage
from .validate import check_float_range, check_not_empty


def as_rgb_uint8(array: NDArray[np.generic]) -> RGBImage:
    """Any common image array as ``[H, W, 3]`` uint8 RGB.

    Accepts ``[H, W]`` grey, ``[H, W, 1]``, ``[H, W, 3]`` RGB and ``[H, W, 4]`` RGBA (alpha dropped);
    uint8 as is, floats in 0..1 scaled by 255 and rounded (so ``x / 255`` comes back exactly).

    Raises:
        InvalidImageError: other shapes or dtypes, non-finite floats, or floats outside 0..1
            (beyond ``validate.IMAGE_RANGE_TOLERANCE``; within it they are clipped).
    """
    image = np.asarray(array)
    check_not_empty(image)  # an empty image alone is an error everywhere (validate.py)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidImageError(f"expected an image [H, W] or [H, W, 1|3|4], got shape {image.shape}")
    if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
        raise InvalidImageError(f"unsupported image dtype {image.dtype}; use uint8 or float in 0..1")
    if image.dtype != np.uint8:
        check_float_range(image)  # the input policy (validate.py)
    return rgb_uint8_unchecked(image)


def _rgb_channels(image: NDArray[np.generic]) -> NDArray[np.generic]:
    """``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``[H, W, 4]`` as ``[H, W, 3]``: grey repeated, alpha dropped."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3] if image.shape[2] == 4 else image


def rgb_uint8_unchecked(array: NDArray[np.generic]) -> RGBImage:
    """``as_rgb_uint8``'s conversion of an image the input policy already passed (``frames.Frames``): no scan.

    uint8 kept; floats ``rint(x * 255)`` in float32, clipped to 0..255. ``[H, W, 3]`` uint8 RGB out.
    """
    image = _rgb_channels(np.asarray(array))
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    return np.ascontiguousarray(np.clip(np.rint(image.astype(np.float32) * 255.0), 0, 255).astype(np.uint8))


def rgb_float32_unchecked(array: NDArray[np.generic]) -> FloatImage:
    """``as_float_image``'s conversion of an image the input policy already passed: a new float32 ``[H, W, 3]`` RGB 0..1.

    uint8 divided by 255; floats clipped to 0..1 (the policy's slight overshoot).
    """
    image = _rgb_channels(np.asarray(array))
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255.0)
    converted = np.array(image, dtype=np.float32, copy=True)
    return np.clip(converted, 0.0, 1.0, out=converted)


def as_float_image(image: NDArray[np.generic]) -> FloatImage:
    """A float32 ``[H, W, 3]`` RGB copy of an image: floats kept (0..1, slight overshoot clipped), uint8 divided by 255.

    Raises:
        InvalidImageError: not ``[H, W, 3]``, unsupported dtype, non-finite values, or values outside 0..1
            (beyond ``validate.IMAGE_RANGE_TOLERANCE``; within it they are clipped).
    """
    array = np.asarray(image)
    check_not_empty(array)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise InvalidImageError(f"expected an [H, W, 3] RGB image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidImageError(f"unsupported image dtype {array.dtype}; use float32 in 0..1 or uint8")
    converted = np.array(array, dtype=np.float32, copy=True)
    check_float_range(converted)  # the input policy (validate.py)
    return np.clip(converted, 0.0, 1.0, out=converted)


def read_image(path: str | os.PathLike[str]) -> RGBImage:
    """Read an image file (any format OpenCV reads) as ``[H, W, 3]`` uint8 RGB.

    Raises:
        InvalidImageError: the path is missing, a folder, an empty (0-byte) file, unreadable, or not
            an image OpenCV can decode; the message names the file.
    """
    file_path = Path(path)
    if file_path.is_dir():
        raise InvalidImageError(
            f"{file_path} is a folder, not an image file; give one image file here "
            "(find_images, and the analyze, score and identity build commands, take folders of images)"
        )
    if not file_path.is_file():
        raise InvalidImageError(f"image file {file_path} does not exist")
    try:
        data = np.fromfile(file_path, dtype=np.uint8)  # imdecode also handles non-ASCII paths on Windows
    except OSError as error:
        raise InvalidImageError(f"cannot read image file {file_path}: {error.strerror or error}") from error
    if data.size == 0:
        raise InvalidImageError(f"image file {file_path} is empty (0 bytes); it was not written completely")
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as error:  # some decoders raise instead of returning None on damaged data
        raise InvalidImageError(f"{file_path} is damaged or not an image OpenCV can read") from error
    if decoded is None:
        raise InvalidImageError(f"{file_path} is damaged or not an image OpenCV can read")
    return np.ascontiguousarray(decoded[:, :, ::-1])


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""File extensions (lower case) that folder listings treat as images."""


def find_images(paths: Sequence[str | os.PathLike[str]], *, recursive: bool = False) -> list[Path]:
    """Expand files and folders into a list of image files.

    Files are kept as given (whatever their extension, so a bad file is reported rather than
    silently dropped); each folder becomes its files with an ``IMAGE_EXTENSIONS`` extension
    (case-insensitive), sorted by path, descending into sub-folders when ``recursive``. Order: the
    order of ``paths``, each folder's images in sorted order. Paths that are neither file nor folder
    are kept too, so the caller reports them per file.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS))
        else:
            found.append(path)
    return found


def save_image(path: str | os.PathLike[str], image: NDArray[np.generic]) -> Path:
    """Write an RGB image to ``path`` (format from the extension: .png, .jpg, .webp, ...), atomically.

    ``image`` is what the library hands out: ``[H, W, 3]`` (or ``[H, W]``, ``[H, W, 1|4]``) uint8 RGB, or
    float RGB in 0..1 (swap, restore, paste outputs), converted with ``as_rgb_uint8`` and written in
    the file's BGR order, so neither a float image turns black nor red and blue trade places (the
    two mistakes of a bare ``cv2.imwrite``). Returns ``path``.

    Raises:
        InvalidImageError: not an image array ``as_rgb_uint8`` accepts, or an extension OpenCV cannot write.
        OSError: the write failed; an existing file at ``path`` is unchanged.
    """
    target = Path(path)
    pixels = as_rgb_uint8(image)
    try:
        ok, encoded = cv2.imencode(target.suffix or ".", np.ascontiguousarray(pixels[:, :, ::-1]))
    except cv2.error:
        ok, encoded = False, None
    if not ok or encoded is None:
        raise InvalidImageError(
            f"cannot write {target.name}: OpenCV has no encoder for {target.suffix or 'a file without an extension'!r}; "
            "use an image extension like .png or .jpg"
        )
    return write_atomic(target, encoded.tobytes())
