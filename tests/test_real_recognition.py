"""Real recognition end to end: SCRFD-2.5G + the w600k MobileFaceNet int8 on the published deepface pairs,
and the keypoint-order oracle (swapping left/right landmarks must wreck the embeddings).

The slow part (detecting and embedding ~70 photos) runs once in a module-scoped fixture.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import face_identity.calibrate as calibrate_module
from face_identity.calibrate import FolderCalibration, calibrate_folder
from face_identity.detect import FaceDetector
from face_identity.embed import ArcFaceRecognizer, load_recognizer
from face_identity.errors import InvalidArgumentError
from face_identity.select import select_faces
from face_identity.types import Face

SWAPPED_ORDER = [1, 0, 2, 4, 3]
"""Left/right eye and left/right mouth corner exchanged: the classic keypoint-order bug."""


class RecordingDetector:
    """Passes ``detect`` through to a real detector and keeps each image with its faces."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self.seen: list[tuple[NDArray[np.uint8], list[Face]]] = []

    def detect(self, image: NDArray[np.uint8], *args: Any, **kwargs: Any) -> list[Face]:
        faces = self.detector.detect(image, *args, **kwargs)
        self.seen.append((image, faces))
        return faces


@dataclass
class RecognitionRun:
    calibration: FolderCalibration
    pairs: list[tuple[Path, Path, bool]]
    embeddings: dict[Path, NDArray[np.float32]]
    main_faces: dict[Path, tuple[NDArray[np.uint8], Face]]
    recognizer: ArcFaceRecognizer


@pytest.fixture(scope="module")
def run(shared_data: Path, real_models: dict[str, Path], scrfd_detector: FaceDetector) -> RecognitionRun:
    """``calibrate_folder`` on faces/ with the 499 published pairs; the embeddings and main faces it used are kept."""
    recognizer = load_recognizer(real_models["mbf_int8"], providers="cpu", allow_download=False)
    assert recognizer.batch_size == 1  # batch-dependent int8 model: reproducible only face by face
    recorder = RecordingDetector(scrfd_detector)
    captured: dict[str, Any] = {}
    original = calibrate_module.embed_main_faces

    def capturing_embed_main_faces(paths: Any, detector: Any, recognizer_: Any, flip: bool = False, **options: Any) -> Any:
        embeddings, missing = original(paths, detector, recognizer_, flip, **options)
        captured.update(paths=list(paths), embeddings=embeddings, missing=missing)
        return embeddings, missing

    pairs_file = shared_data / "annotations" / "pairs_deepface_published_mapped.tsv"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(calibrate_module, "embed_main_faces", capturing_embed_main_faces)
        calibration = calibrate_folder(shared_data / "faces", recorder, recognizer, pairs_file)  # type: ignore[arg-type]
    main_faces = {}
    for path, (image, faces) in zip(captured["paths"], recorder.seen, strict=True):
        chosen = select_faces(faces, "large-small", max_faces=1)
        if chosen:
            main_faces[path] = (image, chosen[0])
    with pairs_file.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    pairs = [
        ((shared_data / r["file_a"]).resolve(), (shared_data / r["file_b"]).resolve(), r["same_identity"] == "1") for r in rows
    ]
    return RecognitionRun(calibration, pairs, captured["embeddings"], main_faces, recognizer)


def test_calibration_on_published_pairs(run: RecognitionRun, capsys: pytest.CaptureFixture[str]) -> None:
    report = run.calibration.report
    same_expected = sum(same for _, _, same in run.pairs)
    assert len(run.pairs) == 499
    assert run.calibration.images_without_face == () and run.calibration.pairs_skipped == 0
    assert report.pair_count == 499 and report.same_count == same_expected and report.different_count == 499 - same_expected
    with capsys.disabled():  # always shown in the CI log, not only with -s
        print(
            f"\n[real recognition] pairs {report.pair_count}: best accuracy {report.best_accuracy:.4f} at threshold "
            f"{report.best_threshold:.3f}; 10-fold cross-validated accuracy {report.cross_validated_accuracy:.4f}; "
            f"AUC {report.auc:.4f}; mean cos same {report.mean_same:.3f}, different {report.mean_different:.3f}"
        )
    assert report.best_accuracy >= 0.98
    assert report.cross_validated_accuracy >= 0.95
    assert report.auc >= 0.98
    assert report.mean_same - report.mean_different > 0.4


