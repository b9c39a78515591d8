"""Benchmark of ``face-identity score``: images/s of the embedded engine vs the Ray engine (1 and 2 actors), side by side.

    python scripts/bench_score.py [--data ../shared/data] [--images 267] [--batch-images 16] [--rounds 1] [--json out.json]

The image set is ``faces/`` and ``groups/`` of the test data (89 photos, 1 to 29 faces each)
repeated under distinct names to ``--images`` images; every variant scores all of them against one
reference photo with the small real models (SCRFD-2.5G detector, w600k_mbf int8 recognizer) on the
CPU. Ray runs on a local instance started once with all CPUs of the machine (so its start-up is
not counted); each Ray variant still starts its actor pool, which is counted. With ``--rounds R``
the three variants run R times, interleaved, and the medians are reported.

Reported per variant: ``wall s`` (from the first path handed to the engine to the last row back,
actor start-up included), ``images/s`` over that wall time and its ratio to the embedded engine,
and ``first rows s`` (when the first batch of rows came back: the start-up latency). On a machine
shared with other work, use several rounds: the variants then see the same drifting load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from face_identity.detect import DetectionSettings, load_detector  # noqa: E402
from face_identity.embed import load_recognizer  # noqa: E402
from face_identity.score import expand_dataset, load_references, run_embedded, run_ray  # noqa: E402
from face_identity.score.rows import BatchScorer  # noqa: E402


def load_models(detector_path: str, recognizer_path: str) -> tuple[Any, Any]:
    detector = load_detector(detector_path, providers="cpu", settings=DetectionSettings(), allow_download=False)
    return detector, load_recognizer(recognizer_path, providers="cpu", allow_download=False)


def build_dataset(data: Path, count: int, folder: Path) -> list[str]:
    """``count`` symlinks cycling through faces/ and groups/ (distinct names, so every row is its own image)."""
    sources = expand_dataset([data / "faces", data / "groups"])
    paths = []
    for index in range(count):
        source = sources[index % len(sources)]
        target = folder / f"{index:05d}_{source.name}"
        os.symlink(source, target)
        paths.append(str(target))
    return paths


def timed(batches: Any) -> dict[str, float]:
    started = time.perf_counter()
    images, first_rows = 0, None
    for rows in batches:
        images += len(rows)
        if first_rows is None:
            first_rows = time.perf_counter() - started
    wall = time.perf_counter() - started
    return {
        "images": images,
        "wall_s": round(wall, 2),
        "images_per_s": round(images / wall, 3),
        "first_rows_s": round(first_rows or 0.0, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--images", type=int, default=267, help="images per variant (default 267 = 3 x faces/ + groups/)")
    parser.add_argument("--batch-images", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of all variants, interleaved; medians reported")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    models = partial(
        load_models,
        str(args.data / "models" / "scrfd_2.5g_bnkps_640.onnx"),
        str(args.data / "models" / "w600k_mbf_int8_dynamic.onnx"),
    )
    detector, recognizer = models()
    references = load_references([args.data / "faces" / "barack_obama" / "face_recognition_obama.jpg"], detector, recognizer)
    runs: dict[str, list[dict[str, float]]] = {"embedded": [], "ray, 1 actor": [], "ray, 2 actors": []}
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING")
    try:
        with tempfile.TemporaryDirectory() as temporary:
            paths = build_dataset(args.data, args.images, Path(temporary))
            for round_index in range(args.rounds):  # variants interleaved, so drifting machine load hits all alike
                for name in runs:
                    if name == "embedded":
                        scorer = BatchScorer(detector, recognizer, references, 0.35)
                        runs[name].append(timed(run_embedded(paths, scorer, args.batch_images)))
                        scorer.close()
                    else:
                        actors = int(name.split()[1])
                        runs[name].append(timed(run_ray(paths, models, references, 0.35, args.batch_images, actors=actors)))
                    print(f"round {round_index + 1}, {name}: {runs[name][-1]}", file=sys.stderr)
    finally:
        ray.shutdown()
    results = {name: {key: float(np.median([r[key] for r in figures])) for key in figures[0]} for name, figures in runs.items()}
    base = results["embedded"]
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, ray {ray.__version__}")
    print(
        f"models: {detector.name} + {recognizer.name} (batch {recognizer.batch_size}), {args.images} images, "
        f"batches of {args.batch_images}, median of {args.rounds} interleaved round(s)"
    )
    print(f"{'variant':18s} {'wall s':>8s} {'images/s':>9s} {'x embedded':>11s} {'first rows s':>13s}")
    for name, figures in results.items():
        ratio = figures["images_per_s"] / base["images_per_s"]
        print(f"{name:18s} {figures['wall_s']:8.1f} {figures['images_per_s']:9.2f} {ratio:11.2f} {figures['first_rows_s']:13.1f}")
    if args.json:
        payload = {"images": args.images, "rounds": args.rounds, "results": results, "runs": runs}
        args.json.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
