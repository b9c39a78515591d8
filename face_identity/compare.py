"""Comparing identities: cosine similarity, averaging, match thresholds and their calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .catalog import W600K_R50_SPACE
from .errors import IncompatibleIdentitiesError, InvalidArgumentError
from .types import Identity

DEFAULT_MATCH_THRESHOLD = 0.4
"""Cosine similarity at or above which two w600k_r50 faces count as the same person.

Provenance: FaceFusion's default ``reference_face_distance`` 0.3 on its ``(1 - cos) / 2`` scale is
exactly cos > 0.4, and insightface 1.0.1's GUI uses ``DEFAULT_THRESHOLD = 0.4`` on cosine (with an
"uncertain" band from 0.35). Other models need their own threshold: run ``calibrate``.
"""
UNCERTAIN_MARGIN = 0.05
"""insightface's GUI calls scores within 0.05 below the threshold "uncertain"."""
MATCH_THRESHOLDS: dict[str, float] = {W600K_R50_SPACE: DEFAULT_MATCH_THRESHOLD}


def match_threshold(model_id: str) -> float:
    """Default same-person cosine threshold for an embedding space (0.4 where none is calibrated)."""
    return MATCH_THRESHOLDS.get(model_id, DEFAULT_MATCH_THRESHOLD)


def require_same_space(first: Identity, second: Identity) -> None:
    """Raise unless both identities come from the same embedding model and dimension.

    Raises:
        IncompatibleIdentitiesError: names both models and says what to do.
    """
    if first.model_id != second.model_id or first.dimension != second.dimension:
        raise IncompatibleIdentitiesError(
            f"cannot compare an identity from {first.model_id} ({first.dimension}-d) with one from "
            f"{second.model_id} ({second.dimension}-d): embeddings of different models live in different "
            "spaces. Embed both with the same recognizer."
        )


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
    """``"same person"``, ``"uncertain"`` (within 0.05 below the threshold) or ``"different people"``."""
    if score >= threshold:
        return "same person"
    if score >= threshold - UNCERTAIN_MARGIN - 1e-9:  # 0.4 - 0.05 is 0.35000000000000003 in floating point
        return "uncertain"
    return "different people"