def test_report_agrees_with_scores_recomputed_from_the_embeddings(run: RecognitionRun) -> None:
    scores = np.array([float(run.embeddings[a] @ run.embeddings[b]) for a, b, _ in run.pairs])
    same = np.array([s for _, _, s in run.pairs])
    report = run.calibration.report
    assert report.mean_same == pytest.approx(scores[same].mean(), abs=1e-6)
    assert report.mean_different == pytest.approx(scores[~same].mean(), abs=1e-6)
    accuracy = float(np.mean((scores >= report.best_threshold) == same))
    assert accuracy == pytest.approx(report.best_accuracy)
    # No threshold does better than the reported best one.
    assert max(float(np.mean((scores >= t) == same)) for t in np.unique(scores)) <= report.best_accuracy + 1e-12


@pytest.fixture(scope="module")
def swapped_embeddings(run: RecognitionRun) -> dict[Path, NDArray[np.float32]]:
    """Embedding of each main face aligned with its left/right landmarks exchanged."""
    crops, paths = [], []
    for path, (image, face) in run.main_faces.items():
        swapped = Face(bbox=face.bbox, score=face.score, landmarks=face.landmarks[SWAPPED_ORDER], image_index=0)
        crop, _ = run.recognizer.align(image, [swapped])
        crops.append(crop)
        paths.append(path)
    result = run.recognizer.embed_crops(np.concatenate(crops))
    return dict(zip(paths, result.normalised, strict=True))


def test_main_faces_reproduce_the_calibration_embeddings(run: RecognitionRun) -> None:
    assert set(run.main_faces) == set(run.embeddings)
    path = sorted(run.main_faces)[0]
    image, face = run.main_faces[path]
    crop, _ = run.recognizer.align(image, [face])
    np.testing.assert_allclose(run.recognizer.embed_crops(crop).normalised[0], run.embeddings[path], atol=1e-5)


def test_swapped_landmarks_collapse_the_embedding(
    run: RecognitionRun, swapped_embeddings: dict[Path, NDArray[np.float32]]
) -> None:
    paths = sorted(swapped_embeddings)
    self_cosines = np.array([float(run.embeddings[p] @ swapped_embeddings[p]) for p in paths])
    print(
        f"\n[keypoint order] cos(correct, swapped) of the same photo: "
        f"mean {self_cosines.mean():.3f}, max {self_cosines.max():.3f}"
    )
    # The swapped crop is the face turned upside down: the embedding says nothing about the person any more.
    assert abs(self_cosines.mean()) < 0.15
    assert self_cosines.max() < 0.5


def test_swapped_landmarks_break_same_person_pairs(
    run: RecognitionRun, swapped_embeddings: dict[Path, NDArray[np.float32]]
) -> None:
    same_pairs = [(a, b) for a, b, same in run.pairs if same]
    different_pairs = [(a, b) for a, b, same in run.pairs if not same]
    correct_same = np.mean([run.embeddings[a] @ run.embeddings[b] for a, b in same_pairs])
    mixed_same = np.mean([run.embeddings[a] @ swapped_embeddings[b] for a, b in same_pairs])
    both_swapped_different = np.mean([swapped_embeddings[a] @ swapped_embeddings[b] for a, b in different_pairs])
    correct_different = np.mean([run.embeddings[a] @ run.embeddings[b] for a, b in different_pairs])
    print(
        f"\n[keypoint order] same-person pairs: correct {correct_same:.3f}, one side swapped {mixed_same:.3f}; "
        f"different-person pairs: correct {correct_different:.3f}, both swapped {both_swapped_different:.3f}"
    )
    # One side swapped: the same person no longer matches.
    assert mixed_same < correct_same / 3
    # Both swapped: every upside-down face looks alike, so different people look the same.
    assert both_swapped_different > correct_different + 0.3


