"""Shared fixtures: the real test data folder, synthetic ONNX models built once per session, a no-network guard."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from face_identity.catalog import W600K_R50_SPACE
from face_identity.detect import FaceDetector, load_detector
from face_identity.devtools import synthetic
from face_identity.images import read_image
from face_identity.swap import InswapperSwapper, load_swapper
from face_identity.types import Identity

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PACKAGES = "face-identity-test-reference"
"""Folder in this Python's prefix where scripts/test.sh installs insightface 2.1, the parity reference (outside
site-packages, so pip's resolver never sees a package whose opencv-python dependency is left out on purpose)."""


def pytest_configure(config: pytest.Config) -> None:
    """Put the reference packages' folder on ``sys.path`` (last: an insightface installed by the user wins)."""
    folder = Path(sys.prefix) / REFERENCE_PACKAGES
    if folder.is_dir() and str(folder) not in sys.path:
        sys.path.append(str(folder))


def shared_data_dir() -> Path:
    """``$FACE_IDENTITY_TEST_DATA`` or ``<repo>/../shared/data``."""
    configured = os.environ.get("FACE_IDENTITY_TEST_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


def on_ci(environ: Mapping[str, str]) -> bool:
    """True when ``CI`` is set to true/1/yes (as CI services do)."""
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_shared_data(folder: Path, environ: Mapping[str, str]) -> Path:
    """``folder`` when it holds the real test data; otherwise fail the test under ``CI=true``, skip it elsewhere."""
    if (folder / "MANIFEST.tsv").is_file():
        return folder
    reason = f"real test data not found at {folder}; set FACE_IDENTITY_TEST_DATA to the shared/data folder"
    if on_ci(environ):
        pytest.fail(f"{reason} (CI=true: the tests that need it must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real photos and small real models (see ../shared/data/README.md); skips when absent, fails under CI=true."""
    return require_shared_data(shared_data_dir(), os.environ)


@pytest.fixture(scope="session")
def real_models(shared_data: Path) -> dict[str, Path]:
    """Paths of the small real models by short name: scrfd, det500m, mbf_int8."""
    folder = shared_data / "models"
    return {
        "scrfd": folder / "scrfd_2.5g_bnkps_640.onnx",
        "det500m": folder / "det_500m.onnx",
        "mbf_int8": folder / "w600k_mbf_int8_dynamic.onnx",
        "foamliu": folder / "mobilefacenet_foamliu_128d.onnx",
        "foamliu_fp16": folder / "mobilefacenet_foamliu_128d_fp16.onnx",
    }


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic_models")


@pytest.fixture(scope="session")
def tiny_recognizer_path(synthetic_dir: Path) -> Path:
    """A tiny IResNet recognizer ``[N,3,112,112] -> [N,512]`` with a dynamic batch axis (float32)."""
    return synthetic.build_iresnet(synthetic_dir / "tiny_iresnet.onnx", synthetic.TINY_IRESNET, seed=0)


@pytest.fixture(scope="session")
def scrfd_like_path(synthetic_dir: Path) -> Path:
    """A fixed-640 detector with SCRFD's 9 batched outputs (random weights)."""
    return synthetic.build_scrfd_like(synthetic_dir / "scrfd_like.onnx", dynamic=False)


@pytest.fixture(scope="session")
def scrfd_like_dynamic_path(synthetic_dir: Path) -> Path:
    """A dynamic-size detector with SCRFD's 9 two-dimensional outputs (det_500m style)."""
    return synthetic.build_scrfd_like(synthetic_dir / "scrfd_like_dynamic.onnx", dynamic=True)


@pytest.fixture(scope="session")
def solvay_image(shared_data: Path) -> np.ndarray:
    """The 1927 Solvay conference photo (29 faces), RGB uint8."""
    return read_image(shared_data / "groups" / "solvay_conference_1927.png")


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[np.ndarray]:
    """A mixed batch for the streaming and torch-detector tests: single-face photos, a group photo, and a
    blank frame with no face (index 2), RGB uint8."""
    files = [
        "faces/isaac_newton/newton.png",
        "faces/carl_friedrich_gauss/gauss.png",
        "groups/insightface_t1.jpg",
        "faces/barack_obama/face_recognition_obama.jpg",
    ]
    images = [read_image(shared_data / f) for f in files]
    images.insert(2, np.zeros((120, 160, 3), np.uint8))
    return images


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any attempt to open a non-loopback connection during the test."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield


# --- A fake Hugging Face endpoint on 127.0.0.1 (used by test_download.py and test_cli.py) -------------------------


class FakeHub:
    """Two loopback HTTP servers that answer like the Hugging Face Hub and its CDN.

    Hub: ``HEAD``/``GET /<repo>/resolve/main/<file>``. A small file (``.hash``) is answered directly
    (200, ``ETag``, ``Content-Length``, ``X-Repo-Commit``); a large file (``.onnx``) is an LFS file: 302 to
    the CDN with ``X-Linked-Etag``/``X-Linked-Size``/``X-Repo-Commit``, as huggingface.co does. Unknown
    files: 404 ``EntryNotFound``.
    CDN: ``GET /<sha256>`` with ``Range: bytes=N-`` support. ``cut_at``/``cuts_left`` simulate a
    connection that drops: while ``cuts_left > 0`` a GET announces the full length but sends only the
    bytes before offset ``cut_at`` of the file, then closes the connection.
    """

    repo_id = "facefusion/models-3.0.0"
    commit = "0123456789abcdef0123456789abcdef01234567"
    lfs_suffixes = (".onnx",)

    def __init__(self) -> None:
        import threading
        from http.server import ThreadingHTTPServer

        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str, dict[str, str]]] = []  # (server, method, path, headers)
        self.cut_at: int | None = None
        self.cuts_left = 0
        self.lock = threading.Lock()
        self.hub = ThreadingHTTPServer(("127.0.0.1", 0), _make_fake_hub_handler(self, "hub"))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), _make_fake_hub_handler(self, "cdn"))
        self.threads = [
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
            for server in (self.hub, self.cdn)
        ]
        for thread in self.threads:
            thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def requests_to(self, server: str, method: str | None = None) -> list[tuple[str, str, str, dict[str, str]]]:
        return [r for r in self.requests if r[0] == server and (method is None or r[1] == method)]

    def close(self) -> None:
        for server in (self.hub, self.cdn):
            server.shutdown()
            server.server_close()


