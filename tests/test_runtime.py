"""onnxruntime sessions: provider lists, loud fallbacks to the CPU, corrupt files, and model-kind checks."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from face_identity.detect import load_detector
from face_identity.devtools import synthetic
from face_identity.embed import load_recognizer
from face_identity.errors import FaceIdentityError, ModelFileError, ModelMismatchError, ProviderUnavailableError
from face_identity.runtime import (
    CPU_PROVIDER,
    PROVIDER_CHOICES,
    TensorInfo,
    classify_signature,
    open_session,
    requested_provider_list,
    require_kind,
)

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
GPU_BUILD = [TENSORRT, CUDA, CPU_PROVIDER]


@pytest.mark.parametrize(
    ("choice", "available", "expected"),
    [
        ("auto", GPU_BUILD, [CUDA, CPU_PROVIDER]),
        ("auto", [CPU_PROVIDER], [CPU_PROVIDER]),
        ("AUTO", ["AzureExecutionProvider", CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", ["DmlExecutionProvider", CPU_PROVIDER], ["DmlExecutionProvider", CPU_PROVIDER]),
        ("cuda", [CPU_PROVIDER], [CUDA, CPU_PROVIDER]),  # asked for even when the build lacks it
        ("cuda", GPU_BUILD, [CUDA, CPU_PROVIDER]),
        ("tensorrt", GPU_BUILD, [TENSORRT, CUDA, CPU_PROVIDER]),
        ("cpu", GPU_BUILD, [CPU_PROVIDER]),
    ],
)
def test_requested_provider_list(choice: str, available: list[str], expected: list[str]) -> None:
    assert requested_provider_list(choice, available) == expected


def test_every_documented_choice_is_accepted_and_ends_with_cpu() -> None:
    for choice in PROVIDER_CHOICES:
        assert requested_provider_list(choice, GPU_BUILD)[-1] == CPU_PROVIDER


def test_unknown_provider_choice_is_refused_with_the_choices() -> None:
    with pytest.raises(FaceIdentityError) as caught:
        requested_provider_list("cudaa", GPU_BUILD)
    for choice in PROVIDER_CHOICES:
        assert choice in str(caught.value)


class FakeOrt:
    """Replaces onnxruntime's provider list and InferenceSession; the model really runs on the CPU.

    ``active`` decides what ``get_providers()`` reports: ``"cpu"`` (the silent fallback of
    microsoft/onnxruntime#23372) or ``"requested"`` (the GPU provider loaded).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, available: list[str], active: str) -> None:
        import onnxruntime as ort

        real_session = ort.InferenceSession
        self.available = available
        self.provider_lists: list[Any] = []
        self.preloads = 0
        fake = self

        class Session:
            def __init__(self, path: str, sess_options: Any = None, providers: Any = None) -> None:
                fake.provider_lists.append(providers)
                self._names = [name for name, _ in providers] if active == "requested" else [CPU_PROVIDER]
                self._session = real_session(path, sess_options=sess_options, providers=[CPU_PROVIDER])

            def get_providers(self) -> list[str]:
                return list(self._names)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._session, name)

        def preload() -> None:
            fake.preloads += 1

        monkeypatch.setattr(ort, "get_available_providers", lambda: list(self.available))
        monkeypatch.setattr(ort, "InferenceSession", Session)
        monkeypatch.setattr(ort, "preload_dlls", preload, raising=False)


@pytest.fixture
def fake_ort(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str], str], FakeOrt]:
    return lambda available, active: FakeOrt(monkeypatch, available, active)


def run_tiny(session: Any, path: Path) -> np.ndarray:
    blob = np.zeros((2, 3, 112, 112), np.float32)
    return session.run({session.inputs[0].name: blob})[0]


def test_cuda_requested_but_cpu_active_warns_loudly(
    fake_ort: Callable[..., FakeOrt], tiny_recognizer_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_ort(GPU_BUILD, "cpu")
    with caplog.at_level(logging.WARNING, logger="face_identity.runtime"):
        session = open_session(tiny_recognizer_path, "cuda")

    assert session.requested_providers == (CUDA, CPU_PROVIDER)
    assert session.active_providers == (CPU_PROVIDER,)
    assert not session.on_gpu
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "face_identity.runtime"]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert text.startswith("!!!") and CUDA in text and CPU_PROVIDER in text and tiny_recognizer_path.name in text
    assert fake.preloads == 1  # CUDA libraries were offered to onnxruntime before the session
    assert run_tiny(session, tiny_recognizer_path).shape == (2, 512)


