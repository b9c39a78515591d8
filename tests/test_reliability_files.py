"""Files that are bad, damaged or missing: images, model files and their ``.hash`` sidecars, the CRC cache,
embedding spaces of stand-ins, external data, offline downloads, lock files and concurrent downloads.

Everything runs offline: downloads go to the fake Hugging Face endpoint on 127.0.0.1 (``conftest.FakeHub``).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import types
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FakeHub

from face_identity import download, integrity
from face_identity.catalog import W600K_R50_SPACE, get_spec
from face_identity.devtools import synthetic
from face_identity.download import remove_idle_locks, resolve_model
from face_identity.embed import load_recognizer
from face_identity.errors import InvalidImageError, ModelFileError, ModelIntegrityError, ModelNotAvailableError
from face_identity.images import IMAGE_EXTENSIONS, find_images, read_image
from face_identity.onnx_graph import last_initializer, load_model_proto
from face_identity.swap import load_swapper

MODEL = "arcface_w600k_r50"
MODEL_FILE = "arcface_w600k_r50.onnx"
HASH_FILE = "arcface_w600k_r50.hash"


def crc32_hex(data: bytes) -> str:
    return format(zlib.crc32(data) & 0xFFFFFFFF, "08x")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_network: None) -> None:
    """No offline/endpoint variables from the caller; the face_identity home (downloads, CRC cache) in tmp_path."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))


def lock_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix in (".lock", ".incomplete")]


# --- bad images ---------------------------------------------------------------------------------


def test_bad_image_files_each_get_a_message_naming_the_file(tmp_path: Path, shared_data: Path) -> None:
    real = (shared_data / "faces" / "isaac_newton" / "newton.png").read_bytes()
    cases = {
        "empty.jpg": (b"", "empty (0 bytes)"),
        "text.png": (b"hello, not a picture", "damaged or not an image"),
        "truncated.png": (real[:64], "damaged or not an image"),
    }
    for name, (data, expected) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InvalidImageError) as caught:
            read_image(tmp_path / name)
        assert name in str(caught.value) and expected in str(caught.value)
    with pytest.raises(InvalidImageError, match="is a folder, not an image file"):
        read_image(tmp_path)


def test_folders_expand_to_their_images_sorted_and_files_stay_as_given(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    for name in ("b.JPG", "a.png", "c.webp", "notes.txt", "nested/d.png"):
        (folder / name).write_bytes(b"x")
    odd = tmp_path / "photo.unknown"
    odd.write_bytes(b"x")

    found = find_images([odd, folder, tmp_path / "missing.jpg"])

    assert [p.name for p in found] == ["photo.unknown", "a.png", "b.JPG", "c.webp", "missing.jpg"]
    assert [p.name for p in find_images([folder], recursive=True)][-1] == "d.png"
    assert ".jpg" in IMAGE_EXTENSIONS and all(ext == ext.lower() for ext in IMAGE_EXTENSIONS)


# --- model files checked against their .hash on load -------------------------------------------


def serve(hub: FakeHub, data: bytes) -> None:
    hub.files = {MODEL_FILE: data, HASH_FILE: (crc32_hex(data) + "\n").encode("ascii")}


@pytest.fixture
def payload() -> bytes:
    return np.random.default_rng(11).integers(0, 256, 100_000, dtype=np.uint8).tobytes()


def test_model_corrupted_on_disk_after_its_download_is_refused_by_name(fake_hub: FakeHub, payload: bytes, tmp_path: Path) -> None:
    serve(fake_hub, payload)
    folder = tmp_path / "models"
    first = resolve_model(MODEL, [folder], endpoint=fake_hub.url)
    assert first.downloaded and first.verified
    again = resolve_model(MODEL, [folder], endpoint=fake_hub.url)
    assert again.verified and not again.downloaded

    damaged = bytearray(payload)
    damaged[5000] ^= 0xFF
    first.path.write_bytes(bytes(damaged))
    with pytest.raises(ModelIntegrityError) as caught:
        resolve_model(MODEL, [folder], endpoint=fake_hub.url)
    message = str(caught.value)
    assert str(first.path) in message and HASH_FILE in message and "Delete" in message
    assert crc32_hex(bytes(damaged)) in message and crc32_hex(payload) in message
    assert first.path.is_file()  # nothing is deleted on load: the message says what to delete

    first.path.write_bytes(payload)  # repaired: accepted again
    assert resolve_model(MODEL, [folder], endpoint=fake_hub.url).verified


def test_malformed_sidecar_on_disk_is_an_integrity_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / MODEL_FILE).write_bytes(b"model bytes")
    (folder / HASH_FILE).write_text("<html>rate limited</html>")
    with pytest.raises(ModelIntegrityError, match=HASH_FILE):
        resolve_model(MODEL, [folder], allow_download=False)


