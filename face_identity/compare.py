"""Comparing identities: ``compare`` (similarity, matrix, verdict), averaging, outlier rows, match thresholds,
batch consistency scores.

Calibrating a threshold on labelled pairs lives in ``calibrate``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .catalog import W600K_R50_SPACE
from .errors import InvalidArgumentError
from .types import Identity, mean_raw_norm, require_same_space
from .validate import check_number

DEFAULT_MATCH_THRESHOLD = 0.4
"""Cosine similarity at or above which two w600k_r50 faces count as the same person.

Provenance: FaceFusion's default ``reference_face_distance`` 0.3 on its ``(1 - cos) / 2`` scale is
exactly cos > 0.4, and insightface 1.0.1's GUI uses ``DEFAULT_THRESHOLD = 0.4`` on cosine (with an
"uncertain" band from 0.35). Other models need their own threshold: run ``calibrate``.
"""
UNCERTAIN_MARGIN = 0.05
"""insightface's GUI calls scores within 0.05 below the threshold "uncertain"."""
MATCH_THRESHOLDS: dict[str, float] = {W600K_R50_SPACE: DEFAULT_MATCH_THRESHOLD}


class UncalibratedThresholdWarning(UserWarning):
    """A default threshold was used for an embedding space nobody calibrated it for."""


def match_threshold(model_id: str, warn: bool = True) -> float:
    """Default same-person cosine threshold for an embedding space (0.4 where none is calibrated).

    For a space without a calibrated threshold it warns (``UncalibratedThresholdWarning``; Python shows
    each distinct warning once per call site) that 0.4 is w600k_r50's and how to calibrate one.
    """
    if model_id in MATCH_THRESHOLDS:
        return MATCH_THRESHOLDS[model_id]
    if warn and model_id:
        warnings.warn(
            f"{model_id} has no calibrated match threshold; using {DEFAULT_MATCH_THRESHOLD}, which is w600k_r50's. "
            "Measure one with `face-identity calibrate PEOPLE_FOLDER --recognizer ...` and pass it as the threshold.",
            UncalibratedThresholdWarning,
            stacklevel=2,
        )
    return DEFAULT_MATCH_THRESHOLD


def cosine_matrix(first: NDArray[np.floating], second: NDArray[np.floating]) -> NDArray[np.float32]:
    """``[K, M]`` float32 cosine similarities between the rows of ``[K, D]`` and ``[M, D]`` (rows need not be unit length)."""
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.clip(a @ b.T, -1.0, 1.0).astype(np.float32)


def similarity_matrix(first: Identity, second: Identity) -> NDArray[np.float32]:
    """``[K, M]`` cosine similarities between every row of two identities of one model."""
    require_same_space(first, second)
    return cosine_matrix(first.embeddings, second.embeddings)


def similarity(first: Identity, second: Identity) -> float:
    """Cosine similarity of the two identities' centroids (weighted, re-normalised means), in -1..1."""
    require_same_space(first, second)
    return float(np.clip(np.dot(first.centroid().astype(np.float64), second.centroid().astype(np.float64)), -1.0, 1.0))


def verdict(score: float, threshold: float) -> str:
    """``"same person"``, ``"uncertain"`` (within 0.05 below the threshold) or ``"different people"``.

    Raises:
        InvalidArgumentError: ``score`` or ``threshold`` NaN, infinite or outside -1..1 (a cosine similarity).
    """
    score = check_number(score, "similarity", minimum=-1.0, maximum=1.0)
    threshold = check_number(threshold, "threshold", minimum=-1.0, maximum=1.0)
    if score >= threshold:
        return "same person"
    if score >= threshold - UNCERTAIN_MARGIN - 1e-9:  # 0.4 - 0.05 is 0.35000000000000003 in floating point
        return "uncertain"
    return "different people"


