"""Face Mask, Face Restore and their loaders as ComfyUI nodes, on a real photo with synthetic stand-in models."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import build_stand_in_swappers

from face_identity.devtools import synthetic_masks

NEW_NODES = ("LoadFaceLandmarker", "LoadFaceOccluder", "LoadFaceParser", "LoadFaceRestorer", "FaceMask", "FaceRestore")


@pytest.fixture
def stand_ins(model_folder: Path, shared_data: Path) -> Path:
    """The model folder with synthetic XSeg/BiSeNet/GFPGAN stand-ins under catalog names, and the real PFLD."""
    synthetic_masks.build_xseg_like(model_folder / "xseg_1.onnx")
    synthetic_masks.build_bisenet_like(model_folder / "bisenet_resnet_34.onnx")
    synthetic_masks.build_restorer_like(model_folder / "gfpgan_1.4.onnx")
    shutil.copy(shared_data / "models" / "landmarks_68_pfld.onnx", model_folder / "landmarks_68_pfld.onnx")
    return model_folder


@pytest.mark.parametrize("name", NEW_NODES)
def test_every_input_and_output_has_a_tooltip(pack: Any, name: str) -> None:
    cls = pack.NODE_CLASS_MAPPINGS["FaceIdentity_" + name]
    assert cls.DESCRIPTION and cls.CATEGORY.startswith("face_identity")
    for section in cls.INPUT_TYPES().values():
        for key, entry in section.items():
            assert len(entry) == 2 and entry[1].get("tooltip"), f"{name}.{key} has no tooltip"
    assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES)


def _photo(shared_data: Path) -> torch.Tensor:
    from face_identity.images import read_image

    image = read_image(shared_data / "faces" / "barack_obama" / "face_recognition_obama.jpg")
    return torch.from_numpy(image.astype(np.float32) / 255.0)[None]


def test_face_mask_and_restore_nodes_end_to_end(pack: Any, nodes: dict[str, Any], stand_ins: Path, shared_data: Path) -> None:
    recognizer, _ = nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "auto", "cpu", "float32", 0, False)
    detector, _ = nodes["LoadFaceDetector"].load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)
    image = torch.cat([_photo(shared_data), torch.zeros_like(_photo(shared_data))])  # the second frame has no face
    pipeline = pack.face_identity.pipeline
    frames = [np.rint(frame.numpy() * 255).astype(np.uint8) for frame in image]
    faces = pipeline.detect_faces(detector, frames, pipeline.FaceSelection())
    assert faces.face_count >= 1 and len(faces.faces_per_image[1]) == 0

    occluder, info = nodes["LoadFaceOccluder"].load("xseg_1", "onnxruntime", "cpu", "float32")
    assert "GPL" in info and len(occluder) == 1
    parser, _ = nodes["LoadFaceParser"].load("bisenet_resnet_34", "onnxruntime", "cpu", "float32")
    landmarker, info = nodes["LoadFaceLandmarker"].load("landmarks_68_pfld.onnx", "onnxruntime", "cpu", "float32")
    assert "landmarker_pfld" in info
    restorer, info = nodes["LoadFaceRestorer"].load("gfpgan_1.4", "onnxruntime", "cpu", "float32")
    assert "Apache" in info

    mask, preview, spec, text = nodes["FaceMask"].mask(
        image, faces, True, True, False, True, 0.3, 0, 0, 0, 0, "skin, mouth", "mouth", occluder, parser, landmarker
    )
    assert mask.shape == (2, image.shape[1], image.shape[2]) and preview.shape == image.shape
    assert 0 < float(mask[0].max()) <= 1 and float(mask[1].max()) == 0
    assert "areas mouth" in text and spec.types == ("box", "occlusion", "area")

    restored, used, drift, to_source, report = nodes["FaceRestore"].restore(
        image, faces, restorer, 0.8, 0.5, 0.3, None, recognizer, None
    )
    assert restored.shape == image.shape and used.shape == mask.shape
    assert len(drift) == faces.face_count and all(value > 0.99 for value in drift)  # identity stand-in restorer
    assert to_source == [] and "image 0 face 0" in report
    assert torch.equal(restored[1], image[1])
    with_spec = nodes["FaceRestore"].restore(image, faces, restorer, 0.8, 0.5, 0.3, spec, None, None)
    assert "not measured" in with_spec[4] and with_spec[2] == []


def test_face_mask_needs_the_model_of_each_type(pack: Any, nodes: dict[str, Any], stand_ins: Path, shared_data: Path) -> None:
    InvalidArgumentError = pack.face_identity.errors.InvalidArgumentError  # noqa: N806
    FaceBatch = pack.face_identity.types.FaceBatch  # noqa: N806

    image = _photo(shared_data)
    empty = FaceBatch(((),), ((image.shape[1], image.shape[2]),))
    with pytest.raises(InvalidArgumentError, match="occluder"):
        nodes["FaceMask"].mask(image, empty, True, True, False, False, 0.3, 0, 0, 0, 0, "skin", "mouth")
    with pytest.raises(InvalidArgumentError, match="mask types"):
        nodes["FaceMask"].mask(image, empty, False, False, False, False, 0.3, 0, 0, 0, 0, "skin", "mouth")
    mask = nodes["FaceMask"].mask(image, empty, True, False, False, False, 0.3, 0, 0, 0, 0, "skin", "mouth")[0]
    assert float(mask.max()) == 0


def test_face_mask_spec_into_face_swap(pack: Any, nodes: dict[str, Any], stand_ins: Path, shared_data: Path) -> None:
    """The FACEID_MASK_SPEC output of Face Mask, an optional input of Face Swap after the older ones, limits the paste."""
    build_stand_in_swappers(stand_ins)
    optional = list(nodes["FaceSwap"].INPUT_TYPES()["optional"])
    # inputs are only ever appended, so saved workflows keep their widget positions
    assert (
        optional[-4:] == ["mask_spec", "paste", "inswapper_latent", "tracking"]
        and nodes["FaceSwap"].INPUT_TYPES()["optional"]["mask_spec"][0] == "FACEID_MASK_SPEC"
    )
    recognizer, _ = nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "auto", "cpu", "float32", 0, False)
    detector, _ = nodes["LoadFaceDetector"].load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)
    swapper, _ = nodes["LoadFaceSwapper"].load("hyperswap_1a_256", "onnxruntime", "cpu", "float32", False)
    image = _photo(shared_data)
    source = nodes["FaceEmbed"].embed(recognizer, image, False, detector=detector)[0]
    frames = [np.rint(frame.numpy() * 255).astype(np.uint8) for frame in image]
    faces = pack.face_identity.pipeline.detect_faces(detector, frames, pack.face_identity.pipeline.FaceSelection())
    parser, _ = nodes["LoadFaceParser"].load("bisenet_resnet_34", "onnxruntime", "cpu", "float32")
    spec = nodes["FaceMask"].mask(image, faces, True, False, True, False, 0.3, 0, 0, 50, 0, "skin", "mouth", None, parser)[2]
    arguments = (image, source, swapper, detector, "all", "large-small", "0", 0.4, "1", 1.0, 1.0, False)
    plain = nodes["FaceSwap"].swap(*arguments)
    masked = nodes["FaceSwap"].swap(*arguments, mask_spec=spec)
    assert plain[2] == masked[2] == 1
    assert float(masked[1].sum()) < 0.9 * float(plain[1].sum()) and bool(torch.all(masked[1] <= plain[1] + 1e-5))
    untouched = masked[1][0] == 0
    assert torch.equal(masked[0][0][untouched], image[0][untouched])


class _InterruptedError(Exception):
    pass


def test_face_mask_and_restore_report_progress_and_honour_cancel(
    pack: Any, nodes: dict[str, Any], stand_ins: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside ComfyUI both nodes move a progress bar face by face and stop when the user presses Cancel."""
    import types

    detector, _ = nodes["LoadFaceDetector"].load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)
    image = torch.cat([_photo(shared_data)] * 3)
    pipeline = pack.face_identity.pipeline
    faces = pipeline.detect_faces(detector, [np.rint(f.numpy() * 255).astype(np.uint8) for f in image], pipeline.FaceSelection())
    restorer, _ = nodes["LoadFaceRestorer"].load("gfpgan_1.4", "onnxruntime", "cpu", "float32")
    bars: list[list[int]] = []
    cancel = {"now": False}

    class ProgressBar:
        def __init__(self, total: int) -> None:
            self.seen = [total]
            bars.append(self.seen)

        def update_absolute(self, value: int, total: int | None = None, preview: object = None) -> None:
            self.seen.append(value)

    def throw_exception_if_processing_interrupted() -> None:
        if cancel["now"]:
            raise _InterruptedError

    comfy = types.ModuleType("comfy")
    utils = types.ModuleType("comfy.utils")
    management = types.ModuleType("comfy.model_management")
    utils.ProgressBar = ProgressBar  # type: ignore[attr-defined]
    management.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "comfy", comfy)
    monkeypatch.setitem(sys.modules, "comfy.utils", utils)
    monkeypatch.setitem(sys.modules, "comfy.model_management", management)

    nodes["FaceMask"].mask(image, faces, True, False, False, False, 0.3, 0, 0, 0, 0, "", "", None, None, None)
    nodes["FaceRestore"].restore(image, faces, restorer, 0.8, 0.5, 0.3, None, None, None)
    total = faces.face_count
    assert len(bars) == 2 and all(bar[0] == total and bar[1] == 0 and bar[-1] == total for bar in bars)
    cancel["now"] = True
    with pytest.raises(_InterruptedError):
        nodes["FaceRestore"].restore(image, faces, restorer, 0.8, 0.5, 0.3, None, None, None)