def test_sidecar_applies_only_to_the_catalog_file_name(tmp_path: Path) -> None:
    alias = tmp_path / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx"
    alias.parent.mkdir(parents=True)
    alias.write_bytes(b"buffalo_l copy")
    (alias.parent / HASH_FILE).write_text("00000000")  # belongs to a catalog-named file, not to this one
    resolved = resolve_model(MODEL, [tmp_path], allow_download=False)
    assert resolved.path == alias and not resolved.verified


def test_crc_is_cached_by_size_and_times_in_json_and_recomputed_when_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"a" * 1000)
    reads: list[Path] = []
    real = integrity.file_crc32
    monkeypatch.setattr(integrity, "file_crc32", lambda path: reads.append(Path(path)) or real(path))

    assert integrity.cached_crc32(model) == crc32_hex(b"a" * 1000)
    assert integrity.cached_crc32(model) == crc32_hex(b"a" * 1000)
    assert len(reads) == 1  # the second call was a stat and a JSON read
    records = list((tmp_path / "home" / integrity.CHECKS_FOLDER).glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["crc32"] == crc32_hex(b"a" * 1000)

    model.write_bytes(b"b" * 1000)  # same size, new content
    assert integrity.cached_crc32(model) == crc32_hex(b"b" * 1000)
    assert len(reads) == 2

    records[0].write_text("{not json")  # a damaged cache is only a cache miss
    assert integrity.cached_crc32(model) == crc32_hex(b"b" * 1000)


def test_unwritable_crc_cache_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "home_is_a_file"
    blocker.write_text("x")
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(blocker))
    model = tmp_path / "model.onnx"
    model.write_bytes(b"abc")
    assert integrity.cached_crc32(model) == crc32_hex(b"abc")


# --- embedding spaces: catalog names are granted only to the catalog model ---------------------


