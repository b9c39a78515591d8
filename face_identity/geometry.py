"""Crop and paste geometry shared by every stage: cut an aligned crop, warp it or a mask back, blend it in.

Matrices are ``[2, 3]`` float64 image-to-crop affine matrices (``align.alignment_matrix``); pixel
centres sit on integer coordinates, as in OpenCV. Images keep their channel order (nothing here
converts colours) and their dtype unless a function says otherwise.

Cutting (``warp_face``), bilinear, with one of two borders for pixels the crop takes from outside the image:

- ``constant``: black (insightface's ``norm_crop``; recognition alignment and insightface's swap);
- ``replicate``: the image's edge pixels repeated (FaceFusion's ``warp_face_by_face_landmark_5``;
  masks, restore and FaceFusion's swap), so a face cut by the image edge feeds no black to a model.

Pasting, two recipes, each reproducing one tool:

- ``paste_crop``: FaceFusion 3.8.1's ``paste_back``. The crop and its crop-space mask are warped back
  into the image rectangle the crop covers (crop edge replicated) and blended with that mask alone as
  the weight (times an optional blend amount).
- ``paste_back``: insightface's ``INSwapper.get``. A white square is warped back, thresholded, eroded
  and Gaussian-blurred (``paste_mask``); optional crop-space masks multiply it.

Both leave every pixel whose weight is 0 bit-identical.
"""

from __future__ import annotations

import math
from typing import Literal, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from .errors import InvalidArgumentError, InvalidImageError
from .types import AffineMatrix
from .validate import check_not_empty

BorderMode = Literal["constant", "replicate"]
BORDER_MODES: tuple[str, ...] = ("constant", "replicate")
"""How a crop samples past the image edge: black (insightface) or the edge pixels repeated (FaceFusion)."""
_CV2_BORDERS = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}
MASK_SNAP = 1e-6
"""A mask warped back is set to exactly 0 below this and exactly 1 above ``1 - MASK_SNAP`` (OpenCV's float rounding)."""

INSWAPPER_ERODE_DIVISOR = 10
"""insightface paste-back: erode the warped mask with a k x k kernel, k = max(mask_size // 10, 10)."""
INSWAPPER_ERODE_MIN = 10
INSWAPPER_BLUR_DIVISOR = 20
"""insightface paste-back: Gaussian blur with kernel 2k+1, k = max(mask_size // 20, 5)."""
INSWAPPER_BLUR_MIN = 5
INSWAPPER_WHITE_THRESHOLD = 20
"""insightface paste-back: warped-white pixels above 20 (of 255) count as inside the crop."""


def check_image(image: NDArray[np.generic]) -> None:
    """Raise ``InvalidImageError`` unless ``image`` is ``[H, W, C]`` with C in 1, 3, 4 and H, W >= 1 (an empty one says so)."""
    check_not_empty(image)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidImageError(f"expected an [H, W, C] image with C in 1, 3, 4, got shape {image.shape}")


def transform_points(points: NDArray[np.floating], matrix: AffineMatrix) -> NDArray[np.float64]:
    """``[K, 2]`` float64 points through a ``[2, 3]`` affine matrix (any ``[..., 2]`` input is flattened to K rows)."""
    m = np.asarray(matrix, np.float64)
    return np.asarray(points, np.float64).reshape(-1, 2) @ m[:, :2].T + m[:, 2]


def invert(matrix: AffineMatrix) -> AffineMatrix:
    """``[2, 3]`` float64 inverse of an affine matrix (crop-to-image for an image-to-crop matrix)."""
    return np.asarray(cv2.invertAffineTransform(np.asarray(matrix, np.float64)), np.float64)


def crop_corners(matrix: AffineMatrix, size: int) -> NDArray[np.float64]:
    """``[4, 2]`` image coordinates of the corners ``(0, 0), (S, 0), (0, S), (S, S)`` of a ``size`` crop."""
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    return transform_points(corners, invert(matrix))


