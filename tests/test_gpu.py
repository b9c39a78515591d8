"""GPU checks (marker ``gpu``; ``scripts/gpu_check.sh`` runs them): the torch paths on a CUDA device give the same faces
and embeddings as the onnxruntime CPU path. Without CUDA every test here skips with the reason.

Tolerances: float32 on a GPU differs from onnxruntime on the CPU by summation order (and TF32 where torch allows
it), float16/bfloat16 by their mantissas (10 and 7 bits); the device letterbox resizes in float where cv2
resizes uint8, which moves boxes and landmarks by sub-pixel amounts (the CPU torch detector test allows the same
1.5 px).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from face_identity.align import align_faces, warp_faces_torch  # noqa: E402
from face_identity.detect import FaceDetector  # noqa: E402
from face_identity.embed import load_recognizer  # noqa: E402
from face_identity.images import read_image  # noqa: E402
from face_identity.pipeline import analyze  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device visible to torch"),
]

MIN_COSINE = {"float32": 0.9999, "float16": 0.999, "bfloat16": 0.99}


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))  # converted graphs are cached there


def _load_torch_detector(detector: FaceDetector, **options: Any) -> Any:
    from face_identity.detect import load_torch_detector

    return load_torch_detector(detector, **options)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_torch_embedding_on_cuda_matches_onnxruntime_cpu(dtype: str, tiny_recognizer_path: Path, real_crops: np.ndarray) -> None:
    reference = load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)
    on_gpu = load_recognizer(tiny_recognizer_path, backend="torch", device="cuda", dtype=dtype, allow_download=False)
    assert "cuda" in on_gpu.backend.describe()
    expected = reference.embed_crops(real_crops).normalised
    from_host = on_gpu.embed_crops(real_crops).normalised
    crops_on_device = torch.from_numpy(real_crops).cuda().permute(0, 3, 1, 2).float()
    from_device = on_gpu.embed_tensor(crops_on_device).normalised
    for found in (from_host, from_device):
        assert np.isfinite(found).all()
        cosines = (found.astype(np.float64) * expected).sum(axis=1)
        assert cosines.min() >= MIN_COSINE[dtype], f"{dtype}: {cosines.min():.6f}"


def test_alignment_on_the_device_matches_cv2(scrfd_detector: FaceDetector, shared_data: Path) -> None:
    image = read_image(shared_data / "groups" / "insightface_t1.jpg")
    expected, faces = align_faces(image, scrfd_detector.detect(image), "arcface_112", 112)
    assert len(faces) == 6
    images = torch.from_numpy(image).cuda().permute(2, 0, 1)[None].float()
    matrices = np.stack([face.align_matrix for face in faces])
    crops = warp_faces_torch(images, matrices, [0] * len(faces), 112)
    assert crops.device.type == "cuda"
    difference = np.abs(crops.permute(0, 2, 3, 1).cpu().numpy() - expected.astype(np.float32))
    assert difference.mean() <= 1.0  # grey levels: interpolation rounding only
    assert difference.max() <= 4.0


def test_torch_detector_on_cuda_finds_the_onnxruntime_faces(scrfd_detector: FaceDetector, solvay_image: np.ndarray) -> None:
    on_gpu = _load_torch_detector(scrfd_detector, device="cuda", cache=False)
    expected = scrfd_detector.detect(solvay_image)
    found = on_gpu.detect(solvay_image)
    assert len(expected) == 29 and len(found) == len(expected)
    for mine, theirs in zip(sorted(found, key=lambda f: f.bbox[0]), sorted(expected, key=lambda f: f.bbox[0]), strict=True):
        np.testing.assert_allclose(mine.bbox, theirs.bbox, atol=1.5)
        np.testing.assert_allclose(mine.landmarks, theirs.landmarks, atol=1.5)
        assert abs(mine.score - theirs.score) < 0.02


def test_stream_on_cuda_matches_the_cpu_pipeline(
    scrfd_detector: FaceDetector, tiny_recognizer_path: Path, shared_data: Path
) -> None:
    photos = [read_image(shared_data / "groups" / name) for name in ("insightface_t1.jpg", "face_recognition_two_people.jpg")]
    reference = analyze(scrfd_detector, load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False), photos)
    on_gpu = load_recognizer(tiny_recognizer_path, backend="torch", device="cuda", allow_download=False)
    result = analyze(_load_torch_detector(scrfd_detector, device="cuda", cache=False), on_gpu, photos, device="cuda")
    assert reference.identity is not None and result.identity is not None
    assert [len(f) for f in result.faces.faces_per_image] == [len(f) for f in reference.faces.faces_per_image] == [6, 2]
    cosines = (result.identity.embeddings.astype(np.float64) @ reference.identity.embeddings.T).max(axis=1)
    assert cosines.min() >= 0.99  # device letterbox and grid_sample alignment: sub-pixel differences only
