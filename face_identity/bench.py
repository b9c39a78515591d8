"""Benchmark: insightface's per-face loop vs our batched onnxruntime path vs our torch path, side by side.

``python -m face_identity.bench [--quick] [--device cpu|cuda] [--json out.json] [--data DIR]``

Measured in one run. The variants of one workload run in one worker process, interleaved slice by slice
so machine noise hits them alike; "run MB" is the peak resident memory a run adds (Linux VmHWM reset
before each run), "proc MB" the worker's peak, "gpu_peak_mb" (JSON) torch's peak CUDA allocation.

- ``embed``: embedding alone on aligned 112 crops. ``reference`` = FaceAnalysis' way, one
  onnxruntime call per face with ``cv2.dnn.blobFromImages`` preprocessing; ``ort_raw`` =
  ``session.run`` on a pre-made blob in batches (the ceiling for any onnxruntime path);
  ``ours_ort`` = ``ArcFaceRecognizer.embed_crops``; ``ours_torch`` = the same with the torch backend
  (``ours_torch_tensor``: crops already on the device, ``embed_tensor``).
- ``pipeline``: detect + align + embed on single-face photos (``faces/``) and group photos
  (``groups/``). ``reference`` = FaceAnalysis' way (SCRFD with ``blobFromImage``, then per face
  ``estimate_norm`` + ``cv2.warpAffine`` + one recognizer call, default onnxruntime sessions);
  ``reference_nospin`` = the same with thread spinning off (alternating two sessions whose idle
  threads spin costs the plain loop a lot on few cores; "x nospin" compares with this stricter
  baseline); ``ours_ort`` = ``pipeline.analyze``;
  ``ours_stream`` = ``stream.analyze_stream`` with the onnxruntime recognizer; ``ours_torch`` =
  ``analyze_stream`` with the torch recognizer (and the torch detector on a GPU).

Models: a synthetic IResNet-50 with exactly w600k_r50's architecture (built once into the cache
folder; cost does not depend on weight values) and the real small models of the test data
(``w600k_mbf_int8_dynamic.onnx``, ``mobilefacenet_foamliu_128d.onnx``, ``scrfd_2.5g_bnkps_640.onnx``).
Timings are medians of ``--repeats`` runs after a warm-up; threads are onnxruntime's and torch's
defaults (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RECOGNIZERS_REAL = ("w600k_mbf_int8_dynamic.onnx", "mobilefacenet_foamliu_128d.onnx")
DETECTOR_REAL = "scrfd_2.5g_bnkps_640.onnx"
SYNTHETIC_R50 = "iresnet50_w600k_r50_arch.onnx"
SYNTHETIC_TINY = "iresnet_tiny.onnx"


# --------------------------------------------------------------------------------------------------
# Machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> dict[str, Any]:
    """CPU, cores, GPU, load and library versions, for the report header."""
    import cv2
    import onnxruntime
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_providers": list(onnxruntime.get_available_providers()),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "opencv": cv2.__version__,
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "onnxruntime_threads": "default (one per physical core)",
    }
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()]
    return info


# --------------------------------------------------------------------------------------------------
# Inputs


def data_dir(explicit: str | None) -> Path | None:
    """``--data``, else ``$FACE_IDENTITY_TEST_DATA``, else ``<repo>/../shared/data``; ``None`` when missing."""
    candidates = [
        explicit,
        os.environ.get("FACE_IDENTITY_TEST_DATA"),
        str(Path(__file__).resolve().parents[2] / "shared" / "data"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "models").is_dir():
            return Path(candidate)
    return None


def image_files(data: Path | None, dataset: str) -> list[Path]:
    if data is None:
        return []
    folder = data / ("faces" if dataset == "single" else "groups")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def build_models(cache: Path, quick: bool) -> dict[str, Path]:
    """The synthetic recognizer for this run (IResNet-50, or the tiny one with ``--quick``), built once."""
    from .devtools.synthetic import IRESNET50, TINY_IRESNET, build_iresnet

    name, config = (SYNTHETIC_TINY, TINY_IRESNET) if quick else (SYNTHETIC_R50, IRESNET50)
    path = cache / name
    if not path.is_file():
        build_iresnet(path, config, seed=0)
    return {"synthetic": path}


def prepare_crops(cache: Path, data: Path | None, count: int) -> Path:
    """``count`` aligned 112 RGB crops in ``crops_<count>.npy``: real faces (SCRFD + our alignment) repeated, else noise."""
    target = cache / f"crops_{count}.npy"
    if target.is_file():
        return target
    crops: list[np.ndarray] = []
    if data is not None and (data / "models" / DETECTOR_REAL).is_file():
        from .align import align_faces
        from .detect import load_detector
        from .images import read_image

        detector = load_detector(data / "models" / DETECTOR_REAL, providers="cpu")
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


# --------------------------------------------------------------------------------------------------
# Reference: what insightface's FaceAnalysis does (detect, then per face: norm_crop + one session.run)


class ReferenceLoop:
    """FaceAnalysis-style processing with raw onnxruntime sessions and OpenCV, on BGR images."""

    def __init__(self, detector_path: Path | None, recognizer_path: Path, providers: list[str], spinning: bool = True) -> None:
        import onnxruntime

        from .onnx_graph import read_graph_facts

        options = onnxruntime.SessionOptions()
        if not spinning:
            # insightface leaves this on: idle threads of one session then spin while the other session runs.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.recognizer = onnxruntime.InferenceSession(str(recognizer_path), options, providers=providers)
        self.recognizer_input = self.recognizer.get_inputs()[0].name
        facts = read_graph_facts(recognizer_path)
        self.mean, self.std = facts.input_mean, facts.input_std
        self.detector = onnxruntime.InferenceSession(str(detector_path), options, providers=providers) if detector_path else None
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}

    def embed_one(self, crop_bgr: np.ndarray) -> np.ndarray:
        import cv2

        blob = cv2.dnn.blobFromImages([crop_bgr], 1.0 / self.std, (112, 112), (self.mean,) * 3, swapRB=True)
        return self.recognizer.run(None, {self.recognizer_input: blob})[0].reshape(-1)

    def detect(self, image_bgr: np.ndarray, threshold: float = 0.5, size: int = 640) -> tuple[np.ndarray, np.ndarray]:
        """SCRFD as insightface runs it: letterbox, ``blobFromImage(1/128, mean 127.5, swapRB)``, decode all anchors, NMS."""
        import cv2

        from .detect.postprocess import nms

        assert self.detector is not None
        height, width = image_bgr.shape[:2]
        if height / width > 1.0:
            new_height, new_width = size, int(size / (height / width))
        else:
            new_width, new_height = size, int(size * (height / width))
        scale = new_height / height
        canvas = np.zeros((size, size, 3), dtype=np.uint8)
        canvas[:new_height, :new_width] = cv2.resize(image_bgr, (new_width, new_height))
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128.0, (size, size), (127.5, 127.5, 127.5), swapRB=True)
        outputs = self.detector.run(None, {self.detector.get_inputs()[0].name: blob})
        boxes_list, scores_list, landmarks_list = [], [], []
        for level, stride in enumerate((8, 16, 32)):
            scores = outputs[level].reshape(-1)
            distances = outputs[level + 3].reshape(-1, 4) * stride
            offsets = outputs[level + 6].reshape(-1, 10) * stride
            key = (size // stride, size // stride, stride)
            if key not in self._centres:
                rows, columns = np.mgrid[: key[0], : key[1]]
                grid = np.stack([columns, rows], axis=-1).astype(np.float32)
                self._centres[key] = np.repeat((grid * stride).reshape(-1, 2), 2, axis=0)
            centres = self._centres[key]
            boxes = np.concatenate([centres - distances[:, :2], centres + distances[:, 2:]], axis=1)
            landmarks = centres[:, None, :] + offsets.reshape(-1, 5, 2)
            keep = np.where(scores >= threshold)[0]
            boxes_list.append(boxes[keep])
            scores_list.append(scores[keep])
            landmarks_list.append(landmarks[keep])
        boxes = np.concatenate(boxes_list) / scale
        scores = np.concatenate(scores_list)
        landmarks = np.concatenate(landmarks_list) / scale
        keep = nms(boxes, scores, 0.4)
        return boxes[keep], landmarks[keep]

    def analyze(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        import cv2

        from .align import alignment_matrix

        _, landmarks = self.detect(image_bgr)
        embeddings = []
        for points in landmarks:
            matrix = alignment_matrix(points, "arcface_112", 112)
            crop = cv2.warpAffine(image_bgr, matrix, (112, 112), borderValue=0.0)
            embedding = self.embed_one(crop)
            embeddings.append(embedding / np.linalg.norm(embedding))
        return embeddings


# --------------------------------------------------------------------------------------------------
# One stage (runs in its own process)


def _memory_mb(field: str) -> float | None:
    """``VmHWM`` (peak) or ``VmRSS`` (current) of this process in MB, from /proc (Linux); ``None`` elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_memory() -> bool:
    """Reset the process' peak-RSS mark (Linux ``clear_refs`` 5); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _maxrss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _providers(device: str) -> list[str]:
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") else ["CPUExecutionProvider"]


@dataclass
class Variant:
    """One way of doing a workload: ``run(lo, hi)`` processes inputs ``lo..hi`` (crops or images)."""

    run: Callable[[int, int], Any]
    warm: Callable[[], Any]
    items: int
    note: str


def setup_variant(spec: dict[str, Any]) -> Variant:
    """Load one variant's models and inputs (not timed)."""
    import torch

    from .detect import load_detector, load_torch_detector
    from .embed import load_recognizer
    from .images import read_image
    from .pipeline import analyze
    from .stream import analyze_stream

    device = spec["device"]
    providers = _providers(device)
    ort_choice = "cuda" if device.startswith("cuda") else "cpu"
    variant, section = spec["variant"], spec["section"]
    recognizer_path = Path(spec["recognizer"])
    dtype = spec.get("dtype", "float32")
    if section == "embed":
        crops = np.load(spec["crops"], allow_pickle=False)
        count = int(crops.shape[0])
        if variant == "reference":
            loop = ReferenceLoop(None, recognizer_path, providers)
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
            recognizer_path, providers=ort_choice, backend=backend, device=device, dtype=dtype, allow_download=False
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

    images = [read_image(p) for p in spec["images"]]
    detector_path = Path(spec["detector"])
    if variant in ("reference", "reference_nospin"):
        loop = ReferenceLoop(detector_path, recognizer_path, providers, spinning=variant == "reference")
        bgr_images = [np.ascontiguousarray(image[:, :, ::-1]) for image in images]
        return Variant(
            lambda lo, hi: [loop.analyze(i) for i in bgr_images[lo:hi]],
            lambda: [loop.analyze(i) for i in bgr_images[:2]],
            len(images),
            "batch 1",
        )
    backend = "torch" if variant == "ours_torch" else "onnxruntime"
    detector = load_detector(detector_path, providers=ort_choice, allow_download=False)
    recognizer = load_recognizer(
        recognizer_path, providers=ort_choice, backend=backend, device=device, dtype=dtype, allow_download=False
    )
    note = f"batch {recognizer.batch_size}, {recognizer.backend.describe()}"
    if variant == "ours_ort":
        return Variant(
            lambda lo, hi: analyze(detector, recognizer, images[lo:hi]),
            lambda: analyze(detector, recognizer, images[:2]),
            len(images),
            note,
        )
    stream_detector: Any = detector
    if variant == "ours_torch" and not device.startswith("cpu"):
        stream_detector = load_torch_detector(detector, device=device, dtype=dtype)
        note += f", detector {stream_detector.describe()}"
    return Variant(
        lambda lo, hi: analyze_stream(stream_detector, recognizer, images[lo:hi], device=device),
        lambda: analyze_stream(stream_detector, recognizer, images[:2], device=device),
        len(images),
        note,
    )


