"""Calibrating the match threshold on a labelled folder (one subfolder per identity) or a pairs list."""

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

from .compare import CalibrationReport, calibrate_scores, match_threshold
from .detect import FaceDetector
from .embed import ArcFaceRecognizer
from .errors import InvalidArgumentError, InvalidImageError
from .images import read_image
from .select import select_faces

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class FolderCalibration:
    """A calibration report and what was skipped on the way."""

    report: CalibrationReport
    images_without_face: tuple[Path, ...]
    pairs_skipped: int
    unreadable_images: tuple[tuple[Path, str], ...] = ()
    """``(path, reason)`` of images that could not be read (empty, damaged, not an image); left out like face-less ones."""


def labelled_images(folder: Path) -> list[tuple[Path, str]]:
    """``(image path, identity)`` for every image in the identity subfolders of ``folder``, sorted."""
    if not folder.is_dir():
        raise InvalidArgumentError(f"{folder} is not a folder; calibrate needs one subfolder per identity")
    found = [
        (path, subfolder.name)
        for subfolder in sorted(p for p in folder.iterdir() if p.is_dir())
        for path in sorted(subfolder.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    ]
    if not found:
        raise InvalidArgumentError(f"no images in identity subfolders of {folder}")
    return found


def embed_main_faces(
    paths: Sequence[Path],
    detector: FaceDetector,
    recognizer: ArcFaceRecognizer,
    flip: bool = False,
    unreadable: list[tuple[Path, str]] | None = None,
) -> tuple[dict[Path, NDArray[np.float32]], list[Path]]:
    """Unit embedding of the largest face of each image (images are read one at a time), and the face-less images.

    Args:
        unreadable: when a list, an image that cannot be read is appended to it as ``(path, reason)``
            and left out, so one bad file does not stop the batch; when ``None`` it raises.
    """
    crops, kept, missing = [], [], []
    for path in paths:
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
    if not crops:
        return {}, missing
    result = recognizer.embed_crops(np.concatenate(crops), flip=flip)
    return dict(zip(kept, result.normalised)), missing


def _read_pairs(pairs_file: Path, folder: Path) -> list[tuple[Path, Path, bool]]:
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
    for row in csv.reader(text.splitlines(), delimiter=delimiter):
        if len(row) < 3 or row[2].strip().lower() not in ("0", "1", "true", "false", "yes", "no"):
            continue  # header or blank line
        pairs.append((locate(row[0].strip()), locate(row[1].strip()), row[2].strip().lower() in ("1", "true", "yes")))
    if not pairs:
        raise InvalidArgumentError(f"{pairs_file} has no rows of the form file_a, file_b, 0|1")
    return pairs


def calibrate_folder(
    folder: str | os.PathLike[str],
    detector: FaceDetector,
    recognizer: ArcFaceRecognizer,
    pairs_file: str | os.PathLike[str] | None = None,
    flip: bool = False,
) -> FolderCalibration:
    """Score same/different pairs and report ROC figures and the best threshold.

    Without ``pairs_file`` every pair of images in the identity subfolders is scored (the subfolder
    name is the label). With it, only the listed pairs are. Images with no face, and images that
    cannot be read (reported in ``unreadable_images``), are left out.
    """
    root = Path(folder)
    unreadable: list[tuple[Path, str]] = []
    if pairs_file is None:
        labelled = labelled_images(root)
        embeddings, missing = embed_main_faces([p for p, _ in labelled], detector, recognizer, flip, unreadable=unreadable)
        usable = [(path, label) for path, label in labelled if path in embeddings]
        pairs = [(a, b, la == lb) for (a, la), (b, lb) in itertools.combinations(usable, 2)]
        skipped = len(labelled) * (len(labelled) - 1) // 2 - len(pairs)
    else:
        listed = _read_pairs(Path(pairs_file), root)
        unique = sorted({p for a, b, _ in listed for p in (a, b)})
        embeddings, missing = embed_main_faces(unique, detector, recognizer, flip, unreadable=unreadable)
        pairs = [pair for pair in listed if pair[0] in embeddings and pair[1] in embeddings]
        skipped = len(listed) - len(pairs)
    scores = [float(np.dot(embeddings[a], embeddings[b])) for a, b, _ in pairs]
    report = calibrate_scores(scores, [same for _, _, same in pairs], match_threshold(recognizer.model_id))
    return FolderCalibration(report, tuple(missing), skipped, tuple(unreadable))
