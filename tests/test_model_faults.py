"""Issue 23 class 1, one table: every model kind x fault (NaN output, wrong output size, wrong input at load).

A NaN or wrongly sized output raises ``ModelOutputError`` naming the file and the output (the runner's
one check, ``io_facts.check_outputs``); a file whose inputs differ from its facts is refused at load
with ``ModelMismatchError`` naming the file. A second table runs the stages that paste into images
(swap, restore, masks) with a model that breaks on one of two faces: that face is skipped and flagged,
its pixels stay, the other face is processed, and nothing non-finite comes out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from face_identity.align import template_points
from face_identity.detect import load_face_detector
from face_identity.devtools import synthetic, synthetic_masks
from face_identity.devtools.faulty import with_fault
from face_identity.embed import load_recognizer
from face_identity.errors import ModelMismatchError, ModelOutputError
from face_identity.face_models import load_face_model
from face_identity.landmarks68 import add_landmarks_68
from face_identity.masks import MaskSpec, face_masks
from face_identity.restore import RestoreSettings, restore_faces
from face_identity.swap import SwapSettings, detect_and_swap, load_swapper, swap_faces
from face_identity.types import Face, FaceBatch, Identity

OPTIONS: dict[str, Any] = {"providers": "cpu", "allow_download": False}
RNG = np.random.default_rng(23)

Build = Callable[[Path], Path]
Load = Callable[[Path], Any]
Run = Callable[[Any], Any]

# kind: (a working file, how it loads, one run of its model, a file whose input differs from its facts)
KINDS: dict[str, tuple[Build, Load, Run, Build]] = {
    "swapper": (
        lambda d: synthetic.build_embedding_swapper_like(d / "hyperswap_1a_256.onnx", 256, "linear", mask=True),
        lambda p: load_swapper(p, **OPTIONS),
        lambda m: m.swap_crops(RNG.random((2, 256, 256, 3), dtype=np.float32), RNG.random((2, 512), dtype=np.float32)),
        lambda d: synthetic.build_embedding_swapper_like(d / "hyperswap_1a_256.onnx", 256, dimension=256),
    ),
    "restorer": (
        lambda d: synthetic_masks.build_restorer_like(d / "gfpgan_1.4.onnx", batch="N"),
        lambda p: load_face_model(p, "restorer", **OPTIONS),
        lambda m: m.run(np.zeros((2, 3, 512, 512), np.float32)),
        lambda d: synthetic_masks.build_restorer_like(d / "gfpgan_1.4.onnx", size=64),
    ),
    "occluder": (
        lambda d: synthetic_masks.build_xseg_like(d / "xseg_1.onnx", batch="N"),
        lambda p: load_face_model(p, "occluder", **OPTIONS),
        lambda m: m.run(np.zeros((2, 256, 256, 3), np.float32)),
        lambda d: with_input_side(synthetic_masks.build_xseg_like(d / "raw" / "xseg_1.onnx"), d / "xseg_1.onnx", 128),
    ),
    "parser": (
        lambda d: synthetic_masks.build_bisenet_like(d / "bisenet_resnet_34.onnx"),
        lambda p: load_face_model(p, "parser", **OPTIONS),
        lambda m: m.run(np.zeros((2, 3, 512, 512), np.float32)),
        lambda d: with_input_side(
            synthetic_masks.build_bisenet_like(d / "raw" / "bisenet_resnet_34.onnx"), d / "bisenet_resnet_34.onnx", 256
        ),
    ),
    "landmarker": (
        lambda d: synthetic_masks.build_2dfan4_like(d / "2dfan4.onnx", np.full((68, 2), 32.0)),
        lambda p: load_face_model(p, "landmarker", **OPTIONS),
        lambda m: m.run(np.zeros((1, 3, 256, 256), np.float32)),
        lambda d: with_input_side(
            synthetic_masks.build_2dfan4_like(d / "raw" / "2dfan4.onnx", np.full((68, 2), 32.0)), d / "2dfan4.onnx", 128
        ),
    ),
    "detector": (
        lambda d: synthetic.build_scrfd_like(d / "scrfd_like.onnx"),
        lambda p: load_face_detector(p, **OPTIONS),
        lambda m: m.detect(np.full((640, 640, 3), 128, np.uint8)),
        lambda d: with_input_side(synthetic.build_scrfd_like(d / "raw" / "scrfd_like.onnx"), d / "scrfd_like.onnx", 0, 1),
    ),
    "recognizer": (
        lambda d: synthetic.build_iresnet(d / "arcface_w600k_r50.onnx", synthetic.TINY_IRESNET),
        lambda p: load_recognizer(p, **OPTIONS),
        lambda m: m.embed_crops(np.full((2, 112, 112, 3), 128, np.uint8)),
        lambda d: synthetic.build_iresnet(
            d / "arcface_w600k_r50.onnx", synthetic.IResNetConfig((1, 1, 1, 1), (8, 8, 16, 16), stem=8, input_size=64)
        ),
    ),
}


def with_input_side(source: Path, path: Path, side: int, channels: int = 0) -> Path:
    """``source`` with its first input's square sides declared ``side`` (or its channel axis ``channels``), for
    element-wise graphs where that is a consistent, working file of another size than its facts."""
    import onnx

    model = onnx.load(str(source))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    nhwc = dims[3].dim_value == 3
    for axis, dim in enumerate(dims):
        if side and axis in ((1, 2) if nhwc else (2, 3)):
            dim.dim_value = side
        if channels and axis == (3 if nhwc else 1):
            dim.dim_value = channels
    for value in model.graph.output:  # let onnxruntime infer the outputs of the new size
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if axis > 0:
                dim.dim_param = f"out_{axis}"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("fault", ["nan", "shrink", "input"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_refuses_a_bad_model_clearly(kind: str, fault: str, tmp_path: Path) -> None:
    build, load, run, wrong_input = KINDS[kind]
    if fault == "input":
        path = wrong_input(tmp_path)
        with pytest.raises(ModelMismatchError, match=path.name.replace(".", r"\.")):
            load(path)
        return
    good = build(tmp_path / "good")
    run(load(good))  # the working file runs
    bad = with_fault(good, tmp_path / fault / good.name, fault)
    # the fault shows in the first run: the file's outputs are declared dynamic and computed from the data
    # (a recognizer runs once at load to learn its embedding length, so it may raise there)
    with pytest.raises(ModelOutputError, match=good.name.replace(".", r"\.")) as caught:
        run(load(bad))
    assert ("NaN" in str(caught.value)) == (fault == "nan")


# ---- stages: one face of two breaks the model; it is skipped and flagged, the other is processed ----

HEIGHT, WIDTH = 260, 560
DARK, BRIGHT = (0.1, 0.1, 0.1), (0.9, 0.9, 0.2)  # RGB; bright: above mid grey on average, little blue (XSeg: visible)


def _image() -> np.ndarray:
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    image[:, WIDTH // 2 :] = BRIGHT
    image[:, : WIDTH // 2] = DARK
    return image


def _face(x: float) -> Face:
    scale = 0.35
    points = template_points("ffhq_512", 512) * scale + np.array([x, 40.0])
    return Face(bbox=[x, 40.0, x + 512 * scale, 40.0 + 512 * scale], score=0.9, landmarks=points)


FACES = [_face(30.0), _face(340.0)]  # face 0 on the dark half, face 1 on the bright half


def _swap(folder: Path, fault: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    good = synthetic.build_embedding_swapper_like(folder / "good" / "hyperswap_1a_256.onnx", 256, "linear", seed=1)
    bad = with_fault(good, folder / "hyperswap_1a_256.onnx", fault, threshold=0.0, gate_input="target")
    swapper = load_swapper(bad, **OPTIONS, embedding_space="test")
    rows = RNG.normal(size=(1, 512))
    source = Identity((rows / np.linalg.norm(rows)).astype(np.float32), "test")
    result = swap_faces(swapper, [_image()], source, [FACES], SwapSettings())
    return result.images[0], result.skipped_faces


def _restore(folder: Path, fault: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    good = synthetic_masks.build_restorer_like(folder / "good" / "gfpgan_1.4.onnx", scale=0.0, offset=1.0)
    restorer = load_face_model(with_fault(good, folder / "gfpgan_1.4.onnx", fault, threshold=0.0), "restorer", **OPTIONS)
    result = restore_faces(restorer, [_image()], [FACES], RestoreSettings(blend=1.0))
    return result.images[0], result.skipped


def _mask(folder: Path, fault: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    good = synthetic_masks.build_xseg_like(folder / "good" / "xseg_1.onnx")
    occluder = load_face_model(with_fault(good, folder / "xseg_1.onnx", fault, threshold=0.5), "occluder", **OPTIONS)
    skipped: list[Any] = []
    mask = face_masks([_image()], [FACES], MaskSpec(types=("box", "occlusion"), occluders=(occluder,)), skipped=skipped)[0]
    return np.repeat(mask[..., None], 3, axis=2), tuple(skipped)


def _landmarks(folder: Path, fault: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Drawn as an image: each face's box filled with 1 where its 68 points came back (finite), else left 0."""
    good = synthetic_masks.build_2dfan4_like(folder / "good" / "2dfan4.onnx", np.full((68, 2), 32.0))
    model = load_face_model(with_fault(good, folder / "2dfan4.onnx", fault, threshold=0.5), "landmarker", **OPTIONS)
    skipped: list[Any] = []
    batch, _ = add_landmarks_68(model, [_image()], FaceBatch((tuple(FACES),), ((HEIGHT, WIDTH),)), skipped)
    drawn = np.zeros_like(_image())
    for face in batch.faces_per_image[0]:
        if face.landmarks_68 is not None and np.isfinite(face.landmarks_68).all():
            x1, y1, x2, y2 = (int(v) for v in face.bbox)
            drawn[y1:y2, x1:x2] = 1.0
    return drawn, tuple(skipped)


