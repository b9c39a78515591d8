"""The benchmark: insightface's per-face loop (insightface's own code) vs our batched onnxruntime path vs our
torch path, side by side, with the machine named. A developer tool: no runtime module imports it.

``python -m face_identity.bench [--quick] [--device cpu|cuda] [--json out.json] [--data DIR]`` (``--help``
lists every option); ``python -m face_identity.bench.gpu OUT_DIR`` is the GPU check's benchmark
(``scripts/gpu_check.sh``); docs/benchmark.md explains every figure.

Measured in one run. The variants of one workload run in one worker process, interleaved slice by slice
so machine noise hits them alike; "run MB" is the peak resident memory a run adds (Linux VmHWM reset
before each run), "proc MB" the worker's peak, "gpu_peak_mb" (JSON) torch's peak CUDA allocation.

- ``embed``: embedding alone on aligned 112 crops (variants in ``variants``).
- ``pipeline``: detect + align + embed on single-face photos (``faces/``) and group photos (``groups/``).

The reference is insightface 2.1 itself (``reference``): its ``model_zoo.SCRFD``,
``utils.face_align.norm_crop`` and ``model_zoo.ArcFaceONNX``, called as ``FaceAnalysis.get`` calls
them. When insightface is not installed the benchmark says so and leaves the reference rows (and the
ratios and cosines to them) out.

Models: a synthetic IResNet-50 with exactly w600k_r50's architecture (built once into the cache
folder; cost does not depend on weight values) and the real small models of the test data
(``w600k_mbf_int8_dynamic.onnx``, ``mobilefacenet_foamliu_128d.onnx``, ``scrfd_2.5g_bnkps_640.onnx``).
Timings are medians of ``--repeats`` runs after a warm-up; threads are onnxruntime's and torch's
defaults (printed).

Modules: ``cli`` (plan, options, main), ``variants`` (the ways of doing a workload), ``reference``
(insightface's loop), ``timing`` (interleaved runs), ``report`` (ratios, cosines, table), ``inputs``
(data, crops, synthetic model), ``machine`` (machine info, memory), ``gpu`` (the GPU check's sweep).
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]
