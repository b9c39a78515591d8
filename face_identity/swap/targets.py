"""Which faces of each image a swap replaces: all, by index, or by likeness to a reference identity.

Family-agnostic: the reference mode embeds the candidate faces with a recognizer of the reference
identity's own model, whatever space the swapper's source identity lives in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from ..compare import cosine_matrix, match_threshold
from ..errors import IncompatibleIdentitiesError, InvalidArgumentError
from ..images import as_rgb_uint8
from ..protocols import Recognizer
from ..select import DEFAULT_ORDER, FACE_ORDERS, order_faces, select_faces
from ..types import Face, Identity, RGBImage
from ..validate import check_index_list, check_integer, check_number

logger = logging.getLogger(__name__)

SelectionMode = Literal["all", "indices", "reference"]
SELECTION_MODES: tuple[str, ...] = get_args(SelectionMode)
"""``TargetSelection.mode`` values: the values of ``SelectionMode``."""


@dataclass(frozen=True)
class TargetSelection:
    """Which detected faces of each image to swap.

    - ``mode="all"``: every face (after ``min_size``), in ``order``.
    - ``mode="indices"``: positions ``indices`` of the faces sorted by ``order`` (out-of-range ones skipped).
    - ``mode="reference"``: every face whose cosine similarity to ``reference.centroid()`` is at
      least ``threshold`` (default: ``compare.match_threshold`` of the reference's model), in ``order``.
      The faces are embedded with a recognizer of the reference's model (FaceFusion's reference mode).
    - ``max_faces``: keep at most this many per image after the above (0 = no limit).
    - ``min_size``: ignore faces whose box's shorter side is below this many pixels.
    """

    mode: str = "all"
    order: str = DEFAULT_ORDER
    indices: tuple[int, ...] = ()
    reference: Identity | None = None
    threshold: float | None = None
    max_faces: int = 0
    min_size: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in SELECTION_MODES:
            raise InvalidArgumentError(f"unknown target mode {self.mode!r}; use one of: {', '.join(SELECTION_MODES)}")
        if self.order not in FACE_ORDERS:
            raise InvalidArgumentError(f"unknown face order {self.order!r}; use one of: {', '.join(FACE_ORDERS)}")
        object.__setattr__(self, "indices", check_index_list(self.indices))  # "1,1" would swap face 1 twice
        if self.mode == "indices" and not self.indices:
            raise InvalidArgumentError('target mode "indices" needs at least one face index, e.g. (0,) or (0, 2)')
        if self.mode == "reference" and self.reference is None:
            raise InvalidArgumentError('target mode "reference" needs a reference identity (the person to replace)')
        if self.threshold is not None:
            object.__setattr__(self, "threshold", check_number(self.threshold, "similarity threshold", minimum=-1.0, maximum=1.0))
        object.__setattr__(self, "max_faces", check_integer(self.max_faces, "max faces", minimum=0))
        object.__setattr__(self, "min_size", check_number(self.min_size, "min size", minimum=0.0))

    def effective_threshold(self) -> float:
        """The cosine threshold of reference mode: the given one, else the reference model's default."""
        if self.threshold is not None:
            return float(self.threshold)
        return match_threshold(self.reference.model_id) if self.reference is not None else match_threshold("")


EVERY_TARGET = TargetSelection()
"""The default target selection: every face, largest first."""


def unit_embeddings_per_image(
    recognizer: Recognizer, images: Sequence[RGBImage], faces_per_image: Sequence[Sequence[Face]]
) -> list[NDArray[np.float32]]:
    """Per image, ``[F_i, D]`` unit embeddings of its faces (all crops embedded together)."""
    return [unit for unit, _ in embeddings_per_image(recognizer, images, faces_per_image)]


def embeddings_per_image(
    recognizer: Recognizer, images: Sequence[RGBImage], faces_per_image: Sequence[Sequence[Face]]
) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    """Per image, ``([F_i, D]`` unit, ``[F_i, D]`` raw) embeddings of its faces (all crops embedded together)."""
    result, _ = recognizer.embed_faces(list(images), [list(faces) for faces in faces_per_image])
    counts = np.cumsum([0] + [len(faces) for faces in faces_per_image])
    return [
        (result.normalised[counts[i] : counts[i + 1]], result.raw[counts[i] : counts[i + 1]]) for i in range(len(faces_per_image))
    ]


def reference_similarities(
    recognizer: Recognizer,
    images: Sequence[NDArray[np.generic]],
    faces_per_image: Sequence[Sequence[Face]],
    reference: Identity,
) -> list[NDArray[np.float32]]:
    """Cosine similarity of every face to ``reference.centroid()``, per image ``[F_i]`` float32.

    Args:
        recognizer: an ``ArcFaceRecognizer`` of the reference's model.
        images: ``[H, W, 3]`` RGB, uint8 or float 0..1 (converted to uint8 for the recognizer).

    Raises:
        IncompatibleIdentitiesError: the recognizer's model is not the reference's.
    """
    if recognizer.model_id != reference.model_id or recognizer.dimension != reference.dimension:
        raise IncompatibleIdentitiesError(
            f"the reference identity comes from {reference.model_id} ({reference.dimension}-d) but the recognizer "
            f"is {recognizer.model_id} ({recognizer.dimension}-d). Embed the reference with the recognizer used "
            "for target selection."
        )
    uint8_images = [as_rgb_uint8(image) for image in images]
    centroid = reference.centroid()[None, :]
    embeddings = unit_embeddings_per_image(recognizer, uint8_images, faces_per_image)
    return [cosine_matrix(rows, centroid)[:, 0] if rows.shape[0] else np.zeros(0, np.float32) for rows in embeddings]


def select_targets(
    images: Sequence[NDArray[np.generic]],
    faces_per_image: Sequence[Sequence[Face]],
    selection: TargetSelection = EVERY_TARGET,
    recognizer: Recognizer | None = None,
) -> list[list[Face]]:
    """The faces to swap in each image, in swap order; an image may get none.

    Args:
        images: ``[H, W, 3]`` RGB (uint8 or float 0..1); read only in reference mode.
        faces_per_image: detected faces per image.
        selection: mode, order, indices, reference and threshold.
        recognizer: an ``ArcFaceRecognizer`` of the reference's model (reference mode only).

    Raises:
        InvalidArgumentError: reference mode without a recognizer; images and face lists differ in length.
        IncompatibleIdentitiesError: recognizer and reference come from different models.
    """
    if len(images) != len(faces_per_image):
        raise InvalidArgumentError(f"{len(images)} images but faces for {len(faces_per_image)}")
    if selection.mode != "reference":
        indices = selection.indices if selection.mode == "indices" else None
        return [
            select_faces(faces, selection.order, indices, selection.max_faces, selection.min_size) for faces in faces_per_image
        ]
    if recognizer is None:
        raise InvalidArgumentError('target mode "reference" needs a recognizer to embed the target faces')
    assert selection.reference is not None  # checked by TargetSelection
    sized = [[face for face in faces if min(face.width, face.height) >= selection.min_size] for faces in faces_per_image]
    scores = reference_similarities(recognizer, images, sized, selection.reference)
    threshold = selection.effective_threshold()
    chosen = []
    for image_index, (faces, image_scores) in enumerate(zip(sized, scores, strict=True)):
        logger.debug("image %d: reference similarities %s (threshold %.3f)", image_index, np.round(image_scores, 3), threshold)
        kept = [face for face, score in zip(faces, image_scores, strict=True) if score >= threshold]
        matched = order_faces(kept, selection.order)
        chosen.append(matched[: selection.max_faces] if selection.max_faces > 0 else matched)
    return chosen
