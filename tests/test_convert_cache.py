"""ONNX -> torch converter's disk cache: under the cache home (never beside the model), reused without ONNX, keyed by the file."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from face_identity import convert  # noqa: E402
from face_identity.convert import ConvertedGraph, load_graph_spec  # noqa: E402
from face_identity.convert import cache as convert_cache  # noqa: E402
from face_identity.devtools import synthetic  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fallback caches go to a temp folder, never to the user's home."""
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))


def _faces_blob(count: int, seed: int = 0) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (count, 3, 112, 112)).astype(np.float32)


def _run_torch(graph: ConvertedGraph, *inputs: NDArray[np.float32]) -> list[NDArray[np.float32]]:
    with torch.inference_mode():
        return [t.float().cpu().numpy() for t in graph(*[torch.from_numpy(x) for x in inputs])]


def _home_cache() -> Path:
    return Path(os.environ["FACE_IDENTITY_HOME"]) / "torch_cache"


def _copy_model(source: Path, folder: Path, name: str = "recognizer.onnx") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(source.read_bytes())
    return target


def test_cache_is_written_under_the_cache_home_and_reused_without_onnx(
    tiny_recognizer_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from face_identity.integrity import file_crc32

    model = _copy_model(tiny_recognizer_path, tmp_path / "models")
    first = load_graph_spec(model)
    cached = _home_cache() / f"recognizer.{file_crc32(model)}.torch.safetensors"
    assert cached.is_file()
    assert sorted(p.name for p in model.parent.iterdir()) == ["recognizer.onnx"]  # nothing beside the user's model
    from safetensors import safe_open

    with safe_open(str(cached), framework="numpy") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == convert.CACHE_FORMAT and '"op":"Conv"' in metadata["graph"]

    def no_onnx(*args: object, **kwargs: object) -> None:
        raise AssertionError("onnx.load must not run for a cached model")

    monkeypatch.setattr(onnx, "load", no_onnx)
    second = load_graph_spec(model)
    assert [n.op_type for n in second.nodes] == [n.op_type for n in first.nodes]
    assert set(second.tensors) == set(first.tensors)
    for key in first.tensors:
        np.testing.assert_array_equal(second.tensors[key], first.tensors[key])
    blob = _faces_blob(2, seed=4)
    np.testing.assert_array_equal(
        _run_torch(ConvertedGraph(second, channels_last=False), blob)[0],
        _run_torch(ConvertedGraph(first, channels_last=False), blob)[0],
    )


def test_cache_is_keyed_by_the_model_file_hash(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    model = synthetic.build_iresnet(folder / "recognizer.onnx", synthetic.TINY_IRESNET, seed=0)
    first = load_graph_spec(model)
    synthetic.build_iresnet(model, synthetic.TINY_IRESNET, seed=1)  # same name, other weights
    second = load_graph_spec(model)
    assert len(list(_home_cache().glob("recognizer.*.torch.safetensors"))) == 2
    conv_weight = next(n.inputs[1] for n in first.nodes if n.op_type == "Conv")
    assert not np.array_equal(first.tensors[conv_weight], second.tensors[conv_weight])


def test_read_only_model_folder_is_never_written_the_cache_goes_home(tiny_recognizer_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    model = _copy_model(tiny_recognizer_path, folder)
    folder.chmod(0o555)
    try:
        load_graph_spec(model)
        assert not list(folder.glob("*.safetensors"))  # also when running as root: the folder's mode is respected
        fallback = Path(os.environ["FACE_IDENTITY_HOME"]) / "torch_cache"
        assert len(list(fallback.glob("recognizer.*.torch.safetensors"))) == 1
        spec = load_graph_spec(model)  # read back from the fallback
        assert spec.input_names == ("input.1",)
    finally:
        folder.chmod(0o755)


def test_no_writable_cache_folder_just_skips_caching(
    tiny_recognizer_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = _copy_model(tiny_recognizer_path, tmp_path / "models")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(convert_cache, "write_cache_file", refuse)
    with caplog.at_level(logging.DEBUG, logger="face_identity.convert"):
        spec = load_graph_spec(model)
    assert spec.op_types >= {"Conv", "PRelu", "Gemm"}
    assert not list(tmp_path.rglob("*.safetensors"))
    assert "could not write the torch cache" in caplog.text


def test_corrupt_cache_is_ignored_and_rewritten(tiny_recognizer_path: Path, tmp_path: Path) -> None:
    from face_identity.integrity import file_crc32

    model = _copy_model(tiny_recognizer_path, tmp_path / "models")
    cached = _home_cache() / f"recognizer.{file_crc32(model)}.torch.safetensors"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"not a safetensors file")
    spec = load_graph_spec(model)
    assert spec.output_names == ("683",)
    assert cached.stat().st_size > 1000


# --------------------------------------------------------------------------------------------------
# Digest: a damaged cache is never loaded and never left behind


def _cache_of(model: Path) -> Path:
    from face_identity.integrity import file_crc32

    return _home_cache() / convert_cache.cache_file_name(model, file_crc32(model))


def _rewrite(cached: Path, change: Callable[[dict[str, NDArray[Any]]], None]) -> None:
    """Rewrite a cache file with its own metadata (digest included) but changed tensors."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(cached), framework="numpy") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    change(tensors)
    save_file(tensors, str(cached), metadata=metadata)


def _flip_a_byte(cached: Path) -> None:
    data = bytearray(cached.read_bytes())
    data[-100] ^= 0x01  # inside the last tensor's bytes, after the header
    cached.write_bytes(bytes(data))


def _other_models_tensors(cached: Path) -> None:
    other = synthetic.build_iresnet(cached.parent.parent / "other" / "recognizer.onnx", synthetic.TINY_IRESNET, seed=7)
    replacement = load_graph_spec(other, cache=False).tensors
    _rewrite(cached, lambda tensors: tensors.update({key: np.array(replacement[key]) for key in tensors}))


def _other_models_cache(cached: Path, claim_this_model: bool) -> None:
    """Put another model's whole, self-consistent cache at this model's cache name."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    other = synthetic.build_iresnet(cached.parent.parent / "other" / "recognizer.onnx", synthetic.TINY_IRESNET, seed=7)
    load_graph_spec(other)
    other_cache = _cache_of(other)
    with safe_open(str(other_cache), framework="numpy") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    if claim_this_model:  # the recorded source hash edited to this model's: the digest must catch it
        metadata["source_crc32"] = cached.name.split(".")[1]
    save_file(tensors, str(cached), metadata=metadata)


def _other_models_cache_renamed(cached: Path) -> None:
    _other_models_cache(cached, claim_this_model=False)


def _other_models_cache_claiming_this_model(cached: Path) -> None:
    _other_models_cache(cached, claim_this_model=True)


def _older_converter_version(cached: Path) -> None:
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(cached), framework="numpy") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    save_file(tensors, str(cached), metadata=dict(metadata, version="2"))


def _biggest(tensors: dict[str, NDArray[Any]]) -> str:
    return max(tensors, key=lambda key: tensors[key].size)


def _missing_tensor(cached: Path) -> None:
    _rewrite(cached, lambda tensors: tensors.pop(_biggest(tensors)))


def _reshaped_tensor(cached: Path) -> None:
    def reshape(tensors: dict[str, NDArray[Any]]) -> None:
        key = _biggest(tensors)
        tensors[key] = np.ascontiguousarray(tensors[key].reshape(-1))

    _rewrite(cached, reshape)


def _truncated(cached: Path) -> None:
    cached.write_bytes(cached.read_bytes()[:-1000])


@pytest.mark.parametrize(
    "damage",
    [
        _flip_a_byte,
        _other_models_tensors,
        _other_models_cache_renamed,
        _other_models_cache_claiming_this_model,
        _older_converter_version,
        _missing_tensor,
        _reshaped_tensor,
        _truncated,
    ],
    ids=lambda f: f.__name__,
)
def test_damaged_cache_is_regenerated_with_a_warning_never_loaded(
    tiny_recognizer_path: Path, tmp_path: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    model = _copy_model(tiny_recognizer_path, tmp_path / "models")
    expected = load_graph_spec(model, cache=False)
    load_graph_spec(model)
    cached = _cache_of(model)
    damage(cached)
    with caplog.at_level(logging.WARNING, logger="face_identity.convert"):
        spec = load_graph_spec(model)
    assert "converted again" in caplog.text and cached.name in caplog.text
    assert set(spec.tensors) == set(expected.tensors)
    for key, array in expected.tensors.items():
        np.testing.assert_array_equal(spec.tensors[key], array)
    # The damaged file was replaced by a good one: the next load reads it back quietly.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="face_identity.convert"):
        again = convert_cache.read_cached_graph(cached, cached.name.split(".")[1])
    assert again is not None and not caplog.text
    for key, array in expected.tensors.items():
        np.testing.assert_array_equal(again.tensors[key], array)


def test_damaged_cache_is_deleted_even_when_it_cannot_be_rewritten(
    tiny_recognizer_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _copy_model(tiny_recognizer_path, tmp_path / "models")
    load_graph_spec(model)
    cached = _cache_of(model)
    _flip_a_byte(cached)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(convert_cache, "write_cache_file", refuse)
    spec = load_graph_spec(model)
    assert spec.op_types >= {"Conv", "Gemm"}
    assert not cached.exists()


def test_digest_covers_names_dtypes_shapes_and_bytes() -> None:
    base = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, np.float32)}
    reference = convert_cache.cache_digest("{}", base)
    assert reference == convert_cache.cache_digest("{}", dict(reversed(list(base.items()))))  # order-free
    variants = [
        ("{ }", base),
        ("{}", {"w2": base["w"], "b": base["b"]}),
        ("{}", {"w": base["w"].astype(np.float64), "b": base["b"]}),
        ("{}", {"w": base["w"].reshape(3, 2), "b": base["b"]}),
        ("{}", {"w": base["w"] + np.float32(1e-6) * (np.arange(6).reshape(2, 3) == 5), "b": base["b"]}),
        ("{}", {"w": base["w"]}),
    ]
    digests = {convert_cache.cache_digest(text, tensors) for text, tensors in variants}
    assert reference not in digests and len(digests) == len(variants)


def _builders() -> dict[str, Callable[[Path], Path]]:
    from face_identity.devtools import synthetic_masks

    return {
        "recognizer": lambda path: synthetic.build_iresnet(path, synthetic.TINY_IRESNET, seed=0),
        "detector": lambda path: synthetic.build_scrfd_like(path, seed=0),
        "swapper": lambda path: synthetic.build_inswapper_like(path, seed=0),
        "landmarker": lambda path: synthetic_masks.build_fan_68_5_like(path, seed=0),
        "restorer": lambda path: synthetic_masks.build_restorer_like(path, size=64, scale=0.5, offset=0.1),
        "occluder": lambda path: synthetic_masks.build_xseg_like(path),
        "parser": lambda path: synthetic_masks.build_bisenet_like(path),
    }


MODEL_KINDS = ["recognizer", "detector", "swapper", "landmarker", "restorer", "occluder", "parser"]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_model_kind_refuses_a_cache_holding_another_models_tensors(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Class 8 against every model kind: same names, dtypes and shapes, other values -> deleted, warned, converted again."""
    model = _builders()[kind](tmp_path / "models" / f"{kind}.onnx")
    expected = load_graph_spec(model, cache=False)
    load_graph_spec(model)
    cached = _cache_of(model)
    rng = np.random.default_rng(3)

    def other_model(tensors: dict[str, NDArray[Any]]) -> None:
        for key, array in tensors.items():
            if array.size:
                values = rng.integers(0, 7, array.shape) if array.dtype.kind in "iub" else rng.normal(size=array.shape)
                tensors[key] = np.ascontiguousarray(values.astype(array.dtype) + (array if array.dtype.kind == "f" else 0))

    _rewrite(cached, other_model)
    with caplog.at_level(logging.WARNING, logger="face_identity.convert"):
        spec = load_graph_spec(model)
    assert "converted again" in caplog.text and cached.name in caplog.text
    for key, array in expected.tensors.items():
        np.testing.assert_array_equal(spec.tensors[key], array)