def warp_face(
    image: NDArray[np.generic], matrix: AffineMatrix, crop_size: int, border: BorderMode | str = "constant"
) -> NDArray[np.generic]:
    """Cut the aligned crop: ``cv2.warpAffine``, bilinear.

    Args:
        image: ``[H, W, C]`` uint8 or float32 (any channel order and range; kept as is).
        matrix: ``[2, 3]`` image-to-crop matrix.
        crop_size: side of the square crop in pixels.
        border: ``constant`` (black past the image edge: insightface's ``norm_crop``, bit for bit) or
            ``replicate`` (the edge pixels repeated: FaceFusion's crop).

    Returns:
        ``[crop_size, crop_size, C]`` crop of the image's dtype.

    Raises:
        InvalidImageError: not an ``[H, W, C]`` image. InvalidArgumentError: unknown border.
    """
    check_image(image)
    if border not in _CV2_BORDERS:
        raise InvalidArgumentError(f"unknown crop border {border!r}; use one of {', '.join(BORDER_MODES)}")
    crop = cv2.warpAffine(
        cast("cv2.typing.MatLike", image),
        np.asarray(matrix, dtype=np.float64),
        (int(crop_size), int(crop_size)),
        flags=cv2.INTER_LINEAR,
        borderMode=_CV2_BORDERS[border],
        borderValue=0,
    )
    return crop.reshape(int(crop_size), int(crop_size), image.shape[2])


def crop_validity_mask(image_height: int, image_width: int, matrix: AffineMatrix, crop_size: int) -> NDArray[np.float32]:
    """``[crop_size, crop_size]`` float32 in 0..1: 1 where the crop samples the image, 0 past its edge."""
    inside = np.ones((image_height, image_width), dtype=np.float32)
    mask = cv2.warpAffine(
        inside,
        np.asarray(matrix, dtype=np.float64),
        (crop_size, crop_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.asarray(mask, dtype=np.float32)


def paste_region(height: int, width: int, matrix: AffineMatrix, size: int) -> tuple[tuple[int, int, int, int], AffineMatrix]:
    """The image rectangle a ``size`` crop covers and the warp into it (FaceFusion's ``calculate_paste_area``).

    Returns:
        ``((x1, y1, x2, y2), [2, 3] crop-to-region matrix)``; the rectangle is clipped to the image
        (empty, ``x2 <= x1`` or ``y2 <= y1``, when the crop lies outside it).
    """
    corners = crop_corners(matrix, size)
    x1, y1 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [width, height])
    x2, y2 = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, [width, height])
    local = invert(matrix)
    local[:, 2] -= (x1, y1)
    return (int(x1), int(y1), int(x2), int(y2)), local


def snap_mask(mask: NDArray[np.floating]) -> NDArray[np.float32]:
    """``mask`` clipped to 0..1 as float32, values within ``MASK_SNAP`` of 0 or 1 set to exactly 0 or 1."""
    snapped = np.clip(np.asarray(mask, np.float32), 0.0, 1.0)
    snapped[snapped < MASK_SNAP] = 0.0
    snapped[snapped > 1.0 - MASK_SNAP] = 1.0
    return snapped


