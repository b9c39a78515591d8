"""The IPAdapter FaceID bridge: the insightface-compatible analyser, fixed-identity mode, the face_align stand-in,
faceid_embeds for diffusers, and the node.

``ipadapter_faceid_use`` restates how ComfyUI_IPAdapter_plus (IPAdapterPlus.py ``ipadapter_execute``, commit
9d076a3, see tests/data/ipadapter_plus_nodes.json) uses its INSIGHTFACE input. The parity tests need
``insightface==2.1`` (installed with ``--no-deps`` for tests only); under ``CI=true`` its absence fails them.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

from face_identity.align import align_faces, norm_crop
from face_identity.catalog import W600K_R50_SPACE
from face_identity.detect import FaceDetector, load_detector
from face_identity.embed import ArcFaceRecognizer, load_recognizer
from face_identity.errors import IncompatibleIdentitiesError, InvalidArgumentError, InvalidImageError
from face_identity.faceid import CompatFace, FaceAnalysisCompat, faceid_embeds, insightface_compatible
from face_identity.images import read_image
from face_identity.insightface_compat import (
    STUB_ORIGIN,
    ensure_face_align,
    face_align_provider,
    real_insightface_installed,
    remove_face_align_stub,
    stub_installed,
)
from face_identity.types import Identity

IPADAPTER_SCHEMAS: dict[str, Any] = json.loads((REPO_ROOT / "tests" / "data" / "ipadapter_plus_nodes.json").read_text())["nodes"]
PHOTOS = (
    "groups/insightface_t1.jpg",
    "groups/face_recognition_two_people.jpg",
    "faces/isaac_newton/newton.png",
    "faces/barack_obama/face_recognition_obama.jpg",
)
CROP_SIZES = {"sd15": 224, "sdxl": 256, "kolors": 336}
"""IPAdapter_plus's FaceID Plus crop side: 336 for Kolors, 256 for SDXL, else 224."""


def ipadapter_faceid_use(insightface: Any, image: torch.Tensor, crop_size: int = 224, unnorm: bool = False) -> dict[str, Any]:
    """What IPAdapter_plus does with an INSIGHTFACE object for a FaceID model, restated (not its code).

    ``image`` is a ComfyUI IMAGE; it becomes BGR uint8 (``mul(255).clamp.byte``, channels reversed); per image
    the det size is tried at 640, 576, ..., 320 until ``get`` finds a face; face 0 gives the embedding
    (``normed_embedding``, or ``embedding`` for "portrait unnorm") and its ``kps`` the CLIP crop.
    """
    from insightface.utils import face_align

    insightface.det_model.input_size = (640, 640)
    frames = image.mul(255).clamp(0, 255).byte().cpu()[..., [2, 1, 0]].numpy()
    embeds, crops, sizes = [], [], []
    for frame in frames:
        for size in [(side, side) for side in range(640, 256, -64)]:
            insightface.det_model.input_size = size
            faces = insightface.get(frame)
            if faces:
                vector = faces[0].embedding if unnorm else faces[0].normed_embedding
                embeds.append(torch.from_numpy(vector).unsqueeze(0))
                crops.append(face_align.norm_crop(frame, landmark=faces[0].kps, image_size=crop_size))
                sizes.append(size)
                break
        else:
            raise RuntimeError("InsightFace: No face detected.")
    return {"embeds": torch.stack(embeds), "crops": crops, "sizes": sizes}


@pytest.fixture(scope="module")
def detector(real_models: dict[str, Path]) -> FaceDetector:
    return load_detector(real_models["scrfd"], providers="cpu", allow_download=False)


@pytest.fixture(scope="module")
def recognizer(real_models: dict[str, Path]) -> ArcFaceRecognizer:
    """The int8 WebFace600K MobileFaceNet at batch 1 (its results depend on the batch); not the w600k_r50 space."""
    return load_recognizer(real_models["mbf_int8"], providers="cpu", allow_download=False, batch_size=1)


@pytest.fixture(scope="module")
def analyser(detector: FaceDetector, recognizer: ArcFaceRecognizer) -> FaceAnalysisCompat:
    return FaceAnalysisCompat(detector, recognizer, require_space=None)