class CachedDetector:
    """Reuses the module run's detections for images it has seen (by content); detects others without size retries."""

    def __init__(self, run_faces: dict[Path, tuple[NDArray[np.uint8], Face]], detector: FaceDetector) -> None:
        self.known = {hashlib.sha1(image.tobytes()).hexdigest(): [face] for image, face in run_faces.values()}
        self.detector = detector.with_settings(retry_smaller=False)
        self.fresh = 0

    def detect(self, image: NDArray[np.uint8], *args: Any, **kwargs: Any) -> list[Face]:
        key = hashlib.sha1(image.tobytes()).hexdigest()
        if key in self.known:
            return list(self.known[key])
        self.fresh += 1
        return self.detector.detect(image, *args, **kwargs)


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Three identities x two photos (links into faces/), plus a face-less grey image in the first identity."""
    import cv2

    root = tmp_path_factory.mktemp("identities")
    chosen = {
        "angelina_jolie": ["deepface_img1.jpg", "deepface_img2.jpg"],
        "jack_dorsey": ["deepface_img16.jpg", "deepface_img17.jpg"],
        "mark_zuckerberg": ["deepface_img13.jpg", "deepface_img14.jpg"],
    }
    for identity, names in chosen.items():
        (root / identity).mkdir()
        for name in names:
            (root / identity / name).symlink_to(shared_data / "faces" / identity / name)
    cv2.imwrite(str(root / "angelina_jolie" / "blank.png"), np.full((64, 64, 3), 127, np.uint8))
    (root / "notes.txt").write_text("not an image, not in a subfolder")
    return root


def test_folder_mode_scores_every_pair_of_labelled_images(
    run: RecognitionRun, small_folder: Path, scrfd_detector: FaceDetector
) -> None:
    detector = CachedDetector(run.main_faces, scrfd_detector)
    calibration = calibrate_folder(small_folder, detector, run.recognizer)  # type: ignore[arg-type]
    assert detector.fresh == 1  # only the blank image needed a new detection
    assert [path.name for path in calibration.images_without_face] == ["blank.png"]
    # 7 images -> 21 pairs; the 6 involving the blank image are skipped; 3 same-person pairs remain.
    assert calibration.pairs_skipped == 6
    report = calibration.report
    assert (report.pair_count, report.same_count, report.different_count) == (15, 3, 12)
    assert report.best_accuracy == 1.0 and report.auc == 1.0


def test_pairs_file_with_commas_and_no_header(
    run: RecognitionRun, small_folder: Path, scrfd_detector: FaceDetector, tmp_path: Path
) -> None:
    pairs_file = tmp_path / "pairs.csv"
    pairs_file.write_text(
        "angelina_jolie/deepface_img1.jpg,angelina_jolie/deepface_img2.jpg,1\n"
        "jack_dorsey/deepface_img16.jpg, jack_dorsey/deepface_img17.jpg ,yes\n"
        "angelina_jolie/deepface_img1.jpg,jack_dorsey/deepface_img16.jpg,0\n"
        "mark_zuckerberg/deepface_img13.jpg,angelina_jolie/blank.png,false\n",
        encoding="utf-8",
    )
    calibration = calibrate_folder(small_folder, CachedDetector(run.main_faces, scrfd_detector), run.recognizer, pairs_file)  # type: ignore[arg-type]
    assert calibration.pairs_skipped == 1
    assert (calibration.report.pair_count, calibration.report.same_count) == (3, 2)
    assert calibration.report.best_accuracy == 1.0
    missing = tmp_path / "missing_image.csv"
    missing.write_text("angelina_jolie/nobody.jpg,angelina_jolie/deepface_img1.jpg,1\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="nobody.jpg"):
        calibrate_folder(small_folder, CachedDetector(run.main_faces, scrfd_detector), run.recognizer, missing)  # type: ignore[arg-type]