def _slices(count: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, count)) for lo in range(0, count, max(size, 1))]


def run_group(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time the variants of one workload in this process, interleaved slice by slice.

    The inputs are cut into slices (``slice`` crops or images); each repeat runs every variant on
    slice 1, then every variant on slice 2, ..., rotating the order, so load from other processes
    hits all variants alike. A repeat's time is the sum over slices; the median repeat is reported.
    """
    import torch

    device = specs[0]["device"]
    on_cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if on_cuda else (lambda: None)
    variants = []
    for spec in specs:
        variant = setup_variant(spec)
        for _ in range(spec.get("warmups", 1)):
            variant.warm()
        variants.append(variant)
    sync()
    slices = _slices(variants[0].items, specs[0].get("slice", variants[0].items))
    repeats = specs[0]["repeats"]
    times = [[0.0] * repeats for _ in specs]
    peaks = [0.0 for _ in specs]
    gpu_peaks = [0.0 for _ in specs]
    outputs: list[list[Any]] = [[None] * len(slices) for _ in specs]
    turn = 0
    for repeat in range(repeats):
        for part, (lo, hi) in enumerate(slices):
            order = list(range(len(specs)))
            turn += 1
            order = order[turn % len(order) :] + order[: turn % len(order)]
            for index in order:
                resettable = _reset_peak_memory()
                before = _memory_mb("VmRSS") if resettable else _maxrss_mb()
                if on_cuda:
                    torch.cuda.reset_peak_memory_stats()
                sync()
                start = time.perf_counter()
                outputs[index][part] = variants[index].run(lo, hi)
                sync()
                times[index][repeat] += time.perf_counter() - start
                after = _memory_mb("VmHWM") if resettable else _maxrss_mb()
                peaks[index] = max(peaks[index], (after or 0.0) - (before or 0.0))
                if on_cuda:
                    gpu_peaks[index] = max(gpu_peaks[index], torch.cuda.max_memory_allocated() / 2**20)
    results = []
    for index, spec in enumerate(specs):
        parts = [_embeddings_of(output, spec["section"], spec["variant"]) for output in outputs[index]]
        parts = [p for p in parts if p.shape[0]]
        embeddings = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
        faces = int(embeddings.shape[0])
        if spec.get("output"):
            np.save(spec["output"], embeddings.astype(np.float32), allow_pickle=False)
        median = statistics.median(times[index])
        results.append(
            {
                **{k: v for k, v in spec.items() if k in ("section", "variant", "model", "dataset", "dtype", "device")},
                "faces": faces,
                "images": variants[index].items if spec["section"] == "pipeline" else 0,
                "slices": len(slices),
                "seconds": median,
                "runs": [round(t, 4) for t in times[index]],
                "faces_per_s": faces / median if median > 0 else float("nan"),
                "ms_per_face": 1000 * median / faces if faces else float("nan"),
                "run_peak_mb": round(peaks[index], 1),
                "process_peak_mb": round(_maxrss_mb(), 1),
                "gpu_peak_mb": round(gpu_peaks[index], 1) if on_cuda else None,
                "note": variants[index].note,
            }
        )
    return results


def _embeddings_of(result: Any, section: str, variant: str) -> np.ndarray:
    """Unit-length embeddings of a stage's last run (to compare variants afterwards)."""
    if section == "embed":
        raw = np.asarray(result, dtype=np.float64)
        return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    if variant in ("reference", "reference_nospin"):
        rows = [e for image in result for e in image]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 1), np.float32)
    return result.identity.embeddings if result.identity is not None else np.zeros((0, 1), np.float32)


