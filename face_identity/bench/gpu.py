"""The GPU check's benchmark: ``python -m face_identity.bench.gpu OUT_DIR`` (``scripts/gpu_check.sh`` runs it).

Three measurements, written to ``OUT_DIR/gpu_check.json`` and ``OUT_DIR/gpu_check.md``:

1. **Embedding sweep**: the synthetic IResNet-50 (w600k_r50's architecture, random weights) on the torch
   backend in float32/float16/bfloat16 at batch 1 to 512, crops from the host (``embed_crops``) and,
   at the largest batch, already on the device (``embed_tensor``); against insightface's per-face
   loop (its ``ArcFaceONNX.get_feat``, one onnxruntime call per face, with this machine's onnxruntime
   providers). Each row gives faces/s, the ratio to the loop, the smallest cosine to the loop's
   embeddings and torch's peak device memory.
2. **Pipeline on the group photos**: detect + align + embed (14 photos, 92 faces; 3 with ``--quick``) as the main
   benchmark times it: insightface's loop, ``analyze`` (onnxruntime) and ``analyze`` on the
   torch backend (torch detector on the GPU) in each precision.
3. **Long-batch swap**: detect + swap on a short and a long batch of frames in chunks, with a
   synthetic inswapper (inswapper_128's I/O): frames/s and peak memory, which must not grow with the
   batch length.

Without CUDA it runs the same code on the CPU with a tiny model and few faces (``--quick`` is then
implied), says so, and marks every figure as not a GPU figure. ``--budget-s`` bounds the wall time:
rows that would start after it are listed as skipped.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .inputs import DETECTOR_REAL, data_dir, image_files, prepare_crops, synthetic_recognizer
from .machine import machine_info, maxrss_mb, memory_mb, reset_peak_memory
from .reference import InsightFaceReference, insightface_missing
from .report import add_comparisons
from .timing import run_group
from .variants import providers_for
from .video import run_in_subprocess

if TYPE_CHECKING:
    from ..embed import ArcFaceRecognizer
    from ..protocols import Detector

DTYPES = ("float32", "float16", "bfloat16")


class Budget:
    """Wall-clock budget of the whole run; ``left()`` in seconds."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def _sync(device: str) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _gpu_peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _gpu_peak_mb(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.startswith("cuda") else None


