"""resolve_model / download_model through the real huggingface_hub against a fake Hub on 127.0.0.1.

The fake Hub (``conftest.FakeHub``) answers HEAD/GET like huggingface.co: ``X-Repo-Commit``, ``ETag``,
``Content-Length``, a 302 to a CDN for LFS files, and ``Range`` requests on the CDN.
"""

from __future__ import annotations

import types
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeHub

from face_identity.catalog import build_catalog, get_spec
from face_identity.download import resolve_model
from face_identity.errors import ModelFileError, ModelIntegrityError, ModelNotAvailableError

MODEL = "arcface_w600k_r50"
MODEL_FILE = "arcface_w600k_r50.onnx"
HASH_FILE = "arcface_w600k_r50.hash"


def crc32_hex(data: bytes) -> str:
    return format(zlib.crc32(data) & 0xFFFFFFFF, "08x")


@pytest.fixture
def payload() -> bytes:
    """Stand-in model bytes (the download path never parses them)."""
    return np.random.default_rng(7).integers(0, 256, 200_000, dtype=np.uint8).tobytes()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_network: None) -> None:
    """No offline/endpoint/token variables from the caller; the default model folder inside tmp_path; no retry sleeps."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))
    from huggingface_hub import file_download

    # huggingface_hub sleeps 1 s before each resume attempt; only its module-level `time` is replaced.
    fast_time = types.SimpleNamespace(
        **{name: getattr(file_download.time, name) for name in dir(file_download.time) if not name.startswith("_")}
    )
    fast_time.sleep = lambda seconds: None
    monkeypatch.setattr(file_download, "time", fast_time)


def serve_model(hub: FakeHub, data: bytes, crc: str | None = None) -> None:
    hub.files = {MODEL_FILE: data, HASH_FILE: ((crc or crc32_hex(data)) + "\n").encode("ascii")}


def test_download_lands_in_folder_verified_then_is_reused_without_requests(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path
) -> None:
    serve_model(fake_hub, payload)
    folder = tmp_path / "models"

    resolved = resolve_model(MODEL, [folder], endpoint=fake_hub.url)

    assert resolved.downloaded
    assert resolved.path == folder / MODEL_FILE
    assert resolved.path.read_bytes() == payload
    assert resolved.spec is not None and resolved.spec.name == MODEL
    assert (folder / HASH_FILE).read_text().strip() == crc32_hex(payload)
    # the hub was asked about both files; the model bytes came from the CDN it redirected to
    asked = {path for _, _, path, _ in fake_hub.requests_to("hub")}
    assert asked == {f"/{FakeHub.repo_id}/resolve/main/{HASH_FILE}", f"/{FakeHub.repo_id}/resolve/main/{MODEL_FILE}"}
    assert len(fake_hub.requests_to("cdn", "GET")) == 1

    count = len(fake_hub.requests)
    again = resolve_model(MODEL, [folder], endpoint=fake_hub.url)
    assert again.path == resolved.path and not again.downloaded
    assert len(fake_hub.requests) == count


def test_endpoint_is_read_from_the_environment_at_call_time(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    serve_model(fake_hub, payload)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    assert fake_hub.url != constants.ENDPOINT  # huggingface_hub read HF_ENDPOINT at import, before this test set it

    resolved = resolve_model(MODEL)  # no folders: the default model folder under $FACE_IDENTITY_HOME

    assert resolved.downloaded
    assert resolved.path == tmp_path / "home" / "models" / MODEL_FILE
    assert resolved.path.read_bytes() == payload
    assert fake_hub.requests_to("hub")


def test_crc_mismatch_deletes_the_file_and_names_file_and_both_hashes(fake_hub: FakeHub, payload: bytes, tmp_path: Path) -> None:
    wrong = crc32_hex(payload + b"x")
    serve_model(fake_hub, payload, crc=wrong)
    folder = tmp_path / "models"

    with pytest.raises(ModelIntegrityError) as caught:
        resolve_model(MODEL, [folder], endpoint=fake_hub.url)

    message = str(caught.value)
    assert MODEL_FILE in message and wrong in message and crc32_hex(payload) in message
    assert not (folder / MODEL_FILE).exists()

    # "run again to download it anew": once the published hash is right, the next call downloads and verifies
    serve_model(fake_hub, payload)
    resolved = resolve_model(MODEL, [folder], endpoint=fake_hub.url)
    assert resolved.downloaded and resolved.path.read_bytes() == payload


def test_malformed_hash_file_is_rejected_and_deleted(fake_hub: FakeHub, payload: bytes, tmp_path: Path) -> None:
    serve_model(fake_hub, payload, crc="<html>")
    folder = tmp_path / "models"

    with pytest.raises(ModelIntegrityError, match="8-digit CRC32"):
        resolve_model(MODEL, [folder], endpoint=fake_hub.url)

    assert not (folder / HASH_FILE).exists()
    assert not (folder / MODEL_FILE).exists()
    assert not fake_hub.requests_to("cdn")  # the model itself was never fetched


def test_transfer_cut_every_time_fails_and_leaves_no_file(fake_hub: FakeHub, payload: bytes, tmp_path: Path) -> None:
    serve_model(fake_hub, payload)
    fake_hub.cut_at = len(payload) // 2
    fake_hub.cuts_left = 10**6
    folder = tmp_path / "models"

    with pytest.raises(ModelNotAvailableError) as caught:
        resolve_model(MODEL, [folder], endpoint=fake_hub.url)

    assert MODEL_FILE in str(caught.value) and str(folder) in str(caught.value)
    assert not (folder / MODEL_FILE).exists()
    assert not [p for p in folder.rglob("*") if p.is_file() and p.stat().st_size >= fake_hub.cut_at]
    assert len(fake_hub.requests_to("cdn", "GET")) >= 2  # it did try again


def test_transfer_cut_once_resumes_with_range_and_verifies(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    # huggingface_hub resumes from the last whole chunk it wrote (10 MB by default): use small chunks
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    serve_model(fake_hub, payload)
    fake_hub.cut_at = len(payload) // 3
    fake_hub.cuts_left = 1
    folder = tmp_path / "models"

    resolved = resolve_model(MODEL, [folder], endpoint=fake_hub.url)

    assert resolved.path.read_bytes() == payload
    ranges = [headers.get("range") for _, _, _, headers in fake_hub.requests_to("cdn", "GET")]
    assert len(ranges) == 2 and ranges[0] is None
    resumed_from = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from <= fake_hub.cut_at


def test_offline_without_the_file_names_file_url_and_folder_and_sends_nothing(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_model(fake_hub, payload)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "models"

    with pytest.raises(ModelNotAvailableError) as caught:
        resolve_model(MODEL, [folder], endpoint=fake_hub.url)

    message = str(caught.value)
    assert MODEL_FILE in message
    assert f"{fake_hub.url}/facefusion/models-3.0.0/resolve/main/{MODEL_FILE}" in message
    assert str(folder) in message
    assert fake_hub.requests == []
    assert not folder.exists() or not any(folder.iterdir())


def test_downloads_disabled_sends_nothing(fake_hub: FakeHub, payload: bytes, tmp_path: Path) -> None:
    serve_model(fake_hub, payload)
    with pytest.raises(ModelNotAvailableError, match=MODEL_FILE):
        resolve_model(MODEL, [tmp_path / "models"], endpoint=fake_hub.url, allow_download=False)
    assert fake_hub.requests == []


def test_missing_on_the_hub_is_not_available(fake_hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError) as caught:
        resolve_model(MODEL, [tmp_path / "models"], endpoint=fake_hub.url)
    message = str(caught.value)
    assert message.startswith(f"model file {MODEL_FILE} is not on disk")  # the model, not its .hash, comes first
    assert f"Download {fake_hub.url}/{FakeHub.repo_id}/resolve/main/{MODEL_FILE} and put it in" in message
    assert HASH_FILE in message and "404" in message  # the reason: the hash file is not published
    assert ".." not in message and "--model-dir" in message


def test_offline_message_lists_every_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError) as caught:
        resolve_model(MODEL, [tmp_path / "a", tmp_path / "b"])
    message = str(caught.value)
    assert "offline mode (HF_HUB_OFFLINE) is on. Download https://huggingface.co/" in message
    assert str(tmp_path / "a") in message and str(tmp_path / "b") in message and str(tmp_path / "home" / "models") in message
    assert ".onnx file" in message and "FACE_IDENTITY_HOME" in message and ".." not in message


@pytest.mark.parametrize(
    ("search_root", "relative"),
    [
        ("comfy_models", "insightface/models/buffalo_l/w600k_r50.onnx"),  # <models folder>/insightface/models/buffalo_l
        ("comfy_models/insightface", "models/buffalo_l/w600k_r50.onnx"),  # <insightface folder>/models/buffalo_l
    ],
)
def test_existing_buffalo_l_copy_is_reused_without_requests(
    fake_hub: FakeHub, tmp_path: Path, search_root: str, relative: str
) -> None:
    existing = tmp_path / "comfy_models" / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"buffalo_l recognizer")
    assert tmp_path / search_root / relative == existing

    resolved = resolve_model(MODEL, [tmp_path / "elsewhere", tmp_path / search_root], endpoint=fake_hub.url)

    assert resolved.path == existing
    assert resolved.spec is not None and resolved.spec.name == MODEL
    assert not resolved.downloaded
    assert fake_hub.requests == []


def test_catalog_file_name_wins_over_an_alias_copy(fake_hub: FakeHub, tmp_path: Path) -> None:
    alias = tmp_path / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx"
    alias.parent.mkdir(parents=True)
    alias.write_bytes(b"alias")
    catalog_copy = tmp_path / "insightface" / MODEL_FILE
    catalog_copy.write_bytes(b"catalog")

    assert resolve_model(MODEL, [tmp_path, tmp_path / "insightface"], endpoint=fake_hub.url).path == catalog_copy


def test_explicit_file_path_is_used_as_is(fake_hub: FakeHub, tmp_path: Path) -> None:
    renamed = tmp_path / "somewhere" / "w600k_r50.onnx"
    renamed.parent.mkdir()
    renamed.write_bytes(b"x")
    other = tmp_path / "somewhere" / "my_recognizer.onnx"
    other.write_bytes(b"y")

    by_path = resolve_model(str(renamed))
    assert by_path.path == renamed and by_path.spec is not None and by_path.spec.name == MODEL
    unknown = resolve_model(other)
    assert unknown.path == other and unknown.spec is None
    relative = resolve_model("my_recognizer.onnx", [tmp_path / "somewhere"])
    assert relative.path == other
    assert fake_hub.requests == []


def test_unknown_name_lists_the_catalog(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        resolve_model("arcface_w600k_r5O", [tmp_path])
    assert not isinstance(caught.value, ModelNotAvailableError)
    for name in build_catalog():
        assert name in str(caught.value)


@pytest.mark.parametrize("via", ["environment", "argument"])
def test_token_reaches_the_hub_as_authorization_header(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    serve_model(fake_hub, payload)
    token = "hf_fakeTokenForTests0123456789"
    if via == "environment":
        monkeypatch.setenv("HF_TOKEN", token)
    resolve_model(MODEL, [tmp_path / "models"], endpoint=fake_hub.url, token=token if via == "argument" else None)

    hub_requests = fake_hub.requests_to("hub")
    assert hub_requests
    assert all(headers.get("authorization") == f"Bearer {token}" for _, _, _, headers in hub_requests)


def test_catalog_url_of_the_fake_endpoint_matches_what_was_requested(fake_hub: FakeHub, payload: bytes, tmp_path: Path) -> None:
    serve_model(fake_hub, payload)
    resolve_model(MODEL, [tmp_path / "models"], endpoint=fake_hub.url)
    spec = get_spec(MODEL)
    requested = {f"{fake_hub.url}{path}" for _, _, path, _ in fake_hub.requests_to("hub")}
    assert spec.url(fake_hub.url) in requested
    assert spec.url(fake_hub.url, spec.hash_filename) in requested


def test_a_model_without_a_sidecar_is_checked_by_its_sha256(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """arcface_glintr100 (issue 20) has no FaceFusion .hash: the catalog's SHA-256 decides, on download and on load."""
    import hashlib

    from face_identity import catalog

    fake_hub.repo_id = catalog.ANTELOPEV2_REPO
    fake_hub.files = {"glintr100.onnx": payload}
    folder = tmp_path / "models"
    monkeypatch.setattr(catalog, "GLINTR100_SHA256", hashlib.sha256(payload + b"x").hexdigest())
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        resolve_model("arcface_glintr100", [folder], endpoint=fake_hub.url)
    assert not (folder / "glintr100.onnx").exists()  # the wrong file was deleted

    monkeypatch.setattr(catalog, "GLINTR100_SHA256", hashlib.sha256(payload).hexdigest())
    resolved = resolve_model("arcface_glintr100", [folder], endpoint=fake_hub.url)
    assert resolved.downloaded and resolved.verified and resolved.path.read_bytes() == payload
    again = resolve_model("arcface_glintr100", [folder], endpoint=fake_hub.url)
    assert again.verified and not again.downloaded  # the copy on disk is checked again
    (folder / "glintr100.onnx").write_bytes(payload[:-1] + b"\0")
    assert not resolve_model("arcface_glintr100", [folder], endpoint=fake_hub.url).verified