def _make_fake_hub_handler(hub: FakeHub, role: str) -> type:
    import hashlib
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
            pass

        def _record(self) -> None:
            with hub.lock:
                hub.requests.append((role, self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))

        def _reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def _serve(self) -> None:
            self._record()
            if role == "hub":
                self._hub()
            else:
                self._cdn()

        do_HEAD = _serve
        do_GET = _serve

        def _hub(self) -> None:
            prefix = f"/{hub.repo_id}/resolve/main/"
            filename = self.path[len(prefix) :] if self.path.startswith(prefix) else None
            if filename not in hub.files:
                self._reply(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": hub.commit, "Content-Length": "0"})
                return
            data = hub.files[filename]
            common = {"X-Repo-Commit": hub.commit}
            if filename.endswith(hub.lfs_suffixes):
                digest = hashlib.sha256(data).hexdigest()
                self._reply(
                    302,
                    {
                        **common,
                        "Location": f"{hub.cdn_url}/{digest}",
                        "X-Linked-Etag": f'"{digest}"',
                        "X-Linked-Size": str(len(data)),
                        "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                        "Content-Length": "0",
                    },
                )
                return
            etag = hashlib.sha1(data).hexdigest()
            self._reply(200, {**common, "ETag": f'"{etag}"', "Content-Length": str(len(data))}, data)

        def _cdn(self) -> None:
            by_digest = {hashlib.sha256(data).hexdigest(): data for data in hub.files.values()}
            data = by_digest.get(self.path.lstrip("/"))
            if data is None or self.command != "GET":
                self._reply(404, {"Content-Length": "0"})
                return
            start = 0
            requested = self.headers.get("Range")
            if requested:
                start = int(requested.removeprefix("bytes=").split("-")[0])
            headers = {"Content-Length": str(len(data) - start), "Accept-Ranges": "bytes"}
            if requested:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            with hub.lock:
                cut = hub.cut_at is not None and hub.cuts_left > 0
                if cut:
                    hub.cuts_left -= 1
            end = max(start, hub.cut_at or 0) if cut else len(data)
            self._reply(206 if requested else 200, headers, data[start:end])  # headers always promise the whole rest
            if cut:
                self.close_connection = True

    return Handler


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """A fresh ``FakeHub``; shut down after the test."""
    hub = FakeHub()
    yield hub
    hub.close()


@pytest.fixture(scope="session")
def scrfd_detector(real_models: dict[str, Path]) -> FaceDetector:
    """The real SCRFD-2.5G detector on the CPU with insightface's defaults (score 0.5, NMS 0.4, retries on)."""
    return load_detector(real_models["scrfd"], providers="cpu", allow_download=False)


@pytest.fixture(scope="session")
def scrfd_quick(scrfd_detector: FaceDetector) -> FaceDetector:
    """The real SCRFD-2.5G without the retries: a blank video frame would otherwise be searched 7 more times."""
    return scrfd_detector.with_settings(retry_smaller=False, pad_retry=False)


@pytest.fixture(scope="session")
def inswapper_like(tmp_path_factory: pytest.TempPathFactory) -> InswapperSwapper:
    """The synthetic swapper with inswapper_128's I/O (``synthetic.build_inswapper_like``, seed 0) on the CPU."""
    path = synthetic.build_inswapper_like(tmp_path_factory.mktemp("inswapper_like") / "inswapper_like.onnx", seed=0)
    return load_swapper(path, providers="cpu", allow_download=False)


@pytest.fixture(scope="session")
def random_source() -> Identity:
    """A random ``[1, 512]`` float32 identity in the w600k_r50 space: a source stand-in for the swap tests."""
    return Identity(np.random.default_rng(7).normal(size=(1, 512)).astype(np.float32), W600K_R50_SPACE)


@pytest.fixture(scope="session")
def real_crops(scrfd_detector: FaceDetector, shared_data: Path) -> np.ndarray:
    """Aligned 112 RGB uint8 crops ``[4, 112, 112, 3]`` of four different people: Newton, Gauss, then the two
    faces of ``face_recognition_two_people.jpg`` in detector order."""
    from face_identity.align import align_faces

    crops = []
    for relative in (
        "faces/isaac_newton/newton.png",
        "faces/carl_friedrich_gauss/gauss.png",
        "groups/face_recognition_two_people.jpg",
    ):
        image = read_image(shared_data / relative)
        crops.append(align_faces(image, scrfd_detector.detect(image), "arcface_112", 112)[0])
    stacked = np.concatenate(crops)
    assert stacked.shape == (4, 112, 112, 3)
    return stacked


@pytest.fixture(scope="session")
def newton_image(shared_data: Path) -> np.ndarray:
    """Kneller's portrait of Isaac Newton (one face), RGB uint8."""
    return read_image(shared_data / "faces" / "isaac_newton" / "newton.png")


@pytest.fixture(scope="session")
def gauss_image(shared_data: Path) -> np.ndarray:
    """Jensen's portrait of Carl Friedrich Gauss (one face), RGB uint8."""
    return read_image(shared_data / "faces" / "carl_friedrich_gauss" / "gauss.png")


def load_pack_module() -> object:
    """The node pack imported as a package named ``face_identity_pack``, as ComfyUI imports it (relative imports work)."""
    import importlib.util
    import sys

    name = "face_identity_pack"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)]
        )
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


