"""Face masks in the aligned crop (box, occlusion, region, area), combined by minimum, and pasted to image space.

FaceFusion's recipe (``face_masker.py``), followed here; every mask is ``[S, S]`` float32 0..1 in crop pixels:

- box: ones, the border zeroed by ``max(blur_amount // 2, 1)`` px or the padding (% of the crop side,
  per side: top, right, bottom, left), whichever is larger, then a Gaussian blur of sigma
  ``blur_amount / 4`` where ``blur_amount = int(S * 0.5 * blur)``.
- occlusion: XSeg on the crop (256, NHWC BGR 0..1), output clipped and resized back; several
  occluders are combined by minimum. region: BiSeNet on the crop (512, NCHW RGB, ImageNet
  mean/std), ``argmax`` over its 19 classes, 1 where the class is selected. area: the convex hull
  of 68-point index sets, filled.
- occlusion, region and area are then smoothed: ``(GaussianBlur(sigma 5).clip(0.5, 1) - 0.5) * 2``
  (a feathered edge just inside the hard edge).
- combination: ``minimum`` over the selected masks (each removes area, none adds).

Crops are cut with the image edge replicated and crop masks warped back into the region the crop
covers (zero outside) by ``geometry``. Image space (``face_masks``): the faces of one image are
combined by maximum.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from .align import alignable_faces, alignment_matrix
from .errors import InvalidArgumentError
from .face_models import FaceModel
from .faults import SkippedFace, per_item
from .frames import Frames
from .geometry import paste_crop_mask, transform_points, warp_face
from .landmarks68 import landmarks_68
from .model_facts import kind_hint
from .progress import ProgressCallback
from .types import Face, FaceBatch

logger = logging.getLogger(__name__)

MASK_TYPES: tuple[str, ...] = ("box", "occlusion", "region", "area")
DEFAULT_MASK_TYPES: tuple[str, ...] = ("box",)
"""FaceFusion's default: the box mask only."""
DEFAULT_BLUR = 0.3
"""FaceFusion's ``face_mask_blur``: the box feather is 0.3 x half the crop side."""
DEFAULT_PADDING: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
"""Box padding in % of the crop side: top, right, bottom, left."""
SMOOTH_SIGMA = 5.0
"""Gaussian sigma (crop pixels) of the occlusion/region/area post-processing."""
REGIONS: dict[str, tuple[int, ...]] = {
    "skin": (1,),
    "brows": (2, 3),
    "eyes": (4, 5),
    "glasses": (6,),
    "nose": (10,),
    "mouth": (11,),
    "lips": (12, 13),
}
"""BiSeNet (CelebAMask-HQ, 19 classes) ids of each selectable region; hair (17) and the background are never selectable."""
AREAS: dict[str, tuple[int, ...]] = {
    "upper-face": (0, 1, 2, 31, 32, 33, 34, 35, 14, 15, 16, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17),
    "lower-face": (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 35, 34, 33, 32, 31),
    "mouth": tuple(range(48, 68)),
}
"""68-point index sets (iBUG order) of each area; the selected sets are joined into one convex hull, as FaceFusion does."""
PARSER_CLASSES = 19
MASK_TEMPLATE = "ffhq_512"
MASK_CROP_SIZE = 512
"""Crop the Face Mask stage computes its masks in (the restorers' crop; BiSeNet's input size)."""
FACES_PER_STEP = 32
"""Faces whose crops are held at once (bounds memory on long videos)."""


