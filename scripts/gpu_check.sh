#!/usr/bin/env bash
# One-command GPU check for a fresh NVIDIA machine: the GPU-marked tests, then the GPU benchmark
# (python -m face_identity.bench.gpu, which ends with the video case of python -m face_identity.bench:
# a 100-frame 720p clip tracked, swapped, restored and encoded with stand-ins, frames/s and peak RSS),
# with a JSON and a Markdown summary written to OUT_DIR.
#
#   scripts/gpu_check.sh OUT_DIR
#
# Needs Python with torch (a CUDA build), onnx, onnxruntime, opencv-python-headless, safetensors,
# huggingface-hub and pytest (and av, the video extra, for the video case); no network: every model is synthetic or comes from ../shared/data
# (or $FACE_IDENTITY_TEST_DATA). insightface 2.1, when installed, is the benchmark's reference loop.
# Without CUDA it still runs: the GPU tests skip with the reason and the benchmark checks its
# plumbing on the CPU with a tiny model (no GPU figure is produced).
# Environment: PYTHON (default python3), GPU_CHECK_QUICK=1 (tiny model, seconds), GPU_CHECK_BUDGET_S
# (benchmark wall-clock budget, default 330), GPU_CHECK_TEST_TIMEOUT_S (default 120): at most 8 minutes in all.
set -uo pipefail

if [ $# -ne 1 ]; then
  echo "usage: scripts/gpu_check.sh OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1" || exit 2
out="$(cd "$1" && pwd)"
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
budget="${GPU_CHECK_BUDGET_S:-330}"
test_timeout="${GPU_CHECK_TEST_TIMEOUT_S:-120}"
quick=()
[ "${GPU_CHECK_QUICK:-0}" = "1" ] && quick=(--quick)

export HF_HUB_OFFLINE=1                      # never reach the network
export FACE_IDENTITY_HOME="$out/home"        # converted-graph cache of this run
data="${FACE_IDENTITY_TEST_DATA:-../shared/data}"
if [ -d "$data/models" ]; then
  export FACE_IDENTITY_TEST_DATA="$(cd "$data" && pwd)"
  echo "test data: $FACE_IDENTITY_TEST_DATA"
else
  echo "test data not found at $data: tests and benchmark parts that need the real photos and models are skipped"
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/nvidia_smi.csv"
else
  echo "nvidia-smi not found"
fi
"$python" - <<'PY' || { echo "python with torch is required" >&2; exit 2; }
import torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}"
      + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else " (GPU tests will skip; CPU plumbing check only)"))
PY

start=$(date +%s)
echo "== GPU tests (pytest -m gpu) =="
timeout "$test_timeout" "$python" -m pytest -m gpu -q -p no:cacheprovider -rs --junitxml "$out/gpu_tests.xml" 2>&1 | tee "$out/gpu_tests.log"
tests_status=${PIPESTATUS[0]}
[ "$tests_status" = "5" ] && tests_status=0   # pytest: no test selected is not a failure here
echo "== GPU benchmark (python -m face_identity.bench.gpu) =="
timeout $((budget + 60)) "$python" -m face_identity.bench.gpu "$out" --budget-s "$budget" --cache "$out/cache" \
  --tests-junit "$out/gpu_tests.xml" "${quick[@]}" 2>&1 | tee "$out/gpu_bench.log"
bench_status=${PIPESTATUS[0]}
rm -rf "$out/cache" "$out/home"           # synthetic models (174 MB) and converted graphs: not part of the result
echo "== done in $(( $(date +%s) - start )) s: tests exit $tests_status, benchmark exit $bench_status; summary in $out/gpu_check.md and $out/gpu_check.json =="
[ "$tests_status" = "0" ] && [ "$bench_status" = "0" ]
