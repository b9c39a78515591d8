"""Missing real test data: CI fails (both `.ci/run` and the tests that need the data), elsewhere those tests skip.
And the suite runs from a clone whose folder is not a valid module name (pytest then imports the pack's
``__init__.py`` as a plain module)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, require_shared_data

BEGIN, END = "# begin: test data check", "# end: test data check"


def ci_data_check() -> str:
    """The test data check of `.ci/run`, as a bash snippet."""
    text = (REPO_ROOT / ".ci" / "run").read_text()
    return text[text.index(BEGIN) : text.index(END)]


def run_data_check(data: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["FACE_IDENTITY_TEST_DATA"] = str(data)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + ci_data_check()], env=env, capture_output=True, text=True)


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "MANIFEST.tsv").write_text("path\tsource\n")
    return folder


def test_fixture_returns_the_folder_when_the_data_is_there(data_folder: Path) -> None:
    assert require_shared_data(data_folder, {"CI": "true"}) == data_folder


@pytest.mark.parametrize("ci", ["true", "TRUE", "1", "yes"])
def test_fixture_fails_on_ci_when_the_data_is_missing(tmp_path: Path, ci: str) -> None:
    with pytest.raises(pytest.fail.Exception, match="CI=true") as failure:
        require_shared_data(tmp_path / "missing", {"CI": ci})
    assert str(tmp_path / "missing") in str(failure.value)


@pytest.mark.parametrize("environ", [{}, {"CI": "false"}, {"CI": ""}])
def test_fixture_skips_with_the_reason_outside_ci(tmp_path: Path, environ: dict[str, str]) -> None:
    with pytest.raises(pytest.skip.Exception, match="FACE_IDENTITY_TEST_DATA") as skipped:
        require_shared_data(tmp_path / "missing", environ)
    assert str(tmp_path / "missing") in str(skipped.value)


def test_ci_run_fails_without_the_data_on_ci(tmp_path: Path) -> None:
    result = run_data_check(tmp_path / "missing", "true")
    assert result.returncode != 0
    assert "real test data not found" in result.stderr and "FACE_IDENTITY_TEST_DATA" in result.stderr


def test_ci_run_warns_and_goes_on_without_the_data_outside_ci(tmp_path: Path) -> None:
    result = run_data_check(tmp_path / "missing", None)
    assert result.returncode == 0
    assert "WARNING: real test data not found" in result.stdout


def test_ci_run_accepts_the_data_on_ci(data_folder: Path) -> None:
    result = run_data_check(data_folder, "true")
    assert result.returncode == 0, result.stderr
    assert f"real test data: {data_folder}" in result.stdout


def test_pack_init_imports_as_a_plain_module() -> None:
    """pytest imports ``<clone>/__init__.py`` without a package when the clone folder is e.g. comfyui-face-identity."""
    spec = importlib.util.spec_from_file_location("__init__", REPO_ROOT / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.NODE_CLASS_MAPPINGS == {} and module.NODE_DISPLAY_NAME_MAPPINGS == {}