@pytest.mark.parametrize("node", ["FaceRestore", "FaceMask"])
def test_a_model_giving_nan_is_named_in_the_info_output(
    pack: Any, nodes: dict[str, Any], stand_ins: Path, shared_data: Path, node: str
) -> None:
    """Issue 23: a restorer/occluder whose output is NaN leaves the face as it was and the node's info output says why."""
    from face_identity.devtools.faulty import with_fault

    for name in ("gfpgan_1.4.onnx", "xseg_1.onnx"):
        with_fault(stand_ins / name, stand_ins / name, "nan")
    detector, _ = nodes["LoadFaceDetector"].load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)
    image = _photo(shared_data)
    pipeline = pack.face_identity.pipeline
    faces = pipeline.detect_faces(detector, [np.rint(image[0].numpy() * 255).astype(np.uint8)], pipeline.FaceSelection())
    if node == "FaceRestore":
        restorer, _ = nodes["LoadFaceRestorer"].load("gfpgan_1.4", "onnxruntime", "cpu", "float32")
        output, _, _, _, info = nodes["FaceRestore"].restore(image, faces, restorer, 0.8, 0.5, 0.3, None, None, None)
        assert torch.equal(output, image)
    else:
        occluder, _ = nodes["LoadFaceOccluder"].load("xseg_1", "onnxruntime", "cpu", "float32")
        output, _, _, info = nodes["FaceMask"].mask(
            image, faces, True, True, False, False, 0.3, 0, 0, 0, 0, "skin", "mouth", occluder, None, None
        )
        assert float(output.max()) == 0
    assert torch.isfinite(output).all()
    assert "image 0 face 0 skipped" in info and "NaN" in info and ".onnx" in info
