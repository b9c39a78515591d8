"""The nodes under bad input, by class: refused images, empty batches, non-finite numbers, gates passing nothing,
concurrent use of one loaded model. One policy (face_identity.validate) gives every node the same answer."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

SMALL = (96, 128)  # a face-less frame size for the cheap cases


def photo(shared_data: Path, relative: str) -> torch.Tensor:
    from face_identity.images import read_image

    return torch.from_numpy(read_image(shared_data / relative).astype(np.float32) / 255.0)[None]


@pytest.fixture
def errors(pack: Any) -> Any:
    return pack.face_identity.errors


def poisoned(kind: str) -> torch.Tensor:
    """A 2-image batch whose image 1 breaks the policy (image 0 is fine)."""
    batch = torch.full((2, *SMALL, 3), 0.5)
    if kind == "nan":
        batch[1, 3, 4, 0] = float("nan")
    elif kind == "inf":
        batch[1, 5, 6, 2] = float("inf")
    else:  # a 0..255 float image, the common mix-up
        batch[1] *= 255.0
    return batch


IMAGE_NODES = ("Face Detect", "Face Align", "Face Embed", "Identity Consistency", "Face Swap", "Face Paste", "Preview Faces")


def run_image_node(name: str, nodes: dict[str, Any], loaded: tuple[Any, Any], image: torch.Tensor) -> Any:
    """Call node ``name`` with ``image`` and otherwise valid inputs."""
    recognizer, detector = loaded
    clean = torch.full(image.shape, 0.5)
    if name == "Face Detect":
        return nodes["FaceDetect"].detect(image, detector, "large-small", "", 0, 0)
    if name == "Face Align":
        return nodes["FaceAlign"].align(image, "arcface_112", 112, detector=detector)
    if name == "Face Embed":
        return nodes["FaceEmbed"].embed(recognizer, image, False, detector=detector)
    if name == "Identity Consistency":
        reference = _reference(recognizer)
        return nodes["IdentityConsistency"].check(reference, image, recognizer, detector, 0.4, "large-small", "", 0, 0)
    if name == "Face Swap":  # refused before the swapper is touched
        return nodes["FaceSwap"].swap(image, None, None, detector, "all", "large-small", "0", 0.3, "1", 1.0, 1.0, False)
    faces = nodes["FaceDetect"].detect(clean, detector, "large-small", "", 0, 0)[0]
    if name == "Face Paste":
        crops = torch.zeros((0, 112, 112, 3))
        return nodes["FacePaste"].paste(image, crops, faces, 1.0)
    return nodes["PreviewFaces"].preview(image, faces, True, True)


def _reference(recognizer: Any) -> Any:
    """A one-row identity in the recognizer's space (of the pack's own library classes)."""
    from conftest import load_pack_module

    vector = np.ones((1, recognizer.dimension), np.float32) / np.sqrt(recognizer.dimension)
    return load_pack_module().face_identity.Identity(vector, recognizer.model_id)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["nan", "inf", "range"])
@pytest.mark.parametrize("node", IMAGE_NODES)
def test_every_image_node_refuses_a_bad_image_the_same_way(
    nodes: dict[str, Any], loaded: tuple[Any, Any], errors: Any, node: str, kind: str
) -> None:
    expected = {"nan": "NaN or infinite", "inf": "NaN or infinite", "range": "divide it by 255"}[kind]
    with pytest.raises(errors.InvalidImageError, match=rf"^{node}.*: image 1 of the batch .*{expected}"):
        run_image_node(node, nodes, loaded, poisoned(kind))


def test_slight_overshoot_is_clipped_not_refused(nodes: dict[str, Any], loaded: tuple[Any, Any], pack: Any) -> None:
    image = torch.full((1, *SMALL, 3), 0.5)
    image[0, 0, 0] = 1.01  # within IMAGE_RANGE_TOLERANCE
    image[0, 0, 1] = -0.01
    faces = nodes["FaceDetect"].detect(image, loaded[1], "large-small", "", 0, 0)[0]
    (preview,) = nodes["PreviewFaces"].preview(image, faces, True, True)
    assert preview.shape == image.shape and float(preview.min()) >= 0.0 and float(preview.max()) <= 1.0
    with pytest.raises(pack.face_identity.errors.InvalidImageError, match="values"):
        pack.face_identity.validate.check_image_batch(image + 0.05, "test")


def test_empty_batches_keep_their_shape(nodes: dict[str, Any], loaded: tuple[Any, Any], errors: Any, pack: Any) -> None:
    recognizer, detector = loaded
    blank = torch.full((1, *SMALL, 3), 0.5)  # no face
    crops, faces, mask = nodes["FaceAlign"].align(blank, "arcface_112", 112, detector=detector)
    assert tuple(crops.shape) == (0, 112, 112, 3) and tuple(mask.shape) == (0, 112, 112)
    with pytest.raises(errors.NoFaceFoundError, match="Face Embed: the IMAGE batch is empty"):
        nodes["FaceEmbed"].embed(recognizer, crops, False, faces=faces)

    empty = torch.zeros((0, *SMALL, 3))
    none_found, count, _ = nodes["FaceDetect"].detect(empty, detector, "large-small", "", 0, 0)
    assert count == 0 and len(none_found) == 0
    pasted, paste_mask = nodes["FacePaste"].paste(empty, torch.zeros((0, 112, 112, 3)), none_found, 1.0)
    assert tuple(pasted.shape) == (0, *SMALL, 3) and tuple(paste_mask.shape) == (0, *SMALL)
    (preview,) = nodes["PreviewFaces"].preview(empty, none_found, True, True)
    assert tuple(preview.shape) == (0, *SMALL, 3)

    best, passing, index, score, passed, report, chart, info = nodes["IdentityConsistency"].check(
        _reference(recognizer), empty, recognizer, detector, 0.4, "large-small", "", 0, 0
    )
    is_blocked = pack.nodes.comfy.is_blocked
    assert is_blocked(best) and is_blocked(passing) and (index, score, passed, report) == (-1, 0.0, 0, "[]")
    assert chart.shape[0] == 1 and "empty batch" in info


def test_gate_passing_nothing_blocks_only_passing_images(
    nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path, pack: Any
) -> None:
    recognizer, detector = loaded
    obama = photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg")
    reference = nodes["FaceEmbed"].embed(recognizer, obama, False, detector=detector)[0]
    other = photo(shared_data, "faces/barack_obama/face_recognition_obama2.jpg")
    batch = torch.cat([other, torch.full_like(other, 0.5)])
    best, passing, index, score, passed, report, chart, info = nodes["IdentityConsistency"].check(
        reference, batch, recognizer, detector, 1.0, "large-small", "", 0, 0
    )
    comfy = pack.nodes.comfy
    assert comfy.is_blocked(passing) and isinstance(passing, comfy.BlockedOutput) and passing.message is None
    assert not comfy.is_blocked(best) and torch.equal(best[0], batch[0]) and index == 0 and passed == 0
    assert 0.4 < score < 1.0 and chart.shape[0] == 1
    assert "no image passed the threshold 1.00" in info and "passing_images is blocked" in info


def test_blocked_output_is_comfyuis_blocker_inside_comfyui(pack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    module = types.ModuleType("comfy_execution.graph_utils")

    class ExecutionBlocker:
        def __init__(self, message: str | None) -> None:
            self.message = message

    module.ExecutionBlocker = ExecutionBlocker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "comfy_execution", types.ModuleType("comfy_execution"))
    monkeypatch.setitem(sys.modules, "comfy_execution.graph_utils", module)
    blocked = pack.nodes.comfy.blocked_output()
    assert isinstance(blocked, ExecutionBlocker) and blocked.message is None  # silent: no error for the user
    assert pack.nodes.comfy.is_blocked(blocked)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused_by_name(
    nodes: dict[str, Any], loaded: tuple[Any, Any], errors: Any, pack: Any, value: float
) -> None:
    recognizer, detector = loaded
    image = torch.full((1, *SMALL, 3), 0.5)
    reference = _reference(recognizer)
    with pytest.raises(errors.InvalidArgumentError, match="Identity Consistency: threshold is"):
        nodes["IdentityConsistency"].check(reference, image, recognizer, detector, value, "large-small", "", 0, 0)
    with pytest.raises(errors.InvalidArgumentError, match="Identity Similarity: threshold is"):
        nodes["IdentitySimilarity"].compare(reference, reference, value)
    with pytest.raises(errors.InvalidArgumentError, match="Identity Average: weight_1 is"):
        nodes["IdentityAverage"].average(reference, value, -1.0)
    with pytest.raises(errors.InvalidArgumentError, match="Face Swap: strength is"):
        nodes["FaceSwap"].swap(image, None, None, detector, "all", "large-small", "0", 0.3, "1", value, 1.0, False)
    faces = nodes["FaceDetect"].detect(image, detector, "large-small", "", 0, 0)[0]
    with pytest.raises(errors.InvalidArgumentError, match="Face Paste: blur_scale is"):
        nodes["FacePaste"].paste(image, torch.zeros((0, 112, 112, 3)), faces, value)
    with pytest.raises(errors.InvalidArgumentError, match="Load Face Detector: score_threshold is"):
        nodes["LoadFaceDetector"].load("retinaface_10g", 640, value, 0.4, "cpu", False)
    with pytest.raises(errors.InvalidArgumentError, match="score_chart: threshold is"):
        pack.face_identity.draw.score_chart([0.5], value, [True])
    with pytest.raises(errors.InvalidArgumentError, match="consistency_scores: threshold is"):
        pack.face_identity.consistency_scores(reference, None, 1, value)


def test_face_paste_never_writes_nan(nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path, errors: Any) -> None:
    _, detector = loaded
    image = photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg")
    crops, faces, _ = nodes["FaceAlign"].align(image, "arcface_112", 112, detector=detector)
    assert crops.shape[0] >= 1
    bad = crops.clone()
    bad[0, 10, 10, 1] = float("nan")
    with pytest.raises(errors.InvalidImageError, match=r"^Face Paste \(aligned\): image 0 .*NaN"):
        nodes["FacePaste"].paste(image, bad, faces, 1.0)
    pasted, mask = nodes["FacePaste"].paste(image, crops, faces, 1.0)
    assert torch.isfinite(pasted).all() and torch.isfinite(mask).all()


def test_one_loaded_model_serves_two_threads(nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path) -> None:
    recognizer, detector = loaded
    images = [
        photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg"),
        photo(shared_data, "faces/joe_biden/face_recognition_biden.jpg"),
    ]
    expected = [nodes["FaceEmbed"].embed(recognizer, image, False, detector=detector)[0].embeddings for image in images]
    results: dict[int, Any] = {}
    failures: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            for _ in range(3):
                results[slot] = nodes["FaceEmbed"].embed(recognizer, images[slot], False, detector=detector)[0].embeddings
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    for slot in (0, 1):
        np.testing.assert_allclose(results[slot], expected[slot], atol=1e-5)


def test_text_inputs_are_checked_before_the_run(pack: Any) -> None:
    import inspect

    mappings = pack.NODE_CLASS_MAPPINGS
    for key in ("FaceIdentity_FaceDetect", "FaceIdentity_IdentityConsistency", "FaceIdentity_FaceSwap"):
        validate = mappings[key].VALIDATE_INPUTS
        assert validate(indices="0, 2") is True and validate(indices="") is True and validate() is True  # linked
        answer = validate(indices="0,x")
        assert isinstance(answer, str) and "'x' is not a non-negative whole number" in answer
    save = mappings["FaceIdentity_SaveIdentity"].VALIDATE_INPUTS
    assert save(name="Jane Doe") is True
    assert "is not allowed" in save(name="../evil") and "is not allowed" in save(name="CON")
    for key, cls in mappings.items():
        if hasattr(cls, "VALIDATE_INPUTS"):  # only text inputs: ComfyUI keeps checking ranges and choices of the rest
            spec = inspect.getfullargspec(cls.VALIDATE_INPUTS)
            assert spec.varkw is None and set(spec.args[1:]) <= {"indices", "name", "fallback"}, key


@pytest.fixture
def no_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    """As after a manual install from requirements.txt only: ``import onnxruntime`` fails."""
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)


def test_without_onnxruntime_auto_runs_torch_and_says_so(
    nodes: dict[str, Any], model_folder: Path, shared_data: Path, no_onnxruntime: None, errors: Any, pack: Any
) -> None:
    assert not pack.face_identity.runtime.onnxruntime_available()
    recognizer, info = nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "auto", "auto", "float32", 0, False)
    assert "backend torch" in info and "onnxruntime not installed" in info and not recognizer.model.has_session
    detector, info = nodes["LoadFaceDetector"].load("retinaface_10g", 640, 0.5, 0.4, "auto", False)
    assert "backend torch" in info and "onnxruntime not installed" in info
    identity, count, _ = nodes["FaceEmbed"].embed(
        recognizer, photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg"), False, detector=detector
    )
    assert count == 1 and np.isfinite(identity.embeddings).all()
    with pytest.raises(errors.ProviderUnavailableError, match="pip install onnxruntime.*onnxruntime-gpu.*install.py"):
        nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "onnxruntime", "auto", "float32", 0, False)


def test_torch_backend_keeps_no_onnxruntime_session(nodes: dict[str, Any], model_folder: Path) -> None:
    recognizer, info = nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "torch", "cpu", "float32", 0, False)
    assert not recognizer.model.has_session and "onnxruntime: not used" in info
    onnx_recognizer, _ = nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "onnxruntime", "cpu", "float32", 0, False)
    assert onnx_recognizer.model.has_session and onnx_recognizer.model_id == recognizer.model_id


def test_swapper_without_onnxruntime_and_without_a_second_session(
    nodes: dict[str, Any], model_folder: Path, monkeypatch: pytest.MonkeyPatch, errors: Any
) -> None:
    import sys

    from conftest import build_paired_swapper

    build_paired_swapper(model_folder)
    swapper, info = nodes["LoadFaceSwapper"].load("inswapper_128", "torch", "cpu", "float32", False)
    assert "backend torch" in info and not swapper.model.has_session  # checked against onnxruntime, then released
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    swapper, info = nodes["LoadFaceSwapper"].load("inswapper_128", "auto", "auto", "float32", False)
    assert "backend torch" in info and "onnxruntime not installed" in info
    with pytest.raises(errors.ProviderUnavailableError, match="pip install onnxruntime"):
        nodes["LoadFaceSwapper"].load("inswapper_128", "onnxruntime", "auto", "float32", False)


def test_mask_and_restore_models_without_onnxruntime_and_without_a_second_session(
    nodes: dict[str, Any], model_folder: Path, monkeypatch: pytest.MonkeyPatch, errors: Any
) -> None:
    import sys

    from conftest import build_stand_in_mask_models

    build_stand_in_mask_models(model_folder)
    (occluder,), info = nodes["LoadFaceOccluder"].load("xseg_1", "torch", "cpu", "float32")
    assert "backend torch" in info and not occluder.model.has_session  # checked against onnxruntime, then released
    onnx_restorer, _ = nodes["LoadFaceRestorer"].load("gfpgan_1.4", "onnxruntime", "cpu", "float32")
    assert onnx_restorer.model.has_session
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    restorer, info = nodes["LoadFaceRestorer"].load("gfpgan_1.4", "auto", "auto", "float32")
    assert "backend torch" in info and not restorer.model.has_session
    probe = np.random.default_rng(0).random((1, 512, 512, 3), dtype=np.float32)
    assert np.isfinite(restorer.run(restorer.preprocess(probe))[0]).all()
    with pytest.raises(errors.ProviderUnavailableError, match="pip install onnxruntime"):
        nodes["LoadFaceParser"].load("bisenet_resnet_34", "onnxruntime", "auto", "float32")


def test_torch_models_are_handed_to_comfyuis_model_management(
    nodes: dict[str, Any], model_folder: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake comfy.model_management / comfy.model_patcher: torch graphs are registered once and loaded before each use."""
    import sys
    import types

    calls: list[tuple[list[Any], bool]] = []

    class ModelPatcher:
        def __init__(self, model: Any, load_device: Any, offload_device: Any) -> None:
            self.model, self.load_device, self.offload_device = model, load_device, offload_device

    management = types.ModuleType("comfy.model_management")
    management.get_torch_device = lambda: torch.device("cpu")  # type: ignore[attr-defined]
    management.unet_offload_device = lambda: torch.device("cpu")  # type: ignore[attr-defined]
    management.load_models_gpu = lambda patchers, force_full_load=False: calls.append((list(patchers), force_full_load))  # type: ignore[attr-defined]
    patcher_module = types.ModuleType("comfy.model_patcher")
    patcher_module.ModelPatcher = ModelPatcher  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "comfy", types.ModuleType("comfy"))
    monkeypatch.setitem(sys.modules, "comfy.model_management", management)
    monkeypatch.setitem(sys.modules, "comfy.model_patcher", patcher_module)

    recognizer, _ = nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "torch", "cpu", "float32", 0, False)
    detector, _ = nodes["LoadFaceDetector"].load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)  # onnxruntime: not managed
    image = photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg")
    first = nodes["FaceEmbed"].embed(recognizer, image, False, detector=detector)[0]
    second = nodes["FaceEmbed"].embed(recognizer, image, False, detector=detector)[0]
    assert len(calls) == 2 and all(force for _, force in calls) and all(len(patchers) == 1 for patchers, _ in calls)
    patcher = calls[0][0][0]
    assert calls[1][0][0] is patcher and patcher.load_device == recognizer.backend.graph.device
    module = patcher.model
    graph_tensors = list(recognizer.backend.graph.tensors.values())
    parameters = list(module.parameters())
    assert len(parameters) == len(graph_tensors)
    assert all(p.data_ptr() == t.data_ptr() for p, t in zip(parameters, graph_tensors))  # no copy of the weights
    assert module.to(torch.device("cpu")) is module  # what ComfyUI calls to load/offload
    np.testing.assert_allclose(first.embeddings, second.embeddings, atol=1e-6)
