"""The per-batch function both engines run: image paths in, one score row per image out.

A row is a plain ``dict`` with the keys of ``COLUMNS`` (the output's columns, in order):

- ``path`` (str): the image path as the dataset listed it.
- ``faces`` (int): faces found (0 for an unreadable file).
- ``best_face`` (int | None): index, in largest-first order, of the face most similar to a reference.
- ``box_x1``, ``box_y1``, ``box_x2``, ``box_y2`` (float | None): that face's box, image pixels.
- ``det_score`` (float | None): that face's detector score, 0..1.
- ``similarity`` (float | None): that face's cosine similarity to its nearest reference, -1..1.
- ``pass`` (bool): ``similarity >= threshold`` (False without a face or on error).
- ``identity`` (str | None): gallery mode: the nearest identity when it passes, else ``unknown``.
- ``nearest`` (str | None): gallery mode: the nearest identity whatever the threshold.
- ``face_scores`` (list[float]): every face's similarity to its nearest reference, largest face first.
- ``error`` (str | None): why the image could not be scored (the run goes on).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

import numpy as np

from .. import Detector, FaceSelection, InvalidArgumentError, Recognizer
from ..compare import cosine_matrix
from ..images import read_image
from ..pipeline import Analysis, analyze
from ..types import RGBImage
from .references import UNKNOWN, References

logger = logging.getLogger(__name__)

Row = dict[str, Any]
"""One image's scores; keys ``COLUMNS``."""
Decoded: TypeAlias = "RGBImage | str"
"""A decoded image, or the error message of a file that could not be read."""

COLUMNS: tuple[str, ...] = (
    "path",
    "faces",
    "best_face",
    "box_x1",
    "box_y1",
    "box_x2",
    "box_y2",
    "det_score",
    "similarity",
    "pass",
    "identity",
    "nearest",
    "face_scores",
    "error",
)
DEFAULT_DECODE_WORKERS = 4
"""Threads decoding image files (OpenCV releases the GIL while decoding)."""
EVERY_FACE_LARGEST_FIRST = FaceSelection(order="large-small")


def empty_row(path: str, error: str | None = None) -> Row:
    """The row of an image with no face (``error`` None) or one that could not be scored."""
    row: Row = dict.fromkeys(COLUMNS)
    row.update(path=path, faces=0, face_scores=[], error=error)
    row["pass"] = False
    return row


def apply_threshold(row: Row, threshold: float, gallery: bool) -> Row:
    """The row with ``pass`` (and in gallery mode ``identity``) decided at ``threshold`` (a new dict)."""
    updated = dict(row)
    similarity = updated.get("similarity")
    passed = similarity is not None and not updated.get("error") and float(similarity) >= threshold
    updated["pass"] = bool(passed)
    if gallery:
        updated["identity"] = updated.get("nearest") if passed else (UNKNOWN if similarity is not None else None)
    else:
        updated["identity"] = None
    return updated


def decode(path: str) -> Decoded:
    """``read_image(path)``, or the error message when the file cannot be read as an image."""
    try:
        return read_image(path)
    except Exception as error:  # one bad file must never stop the run
        return f"{type(error).__name__}: {error}"


class BatchScorer:
    """Scores batches of image paths against ``references`` with one detector and one recognizer.

    Files are decoded on a thread pool; the faces of all images of a batch go through
    ``pipeline.analyze`` together (detection per image, crops embedded in the recognizer's batches).
    An image that fails is retried alone so only its own row carries the error. Not thread-safe
    (one scorer per thread, process or Ray actor).
    """

    def __init__(
        self,
        detector: Detector,
        recognizer: Recognizer,
        references: References,
        threshold: float,
        decode_workers: int = DEFAULT_DECODE_WORKERS,
        flip: bool = False,
    ) -> None:
        if references.model_id != recognizer.model_id:
            raise InvalidArgumentError(
                f"references are {references.model_id} embeddings but the recognizer makes {recognizer.model_id} ones"
            )
        if not -1.0 <= threshold <= 1.0:
            raise InvalidArgumentError(f"threshold must lie in -1..1 (a cosine similarity), got {threshold}")
        self.detector = detector
        self.recognizer = recognizer
        self.references = references
        self.threshold = float(threshold)
        self.decode_workers = max(1, int(decode_workers))
        self.flip = flip
        self._pool: ThreadPoolExecutor | None = None

    def decode_all(self, paths: Sequence[str]) -> list[Decoded]:
        """Decode ``paths`` on the scorer's thread pool (created on first use), in order."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.decode_workers, thread_name_prefix="face-identity-decode")
        return list(self._pool.map(decode, paths))

    def close(self) -> None:
        """Stop the decoding threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __call__(self, paths: Sequence[str]) -> list[Row]:
        """Rows of ``paths``, in order: decode, then ``score_decoded``."""
        return self.score_decoded(paths, self.decode_all(paths))

    def score_decoded(self, paths: Sequence[str], decoded: Sequence[Decoded]) -> list[Row]:
        """Rows of already decoded images (``decode_all``'s output), in order."""
        if len(paths) != len(decoded):
            raise InvalidArgumentError(f"{len(paths)} paths but {len(decoded)} decoded images")
        rows: list[Row | None] = [None] * len(paths)
        good_indices: list[int] = []
        good_images: list[RGBImage] = []
        for index, (path, item) in enumerate(zip(paths, decoded)):
            if isinstance(item, str):
                rows[index] = empty_row(str(path), item)
            else:
                good_indices.append(index)
                good_images.append(item)
        scored = self._score_images([str(paths[i]) for i in good_indices], good_images)
        for index, row in zip(good_indices, scored):
            rows[index] = row
        return [row for row in rows if row is not None]

    def _score_images(self, paths: list[str], images: list[RGBImage]) -> list[Row]:
        if not images:
            return []
        try:
            analysis = analyze(self.detector, self.recognizer, images, EVERY_FACE_LARGEST_FIRST, flip=self.flip)
        except Exception as error:
            if len(images) == 1:
                logger.warning("cannot score %s: %s", paths[0], error)
                return [empty_row(paths[0], f"{type(error).__name__}: {error}")]
            return [row for path, image in zip(paths, images) for row in self._score_images([path], [image])]
        return [self._row(path, analysis, index) for index, path in enumerate(paths)]

    def _row(self, path: str, analysis: Analysis, image_index: int) -> Row:
        faces = analysis.faces.faces_per_image[image_index]
        if not faces or analysis.identity is None:
            return empty_row(path)
        embeddings = analysis.identity.embeddings[analysis.rows_of_image(image_index)]
        scores = cosine_matrix(embeddings, self.references.centroids)  # [faces, identities]
        nearest = np.argmax(scores, axis=1)
        face_scores = scores[np.arange(len(faces)), nearest].astype(np.float64)
        best = int(np.argmax(face_scores))  # ties: the larger face
        face = faces[best]
        x1, y1, x2, y2 = (float(v) for v in face.bbox)
        row: Row = {
            "path": path,
            "faces": len(faces),
            "best_face": best,
            "box_x1": x1,
            "box_y1": y1,
            "box_x2": x2,
            "box_y2": y2,
            "det_score": float(face.score),
            "similarity": float(face_scores[best]),
            "pass": False,
            "identity": None,
            "nearest": self.references.names[int(nearest[best])] if self.references.gallery else None,
            "face_scores": [float(v) for v in face_scores],
            "error": None,
        }
        return apply_threshold(row, self.threshold, self.references.gallery)