@dataclass(frozen=True)
class Comparison:
    """Two identities compared (``compare``).

    - ``score``: cosine similarity of their centroids, -1..1 (``similarity``).
    - ``matrix``: ``[K, M]`` float32 cosine of every row of the first with every row of the second.
    - ``threshold``: the same-person threshold it was judged against; ``verdict``: ``"same person"``,
      ``"uncertain"`` (within 0.05 below) or ``"different people"``; ``match``: ``score >= threshold``.
    """

    score: float
    matrix: NDArray[np.float32]
    threshold: float
    verdict: str

    @property
    def match(self) -> bool:
        return bool(self.score >= self.threshold)


def compare(first: Identity, second: Identity, threshold: float | None = None) -> Comparison:
    """Compare two identities of one embedding space: centroid similarity, every row pair, and the verdict.

    Args:
        threshold: same-person cosine; ``None`` = the space's calibrated one (``match_threshold``).

    Raises:
        IncompatibleIdentitiesError: the identities come from different models or dimensions.
        InvalidArgumentError: a NaN, infinite or out-of-range threshold.
    """
    limit = match_threshold(first.model_id) if threshold is None else check_number(threshold, "threshold", "compare")
    score = similarity(first, second)
    return Comparison(score, similarity_matrix(first, second), limit, verdict(score, limit))


def average_identities(identities: Sequence[Identity], weights: Sequence[float] | None = None) -> Identity:
    """One single-row identity: the weighted mean of all unit rows, re-normalised.

    Each input identity's rows keep their own weights, scaled by that identity's weight. Averaging
    the normalised embeddings (not the raw ones, as ReActor does) makes every face count by its
    weight rather than by its raw norm, which tracks image quality; re-normalising puts the result
    back on the unit sphere where cosine similarity and inswapper's projection expect it. The raw
    norm kept is the weighted mean of the rows' norms (``types.mean_raw_norm``; 0 = unknown when any
    row's is), so the result's ``raw_centroid`` is the unit centroid times the mean raw norm.

    Raises:
        IncompatibleIdentitiesError: mixed models.
        InvalidArgumentError: no identities, bad weights, or rows that cancel out.
    """
    if not identities:
        raise InvalidArgumentError("no identities to average")
    if weights is not None and len(weights) != len(identities):
        raise InvalidArgumentError(f"{len(identities)} identities but {len(weights)} weights")
    for other in identities[1:]:
        require_same_space(identities[0], other)
    factors = np.ones(len(identities)) if weights is None else np.asarray(weights, dtype=np.float64)
    if np.any(factors < 0) or factors.sum() <= 0:
        raise InvalidArgumentError("identity weights must be >= 0 and not all zero")
    rows = np.concatenate([identity.embeddings for identity in identities]).astype(np.float64)
    row_weights = np.concatenate([identity.weights * factor for identity, factor in zip(identities, factors)])
    norms = np.concatenate([identity.norms for identity in identities]).astype(np.float64)
    total = row_weights.sum()
    if total <= 0:
        raise InvalidArgumentError("all identity rows have weight 0")
    mean = (rows * row_weights[:, None]).sum(axis=0) / total
    length = np.linalg.norm(mean)
    if length < 1e-9:
        raise InvalidArgumentError("the identities cancel out; their average has no direction")
    return Identity(
        embeddings=(mean / length)[None, :].astype(np.float32),
        model_id=identities[0].model_id,
        norms=np.array([mean_raw_norm(norms, row_weights)], dtype=np.float32),
    )


