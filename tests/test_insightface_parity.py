"""Parity with insightface 2.1 itself: its own SCRFD, norm_crop, ArcFaceONNX and FaceAnalysis code, run side by
side with ours on the same real photos and the same model files.

insightface is a test-only dependency, installed without its dependencies so that its ``opencv-python``
requirement does not replace ``opencv-python-headless``::

    python -m pip install --no-deps "insightface==2.1"
    python -m pip install scikit-image scipy

Outside CI this module skips (with the reason) when insightface is not installed; with ``CI=true`` it fails,
because CI must run it. Only insightface's pure-Python parts are used (``model_zoo.SCRFD``,
``model_zoo.ArcFaceONNX``, ``utils.face_align.norm_crop``, ``app.FaceAnalysis`` pointed at a folder of our
model files); nothing is downloaded.

What is compared (same faces, same order):

- detection with SCRFD-2.5G (fixed 640 input) and det_500m (dynamic input, fitted to 640 as
  ``FaceAnalysis.prepare(det_size=(640, 640))`` does) on the group photos and two portraits: same face
  count and order, box IoU >= 0.99, landmarks within 0.01 px;
- alignment: our ``align_faces`` and insightface's ``norm_crop`` on the same landmarks give 112 x 112 crops
  that differ by at most 1 grey level, with >= 99.9 % of the pixels of each photo's crops identical (the
  two similarity estimates, ours and scikit-image's, differ in the last bits of float64, which moves a
  few bilinear samples across a rounding boundary);
- embeddings, detect + align + embed end to end (``FaceAnalysis.get`` against our ``analyze``): cosine
  >= 0.9999 with a float32 recognizer (a synthetic IResNet-50 with exactly w600k_r50's architecture;
  random weights, so it says nothing about recognition quality) and >= 0.99 with the real
  ``w600k_mbf_int8_dynamic.onnx``. That model quantizes its activations dynamically (one scale per input
  tensor, computed from the tensor's range), so the few crop pixels that differ by 1 grey level can
  change the quantization of whole layers: a 1-grey-level difference turns into cosines around 0.996.
  With identical crops both give the same embedding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest

try:
    import insightface
    from insightface.app import FaceAnalysis
    from insightface.model_zoo import SCRFD, ArcFaceONNX
    from insightface.utils import face_align
except ImportError as error:  # pragma: no cover - depends on the environment
    _reason = (
        f"insightface 2.1 is not importable ({error}); `bash scripts/test.sh` installs it for the tests "
        "(into <python prefix>/face-identity-test-reference, with scikit-image and scipy)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the insightface parity tests: {_reason}", pytrace=False)
    pytest.skip(_reason, allow_module_level=True)

from face_identity import FaceSelection
from face_identity.align import align_faces
from face_identity.detect import DetectionSettings, FaceDetector, load_detector
from face_identity.devtools.synthetic import IRESNET50, build_iresnet
from face_identity.embed import load_recognizer
from face_identity.images import read_image
from face_identity.pipeline import analyze
from face_identity.types import Face

pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")  # scikit-image 0.26, in norm_crop

DETECTORS = {"scrfd_2.5g": "scrfd_2.5g_bnkps_640.onnx", "det_500m": "det_500m.onnx"}
PORTRAITS = ("faces/isaac_newton/newton.png", "faces/carl_friedrich_gauss/gauss.png")
END_TO_END_PHOTOS = (
    "groups/insightface_t1.jpg",
    "groups/face_recognition_two_people.jpg",
    *PORTRAITS,
)
"""10 faces: enough to compare embeddings, few enough for the float32 IResNet-50 on a 2-core CPU."""
CPU = ["CPUExecutionProvider"]


def test_the_installed_insightface_is_2_1() -> None:
    assert insightface.__version__ == "2.1"


def _bgr(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, :, ::-1])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two ``[N, 4]`` xyxy box arrays."""
    width = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = width * height
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / (area - inter), dtype=np.float64)


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> dict[str, np.ndarray]:
    """Every group photo and the two portraits, RGB uint8, by path relative to the data folder."""
    relative = sorted(str(p.relative_to(shared_data)) for p in (shared_data / "groups").iterdir()) + list(PORTRAITS)
    return {name: read_image(shared_data / name) for name in relative}


def _insightface_detector(path: Path) -> Any:
    detector = SCRFD(model_file=str(path), session=onnxruntime.InferenceSession(str(path), providers=CPU))
    detector.prepare(-1, input_size=(640, 640), det_thresh=0.5)  # what FaceAnalysis.prepare(det_size=(640, 640)) sets
    return detector


def _our_detector(path: Path) -> FaceDetector:
    # insightface has no retry when nothing is found: ours is switched off so that both run exactly once per photo.
    settings = DetectionSettings(retry_smaller=False, pad_retry=False)
    return load_detector(path, providers="cpu", allow_download=False, settings=settings)


@pytest.fixture(scope="module")
def detections(shared_data: Path, photos: dict[str, np.ndarray]) -> dict[tuple[str, str], tuple[Any, list[Face]]]:
    """``(detector, photo) -> ((insightface boxes+scores [N, 5], landmarks [N, 5, 2]), our faces)``."""
    results: dict[tuple[str, str], tuple[Any, list[Face]]] = {}
    for label, file in DETECTORS.items():
        theirs, ours = _insightface_detector(shared_data / "models" / file), _our_detector(shared_data / "models" / file)
        for name, image in photos.items():
            results[(label, name)] = (theirs.detect(_bgr(image)), ours.detect(image))
    return results


