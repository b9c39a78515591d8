"""Timing one workload's variants in one process, interleaved slice by slice, with peak memory per run."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from .machine import maxrss_mb, memory_mb, reset_peak_memory
from .variants import embeddings_of, setup_variant


def slices(count: int, size: int) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]`` covering ``0..count`` in steps of ``size``."""
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
    parts = slices(variants[0].items, specs[0].get("slice", variants[0].items))
    repeats = specs[0]["repeats"]
    times = [[0.0] * repeats for _ in specs]
    peaks = [0.0 for _ in specs]
    gpu_peaks = [0.0 for _ in specs]
    outputs: list[list[Any]] = [[None] * len(parts) for _ in specs]
    turn = 0
    for repeat in range(repeats):
        for part, (lo, hi) in enumerate(parts):
            order = list(range(len(specs)))
            turn += 1
            order = order[turn % len(order) :] + order[: turn % len(order)]
            for index in order:
                resettable = reset_peak_memory()
                before = memory_mb("VmRSS") if resettable else maxrss_mb()
                if on_cuda:
                    torch.cuda.reset_peak_memory_stats()
                sync()
                start = time.perf_counter()
                outputs[index][part] = variants[index].run(lo, hi)
                sync()
                times[index][repeat] += time.perf_counter() - start
                after = memory_mb("VmHWM") if resettable else maxrss_mb()
                peaks[index] = max(peaks[index], (after or 0.0) - (before or 0.0))
                if on_cuda:
                    gpu_peaks[index] = max(gpu_peaks[index], torch.cuda.max_memory_allocated() / 2**20)
    results = []
    for index, spec in enumerate(specs):
        pieces = [embeddings_of(output, spec["section"], spec["variant"]) for output in outputs[index]]
        pieces = [p for p in pieces if p.shape[0]]
        embeddings = np.concatenate(pieces) if pieces else np.zeros((0, 1), np.float32)
        faces = int(embeddings.shape[0])
        if spec.get("output"):
            np.save(spec["output"], embeddings.astype(np.float32), allow_pickle=False)
        median = statistics.median(times[index])
        results.append(
            {
                **{k: v for k, v in spec.items() if k in ("section", "variant", "model", "dataset", "dtype", "device")},
                "faces": faces,
                "images": variants[index].items if spec["section"] == "pipeline" else 0,
                "slices": len(parts),
                "seconds": median,
                "runs": [round(t, 4) for t in times[index]],
                "faces_per_s": faces / median if median > 0 else float("nan"),
                "ms_per_face": 1000 * median / faces if faces else float("nan"),
                "run_peak_mb": round(peaks[index], 1),
                "process_peak_mb": round(maxrss_mb(), 1),
                "gpu_peak_mb": round(gpu_peaks[index], 1) if on_cuda else None,
                "note": variants[index].note,
            }
        )
    return results