@pytest.fixture(scope="session")
def pack() -> object:
    """The node pack package (``pack.NODE_CLASS_MAPPINGS``, ``pack.face_identity``, ``pack.nodes``)."""
    return load_pack_module()


@pytest.fixture
def nodes(pack: Any) -> dict[str, Any]:
    """Node instances by short name (the id without the prefix)."""
    return {key.removeprefix("FaceIdentity_"): cls() for key, cls in pack.NODE_CLASS_MAPPINGS.items()}


@pytest.fixture
def loaded(nodes: dict[str, Any], model_folder: Path) -> tuple[Any, Any]:
    """The recognizer and detector loaded by their nodes from ``model_folder`` on the CPU."""
    recognizer, _ = nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "auto", "cpu", "float32", 0, False)
    detector, _ = nodes["LoadFaceDetector"].load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)
    return recognizer, detector


def stand_in_space(model: Path) -> str:
    """The embedding space a stand-in recognizer honestly gets: ``<file stem>@<crc32>``, never the catalog's."""
    from face_identity.integrity import file_crc32

    return f"{model.stem}@{file_crc32(model)}"


def build_paired_swapper(folder: Path) -> Path:
    """A stand-in ``inswapper_128.onnx`` in ``folder`` that declares (ONNX metadata) the identity space of the
    stand-in recognizer ``arcface_w600k_r50.onnx`` beside it, so the pair works without either claiming w600k_r50."""
    return synthetic.build_inswapper_like(
        folder / "inswapper_128.onnx", embedding_space=stand_in_space(folder / "arcface_w600k_r50.onnx")
    )


