#!/usr/bin/env bash
# The README's test command: installs what the tests need into the current Python, then runs pytest.
#
#   bash scripts/test.sh                  # the whole suite (what CI runs)
#   bash scripts/test.sh tests/test_cli.py -k analyze   # arguments go to pytest
#
# "The current Python" is `python` on PATH (`python3` if there is none): use a virtual environment.
# torch is installed only when it cannot be imported, and then as the CPU build (a plain `torch` from
# PyPI on Linux pulls several GB of CUDA); an installed torch (CUDA or CPU) is kept as it is.
# onnxruntime is installed only when no onnxruntime variant is (install.py), so onnxruntime-gpu stays.
set -euo pipefail
cd "$(dirname "$0")/.."

python=python
command -v python >/dev/null 2>&1 || python=python3
pip_install=("$python" -m pip install --quiet --disable-pip-version-check)

if ! "$python" -c "import torch" >/dev/null 2>&1; then
  echo "[test.sh] torch not found: installing the CPU build (torch==2.13.0 from https://download.pytorch.org/whl/cpu)"
  "${pip_install[@]}" torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu || {
    echo "[test.sh] could not install torch from https://download.pytorch.org/whl/cpu. Install any torch build" >&2
    echo "[test.sh] yourself (pip install torch --index-url https://download.pytorch.org/whl/cpu), then run this again." >&2
    exit 1
  }
fi
"$python" install.py
"${pip_install[@]}" -r requirements.txt -r tests/requirements.txt

# ---- test-only extras: one block per extra, installed into the same Python --------------------------
# insightface 2.1, the reference of the parity tests (tests/test_insightface_parity.py, tests/test_faceid.py):
# without its dependencies, so that its opencv-python does not replace opencv-python-headless; scikit-image
# and scipy are what its code paths need.
"${pip_install[@]}" --no-deps "insightface==2.1"
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
# The library's type check (configuration: pyproject.toml [tool.mypy]).
"$python" -m mypy
# ---- end of checks ----------------------------------------------------------------------------------

"$python" -c "import sys, numpy, onnxruntime, torch; print(f'[test.sh] Python {sys.version.split()[0]}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}')"
exec "$python" -m pytest "$@"