# --------------------------------------------------------------------------------------------------
# Orchestration


def _run_isolated(specs: list[dict[str, Any]], in_process: bool) -> list[dict[str, Any]]:
    if in_process:
        return run_group(specs)
    completed = subprocess.run(
        [sys.executable, "-m", "face_identity.bench", "--worker", json.dumps(specs)],
        capture_output=True,
        text=True,
        cwd=str(Path(__file__).resolve().parents[1]),
        check=False,
    )
    if completed.returncode != 0:
        error = completed.stderr.strip().splitlines()[-1:]
        return [
            {**{k: spec.get(k) for k in ("section", "variant", "model", "dataset", "dtype")}, "error": error} for spec in specs
        ]
    return list(json.loads(completed.stdout.strip().splitlines()[-1]))


def plan_stages(args: argparse.Namespace, cache: Path, data: Path | None) -> list[dict[str, Any]]:
    """Every (section, model, dataset, variant, precision) to measure."""
    from .embed import AUTO_BATCH_CPU, AUTO_BATCH_GPU

    device = args.device
    on_gpu = not device.startswith("cpu")
    models = build_models(cache, args.quick)
    recognizers: dict[str, Path] = {"iresnet50_synthetic" if not args.quick else "iresnet_tiny": models["synthetic"]}
    if data is not None and not args.quick:
        for name in RECOGNIZERS_REAL:
            if (data / "models" / name).is_file():
                recognizers[Path(name).stem] = data / "models" / name
    crops = prepare_crops(cache, data, args.faces)
    batch = AUTO_BATCH_GPU if on_gpu else AUTO_BATCH_CPU
    precisions = ["float32"] + (["float16", "bfloat16"] if on_gpu or args.cpu_half else [])
    stages: list[dict[str, Any]] = []
    common = {"device": device, "repeats": args.repeats, "warmups": args.warmups}
    for model, path in recognizers.items():
        base = {
            **common,
            "section": "embed",
            "model": model,
            "recognizer": str(path),
            "crops": str(crops),
            "batch_size": batch,
            "slice": args.slice_faces or 2 * batch,
        }
        for variant in ("reference", "ort_raw", "ours_ort"):
            stages.append({**base, "variant": variant})
        for dtype in precisions:
            stages.append({**base, "variant": "ours_torch", "dtype": dtype})
            if on_gpu:
                stages.append({**base, "variant": "ours_torch_tensor", "dtype": dtype})
    detector = data / "models" / DETECTOR_REAL if data is not None else None
    if detector is not None and detector.is_file():
        for dataset in ("single", "groups"):
            files = image_files(data, dataset)
            if dataset == "single":
                files = files[: args.images]
            elif args.quick:
                files = [f for f in files if f.name == "insightface_t1.jpg"] or files[:1]
            for model, path in recognizers.items():
                slice_images = args.slice_images or (16 if dataset == "single" else 7)
                base = {
                    "slice": slice_images,
                    **common,
                    "section": "pipeline",
                    "model": model,
                    "dataset": dataset,
                    "recognizer": str(path),
                    "detector": str(detector),
                    "images": [str(f) for f in files],
                }
                for variant in ("reference", "reference_nospin", "ours_ort", "ours_stream"):
                    stages.append({**base, "variant": variant})
                for dtype in precisions[: 1 if not on_gpu else None]:
                    stages.append({**base, "variant": "ours_torch", "dtype": dtype})
    for index, stage in enumerate(stages):
        stage["output"] = str(cache / f"stage_{index}.npy")
    return stages


