#!/usr/bin/env bash
# The README's test command: installs what the tests need into the current Python, then runs pytest.
#
#   bash scripts/test.sh                  # the whole suite (what CI runs)
#   bash scripts/test.sh tests/test_cli.py -k analyze   # arguments go to pytest
#
# "The current Python" is `python` on PATH (`python3` if there is none): use a virtual environment.
# torch is installed only when it cannot be imported, and then as the CPU build (a plain `torch` from
# PyPI on Linux pulls several GB of CUDA) when its index answers; an installed torch (CUDA or CPU) is kept.
# onnxruntime is installed only when no onnxruntime variant is (install.py), so onnxruntime-gpu stays.
set -euo pipefail
cd "$(dirname "$0")/.."

python=python
command -v python >/dev/null 2>&1 || python=python3
pip_install=("$python" -m pip install --quiet --disable-pip-version-check)

if ! "$python" -c "import torch" >/dev/null 2>&1; then
  # One short look at the CPU index (5 s, no retries): a machine that reaches only PyPI would otherwise
  # see pip retry it for minutes. Unreachable: PyPI's torch==2.13.0 instead (a CUDA build on some platforms).
  cpu_index=https://download.pytorch.org/whl/cpu
  if "$python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=5)" "$cpu_index" >/dev/null 2>&1; then
    echo "[test.sh] torch not found: installing the CPU build (torch==2.13.0 from $cpu_index)"
    "${pip_install[@]}" --retries 1 --timeout 30 torch==2.13.0 --index-url "$cpu_index"
  else
    echo "[test.sh] torch not found and $cpu_index is not reachable (one 5 s try): installing torch==2.13.0 from PyPI instead"
    "${pip_install[@]}" torch==2.13.0
  fi
fi
"$python" install.py
"${pip_install[@]}" -r requirements.txt -r tests/requirements.txt

# ---- test-only extras: one block per extra, installed into the same Python --------------------------
# insightface 2.1, the reference of the parity tests (tests/test_insightface_parity.py, tests/test_faceid.py),
# goes into a folder of its own inside this Python's prefix (tests/conftest.py puts it on sys.path), not into
# site-packages: installed there without its dependencies (its opencv-python would replace
# opencv-python-headless), every later pip run would print a red resolver ERROR about the missing
# opencv-python. scikit-image and scipy are what its code paths need.
reference_dir=$("$python" -c "import sys; print(sys.prefix)")/face-identity-test-reference
if ! PYTHONPATH="$reference_dir" "$python" -c "import insightface, sys; sys.exit(insightface.__version__ != '2.1')" >/dev/null 2>&1; then
  "${pip_install[@]}" --no-deps --upgrade --target "$reference_dir" "insightface==2.1"
fi
"${pip_install[@]}" scikit-image scipy
if "$python" -m pip list 2>/dev/null | grep -qiE "^opencv-python "; then
  echo "[test.sh] opencv-python is installed beside opencv-python-headless; uninstall it (pip uninstall opencv-python)" >&2
  exit 1
fi
# Ray Data, the optional engine of `face-identity score` (tests/test_score.py runs it on a local Ray
# instance); it brings pyarrow, which the Parquet output needs.
"${pip_install[@]}" "ray[data]==2.60.0"
# ---- end of test-only extras ------------------------------------------------------------------------

# ---- checks that run before the tests ---------------------------------------------------------------
# The type check of the library, the nodes (against typings/, stubs of the ComfyUI names they use) and the pack's
# entry points (configuration: pyproject.toml [tool.mypy]; typings/README.md).
"$python" -m mypy
# ---- end of checks ----------------------------------------------------------------------------------

"$python" -c "import sys, numpy, onnxruntime, torch; print(f'[test.sh] Python {sys.version.split()[0]}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}')"
# --durations=15: the cost of the slowest tests is in every log (the whole run stays under 12 minutes on 2 cores).
exec "$python" -m pytest --durations=15 "$@"