def bgr(shared_data: Path, relative: str) -> np.ndarray:
    return np.ascontiguousarray(read_image(shared_data / relative)[:, :, ::-1])


def as_comfy_image(image_bgr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image_bgr[:, :, ::-1].astype(np.float32) / 255.0)[None]


def our_pipeline(detector: FaceDetector, recognizer: ArcFaceRecognizer, image_bgr: np.ndarray, size: int = 640) -> tuple:
    """Our own chain at one det size: faces by score, face 0's embeddings and its crops."""
    rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
    faces = detector.with_settings(det_size=(size, size), retry_smaller=False, pad_retry=False).detect(rgb)
    result, _ = recognizer.embed_faces([rgb], [faces])
    return faces, result


# --- sys.modules hygiene for the stand-in tests ----------------------------------------------------------------------


def _insightface_entries() -> dict[str, Any]:
    return {name: module for name, module in sys.modules.items() if name == "insightface" or name.startswith("insightface.")}


@pytest.fixture
def module_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Starts with no insightface module loaded; afterwards sys.modules, sys.meta_path and sys.path are as before."""
    saved = _insightface_entries()
    for name in saved:
        del sys.modules[name]
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        yield
    finally:
        for name in _insightface_entries():
            del sys.modules[name]
        sys.modules.update(saved)
        importlib.invalidate_caches()


@pytest.fixture
def insightface_absent(module_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The insightface package is not importable: every sys.path entry holding one is hidden."""
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if not (Path(entry or ".") / "insightface").exists()])
    importlib.invalidate_caches()
    assert not real_insightface_installed()


def prepend_path(folder: Path) -> None:
    """Put ``folder`` first on the (fixture-owned copy of) sys.path; monkeypatch.syspath_prepend would restore a
    filtered path over the real one at teardown."""
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()


def fake_insightface(root: Path) -> Path:
    """A minimal importable package named insightface whose norm_crop says it is the real one."""
    package = root / "insightface"
    (package / "utils").mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = 'fake'\n")
    (package / "utils" / "__init__.py").write_text("")
    (package / "utils" / "face_align.py").write_text(
        "def norm_crop(img, landmark, image_size=112, mode='arcface'):\n    return 'real'\n"
    )
    return root


# --- the compatible object -------------------------------------------------------------------------------------------


def test_ipadapter_use_gives_our_pipelines_faces_embedding_and_crops(
    insightface_absent: None, detector: FaceDetector, recognizer: ArcFaceRecognizer, shared_data: Path
) -> None:
    compat = insightface_compatible_for_tests(detector, recognizer)
    assert stub_installed()
    image = bgr(shared_data, "groups/face_recognition_two_people.jpg")
    faces, result = our_pipeline(detector, recognizer, image)
    assert len(faces) == 2
    for model, size in CROP_SIZES.items():
        used = ipadapter_faceid_use(compat, as_comfy_image(image), crop_size=size)
        assert used["sizes"] == [(640, 640)], model
        np.testing.assert_array_equal(used["embeds"][0, 0].numpy(), result.normalised[0])
        template = "arcface_112" if size % 112 == 0 else "arcface_128"
        expected = align_faces(image, faces[:1], template, size)[0][0]
        np.testing.assert_array_equal(used["crops"][0], expected)
    unnorm = ipadapter_faceid_use(compat, as_comfy_image(image), unnorm=True)
    np.testing.assert_array_equal(unnorm["embeds"][0, 0].numpy(), result.raw[0])


def insightface_compatible_for_tests(detector: FaceDetector, recognizer: ArcFaceRecognizer) -> FaceAnalysisCompat:
    """``insightface_compatible`` for the int8 stand-in recognizer (which is not in the w600k_r50 space)."""
    compat = FaceAnalysisCompat(detector, recognizer, require_space=None)
    ensure_face_align()
    return compat