def _min_best_cosine(ours: np.ndarray, theirs: np.ndarray, ordered: bool) -> float:
    """Smallest cosine between a row of ``ours`` and its counterpart in ``theirs`` (same row, or the best match
    when the two list faces in different orders); NaN when the face counts differ."""
    if ours.shape != theirs.shape or ours.size == 0:
        return float("nan")
    products = ours.astype(np.float64) @ theirs.astype(np.float64).T
    return float(np.diagonal(products).min() if ordered else products.max(axis=1).min())


def add_comparisons(results: list[dict[str, Any]], stages: list[dict[str, Any]]) -> None:
    """Ratios to the reference loop (and to raw batched onnxruntime), and each variant's min cosine to the reference."""
    by_key: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
    for result, stage in zip(results, stages, strict=False):
        by_key[
            (result.get("section"), result.get("model"), result.get("dataset"), result.get("variant"), result.get("dtype"))
        ] = (result, stage)
    for result, stage in zip(results, stages, strict=False):
        if "error" in result:
            continue
        key = (result["section"], result["model"], result.get("dataset"))
        reference = by_key.get((*key, "reference", None))
        raw = by_key.get((*key, "ort_raw", None))
        if reference and "error" not in reference[0]:
            result["x_reference"] = result["faces_per_s"] / reference[0]["faces_per_s"]
            try:
                ours = np.load(stage["output"], allow_pickle=False)
                theirs = np.load(reference[1]["output"], allow_pickle=False)
                result["min_cos_reference"] = _min_best_cosine(ours, theirs, ordered=result["section"] == "embed")
            except (OSError, ValueError):
                pass
        if raw and "error" not in raw[0]:
            result["x_ort_raw"] = raw[0]["seconds"] / result["seconds"]
        quiet = by_key.get((*key, "reference_nospin", None))
        if quiet and "error" not in quiet[0]:
            result["x_reference_nospin"] = result["faces_per_s"] / quiet[0]["faces_per_s"]


TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("faces_per_s", "faces/s", "8.2f"),
    ("ms_per_face", "ms/face", "8.1f"),
    ("x_reference", "x ref", "6.3f"),
    ("x_ort_raw", "x raw", "6.3f"),
    ("x_reference_nospin", "x nospin", "8.3f"),
    ("min_cos_reference", "cos ref", "8.5f"),
    ("run_peak_mb", "run MB", "7.0f"),
    ("process_peak_mb", "proc MB", "7.0f"),
)
"""Numeric table columns: result key, header, format."""


def _cell(result: dict[str, Any], key: str, spec: str) -> str:
    value = result.get(key)
    if isinstance(value, (int, float)) and value == value:
        return format(value, spec)
    return "-".rjust(int(spec.split(".")[0]))


def format_table(results: list[dict[str, Any]]) -> str:
    """A fixed-width table of the results."""
    numbers = " ".join(f"{title:>{spec.split('.')[0]}}" for _, title, spec in TABLE_COLUMNS)
    header = f"{'section':8} {'model':28} {'data':6} {'variant':18} {'dtype':8} {'faces':>5} {numbers}  note"
    lines = [header, "-" * len(header)]
    for r in results:
        label = f"{r.get('section', ''):8} {r.get('model', ''):28} {str(r.get('dataset') or '-'):6} {r.get('variant', ''):18}"
        if "error" in r:
            lines.append(f"{label} ERROR {r['error']}")
            continue
        cells = " ".join(_cell(r, key, spec) for key, _, spec in TABLE_COLUMNS)
        lines.append(f"{label} {str(r.get('dtype') or '-'):8} {r['faces']:5d} {cells}  {r.get('note', '')}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m face_identity.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: tiny synthetic IResNet, few faces and images, 1 repeat, in process"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--json", type=Path, default=None, help="also write the machine info and results as JSON here")
    parser.add_argument(
        "--data", default=None, help="test data folder (default $FACE_IDENTITY_TEST_DATA or <repo>/../shared/data)"
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="where the synthetic model and crops are kept (default: temp folder)"
    )
    parser.add_argument("--faces", type=int, default=None, help="crops for the embedding stage (default 256, quick 8)")
    parser.add_argument(
        "--images", type=int, default=None, help="single-face photos for the pipeline stage (default 64, quick 3)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per stage; the median is reported (default 3, quick 1)"
    )
    parser.add_argument("--warmups", type=int, default=1, help="warm-up calls before timing (default 1)")
    parser.add_argument("--slice-faces", type=int, default=None, help="crops per interleaving slice (default 2 batches)")
    parser.add_argument(
        "--slice-images", type=int, default=None, help="images per interleaving slice (default 16 single, 7 groups)"
    )
    parser.add_argument(
        "--cpu-half", action="store_true", help="also time float16/bfloat16 torch on the CPU (very slow without native support)"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="run every workload in this process instead of one process per workload"
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated sections or datasets to run (embed, pipeline, single, groups)"
    )
    parser.add_argument("--models", default=None, help="comma-separated model labels to run (e.g. iresnet50_synthetic)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker is not None:
        print(json.dumps(run_group(json.loads(args.worker))))
        return 0
    args.faces = args.faces or (8 if args.quick else 256)
    args.images = args.images or (3 if args.quick else 64)
    args.repeats = args.repeats or (1 if args.quick else 3)
    in_process = args.in_process or args.quick
    cache = args.cache or Path(tempfile.gettempdir()) / "face_identity_bench"
    cache.mkdir(parents=True, exist_ok=True)
    data = data_dir(args.data)
    info = machine_info(args.device)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    if data is None:
        print("test data not found: real models and photos are skipped (set --data or FACE_IDENTITY_TEST_DATA)", flush=True)
    stages = plan_stages(args, cache, data)
    if args.only:
        wanted = {part.strip() for part in args.only.split(",")}
        stages = [s for s in stages if s["section"] in wanted or s.get("dataset") in wanted]
    if args.models:
        models = {part.strip() for part in args.models.split(",")}
        stages = [s for s in stages if s["model"] in models]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for stage in stages:
        groups.setdefault((stage["section"], stage["model"], stage.get("dataset")), []).append(stage)
    results, ordered_stages = [], []
    for group in groups.values():
        for stage, result in zip(group, _run_isolated(group, in_process), strict=False):
            results.append(result)
            ordered_stages.append(stage)
            label = (
                f"{stage['section']} {stage['model']} {stage.get('dataset') or ''} {stage['variant']} {stage.get('dtype') or ''}"
            )
            summary = result.get("error") or f"{result['faces_per_s']:.2f} faces/s ({result['ms_per_face']:.1f} ms/face)"
            print(f"  {' '.join(label.split())}: {summary}", flush=True)
    add_comparisons(results, ordered_stages)
    print()
    print(format_table(results))
    if hasattr(os, "getloadavg"):
        info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=1, default=str))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