@pytest.mark.parametrize("detector", sorted(DETECTORS))
def test_detection_matches_insightface(detector: str, detections: dict[tuple[str, str], tuple[Any, list[Face]]]) -> None:
    checked = 0
    for (label, name), ((boxes, landmarks), faces) in detections.items():
        if label != detector:
            continue
        assert len(faces) == boxes.shape[0], f"{name}: {len(faces)} faces, insightface {boxes.shape[0]}"
        if not faces:
            continue
        ours_boxes = np.stack([f.bbox for f in faces])
        ours_landmarks = np.stack([f.landmarks for f in faces])
        assert _iou(ours_boxes, boxes[:, :4]).min() >= 0.99, name
        np.testing.assert_allclose(ours_landmarks, landmarks, rtol=0, atol=0.01, err_msg=name)
        np.testing.assert_allclose([f.score for f in faces], boxes[:, 4], rtol=0, atol=1e-4, err_msg=name)
        checked += len(faces)
    assert checked >= 80  # the 16 photos hold ~90 faces (29 in Solvay): the comparison did not run on nothing


@pytest.mark.parametrize("detector", sorted(DETECTORS))
def test_alignment_matches_norm_crop(
    detector: str, photos: dict[str, np.ndarray], detections: dict[tuple[str, str], tuple[Any, list[Face]]]
) -> None:
    """Same landmarks in (insightface's), crops out: ``norm_crop`` (BGR) against our ``align_faces`` (RGB)."""
    for (label, name), ((boxes, landmarks), _) in detections.items():
        if label != detector or not boxes.shape[0]:
            continue
        image = photos[name]
        theirs = np.stack([face_align.norm_crop(_bgr(image), points, image_size=112)[:, :, ::-1] for points in landmarks])
        faces = [Face(bbox=box[:4], score=float(box[4]), landmarks=points) for box, points in zip(boxes, landmarks)]
        ours, _ = align_faces(image, faces, "arcface_112", 112)
        difference = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
        assert ours.shape == theirs.shape == (len(faces), 112, 112, 3)
        assert difference.max() <= 1, name
        assert (difference == 0).mean() >= 0.999, f"{name}: {(difference == 0).mean():.5f} of the pixels identical"


@pytest.fixture(scope="module")
def iresnet50_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A float32 IResNet-50 with exactly w600k_r50's graph (random weights, 174 MB, built in a few seconds)."""
    return build_iresnet(tmp_path_factory.mktemp("iresnet50") / "iresnet50_w600k_r50_arch.onnx", IRESNET50, seed=0)


def _face_analysis(folder: Path, detector: Path, recognizer: Path) -> Any:
    """insightface's FaceAnalysis over a model folder holding (links to) exactly these two files."""
    folder.mkdir()
    (folder / "1_detector.onnx").symlink_to(detector)
    (folder / "2_recognizer.onnx").symlink_to(recognizer)
    app = FaceAnalysis(name=str(folder), providers=CPU, allowed_modules=["detection", "recognition"])
    assert isinstance(app.models["recognition"], ArcFaceONNX)
    app.prepare(ctx_id=-1, det_size=(640, 640))
    return app


@pytest.mark.parametrize(
    ("recognizer", "min_cosine"),
    [
        ("iresnet50_synthetic", 0.9999),  # float32: the only difference left is 1-grey-level crop rounding
        ("w600k_mbf_int8_dynamic", 0.99),  # dynamic int8: that rounding noise costs up to ~0.004 of cosine
    ],
)
def test_end_to_end_embeddings_match_face_analysis(
    recognizer: str,
    min_cosine: float,
    shared_data: Path,
    real_models: dict[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """``FaceAnalysis.get`` (detect, then per face norm_crop + one session run) against our ``analyze``."""
    model = request.getfixturevalue("iresnet50_path") if recognizer == "iresnet50_synthetic" else real_models["mbf_int8"]
    app = _face_analysis(tmp_path / "insightface_models", real_models["scrfd"], model)
    detector = _our_detector(real_models["scrfd"])
    ours_recognizer = load_recognizer(model, providers="cpu", allow_download=False)
    cosines: list[float] = []
    for name in END_TO_END_PHOTOS:
        image = read_image(shared_data / name)
        theirs = app.get(_bgr(image))
        analysis = analyze(detector, ours_recognizer, [image], FaceSelection(order="score"))  # insightface keeps score order
        assert analysis.identity is not None and len(theirs) == analysis.identity.embeddings.shape[0], name
        boxes = np.stack([face.bbox for face in theirs])
        ours_boxes = np.stack([face.bbox for face in analysis.faces.faces_per_image[0]])
        assert _iou(ours_boxes, boxes).min() >= 0.99, name
        their_embeddings = np.stack([face.normed_embedding for face in theirs]).astype(np.float64)
        cosines.extend(np.sum(analysis.identity.embeddings.astype(np.float64) * their_embeddings, axis=1).tolist())
    assert len(cosines) == 10
    assert min(cosines) >= min_cosine, f"{recognizer}: min cosine {min(cosines):.6f}"


def test_identical_crops_give_identical_int8_embeddings(real_models: dict[str, Path], real_crops: np.ndarray) -> None:
    """The int8 model's smaller cosine above comes from crop rounding alone: on the same crops, batch 1, it agrees."""
    theirs = ArcFaceONNX(
        model_file=str(real_models["mbf_int8"]),
        session=onnxruntime.InferenceSession(str(real_models["mbf_int8"]), providers=CPU),
    )
    ours = load_recognizer(real_models["mbf_int8"], providers="cpu", allow_download=False)
    assert ours.batch_size == 1  # batch-dependent model: one face per call, as insightface runs it
    their_raw = np.concatenate([theirs.get_feat(_bgr(crop)) for crop in real_crops])
    ours_raw = ours.embed_crops(real_crops).raw
    np.testing.assert_allclose(ours_raw, their_raw, rtol=0, atol=1e-5)
