"""Benchmark inputs: the test-data folder, its photos, the synthetic recognizer and a file of aligned crops."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

RECOGNIZERS_REAL = ("w600k_mbf_int8_dynamic.onnx", "mobilefacenet_foamliu_128d.onnx")
DETECTOR_REAL = "scrfd_2.5g_bnkps_640.onnx"
SYNTHETIC_R50 = "iresnet50_w600k_r50_arch.onnx"
SYNTHETIC_TINY = "iresnet_tiny.onnx"
REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir(explicit: str | None) -> Path | None:
    """``--data``, else ``$FACE_IDENTITY_TEST_DATA``, else ``<repo>/../shared/data``; ``None`` when missing."""
    candidates = [explicit, os.environ.get("FACE_IDENTITY_TEST_DATA"), str(REPO_ROOT.parent / "shared" / "data")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "models").is_dir():
            return Path(candidate)
    return None


def image_files(data: Path | None, dataset: str) -> list[Path]:
    """The photos of ``single`` (``faces/``, one face each) or ``groups`` (``groups/``), sorted."""
    if data is None:
        return []
    folder = data / ("faces" if dataset == "single" else "groups")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def synthetic_recognizer(cache: Path, tiny: bool) -> Path:
    """The synthetic IResNet-50 of w600k_r50's architecture (or the tiny one), built once into ``cache``."""
    from ..devtools.synthetic import IRESNET50, TINY_IRESNET, build_iresnet

    name, config = (SYNTHETIC_TINY, TINY_IRESNET) if tiny else (SYNTHETIC_R50, IRESNET50)
    path = cache / name
    if not path.is_file():
        build_iresnet(path, config, seed=0)
    return path


def prepare_crops(cache: Path, data: Path | None, count: int) -> Path:
    """``count`` aligned 112 RGB crops in ``crops_<count>.npy``: real faces (SCRFD + our alignment) repeated, else noise."""
    target = cache / f"crops_{count}.npy"
    if target.is_file():
        return target
    crops: list[np.ndarray] = []
    if data is not None and (data / "models" / DETECTOR_REAL).is_file():
        from ..align import align_faces
        from ..detect import load_detector
        from ..images import read_image

        detector = load_detector(data / "models" / DETECTOR_REAL, providers="cpu", allow_download=False)
        for file in image_files(data, "single")[: min(count, 75)]:
            image = read_image(file)
            faces = detector.detect(image)
            if faces:
                crop, _ = align_faces(image, faces[:1], "arcface_112", 112)
                crops.append(crop[0])
    if not crops:
        crops = list(np.random.default_rng(0).integers(0, 256, (min(count, 16), 112, 112, 3), dtype=np.uint8))
    repeated = np.stack([crops[i % len(crops)] for i in range(count)]).astype(np.uint8)
    np.save(target, repeated, allow_pickle=False)
    return target