def test_stand_in_under_the_catalog_name_gets_a_content_keyed_space_with_a_warning(
    tiny_recognizer_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    stand_in = folder / MODEL_FILE
    shutil.copy(tiny_recognizer_path, stand_in)

    with caplog.at_level(logging.WARNING):
        recognizer = load_recognizer(MODEL, [folder], providers="cpu", allow_download=False)

    assert recognizer.model_id == f"arcface_w600k_r50@{crc32_hex(stand_in.read_bytes())}"
    assert any("is not that model" in record.getMessage() for record in caplog.records)
    assert recognizer.name == MODEL  # still found under its catalog name, only the space is honest


def test_a_sidecar_match_grants_the_catalog_space(tiny_recognizer_path: Path, tmp_path: Path) -> None:
    # The mechanism only: a file whose CRC32 matches the catalog's published .hash is the catalog model.
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(tiny_recognizer_path, folder / MODEL_FILE)
    (folder / HASH_FILE).write_text(crc32_hex((folder / MODEL_FILE).read_bytes()))
    assert load_recognizer(MODEL, [folder], providers="cpu", allow_download=False).model_id == W600K_R50_SPACE


def test_graph_facts_of_w600k_r50_without_a_sidecar(tmp_path: Path) -> None:
    spec = get_spec(MODEL)
    model = tmp_path / MODEL_FILE
    with open(model, "wb") as stream:  # sparse file of w600k_r50's size (174,383,860 bytes)
        stream.truncate(174_383_860)
    assert integrity.graph_mismatch(model, spec, [("None", 3, 112, 112)], [("None", 512)]) is None
    assert "outputs" in (integrity.graph_mismatch(model, spec, [("None", 3, 112, 112)], [("None", 128)]) or "")
    assert "inputs" in (integrity.graph_mismatch(model, spec, [(1, 3, 128, 128)], [("None", 512)]) or "")
    small = tmp_path / "small.onnx"
    small.write_bytes(b"x" * 1000)
    assert "MB" in (integrity.graph_mismatch(small, spec, [("None", 3, 112, 112)], [("None", 512)]) or "")
    assert integrity.graph_mismatch(model, get_spec("inswapper_128"), [], []) is not None  # no facts known: never granted


def test_swapper_takes_the_space_its_file_declares_and_an_explicit_one_wins(tmp_path: Path) -> None:
    declared = synthetic.build_inswapper_like(tmp_path / "paired.onnx", embedding_space="tiny_iresnet@0123abcd")
    plain = synthetic.build_inswapper_like(tmp_path / "plain.onnx")
    assert load_swapper(declared, providers="cpu", allow_download=False).embedding_space == "tiny_iresnet@0123abcd"
    assert load_swapper(plain, providers="cpu", allow_download=False).embedding_space == W600K_R50_SPACE
    explicit = load_swapper(declared, providers="cpu", allow_download=False, embedding_space="other@89abcdef")
    assert explicit.embedding_space == "other@89abcdef"


# --- external data --------------------------------------------------------------------------------


def test_missing_external_data_is_a_model_file_error_naming_the_file(tmp_path: Path) -> None:
    built = synthetic.build_inswapper_like(tmp_path / "built.onnx")
    model = onnx.load(str(built))
    split = tmp_path / "split" / "swapper.onnx"
    split.parent.mkdir()
    onnx.save(model, str(split), save_as_external_data=True, location="swapper.data", size_threshold=0)
    assert np.array_equal(last_initializer(split), last_initializer(built))
    (split.parent / "swapper.data").unlink()

    with pytest.raises(ModelFileError) as caught:
        last_initializer(split)
    assert str(split) in str(caught.value) and "swapper.data" in str(caught.value)
    with pytest.raises(ModelFileError, match="external data"):
        load_model_proto(split, load_external_data=True)
    with pytest.raises(ModelFileError, match="swapper"):
        load_swapper(split, providers="cpu", allow_download=False)


# --- downloads: offline, locks, concurrency ---------------------------------------------------------


def test_unreachable_endpoint_fails_at_once_with_one_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("huggingface_hub was asked to download (and would retry) although the endpoint is unreachable")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", never)
    closed = FakeHub()  # a port that answered a moment ago and now refuses connections
    endpoint = closed.url
    closed.close()
    folder = tmp_path / "models"

    with pytest.raises(ModelNotAvailableError) as caught:
        resolve_model(MODEL, [folder], endpoint=endpoint)

    message = str(caught.value)
    assert MODEL_FILE in message and f"{endpoint}/facefusion/models-3.0.0/resolve/main/{MODEL_FILE}" in message
    assert HASH_FILE not in message and ".." not in message
    assert str(folder) in message and str(tmp_path / "home" / "models") in message
    for way_out in ("--model-dir", ".onnx file", "HF_HUB_OFFLINE", "FACE_IDENTITY_HOME"):
        assert way_out in message
    assert lock_files(tmp_path) == []


def test_failed_and_cut_downloads_leave_no_lock_files(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import file_download

    # huggingface_hub sleeps before each resume attempt; only its module-level `time` is replaced.
    fast_time = types.SimpleNamespace(**{n: getattr(file_download.time, n) for n in dir(file_download.time) if n[0] != "_"})
    fast_time.sleep = lambda seconds: None
    monkeypatch.setattr(file_download, "time", fast_time)
    folder = tmp_path / "models"
    with pytest.raises(ModelNotAvailableError):  # nothing published: 404 on the hash file
        resolve_model(MODEL, [folder], endpoint=fake_hub.url)
    assert lock_files(folder) == []

    serve(fake_hub, payload)
    fake_hub.cut_at, fake_hub.cuts_left = len(payload) // 2, 10**6
    with pytest.raises(ModelNotAvailableError) as caught:
        resolve_model(MODEL, [folder], endpoint=fake_hub.url)
    assert MODEL_FILE in str(caught.value) and ".." not in str(caught.value)
    assert lock_files(folder) == [] and not (folder / MODEL_FILE).exists()


def test_a_lock_held_by_another_download_is_left_alone(tmp_path: Path) -> None:
    from filelock import FileLock

    locks = tmp_path / ".cache" / "huggingface" / "download"
    locks.mkdir(parents=True)
    held, idle = locks / f"{MODEL_FILE}.lock", locks / f"{HASH_FILE}.lock"
    idle.write_text("")
    with FileLock(str(held)):
        remove_idle_locks(tmp_path, [MODEL_FILE, HASH_FILE])
        assert held.exists()
    assert not idle.exists()
    remove_idle_locks(tmp_path, [MODEL_FILE])
    assert not held.exists()


def test_concurrent_downloads_of_one_model_agree_and_leave_one_verified_file(
    fake_hub: FakeHub, payload: bytes, tmp_path: Path
) -> None:
    serve(fake_hub, payload)
    folder = tmp_path / "models"
    results: list[object] = []

    def fetch() -> None:
        try:
            results.append(resolve_model(MODEL, [folder], endpoint=fake_hub.url))
        except Exception as error:  # recorded, so the assertion below names it
            results.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == 3 and all(isinstance(r, download.ResolvedModel) for r in results), results
    assert {r.path for r in results} == {folder / MODEL_FILE}  # type: ignore[attr-defined]
    assert (folder / MODEL_FILE).read_bytes() == payload
    assert lock_files(folder) == []


def test_download_folder_that_is_a_file_is_a_clear_error(fake_hub: FakeHub, payload: bytes, tmp_path: Path) -> None:
    serve(fake_hub, payload)
    not_a_folder = tmp_path / "models"
    not_a_folder.write_text("oops")
    with pytest.raises(ModelFileError, match="is a file, not a folder"):
        download.download_model(get_spec(MODEL), not_a_folder, endpoint=fake_hub.url)
    assert fake_hub.requests == []


def test_reachability_probe_goes_through_the_configured_proxy(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, fake_hub.url)  # a listening loopback port stands in for the proxy
    assert download.endpoint_unreachable("https://hub.invalid") is None  # the proxy answers; the host is its job
    closed = FakeHub()
    dead_proxy = closed.url
    closed.close()
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    problem = download.endpoint_unreachable("https://hub.invalid")
    assert problem is not None and dead_proxy.removeprefix("http://") in problem
