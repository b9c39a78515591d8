"""Every example workflow (API twin) runs through the nodes in-process with onnxruntime made unimportable.

As in a ComfyUI where onnxruntime is not installed: ``import onnxruntime`` raises ImportError, so every
loader with backend ``auto`` runs its model as a torch conversion. Each case is the workflow's own run
test from ``test_workflows`` (same models, same assertions), so the results must be the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_workflows
import test_workflows_video
from test_workflows import API_FILES

RUN_TESTS: dict[str, Callable[[Any, Path, Path], None]] = {
    "compare_two_faces": test_workflows.test_compare_two_faces_runs,
    "best_of_n_identity_check": test_workflows.test_best_of_n_runs,
    "build_and_save_identity": test_workflows.test_build_and_save_identity_runs,
    "face_swap": test_workflows.test_face_swap_runs,
    "swapper_comparison": test_workflows.test_swapper_comparison_runs,
    "face_swap_masked_restored": test_workflows.test_face_swap_masked_restored_runs,
    "face_mask": test_workflows.test_face_mask_workflow_runs,
    "video_face_swap": test_workflows_video.test_video_face_swap_runs,
}
"""API twin stem -> the test in ``test_workflows`` that runs it."""


def test_every_api_twin_has_a_run_test() -> None:
    assert {path.stem for path in API_FILES} == set(RUN_TESTS)


def test_example_workflows_choose_auto_backends() -> None:
    for path in API_FILES:
        for node_id, node in json.loads(path.read_text()).items():
            backend = node["inputs"].get("backend")
            assert backend in (None, "auto"), f"{path.name} node {node_id} {node['class_type']}: backend {backend!r}"


@pytest.mark.parametrize("stem", sorted(RUN_TESTS))
def test_workflow_runs_without_onnxruntime(
    stem: str, pack: Any, model_folder: Path, example_inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    assert not pack.face_identity.runtime.onnxruntime_available()
    RUN_TESTS[stem](pack, model_folder, example_inputs)