def test_a_model_published_under_another_models_name_is_saved_under_its_own(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AuraFace is ``glintr100.onnx`` in fal/AuraFace-v1 (issue 20): it lands as ``auraface_v1.onnx`` and never
    overwrites antelopev2's ``glintr100.onnx`` in the same folder; its SHA-256 is checked; no staging folder stays."""
    import hashlib

    from face_identity import catalog

    fake_hub.repo_id = catalog.AURAFACE_REPO
    fake_hub.files = {"glintr100.onnx": payload}
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "glintr100.onnx").write_bytes(b"antelopev2's recognizer")
    monkeypatch.setattr(catalog, "AURAFACE_SHA256", hashlib.sha256(payload).hexdigest())
    resolved = resolve_model("auraface_v1", [folder], endpoint=fake_hub.url)
    assert resolved.downloaded and resolved.verified and resolved.path == folder / "auraface_v1.onnx"
    assert resolved.path.read_bytes() == payload and (folder / "glintr100.onnx").read_bytes() == b"antelopev2's recognizer"
    assert sorted(p.name for p in folder.iterdir()) == ["auraface_v1.onnx", "glintr100.onnx"]
    requested = {path for _, _, path, _ in fake_hub.requests_to("hub")}
    assert f"/{catalog.AURAFACE_REPO}/resolve/main/glintr100.onnx" in requested

    (folder / "auraface_v1.onnx").unlink()
    monkeypatch.setattr(catalog, "AURAFACE_SHA256", hashlib.sha256(payload + b"x").hexdigest())
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        resolve_model("auraface_v1", [folder], endpoint=fake_hub.url)
    assert sorted(p.name for p in folder.iterdir()) == ["glintr100.onnx"]  # the wrong file was deleted

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match=r"glintr100\.onnx and put it in .* as auraface_v1\.onnx"):
        resolve_model("auraface_v1", [folder], endpoint=fake_hub.url)
