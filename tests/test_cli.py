"""``python -m face_identity`` end to end in a subprocess, with the small real models and photos."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FakeHub

from face_identity.model_facts import build_model_facts

REPO_ROOT = Path(__file__).resolve().parent.parent
CALIBRATION_IDENTITIES = {"barack_obama": 3, "joe_biden": 2, "kit_harington": 2}
"""Identity folders and how many of their photos go into the small calibration folder."""


def run_cli(
    *args: object, home: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the CLI from the repository root, offline unless ``env`` says otherwise, with caches under ``home``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "TRANSFORMERS_OFFLINE")
    }
    environment.update(
        FACE_IDENTITY_HOME=str(home / "face_identity"),
        HF_HOME=str(home / "hf"),
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "face_identity", *map(str, args)],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli_home")


@pytest.fixture(scope="module")
def model_options(real_models: dict[str, Path]) -> list[str]:
    return ["--detector", str(real_models["scrfd"]), "--recognizer", str(real_models["mbf_int8"])]


@pytest.fixture(scope="module")
def solvay_report(shared_data: Path, model_options: list[str], home: Path) -> list[dict[str, Any]]:
    image = shared_data / "groups" / "solvay_conference_1927.png"
    result = run_cli("analyze", image, *model_options, "--det-thresh", "0.4", "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_analyze_solvay_json_has_29_faces(solvay_report: list[dict[str, Any]], solvay_image: np.ndarray) -> None:
    assert len(solvay_report) == 1
    entry = solvay_report[0]
    assert Path(entry["image"]).name == "solvay_conference_1927.png"
    faces = entry["faces"]
    assert len(faces) == 29  # the cospectrum reference count at probability 0.4
    height, width = solvay_image.shape[:2]
    for face in faces:
        x1, y1, x2, y2 = face["bbox"]
        assert 0 <= x1 < x2 <= width + 1 and 0 <= y1 < y2 <= height + 1
        assert 0.4 <= face["score"] <= 1.0
        kps = np.array(face["kps"])
        assert kps.shape == (5, 2)
        nose_x, nose_y = kps[2]
        assert x1 <= nose_x <= x2 and y1 <= nose_y <= y2
        assert kps[0, 0] < kps[1, 0]  # image-left eye first
        embedding = np.array(face["embedding"], dtype=np.float64)
        assert embedding.shape == (512,) and np.all(np.isfinite(embedding))
        assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-4)


def test_analyze_orders_faces_large_to_small_and_embeds_different_people_differently(solvay_report: list[dict[str, Any]]) -> None:
    faces = solvay_report[0]["faces"]
    areas = [(f["bbox"][2] - f["bbox"][0]) * (f["bbox"][3] - f["bbox"][1]) for f in faces]
    assert all(a >= b - 1e-3 for a, b in itertools.pairwise(areas))
    embeddings = np.array([f["embedding"] for f in faces])
    cosine = embeddings @ embeddings.T
    np.fill_diagonal(cosine, -1)
    assert cosine.max() < 0.9  # 29 different people: no two faces embed alike


def compare(first: Path, second: Path, model_options: list[str], home: Path) -> dict[str, Any]:
    # threshold 0.37: same-identity pairs in faces/ score above it with w600k_mbf int8 (shared/data/README.md)
    result = run_cli("compare", first, second, *model_options, "--threshold", "0.37", "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compare_same_person_scores_above_different_people(shared_data: Path, model_options: list[str], home: Path) -> None:
    obama = shared_data / "faces" / "barack_obama"
    same = compare(obama / "face_recognition_obama.jpg", obama / "face_recognition_obama2.jpg", model_options, home)
    different = compare(
        obama / "face_recognition_obama.jpg",
        shared_data / "faces" / "joe_biden" / "face_recognition_biden.jpg",
        model_options,
        home,
    )

    assert same["verdict"] == "same person"
    assert different["verdict"] == "different people"
    assert same["similarity"] > different["similarity"] + 0.2
    assert same["threshold"] == 0.37
    assert same["model_id"].startswith("w600k_mbf_int8_dynamic@") and same["model_id"] == different["model_id"]


@pytest.fixture
def calibration_folder(shared_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "people"
    for identity, count in CALIBRATION_IDENTITIES.items():
        (folder / identity).mkdir(parents=True)
        for photo in sorted((shared_data / "faces" / identity).iterdir())[:count]:
            (folder / identity / photo.name).symlink_to(photo)
    return folder


def test_calibrate_folder_json(calibration_folder: Path, model_options: list[str], home: Path) -> None:
    result = run_cli("calibrate", calibration_folder, *model_options, "--json", home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    missing = {Path(p).name for p in report["images_without_face"]}
    usable = [(p.name, p.parent.name) for p in sorted(calibration_folder.rglob("*.jp*g")) if p.name not in missing]
    pairs = list(itertools.combinations(usable, 2))
    assert len(usable) >= sum(CALIBRATION_IDENTITIES.values()) - 1
    assert report["pair_count"] == len(pairs)
    assert report["same_count"] == sum(a[1] == b[1] for a, b in pairs)
    assert report["different_count"] == report["pair_count"] - report["same_count"]
    assert report["mean_same"] > report["mean_different"] + 0.2
    assert report["auc"] > 0.9
    assert 0.0 <= report["eer"] <= 0.5
    assert set(report["tpr_at_fpr"]) == {"0.1", "0.01", "0.001"}
    assert report["model_id"].startswith("w600k_mbf_int8_dynamic@")


def test_calibrate_with_a_pairs_file(calibration_folder: Path, model_options: list[str], home: Path, tmp_path: Path) -> None:
    obama = sorted((calibration_folder / "barack_obama").iterdir())
    biden = sorted((calibration_folder / "joe_biden").iterdir())
    rows = [
        ("file_a", "file_b", "same_identity"),
        (f"barack_obama/{obama[0].name}", f"barack_obama/{obama[1].name}", "1"),
        (f"joe_biden/{biden[0].name}", f"joe_biden/{biden[1].name}", "1"),
        (f"barack_obama/{obama[0].name}", f"joe_biden/{biden[0].name}", "0"),
    ]
    pairs_file = tmp_path / "pairs.tsv"
    pairs_file.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")

    result = run_cli("calibrate", calibration_folder, "--pairs", pairs_file, *model_options, "--json", home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["pair_count"], report["same_count"], report["different_count"]) == (3, 2, 1)


@pytest.mark.parametrize("problem", ["empty", "missing"])
def test_calibrate_with_a_bad_pairs_file_is_an_error(
    calibration_folder: Path, model_options: list[str], home: Path, tmp_path: Path, problem: str
) -> None:
    pairs_file = tmp_path / "pairs.tsv"
    if problem == "empty":
        pairs_file.write_text("", encoding="utf-8")
    result = run_cli("calibrate", calibration_folder, "--pairs", pairs_file, *model_options, home=home)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and str(pairs_file) in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_image_is_an_error_with_exit_code_2(model_options: list[str], home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_photo.jpg"
    result = run_cli("analyze", missing, *model_options, home=home)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and str(missing) in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_models_lists_the_catalog_and_finds_a_buffalo_l_copy(tmp_path: Path) -> None:
    folder = tmp_path / "comfy_models"
    existing = folder / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"stand-in")

    result = run_cli("models", "--model-dir", folder, home=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    by_name = {line.split()[0]: line for line in lines if line and not line[0].isspace()}
    assert set(by_name) == {
        "arcface_w600k_r50",
        "scrfd_2.5g",
        "retinaface_10g",
        "yoloface_8n",
        "inswapper_128",
        "inswapper_128_fp16",
    } | {name for name, facts in build_model_facts().items() if facts.release}
    assert str(existing) in by_name["arcface_w600k_r50"]
    assert "https://huggingface.co/facefusion/models-3.0.0/resolve/main/scrfd_2.5g.onnx" in by_name["scrfd_2.5g"]
    assert sum("licence:" in line for line in lines) == len(by_name)


def test_download_offline_is_an_error_naming_the_file(tmp_path: Path) -> None:
    result = run_cli("download", "arcface_w600k_r50", "--model-dir", tmp_path / "models", home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error:")
    assert "arcface_w600k_r50.onnx" in result.stderr and str(tmp_path / "models") in result.stderr


def test_download_unknown_name_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("download", "arcface_r100", home=tmp_path)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_download_from_the_endpoint_in_hf_endpoint(fake_hub: FakeHub, tmp_path: Path) -> None:
    import zlib

    data = np.random.default_rng(5).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    fake_hub.files = {"scrfd_2.5g.onnx": data, "scrfd_2.5g.hash": format(zlib.crc32(data), "08x").encode()}
    folder = tmp_path / "models"
    online = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": fake_hub.url}

    first = run_cli("download", "scrfd_2.5g", "--model-dir", folder, home=tmp_path, env=online)
    assert first.returncode == 0, first.stderr
    assert "downloaded and verified" in first.stdout
    assert (folder / "scrfd_2.5g.onnx").read_bytes() == data

    count = len(fake_hub.requests)
    second = run_cli("download", "scrfd_2.5g", "--model-dir", folder, home=tmp_path, env=online)
    assert second.returncode == 0 and "already on disk" in second.stdout
    assert len(fake_hub.requests) == count


@pytest.mark.parametrize(("device", "providers", "device_id"), [("cuda:1", "cuda", 1), ("cuda", "cuda", 0), ("cpu", "cpu", 0)])
def test_device_option_reaches_both_onnxruntime_sessions(
    device: str, providers: str, device_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from face_identity import cli

    calls: dict[str, dict[str, Any]] = {}
    monkeypatch.setattr(cli, "load_detector", lambda *a, **k: calls.setdefault("detector", k))
    monkeypatch.setattr(cli, "load_recognizer", lambda *a, **k: calls.setdefault("recognizer", k))
    args = cli.build_parser().parse_args(["analyze", "photo.jpg", "--device", device])
    cli._load_detector(args)
    cli._load_recognizer(args)
    for role in ("detector", "recognizer"):
        assert calls[role]["providers"] == providers
        assert calls[role]["device_id"] == device_id
    assert calls["recognizer"]["device"] == device