def test_get_returns_every_face_by_score_as_our_pipeline(
    analyser: FaceAnalysisCompat, detector: FaceDetector, recognizer: ArcFaceRecognizer, shared_data: Path
) -> None:
    image = bgr(shared_data, "groups/insightface_t1.jpg")
    analyser.det_model.input_size = (640, 640)
    faces = analyser.get(image)
    expected, result = our_pipeline(detector, recognizer, image)
    assert len(faces) == len(expected) == 6
    scores = [float(face.det_score) for face in faces]
    assert scores == sorted(scores, reverse=True)
    for face, ours, raw, unit in zip(faces, expected, result.raw, result.normalised):
        np.testing.assert_array_equal(face.bbox, ours.bbox)
        np.testing.assert_array_equal(face.kps, ours.landmarks)
        np.testing.assert_array_equal(face.embedding, raw)
        np.testing.assert_array_equal(face.normed_embedding, unit)
        assert abs(float(np.linalg.norm(face.normed_embedding)) - 1.0) < 1e-5


def test_input_size_is_honoured(shared_data: Path, real_models: dict[str, Path], recognizer: ArcFaceRecognizer) -> None:
    dynamic = load_detector(real_models["det500m"], providers="cpu", allow_download=False)
    compat = FaceAnalysisCompat(dynamic, recognizer, require_space=None)
    image = bgr(shared_data, "groups/solvay_conference_1927.png")
    counts = {}
    for size in (640, 320):
        compat.det_model.input_size = (size, size)
        faces = compat.detect(image)
        expected = dynamic.with_settings(det_size=(size, size), retry_smaller=False, pad_retry=False).detect(
            image[:, :, ::-1].copy()
        )
        assert [f.score for f in faces] == [f.score for f in expected]
        counts[size] = len(faces)
    assert counts[640] > counts[320]  # small faces are lost at the smaller det size
    compat.det_model.input_size = (300, 300)
    with pytest.raises(InvalidArgumentError, match="multiples of 32"):
        compat.get(image)


def test_faces_support_attribute_and_item_access(analyser: FaceAnalysisCompat, shared_data: Path) -> None:
    analyser.det_model.input_size = (640, 640)
    face = analyser.get(bgr(shared_data, "faces/isaac_newton/newton.png"))[0]
    assert isinstance(face, CompatFace)
    for name in ("bbox", "kps", "det_score", "embedding", "normed_embedding"):
        assert face[name] is getattr(face, name)
    assert sorted(face.keys()) == sorted(["bbox", "kps", "det_score", "embedding", "normed_embedding"])
    assert face.get("kps") is face.kps and "embedding" in face and len(face) == 5
    assert face.bbox.shape == (4,) and face.kps.shape == (5, 2) and face.embedding.shape == (512,)
    assert {face.bbox.dtype, face.kps.dtype, face.embedding.dtype, face.normed_embedding.dtype} == {np.dtype(np.float32)}
    assert isinstance(face.det_score, np.float32)
    assert face.gender is None and face.landmark_2d_106 is None  # insightface: fields no model filled read as None
    with pytest.raises(KeyError):
        face["gender"]
    assert abs(float(face.embedding_norm) - float(np.linalg.norm(face.embedding))) < 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on read-only arrays; IPAdapter calls torch.from_numpy
        torch.from_numpy(face.normed_embedding)
    duplicate = copy.copy(face)
    assert duplicate.kps is face.kps


def test_get_checks_its_image(analyser: FaceAnalysisCompat, shared_data: Path) -> None:
    image = bgr(shared_data, "faces/isaac_newton/newton.png")
    with pytest.raises(InvalidImageError, match="BGR"):
        analyser.get(image.astype(np.float32))
    with pytest.raises(InvalidImageError):
        analyser.get(image[:, :, 0])
    assert analyser.get(np.zeros((200, 300, 3), np.uint8)) == []


