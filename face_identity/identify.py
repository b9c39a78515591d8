"""Images in, identity out: one entry that decides how an image batch is embedded, and embeds it.

An image batch (``frames.Frames``, validated once) reaches the recognizer in one
of three ways, chosen by ``embed_source`` from what comes with it:

- ``"faces"``: source images with the faces detected on them (``FaceBatch``, one entry per image);
- ``"detector"``: source images and a detector: every face is found, selected and embedded,
  chunk by chunk (``pipeline.analyze``);
- ``"aligned crops"``: crops already aligned for the recognizer (one per face, at its template
  and size), with or without the faces that remember how they were cut.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from .errors import InvalidArgumentError, NoFaceFoundError
from .faults import SkippedFace
from .frames import Frames
from .pipeline import analyze
from .protocols import Detector, Recognizer
from .select import EVERY_FACE, FaceSelection
from .types import FaceBatch, Identity

EmbedSource = Literal["faces", "detector", "aligned crops"]
EMBED_SOURCES: tuple[str, ...] = get_args(EmbedSource)
"""How ``identify`` embeds a batch: the values of ``EmbedSource``."""


@dataclass(frozen=True)
class Identification:
    """What ``identify`` made of an image batch.

    - ``source``: how the batch was embedded (``EmbedSource``).
    - ``faces``: the faces per source image, aligned (``None`` for aligned crops given without faces).
    - ``identity``: one row per face, image by image; ``None`` when no image had a face.
    - ``skipped``: faces whose recognizer output was unusable (NaN, wrong shape), left out of both and flagged.
    """

    source: EmbedSource
    faces: FaceBatch | None
    identity: Identity | None
    skipped: tuple[SkippedFace, ...] = ()


def _crops_for(faces: FaceBatch, count: int, size: tuple[int, int], recognizer: Recognizer) -> bool:
    """True when a batch of ``count`` images of ``size`` are the crops alignment cut for ``faces`` for this recognizer."""
    face_list = faces.all_faces()
    return (
        len(face_list) == count
        and all(face.align_matrix is not None for face in face_list)
        and size == (recognizer.input_size, recognizer.input_size)
        and faces.image_sizes[:1] != (size,)
    )


def embed_source(
    recognizer: Recognizer,
    batch_shape: tuple[int, ...],
    faces: FaceBatch | None = None,
    detector: Detector | None = None,
    context: str = "embed",
) -> EmbedSource:
    """How a batch of ``batch_shape`` ``(B, H, W, ...)`` images is to be embedded (see the module docstring).

    Faces win over a detector. Faces whose crops these are (one aligned face per image, the images at
    the recognizer's size, and the faces found on images of another size) mean aligned crops.

    Raises:
        InvalidArgumentError: neither faces nor a detector, and the images are not at the
            recognizer's crop size (``context`` starts the message).
    """
    count, height, width = (int(side) for side in batch_shape[:3])
    if faces is not None:
        return "aligned crops" if _crops_for(faces, count, (height, width), recognizer) else "faces"
    if detector is not None:
        return "detector"
    if (height, width) != (recognizer.input_size, recognizer.input_size):
        raise InvalidArgumentError(
            f"{context} got {width}x{height} images without FACES or a detector. Connect FACES from Face Detect "
            f"(or a detector), or give crops aligned at {recognizer.input_size} px by Face Align."
        )
    return "aligned crops"


def _require_faces_match(faces: FaceBatch, batch_shape: tuple[int, ...], context: str) -> None:
    """Raise when ``faces`` were detected on other images than a batch of ``batch_shape``."""
    count, height, width = (int(side) for side in batch_shape[:3])
    sizes = faces.image_sizes
    if len(faces) != count or (sizes and any(size != (height, width) for size in sizes)):
        raise InvalidArgumentError(
            f"{context}: FACES describe {len(faces)} image(s) of size {sizes[:1]}, but the IMAGE input holds {count} of "
            f"{height}x{width}. Connect the same images that went into Face Detect."
        )


class _Progress:
    """Turns per-step counts into ``on_progress(done, total)`` calls."""

    def __init__(self, total: int, on_progress: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self.on_progress = max(int(total), 1), 0, on_progress

    def __call__(self, count: int) -> None:
        self.done += int(count)
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)


def identify(
    recognizer: Recognizer,
    images: Any,
    faces: FaceBatch | None = None,
    detector: Detector | None = None,
    *,
    selection: FaceSelection = EVERY_FACE,
    flip: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    context: str = "embed",
) -> Identification:
    """Embed the faces of an image batch, whichever way it comes (``embed_source``).

    Args:
        recognizer: the ArcFace recognizer (any ``Recognizer``).
        images: ``frames.Frames``, or ``[B, H, W, C]`` (or one ``[H, W, C]``), C in 1, 3, 4, float 0..1 or uint8, numpy or torch.
        faces: faces detected on these images (or, for aligned crops, the faces they were cut for).
        detector: finds the faces when ``faces`` is not given (``FaceDetector`` or ``TorchFaceDetector``).
        selection: which detected faces to keep (detector only).
        flip: average each embedding with that of the mirrored crop.
        on_progress: called with ``(done, total)`` as the work advances (frames, faces or crops).
        context: names the caller in error messages (e.g. a node's name).

    Returns:
        ``Identification``; its ``identity`` is ``None`` when no image had a face.

    Raises:
        InvalidArgumentError: no way to find the faces (``embed_source``); faces of other images;
            aligned crops cut with another template or size than the recognizer's.
        NoFaceFoundError: an empty batch (e.g. Face Align's crops of face-less images).
        InvalidImageError: not an image batch, or refused by the input policy (``frames.Frames.of``).
    """
    frames = Frames.of(images, context)  # the one validation of these pixels
    if frames.count == 0:
        raise NoFaceFoundError(
            f"{context}: the IMAGE batch is empty (0 images), so there is no face to embed. When it comes from "
            "Face Align, no face was found in Face Align's images: check them with Face Detect / Preview Faces, or "
            "lower the detector's score threshold."
        )
    if len(set(frames.sizes)) > 1:
        raise InvalidArgumentError(f"{context}: the images of a batch must share one size, got {sorted(set(frames.sizes))}")
    shape = (frames.count, *frames.sizes[0])
    source = embed_source(recognizer, shape, faces, detector, context)
    if source in ("detector", "faces"):
        if source == "faces":
            assert faces is not None  # embed_source says so
            _require_faces_match(faces, shape, context)
        progress = _Progress(frames.count, on_progress)
        given = faces if source == "faces" else None
        analysis = analyze(detector, recognizer, frames, selection, flip, faces=given, on_frames_done=progress, context=context)
        return Identification(source, analysis.faces, analysis.identity, analysis.skipped)
    crops = frames.uint8()
    face_list = faces.all_faces() if faces is not None else None
    if face_list is not None:
        wrong = {(face.template, face.crop_size) for face in face_list} - {(recognizer.template, recognizer.input_size)}
        if wrong:
            raise InvalidArgumentError(
                f"{context}: these crops were aligned with {sorted(wrong)}, but {recognizer.name} needs "
                f"{recognizer.template} at {recognizer.input_size} px. Set Face Align to that, or connect the source "
                "IMAGE with FACES from Face Detect."
            )
    progress = _Progress(len(crops), on_progress)
    result = recognizer.embed_crops(np.stack(crops), flip=flip, on_chunk=progress)
    if faces is None or face_list is None:
        return Identification(source, None, recognizer.identity(result, None, list(range(len(crops)))))
    face_indices = [index for image_faces in faces.faces_per_image for index in range(len(image_faces))]
    return Identification(source, faces, recognizer.identity(result, face_list, face_indices))
