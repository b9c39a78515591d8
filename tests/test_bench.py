"""The benchmark package (``python -m face_identity.bench``): it runs, compares with insightface's own code or says
it cannot, and stays off the runtime path. No timing is asserted (speed is the benchmark's output, not a test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from face_identity.bench import main
from face_identity.bench import reference as bench_reference
from face_identity.bench.report import format_table, min_best_cosine

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_no_runtime_module_imports_the_benchmark_or_the_devtools() -> None:
    """Import every module of the library except the developer tools, then look at what got imported."""
    code = (
        "import importlib, pkgutil, sys\n"
        "def walk(name):\n"  # pkgutil.walk_packages would import the skipped packages to look inside them
        "    module = importlib.import_module(name)\n"
        "    for info in pkgutil.iter_modules(getattr(module, '__path__', [])):\n"
        "        if info.name not in ('bench', 'devtools', '__main__'):\n"
        "            walk(f'{name}.{info.name}')\n"
        "walk('face_identity')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('face_identity.bench', 'face_identity.devtools'))))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert completed.stdout.strip() == "[]"


def test_help_runs_as_a_module() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "face_identity.bench", "--help"], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    for option in ("--quick", "--device", "--only", "--models", "--json", "--repeats"):
        assert option in completed.stdout


def test_min_best_cosine_matches_rows_in_order_or_by_best_match() -> None:
    eye = np.eye(3, dtype=np.float32)
    assert min_best_cosine(eye, eye, ordered=True) == pytest.approx(1.0)
    assert min_best_cosine(eye, eye[::-1], ordered=True) == pytest.approx(0.0)
    assert min_best_cosine(eye, eye[::-1], ordered=False) == pytest.approx(1.0)
    assert np.isnan(min_best_cosine(eye, eye[:2], ordered=False))  # different face counts


def test_table_shows_errors_and_missing_figures() -> None:
    table = format_table(
        [
            {"section": "embed", "model": "m", "variant": "ours_ort", "faces": 4, "faces_per_s": 2.0, "ms_per_face": 500.0},
            {"section": "embed", "model": "m", "variant": "ours_torch", "error": ["boom"]},
        ]
    )
    lines = table.splitlines()
    assert "2.00" in lines[2] and " - " in lines[2]  # no reference: its ratio and cosine print as '-'
    assert "ERROR ['boom']" in lines[3]


def _quick(tmp_path: Path, shared_data: Path) -> tuple[int, dict[str, object]]:
    report = tmp_path / "bench.json"
    argv = ["--quick", "--images", "2", "--cache", str(tmp_path / "cache"), "--json", str(report), "--data", str(shared_data)]
    code = main([*argv, "--only", "embed,groups"])
    return code, json.loads(report.read_text())


def test_quick_run_compares_with_insightface_itself(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if bench_reference.insightface_missing() is not None:
        pytest.skip(bench_reference.insightface_missing())
    code, report = _quick(tmp_path, shared_data)
    assert code == 0
    printed = capsys.readouterr().out
    assert "machine: cpu=" in printed and "onnxruntime=" in printed and "insightface=2.1" in printed
    results = report["results"]
    assert isinstance(results, list)
    seen = {(r["section"], r.get("dataset"), r["variant"]) for r in results}
    for section, dataset in (("embed", None), ("pipeline", "groups")):
        for variant in ("reference", "ours_ort", "ours_torch"):
            assert (section, dataset, variant) in seen
    for result in results:
        assert result["faces"] > 0 and result["faces_per_s"] > 0
        assert result["min_cos_reference"] >= 0.999  # every variant embeds the same faces as insightface's loop
        assert result["x_reference"] > 0


def test_without_insightface_the_reference_rows_are_left_out_and_said_so(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("face_identity.bench.cli.insightface_missing", lambda: "insightface is not importable (test)")
    code, report = _quick(tmp_path, shared_data)
    assert code == 0
    assert "reference rows skipped: insightface is not importable (test)" in capsys.readouterr().out
    results = report["results"]
    assert isinstance(results, list) and results
    assert not [r for r in results if str(r["variant"]).startswith("reference")]  # never our code in its place
    assert all("x_reference" not in r and "min_cos_reference" not in r for r in results)
    assert report["reference"] == "insightface is not importable (test)"


def test_gpu_check_summary_reads_pytest_junit_and_prints_every_section(tmp_path: Path) -> None:
    from face_identity.bench.gpu import markdown, summarise_tests

    junit = tmp_path / "tests.xml"
    junit.write_text(
        '<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">'
        '<testcase name="a"/><testcase name="b"><failure message="x"/></testcase>'
        '<testcase name="c"><skipped message="needs a CUDA device"/></testcase></testsuite></testsuites>'
    )
    tests = summarise_tests(junit)
    assert tests is not None
    assert (tests["passed"], tests["failures"], tests["skipped"]) == (1, 1, 1)
    assert tests["failed"] == ["b"] and tests["skip_reasons"] == ["needs a CUDA device"]
    assert summarise_tests(tmp_path / "missing.xml") is None
    machine = {"gpu": None, "cpu": "x", "usable_cores": 2, "python": "3", "torch": "t", "onnxruntime": "o"}
    report = {
        "note": "No CUDA device visible to torch.",
        "machine": machine | {"onnxruntime_providers": ["CPUExecutionProvider"], "insightface": None},
        "model": "tiny",
        "tests": tests,
        "embedding": [
            {"variant": "insightface loop", "skipped": "insightface is not importable"},
            {"variant": "ours embed_crops", "dtype": "float32", "batch": 8, "faces": 32, "faces_per_s": 12.5},
        ],
        "pipeline": "skipped: test data (../shared/data) not found",
        "swap": [{"frames": 4, "chunk": 16, "faces_swapped": 24, "frames_per_s": 1.0, "run_peak_mb": 9.0, "gpu_peak_mb": None}],
        "seconds": 3.0,
    }
    text = markdown(report)
    assert "1 passed, 1 failed, 1 skipped" in text and "- failed: b" in text
    assert "insightface not installed" in text and "| insightface loop | – | – | insightface is not importable" in text
    assert "| ours embed_crops | float32 | 8 | 32 | 12.5 | – | – | – |" in text
    assert "skipped: test data (../shared/data) not found" in text
    assert "| 4 | 16 | 24 | 1.0 | 9 | – |" in text


def test_gpu_check_script_needs_its_output_folder() -> None:
    completed = subprocess.run(["bash", "scripts/gpu_check.sh"], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert completed.returncode == 2 and "usage: scripts/gpu_check.sh OUT_DIR" in completed.stderr


def test_video_case_reports_frames_per_second_and_peak_memory(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("av")
    from face_identity.bench.video import describe, run_in_subprocess

    row = run_in_subprocess(3, "cpu", shared_data, tmp_path, chunk=2, timeout=300)
    assert "error" not in row, row
    assert row["output_frames"] == 3 and row["size"] == "1280x720" and row["frames_with_face"] == 3
    assert row["frames_per_s"] > 0 and row["peak_rss_mb"] > row["rss_before_mb"] > 0
    assert abs(row["output_audio_s"] - 0.1) < 1024 / 44_100 + 1e-3  # 3 frames at 30 fps, within one AAC frame
    assert "frames/s" in describe(row) and not list(tmp_path.glob("video_case_*"))  # the case's work folder is gone
