"""face-identity's insightface-compatible module (issue 20): registered by ``prestartup_script.py`` before other packs
load, used as each identity pack uses insightface, equal to insightface 2.1's ``FaceAnalysis`` on the same files.

The pack calls below restate what docs/faceid.md (from ../shared/reference/faceid-bridge.md) says each pack does
with the analyser; they are not those packs' code. Each runs in a fresh Python where insightface is not importable,
after ComfyUI's way of running a start-up script (by file path). Models: the small real SCRFD-2.5G and det_500m
stand in for the packs' detectors, and a synthetic IResNet with glintr100's and w600k_r50's exact I/O
(``[N, 3, 112, 112]`` float -> ``[N, 512]``) for their recognizers.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import REPO_ROOT

from face_identity import catalog
from face_identity.align import norm_crop
from face_identity.catalog import GLINTR100_SPACE
from face_identity.compare import UncalibratedThresholdWarning, match_threshold, similarity
from face_identity.devtools import synthetic
from face_identity.embed import load_recognizer
from face_identity.errors import IncompatibleIdentitiesError, ModelNotAvailableError
from face_identity.insightface_analysis import FaceAnalysis, provider_list
from face_identity.insightface_app import Face
from face_identity.insightface_compat import DISABLE_ENV, STUB_FLAG
from face_identity.insightface_packs import pack_folder
from face_identity.integrity import file_sha256

PRESTARTUP = REPO_ROOT / "prestartup_script.py"
GROUP = "groups/insightface_t1.jpg"
PORTRAIT = "faces/isaac_newton/newton.png"


@pytest.fixture(scope="module")
def insightface_root(tmp_path_factory: pytest.TempPathFactory, real_models: dict[str, Path]) -> Path:
    """An insightface root: buffalo_l flat, antelopev2 nested one level too deep (the common mistake), plus models
    of tasks we do not provide (skipped by name)."""
    root = tmp_path_factory.mktemp("insightface_root")
    buffalo = root / "models" / "buffalo_l"
    antelope = root / "models" / "antelopev2" / "antelopev2"
    for folder in (buffalo, antelope):
        folder.mkdir(parents=True)
    shutil.copy(real_models["det500m"], buffalo / "det_10g.onnx")
    synthetic.build_iresnet(buffalo / "w600k_r50.onnx", synthetic.TINY_IRESNET, seed=1)
    shutil.copy(real_models["scrfd"], antelope / "scrfd_10g_bnkps.onnx")
    synthetic.build_iresnet(antelope / "glintr100.onnx", synthetic.TINY_IRESNET, seed=0)
    shutil.copy(real_models["det500m"], antelope / "2d106det.onnx")  # a landmark task we skip by name
    return root


def run_without_insightface(script: str, root: Path, shared_data: Path, env: dict[str, str] | None = None) -> Any:
    """Run ``script`` in a fresh Python with no insightface importable, after ComfyUI-style execution of
    ``prestartup_script.py``; ``ROOT`` and ``DATA`` are defined; the last stdout line is parsed as JSON."""
    prelude = textwrap.dedent(
        f"""
        import importlib.util, json, logging, os, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "insightface"))]
        assert importlib.util.find_spec("insightface") is None, "insightface must not be importable here"
        spec = importlib.util.spec_from_file_location("prestartup_script", {str(PRESTARTUP)!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ROOT, DATA = {str(root)!r}, {str(shared_data)!r}
        import cv2
        """
    )
    environ = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", DISABLE_ENV)}
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        cwd=root,
        env=environ,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


# --- each pack's calls, restated ---------------------------------------------------------------------------------------


def test_ipadapter_plus(insightface_root: Path, shared_data: Path) -> None:
    """INSIGHTFACE = FaceAnalysis(buffalo_l) prepared at 640; retries input_size 640..320; faces[0]; norm_crop 224/256/336."""
    result, log = run_without_insightface(
        """
        import insightface
        from insightface.app import FaceAnalysis
        model = FaceAnalysis(name="buffalo_l", root=ROOT, providers=["CPUExecutionProvider"])
        model.prepare(ctx_id=0, det_size=(640, 640))
        from insightface.utils import face_align
        image = cv2.imread(os.path.join(DATA, "faces/isaac_newton/newton.png"))
        for size in range(640, 256, -64):
            model.det_model.input_size = (size, size)
            faces = model.get(image)
            if faces:
                break
        crops = [face_align.norm_crop(image, landmark=faces[0].kps, image_size=s).shape for s in (224, 256, 336)]
        print(json.dumps({"size": size, "normed": float((faces[0].normed_embedding ** 2).sum()),
                          "raw": list(faces[0].embedding.shape), "crops": crops}))
        """,
        insightface_root,
        shared_data,
    )
    assert result == {
        "size": 640,
        "normed": pytest.approx(1.0, abs=1e-5),
        "raw": [512],
        "crops": [[s, s, 3] for s in (224, 256, 336)],
    }
    assert log.count("compatible module (insightface, insightface.app") == 1  # the one start-up line


def test_instantid(insightface_root: Path, shared_data: Path) -> None:
    """FACEANALYSIS = FaceAnalysis(antelopev2); input_size 640..192; largest face; item access bbox/kps/raw embedding."""
    result, log = run_without_insightface(
        """
        from insightface.app import FaceAnalysis  # at module level, as InstantID.py
        analysis = FaceAnalysis(name="antelopev2", root=ROOT, providers=["CPUExecutionProvider"])
        analysis.prepare(ctx_id=0, det_size=(640, 640))
        image = cv2.imread(os.path.join(DATA, "groups/insightface_t1.jpg"))
        for size in range(640, 128, -64):
            analysis.det_model.input_size = (size, size)
            faces = analysis.get(image)
            if faces:
                break
        face = sorted(faces, key=lambda f: (f["bbox"][2] - f["bbox"][0]) * (f["bbox"][3] - f["bbox"][1]))[-1]
        print(json.dumps({"faces": len(faces), "kps": list(face["kps"].shape), "embedding": list(face["embedding"].shape),
                          "norm": float((face["embedding"] ** 2).sum() ** 0.5),
                          "space": analysis.models["recognition"].model_id}))
        """,
        insightface_root,
        shared_data,
    )
    assert result["faces"] == 6 and result["kps"] == [5, 2] and result["embedding"] == [512]
    assert abs(result["norm"] - 1.0) > 1e-3  # raw, not normalised
    assert result["space"].startswith("glintr100@") and result["space"] != GLINTR100_SPACE  # a stand-in is not glintr100
    assert "one level too deep" in log and "has the name of arcface_glintr100 but is not that model" in log  # warned


def test_pulid_and_pulid_flux(insightface_root: Path, shared_data: Path) -> None:
    """PuLID / PuLID-Flux: input_size 640 -> 320 in steps of 64, get(bgr), largest by .bbox, raw .embedding;
    PuLID-Flux2 feeds RGB and L2-normalises."""
    result, _ = run_without_insightface(
        """
        import numpy as np
        import insightface
        from insightface.app import FaceAnalysis
        app = FaceAnalysis(name="antelopev2", root=ROOT, providers=["CPUExecutionProvider"])
        app.prepare(ctx_id=0, det_size=(640, 640))
        bgr = cv2.imread(os.path.join(DATA, "faces/isaac_newton/newton.png"))
        for size in range(640, 256, -64):
            app.det_model.input_size = (size, size)
            faces = app.get(bgr)
            if len(faces) > 0:
                break
        face = sorted(faces, key=lambda x: (x.bbox[2] - x.bbox[0]) * (x.bbox[3] - x.bbox[1]))[-1]
        flux2 = app.get(np.ascontiguousarray(bgr[:, :, ::-1]))
        flux2 = sorted(flux2, key=lambda x: (x.bbox[2] - x.bbox[0]) * (x.bbox[3] - x.bbox[1]), reverse=True)[0]
        unit = flux2.embedding / np.linalg.norm(flux2.embedding)
        print(json.dumps({"embedding": list(face.embedding.shape), "unit": float(np.linalg.norm(unit)),
                          "version": insightface.__version__}))
        """,
        insightface_root,
        shared_data,
    )
    assert result == {"embedding": [512], "unit": pytest.approx(1.0, abs=1e-6), "version": "0.7.3"}


def test_infiniteyou(insightface_root: Path, shared_data: Path) -> None:
    """flux_inf.py (8e6f26c): module-level download_file / BASE_REPO_URL; the loader builds FaceAnalysis without
    prepare; Apply prepares one object at 640, then 320, then 160 (so every get runs at 160, as with insightface),
    then get(bgr), largest face, len(face), face_info['kps'], norm_crop(bgr, kps, 112)."""
    result, _ = run_without_insightface(
        """
        from insightface.app import FaceAnalysis
        from insightface.utils import face_align
        from insightface.utils.download import download_file
        from insightface.utils.storage import BASE_REPO_URL
        assert os.path.exists(os.path.join(ROOT, "models", "antelopev2"))  # so it does not download antelopev2.zip
        face_analysis = FaceAnalysis(name="antelopev2", root=ROOT, providers=["CPU" + "ExecutionProvider"])
        image = cv2.imread(os.path.join(DATA, "groups/insightface_t1.jpg"))
        app_640 = app_320 = app_160 = face_analysis
        app_640.prepare(ctx_id=0, det_size=(640, 640))
        app_320.prepare(ctx_id=0, det_size=(320, 320))
        app_160.prepare(ctx_id=0, det_size=(160, 160))
        faces = app_640.get(image)
        face_info = sorted(faces, key=lambda x: (x["bbox"][2] - x["bbox"][0]) * (x["bbox"][3] - x["bbox"][1]))[-1]
        crop = face_align.norm_crop(image, landmark=face_info["kps"], image_size=112)
        at_160 = [float(f.det_score) for f in face_analysis.get(image)]
        face_analysis.det_model.input_size = (640, 640)
        at_640 = [float(f.det_score) for f in face_analysis.get(image)]
        try:
            download_file(BASE_REPO_URL + "/antelopev2.zip", path=os.path.join(ROOT, "elsewhere.zip"), overwrite=True)
            refused = ""
        except Exception as error:
            refused = str(error)
        print(json.dumps({"scores": [float(f.det_score) for f in faces], "at_160": at_160, "at_640": at_640,
                          "len": len(face_info), "crop": list(crop.shape), "refused": refused}))
        """,
        insightface_root,
        shared_data,
    )
    assert result["scores"] == result["at_160"] != result["at_640"]  # the last prepare's size is used
    assert result["len"] == 4 and result["crop"] == [112, 112, 3]  # bbox, kps, det_score, embedding
    assert "models/insightface/models/antelopev2/" in result["refused"]


def test_uniportrait_and_withanyone(insightface_root: Path, shared_data: Path) -> None:
    """UniPortrait: allowed_modules=["detection"], writes face.bbox / face.kps, norm_crop 224. WithAnyone:
    prepare(ctx_id=0, det_thresh=0.4), item access res["bbox"] / res["embedding"] for every face."""
    result, _ = run_without_insightface(
        """
        import numpy as np
        from insightface.app import FaceAnalysis
        from insightface.utils import face_align
        image = cv2.imread(os.path.join(DATA, "faces/isaac_newton/newton.png"))
        app = FaceAnalysis(name="antelopev2", root=ROOT, allowed_modules=["detection"], providers=["CPUExecutionProvider"])
        app.prepare(ctx_id=0, det_size=(640, 640))
        face = app.get(image)[0]
        face.bbox = face.bbox + 1.0
        face.kps = face.kps + 1.0
        try:
            face["embedding"]
            missing = False
        except KeyError:
            missing = True
        crop = face_align.norm_crop(image, face.kps, 224)
        other = FaceAnalysis(name="antelopev2", root=ROOT, providers=["CPUExecutionProvider"])
        other.prepare(ctx_id=0, det_thresh=0.4)
        res = other.get(cv2.imread(os.path.join(DATA, "groups/insightface_t1.jpg")))
        print(json.dumps({"tasks": sorted(app.models), "written": bool(np.allclose(face["kps"], face.kps)),
                          "embedding": face.embedding, "missing": missing, "crop": list(crop.shape),
                          "withanyone": [list(r["embedding"].shape) for r in res], "box": len(res[0]["bbox"])}))
        """,
        insightface_root,
        shared_data,
    )
    assert result["tasks"] == ["detection"] and result["written"] and result["embedding"] is None and result["missing"]
    assert result["crop"] == [224, 224, 3] and len(result["withanyone"]) >= 6 and result["box"] == 4


# --- registration ------------------------------------------------------------------------------------------------------


def test_the_variable_turns_it_off(insightface_root: Path, shared_data: Path) -> None:
    script = """
        finders = [type(f).__name__ for f in sys.meta_path if getattr(f, "__face_identity_stub__", False)]
        try:
            import insightface
            found = True
        except ModuleNotFoundError:
            found = False
        print(json.dumps({"finders": finders, "found": found}))
        """
    on, _ = run_without_insightface(script, insightface_root, shared_data)
    assert on == {"finders": ["InsightfaceFinder"], "found": True}
    off, log = run_without_insightface(script, insightface_root, shared_data, env={DISABLE_ENV: "1"})
    assert off["finders"] == [] and off["found"] is False and "compatible module" not in log


def test_prestartup_imports_nothing_heavy(insightface_root: Path) -> None:
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        sys.path[:] = [p for p in sys.path if not __import__("os").path.isdir(__import__("os").path.join(p or ".", "insightface"))]
        spec = importlib.util.spec_from_file_location("prestartup_script", {str(PRESTARTUP)!r})
        module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
        print(sorted(n for n in sys.modules if n.split(".")[0] in ("numpy", "onnxruntime", "cv2", "face_identity_for_insightface")))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=insightface_root, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def fake_insightface(folder: Path) -> Path:
    package = folder / "insightface"
    (package / "app").mkdir(parents=True)
    (package / "__init__.py").write_text("REAL = True\n")
    (package / "app" / "__init__.py").write_text("class FaceAnalysis:\n    real = True\n")
    return folder


def test_never_registered_when_insightface_is_importable(tmp_path: Path) -> None:
    fake = fake_insightface(tmp_path / "site")
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        sys.path.insert(0, {str(fake)!r})
        spec = importlib.util.spec_from_file_location("prestartup_script", {str(PRESTARTUP)!r})
        module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
        finders = [f for f in sys.meta_path if getattr(f, "{STUB_FLAG}", False)]
        from insightface.app import FaceAnalysis
        import insightface
        print(bool(finders), insightface.REAL, FaceAnalysis.real)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False True True"


def test_steps_aside_when_insightface_appears_later(tmp_path: Path, insightface_root: Path, shared_data: Path) -> None:
    fake = fake_insightface(tmp_path / "site")
    result, _ = run_without_insightface(
        f"""
        registered = any(getattr(f, "{STUB_FLAG}", False) for f in sys.meta_path)
        sys.path.insert(0, {str(fake)!r})  # e.g. installed by a manager after start-up
        importlib.invalidate_caches()
        import insightface
        from insightface.app import FaceAnalysis
        print(json.dumps({{"registered": registered, "real": getattr(insightface, "REAL", False), "app": FaceAnalysis.real}}))
        """,
        insightface_root,
        shared_data,
    )
    assert result == {"registered": True, "real": True, "app": True}


# --- the FaceAnalysis surface, in-process ------------------------------------------------------------------------------


def test_face_is_a_dict_with_attribute_access() -> None:
    face = Face(bbox=np.array([0, 0, 10, 10], np.float32), kps=np.zeros((5, 2), np.float32), det_score=np.float32(0.9))
    assert len(face) == 3 and face["kps"] is face.kps and face.embedding is None and face.normed_embedding is None
    with pytest.raises(KeyError):
        face["embedding"]  # noqa: B018
    face.embedding = np.array([3.0, 4.0], np.float32)
    np.testing.assert_allclose(face.normed_embedding, [0.6, 0.8])
    assert float(face.embedding_norm) == pytest.approx(5.0) and len(face) == 4
    with pytest.raises(KeyError):
        face["normed_embedding"]  # noqa: B018  (a property, as in insightface)
    face["bbox"] = np.array([1, 1, 5, 5], np.float32)
    assert face.bbox[0] == 1 and face.gender is None and face.sex is None
    for duplicate in (copy.deepcopy(face), pickle.loads(pickle.dumps(face))):
        assert isinstance(duplicate, Face) and sorted(duplicate) == sorted(face)
        np.testing.assert_allclose(duplicate.normed_embedding, [0.6, 0.8])


def test_input_size_set_after_prepare_is_honoured(insightface_root: Path, shared_data: Path) -> None:
    """insightface 0.7.x behaviour (2.1 ignores it): the packs' retry loops change the size between calls."""
    app = FaceAnalysis(name="antelopev2", root=str(insightface_root), providers="cpu")
    app.prepare(ctx_id=0, det_size=(640, 640))
    image = cv2.imread(str(shared_data / GROUP))
    at_640 = app.get(image)
    app.det_model.input_size = (96, 96)
    at_96 = app.get(image)
    assert len(at_640) == 6 and len(at_96) < len(at_640)
    app.det_model.input_size = (640, 640)
    assert [f.det_score for f in app.get(image)] == [f.det_score for f in at_640]
    assert [float(f.det_score) for f in at_640] == sorted((float(f.det_score) for f in at_640), reverse=True)


def test_pack_folders(insightface_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pack_folder("buffalo_l", insightface_root) == insightface_root / "models" / "buffalo_l"
    assert pack_folder("antelopev2", insightface_root) == insightface_root / "models" / "antelopev2" / "antelopev2"
    assert pack_folder(str(insightface_root / "models" / "buffalo_l"), tmp_path) is not None  # a folder path as name
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))
    with pytest.raises(ModelNotAvailableError) as missing:  # nowhere on disk: our verified downloads, offline here
        FaceAnalysis(name="antelopev2", root=str(tmp_path), providers="cpu")
    assert str(tmp_path / "models" / "antelopev2") in str(missing.value)
    with pytest.raises(ModelNotAvailableError, match="no verified download") as unknown:
        FaceAnalysis(name="buffalo_s", root=str(tmp_path), providers="cpu")
    assert str(tmp_path / "models" / "buffalo_s") in str(unknown.value)


# --- parity with insightface 2.1's own FaceAnalysis on the same files ---------------------------------------------------


@pytest.fixture(scope="module")
def insightface_face_analysis() -> Any:
    try:
        from insightface.app import FaceAnalysis as TheirFaceAnalysis
    except ImportError as error:
        message = f"insightface==2.1 is needed for the parity tests (pip install --no-deps insightface==2.1): {error}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    if getattr(sys.modules["insightface"], STUB_FLAG, False):
        pytest.skip("the insightface imported here is face-identity's own module")
    return TheirFaceAnalysis


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")
@pytest.mark.parametrize("pack", ["buffalo_l", "antelopev2"])
@pytest.mark.parametrize("photo", [GROUP, PORTRAIT, "groups/face_recognition_two_people.jpg"])
def test_parity_with_insightface_face_analysis(
    insightface_face_analysis: Any, insightface_root: Path, tmp_path: Path, shared_data: Path, pack: str, photo: str
) -> None:
    folder = pack_folder(pack, insightface_root)
    assert folder is not None
    flat = tmp_path / "models" / pack  # insightface itself does not look one level deeper
    flat.mkdir(parents=True)
    for model in folder.glob("*.onnx"):
        if model.name != "2d106det.onnx":
            shutil.copy(model, flat / model.name)
    theirs = insightface_face_analysis(name=pack, root=str(tmp_path), providers=["CPUExecutionProvider"])
    ours = FaceAnalysis(name=pack, root=str(insightface_root), providers=["CPUExecutionProvider"])
    for analyser in (theirs, ours):
        analyser.prepare(ctx_id=0, det_size=(640, 640))
    image = cv2.imread(str(shared_data / photo))
    their_faces, our_faces = theirs.get(image), ours.get(image)
    assert len(our_faces) == len(their_faces) > 0
    for their, our in zip(their_faces, our_faces, strict=True):
        np.testing.assert_allclose(our.bbox, their.bbox, atol=1e-3)
        np.testing.assert_allclose(our.kps, their.kps, atol=1e-3)
        assert float(our.det_score) == pytest.approx(float(their.det_score), abs=1e-5)
        assert float(our.normed_embedding @ their.normed_embedding) >= 0.9999
        np.testing.assert_allclose(np.linalg.norm(our.embedding), np.linalg.norm(their.embedding), rtol=1e-3)


def test_provider_lists_fall_back_to_the_cpu() -> None:
    assert provider_list(None) == "auto" and provider_list([]) == "auto" and provider_list("cpu") == "cpu"
    assert provider_list(["CUDAExecutionProvider"]) == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert provider_list(["CPUExecutionProvider"]) == ("CPUExecutionProvider",)


def test_each_recognizer_keeps_its_own_space(insightface_root: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """antelopev2's recognizer and buffalo_l's never mix; the glintr100 space is granted only to the original file
    (SHA-256), and has no calibrated threshold (the uncalibrated warning says so)."""
    image = cv2.imread(str(shared_data / PORTRAIT))
    identities = {}
    for pack in ("antelopev2", "buffalo_l"):
        analysis = FaceAnalysis(name=pack, root=str(insightface_root), providers="cpu")
        recognizer = analysis.models["recognition"].recognizer
        crop = norm_crop(image, analysis.get(image)[0].kps)[:, :, ::-1]  # BGR image, RGB crop
        identities[pack] = recognizer.identity(recognizer.embed_crops(np.ascontiguousarray(crop[None])))
        assert similarity(identities[pack], identities[pack]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(IncompatibleIdentitiesError):
        similarity(identities["antelopev2"], identities["buffalo_l"])
    glintr100 = pack_folder("antelopev2", insightface_root) / "glintr100.onnx"  # type: ignore[operator]
    assert load_recognizer(glintr100, providers="cpu").model_id.startswith("glintr100@")  # not the original
    monkeypatch.setattr(catalog, "GLINTR100_SHA256", file_sha256(glintr100))  # as if it were the original
    assert load_recognizer(glintr100, providers="cpu").model_id == GLINTR100_SPACE
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        match_threshold(GLINTR100_SPACE)
    assert any(issubclass(w.category, UncalibratedThresholdWarning) for w in caught)


def test_model_zoo_get_model(insightface_root: Path, real_models: dict[str, Path], tmp_path: Path) -> None:
    from face_identity.errors import ModelMismatchError
    from face_identity.insightface_modules import get_model

    folder = pack_folder("antelopev2", insightface_root)
    assert folder is not None
    assert get_model(str(folder / "scrfd_10g_bnkps.onnx"), providers=["CPUExecutionProvider"]).taskname == "detection"
    assert get_model(str(folder / "glintr100.onnx")).taskname == "recognition"
    other = shutil.copy(real_models["foamliu"], tmp_path / "other.onnx")  # a 128-d recognizer: still a recognizer
    assert get_model(str(other)).taskname == "recognition"
    swapper = synthetic.build_inswapper_like(tmp_path / "inswapper_128.onnx")  # ReActor asks model_zoo for its swapper
    with pytest.raises(ModelMismatchError, match="no swapper"):
        get_model(str(swapper))
    with pytest.raises(ModelNotAvailableError):
        get_model(str(tmp_path / "missing.onnx"))