STAGES = {"swap": _swap, "restore": _restore, "mask": _mask, "landmarks": _landmarks}


@pytest.mark.parametrize("fault", ["nan", "shrink"])
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_bad_output_skips_and_flags_only_its_face(stage: str, fault: str, tmp_path: Path) -> None:
    output, skipped = STAGES[stage](tmp_path, fault)
    assert np.isfinite(output).all()
    original = _image() if stage in ("swap", "restore") else np.zeros_like(_image())
    dark = (slice(60, 200), slice(60, 200))
    bright = (slice(60, 200), slice(370, 510))
    flagged = sorted(face.face_index for face in skipped)
    if fault == "nan":  # only the dark face's input gives NaN
        assert flagged == [0]
        assert not np.array_equal(output[bright], original[bright])  # the other face was processed
    else:  # a wrong shape is wrong for every face
        assert flagged == [0, 1]
        assert np.array_equal(output[bright], original[bright])
    assert np.array_equal(output[dark], original[dark])  # the skipped face keeps its pixels
    assert all(face.stage == stage and ("NaN" in face.reason) == (fault == "nan") for face in skipped)
    assert all(".onnx" in face.reason for face in skipped)


def test_a_bad_detector_output_skips_and_flags_only_its_frame(tmp_path: Path) -> None:
    """detect_and_swap: the frame whose detection gives NaN is left unchanged and flagged; the next frame is still detected."""
    good = synthetic.build_scrfd_like(tmp_path / "good" / "scrfd_like.onnx")
    # the detector letterboxes into its 640 input (padding reads -1): the dark frame averages below -0.7, the bright one above
    detector = load_face_detector(with_fault(good, tmp_path / "scrfd_like.onnx", "nan", threshold=-0.7), **OPTIONS)
    swapper = load_swapper(
        synthetic.build_embedding_swapper_like(tmp_path / "hyperswap_1a_256.onnx", 256), embedding_space="test", **OPTIONS
    )
    rows = RNG.normal(size=(1, 512))
    source = Identity((rows / np.linalg.norm(rows)).astype(np.float32), "test")
    frames = np.stack([np.full((640, 640, 3), 0.1, np.float32), np.full((640, 640, 3), 0.9, np.float32)])
    result = detect_and_swap(swapper, detector, frames, source, chunk_frames=2)
    assert [(face.stage, face.image_index) for face in result.skipped_faces] == [("detect", 0)]
    assert "NaN" in result.skipped_faces[0].reason and "scrfd_like.onnx" in result.skipped_faces[0].reason
    assert np.array_equal(result.images[0], frames[0]) and np.isfinite(result.images).all()
    assert len(result.swapped_counts) == 2  # the bright frame was detected (its detector output was fine)


