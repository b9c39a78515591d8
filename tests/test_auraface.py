"""AuraFace v1 (fal/AuraFace-v1, Apache-2.0) as a catalog recognizer (issue 20): its own embedding space end to end.

A stand-in with AuraFace's I/O (``synthetic.build_auraface_like``) is placed as ``auraface_v1.onnx`` and the
catalog's SHA-256 is pointed at it, as if it were fal's file (tests never download). The small real SCRFD
finds the faces.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from face_identity import catalog
from face_identity.catalog import AURAFACE_SPACE, GLINTR100_SPACE, W600K_R50_SPACE
from face_identity.cli import main
from face_identity.compare import UncalibratedThresholdWarning, consistency_scores, match_threshold, similarity
from face_identity.detect import FaceDetector
from face_identity.devtools import synthetic
from face_identity.embed import load_recognizer
from face_identity.errors import IncompatibleIdentitiesError
from face_identity.images import read_image
from face_identity.integrity import file_sha256
from face_identity.pipeline import analyze
from face_identity.score import read_rows
from face_identity.select import FaceSelection
from face_identity.types import Identity

NEWTON, GAUSS = "faces/isaac_newton/newton.png", "faces/carl_friedrich_gauss/gauss.png"


@pytest.fixture
def auraface_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    stand_in = synthetic.build_auraface_like(folder / "auraface_v1.onnx", seed=3)
    monkeypatch.setattr(catalog, "AURAFACE_SHA256", file_sha256(stand_in))  # as if it were fal's glintr100.onnx
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))
    return folder


def test_only_the_published_file_is_granted_the_auraface_space(auraface_folder: Path, tmp_path: Path) -> None:
    recognizer = load_recognizer("auraface_v1", [auraface_folder], providers="cpu")
    assert (recognizer.model_id, recognizer.dimension) == (AURAFACE_SPACE, 512)
    other = synthetic.build_auraface_like(tmp_path / "other" / "auraface_v1.onnx", seed=4)  # the name, other bytes
    assert load_recognizer(other, providers="cpu").model_id.startswith("auraface_v1@")  # content-keyed, never the space


def test_identities_comparison_gates_and_scoring_work_in_the_auraface_space(
    auraface_folder: Path, scrfd_detector: FaceDetector, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recognizer = load_recognizer("auraface_v1", [auraface_folder], providers="cpu")
    photos = [read_image(shared_data / NEWTON), read_image(shared_data / GAUSS)]
    one_face = FaceSelection(max_faces=1)
    newton = analyze(scrfd_detector, recognizer, photos[:1], one_face).identity
    gauss = analyze(scrfd_detector, recognizer, photos[1:], one_face).identity
    assert newton is not None and gauss is not None and newton.model_id == gauss.model_id == AURAFACE_SPACE
    assert similarity(newton, newton) == pytest.approx(1.0, abs=1e-5) and -1.0 <= similarity(newton, gauss) < 1.0
    for other_space in (W600K_R50_SPACE, GLINTR100_SPACE):  # 512-d too, but another space
        with pytest.raises(IncompatibleIdentitiesError, match=AURAFACE_SPACE):
            similarity(newton, Identity(np.ones((1, 512), np.float32), other_space))

    with warnings.catch_warnings(record=True) as caught:  # no cited threshold: 0.4 with the uncalibrated warning
        warnings.simplefilter("always")
        threshold = match_threshold(AURAFACE_SPACE)
    assert threshold == 0.4 and any(issubclass(w.category, UncalibratedThresholdWarning) for w in caught)

    faces = analyze(scrfd_detector, recognizer, photos, one_face).identity  # the gate under Identity Consistency
    gate = consistency_scores(newton, faces, 2, threshold)
    assert gate.passed[0] and gate.best_image == 0 and gate.scores[0] == pytest.approx(1.0, abs=1e-5)
    assert gate.scores[1] < gate.scores[0]
    with pytest.raises(IncompatibleIdentitiesError):
        consistency_scores(Identity(np.ones((1, 512), np.float32), W600K_R50_SPACE), faces, 2, threshold)

    dataset = tmp_path / "dataset"
    dataset.mkdir()
    for relative in (NEWTON, GAUSS):
        os.symlink(shared_data / relative, dataset / Path(relative).name)
    out = tmp_path / "scores.csv"
    arguments = ["score", dataset, "--reference", shared_data / NEWTON, "--out", out, "--json", "--no-progress"]
    models = [
        "--recognizer",
        "auraface_v1",
        "--model-dir",
        auraface_folder,
        "--detector",
        shared_data / "models" / "scrfd_2.5g_bnkps_640.onnx",
    ]
    status = main([str(a) for a in [*arguments, *models, "--providers", "cpu"]])
    summary = json.loads([line for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1])
    rows = {Path(row["path"]).name: row for row in read_rows(out)}
    assert status == 0 and summary["summary"]["images"] == 2 and summary["settings"]["recognizer"] == AURAFACE_SPACE
    assert summary["summary"]["threshold"] == 0.4  # the uncalibrated default, said on stderr
    assert rows["newton.png"]["similarity"] == pytest.approx(1.0, abs=1e-4) and rows["newton.png"]["pass"]


def test_fals_file_under_its_published_name_is_auraface(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_models: dict[str, Path]
) -> None:
    """The model card's layout, ``models/auraface/glintr100.onnx``, through insightface's FaceAnalysis(name="auraface")
    (our module here): that file is AuraFace by its bytes, not antelopev2's glintr100; another file of that name is not."""
    import shutil

    from face_identity.insightface_analysis import FaceAnalysis

    folder = tmp_path / "models" / "auraface"
    stand_in = synthetic.build_auraface_like(folder / "glintr100.onnx", seed=3)
    shutil.copy(real_models["scrfd"], folder / "scrfd_10g_bnkps.onnx")
    monkeypatch.setattr(catalog, "AURAFACE_SHA256", file_sha256(stand_in))
    assert load_recognizer(stand_in, providers="cpu").model_id == AURAFACE_SPACE
    app = FaceAnalysis(name="auraface", root=str(tmp_path), providers="cpu")
    assert app.models["recognition"].model_id == AURAFACE_SPACE
    monkeypatch.setattr(catalog, "AURAFACE_SHA256", "0" * 64)  # the same file is then neither AuraFace nor glintr100
    assert load_recognizer(stand_in, providers="cpu").model_id.startswith("glintr100@")