def test_cuda_requested_but_cpu_active_raises_when_strict(fake_ort: Callable[..., FakeOrt], tiny_recognizer_path: Path) -> None:
    fake_ort(GPU_BUILD, "cpu")
    with pytest.raises(ProviderUnavailableError) as caught:
        open_session(tiny_recognizer_path, "cuda", strict=True)
    assert CUDA in str(caught.value) and CPU_PROVIDER in str(caught.value)


def test_auto_on_a_gpu_build_fallback_also_warns(
    fake_ort: Callable[..., FakeOrt], tiny_recognizer_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ort(GPU_BUILD, "cpu")
    with caplog.at_level(logging.WARNING, logger="face_identity.runtime"):
        session = open_session(tiny_recognizer_path, "auto")
    assert session.requested_providers == (CUDA, CPU_PROVIDER)
    assert any("!!!" in r.getMessage() for r in caplog.records)


def test_active_gpu_provider_is_reported_without_warning(
    fake_ort: Callable[..., FakeOrt], tiny_recognizer_path: Path, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    fake = fake_ort(GPU_BUILD, "requested")
    with caplog.at_level(logging.WARNING, logger="face_identity.runtime"):
        session = open_session(tiny_recognizer_path, "cuda", strict=True, device_id=1)
        tensorrt = open_session(tiny_recognizer_path, "tensorrt", cache_dir=tmp_path)

    assert session.on_gpu and session.active_providers == (CUDA, CPU_PROVIDER)
    assert session.describe_providers() == f"{CUDA}, {CPU_PROVIDER}"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    cuda_options = dict(fake.provider_lists[0])
    assert cuda_options[CUDA]["device_id"] == 1
    trt_options = dict(fake.provider_lists[1])[TENSORRT]
    assert trt_options["trt_engine_cache_enable"] and trt_options["trt_engine_cache_path"] == str(tmp_path)
    assert tensorrt.active_providers[0] == TENSORRT


def test_provider_missing_from_the_build_strict_raises(fake_ort: Callable[..., FakeOrt], tiny_recognizer_path: Path) -> None:
    fake = fake_ort([CPU_PROVIDER], "cpu")
    with pytest.raises(ProviderUnavailableError) as caught:
        open_session(tiny_recognizer_path, "cuda", strict=True)
    assert CUDA in str(caught.value) and "onnxruntime-gpu" in str(caught.value)
    assert fake.provider_lists == []  # refused before a session was built


def test_provider_missing_from_the_build_warns_and_runs_on_cpu(
    fake_ort: Callable[..., FakeOrt], tiny_recognizer_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_ort([CPU_PROVIDER], "cpu")
    with caplog.at_level(logging.WARNING, logger="face_identity.runtime"):
        session = open_session(tiny_recognizer_path, "cuda")

    assert session.requested_providers == (CPU_PROVIDER,)
    assert session.active_providers == (CPU_PROVIDER,)
    assert [name for name, _ in fake.provider_lists[0]] == [CPU_PROVIDER]
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(CUDA in m and "onnxruntime-gpu" in m and "Falling back" in m for m in messages)
    assert run_tiny(session, tiny_recognizer_path).shape == (2, 512)


def test_auto_without_cuda_provider_but_torch_sees_a_gpu_warns(
    fake_ort: Callable[..., FakeOrt],
    tiny_recognizer_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_ort([CPU_PROVIDER], "cpu")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: True)))
    with caplog.at_level(logging.WARNING, logger="face_identity.runtime"):
        session = open_session(tiny_recognizer_path, "auto")
    assert session.active_providers == (CPU_PROVIDER,)
    assert any("onnxruntime-gpu" in r.getMessage() for r in caplog.records)


def test_plain_cpu_session_runs_quietly(tiny_recognizer_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="face_identity.runtime"):
        session = open_session(tiny_recognizer_path, "cpu", intra_op_threads=1)
        listed = open_session(tiny_recognizer_path, [CPU_PROVIDER])
    assert session.active_providers[0] == CPU_PROVIDER and not session.on_gpu
    assert listed.requested_providers == (CPU_PROVIDER,)
    assert not caplog.records
    assert session.inputs[0].shape[1:] == (3, 112, 112) and session.outputs[0].shape[1] == 512
    np.testing.assert_array_equal(run_tiny(session, tiny_recognizer_path), run_tiny(listed, tiny_recognizer_path))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_model_file_is_a_model_file_error_with_advice(tiny_recognizer_path: Path, tmp_path: Path, damage: str) -> None:
    original = tiny_recognizer_path.read_bytes()
    content = {"truncated": original[: len(original) // 2], "garbage": bytes(range(256)) * 40, "empty": b""}[damage]
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(content)

    with pytest.raises(ModelFileError) as caught:
        open_session(broken, "cpu")
    message = str(caught.value)
    assert str(broken) in message
    assert "not a valid ONNX model" in message and "download it again" in message


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        open_session(tmp_path / "nothing.onnx")


# --- signatures ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yoloface_like_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.build_yoloface_like(tmp_path_factory.mktemp("yolo") / "yoloface_like.onnx", np.zeros((1, 20), np.float32))


@pytest.fixture(scope="module")
def inswapper_like_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.build_inswapper_like(tmp_path_factory.mktemp("swap") / "inswapper_like.onnx")


@pytest.mark.parametrize(
    ("fixture", "kind", "family"),
    [
        ("tiny_recognizer_path", "recognizer", None),
        ("scrfd_like_path", "detector", "scrfd"),
        ("scrfd_like_dynamic_path", "detector", "scrfd"),
        ("yoloface_like_path", "detector", "yoloface"),
        ("inswapper_like_path", "swapper", None),
    ],
)
def test_synthetic_models_are_classified(request: pytest.FixtureRequest, fixture: str, kind: str, family: str | None) -> None:
    session = open_session(request.getfixturevalue(fixture), "cpu")
    signature = classify_signature(session.inputs, session.outputs)
    assert (signature.kind, signature.family) == (kind, family)
    assert require_kind(session, kind) == signature  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("short_name", "kind"),
    [
        ("scrfd", "detector"),
        ("det500m", "detector"),
        ("mbf_int8", "recognizer"),
        ("foamliu", "recognizer"),
        ("foamliu_fp16", "recognizer"),
    ],
)
def test_real_models_are_classified(real_models: dict[str, Path], short_name: str, kind: str) -> None:
    session = open_session(real_models[short_name], "cpu")
    assert classify_signature(session.inputs, session.outputs).kind == kind


def test_yunet_is_unknown_and_said_to_be_unsupported(shared_data: Path) -> None:
    session = open_session(shared_data / "models" / "face_detection_yunet_2026may.onnx", "cpu")
    signature = classify_signature(session.inputs, session.outputs)
    assert signature.kind == "unknown"
    assert "not supported" in signature.detail
    with pytest.raises(ModelMismatchError, match="is not a face detector .*Supported detectors"):
        require_kind(session, "detector")


def test_classify_from_declared_shapes() -> None:
    image = TensorInfo("input.1", ("N", 3, 112, 112), "tensor(float)")
    assert classify_signature([image], [TensorInfo("out", ("N", 512), "tensor(float)")]).kind == "recognizer"
    # a 2-D output on a non-face-sized input is not a recognizer
    small = TensorInfo("x", (1, 3, 64, 64), "tensor(float)")
    assert classify_signature([small], [TensorInfo("out", (1, 10), "tensor(float)")]).kind == "unknown"
    swapper_inputs = [TensorInfo("target", (1, 3, 128, 128), "tensor(float)"), TensorInfo("source", (1, 512), "tensor(float)")]
    assert classify_signature(swapper_inputs, [TensorInfo("output", (1, 3, 128, 128), "tensor(float)")]).kind == "swapper"
    detector_outputs = [TensorInfo(f"o{i}", (None, 1), "tensor(float)") for i in range(6)]
    assert classify_signature([TensorInfo("x", (1, 3, None, None), "tensor(float)")], detector_outputs).family == "scrfd"
    grey = TensorInfo("x", (1, 1, 112, 112), "tensor(float)")
    assert classify_signature([grey], [TensorInfo("out", (1, 512), "tensor(float)")]).kind == "unknown"


def test_detector_loaded_as_recognizer_is_a_mismatch(real_models: dict[str, Path]) -> None:
    with pytest.raises(ModelMismatchError) as caught:
        load_recognizer(real_models["scrfd"], providers="cpu", allow_download=False)
    assert "scrfd_2.5g_bnkps_640.onnx is a face detector, not a face recognizer" in str(caught.value)


def test_synthetic_detector_loaded_as_recognizer_is_a_mismatch(scrfd_like_dynamic_path: Path) -> None:
    with pytest.raises(ModelMismatchError, match="is a face detector, not a face recognizer"):
        load_recognizer(scrfd_like_dynamic_path, providers="cpu", allow_download=False)


def test_recognizer_loaded_as_detector_is_a_mismatch(tiny_recognizer_path: Path, inswapper_like_path: Path) -> None:
    with pytest.raises(ModelMismatchError, match="is a face recognizer .*, not a face detector"):
        load_detector(tiny_recognizer_path, providers="cpu", allow_download=False)
    with pytest.raises(ModelMismatchError, match="is a face swapper, not a face recognizer"):
        load_recognizer(inswapper_like_path, providers="cpu", allow_download=False)
