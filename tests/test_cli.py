"""``python -m face_identity`` end to end in a subprocess, with the small real models and photos."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FakeHub

from face_identity.catalog import build_catalog

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
    assert set(by_name) == set(build_catalog())
    assert {"arcface_w600k_r50", "scrfd_2.5g", "inswapper_128", "hyperswap_1a_256", "crossface_ghost"} <= set(by_name)
    assert str(existing) in by_name["arcface_w600k_r50"]
    assert "https://huggingface.co/facefusion/models-3.0.0/resolve/main/scrfd_2.5g.onnx" in by_name["scrfd_2.5g"]
    assert sum("licence:" in line for line in lines) == len(build_catalog())


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
    from face_identity import cli, cli_models

    calls: dict[str, dict[str, Any]] = {}
    monkeypatch.setattr(cli_models, "load_detector", lambda *a, **k: calls.setdefault("detector", k))
    monkeypatch.setattr(cli_models, "load_recognizer", lambda *a, **k: calls.setdefault("recognizer", k))
    args = cli.build_parser().parse_args(["analyze", "photo.jpg", "--device", device])
    cli_models.load_detector_from(args)
    cli_models.load_recognizer_from(args)
    for role in ("detector", "recognizer"):
        assert calls[role]["providers"] == providers
        assert calls[role]["device_id"] == device_id
    assert calls["recognizer"]["device"] == device


# --- batches survive bad files; models only when needed; messages ---------------------------------


@pytest.fixture
def mixed_inputs(shared_data: Path, tmp_path: Path) -> dict[str, Path]:
    """A good photo, a 0-byte file, a text file named .png, a folder of two photos (and a .txt), an empty folder."""
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(shared_data / "faces" / "isaac_newton" / "newton.png", folder / "b_newton.png")
    shutil.copy(shared_data / "faces" / "carl_friedrich_gauss" / "gauss.png", folder / "a_gauss.PNG")
    (folder / "notes.txt").write_text("not an image")
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    return {
        "good": shared_data / "faces" / "barack_obama" / "face_recognition_obama.jpg",
        "zero": tmp_path / "zero.jpg",
        "text": tmp_path / "text.png",
        "folder": folder,
        "empty_folder": tmp_path / "empty_folder",
    }


def test_analyze_batch_reports_bad_files_processes_the_rest_and_exits_2(
    mixed_inputs: dict[str, Path], model_options: list[str], home: Path
) -> None:
    order = ["zero", "good", "text", "folder", "empty_folder"]
    result = run_cli("analyze", *(mixed_inputs[key] for key in order), *model_options, "--json", home=home)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    by_name = {Path(entry["image"]).name: entry for entry in report}
    assert set(by_name) == {"empty_folder", "zero.jpg", "face_recognition_obama.jpg", "text.png", "a_gauss.PNG", "b_newton.png"}
    for readable in ("face_recognition_obama.jpg", "a_gauss.PNG", "b_newton.png"):
        assert "error" not in by_name[readable] and len(by_name[readable]["faces"]) >= 1
    assert [Path(e["image"]).name for e in report if "error" not in e] == [
        "face_recognition_obama.jpg",
        "a_gauss.PNG",
        "b_newton.png",
    ]
    assert "empty (0 bytes)" in by_name["zero.jpg"]["error"] and "damaged" in by_name["text.png"]["error"]
    assert "no images" in by_name["empty_folder"]["error"]
    for bad in ("zero", "text", "empty_folder"):
        assert f"error: {mixed_inputs[bad]}" in result.stderr or str(mixed_inputs[bad]) in result.stderr
    assert "3 of 6 input(s) failed" in result.stderr


def test_analyze_text_output_keeps_the_readable_images(
    mixed_inputs: dict[str, Path], model_options: list[str], home: Path
) -> None:
    result = run_cli("analyze", mixed_inputs["text"], mixed_inputs["good"], *model_options, home=home)
    assert result.returncode == 2
    assert "face_recognition_obama.jpg: 1 face(s)" in result.stdout and "text.png" not in result.stdout
    lines = result.stderr.splitlines()
    assert lines[0].startswith("loading detector")  # before the models load: something within 2 s
    assert (
        any(line.startswith(f"error: {mixed_inputs['text']} is damaged") for line in lines) and "Traceback" not in result.stderr
    )
    assert "analyzed 0/2 images" in result.stderr and "analyzed 2/2 images" in result.stderr  # plain lines off a terminal


def test_calibrate_leaves_out_an_unreadable_image_and_exits_2(
    calibration_folder: Path, model_options: list[str], home: Path
) -> None:
    broken = calibration_folder / "joe_biden" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff truncated jpeg")
    result = run_cli("calibrate", calibration_folder, *model_options, "--json", home=home)

    assert result.returncode == 2 and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert [entry["image"] for entry in report["unreadable_images"]] == [str(broken)]
    assert str(broken) in result.stderr
    usable = sum(CALIBRATION_IDENTITIES.values()) - len(report["images_without_face"])
    assert report["pair_count"] == usable * (usable - 1) // 2  # the broken file is in no pair


def test_compare_two_identity_files_needs_no_model_even_offline(tmp_path: Path) -> None:
    from face_identity.store import save_identity
    from face_identity.types import Identity

    rows = np.random.default_rng(3).normal(size=(2, 512)).astype(np.float32)
    first = save_identity(Identity(rows[:1], "some_model@0123abcd"), tmp_path / "first.safetensors")
    second = save_identity(Identity(rows[1:], "some_model@0123abcd"), tmp_path / "second.safetensors")
    empty_home = tmp_path / "no_models_anywhere"
    for env in ({"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}):
        result = run_cli("compare", first, second, "--json", home=empty_home, env=env)
        assert result.returncode == 0, result.stderr
        expected = float(rows[0] @ rows[1] / np.linalg.norm(rows[0]) / np.linalg.norm(rows[1]))
        assert json.loads(result.stdout)["similarity"] == pytest.approx(expected, abs=1e-5)
    assert not (empty_home / "face_identity" / "models").exists()  # nothing was looked up or downloaded


def test_download_into_a_file_is_an_error_without_traceback(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("x")
    result = run_cli("download", "scrfd_2.5g", "--model-dir", not_a_folder, home=tmp_path, env={"HF_HUB_OFFLINE": "0"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and f"{not_a_folder} is a file, not a folder" in result.stderr


def test_help_names_the_program_as_it_was_run_and_describes_positionals() -> None:
    from face_identity import cli

    assert cli.prog_name("/venv/bin/face-identity") == "face-identity"
    assert cli.prog_name("C:\\venv\\Scripts\\face-identity.exe".replace("\\", "/")) == "face-identity"
    assert cli.prog_name("/repo/face_identity/__main__.py") == "python -m face_identity"
    assert cli.build_parser(prog="face-identity").format_usage().startswith("usage: face-identity ")
    result = subprocess.run(
        [sys.executable, "-m", "face_identity", "analyze", "--help"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m face_identity analyze")
    assert "image files or folders" in result.stdout
    subcommands = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in subcommands.items():
        positionals = [action for action in sub._actions if not action.option_strings]
        assert all(action.help for action in positionals), name


@pytest.mark.parametrize(("argv", "verbose"), [(["-v", "models"], True), (["models", "-v"], True), (["models"], False)])
def test_verbose_is_accepted_before_or_after_the_command(argv: list[str], verbose: bool) -> None:
    from face_identity import cli

    assert cli.build_parser().parse_args(argv).verbose is verbose


def test_warnings_are_printed_once(tmp_path: Path) -> None:
    script = (
        "import logging\n"
        "from face_identity.cli import setup_logging\n"
        "from huggingface_hub.utils import logging as hf_logging\n"
        "setup_logging(False)\n"
        "setup_logging(True)\n"
        "hf_logging.get_logger('huggingface_hub.file_download').warning('hub warning')\n"
        "logging.getLogger('face_identity.download').warning('our warning')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("hub warning") == 1 and result.stderr.count("our warning") == 1


def test_analyze_of_only_missing_files_fails_on_the_files_not_on_the_models(tmp_path: Path) -> None:
    # offline, with no model anywhere: the missing image is the error, not the (unneeded) recognizer
    missing = tmp_path / "no_such_photo.jpg"
    result = run_cli("analyze", missing, tmp_path, "--json", home=tmp_path / "empty_home")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"image file {missing} does not exist" in result.stderr and "model file" not in result.stderr
    assert [entry["image"] for entry in json.loads(result.stdout)] == [str(missing), str(tmp_path)]


def test_verbose_logs_the_model_files_and_providers(shared_data: Path, model_options: list[str], home: Path) -> None:
    image = shared_data / "faces" / "barack_obama" / "face_recognition_obama.jpg"
    quiet = run_cli("analyze", image, *model_options, home=home)
    loud = run_cli("-v", "analyze", image, *model_options, home=home)
    assert quiet.returncode == loud.returncode == 0
    for text in ("INFO face_identity.download: using", "CPUExecutionProvider", "runs on onnxruntime"):
        assert text in loud.stderr and text not in quiet.stderr
    offline = run_cli("-v", "analyze", image, home=home, env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2 and "retinaface_10g.onnx is not in" in offline.stderr  # a failed lookup is logged too