@dataclass(frozen=True)
class MaskSpec:
    """Which masks to compute and how.

    - ``types``: a subset of ``MASK_TYPES`` (at least one).
    - ``blur``: box feather, 0..1 (0 = hard edge with a 1 px zero border). ``padding``: box padding, % per side (top, right, bottom, left), 0..100.
    - ``regions``: names of ``REGIONS`` for the region mask. ``areas``: names of ``AREAS`` for the area mask.
    - ``occluders``: XSeg models for ``occlusion`` (several = minimum). ``parser``: BiSeNet for ``region``.
    - ``landmarker``: 68-point model used for ``area`` when a face has no ``landmarks_68`` yet.
    """

    types: tuple[str, ...] = DEFAULT_MASK_TYPES
    blur: float = DEFAULT_BLUR
    padding: tuple[float, float, float, float] = DEFAULT_PADDING
    regions: tuple[str, ...] = tuple(REGIONS)
    areas: tuple[str, ...] = tuple(AREAS)
    occluders: tuple[FaceModel, ...] = field(default=())
    parser: FaceModel | None = None
    landmarker: FaceModel | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", tuple(dict.fromkeys(self.types)))
        object.__setattr__(self, "padding", tuple(float(p) for p in self.padding))
        unknown = [name for name in self.types if name not in MASK_TYPES]
        if unknown or not self.types:
            raise InvalidArgumentError(f"mask types must be some of {', '.join(MASK_TYPES)}; got {list(self.types)}")
        if not 0.0 <= self.blur <= 1.0:
            raise InvalidArgumentError(f"mask blur must be in 0..1, got {self.blur}")
        if len(self.padding) != 4 or not all(0.0 <= p <= 100.0 for p in self.padding):
            raise InvalidArgumentError(
                f"mask padding must be 4 values in 0..100 % (top, right, bottom, left), got {self.padding}"
            )
        bad_regions = [name for name in self.regions if name not in REGIONS]
        if bad_regions or ("region" in self.types and not self.regions):
            raise InvalidArgumentError(f"regions must be some of {', '.join(REGIONS)}; got {list(self.regions)}")
        bad_areas = [name for name in self.areas if name not in AREAS]
        if bad_areas or ("area" in self.types and not self.areas):
            raise InvalidArgumentError(f"areas must be some of {', '.join(AREAS)}; got {list(self.areas)}")
        if "occlusion" in self.types and not self.occluders:
            raise InvalidArgumentError(f"the occlusion mask needs an occluder model in occluders. {kind_hint('occluder')}")
        if "occlusion" in self.types and any(m.facts.kind != "occluder" for m in self.occluders):
            others = ", ".join(f"{m.name} ({m.facts.kind})" for m in self.occluders if m.facts.kind != "occluder")
            raise InvalidArgumentError(f"occluders must be XSeg occluder models, not {others}. {kind_hint('occluder')}")
        if "region" in self.types and (self.parser is None or self.parser.facts.kind != "parser"):
            raise InvalidArgumentError(f"the region mask needs a face parser model as parser. {kind_hint('parser')}")

    def describe(self) -> str:
        parts = [f"types {'+'.join(self.types)}", f"blur {self.blur:g}"]
        if any(self.padding):
            parts.append("padding " + " ".join(f"{p:g}" for p in self.padding))
        if "occlusion" in self.types:
            parts.append("occluders " + "+".join(m.name for m in self.occluders))
        if "region" in self.types and self.parser is not None:
            parts.append(f"parser {self.parser.name} ({', '.join(self.regions)})")
        if "area" in self.types:
            parts.append(f"areas {', '.join(self.areas)}")
        return "; ".join(parts)


def box_mask(size: int, blur: float = DEFAULT_BLUR, padding: Sequence[float] = DEFAULT_PADDING) -> NDArray[np.float32]:
    """``[size, size]`` float32 0..1: FaceFusion's box mask (zeroed border, Gaussian feather)."""
    blur_amount = int(size * 0.5 * blur)
    blur_area = max(blur_amount // 2, 1)
    top, right, bottom, left = (float(p) for p in padding)
    mask = np.ones((size, size), dtype=np.float32)
    mask[: max(blur_area, int(size * top / 100)), :] = 0
    mask[-max(blur_area, int(size * bottom / 100)) :, :] = 0
    mask[:, : max(blur_area, int(size * left / 100))] = 0
    mask[:, -max(blur_area, int(size * right / 100)) :] = 0
    if blur_amount > 0:
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), blur_amount * 0.25), np.float32)
    return mask.astype(np.float32)


def smooth_threshold(mask: NDArray[np.floating]) -> NDArray[np.float32]:
    """``(GaussianBlur(mask.clip(0, 1), sigma 5).clip(0.5, 1) - 0.5) * 2``: a hard mask with a feather inside its edge."""
    blurred = cv2.GaussianBlur(np.clip(np.asarray(mask, np.float32), 0.0, 1.0), (0, 0), SMOOTH_SIGMA)
    return ((np.clip(blurred, 0.5, 1.0) - 0.5) * 2.0).astype(np.float32)