def build_stand_in_swappers(folder: Path) -> list[Path]:
    """Stand-ins under the catalog names the example workflows load: inswapper_128 (``build_paired_swapper``),
    hyperswap_1a_256 (with its learned ``mask`` output), simswap_256 and its crossface_simswap converter; every swapper
    declares the stand-in recognizer's space."""
    space = stand_in_space(folder / "arcface_w600k_r50.onnx")
    return [
        build_paired_swapper(folder),
        synthetic.build_embedding_swapper_like(folder / "hyperswap_1a_256.onnx", 256, "linear", mask=True, embedding_space=space),
        synthetic.build_embedding_swapper_like(folder / "simswap_256.onnx", 256, "linear", seed=1, embedding_space=space),
        synthetic.build_crossface_like(folder / "crossface_simswap.onnx"),
    ]


def build_stand_in_mask_models(folder: Path) -> list[Path]:
    """Stand-ins under the catalog names the mask/restore workflows load: xseg_1 (1 - blue), bisenet_resnet_34
    (strong red = mouth) and gfpgan_1.4 (gives its input back), with the real models' I/O."""
    from face_identity.devtools import synthetic_masks

    return [
        synthetic_masks.build_xseg_like(folder / "xseg_1.onnx"),
        synthetic_masks.build_bisenet_like(folder / "bisenet_resnet_34.onnx"),
        synthetic_masks.build_restorer_like(folder / "gfpgan_1.4.onnx"),
    ]


@pytest.fixture
def model_folder(tmp_path: Path, real_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models/face_identity stand-in: the small real models under the catalog file names.

    ``arcface_w600k_r50.onnx`` is the int8 WebFace600K MobileFaceNet and ``retinaface_10g.onnx`` is
    SCRFD-2.5G: same I/O and preprocessing as the real catalog models, so workflows run unchanged. With
    no ``.hash`` sidecar and another graph than w600k_r50's, the recognizer's identities are honestly
    tagged ``arcface_w600k_r50@<crc32>`` (``stand_in_space``), not ``arcface_w600k_r50``.
    """
    import shutil

    folder = tmp_path / "models" / "face_identity"
    folder.mkdir(parents=True)
    shutil.copy(real_models["mbf_int8"], folder / "arcface_w600k_r50.onnx")
    shutil.copy(real_models["scrfd"], folder / "retinaface_10g.onnx")
    monkeypatch.setenv("FACE_IDENTITY_MODEL_DIRS", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return folder


EXAMPLE_INPUTS = {
    "face_identity_person_a_1.jpg": "faces/barack_obama/face_recognition_obama.jpg",
    "face_identity_person_a_2.jpg": "faces/barack_obama/face_recognition_obama2.jpg",
    "face_identity_person_a_3.jpg": "faces/barack_obama/face_recognition_knn_test_obama1.jpg",
    "face_identity_person_b.jpg": "faces/joe_biden/face_recognition_knn_train_biden_biden2.jpg",
    "face_identity_swap_target.jpg": "groups/face_recognition_kit_with_rose.jpg",
}
"""Input file names the example workflows load -> the real photos (in ../shared/data) the tests put there."""


def fill_example_inputs(folder: Path, shared_data: Path) -> Path:
    """Put the example workflows' inputs in ``folder``: the photos of ``EXAMPLE_INPUTS`` and the video workflow's
    clip (``video_clip.EXAMPLE_CLIP``: a real photo panning, with a tone, written with PyAV)."""
    import shutil

    from video_clip import CLIP_PHOTO, EXAMPLE_CLIP, write_panning_clip

    folder.mkdir(parents=True, exist_ok=True)
    for name, source in EXAMPLE_INPUTS.items():
        shutil.copy(shared_data / source, folder / name)
    write_panning_clip(shared_data / CLIP_PHOTO, folder / EXAMPLE_CLIP)
    return folder


@pytest.fixture
def example_inputs(tmp_path: Path, shared_data: Path) -> Path:
    """A ComfyUI input/ folder holding the example workflows' images and clip."""
    return fill_example_inputs(tmp_path / "input", shared_data)