def test_max_num_keeps_the_central_large_face(analyser: FaceAnalysisCompat, shared_data: Path) -> None:
    analyser.det_model.input_size = (640, 640)
    image = bgr(shared_data, "groups/insightface_t1.jpg")
    every = analyser.get(image)
    kept = analyser.get(image, max_num=2)
    assert len(kept) == 2
    height, width = image.shape[:2]

    def value(face: CompatFace) -> float:
        x1, y1, x2, y2 = (float(v) for v in face.bbox)
        return (x2 - x1) * (y2 - y1) - 2.0 * (((x1 + x2) / 2 - width // 2) ** 2 + ((y1 + y2) / 2 - height // 2) ** 2)

    best = sorted(every, key=value, reverse=True)[:2]
    assert [tuple(f.bbox) for f in kept] == [tuple(f.bbox) for f in best]


# --- fixed-identity mode ---------------------------------------------------------------------------------------------


def _identity_of(recognizer: ArcFaceRecognizer, detector: FaceDetector, images: list[np.ndarray], **fields: Any) -> Identity:
    rows, norms = [], []
    for image in images:
        faces, result = our_pipeline(detector, recognizer, image)
        rows.append(result.normalised[0])
        norms.append(result.norms[0])
    return Identity(embeddings=np.stack(rows), model_id=fields.pop("model_id", W600K_R50_SPACE), norms=np.array(norms), **fields)


def test_fixed_identity_gives_the_identitys_vector_at_the_detected_faces(
    insightface_absent: None,
    detector: FaceDetector,
    recognizer: ArcFaceRecognizer,
    analyser: FaceAnalysisCompat,
    shared_data: Path,
) -> None:
    photos = [bgr(shared_data, f"faces/barack_obama/face_recognition_obama{suffix}.jpg") for suffix in ("", "2")]
    identity = _identity_of(recognizer, detector, photos, weights=np.array([1.0, 3.0]))
    fixed = FaceAnalysisCompat(detector, recognizer, identity, require_space=None)
    target = bgr(shared_data, "groups/face_recognition_two_people.jpg")
    analyser.det_model.input_size = (640, 640)
    own = analyser.get(target)
    faces = fixed.get(target)
    assert len(faces) == len(own) == 2
    expected_length = float((identity.norms * np.array([1.0, 3.0])).sum() / 4.0)
    for face, reference in zip(faces, own):
        np.testing.assert_array_equal(face.kps, reference.kps)
        np.testing.assert_array_equal(face.bbox, reference.bbox)
        np.testing.assert_array_equal(face.normed_embedding, identity.centroid())
        np.testing.assert_allclose(face.embedding, identity.centroid() * expected_length, rtol=1e-6)
        assert not np.allclose(face.normed_embedding, reference.normed_embedding)
    ensure_face_align()
    used = ipadapter_faceid_use(fixed, as_comfy_image(target))
    np.testing.assert_array_equal(used["embeds"][0, 0].numpy(), identity.centroid())


def test_fixed_identity_without_raw_norms_takes_each_faces_own_length(
    detector: FaceDetector, recognizer: ArcFaceRecognizer, analyser: FaceAnalysisCompat, shared_data: Path
) -> None:
    photo = bgr(shared_data, "faces/barack_obama/face_recognition_obama.jpg")
    identity = _identity_of(recognizer, detector, [photo])
    unknown = Identity(embeddings=identity.embeddings, model_id=identity.model_id, norms=np.zeros(1))
    target = bgr(shared_data, "groups/face_recognition_two_people.jpg")
    analyser.det_model.input_size = (640, 640)
    own = analyser.get(target)
    faces = FaceAnalysisCompat(detector, recognizer, unknown, require_space=None).get(target)
    for face, reference in zip(faces, own):
        assert abs(float(np.linalg.norm(face.embedding)) - float(reference.embedding_norm)) < 1e-3
        np.testing.assert_array_equal(face.normed_embedding, identity.centroid())


def test_only_the_w600k_r50_space_is_accepted(detector: FaceDetector, recognizer: ArcFaceRecognizer) -> None:
    with pytest.raises(IncompatibleIdentitiesError, match="w600k_r50"):
        FaceAnalysisCompat(detector, recognizer)  # the int8 MobileFaceNet has its own space
    other = Identity(embeddings=np.ones((1, 512)), model_id="antelopev2_glintr100")
    with pytest.raises(IncompatibleIdentitiesError, match="antelopev2_glintr100"):
        FaceAnalysisCompat(detector, _as_space(recognizer, W600K_R50_SPACE), other)
    with pytest.raises(IncompatibleIdentitiesError, match="128-d"):
        FaceAnalysisCompat(detector, _as_space(recognizer, W600K_R50_SPACE), Identity(np.ones((1, 128)), W600K_R50_SPACE))
    with pytest.raises(IncompatibleIdentitiesError):
        faceid_embeds(other)


def _as_space(recognizer: ArcFaceRecognizer, space: str) -> ArcFaceRecognizer:
    relabelled = copy.copy(recognizer)
    relabelled.model_id = space
    return relabelled


# --- norm_crop and the face_align stand-in ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [112, 128, 224, 256, 336])
def test_norm_crop_follows_insightfaces_size_rule(detector: FaceDetector, shared_data: Path, size: int) -> None:
    image = bgr(shared_data, "faces/isaac_newton/newton.png")
    face = detector.detect(np.ascontiguousarray(image[:, :, ::-1]))[0]
    template = "arcface_112" if size % 112 == 0 else "arcface_128"
    np.testing.assert_array_equal(norm_crop(image, face.landmarks, size), align_faces(image, [face], template, size)[0][0])


def test_norm_crop_refuses_other_sizes() -> None:
    landmarks = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]], np.float32)
    with pytest.raises(InvalidArgumentError, match="112 or 128"):
        norm_crop(np.zeros((200, 200, 3), np.uint8), landmarks, 200)


