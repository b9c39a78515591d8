"""``python -m face_identity.bench``: plan the workloads, run each in its own worker process, print the table."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .inputs import DETECTOR_REAL, RECOGNIZERS_REAL, REPO_ROOT, data_dir, image_files, prepare_crops, synthetic_recognizer
from .machine import machine_info
from .reference import insightface_missing
from .report import add_comparisons, format_table
from .timing import run_group
from .variants import REFERENCE_VARIANTS
from .video import describe, run_in_subprocess


def run_isolated(specs: list[dict[str, Any]], in_process: bool) -> list[dict[str, Any]]:
    """``run_group(specs)`` in a fresh worker process (or in this one); a failed worker gives error rows."""
    if in_process:
        return run_group(specs)
    completed = subprocess.run(
        [sys.executable, "-m", "face_identity.bench", "--worker", json.dumps(specs)],
        capture_output=True,
        text=True,
        cwd=str(REPO_ROOT),
        check=False,
    )
    if completed.returncode != 0:
        error = completed.stderr.strip().splitlines()[-1:]
        return [
            {**{k: spec.get(k) for k in ("section", "variant", "model", "dataset", "dtype")}, "error": error} for spec in specs
        ]
    return list(json.loads(completed.stdout.strip().splitlines()[-1]))


def plan_stages(args: argparse.Namespace, cache: Path, data: Path | None, with_reference: bool = True) -> list[dict[str, Any]]:
    """Every (section, model, dataset, variant, precision) to measure; no reference rows without insightface."""
    from ..embed import AUTO_BATCH_CPU, AUTO_BATCH_GPU

    device = args.device
    on_gpu = not device.startswith("cpu")
    recognizers: dict[str, Path] = {
        "iresnet_tiny" if args.quick else "iresnet50_synthetic": synthetic_recognizer(cache, tiny=args.quick)
    }
    if data is not None and not args.quick:
        for name in RECOGNIZERS_REAL:
            if (data / "models" / name).is_file():
                recognizers[Path(name).stem] = data / "models" / name
    crops = prepare_crops(cache, data, args.faces)
    batch = AUTO_BATCH_GPU if on_gpu else AUTO_BATCH_CPU
    precisions = ["float32"] + (["float16", "bfloat16"] if on_gpu or args.cpu_half else [])
    references = REFERENCE_VARIANTS if with_reference else ()
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
        for variant in (*references[:1], "ort_raw", "ours_ort"):
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
                base = {
                    "slice": args.slice_images or (16 if dataset == "single" else 7),
                    **common,
                    "section": "pipeline",
                    "model": model,
                    "dataset": dataset,
                    "recognizer": str(path),
                    "detector": str(detector),
                    "images": [str(f) for f in files],
                }
                for variant in (*references, "ours_ort", "ours_stream"):
                    stages.append({**base, "variant": variant})
                for dtype in precisions[: 1 if not on_gpu else None]:
                    stages.append({**base, "variant": "ours_torch", "dtype": dtype})
    for index, stage in enumerate(stages):
        stage["output"] = str(cache / f"stage_{index}.npy")
    return stages


DESCRIPTION = "Benchmark: insightface's per-face loop (its own code) vs our batched onnxruntime path vs our torch path."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m face_identity.bench", description=DESCRIPTION)
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
        "--only", default=None, help="comma-separated sections or datasets to run (embed, pipeline, single, groups, video)"
    )
    parser.add_argument(
        "--video-frames", type=int, default=None, help="length of the 720p clip of the video case (default 100, quick 8)"
    )
    parser.add_argument("--models", default=None, help="comma-separated model labels to run (e.g. iresnet50_synthetic)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def select_stages(stages: list[dict[str, Any]], only: str | None, models: str | None) -> list[dict[str, Any]]:
    """The stages ``--only`` (sections or datasets) and ``--models`` (model labels) keep."""
    if only:
        wanted = {part.strip() for part in only.split(",")}
        stages = [s for s in stages if s["section"] in wanted or s.get("dataset") in wanted]
    if models:
        labels = {part.strip() for part in models.split(",")}
        stages = [s for s in stages if s["model"] in labels]
    return stages


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
    missing = insightface_missing()
    if missing is not None:
        print(f"reference rows skipped: {missing}", flush=True)
    if data is None:
        print("test data not found: real models and photos are skipped (set --data or FACE_IDENTITY_TEST_DATA)", flush=True)
    stages = select_stages(plan_stages(args, cache, data, with_reference=missing is None), args.only, args.models)
    wanted = {part.strip() for part in (args.only or "").split(",")}
    video_rows = []
    if data is not None and ("video" in wanted or (not args.only and not args.quick)):
        frames = args.video_frames or (8 if args.quick else 100)
        video_rows.append(run_in_subprocess(frames, args.device, data, cache))  # a fresh process: its peak RSS is the case's
        print(f"  {describe(video_rows[-1])}", flush=True)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for stage in stages:
        groups.setdefault((stage["section"], stage["model"], stage.get("dataset")), []).append(stage)
    results, ordered_stages = [], []
    for group in groups.values():
        for stage, result in zip(group, run_isolated(group, in_process), strict=False):
            results.append(result)
            ordered_stages.append(stage)
            label = (
                f"{stage['section']} {stage['model']} {stage.get('dataset') or ''} {stage['variant']} {stage.get('dtype') or ''}"
            )
            summary = result.get("error") or f"{result['faces_per_s']:.2f} faces/s ({result['ms_per_face']:.1f} ms/face)"
            print(f"  {' '.join(label.split())}: {summary}", flush=True)
    add_comparisons(results, ordered_stages)
    if results:
        print()
        print(format_table(results))
    if hasattr(os, "getloadavg"):
        info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.json is not None:
        report = {"machine": info, "reference": missing or "insightface", "results": results, "video": video_rows}
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0 if all("error" not in r for r in [*results, *video_rows]) else 1
