"""Calibrating the match threshold: ROC figures of labelled pair scores, from scores or from a labelled folder.

``calibrate_scores`` turns same/different pair scores into a ``CalibrationReport``;
``calibrate_folder`` embeds a folder (one subfolder per identity) or a pairs list and scores its pairs.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .compare import DEFAULT_MATCH_THRESHOLD, match_threshold
from .errors import InvalidArgumentError, InvalidImageError
from .images import read_image
from .progress import ProgressCallback
from .protocols import Detector, Recognizer
from .select import select_faces

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


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


@dataclass(frozen=True)
class FolderCalibration:
    """A calibration report and what was skipped on the way."""

    report: CalibrationReport
    images_without_face: tuple[Path, ...]
    pairs_skipped: int
    unreadable_images: tuple[tuple[Path, str], ...] = ()
    """``(path, reason)`` of images that could not be read (empty, damaged, not an image); left out like face-less ones."""
    left_out: tuple[tuple[Path, str], ...] = ()
    """``(input, reason)`` of every other input that contributes nothing: an identity subfolder with no
    images, an image outside the subfolders (it has no label), a pairs-file row that is not ``file_a, file_b, 0|1``."""


def labelled_images(folder: Path, left_out: list[tuple[Path, str]] | None = None) -> list[tuple[Path, str]]:
    """``(image path, identity)`` for every image in the identity subfolders of ``folder``, sorted.

    Subfolders with no images and images directly in ``folder`` (no label) contribute nothing; each is
    appended to ``left_out`` as ``(path, reason)`` when a list is given.
    """
    if not folder.is_dir():
        raise InvalidArgumentError(f"{folder} is not a folder; calibrate needs one subfolder per identity")
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in entry.rglob("*")):
            _leave_out(left_out, entry, "an identity subfolder with no images")
        elif entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            _leave_out(left_out, entry, "an image outside the identity subfolders (it has no label)")
    found = [
        (path, subfolder.name)
        for subfolder in sorted(p for p in folder.iterdir() if p.is_dir())
        for path in sorted(subfolder.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    ]
    if not found:
        raise InvalidArgumentError(f"no images in identity subfolders of {folder}")
    return found


def _leave_out(left_out: list[tuple[Path, str]] | None, path: Path, reason: str) -> None:
    if left_out is not None:  # calibrate_folder logs the list once
        left_out.append((path, reason))


def embed_main_faces(
    paths: Sequence[Path],
    detector: Detector,
    recognizer: Recognizer,
    flip: bool = False,
    unreadable: list[tuple[Path, str]] | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[dict[Path, NDArray[np.float32]], list[Path]]:
    """Unit embedding of the largest face of each image (images are read one at a time), and the face-less images.

    Args:
        unreadable: when a list, an image that cannot be read is appended to it as ``(path, reason)``
            and left out, so one bad file does not stop the batch; when ``None`` it raises.
        progress: called ``(images done, total)`` after each image.
    """
    crops, kept, missing = [], [], []
    for number, path in enumerate(paths, start=1):
        if progress is not None:  # before each image: the first call shows the run has started
            progress(number - 1, len(paths))
        try:
            image = read_image(path)
        except InvalidImageError as error:
            if unreadable is None:
                raise
            logger.warning("%s; it is left out of the calibration", error)
            unreadable.append((path, str(error)))
            continue
        faces = select_faces(detector.detect(image), "large-small", max_faces=1)
        if not faces:
            logger.warning("no face in %s; it is left out of the calibration", path)
            missing.append(path)
            continue
        crop, _ = recognizer.align(image, faces)
        crops.append(crop)
        kept.append(path)
    if progress is not None and paths:
        progress(len(paths), len(paths))
    if not crops:
        return {}, missing
    result = recognizer.embed_crops(np.concatenate(crops), flip=flip)
    return dict(zip(kept, result.normalised)), missing


def read_pairs(pairs_file: Path, folder: Path, left_out: list[tuple[Path, str]] | None = None) -> list[tuple[Path, Path, bool]]:
    """Rows ``file_a, file_b, same`` (tab- or comma-separated, header optional); paths tried relative to several roots."""
    roots = [folder, folder.parent, pairs_file.parent, pairs_file.parent.parent, Path.cwd()]

    def locate(text: str) -> Path:
        for root in roots:
            candidate = (root / text).resolve()
            if candidate.is_file():
                return candidate
        raise InvalidArgumentError(f"pair image {text!r} from {pairs_file} not found under {', '.join(map(str, roots))}")

    if not pairs_file.is_file():
        raise InvalidArgumentError(f"pairs file {pairs_file} does not exist")
    text = pairs_file.read_text(encoding="utf-8")
    delimiter = "\t" if "\t" in (text.splitlines() or [""])[0] else ","
    pairs = []
    for number, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1):
        if len(row) < 3 or row[2].strip().lower() not in ("0", "1", "true", "false", "yes", "no"):
            if number > 1 and any(cell.strip() for cell in row):  # not the header, not a blank line
                _leave_out(left_out, Path(f"{pairs_file}:{number}"), "not a row file_a, file_b, 0|1")
            continue
        pairs.append((locate(row[0].strip()), locate(row[1].strip()), row[2].strip().lower() in ("1", "true", "yes")))
    if not pairs:
        raise InvalidArgumentError(f"{pairs_file} has no rows of the form file_a, file_b, 0|1")
    return pairs


def calibrate_folder(
    folder: str | os.PathLike[str],
    detector: Detector,
    recognizer: Recognizer,
    pairs_file: str | os.PathLike[str] | None = None,
    flip: bool = False,
    progress: ProgressCallback | None = None,
) -> FolderCalibration:
    """Score same/different pairs and report ROC figures and the best threshold.

    Without ``pairs_file`` every pair of images in the identity subfolders is scored (the subfolder
    name is the label). With it, only the listed pairs are. Images with no face, and images that
    cannot be read (reported in ``unreadable_images``), are left out.
    """
    root = Path(folder)
    unreadable: list[tuple[Path, str]] = []
    left_out: list[tuple[Path, str]] = []
    if pairs_file is None:
        labelled = labelled_images(root, left_out)
        embeddings, missing = embed_main_faces(
            [p for p, _ in labelled], detector, recognizer, flip, unreadable=unreadable, progress=progress
        )
        usable = [(path, label) for path, label in labelled if path in embeddings]
        pairs = [(a, b, la == lb) for (a, la), (b, lb) in itertools.combinations(usable, 2)]
        skipped = len(labelled) * (len(labelled) - 1) // 2 - len(pairs)
    else:
        listed = read_pairs(Path(pairs_file), root, left_out)
        unique = sorted({p for a, b, _ in listed for p in (a, b)})
        embeddings, missing = embed_main_faces(unique, detector, recognizer, flip, unreadable=unreadable, progress=progress)
        pairs = [pair for pair in listed if pair[0] in embeddings and pair[1] in embeddings]
        skipped = len(listed) - len(pairs)
    scores = [float(np.dot(embeddings[a], embeddings[b])) for a, b, _ in pairs]
    report = calibrate_scores(scores, [same for _, _, same in pairs], match_threshold(recognizer.model_id, warn=False))
    for path, reason in left_out:
        logger.warning("%s is left out of the calibration: %s", path, reason)
    return FolderCalibration(report, tuple(missing), skipped, tuple(unreadable), tuple(left_out))
