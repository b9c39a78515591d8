"""The whole chain on a batch of images: detect -> select -> align -> embed, batched across images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .protocols import Detector, Recognizer
from .select import EVERY_FACE, FaceSelection
from .types import FaceBatch, Identity, RGBImage


def detect_faces(
    detector: Detector,
    images: Sequence[RGBImage],
    selection: FaceSelection = EVERY_FACE,
    on_image_done: Callable[[int], None] | None = None,
) -> FaceBatch:
    """Detect and select faces in every image; images with no face keep an empty entry."""
    detected = detector.detect_batch(images, on_image_done=on_image_done)
    chosen = [selection.apply(faces) for faces in detected]
    return FaceBatch(tuple(tuple(faces) for faces in chosen), tuple(image.shape[:2] for image in images))


@dataclass(frozen=True)
class Analysis:
    """Faces of a batch, aligned, and their identity rows.

    ``identity`` has one row per face, image by image (``identity.image_indices`` and
    ``identity.face_indices`` say which); it is ``None`` when no image has a face.
    """

    faces: FaceBatch
    identity: Identity | None

    def rows_of_image(self, image_index: int) -> list[int]:
        """Identity rows belonging to one image, in face order."""
        if self.identity is None:
            return []
        return [int(row) for row in np.nonzero(self.identity.image_indices == image_index)[0]]


def embed_batch(
    recognizer: Recognizer,
    images: Sequence[RGBImage],
    faces: FaceBatch,
    flip: bool = False,
    on_chunk: Callable[[int], None] | None = None,
) -> Analysis:
    """Align and embed every face of ``faces`` (crops of all images go through the model together)."""
    result, aligned = recognizer.embed_faces(images, faces.faces_per_image, flip=flip, on_chunk=on_chunk)
    face_indices = [index for image_faces in faces.faces_per_image for index in range(len(image_faces))]
    counts = np.cumsum([0] + [len(image_faces) for image_faces in faces.faces_per_image])
    regrouped = tuple(tuple(aligned[counts[i] : counts[i + 1]]) for i in range(len(faces)))
    aligned_batch = FaceBatch(regrouped, faces.image_sizes)
    if not aligned:
        return Analysis(aligned_batch, None)
    return Analysis(aligned_batch, recognizer.identity(result, aligned, face_indices))


def analyze(
    detector: Detector,
    recognizer: Recognizer,
    images: Sequence[RGBImage],
    selection: FaceSelection = EVERY_FACE,
    flip: bool = False,
) -> Analysis:
    """Detect, select, align and embed the faces of a batch of images."""
    return embed_batch(recognizer, images, detect_faces(detector, images, selection), flip=flip)