def test_stand_in_is_installed_only_when_insightface_is_absent(insightface_absent: None) -> None:
    assert face_align_provider() == "none"
    assert ensure_face_align() == "face-identity"
    assert face_align_provider() == "face-identity"
    from insightface.utils import face_align

    assert face_align.norm_crop is norm_crop or face_align.norm_crop.__name__ == "norm_crop"
    first = sys.modules["insightface"]
    assert ensure_face_align() == "face-identity" and sys.modules["insightface"] is first  # idempotent
    import insightface

    assert insightface.__spec__.origin == STUB_ORIGIN
    assert importlib.util.find_spec("insightface").origin == STUB_ORIGIN
    from insightface.app import FaceAnalysis

    assert FaceAnalysis.__module__.endswith("face_identity.insightface_analysis")  # the whole module now (issue 20)
    assert callable(insightface.model_zoo.get_model)
    with pytest.raises(ModuleNotFoundError, match="face-identity") as missing:
        importlib.import_module("insightface.thirdparty")  # what it does not provide fails naming this pack
    assert "not installed" in str(missing.value)
    assert remove_face_align_stub()
    assert "insightface" not in sys.modules and not stub_installed()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("insightface")


def test_stand_in_is_not_installed_when_insightface_exists(module_state: None, tmp_path: Path) -> None:
    prepend_path(fake_insightface(tmp_path))
    assert ensure_face_align() == "insightface"
    assert "insightface" not in sys.modules  # not even imported by the check
    from insightface.utils import face_align

    assert face_align.norm_crop(None, None) == "real"


def test_stand_in_is_removed_once_insightface_appears(insightface_absent: None, tmp_path: Path) -> None:
    assert ensure_face_align() == "face-identity"
    prepend_path(fake_insightface(tmp_path))
    assert ensure_face_align() == "insightface"
    assert not stub_installed() and not any(getattr(f, "__face_identity_stub__", False) for f in sys.meta_path)
    from insightface.utils import face_align

    assert face_align.norm_crop(None, None) == "real"


def test_a_bare_insightface_folder_does_not_count(insightface_absent: None, tmp_path: Path) -> None:
    (tmp_path / "insightface" / "models").mkdir(parents=True)  # e.g. a models folder on the path
    prepend_path(tmp_path)
    assert not real_insightface_installed()
    assert ensure_face_align() == "face-identity"


def test_insightface_compatible_checks_then_provides_face_align(
    insightface_absent: None, detector: FaceDetector, recognizer: ArcFaceRecognizer, tmp_path: Path
) -> None:
    with pytest.raises(IncompatibleIdentitiesError):
        insightface_compatible(detector, recognizer)
    assert not stub_installed()  # refused before anything is registered
    analyser, provider = insightface_compatible(detector, _as_space(recognizer, W600K_R50_SPACE))
    assert isinstance(analyser, FaceAnalysisCompat) and provider == "face-identity" and stub_installed()
    prepend_path(fake_insightface(tmp_path))
    assert insightface_compatible(detector, _as_space(recognizer, W600K_R50_SPACE))[1] == "insightface"
    assert not stub_installed()