def _resize_stack(masks: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    if masks.shape[1:] == (size, size):
        return masks
    return np.stack([cv2.resize(mask, (size, size)) for mask in masks]).astype(np.float32)


def occlusion_masks(crops: NDArray[np.floating], occluders: Sequence[FaceModel]) -> NDArray[np.float32]:
    """``[N, S, S]`` occlusion masks of ``[N, S, S, 3]`` RGB 0..1 crops: 1 = face visible (minimum over the occluders)."""
    count, size = crops.shape[0], crops.shape[1]
    combined = np.ones((count, size, size), np.float32)
    if count == 0:
        return combined
    for occluder in occluders:
        output = occluder.run(occluder.preprocess(crops))[0].reshape(count, occluder.facts.size, occluder.facts.size)
        visible = np.clip(output, 0.0, 1.0).astype(np.float32)  # finite and of the facts' shape (runner checks)
        combined = np.minimum(combined, _resize_stack(visible, size))
    return np.stack([smooth_threshold(mask) for mask in combined])


def region_masks(crops: NDArray[np.floating], parser: FaceModel, regions: Sequence[str]) -> NDArray[np.float32]:
    """``[N, S, S]`` masks of the selected face-parser regions of ``[N, S, S, 3]`` RGB 0..1 crops."""
    count, size = crops.shape[0], crops.shape[1]
    if count == 0:
        return np.zeros((0, size, size), np.float32)
    logits = parser.run(parser.preprocess(crops))[0]
    if logits.ndim != 4 or logits.shape[1] != PARSER_CLASSES:
        raise InvalidArgumentError(f"{parser.name} gave {list(logits.shape)}, not [N, {PARSER_CLASSES}, H, W] class scores")
    ids = [class_id for name in regions for class_id in REGIONS[name]]
    chosen = np.isin(logits.argmax(axis=1), ids).astype(np.float32)
    return np.stack([smooth_threshold(mask) for mask in _resize_stack(chosen, size)])


def area_mask(size: int, points_68: NDArray[np.floating], areas: Sequence[str]) -> NDArray[np.float32]:
    """``[size, size]`` mask of the convex hull of the selected areas' 68-point sets (points in crop pixels), smoothed."""
    indices = [index for name in areas for index in AREAS[name]]
    points = np.asarray(points_68, np.float64).reshape(68, 2)[indices]
    hull = cv2.convexHull(points.astype(np.int32))
    mask = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    return smooth_threshold(mask)


PRE_SWAP_TYPES: tuple[str, ...] = ("box", "occlusion")
"""Mask types a swap computes on the target crop before the swap (FaceFusion's ``swap_face``)."""
POST_SWAP_TYPES: tuple[str, ...] = ("region", "area")
"""Mask types a swap computes on the swapped crop after the swap."""


def crop_masks(
    crops: NDArray[np.floating], faces: Sequence[Face], spec: MaskSpec, types: Sequence[str] | None = None
) -> NDArray[np.float32]:
    """``[N, S, S]`` float32 0..1: the combined (minimum) mask of each crop.

    Args:
        crops: ``[N, S, S, 3]`` float32 RGB 0..1 aligned crops.
        faces: the N faces, each with ``align_matrix`` (how its crop was cut) and, for ``area``, ``landmarks_68``.
        spec: which masks.
        types: compute only these of ``spec.types`` (None = all; e.g. ``PRE_SWAP_TYPES``); none selected = all ones.

    Raises:
        InvalidArgumentError: ``area`` for a face without 68 points.
    """
    count, size = crops.shape[0], crops.shape[1]
    combined = np.ones((count, size, size), np.float32)
    chosen = tuple(name for name in spec.types if types is None or name in types)
    if count == 0 or not chosen:
        return combined
    if "box" in chosen:
        combined = np.minimum(combined, box_mask(size, spec.blur, spec.padding)[None])
    if "occlusion" in chosen:
        combined = np.minimum(combined, occlusion_masks(crops, spec.occluders))
    if "region" in chosen and spec.parser is not None:
        combined = np.minimum(combined, region_masks(crops, spec.parser, spec.regions))
    if "area" in chosen:
        for index, face in enumerate(faces):
            if face.landmarks_68 is None or face.align_matrix is None:
                raise InvalidArgumentError("the area mask needs 68-point landmarks: pass a landmarker in the mask spec")
            points = transform_points(face.landmarks_68, face.align_matrix)
            combined[index] = np.minimum(combined[index], area_mask(size, points, spec.areas))
    return np.clip(combined, 0.0, 1.0)


def with_landmarks_68(face: Face, spec: MaskSpec, image: NDArray[np.generic]) -> Face:
    """The face with 68-point landmarks when ``spec`` has the ``area`` type and the face has none yet (from ``spec.landmarker`` on ``image``)."""
    if "area" not in spec.types or face.landmarks_68 is not None:
        return face
    if spec.landmarker is None:
        raise InvalidArgumentError(
            "the area mask needs 68-point landmarks: connect a landmarker (fan_68_5, 2dfan4 or landmarks_68_pfld) or drop the area type"
        )
    points, _ = landmarks_68(spec.landmarker, image, [face])
    return replace(face, landmarks_68=points[0])


def aligned_crops(
    image: NDArray[np.floating], faces: Sequence[Face], template: str, size: int, spec: MaskSpec | None = None
) -> tuple[NDArray[np.float32], list[Face]]:
    """``[F, size, size, 3]`` float32 crops (edge-replicated) and the faces with ``align_matrix`` set (and 68 points when ``spec`` needs them)."""
    crops = np.zeros((len(faces), size, size, 3), np.float32)
    aligned = []
    for index, face in enumerate(faces):
        matrix = alignment_matrix(face.landmarks, template, size)
        crops[index] = warp_face(np.asarray(image, np.float32), matrix, size, "replicate")
        face = face.with_alignment(matrix, size, template)
        aligned.append(with_landmarks_68(face, spec, image) if spec is not None else face)
    return crops, aligned


def _masked_faces(
    plain: Sequence[tuple[Face, NDArray[np.floating]]],
    crop_list: Sequence[NDArray[np.float32]],
    spec: MaskSpec,
    indices: Sequence[int],
) -> list[tuple[Face, NDArray[np.float32]]]:
    """The listed faces (aligned face, its image) with 68 points where ``spec`` needs them, and their crop masks."""
    faces = [with_landmarks_68(plain[i][0], spec, plain[i][1]) for i in indices]
    return list(zip(faces, crop_masks(np.concatenate([crop_list[i] for i in indices]), faces, spec)))


def face_masks(
    images: Frames | Sequence[NDArray[np.floating]],
    batch: FaceBatch | Sequence[Sequence[Face]],
    spec: MaskSpec,
    template: str = MASK_TEMPLATE,
    crop_size: int = MASK_CROP_SIZE,
    faces_per_step: int = FACES_PER_STEP,
    on_progress: ProgressCallback | None = None,
    skipped: list[SkippedFace] | None = None,
) -> list[NDArray[np.float32]]:
    """One image-space mask per image: each face's combined crop mask warped back, maximum over the faces.

    Args:
        images: ``frames.Frames``, or ``[H, W, 3]`` float32 RGB 0..1 images (checked by ``Frames.of``).
        batch: the faces of each image (an image without faces gets an all-zero mask).
        spec: which masks. template/crop_size: the crop the masks are computed in (default ffhq_512 at 512).
        faces_per_step: faces whose crops are held at once.
        on_progress: called ``(faces done, total faces)`` before the first step and after each.
        skipped: when given, gets a ``faults.SkippedFace`` for every face whose mask model gave a bad
            output (NaN, wrong shape): that face adds nothing to its image's mask (always logged).

    Returns:
        ``[H, W]`` float32 0..1 per image.
    """
    faces_per_image = alignable_faces(batch)
    frames = Frames.of(images, "face_masks")  # Frames pass as they are
    if len(frames) != len(faces_per_image):
        raise InvalidArgumentError(
            f"{len(frames)} images but faces for {len(faces_per_image)}; pass the images the faces came from"
        )
    outputs = [np.zeros(size, np.float32) for size in frames.sizes]
    flat = [(index, number, face) for index, faces in enumerate(faces_per_image) for number, face in enumerate(faces)]
    held: tuple[int, Any] = (-1, None)
    if on_progress is not None:
        on_progress(0, len(flat))
    for start in range(0, len(flat), max(int(faces_per_step), 1)):
        step = flat[start : start + max(int(faces_per_step), 1)]
        crop_list, plain = [], []
        for image_index, _, face in step:
            if image_index != held[0]:  # faces come image by image: each image is converted once
                held = (image_index, frames.floats(image_index, image_index + 1)[0])
            crops, faces = aligned_crops(held[1], [face], template, crop_size, None)
            crop_list.append(crops)
            plain.append((faces[0], held[1]))
        results, problems = per_item(partial(_masked_faces, plain, crop_list, spec), len(step))
        for number, reason in problems.items():
            flagged = SkippedFace("mask", step[number][0], step[number][1], reason)
            logger.warning("%s", flagged.line())
            if skipped is not None:
                skipped.append(flagged)
        for (image_index, _, _), result in zip(step, results):
            if result is None:
                continue
            height, width = outputs[image_index].shape
            warped, (x1, y1, x2, y2) = paste_crop_mask(result[1], result[0].align_matrix, height, width)  # type: ignore[arg-type]
            if warped.size:
                region = outputs[image_index][y1:y2, x1:x2]
                np.maximum(region, warped, out=region)
        if on_progress is not None:
            on_progress(start + len(step), len(flat))
    return outputs
