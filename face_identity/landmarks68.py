"""Optional stage: 68-point landmarks (iBUG-68 order) for faces that have their 5 detector points.

Three model kinds (see ``model_facts``):

- ``fan_68_5`` (``landmarker_68_5``): the 5 points are mapped into the unit ``ffhq_512`` template
  space (similarity fit of the 5 points to the template at size 1), fed as ``input`` ``[N, 5, 2]``
  float32; the ``[N, 68, 2]`` output, in the same space, is mapped back with the inverse matrix.
- ``2dfan4`` (``landmarker_2dfan4``): a 256 crop by translation and scale (the longer box side
  becomes 195 px, the box centred), CLAHE on the L channel when the crop is dark (mean L < 30),
  RGB ``/255`` NCHW; output 0 ``[N, 68, 3]`` points on a 64 grid (x 4 = crop pixels), output 1
  ``[N, 68, 64, 64]`` heatmaps: score = mean of the heatmap maxima mapped ``[0, 0.9] -> [0, 1]``.
- PFLD (``landmarker_pfld``): a square crop centred on the box, ``box_scale`` (1.1) x its longer
  side, zero outside the image, resized to 112, RGB 0..1 NCHW; output ``[N, 136]`` = 68 (x, y) in
  crop units 0..1.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import cv2
import numpy as np
from numpy.typing import NDArray

from .align import estimate_similarity, template_points
from .errors import InvalidArgumentError, InvalidImageError
from .face_models import FaceModel
from .faults import SkippedFace, per_item
from .geometry import invert, transform_points, warp_face
from .model_facts import ModelKind, kind_hint
from .types import AffineMatrix, Face, FaceBatch

logger = logging.getLogger(__name__)

LANDMARKER_KINDS: tuple[ModelKind, ...] = ("landmarker_68_5", "landmarker_2dfan4", "landmarker_pfld")
DARK_CROP_LIGHTNESS = 30
"""2dfan4: crops whose mean Lab lightness (0..255) is below this get CLAHE (clip limit 2) first."""
FAN_GRID = 64
"""2dfan4 points are on a 64 x 64 grid of its 256 crop."""
FAN_SCORE_FULL = 0.9
"""2dfan4: a mean heatmap maximum of 0.9 counts as score 1."""


def _as_uint8(image: NDArray[np.generic]) -> NDArray[np.uint8]:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InvalidImageError(f"expected an [H, W, 3] RGB image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    return np.clip(np.rint(np.asarray(array, np.float32) * 255.0), 0, 255).astype(np.uint8)


def unit_template_matrix(landmarks5: NDArray[np.floating], template: str = "ffhq_512") -> AffineMatrix:
    """``[2, 3]`` similarity from the 5 points to ``template`` at size 1 (fan_68_5's input space)."""
    unit = template_points(template, 512) / 512.0
    return estimate_similarity(np.asarray(landmarks5, np.float64), unit)


def fan_crop_matrix(bbox: NDArray[np.floating], size: int = 256, target: float = 195.0) -> AffineMatrix:
    """2dfan4's crop: scale = ``target`` / longer box side, the box centre at the crop centre."""
    box = np.asarray(bbox, np.float64)
    scale = target / max(float(np.max(box[2:] - box[:2])), 1.0)
    translation = (size - (box[2:] + box[:2]) * scale) * 0.5
    return np.array([[scale, 0.0, translation[0]], [0.0, scale, translation[1]]])


def square_crop_matrix(bbox: NDArray[np.floating], size: int, box_scale: float) -> AffineMatrix:
    """A square ``box_scale`` x the longer box side, centred on the box, resized to ``size`` (PFLD)."""
    box = np.asarray(bbox, np.float64)
    side = max(float(np.max(box[2:] - box[:2])), 1.0) * box_scale
    scale = size / side
    centre = (box[2:] + box[:2]) * 0.5
    return np.array([[scale, 0.0, size * 0.5 - centre[0] * scale], [0.0, scale, size * 0.5 - centre[1] * scale]])


def brighten_if_dark(crop: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """CLAHE (clip 2) on the Lab lightness of an RGB uint8 crop whose mean lightness is below ``DARK_CROP_LIGHTNESS``."""
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)
    if float(np.mean(lab[:, :, 0])) >= DARK_CROP_LIGHTNESS:
        return crop
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2).apply(lab[:, :, 0])
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), np.uint8)


