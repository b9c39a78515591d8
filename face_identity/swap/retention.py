"""Identity retention of a swap: how much of the source identity a swapped face carries, and how much of the target's.

After pasting, every swapped face is found again in the output (re-detected; the detection whose box
overlaps the swapped face's box most, intersection over union >= ``MATCH_IOU``), embedded with a
recognizer, and compared by cosine similarity with:

- the source identity's centroid (``retention``: higher = more of the source survived), and
- the original target face, embedded in the input image (``leakage``: higher = more of the target
  survived).

A face not found again is scored on its original landmarks and flagged ``redetected=False``. Swappers
are trained to please w600k_r50 itself, so a second, different recognizer (with the source identity
in its own space) can score the same faces (``second_retention``, ``second_leakage``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..compare import cosine_matrix
from ..errors import IncompatibleIdentitiesError, InvalidArgumentError
from ..frames import Frames
from ..protocols import Detector, Recognizer
from ..tracks import iou_matrix
from ..types import Face, Identity
from .targets import unit_embeddings_per_image

MATCH_IOU = 0.3
"""A re-detected face is the swapped one when their boxes overlap by at least this intersection over union."""
RETENTION_FRAMES_PER_STEP = 16
"""Frames converted to uint8 and measured at once (bounds host memory on long batches)."""


@dataclass(frozen=True)
class FaceRetention:
    """Scores of one swapped face (cosines in -1..1; ``second_*`` are ``None`` without a second recognizer)."""

    image_index: int
    face_index: int
    retention: float
    leakage: float
    redetected: bool
    second_retention: float | None = None
    second_leakage: float | None = None


@dataclass(frozen=True)
class ImageRetention:
    """Per image: faces swapped and re-detected, mean and lowest retention, mean leakage (0 when no face)."""

    image_index: int
    faces: int
    redetected: int
    mean_retention: float
    min_retention: float
    mean_leakage: float


@dataclass(frozen=True)
class RetentionReport:
    """Retention of every swapped face of a batch, and a summary per image.

    ``model_id``/``second_model_id``: the recognizers that scored it.
    """

    faces: tuple[FaceRetention, ...]
    images: tuple[ImageRetention, ...]
    model_id: str
    second_model_id: str | None = None

    @property
    def retention_scores(self) -> list[float]:
        """Retention of every swapped face, batch order (image, then swap order)."""
        return [face.retention for face in self.faces]

    @property
    def leakage_scores(self) -> list[float]:
        return [face.leakage for face in self.faces]

    def summary(self) -> str:
        """Readable lines: the whole batch, then each image with a swapped face."""
        if not self.faces:
            return f"identity retention ({self.model_id}): no face swapped"
        retention = np.array(self.retention_scores)
        leakage = np.array(self.leakage_scores)
        lines = [
            f"identity retention ({self.model_id}): {len(self.faces)} face(s), mean {retention.mean():.3f} "
            f"(min {retention.min():.3f}); leakage of the target mean {leakage.mean():.3f}; "
            f"{sum(face.redetected for face in self.faces)} re-detected"
        ]
        seconds = [face.second_retention for face in self.faces if face.second_retention is not None]
        if seconds and self.second_model_id:
            lines.append(f"second opinion ({self.second_model_id}): mean retention {float(np.mean(seconds)):.3f}")
        for image in self.images:
            if image.faces:
                lines.append(
                    f"image {image.image_index}: {image.faces} face(s), retention {image.mean_retention:.3f} "
                    f"(min {image.min_retention:.3f}), leakage {image.mean_leakage:.3f}"
                )
        return "\n".join(lines)


def match_swapped(swapped: Sequence[Face], found: Sequence[Face], min_iou: float = MATCH_IOU) -> list[Face | None]:
    """For each swapped face, the re-detected face overlapping it most (IoU >= ``min_iou``), each used once; else ``None``."""
    overlap = iou_matrix(np.array([face.bbox for face in swapped]), np.array([face.bbox for face in found]))
    taken: set[int] = set()
    matches: list[Face | None] = []
    for row in overlap:
        scores = [(float(row[index]), index) for index in range(len(found)) if index not in taken]
        best = max(scores, default=(0.0, -1))
        if best[0] >= min_iou:
            taken.add(best[1])
            matches.append(found[best[1]])
        else:
            matches.append(None)
    return matches


def check_scorer(recognizer: Recognizer, identity: Identity, role: str = "source") -> None:
    """Refuse a recognizer that cannot score against ``identity`` (``IncompatibleIdentitiesError``: another model or size)."""
    if recognizer.model_id != identity.model_id or recognizer.dimension != identity.dimension:
        raise IncompatibleIdentitiesError(
            f"retention compares faces embedded by {recognizer.model_id} ({recognizer.dimension}-d) with the {role} "
            f"identity, which comes from {identity.model_id} ({identity.dimension}-d); give a {role} identity made "
            "with that recognizer."
        )


def _cosines(rows: NDArray[np.float32], others: NDArray[np.float32]) -> NDArray[np.float32]:
    """Row-wise cosine of unit rows (NaN-free: zero rows give 0)."""
    if rows.shape[0] == 0:
        return np.zeros(0, np.float32)
    return np.nan_to_num(np.sum(rows.astype(np.float64) * others.astype(np.float64), axis=1)).astype(np.float32)


def measure_retention(
    detector: Detector,
    recognizer: Recognizer,
    originals: Any,
    swapped: Any,
    targets: Sequence[Sequence[Face]],
    source: Identity,
    second_recognizer: Recognizer | None = None,
    second_source: Identity | None = None,
    frames_per_step: int = RETENTION_FRAMES_PER_STEP,
) -> RetentionReport:
    """Score every swapped face of a batch against the source identity and against the face it replaced.

    Args:
        detector: a ``FaceDetector`` (re-detects the faces in the swapped images).
        recognizer: an ``ArcFaceRecognizer`` of the source identity's space (w600k_r50 for the swappers).
        originals, swapped: the input and output images: ``frames.Frames`` (the swap's own, or
            ``Frames.from_library`` of its output), or anything ``Frames.of`` takes (checked here);
            only frames with a swapped face are converted, ``frames_per_step`` at a time.
        targets: the swapped faces per image (``SwapResult.targets`` / ``SwappedBatch.targets``).
        source: the swapped-in identity.
        second_recognizer, second_source: optional second opinion: another recognizer and the source
            identity embedded by it (both or neither).
        frames_per_step: frames measured at once.

    Returns:
        ``RetentionReport``; images without a swapped face get a zero summary.

    Raises:
        IncompatibleIdentitiesError: a recognizer and its source identity come from different models.
        InvalidArgumentError: lengths differ, or only one of ``second_recognizer``/``second_source``.
    """
    originals = Frames.of(originals, "measure_retention (originals)")  # Frames pass as they are
    swapped = Frames.of(swapped, "measure_retention (swapped)")
    if len(originals) != len(targets) or len(swapped) != len(targets):
        raise InvalidArgumentError(f"{len(originals)} originals, {len(swapped)} swapped images, faces for {len(targets)}")
    if (second_recognizer is None) != (second_source is None):
        raise InvalidArgumentError("a second opinion needs both a second recognizer and the source identity embedded by it")
    check_scorer(recognizer, source, "source")
    scorers = [(recognizer, source.centroid())]
    if second_recognizer is not None and second_source is not None:
        check_scorer(second_recognizer, second_source, "second source")
        scorers.append((second_recognizer, second_source.centroid()))
    faces: list[FaceRetention] = []
    busy = [index for index, group in enumerate(targets) if group]
    for start in range(0, len(busy), max(int(frames_per_step), 1)):
        step = busy[start : start + max(int(frames_per_step), 1)]
        before = [originals.uint8(index, index + 1)[0] for index in step]
        after = [swapped.uint8(index, index + 1)[0] for index in step]
        found = detector.detect_batch(after)
        matched = [match_swapped(targets[index], found[number]) for number, index in enumerate(step)]
        scored = [
            [match if match is not None else face for face, match in zip(targets[index], matched[number], strict=True)]
            for number, index in enumerate(step)
        ]
        original_faces = [list(targets[index]) for index in step]
        scores = []
        for scorer, centroid in scorers:
            out_rows = unit_embeddings_per_image(scorer, after, scored)
            in_rows = unit_embeddings_per_image(scorer, before, original_faces)
            scores.append(
                [
                    (cosine_matrix(out, centroid[None, :])[:, 0], _cosines(out, inp))
                    for out, inp in zip(out_rows, in_rows, strict=True)
                ]
            )
        for number, index in enumerate(step):
            retention, leakage = scores[0][number]
            second = scores[1][number] if len(scores) > 1 else None
            for face_index in range(len(targets[index])):
                faces.append(
                    FaceRetention(
                        index,
                        face_index,
                        float(np.nan_to_num(retention[face_index])),
                        float(leakage[face_index]),
                        matched[number][face_index] is not None,
                        None if second is None else float(np.nan_to_num(second[0][face_index])),
                        None if second is None else float(second[1][face_index]),
                    )
                )
    images = []
    for index, group in enumerate(targets):
        mine = [face for face in faces if face.image_index == index]
        if not group or not mine:
            images.append(ImageRetention(index, 0, 0, 0.0, 0.0, 0.0))
            continue
        values = np.array([face.retention for face in mine])
        images.append(
            ImageRetention(
                index,
                len(mine),
                sum(face.redetected for face in mine),
                float(values.mean()),
                float(values.min()),
                float(np.mean([face.leakage for face in mine])),
            )
        )
    return RetentionReport(
        tuple(faces), tuple(images), recognizer.model_id, None if second_recognizer is None else second_recognizer.model_id
    )
