"""Run by ComfyUI-Manager after requirements.txt: add onnxruntime only when no onnxruntime variant is installed.

Installing the CPU ``onnxruntime`` package next to ``onnxruntime-gpu`` (or -directml, -openvino, ...)
overwrites the GPU build's files, and GPU models then run on the CPU. So this script never touches
an existing installation.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

VARIANTS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
    "onnxruntime-silicon",
    "onnxruntime-rocm",
)


def installed_variants() -> list[str]:
    found = []
    for name in VARIANTS:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def main() -> int:
    found = installed_variants()
    if found:
        print(f"[face-identity] onnxruntime already installed ({', '.join(found)}); leaving it as it is")
        return 0
    print("[face-identity] installing onnxruntime (CPU); for NVIDIA GPUs use onnxruntime-gpu or the torch backend")
    return subprocess.call([sys.executable, "-m", "pip", "install", "onnxruntime>=1.19"])


if __name__ == "__main__":
    raise SystemExit(main())