def _timed(run: Callable[[], Any], device: str, repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` runs (after the caller's warm-up) and the last output."""
    sync, times, output = _sync(device), [], None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        output = run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), output


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _embed_all(recognizer: ArcFaceRecognizer, crops: Any, count: int, batch: int) -> np.ndarray:
    """Raw embeddings of ``crops[:count]`` (host uint8 array or device tensor), ``batch`` crops per call."""
    embed = recognizer.embed_crops if isinstance(crops, np.ndarray) else recognizer.embed_tensor
    return np.concatenate([embed(crops[lo : min(lo + batch, count)]).raw for lo in range(0, count, batch)])


def embedding_sweep(
    model: Path, crops: np.ndarray, device: str, batches: Sequence[int], dtypes: Sequence[str], loop_faces: int, budget: Budget
) -> list[dict[str, Any]]:
    """Rows of the embedding sweep (see the module docstring); a row that fails or runs out of time says so."""
    import torch

    from ..embed import load_recognizer

    rows: list[dict[str, Any]] = []
    loop_count = min(loop_faces, crops.shape[0])
    reference: np.ndarray | None = None
    missing = insightface_missing()
    if missing is None:
        loop = InsightFaceReference(None, model, providers_for(device))
        bgr = [np.ascontiguousarray(c[:, :, ::-1]) for c in crops[:loop_count]]
        loop.embed_one(bgr[0])
        seconds, output = _timed(lambda: np.stack([loop.embed_one(c) for c in bgr]), "cpu", 1)
        reference = _unit(output)
        providers = ",".join(p.replace("ExecutionProvider", "") for p in providers_for(device))
        rows.append(
            {"variant": f"insightface loop (onnxruntime {providers})", "dtype": "float32", "batch": 1}
            | {"faces": loop_count, "faces_per_s": loop_count / seconds, "x_loop": 1.0, "min_cos_loop": 1.0}
        )
    else:
        rows.append({"variant": "insightface loop", "skipped": missing})
    loop_speed = rows[0].get("faces_per_s")
    for dtype in dtypes:
        try:
            recognizer = load_recognizer(
                model, backend="torch", device=device, dtype=dtype, batch_size=max(batches), allow_download=False
            )
        except Exception as error:  # a precision this device cannot run: say so, keep going
            rows.append({"variant": "ours embed_crops", "dtype": dtype, "error": f"{type(error).__name__}: {error}"})
            continue
        tensor = torch.from_numpy(crops).to(device).permute(0, 3, 1, 2).float().contiguous()
        cases = [("ours embed_crops", batch) for batch in batches] + [("ours embed_tensor (crops on the device)", max(batches))]
        for variant, batch in cases:
            if budget.left() <= 0:
                rows.append({"variant": variant, "dtype": dtype, "batch": batch, "skipped": "over the time budget"})
                continue
            count = loop_count if batch == 1 else crops.shape[0]
            on_device = variant.startswith("ours embed_tensor")

            run = functools.partial(_embed_all, recognizer, tensor if on_device else crops, count, batch)
            recognizer.embed_crops(crops[: min(batch, crops.shape[0])])  # warm-up at this batch size
            _gpu_peak_reset(device)
            seconds, output = _timed(run, device, 3 if budget.left() > 60 else 1)
            embeddings = _unit(output)
            row: dict[str, Any] = {"variant": variant, "dtype": dtype, "batch": batch, "faces": count}
            row |= {
                "faces_per_s": count / seconds,
                "gpu_peak_mb": _gpu_peak_mb(device),
                "finite": bool(np.isfinite(output).all()),
            }
            if loop_speed:
                row["x_loop"] = row["faces_per_s"] / loop_speed
            if reference is not None:
                row["min_cos_loop"] = float((embeddings[:loop_count] * reference).sum(axis=1).min())
            rows.append(row)
    return rows


PIPELINE_LABELS = {
    "reference": "insightface loop (FaceAnalysis' way)",
    "ours_ort": "ours analyze (onnxruntime)",
    "ours_torch": "ours analyze (torch)",
}


def pipeline_groups(
    model: Path, data: Path, device: str, dtypes: Sequence[str], repeats: int, cache: Path, photos: int | None = None
) -> list[dict[str, Any]]:
    """Detect + align + embed on the group photos: insightface's loop, ``analyze``, ``analyze`` on torch."""
    references = ("reference",) if insightface_missing() is None else ()
    base = {
        "device": device,
        "repeats": repeats,
        "warmups": 1,
        "slice": 7,
        "section": "pipeline",
        "model": model.stem,
        "dataset": "groups",
        "recognizer": str(model),
        "detector": str(data / "models" / DETECTOR_REAL),
        "images": [str(p) for p in image_files(data, "groups")][:photos],
    }
    specs = [{**base, "variant": v} for v in (*references, "ours_ort")]
    specs += [{**base, "variant": "ours_torch", "dtype": dtype} for dtype in dtypes]
    for index, spec in enumerate(specs):
        spec["output"] = str(cache / f"gpu_pipeline_{index}.npy")
    results = run_group(specs)
    add_comparisons(results, specs)
    return results


def long_batch_swap(data: Path, device: str, lengths: Sequence[int], chunk: int, cache: Path) -> list[dict[str, Any]]:
    """Detect + swap batches of ``lengths`` frames with one ``detect_and_swap`` call in chunks of ``chunk``: frames/s and peak memory."""
    from .. import Identity, detect_and_swap
    from ..detect import load_detector
    from ..devtools.synthetic import build_inswapper_like
    from ..images import read_image
    from ..swap import load_swapper
    from .variants import load_torch_detector

    on_gpu = device.startswith("cuda")
    swapper_path = cache / "inswapper_like.onnx"
    if not swapper_path.is_file():
        build_inswapper_like(swapper_path, seed=0)
    swapper = load_swapper(
        swapper_path, providers="cpu", backend="torch" if on_gpu else "onnxruntime", device=device, allow_download=False
    )
    onnx_detector = load_detector(data / "models" / DETECTOR_REAL, providers="cpu", allow_download=False)
    detector: Detector = load_torch_detector(onnx_detector, device, "float32") if on_gpu else onnx_detector
    frame = read_image(data / "groups" / "insightface_t1.jpg")
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(1, swapper.dimension)).astype(np.float32)
    source = Identity(embeddings=embedding / np.linalg.norm(embedding), model_id=swapper.embedding_space)
    detect_and_swap(swapper, detector, [frame], source)  # warm-up
    rows = []
    for length in lengths:
        frames = np.broadcast_to(frame, (length, *frame.shape))  # one frame repeated, no copies
        reset_peak_memory()
        before = memory_mb("VmRSS") or maxrss_mb()
        _gpu_peak_reset(device)
        start = time.perf_counter()
        result = detect_and_swap(swapper, detector, frames, source, chunk_frames=chunk)
        swapped = sum(result.swapped_counts)
        _sync(device)()
        seconds = time.perf_counter() - start
        rows.append(
            {
                "frames": length,
                "chunk": chunk,
                "faces_swapped": swapped,
                "frames_per_s": length / seconds,
                "run_peak_mb": round((memory_mb("VmHWM") or maxrss_mb()) - before, 1),
                "gpu_peak_mb": _gpu_peak_mb(device),
                "swapper": swapper.backend.describe(),
                "detector": detector.describe() if hasattr(detector, "describe") else repr(detector),
            }
        )
    return rows


def summarise_tests(junit: Path | None) -> dict[str, Any] | None:
    """Counts from a pytest JUnit XML file (``pytest --junitxml``), with the skip reasons."""
    if junit is None or not junit.is_file():
        return None
    root = ElementTree.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return None
    reasons = sorted({skip.get("message", "") for skip in suite.iter("skipped")})
    failures = [case.get("name", "") for case in suite.iter("testcase") if case.find("failure") is not None]
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    return {**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]} | {
        "skip_reasons": reasons,
        "failed": failures,
    }


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) and value == value else "–"


def markdown(report: dict[str, Any]) -> str:
    """The summary as Markdown (machine, tests, the three tables)."""
    machine = report["machine"]
    lines = ["# GPU check", ""]
    lines.append(report["note"])
    lines += ["", f"Machine: {machine['gpu'] or 'no CUDA device'}; CPU {machine['cpu']} ({machine['usable_cores']} cores);"]
    lines.append(
        f"Python {machine['python']}, torch {machine['torch']}, onnxruntime {machine['onnxruntime']} "
        f"({', '.join(machine['onnxruntime_providers'])}), insightface {machine['insightface'] or 'not installed'}."
    )
    tests = report.get("tests")
    if tests:
        lines += [
            "",
            "## GPU tests",
            "",
            f"{tests['passed']} passed, {tests['failures'] + tests['errors']} failed, {tests['skipped']} skipped.",
        ]
        lines += [f"- failed: {name}" for name in tests["failed"]] + [f"- skipped: {reason}" for reason in tests["skip_reasons"]]
    lines += ["", f"## Embedding sweep ({report['model']})", ""]
    lines += [
        "| variant | dtype | batch | faces | faces/s | x loop | min cos to loop | device peak MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["embedding"]:
        if "skipped" in row or "error" in row:
            lines.append(
                f"| {row['variant']} | {row.get('dtype', '–')} | {row.get('batch', '–')} | {row.get('skipped') or row.get('error')} |||||"
            )
            continue
        cells = [_fmt(row["faces_per_s"], ".1f"), _fmt(row.get("x_loop"), ".2f"), _fmt(row.get("min_cos_loop"), ".5f")]
        lines.append(
            f"| {row['variant']} | {row['dtype']} | {row['batch']} | {row['faces']} | {' | '.join(cells)} | {_fmt(row.get('gpu_peak_mb'), '.0f')} |"
        )
    lines += ["", "## Detect + align + embed on the group photos", ""]
    if isinstance(report["pipeline"], str):
        lines.append(report["pipeline"])
    else:
        lines += ["| variant | dtype | faces | faces/s | x loop | min cos to loop | note |", "|---|---|---|---|---|---|---|"]
        for row in report["pipeline"]:
            if "error" in row:
                lines.append(f"| {row['variant']} | {row.get('dtype') or '–'} | error: {row['error']} |||||")
                continue
            cells = [
                _fmt(row["faces_per_s"], ".1f"),
                _fmt(row.get("x_reference"), ".2f"),
                _fmt(row.get("min_cos_reference"), ".5f"),
            ]
            label = PIPELINE_LABELS.get(row["variant"], row["variant"])
            lines.append(f"| {label} | {row.get('dtype') or '–'} | {row['faces']} | {' | '.join(cells)} | {row['note']} |")
    lines += ["", "## Long-batch swap (synthetic inswapper)", ""]
    if isinstance(report["swap"], str):
        lines.append(report["swap"])
    else:
        lines += [
            "| frames | chunk | faces swapped | frames/s | host peak MB added | device peak MB |",
            "|---|---|---|---|---|---|",
        ]
        for row in report["swap"]:
            cells = [_fmt(row["frames_per_s"], ".1f"), _fmt(row["run_peak_mb"], ".0f"), _fmt(row["gpu_peak_mb"], ".0f")]
            lines.append(f"| {row['frames']} | {row['chunk']} | {row['faces_swapped']} | {' | '.join(cells)} |")
    lines += ["", "## Video case (720p clip with audio, stand-ins: track, swap, restore, encode)", ""]
    video = report.get("video", "not run")
    if isinstance(video, str):
        lines.append(video)
    else:
        lines += ["| frames | chunk | frames/s | peak RSS MB | note |", "|---|---|---|---|---|"]
        for row in video:
            if "error" in row:
                lines.append(f"| {row['frames']} | – | – | – | error: {row['error']} |")
                continue
            lines.append(
                f"| {row['frames']} | {row['chunk']} | {_fmt(row['frames_per_s'], '.2f')} | {_fmt(row['peak_rss_mb'], '.0f')} | "
                f"{row['frames_with_face']} frames with a face, output {row['output_frames']} frames |"
            )
    lines += ["", f"Wall time: {report['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m face_identity.bench.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--device", default="auto", help="cuda, cuda:N, cpu or auto (cuda when torch sees one)")
    parser.add_argument("--quick", action="store_true", help="tiny synthetic IResNet, few faces (implied without CUDA)")
    parser.add_argument("--budget-s", type=float, default=330.0, help="wall-clock budget; later rows are skipped (default 330)")
    parser.add_argument(
        "--data", default=None, help="test data folder (default $FACE_IDENTITY_TEST_DATA or <repo>/../shared/data)"
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="where synthetic models and crops are kept (default: temp folder)"
    )
    parser.add_argument(
        "--tests-junit", type=Path, default=None, help="pytest JUnit XML of the GPU tests, summarised in the report"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    args = build_parser().parse_args(argv)
    started = time.monotonic()
    budget = Budget(args.budget_s)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    on_gpu = device.startswith("cuda")
    quick = args.quick or not on_gpu
    if on_gpu:
        note = f"Measured on {torch.cuda.get_device_name(0)} ({device})."
    else:
        note = "No CUDA device visible to torch: this run checks the plumbing on the CPU with a tiny model; no figure here is a GPU figure."
    print(note, flush=True)
    cache = args.cache or Path(tempfile.gettempdir()) / "face_identity_gpu_check"
    cache.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    data = data_dir(args.data)
    missing = insightface_missing()
    if missing is not None:
        print(f"insightface loop rows skipped: {missing}", flush=True)
    model = synthetic_recognizer(cache, tiny=quick)
    dtypes = DTYPES if on_gpu else ("float32",)
    batches = (1, 8, 32) if quick else (1, 8, 32, 128, 512)
    crops = np.load(prepare_crops(cache, data, max(batches) if not quick else 32), allow_pickle=False)
    report: dict[str, Any] = {"note": note, "machine": machine_info(device), "device": device, "quick": quick}
    report["model"] = (
        "tiny synthetic IResNet (not w600k_r50's size)" if quick else "synthetic IResNet-50 (w600k_r50's architecture)"
    )
    report["tests"] = summarise_tests(args.tests_junit)
    print("embedding sweep ...", flush=True)
    report["embedding"] = embedding_sweep(model, crops, device, batches, dtypes, 16 if quick else 128, budget)
    if data is None or not (data / "models" / DETECTOR_REAL).is_file():
        report["pipeline"] = report["swap"] = report["video"] = "skipped: test data (../shared/data) not found"
    else:
        print("pipeline on the group photos ...", flush=True)
        report["pipeline"] = (
            pipeline_groups(model, data, device, dtypes, 1 if quick else 2, cache, 3 if quick else None)
            if budget.left() > 0
            else "skipped: over the time budget"
        )
        print("long-batch swap ...", flush=True)
        lengths = (4, 16) if quick else (16, 256)
        report["swap"] = (
            long_batch_swap(data, device, lengths, 16, cache) if budget.left() > 0 else "skipped: over the time budget"
        )
        print("video case ...", flush=True)
        report["video"] = (
            [run_in_subprocess(8 if quick else 100, device, data, cache, timeout=max(budget.left(), 60))]
            if budget.left() > 0
            else "skipped: over the time budget"
        )
    report["seconds"] = time.monotonic() - started
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    summary = markdown(report)
    (args.out / "gpu_check.md").write_text(summary)
    print(summary, flush=True)
    failed = any("error" in row for row in report["embedding"]) or (
        isinstance(report["pipeline"], list) and any("error" in row for row in report["pipeline"])
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