def test_importing_the_pack_registers_nothing() -> None:
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('pack', {str(REPO_ROOT / '__init__.py')!r}, "
        f"submodule_search_locations=[{str(REPO_ROOT)!r}])\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['pack'] = module; spec.loader.exec_module(module)\n"
        "import pack.nodes.faceid, pack.face_identity.faceid, pack.face_identity.insightface_compat\n"
        "assert 'FaceIdentity_InsightFaceAnalysis' in module.NODE_CLASS_MAPPINGS\n"
        "guards = [f for f in sys.meta_path if getattr(f, '__face_identity_stub__', False)]\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'insightface'), guards)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT.parent, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] []"


# --- diffusers ---------------------------------------------------------------------------------------------------------


def test_faceid_embeds_has_diffusers_shape() -> None:
    rng = np.random.default_rng(0)
    identity = Identity(
        embeddings=rng.normal(size=(3, 512)), model_id=W600K_R50_SPACE, norms=np.array([20.0, 22.0, 24.0]), weights=[1, 1, 2]
    )
    embeds = faceid_embeds(identity)
    assert embeds.shape == (2, 1, 1, 512) and embeds.dtype == torch.float32
    assert torch.count_nonzero(embeds[0]) == 0
    np.testing.assert_array_equal(embeds[1, 0, 0].numpy(), identity.centroid())
    every = faceid_embeds(identity, rows="all")
    assert every.shape == (2, 3, 1, 512)
    np.testing.assert_array_equal(every[1, :, 0].numpy(), identity.embeddings)
    raw = faceid_embeds(identity, normalised=False, classifier_free_guidance=False)
    assert raw.shape == (1, 1, 1, 512)
    np.testing.assert_allclose(raw[0, 0, 0].numpy(), identity.centroid() * 22.5, rtol=1e-6)
    with pytest.raises(InvalidArgumentError):
        faceid_embeds(identity, rows="first")
    with pytest.raises(InvalidArgumentError, match="norms"):
        faceid_embeds(Identity(identity.embeddings, W600K_R50_SPACE, norms=np.zeros(3)), normalised=False)


# --- the node ----------------------------------------------------------------------------------------------------------


def test_node_plugs_into_ipadapter_faceid(pack: Any) -> None:
    node = pack.NODE_CLASS_MAPPINGS["FaceIdentity_InsightFaceAnalysis"]
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["FaceIdentity_InsightFaceAnalysis"] == "Face Analysis (insightface-compatible)"
    for ipadapter_node in ("IPAdapterFaceID", "IPAAdapterFaceIDBatch"):
        assert IPADAPTER_SCHEMAS[ipadapter_node]["input"]["optional"]["insightface"][0] == node.RETURN_TYPES[0]
    assert IPADAPTER_SCHEMAS["IPAdapterInsightFaceLoader"]["output"] == [node.RETURN_TYPES[0]]
    spec = node.INPUT_TYPES()
    loaders = pack.NODE_CLASS_MAPPINGS
    assert spec["required"]["detector"][0] == loaders["FaceIdentity_LoadFaceDetector"].RETURN_TYPES[0]
    assert spec["required"]["recognizer"][0] == loaders["FaceIdentity_LoadArcFaceModel"].RETURN_TYPES[0]
    assert spec["optional"]["identity"][0] == loaders["FaceIdentity_LoadIdentity"].RETURN_TYPES[0]


def declared_w600k(pack: Any, model_folder: Path) -> Any:
    """The stand-in recognizer loaded with an explicit ``model_id`` claim of the w600k_r50 space.

    Only to exercise the node's wiring: the stand-in (int8 w600k_mbf) is not w600k_r50, and the loader
    node rightly tags it ``<stem>@<crc32>``; the library's ``model_id`` override is the user's own claim.
    """
    return pack.face_identity.embed.load_recognizer(model_folder / "arcface_w600k_r50.onnx", model_id="arcface_w600k_r50")


def test_node_builds_the_analyser(pack: Any, model_folder: Path, module_state: None, shared_data: Path) -> None:
    nodes = pack.NODE_CLASS_MAPPINGS
    detector = nodes["FaceIdentity_LoadFaceDetector"]().load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)[0]
    stand_in = nodes["FaceIdentity_LoadArcFaceModel"]().load("arcface_w600k_r50", "onnxruntime", "cpu", "float32", 0, False)[0]
    node = nodes["FaceIdentity_InsightFaceAnalysis"]()
    with pytest.raises(pack.face_identity.errors.IncompatibleIdentitiesError, match="cannot read"):
        node.build(detector, stand_in)  # the stand-in file under the catalog name honestly is not w600k_r50
    recognizer = declared_w600k(pack, model_folder)
    analyser, info = node.build(detector, recognizer)
    assert "face_align" in info and "embeds the faces it finds" in info
    faces = analyser.get(bgr(shared_data, "groups/face_recognition_two_people.jpg"))
    assert len(faces) == 2 and faces[0].normed_embedding.shape == (512,)
    wrong = pack.face_identity.types.Identity(embeddings=np.ones((1, 512)), model_id="antelopev2_glintr100")
    with pytest.raises(pack.face_identity.errors.IncompatibleIdentitiesError, match="w600k_r50"):
        node.build(detector, recognizer, wrong)