def paste_crop_mask(
    mask: NDArray[np.floating], matrix: AffineMatrix, height: int, width: int
) -> tuple[NDArray[np.float32], tuple[int, int, int, int]]:
    """A crop-space mask warped back (bilinear, 0 past the crop) into the image rectangle its crop covers.

    Args:
        mask: ``[S, S]`` float 0..1 in crop pixels. matrix: the crop's ``[2, 3]`` image-to-crop matrix.
        height, width: the image's size.

    Returns:
        ``(mask [y2-y1, x2-x1] float32 0..1, (x1, y1, x2, y2))``, snapped (``snap_mask``): a mask that is 0
        or 1 by definition is exactly that after the warp. Empty ``(0, 0)`` when the crop misses the image.
    """
    (x1, y1, x2, y2), local = paste_region(height, width, matrix, mask.shape[0])
    if x2 <= x1 or y2 <= y1:
        return np.zeros((0, 0), np.float32), (x1, y1, x2, y2)
    warped = cv2.warpAffine(np.asarray(mask, np.float32), local, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return snap_mask(np.asarray(warped, np.float32)), (x1, y1, x2, y2)


def paste_crop(
    image: NDArray[np.floating], crop: NDArray[np.floating], mask: NDArray[np.floating], matrix: AffineMatrix, amount: float = 1.0
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """FaceFusion's paste: ``image * (1 - a m) + crop' * a m``, ``crop'`` and ``m`` warped back, ``m`` the weight alone.

    The crop is warped back with its edge replicated (``face_helper.paste_back``); the mask with
    ``paste_crop_mask`` (snapped). Nothing else multiplies the weight.

    Args:
        image: ``[H, W, C]`` float32, any range (not modified). crop: ``[S, S, C]`` float32 in the same range,
            cut with ``matrix``. mask: ``[S, S]`` 0..1 crop-space mask. matrix: ``[2, 3]`` image-to-crop.
        amount: blend ``a`` in 0..1 (1 = the swapper's paste; FaceFusion's enhancer uses ``blend / 100``).

    Returns:
        ``(new image [H, W, C] float32, the applied weight a*m [H, W] float32)``. Pixels where the weight
        is 0 are bit-identical to ``image``; where it is 1 (and ``a`` = 1) they are the warped crop.
    """
    check_image(image)
    height, width = image.shape[:2]
    result = np.array(image, dtype=np.float32, copy=True)
    weight_full = np.zeros((height, width), np.float32)
    warped_mask, (x1, y1, x2, y2) = paste_crop_mask(mask, matrix, height, width)
    if warped_mask.size == 0:
        return result, weight_full
    _, local = paste_region(height, width, matrix, crop.shape[0])
    warped = cv2.warpAffine(
        np.asarray(crop, np.float32), local, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    ).reshape(y2 - y1, x2 - x1, -1)
    weight = (warped_mask * np.float32(amount))[:, :, None]
    region = result[y1:y2, x1:x2]
    blended = region * (1.0 - weight) + warped * weight
    result[y1:y2, x1:x2] = np.where(weight > 0, blended, region)
    weight_full[y1:y2, x1:x2] = weight[:, :, 0]
    return result, weight_full


def paste_mask(
    image_height: int,
    image_width: int,
    matrix: AffineMatrix,
    crop_size: int,
    crop_mask: NDArray[np.floating] | None = None,
    blur_scale: float = 1.0,
) -> tuple[NDArray[np.float32], tuple[int, int, int, int]]:
    """insightface's paste-back mask for one crop, computed only inside the region the crop covers.

    Steps (insightface ``INSwapper.get``): warp a white square back with the inverse matrix,
    threshold at 20, erode with ``k = max(mask_size // 10, 10)``, Gaussian-blur with kernel
    ``2k + 1``, ``k = max(mask_size // 20, 5)`` (times ``blur_scale``), divide by 255.
    ``crop_mask`` (``[S, S]`` 0..1, e.g. a face-area mask) multiplies the white square first.

    Returns:
        ``(mask [y1:y2, x1:x2] float32 0..1, (y1, y2, x1, x2))``: the mask over its region of the image.
    """
    image_corners = crop_corners(matrix, crop_size)
    side = math.sqrt(abs(np.linalg.det(invert(matrix)[:, :2]))) * crop_size
    blur_k = max(int(side) // INSWAPPER_BLUR_DIVISOR, INSWAPPER_BLUR_MIN)
    margin = int(2 * blur_k * max(blur_scale, 1.0)) + 4
    x1 = max(int(math.floor(image_corners[:, 0].min())) - margin, 0)
    y1 = max(int(math.floor(image_corners[:, 1].min())) - margin, 0)
    x2 = min(int(math.ceil(image_corners[:, 0].max())) + margin + 1, image_width)
    y2 = min(int(math.ceil(image_corners[:, 1].max())) + margin + 1, image_height)
    if x2 <= x1 or y2 <= y1:
        return np.zeros((0, 0), dtype=np.float32), (0, 0, 0, 0)
    local_inverse = invert(matrix)
    local_inverse[:, 2] -= (x1, y1)
    white = np.full((crop_size, crop_size), 255.0, dtype=np.float32)
    if crop_mask is not None:
        white = white * np.clip(np.asarray(crop_mask, dtype=np.float32), 0.0, 1.0)
    warped = cv2.warpAffine(white, local_inverse, (x2 - x1, y2 - y1), borderValue=0.0)
    warped[warped > INSWAPPER_WHITE_THRESHOLD] = 255.0
    inside_rows, inside_cols = np.where(warped == 255.0)
    if inside_rows.size == 0:
        return np.zeros((y2 - y1, x2 - x1), dtype=np.float32), (y1, y2, x1, x2)
    mask_size = int(math.sqrt(float(np.ptp(inside_rows)) * float(np.ptp(inside_cols))))
    erode_k = max(mask_size // INSWAPPER_ERODE_DIVISOR, INSWAPPER_ERODE_MIN)
    warped = cv2.erode(warped, np.ones((erode_k, erode_k), np.uint8), iterations=1)
    blur_k = max(int(max(mask_size // INSWAPPER_BLUR_DIVISOR, INSWAPPER_BLUR_MIN) * blur_scale), 1)
    warped = cv2.GaussianBlur(warped, (2 * blur_k + 1, 2 * blur_k + 1), 0)
    return (warped / 255.0).astype(np.float32), (y1, y2, x1, x2)


def paste_back(
    image: NDArray[np.floating],
    crop: NDArray[np.floating],
    matrix: AffineMatrix,
    crop_mask: NDArray[np.floating] | None = None,
    blur_scale: float = 1.0,
    soft_mask: NDArray[np.floating] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """insightface's paste: blend an (edited) aligned crop back into its image with the feathered square (``paste_mask``).

    Args:
        image: ``[H, W, C]`` float32 source image (any range; kept).
        crop: ``[S, S, C]`` float32 crop in the same range, cut with ``matrix``; sampled as black past its
            edge when warped back, as insightface does.
        matrix: the ``[2, 3]`` image-to-crop matrix the crop was cut with.
        crop_mask: optional ``[S, S]`` 0..1 mask in crop space (face area); multiplies the square before erosion.
        blur_scale: multiplies the Gaussian blur kernel (1 = insightface).
        soft_mask: optional ``[S, S]`` 0..1 mask in crop space (a learned or mask-spec mask), warped back
            bilinearly and multiplied into the feathered mask as is (no threshold, no erosion).

    Returns:
        ``(blended [H, W, C] float32, mask [H, W] float32 0..1)``. Pixels where the mask is 0
        are copied from ``image`` unchanged.
    """
    check_image(image)
    height, width = image.shape[:2]
    crop_size = crop.shape[0]
    result = np.array(image, dtype=np.float32, copy=True)
    full_mask = np.zeros((height, width), dtype=np.float32)
    mask, (y1, y2, x1, x2) = paste_mask(height, width, matrix, crop_size, crop_mask, blur_scale)
    if mask.size == 0:
        return result, full_mask
    local_inverse = invert(matrix)
    local_inverse[:, 2] -= (x1, y1)
    if soft_mask is not None:
        learned = np.clip(np.asarray(soft_mask, dtype=np.float32), 0.0, 1.0)
        mask = snap_mask(mask * cv2.warpAffine(learned, local_inverse, (x2 - x1, y2 - y1), borderValue=0.0))
    warped_crop = cv2.warpAffine(
        np.asarray(crop, dtype=np.float32), local_inverse, (x2 - x1, y2 - y1), borderMode=cv2.BORDER_CONSTANT, borderValue=0.0
    ).reshape(y2 - y1, x2 - x1, image.shape[2])
    region = result[y1:y2, x1:x2]
    weight = mask[:, :, None]
    blended = weight * warped_crop + (1.0 - weight) * region
    result[y1:y2, x1:x2] = np.where(weight > 0, blended, region)
    full_mask[y1:y2, x1:x2] = mask
    return result, full_mask
