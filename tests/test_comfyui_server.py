"""The example workflows in a real ComfyUI server over HTTP (only when COMFYUI_PATH points at a ComfyUI checkout).

``COMFYUI_PATH``: the ComfyUI checkout. ``COMFYUI_PYTHON``: the interpreter whose environment runs it
(default: this one). The server runs on 127.0.0.1 with ``--cpu`` and a throw-away base directory
holding the pack (symlinked), the stand-in models and the example inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, build_stand_in_mask_models, build_stand_in_swappers, fill_example_inputs

COMFYUI_PATH = os.environ.get("COMFYUI_PATH", "")
pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.skipif(
        not (COMFYUI_PATH and (Path(COMFYUI_PATH) / "main.py").is_file()),
        reason="set COMFYUI_PATH to a ComfyUI checkout (and COMFYUI_PYTHON to its interpreter) to run the workflows in a real server",
    ),
]
START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _post(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[tuple[str, Path]]:

    base = tmp_path_factory.mktemp("comfy_base")
    for folder in ("custom_nodes", "input", "output", "temp", "user", "models/face_identity"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    (base / "custom_nodes" / "face-identity").symlink_to(REPO_ROOT, target_is_directory=True)
    models = base / "models" / "face_identity"
    shutil.copy(shared_data / "models" / "w600k_mbf_int8_dynamic.onnx", models / "arcface_w600k_r50.onnx")
    shutil.copy(shared_data / "models" / "scrfd_2.5g_bnkps_640.onnx", models / "retinaface_10g.onnx")
    build_stand_in_swappers(models)  # inswapper, HyperSwap, SimSwap + crossface stand-ins taking the stand-in recognizer's space
    build_stand_in_mask_models(models)  # xseg_1, bisenet_resnet_34, gfpgan_1.4 stand-ins with the real I/O
    fill_example_inputs(base / "input", shared_data)  # the photos and the video workflow's clip
    port = _free_port()
    log_path = base / "server.log"
    command = [
        os.environ.get("COMFYUI_PYTHON", sys.executable),
        "main.py",
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--base-directory",
        str(base),
        "--database-url",
        "sqlite:///:memory:",
        "--disable-auto-launch",
    ]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=COMFYUI_PATH, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"ComfyUI exited at start:\n{log_path.read_text()[-4000:]}")
            try:
                _get(f"{url}/system_stats")
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")
                time.sleep(1)
        yield url, log_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_pack_loads_in_comfyui(server: tuple[str, Path]) -> None:
    url, log_path = server
    info = _get(f"{url}/object_info")
    ours = [key for key in info if key.startswith("FaceIdentity_")]
    assert len(ours) >= 12, log_path.read_text()[-4000:]
    assert "IMPORT FAILED" not in "\n".join(line for line in log_path.read_text().splitlines() if "face-identity" in line)
    assert "arcface_w600k_r50" in info["FaceIdentity_LoadArcFaceModel"]["input"]["required"]["model_name"][0]
    templates = _get(f"{url}/workflow_templates")
    assert set(templates.get("face-identity", [])) >= {p.stem for p in (REPO_ROOT / "workflows").glob("*.json")}


def _run_prompt(url: str, log_path: Path, prompt: dict[str, Any], name: str) -> dict[str, Any]:
    """Queue ``prompt``, wait for it, and return its /history entry (failing the test on node errors or a timeout)."""
    queued = _post(f"{url}/prompt", {"prompt": prompt, "client_id": str(uuid.uuid4())})
    assert not queued.get("node_errors"), queued
    prompt_id = queued["prompt_id"]
    deadline = time.time() + RUN_TIMEOUT_S
    while True:
        history = _get(f"{url}/history/{prompt_id}")
        if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
            return dict(history[prompt_id])
        if time.time() > deadline:
            pytest.fail(f"{name} did not finish within {RUN_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.5)


def _assert_success(entry: dict[str, Any]) -> None:
    status = entry["status"]
    errors = [message for message in status.get("messages", []) if message[0] == "execution_error"]
    assert status.get("status_str") == "success" and not errors, json.dumps(errors)[:4000]


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "workflows" / "api").glob("*.json")), ids=lambda p: p.stem)
def test_api_workflow_runs_over_http(server: tuple[str, Path], path: Path) -> None:
    url, log_path = server
    entry = _run_prompt(url, log_path, json.loads(path.read_text()), path.name)
    _assert_success(entry)
    assert entry["outputs"], f"{path.name} produced no output"


def test_gate_passing_nothing_blocks_only_its_branch(server: tuple[str, Path]) -> None:
    """A threshold no image reaches: Save Image (fed by passing_images) is skipped, everything else runs, no error."""
    url, log_path = server
    prompt = json.loads((REPO_ROOT / "workflows" / "api" / "best_of_n_identity_check.json").read_text())
    (gate,) = [key for key, node in prompt.items() if node["class_type"] == "FaceIdentity_IdentityConsistency"]
    prompt[gate]["inputs"]["threshold"] = 1.0  # a cosine similarity of two different photos never reaches 1
    entry = _run_prompt(url, log_path, prompt, "best_of_n_identity_check (nothing passes)")
    _assert_success(entry)
    outputs = entry["outputs"]
    saves = [key for key, node in prompt.items() if node["class_type"] == "SaveImage"]
    assert saves and not any(outputs.get(key, {}).get("images") for key in saves), outputs
    previews = [key for key, node in prompt.items() if node["class_type"] == "PreviewImage"]
    assert all(outputs.get(key, {}).get("images") for key in previews), outputs  # best image and chart still flow
    texts = [" ".join(outputs[key].get("text", [])) for key in outputs]
    assert any("no image passed the threshold 1.00" in text and "blocked" in text for text in texts), texts


def test_bad_text_inputs_are_refused_before_the_run(server: tuple[str, Path]) -> None:
    """VALIDATE_INPUTS: a bad face index list comes back as a node error of the prompt, nothing runs."""
    url, _ = server
    prompt = json.loads((REPO_ROOT / "workflows" / "api" / "best_of_n_identity_check.json").read_text())
    (gate,) = [key for key, node in prompt.items() if node["class_type"] == "FaceIdentity_IdentityConsistency"]
    prompt[gate]["inputs"]["indices"] = "0,x"
    request = urllib.request.Request(
        f"{url}/prompt",
        data=json.dumps({"prompt": prompt, "client_id": str(uuid.uuid4())}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    body = json.loads(refused.value.read())
    details = json.dumps(body.get("node_errors", {}).get(gate, {}))
    assert "is not a non-negative whole number" in details, body


def test_torch_backend_runs_under_comfyuis_model_management(server: tuple[str, Path]) -> None:
    """The recognizer on the torch backend: registered with comfy.model_management (a ModelPatcher) and run."""
    url, log_path = server
    prompt = json.loads((REPO_ROOT / "workflows" / "api" / "compare_two_faces.json").read_text())
    (loader,) = [key for key, node in prompt.items() if node["class_type"] == "FaceIdentity_LoadArcFaceModel"]
    prompt[loader]["inputs"]["backend"] = "torch"
    entry = _run_prompt(url, log_path, prompt, "compare_two_faces (torch backend)")
    _assert_success(entry)
    texts = " ".join(" ".join(output.get("text", [])) for output in entry["outputs"].values())
    assert "same person" in texts, texts
    assert "Requested to load ConvertedGraphModule" in log_path.read_text()  # ComfyUI's load_models_gpu log line


def test_video_workflow_keeps_frame_count_fps_and_audio(server: tuple[str, Path]) -> None:
    """Load Video -> Face Swap (Face Track) -> Create Video -> Save Video: the saved clip has the input's frames,
    frame rate and audio, and the identity chart reaches Preview Image."""
    import av
    from video_clip import FPS, FRAMES

    url, log_path = server
    prompt = json.loads((REPO_ROOT / "workflows" / "api" / "video_face_swap.json").read_text())
    entry = _run_prompt(url, log_path, prompt, "video_face_swap")
    _assert_success(entry)
    (save,) = [key for key, node in prompt.items() if node["class_type"] == "SaveVideo"]
    (saved,) = entry["outputs"][save]["images"]  # SaveVideo reports its file as an (animated) image entry
    path = log_path.parent / "output" / saved["subfolder"] / saved["filename"]
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert float(video.average_rate or 0) == FPS and audio.sample_rate > 0
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        seconds = sum(frame.samples for frame in container.decode(audio=0)) / audio.sample_rate
    assert frames == FRAMES and abs(seconds - FRAMES / FPS) < 0.1
    (chart,) = [key for key, node in prompt.items() if node["class_type"] == "PreviewImage"]
    assert entry["outputs"][chart]["images"], entry["outputs"]
    texts = " ".join(" ".join(output.get("text", [])) for output in entry["outputs"].values())
    assert f"identity over time: {FRAMES} frame(s), {FRAMES} scored" in texts and "models kept" in texts, texts