def test_node_registers_the_stand_in_when_insightface_is_absent(
    pack: Any, model_folder: Path, insightface_absent: None, shared_data: Path
) -> None:
    nodes = pack.NODE_CLASS_MAPPINGS
    detector = nodes["FaceIdentity_LoadFaceDetector"]().load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)[0]
    recognizer = declared_w600k(pack, model_folder)
    assert "insightface" not in sys.modules
    analyser, info = nodes["FaceIdentity_InsightFaceAnalysis"]().build(detector, recognizer)
    assert "face-identity's" in info and stub_installed()
    used = ipadapter_faceid_use(analyser, as_comfy_image(bgr(shared_data, "faces/isaac_newton/newton.png")), crop_size=256)
    assert used["embeds"].shape == (1, 1, 512) and used["crops"][0].shape == (256, 256, 3)


# --- parity with insightface 2.1 (its SCRFD and ArcFaceONNX on the same model files) -----------------------------------


@pytest.fixture(scope="module")
def insightface_reference(real_models: dict[str, Path]) -> dict[str, Any]:
    try:
        from insightface.app.common import Face
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX
        from insightface.model_zoo.scrfd import SCRFD
        from insightface.utils import face_align
    except ImportError as error:
        message = f"insightface==2.1 is needed for the parity tests (pip install --no-deps insightface==2.1): {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    import onnxruntime

    scrfd = SCRFD(str(real_models["scrfd"]))
    scrfd.prepare(-1, input_size=(640, 640))
    session = onnxruntime.InferenceSession(str(real_models["mbf_int8"]), providers=["CPUExecutionProvider"])
    arcface = ArcFaceONNX(str(real_models["mbf_int8"]), session=session)
    return {"Face": Face, "scrfd": scrfd, "arcface": arcface, "face_align": face_align}


def face_analysis_get(reference: dict[str, Any], image: np.ndarray) -> list[Any]:
    """insightface ``FaceAnalysis.get`` with a detection and a recognition model: detect, then embed each face."""
    boxes, landmarks = reference["scrfd"].detect(image, max_num=0, metric="default")
    faces = []
    for index in range(boxes.shape[0]):
        face = reference["Face"](bbox=boxes[index, 0:4], kps=landmarks[index], det_score=boxes[index, 4])
        reference["arcface"].get(image, face)
        faces.append(face)
    return faces


SKIMAGE_DEPRECATION = "ignore:`estimate` is deprecated:FutureWarning"  # insightface's face_align on scikit-image 0.26