def average_identities(identities: Sequence[Identity], weights: Sequence[float] | None = None) -> Identity:
    """One single-row identity: the weighted mean of all unit rows, re-normalised.

    Each input identity's rows keep their own weights, scaled by that identity's weight. Averaging
    the normalised embeddings (not the raw ones, as ReActor does) makes every face count by its
    weight rather than by its raw norm, which tracks image quality; re-normalising puts the result
    back on the unit sphere where cosine similarity and inswapper's projection expect it. The raw
    norm kept is the weighted mean of the rows' norms.

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
    mean_norm = float((norms * row_weights).sum() / total) if np.all(norms > 0) else 0.0
    return Identity(
        embeddings=(mean / length)[None, :].astype(np.float32),
        model_id=identities[0].model_id,
        norms=np.array([mean_norm], dtype=np.float32),
    )


def drop_outlier_rows(
    identities: Sequence[Identity], weights: Sequence[float] | None, min_similarity: float
) -> tuple[Identity, int]:
    """Average all rows except those that disagree with the rest, e.g. a photo of someone else.

    A row is dropped when its cosine to the weighted mean of all *other* rows is below
    ``min_similarity`` (leave-one-out, so an outlier cannot pull the mean towards itself). The
    best-agreeing row is always kept, so the result is never empty.

    Returns:
        ``(one-row identity, number of rows dropped)``.
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
    """
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


@dataclass(frozen=True)
class CalibrationReport:
    """ROC figures of same/different pairs scored by cosine similarity.

    - ``best_threshold``/``best_accuracy``: the threshold (midway between neighbouring scores) that
      classifies the given pairs best, and that accuracy (optimistic: chosen on the same pairs).
    - ``cross_validated_accuracy``: 10-fold (LFW protocol): threshold chosen on 9 folds, accuracy on the 10th.
    - ``auc``: area under the ROC curve. ``eer``: equal error rate.
    - ``tpr_at_fpr``: true-positive rate at false-positive rates 0.1, 0.01, 0.001.
    - ``accuracy_at_default``: accuracy at ``default_threshold``.
    """

    pair_count: int
    same_count: int
    different_count: int
    mean_same: float
    mean_different: float
    best_threshold: float
    best_accuracy: float
    cross_validated_accuracy: float
    auc: float
    eer: float
    tpr_at_fpr: dict[float, float]
    default_threshold: float
    accuracy_at_default: float

    def summary(self) -> str:
        """Human-readable report, one figure per line."""
        lines = [
            f"pairs: {self.pair_count} ({self.same_count} same, {self.different_count} different)",
            f"mean cosine: same {self.mean_same:.3f}, different {self.mean_different:.3f}",
            f"best threshold: {self.best_threshold:.3f} -> accuracy {self.best_accuracy:.4f}",
            f"10-fold cross-validated accuracy: {self.cross_validated_accuracy:.4f}",
            f"accuracy at default threshold {self.default_threshold:.2f}: {self.accuracy_at_default:.4f}",
            f"ROC AUC: {self.auc:.4f}   EER: {self.eer:.4f}",
        ]
        lines += [f"TPR @ FPR {fpr:g}: {tpr:.4f}" for fpr, tpr in self.tpr_at_fpr.items()]
        return "\n".join(lines)


def _accuracy(scores: NDArray[np.float64], same: NDArray[np.bool_], threshold: float) -> float:
    return float(np.mean((scores >= threshold) == same))


def _best_threshold(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> tuple[float, float]:
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    accuracies = np.array([_accuracy(scores, same, t) for t in candidates])
    best = int(np.argmax(accuracies))
    return float(candidates[best]), float(accuracies[best])


def _roc(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    order = np.argsort(-scores, kind="stable")
    sorted_same = same[order]
    sorted_scores = scores[order]
    true_positives = np.cumsum(sorted_same)
    false_positives = np.cumsum(~sorted_same)
    last_of_value = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    tpr = np.r_[0.0, true_positives[last_of_value] / max(same.sum(), 1)]
    fpr = np.r_[0.0, false_positives[last_of_value] / max((~same).sum(), 1)]
    return fpr, tpr


def calibrate_scores(
    scores: Sequence[float] | NDArray[np.floating],
    same: Sequence[bool] | NDArray[np.bool_],
    default_threshold: float = DEFAULT_MATCH_THRESHOLD,
    folds: int = 10,
) -> CalibrationReport:
    """ROC figures and the best threshold for labelled pair scores.

    Args:
        scores: ``[P]`` cosine similarity of each pair.
        same: ``[P]`` True where the pair shows the same person.

    Raises:
        InvalidArgumentError: lengths differ, or there are no same or no different pairs.
    """
    score_array = np.asarray(scores, dtype=np.float64)
    same_array = np.asarray(same, dtype=bool)
    if score_array.shape != same_array.shape or score_array.ndim != 1:
        raise InvalidArgumentError("scores and labels must be 1-D and of equal length")
    if same_array.all() or not same_array.any():
        raise InvalidArgumentError("calibration needs both same-person and different-person pairs")
    best_threshold, best_accuracy = _best_threshold(score_array, same_array)
    fpr, tpr = _roc(score_array, same_array)
    auc = float((np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0).sum())  # trapezoid rule (np.trapz is gone from numpy 2)
    miss = 1.0 - tpr
    crossing = int(np.argmin(np.abs(fpr - miss)))
    eer = float((fpr[crossing] + miss[crossing]) / 2)
    tpr_at = {}
    for target in (0.1, 0.01, 0.001):
        allowed = fpr <= target
        tpr_at[target] = float(tpr[allowed].max()) if allowed.any() else 0.0
    fold_of = np.arange(score_array.size) % max(min(folds, score_array.size), 2)
    fold_accuracies, fold_sizes = [], []
    for fold in np.unique(fold_of):
        train, test = fold_of != fold, fold_of == fold
        if same_array[train].all() or not same_array[train].any():
            continue
        threshold, _ = _best_threshold(score_array[train], same_array[train])
        fold_accuracies.append(_accuracy(score_array[test], same_array[test], threshold))
        fold_sizes.append(int(test.sum()))
    cross_validated = float(np.average(fold_accuracies, weights=fold_sizes)) if fold_accuracies else best_accuracy
    return CalibrationReport(
        pair_count=int(score_array.size),
        same_count=int(same_array.sum()),
        different_count=int((~same_array).sum()),
        mean_same=float(score_array[same_array].mean()),
        mean_different=float(score_array[~same_array].mean()),
        best_threshold=best_threshold,
        best_accuracy=best_accuracy,
        cross_validated_accuracy=cross_validated,
        auc=auc,
        eer=eer,
        tpr_at_fpr=tpr_at,
        default_threshold=default_threshold,
        accuracy_at_default=_accuracy(score_array, same_array, default_threshold),
    )