def agreeing_rows(identities: Sequence[Identity], weights: Sequence[float] | None, min_similarity: float) -> NDArray[np.bool_]:
    """``[K]`` bool over all rows of ``identities`` in order: True for the rows ``drop_outlier_rows`` keeps.

    A row is dropped when its cosine to the weighted mean of all *other* rows is below ``min_similarity``
    (leave-one-out, so an outlier cannot pull the mean towards itself), or when its weight is 0. The
    best-agreeing row is always kept, so at least one is True.
    """
    average_identities(identities, weights)  # validates spaces and weights
    factors = [1.0] * len(identities) if weights is None else [float(w) for w in weights]
    rows = np.concatenate([identity.embeddings for identity in identities]).astype(np.float64)
    row_weights = np.concatenate([identity.weights * factor for identity, factor in zip(identities, factors)]).astype(np.float64)
    weighted_sum = (rows * row_weights[:, None]).sum(axis=0)
    others = weighted_sum[None, :] - rows * row_weights[:, None]
    lengths = np.linalg.norm(others, axis=1)
    agreement = np.where(lengths > 1e-12, (others * rows).sum(axis=1) / np.maximum(lengths, 1e-12), 1.0)
    keep = (agreement >= min_similarity) & (row_weights > 0)
    if not keep.any():
        keep[int(np.argmax(np.where(row_weights > 0, agreement, -np.inf)))] = True
    return keep


def drop_outlier_rows(
    identities: Sequence[Identity], weights: Sequence[float] | None, min_similarity: float
) -> tuple[Identity, int]:
    """Average all rows except those that disagree with the rest (``agreeing_rows``), e.g. a photo of someone else.

    Returns:
        ``(one-row identity, number of rows dropped)``.
    """
    keep = agreeing_rows(identities, weights, min_similarity)
    factors = [1.0] * len(identities) if weights is None else [float(w) for w in weights]
    kept_parts, kept_factors, offset = [], [], 0
    for identity, factor in zip(identities, factors):
        rows_here = np.nonzero(keep[offset : offset + len(identity)])[0]
        offset += len(identity)
        if rows_here.size:
            kept_parts.append(identity.select(rows_here))
            kept_factors.append(factor)
    return average_identities(kept_parts, kept_factors), int((~keep).sum())


@dataclass(frozen=True)
class ConsistencyScores:
    """How well each image of a batch matches a reference identity.

    - ``scores``: ``[B]`` float32, the best cosine of any face in the image with the reference
      centroid; 0 for images with no face.
    - ``best_faces``: ``[B]`` int64, the face index (in the image's face order) that scored, -1 if none.
    - ``has_face``: ``[B]`` bool. ``passed``: ``[B]`` bool, score >= threshold and a face present.
    - ``best_image``: index of the highest-scoring image with a face (0 when no image has one).
    """

    scores: NDArray[np.float32]
    best_faces: NDArray[np.int64]
    has_face: NDArray[np.bool_]
    passed: NDArray[np.bool_]
    best_image: int
    threshold: float


def consistency_scores(reference: Identity, faces: Identity | None, image_count: int, threshold: float) -> ConsistencyScores:
    """Score every image by its best-matching face against ``reference`` (rows of ``faces`` carry image/face indices).

    Raises:
        IncompatibleIdentitiesError: ``faces`` come from another model than ``reference``.
        InvalidArgumentError: a NaN/infinite ``threshold`` or a negative ``image_count``.
    """
    threshold = check_number(threshold, "threshold", "consistency_scores")
    if image_count < 0:
        raise InvalidArgumentError(f"consistency_scores: image_count must be 0 or more, got {image_count}")
    scores = np.zeros(image_count, dtype=np.float32)
    best_faces = np.full(image_count, -1, dtype=np.int64)
    has_face = np.zeros(image_count, dtype=bool)
    if faces is not None:
        require_same_space(reference, faces)
        row_scores = cosine_matrix(faces.embeddings, reference.centroid()[None, :])[:, 0]
        for row, (image, face) in enumerate(zip(faces.image_indices, faces.face_indices)):
            if not 0 <= image < image_count:
                continue
            if not has_face[image] or row_scores[row] > scores[image]:
                scores[image], best_faces[image] = row_scores[row], face
            has_face[image] = True
    passed = has_face & (scores >= threshold)
    ranked = np.where(has_face, scores, -np.inf)
    best_image = int(np.argmax(ranked)) if has_face.any() else 0
    return ConsistencyScores(scores, best_faces, has_face, passed, best_image, float(threshold))