@pytest.mark.filterwarnings(SKIMAGE_DEPRECATION)
@pytest.mark.parametrize("photo", PHOTOS)
def test_outputs_equal_insightface_face_analysis(
    insightface_reference: dict[str, Any], analyser: FaceAnalysisCompat, shared_data: Path, photo: str
) -> None:
    image = bgr(shared_data, photo)
    analyser.det_model.input_size = (640, 640)
    ours = analyser.get(image)
    theirs = face_analysis_get(insightface_reference, image)
    assert len(ours) == len(theirs) >= 1
    for face, reference in zip(ours, theirs):
        np.testing.assert_allclose(face.bbox, reference.bbox, atol=1e-3)
        np.testing.assert_allclose(face.kps, reference.kps, atol=1e-3)
        assert abs(float(face.det_score) - float(reference.det_score)) < 1e-6
        assert face.embedding.dtype == reference.embedding.dtype and face.embedding.shape == reference.embedding.shape
        # Same recognizer on the same crop: identical. insightface aligns in float32 (skimage), we in float64:
        # crops differ by one grey level on a few pixels, which the int8 model turns into cosine >= 0.99.
        crop = norm_crop(image, face.kps, 112)
        np.testing.assert_allclose(insightface_reference["arcface"].get_feat(crop)[0], face.embedding, rtol=1e-5, atol=1e-5)
        their_crop = insightface_reference["face_align"].norm_crop(image, landmark=reference.kps, image_size=112)
        assert np.abs(crop.astype(int) - their_crop).max() <= 1 and np.mean(crop != their_crop) < 0.02
        assert float(face.normed_embedding @ reference.normed_embedding) > 0.99


@pytest.mark.filterwarnings(SKIMAGE_DEPRECATION)
@pytest.mark.parametrize("size", [224, 256, 336])
def test_crops_equal_insightface_norm_crop(insightface_reference: dict[str, Any], shared_data: Path, size: int) -> None:
    image = bgr(shared_data, "groups/insightface_t1.jpg")
    for boxes_and_kps in [insightface_reference["scrfd"].detect(image)[1]]:
        for kps in boxes_and_kps:
            ours = norm_crop(image, kps, size)
            theirs = insightface_reference["face_align"].norm_crop(image, landmark=kps, image_size=size)
            assert ours.shape == theirs.shape == (size, size, 3)
            assert np.abs(ours.astype(int) - theirs).max() <= 1 and np.mean(ours != theirs) < 0.02


def test_the_stand_in_cropped_image_matches_cv2_exactly(detector: FaceDetector, shared_data: Path) -> None:
    image = bgr(shared_data, "faces/isaac_newton/newton.png")
    face = detector.detect(np.ascontiguousarray(image[:, :, ::-1]))[0]
    from face_identity.align import estimate_norm

    matrix = estimate_norm(face.landmarks, 224)
    np.testing.assert_array_equal(
        norm_crop(image, face.landmarks, 224), cv2.warpAffine(image, matrix, (224, 224), borderValue=0.0)
    )


def test_faceid_workflow_feeds_a_saved_identity_to_ipadapter_faceid(pack: Any) -> None:
    from test_workflows import ui_to_api

    workflow = json.loads((REPO_ROOT / "workflows" / "ipadapter_faceid_identity.json").read_text())
    assert not (REPO_ROOT / "workflows" / "api" / "ipadapter_faceid_identity.json").exists()  # needs IPAdapter_plus's models
    prompt = ui_to_api(pack, workflow)
    by_type = {node["class_type"]: (key, node) for key, node in prompt.items()}
    analysis_id, analysis = by_type["FaceIdentity_InsightFaceAnalysis"]
    _, faceid = by_type["IPAdapterFaceID"]
    assert faceid["inputs"]["insightface"] == [analysis_id, 0]
    assert prompt[analysis["inputs"]["identity"][0]]["class_type"] == "FaceIdentity_LoadIdentity"
    assert prompt[faceid["inputs"]["ipadapter"][0]]["class_type"] == "IPAdapterModelLoader"
    assert "faceid" in prompt[faceid["inputs"]["ipadapter"][0]]["inputs"]["ipadapter_file"]
    schema = IPADAPTER_SCHEMAS["IPAdapterFaceID"]["input"]
    assert set(schema["required"]) <= set(faceid["inputs"])
    # These load insightface's own FaceAnalysis, which is what the workflow avoids.
    assert not {"IPAdapterUnifiedLoaderFaceID", "IPAdapterInsightFaceLoader"} & set(by_type)
    sampler_model = prompt[by_type["KSampler"][1]["inputs"]["model"][0]]["class_type"]
    assert sampler_model == "IPAdapterFaceID"
