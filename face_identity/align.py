"""5-point face alignment: named templates, Umeyama similarity fit, aligned crops (cv2 and batched torch).

Matches insightface's ``face_align.norm_crop``: least-squares similarity (scikit-image's
``SimilarityTransform.estimate``, here in numpy) from the landmarks to the template, then
``cv2.warpAffine`` with bilinear interpolation and a constant 0 border (``geometry.warp_face``).
The crop and paste warps themselves live in ``geometry``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidArgumentError, InvalidImageError, InvalidLandmarksError
from .frames import Frames, frames_per_chunk
from .geometry import check_image, crop_validity_mask, invert, paste_back, warp_face
from .types import AffineMatrix, Face, FaceBatch, FloatImage, Landmarks5

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

ARCFACE_112_POINTS = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
"""insightface ``arcface_dst``: the ArcFace 112x112 template in pixels."""

_NORMALISED_TEMPLATES: dict[str, NDArray[np.float64]] = {
    # FaceFusion's WARP_TEMPLATE_SET, in units of the crop size.
    "arcface_112_v1": np.array(
        [
            [0.35473214, 0.45658929],
            [0.64526786, 0.45658929],
            [0.50000000, 0.61154464],
            [0.37913393, 0.77687500],
            [0.62086607, 0.77687500],
        ]
    ),
    "arcface_112_v2": np.array(
        [
            [0.34191607, 0.46157411],
            [0.65653393, 0.45983393],
            [0.50022500, 0.64050536],
            [0.37097589, 0.82469196],
            [0.63151696, 0.82325089],
        ]
    ),
    # FaceFusion face_helper.WARP_TEMPLATE_SET 'mtcnn_512' (3.x): what hififace_unofficial_256 crops with.
    "mtcnn_512": np.array(
        [
            [0.36562865, 0.46733799],
            [0.63305391, 0.46585885],
            [0.50019127, 0.61942959],
            [0.39032951, 0.77598822],
            [0.61178945, 0.77476328],
        ]
    ),
    "ffhq_512": np.array(
        [
            [0.37691676, 0.46864664],
            [0.62285697, 0.46912813],
            [0.50123859, 0.61331904],
            [0.39308822, 0.72541100],
            [0.61150205, 0.72490465],
        ]
    ),
}
TEMPLATE_NAMES: tuple[str, ...] = ("arcface_112", "arcface_128", *_NORMALISED_TEMPLATES)


def template_points(name: str, crop_size: int) -> NDArray[np.float64]:
    """``[5, 2]`` float64 template landmarks in pixels of a ``crop_size`` x ``crop_size`` crop.

    - ``arcface_112``: insightface ``arcface_dst`` scaled by ``crop_size / 112``.
    - ``arcface_128``: insightface's 128 rule, ``(arcface_dst + [8, 0]) * crop_size / 128``
      (what inswapper crops with; equal to FaceFusion's ``arcface_128``).
    - ``arcface_112_v1``, ``arcface_112_v2`` (= arcface_112), ``mtcnn_512``, ``ffhq_512``: FaceFusion's templates x crop_size.

    Raises:
        InvalidArgumentError: unknown template or crop size < 16.
    """
    if crop_size < 16:
        raise InvalidArgumentError(f"crop size must be at least 16 px, got {crop_size}")
    base = ARCFACE_112_POINTS.astype(np.float64)
    if name == "arcface_112":
        return base * (crop_size / 112.0)
    if name == "arcface_128":
        return (base + np.array([8.0, 0.0])) * (crop_size / 128.0)
    if name in _NORMALISED_TEMPLATES:
        return _NORMALISED_TEMPLATES[name] * float(crop_size)
    raise InvalidArgumentError(f"unknown alignment template {name!r}; known: {', '.join(TEMPLATE_NAMES)}")


def estimate_similarity(source: NDArray[np.floating], target: NDArray[np.floating]) -> AffineMatrix:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping ``source`` onto ``target``.

    Umeyama (1991), as scikit-image's ``SimilarityTransform.estimate`` computes it.

    Args:
        source: ``[N, 2]`` points (N >= 2), e.g. detected landmarks in image pixels.
        target: ``[N, 2]`` points, e.g. template landmarks in crop pixels.

    Returns:
        ``[2, 3]`` float64 matrix ``M`` with ``target ~= M @ [x, y, 1]``.

    Raises:
        InvalidLandmarksError: shapes differ, non-finite values, or all source points coincide.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or src.shape[0] < 2:
        raise InvalidLandmarksError(f"need two [N, 2] point sets with N >= 2, got {src.shape} and {dst.shape}")
    if not (np.all(np.isfinite(src)) and np.all(np.isfinite(dst))):
        raise InvalidLandmarksError("landmarks contain NaN or infinity")
    count = src.shape[0]
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_centred, dst_centred = src - src_mean, dst - dst_mean
    src_variance = (src_centred**2).sum() / count
    if src_variance < 1e-12:
        raise InvalidLandmarksError("all landmarks are at the same point; cannot align")
    covariance = dst_centred.T @ src_centred / count
    signs = np.ones(2)
    if np.linalg.det(covariance) < 0:
        signs[1] = -1.0
    u, singular, vt = np.linalg.svd(covariance)
    rank = int(np.linalg.matrix_rank(covariance))
    if rank == 0:
        raise InvalidLandmarksError("landmarks are degenerate; cannot align")
    if rank == 1:
        if np.linalg.det(u) * np.linalg.det(vt) > 0:
            rotation = u @ vt
        else:
            flipped = signs.copy()
            flipped[1] = -1.0
            rotation = u @ np.diag(flipped) @ vt
    else:
        rotation = u @ np.diag(signs) @ vt
    scale = float(singular @ signs) / src_variance
    translation = dst_mean - scale * rotation @ src_mean
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = translation
    return matrix


def alignment_matrix(landmarks: Landmarks5, template: str = "arcface_112", crop_size: int = 112) -> AffineMatrix:
    """``[2, 3]`` float64 matrix taking image pixels to the aligned crop (insightface ``estimate_norm``).

    Raises:
        InvalidLandmarksError: landmarks not ``[5, 2]`` or degenerate.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise InvalidLandmarksError(f"need 5 landmarks as a [5, 2] array, got shape {points.shape}")
    return estimate_similarity(points, template_points(template, crop_size))


def alignable_faces(batch: FaceBatch | Sequence[Sequence[Face]]) -> tuple[tuple[Face, ...], ...]:
    """The faces of each image of a ``FaceBatch`` (duck-typed: the node pack loads the library under its own name)
    or of nested lists, leaving out faces whose 5 points cannot be aligned (NaN, all equal), with a warning each:
    one bad face never stops a batch."""
    nested = cast("Sequence[Sequence[Face]]", getattr(batch, "faces_per_image", batch))
    return tuple(tuple(face for face in faces if _alignable(face)) for faces in nested)


def _alignable(face: Face) -> bool:
    try:
        alignment_matrix(face.landmarks)
    except InvalidLandmarksError:
        logger.warning("a face with landmarks that cannot be aligned was left out: %s", np.asarray(face.landmarks).tolist())
        return False
    return True


def align_faces(
    image: NDArray[np.generic], faces: Sequence[Face], template: str = "arcface_112", crop_size: int = 112
) -> tuple[NDArray[np.generic], list[Face]]:
    """Aligned crops of the given faces of one image, and the faces carrying their matrices.

    Returns:
        ``([F, crop_size, crop_size, C] crops of the image's dtype, faces with align_matrix set)``.
        With no faces the crop array has F = 0.
    """
    check_image(image)
    crops = np.zeros((len(faces), crop_size, crop_size, image.shape[2]), dtype=image.dtype)
    aligned: list[Face] = []
    for index, face in enumerate(faces):
        matrix = alignment_matrix(face.landmarks, template, crop_size)
        crops[index] = warp_face(image, matrix, crop_size)
        aligned.append(face.with_alignment(matrix, crop_size, template))
    return crops, aligned


@dataclass(frozen=True)
class AlignedBatch:
    """Aligned crops of a batch (``align_frames``).

    - ``crops``: ``[crop_size, crop_size, 3]`` uint8 RGB, one per face, image by image in face order.
    - ``masks``: ``[crop_size, crop_size]`` float32 per crop: 1 where the crop saw the image, 0 outside it.
    - ``faces``: the faces per image, carrying their ``align_matrix``.
    """

    crops: tuple[NDArray[np.uint8], ...]
    masks: tuple[NDArray[np.float32], ...]
    faces: FaceBatch


def align_frames(
    images: Any, faces: FaceBatch, template: str = "arcface_112", crop_size: int = 112, context: str = "align_frames"
) -> AlignedBatch:
    """Align every face of a batch, chunk by chunk (the one alignment entry point for a batch).

    Args:
        images: ``frames.Frames`` (passed as they are), or anything ``Frames.of`` takes (checked there).
        faces: the faces of each image (one entry per image).
        template, crop_size: the alignment (``TEMPLATE_NAMES``), the crop side.
        context: names the caller in error messages.

    Raises:
        InvalidArgumentError: faces of another number of images.
    """
    frames = Frames.of(images, context)
    if len(faces) != frames.count:
        raise InvalidArgumentError(f"{context}: faces of {len(faces)} image(s) for {frames.count} image(s)")
    crops: list[NDArray[np.uint8]] = []
    masks: list[NDArray[np.float32]] = []
    aligned_batch: list[tuple[Face, ...]] = []
    for start, stop in frames.chunks(frames_per_chunk(*frames.largest, device_frames=False)):
        for frame, image_faces in zip(frames.uint8(start, stop), faces.faces_per_image[start:stop], strict=True):
            image_crops, aligned = align_faces(frame, image_faces, template, crop_size)
            crops.extend(image_crops)
            masks.extend(crop_validity_mask(frame.shape[0], frame.shape[1], face.align_matrix, crop_size) for face in aligned)  # type: ignore[arg-type]
            aligned_batch.append(tuple(aligned))
    return AlignedBatch(tuple(crops), tuple(masks), FaceBatch(tuple(aligned_batch), faces.image_sizes))


def paste_aligned(
    images: Any,
    crops: Any,
    faces: FaceBatch,
    blur_scale: float = 1.0,
    on_face_done: Callable[[], None] | None = None,
    context: str = "paste_aligned",
) -> tuple[list[FloatImage], list[NDArray[np.float32]]]:
    """Paste (edited, restored, upscaled) aligned crops back onto their images with insightface's feathered mask.

    Args:
        images: the source images: ``frames.Frames`` or anything ``Frames.of`` takes.
        crops: the square crops, one per face of ``faces`` in order (``Frames`` or as ``images``); any side
            (a rescaled crop scales its matrix).
        faces: faces carrying their ``align_matrix`` (``align_frames``).
        blur_scale: feather width relative to insightface's.
        on_face_done: called after each face (progress).

    Returns:
        ``([H, W, 3]`` float32 RGB 0..1 images, ``[H, W]`` float32 masks of where each image changed).

    Raises:
        InvalidArgumentError: as many crops as faces are needed, faces with matrices, square crops.
    """
    frames, pieces = Frames.of(images, context), Frames.of(crops, f"{context} (crops)")
    face_list = faces.all_faces()
    if len(pieces) != len(face_list):
        raise InvalidArgumentError(
            f"{context} got {len(pieces)} crops for {len(face_list)} faces; connect the crops made from these FACES"
        )
    if any(face.align_matrix is None for face in face_list):
        raise InvalidArgumentError(f"{context} needs FACES from Face Align (they carry the crop matrices)")
    if any(height != width for height, width in pieces.sizes):
        raise InvalidArgumentError(f"{context} needs square crops, got {pieces.sizes[0][1]}x{pieces.sizes[0][0]}")
    images_out = frames.floats()
    masks = [np.zeros(image.shape[:2], np.float32) for image in images_out]
    for number, face in enumerate(face_list):
        crop = pieces.floats(number, number + 1)[0]
        matrix = face.align_matrix * (crop.shape[0] / face.crop_size)  # crops may be rescaled
        index = face.image_index
        images_out[index], mask = paste_back(images_out[index], crop, matrix, blur_scale=blur_scale)
        masks[index] = np.maximum(masks[index], mask)
        if on_face_done is not None:
            on_face_done()
    return images_out, masks


def norm_crop(img: NDArray[Any], landmark: NDArray[np.floating], image_size: int = 112, mode: str = "arcface") -> NDArray[Any]:
    """insightface ``face_align.norm_crop``: the ArcFace-aligned square crop of a face.

    insightface's size rule: a multiple of 112 uses the 112 template scaled by ``image_size / 112``
    (224, 336 for FaceID Plus on SD1.5 and Kolors); otherwise a multiple of 128 uses the 128 template
    (template + 8 px in x) scaled by ``image_size / 128`` (256 for SDXL).

    Args:
        img: ``[H, W, C]`` image, any channel order (kept), uint8 or float32.
        landmark: ``[5, 2]`` landmarks in ``img`` pixels (``face.kps``).
        image_size: crop side.
        mode: ignored, as insightface ignores it (only the ArcFace template exists).

    Returns:
        ``[image_size, image_size, C]`` crop of ``img``'s dtype (bilinear, black outside the image).

    Raises:
        InvalidArgumentError: ``image_size`` is neither a multiple of 112 nor of 128.
        InvalidLandmarksError: landmarks not ``[5, 2]`` or degenerate.
    """
    return warp_face(np.asarray(img), estimate_norm(landmark, image_size, mode), int(image_size))


def estimate_norm(landmark: NDArray[np.floating], image_size: int = 112, mode: str = "arcface") -> NDArray[np.float64]:
    """insightface ``face_align.estimate_norm``: ``[2, 3]`` float64 image-to-crop matrix for ``norm_crop``."""
    size = int(image_size)
    if size <= 0 or (size % 112 and size % 128):
        raise InvalidArgumentError(
            f"norm_crop image_size must be a multiple of 112 or 128 (insightface's rule), got {image_size}"
        )
    template = "arcface_112" if size % 112 == 0 else "arcface_128"
    return alignment_matrix(np.asarray(landmark, dtype=np.float32), template, size)


def warp_faces_torch(
    images: torch.Tensor,
    matrices: torch.Tensor | NDArray[np.floating],
    image_indices: Sequence[int] | NDArray[np.integer],
    crop_size: int,
) -> torch.Tensor:
    """Batched alignment on any torch device, pixel-equal to ``warp_face`` within interpolation rounding.

    Uses ``grid_sample`` (bilinear, zero padding, ``align_corners=True`` so pixel centres sit on
    integers as in OpenCV). All faces of one image are sampled in one call.

    Args:
        images: ``[B, C, H, W]`` float tensor (any range, any device).
        matrices: ``[F, 2, 3]`` image-to-crop matrices.
        image_indices: ``[F]`` index into ``images`` of each face's source image.
        crop_size: side of the square crops.

    Returns:
        ``[F, C, crop_size, crop_size]`` tensor on ``images.device`` with ``images.dtype``.
    """
    import torch
    import torch.nn.functional as functional

    if images.ndim != 4:
        raise InvalidImageError(f"expected images [B, C, H, W], got shape {tuple(images.shape)}")
    matrix_array = np.asarray(matrices.cpu() if isinstance(matrices, torch.Tensor) else matrices, dtype=np.float64)
    indices = np.asarray(image_indices, dtype=np.int64).reshape(-1)
    face_count = matrix_array.shape[0] if matrix_array.ndim == 3 else 0
    if matrix_array.ndim != 3 and matrix_array.size:
        raise InvalidArgumentError(f"matrices must be [F, 2, 3], got shape {matrix_array.shape}")
    if indices.shape[0] != face_count:
        raise InvalidArgumentError(f"{face_count} matrices but {indices.shape[0]} image indices")
    _, channels, height, width = images.shape
    output = images.new_zeros((face_count, channels, crop_size, crop_size))
    if face_count == 0:
        return output
    inverse = np.stack([invert(m) for m in matrix_array])  # crop -> image
    grid_dtype = torch.float32 if images.dtype in (torch.float16, torch.bfloat16) else images.dtype
    coordinates = torch.arange(crop_size, device=images.device, dtype=torch.float64)
    grid_y, grid_x = torch.meshgrid(coordinates, coordinates, indexing="ij")
    homogeneous = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)  # [S, S, 3]
    inverse_t = torch.from_numpy(inverse).to(images.device)
    source = torch.einsum("fij,hwj->fhwi", inverse_t, homogeneous)  # [F, S, S, 2] in image pixels
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], device=images.device, dtype=torch.float64)
    grid = (source * scale - 1.0).to(grid_dtype)
    for image_index in np.unique(indices):
        face_rows = np.nonzero(indices == image_index)[0]
        if not 0 <= image_index < images.shape[0]:
            raise InvalidArgumentError(f"image index {image_index} outside the batch of {images.shape[0]}")
        rows = torch.from_numpy(face_rows).to(images.device)
        stacked = grid[rows].reshape(1, len(face_rows) * crop_size, crop_size, 2)
        picture = images[int(image_index) : int(image_index) + 1].to(grid_dtype)
        sampled = functional.grid_sample(picture, stacked, mode="bilinear", padding_mode="zeros", align_corners=True)
        sampled = sampled.reshape(channels, len(face_rows), crop_size, crop_size).permute(1, 0, 2, 3)
        output[rows] = sampled.to(images.dtype)
    return output
