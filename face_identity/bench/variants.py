"""The ways of doing one workload that the benchmark times side by side (set up untimed, in the worker process).

- ``embed`` (aligned 112 crops): ``reference`` = insightface's ``ArcFaceONNX.get_feat``, one call per
  face; ``ort_raw`` = bare ``session.run`` on a ready blob in batches (the ceiling of any onnxruntime
  path); ``ours_ort`` = ``ArcFaceRecognizer.embed_crops``; ``ours_torch`` = the same on the torch
  backend; ``ours_torch_tensor`` = ``embed_tensor`` on crops already on the device.
- ``pipeline`` (photos): ``reference``/``reference_nospin`` = insightface's ``FaceAnalysis`` loop (with
  onnxruntime's thread spinning on, as insightface leaves it, or off); ``ours_ort`` = ``analyze``;
  ``ours_stream`` = ``analyze`` with the onnxruntime recognizer; ``ours_torch`` =
  ``analyze`` with the torch recognizer (and the torch detector on a GPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..detect import FaceDetector, TorchFaceDetector
    from ..protocols import Detector

REFERENCE_VARIANTS = ("reference", "reference_nospin")


@dataclass
class Variant:
    """One way of doing a workload: ``run(lo, hi)`` processes inputs ``lo..hi`` (crops or images)."""

    run: Callable[[int, int], Any]
    warm: Callable[[], Any]
    items: int
    note: str


def providers_for(device: str) -> list[str]:
    """onnxruntime providers for a torch-style device string: CUDA first on ``cuda`` when this onnxruntime has it."""
    import onnxruntime

    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") else ["CPUExecutionProvider"]
    available = set(onnxruntime.get_available_providers())
    return [p for p in wanted if p in available] or ["CPUExecutionProvider"]


def load_torch_detector(detector: FaceDetector, device: str, dtype: str) -> TorchFaceDetector:
    """The torch version of an onnxruntime ``FaceDetector`` on ``device``."""
    from ..detect import load_torch_detector

    return load_torch_detector(detector, device=device, dtype=dtype)


def _embed_variant(spec: dict[str, Any]) -> Variant:
    import torch

    from ..embed import load_recognizer
    from .reference import InsightFaceReference

    device, variant = spec["device"], spec["variant"]
    providers = providers_for(device)
    ort_choice = "cuda" if device.startswith("cuda") else "cpu"
    recognizer_path = Path(spec["recognizer"])
    crops = np.load(spec["crops"], allow_pickle=False)
    count = int(crops.shape[0])
    if variant == "reference":
        loop = InsightFaceReference(None, recognizer_path, providers)
        bgr = [np.ascontiguousarray(c[:, :, ::-1]) for c in crops]
        return Variant(
            lambda lo, hi: np.stack([loop.embed_one(c) for c in bgr[lo:hi]]), lambda: loop.embed_one(bgr[0]), count, "batch 1"
        )
    if variant == "ort_raw":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(recognizer_path), providers=providers)
        name = session.get_inputs()[0].name
        blob = load_recognizer(recognizer_path, providers=ort_choice, allow_download=False).preprocess(crops)
        batch = spec["batch_size"]

        def raw(lo: int, hi: int) -> np.ndarray:
            return np.concatenate([session.run(None, {name: blob[i : min(i + batch, hi)]})[0] for i in range(lo, hi, batch)])

        return Variant(raw, lambda: session.run(None, {name: blob[: min(batch, count)]}), count, f"batch {batch}")
    backend = "onnxruntime" if variant == "ours_ort" else "torch"
    recognizer = load_recognizer(
        recognizer_path,
        providers=ort_choice,
        backend=backend,
        device=device,
        dtype=spec.get("dtype", "float32"),
        allow_download=False,
    )
    note = f"batch {recognizer.batch_size}, {recognizer.backend.describe()}"
    if variant == "ours_torch_tensor":
        tensor = torch.from_numpy(crops).to(device).permute(0, 3, 1, 2).float().contiguous()
        return Variant(
            lambda lo, hi: recognizer.embed_tensor(tensor[lo:hi]).raw,
            lambda: recognizer.embed_tensor(tensor[: recognizer.batch_size]),
            count,
            note,
        )
    return Variant(
        lambda lo, hi: recognizer.embed_crops(crops[lo:hi]).raw,
        lambda: recognizer.embed_crops(crops[: recognizer.batch_size]),
        count,
        note,
    )


def _pipeline_variant(spec: dict[str, Any]) -> Variant:
    from ..detect import load_detector
    from ..embed import load_recognizer
    from ..images import read_image
    from ..pipeline import analyze
    from .reference import InsightFaceReference

    device, variant = spec["device"], spec["variant"]
    ort_choice = "cuda" if device.startswith("cuda") else "cpu"
    images = [read_image(p) for p in spec["images"]]
    detector_path, recognizer_path = Path(spec["detector"]), Path(spec["recognizer"])
    if variant in REFERENCE_VARIANTS:
        loop = InsightFaceReference(detector_path, recognizer_path, providers_for(device), spinning=variant == "reference")
        bgr_images = [np.ascontiguousarray(image[:, :, ::-1]) for image in images]
        return Variant(
            lambda lo, hi: [loop.analyze(i) for i in bgr_images[lo:hi]],
            lambda: [loop.analyze(i) for i in bgr_images[:2]],
            len(images),
            "batch 1",
        )
    dtype = spec.get("dtype", "float32")
    detector = load_detector(detector_path, providers=ort_choice, allow_download=False)
    recognizer = load_recognizer(
        recognizer_path,
        providers=ort_choice,
        backend="torch" if variant == "ours_torch" else "onnxruntime",
        device=device,
        dtype=dtype,
        allow_download=False,
    )
    note = f"batch {recognizer.batch_size}, {recognizer.backend.describe()}"
    if variant == "ours_ort":
        return Variant(
            lambda lo, hi: analyze(detector, recognizer, images[lo:hi]),
            lambda: analyze(detector, recognizer, images[:2]),
            len(images),
            note,
        )
    stream_detector: Detector = detector
    if variant == "ours_torch" and not device.startswith("cpu"):
        stream_detector = load_torch_detector(detector, device, dtype)
        note += f", detector {stream_detector.describe()}"
    return Variant(
        lambda lo, hi: analyze(stream_detector, recognizer, images[lo:hi], device=device),
        lambda: analyze(stream_detector, recognizer, images[:2], device=device),
        len(images),
        note,
    )


def setup_variant(spec: dict[str, Any]) -> Variant:
    """Load one variant's models and inputs (not timed)."""
    return _embed_variant(spec) if spec["section"] == "embed" else _pipeline_variant(spec)


def embeddings_of(result: Any, section: str, variant: str) -> np.ndarray:
    """Unit-length embeddings ``[F, D]`` float32 of a variant's output (to compare variants afterwards)."""
    if section == "embed":
        raw = np.asarray(result, dtype=np.float64)
        return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    if variant in REFERENCE_VARIANTS:
        rows = [e for image in result for e in image]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 1), np.float32)
    return result.identity.embeddings if result.identity is not None else np.zeros((0, 1), np.float32)