def _box_crops(
    model: FaceModel, image: NDArray[np.uint8], faces: Sequence[Face]
) -> tuple[NDArray[np.float32], list[AffineMatrix]]:
    facts = model.facts
    size = facts.size
    crops, matrices = [], []
    for face in faces:
        if facts.kind == "landmarker_2dfan4":
            matrix = fan_crop_matrix(face.bbox, size, facts.box_target)
        else:
            matrix = square_crop_matrix(face.bbox, size, facts.box_scale)
        crop = warp_face(image, matrix, size, "constant")  # FaceFusion's warp_face_by_translation: black border
        if facts.kind == "landmarker_2dfan4":
            crop = brighten_if_dark(np.asarray(crop, np.uint8))
        crops.append(crop.astype(np.float32) / 255.0)
        matrices.append(matrix)
    stacked = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.float32)
    return stacked, matrices


def landmarks_68(
    model: FaceModel, image: NDArray[np.generic], faces: Sequence[Face]
) -> tuple[list[NDArray[np.float32]], list[float | None]]:
    """68 points of each face of one image, in image pixels, and a score per face (2dfan4 only, else ``None``).

    Args:
        model: a landmarker (``load_face_model(name, LANDMARKER_KINDS)``).
        image: ``[H, W, 3]`` RGB, uint8 or float 0..1 (unused by ``fan_68_5``).
        faces: faces of that image, with their 5 points and boxes.

    Returns:
        ``([68, 2] float32 per face, score per face)``.
    """
    kind = model.facts.kind
    if kind not in LANDMARKER_KINDS:
        raise InvalidArgumentError(f"{model.name} is a {kind}, not a 68-point landmarker. {kind_hint(*LANDMARKER_KINDS)}")
    if not faces:
        return [], []
    if kind == "landmarker_68_5":
        matrices = [unit_template_matrix(face.landmarks, model.facts.template or "ffhq_512") for face in faces]
        blob = np.stack([transform_points(face.landmarks, m) for face, m in zip(faces, matrices)]).astype(np.float32)
        output = model.run(blob)[0].reshape(len(faces), 68, 2)
        points = [transform_points(out, invert(m)) for out, m in zip(output, matrices)]
        return [np.asarray(p, np.float32) for p in points], [None] * len(faces)
    crops, matrices = _box_crops(model, _as_uint8(image), faces)
    outputs = model.run(model.preprocess(crops))
    size = model.facts.size
    scores: list[float | None]
    if kind == "landmarker_2dfan4":
        crop_points = outputs[0].reshape(len(faces), 68, -1)[:, :, :2].astype(np.float64) / FAN_GRID * size
        if len(outputs) > 1:
            heat_max = outputs[1].reshape(len(faces), 68, -1).max(axis=2).mean(axis=1)
            scores = [float(np.interp(value, [0.0, FAN_SCORE_FULL], [0.0, 1.0])) for value in heat_max]
        else:
            scores = [None] * len(faces)
    else:
        crop_points = outputs[0].reshape(len(faces), 68, 2).astype(np.float64) * size
        scores = [None] * len(faces)
    image_points = [np.asarray(transform_points(p, invert(m)), np.float32) for p, m in zip(crop_points, matrices)]
    return image_points, scores


def add_landmarks_68(
    model: FaceModel, images: Sequence[NDArray[np.generic]], batch: FaceBatch, skipped: list[SkippedFace] | None = None
) -> tuple[FaceBatch, list[list[float | None]]]:
    """The same ``FaceBatch`` with ``landmarks_68`` set on every face, and the scores image by image.

    A face whose landmarker output is bad (NaN, wrong shape: ``ModelOutputError``) keeps ``landmarks_68``
    ``None`` and score ``None``, is logged and, when ``skipped`` is given, listed there; the others go on.

    Raises:
        InvalidArgumentError: the number of images differs from the batch's.
    """
    if len(images) != len(batch.faces_per_image):
        raise InvalidArgumentError(
            f"{len(images)} images but faces for {len(batch.faces_per_image)}; pass the images the faces came from"
        )
    faces_out, scores_out = [], []
    for image_index, (image, faces) in enumerate(zip(images, batch.faces_per_image)):
        results, problems = per_item(partial(_points_of, model, image, faces), len(faces))
        for number, reason in problems.items():
            flagged = SkippedFace("landmarks", image_index, number, reason)
            logger.warning("%s", flagged.line())
            if skipped is not None:
                skipped.append(flagged)
        faces_out.append(
            tuple(face if result is None else replace(face, landmarks_68=result[0]) for face, result in zip(faces, results))
        )
        scores_out.append([None if result is None else result[1] for result in results])
    return FaceBatch(tuple(faces_out), batch.image_sizes), scores_out


def _points_of(
    model: FaceModel, image: NDArray[np.generic], faces: Sequence[Face], indices: Sequence[int]
) -> list[tuple[NDArray[np.float32], float | None]]:
    points, scores = landmarks_68(model, image, [faces[index] for index in indices])
    return list(zip(points, scores))