def test_the_torch_backend_checks_its_outputs_too(tmp_path: Path) -> None:
    """The same one check covers a torch conversion's outputs (``ModelRunner._graph_call``)."""
    pytest.importorskip("torch")
    good = synthetic_masks.build_restorer_like(tmp_path / "good" / "gfpgan_1.4.onnx", batch="N")
    bad = with_fault(good, tmp_path / "gfpgan_1.4.onnx", "nan", threshold=-0.5)  # NaN for inputs below -0.5 on average
    restorer = load_face_model(bad, "restorer", backend="torch", device="cpu", **OPTIONS)
    assert restorer.backend.name == "torch"
    assert np.isfinite(restorer.run(np.full((1, 3, 512, 512), 0.5, np.float32))[0]).all()
    with pytest.raises(ModelOutputError, match=r"gfpgan_1\.4\.onnx .*NaN"):
        restorer.run(np.full((1, 3, 512, 512), -0.9, np.float32))


def test_a_recognizer_giving_nan_for_one_face_leaves_out_and_flags_only_that_face(tmp_path: Path) -> None:
    """Embedding (analyze / Face Embed): the face whose embedding is NaN is left out of the faces and the identity,
    named in ``skipped``; the other face keeps its row and its face index. (A wrong output size already fails at
    load: a recognizer runs once there to learn its embedding length.)"""
    from face_identity.pipeline import analyze

    good = synthetic.build_iresnet(tmp_path / "good" / "arcface_w600k_r50.onnx", synthetic.TINY_IRESNET)
    recognizer = load_recognizer(with_fault(good, tmp_path / "arcface_w600k_r50.onnx", "nan", threshold=-0.5), **OPTIONS)
    image = np.rint(_image() * 255).astype(np.uint8)
    analysis = analyze(None, recognizer, [image], faces=FaceBatch((tuple(FACES),), ((HEIGHT, WIDTH),)))
    assert [(face.stage, face.image_index, face.face_index) for face in analysis.skipped] == [("embed", 0, 0)]
    assert "NaN" in analysis.skipped[0].reason and ".onnx" in analysis.skipped[0].reason
    assert analysis.identity is not None and len(analysis.identity) == 1
    assert analysis.identity.face_indices.tolist() == [1] and np.isfinite(analysis.identity.embeddings).all()
    assert [len(faces) for faces in analysis.faces.faces_per_image] == [1]
    whole = analyze(None, load_recognizer(good, **OPTIONS), [image], faces=FaceBatch((tuple(FACES),), ((HEIGHT, WIDTH),)))
    assert whole.skipped == () and whole.identity is not None
    np.testing.assert_allclose(analysis.identity.embeddings[0], whole.identity.embeddings[1], atol=1e-6)  # same row as unbroken
