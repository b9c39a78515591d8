"""Identity files: our safetensors format, safe names, atomic writes, ReActor import/export, and no pickling."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from face_identity.catalog import W600K_R50_SPACE
from face_identity.errors import IdentityFileError
from face_identity.store import (
    FORMAT_NAME,
    FORMAT_VERSION,
    REACTOR_KEYS,
    export_reactor_face,
    load_identity,
    safe_identity_filename,
    save_identity,
)
from face_identity.types import Identity

LIBRARY = Path(__file__).resolve().parent.parent / "face_identity"


def raw_rows(count: int, dimension: int = 512, seed: int = 0) -> np.ndarray:
    """Raw (un-normalised) embeddings with norms between 15 and 30, like w600k_r50's outputs."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(count, dimension))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows * rng.uniform(15, 30, size=(count, 1))).astype(np.float32)


@pytest.fixture
def full_identity() -> Identity:
    """Three rows with every field set."""
    raw = raw_rows(3)
    rng = np.random.default_rng(1)
    return Identity(
        embeddings=raw,
        model_id=W600K_R50_SPACE,
        weights=np.array([1.0, 2.0, 0.5]),
        norms=np.linalg.norm(raw, axis=1),
        image_indices=np.array([0, 0, 3]),
        face_indices=np.array([0, 1, 0]),
        bboxes=rng.uniform(0, 500, (3, 4)),
        landmarks=rng.uniform(0, 500, (3, 5, 2)),
    )


def test_round_trip_keeps_every_field(full_identity: Identity, tmp_path: Path) -> None:
    path = save_identity(full_identity, tmp_path / "jane.safetensors")
    loaded = load_identity(path)

    assert loaded.model_id == full_identity.model_id and len(loaded) == 3
    for field in ("embeddings", "weights", "norms", "image_indices", "face_indices", "bboxes", "landmarks"):
        expected, actual = getattr(full_identity, field), getattr(loaded, field)
        assert actual.dtype == expected.dtype, field
        np.testing.assert_array_equal(actual, expected, err_msg=field)


def test_file_metadata_and_tensor_layout(full_identity: Identity, tmp_path: Path) -> None:
    from safetensors import safe_open

    path = save_identity(full_identity, tmp_path / "jane.safetensors")
    with safe_open(str(path), framework="np") as handle:
        metadata = handle.metadata()
        shapes = {key: handle.get_tensor(key).shape for key in handle.keys()}  # noqa: SIM118  # safe_open handles are not dicts
    assert metadata["format"] == FORMAT_NAME == "face_identity.identity"
    assert metadata["format_version"] == FORMAT_VERSION == "1"
    assert metadata["model_id"] == W600K_R50_SPACE
    assert metadata["dimension"] == "512"
    assert shapes == {
        "embeddings": (3, 512),
        "weights": (3,),
        "norms": (3,),
        "image_indices": (3,),
        "face_indices": (3,),
        "bboxes": (3, 4),
        "landmarks": (3, 5, 2),
    }


def test_refused_overwrite_leaves_the_file_untouched(full_identity: Identity, tmp_path: Path) -> None:
    path = save_identity(full_identity, tmp_path / "jane.safetensors")
    before = path.read_bytes()
    other = Identity(embeddings=raw_rows(1, seed=5), model_id=W600K_R50_SPACE)

    with pytest.raises(IdentityFileError, match="already exists"):
        save_identity(other, path)
    assert path.read_bytes() == before

    save_identity(other, path, if_exists="overwrite")
    np.testing.assert_array_equal(load_identity(path).embeddings, other.embeddings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jane.safetensors"]


def test_new_name_keeps_every_file(full_identity: Identity, tmp_path: Path) -> None:
    first = save_identity(full_identity, tmp_path / "jane.safetensors")
    before = first.read_bytes()
    other = Identity(embeddings=raw_rows(1, seed=6), model_id=W600K_R50_SPACE)
    second = save_identity(other, first, if_exists="new name")
    third = save_identity(other, first, if_exists="new name")
    assert (second.name, third.name) == ("jane_2.safetensors", "jane_3.safetensors")
    assert first.read_bytes() == before
    np.testing.assert_array_equal(load_identity(third).embeddings, other.embeddings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jane.safetensors", "jane_2.safetensors", "jane_3.safetensors"]
    with pytest.raises(IdentityFileError, match="if_exists"):
        save_identity(other, first, if_exists="replace")


def test_writes_leave_no_temporary_files_even_when_writing_fails(
    full_identity: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_identity(full_identity, tmp_path / "a.safetensors")
    export_reactor_face(full_identity, tmp_path / "b.safetensors")
    with pytest.raises(IdentityFileError):
        save_identity(full_identity, tmp_path / "a.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "b.safetensors"]

    import safetensors.numpy

    def failing_save(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_identity(full_identity, tmp_path / "c.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "b.safetensors"]


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/b",
        "/etc/passwd",
        "..",
        ".",
        "",
        "   ",
        "a\\b",
        "..\\x",
        "C:x",
        "x:y",
        "con:stream",
        ".hidden",
        "-rf",
        "a..b",
        "name.",
        "x" * 129,
        "abc\n.safetensors",
        "abc\nx",
        "nul\x00byte",
        ".safetensors",
        "tab\tname",
    ],
)
def test_unsafe_identity_names_are_refused(name: str) -> None:
    with pytest.raises(IdentityFileError):
        safe_identity_filename(name)


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("Jane Doe", "Jane Doe.safetensors"),
        ("jane_doe-2.v1", "jane_doe-2.v1.safetensors"),
        ("face.safetensors", "face.safetensors"),
        ("  padded  ", "padded.safetensors"),
        ("7", "7.safetensors"),
        ("x" * 128, "x" * 128 + ".safetensors"),
    ],
)
def test_ordinary_identity_names_are_accepted(name: str, filename: str) -> None:
    assert safe_identity_filename(name) == filename


def reactor_face_file(path: Path, embedding: np.ndarray) -> dict[str, np.ndarray]:
    """Write a face model the way ReActor's ``save_face_model`` does: ``torch.tensor`` of each insightface field."""
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(3)
    face = {
        "bbox": np.array([100.5, 80.25, 220.0, 230.75], np.float32),
        "kps": rng.uniform(100, 200, (5, 2)).astype(np.float32),
        "det_score": np.float32(0.87),
        "landmark_3d_68": rng.uniform(0, 300, (68, 3)).astype(np.float32),
        "pose": np.array([3.0, -10.0, 1.5], np.float32),
        "landmark_2d_106": rng.uniform(0, 300, (106, 2)).astype(np.float32),
        "embedding": embedding,
        "gender": np.int64(1),
        "age": 41,
    }
    save_file({key: torch.tensor(face[key]) for key in REACTOR_KEYS}, str(path))
    return face


def test_reactor_face_model_imports_as_one_w600k_row(tmp_path: Path) -> None:
    raw = raw_rows(1, seed=9)[0]
    face = reactor_face_file(tmp_path / "reactor.safetensors", raw)

    identity = load_identity(tmp_path / "reactor.safetensors")

    assert identity.model_id == W600K_R50_SPACE and len(identity) == 1 and identity.dimension == 512
    np.testing.assert_allclose(identity.embeddings[0], raw / np.linalg.norm(raw), atol=1e-6)
    np.testing.assert_allclose(identity.norms[0], np.linalg.norm(raw), rtol=1e-6)
    np.testing.assert_array_equal(identity.bboxes[0], face["bbox"])
    np.testing.assert_array_equal(identity.landmarks[0], face["kps"])


def test_reactor_file_with_a_wrong_embedding_size_is_refused(tmp_path: Path) -> None:
    reactor_face_file(tmp_path / "small.safetensors", raw_rows(1, dimension=128)[0])
    with pytest.raises(IdentityFileError, match="128"):
        load_identity(tmp_path / "small.safetensors")


def test_export_reactor_face_writes_the_nine_keys_with_a_raw_centroid(full_identity: Identity, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    path = export_reactor_face(full_identity, tmp_path / "jane_reactor.safetensors")
    tensors = load_file(str(path))

    assert set(tensors) == set(REACTOR_KEYS)
    shapes = {key: tuple(tensor.shape) for key, tensor in tensors.items()}
    assert shapes == {
        "bbox": (4,),
        "kps": (5, 2),
        "det_score": (),
        "landmark_3d_68": (68, 3),
        "pose": (3,),
        "landmark_2d_106": (106, 2),
        "embedding": (512,),
        "gender": (),
        "age": (),
    }
    embedding = tensors["embedding"].numpy().astype(np.float64)
    unit = full_identity.embeddings.astype(np.float64)
    weights = full_identity.weights.astype(np.float64)
    centroid = (unit * weights[:, None]).sum(axis=0)
    centroid /= np.linalg.norm(centroid)
    assert float(embedding @ centroid / np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-6)
    # the raw norm is the weighted mean of the rows' (the weights the centroid uses: Identity.raw_centroid)
    raw_norm = float((full_identity.norms.astype(np.float64) * weights).sum() / weights.sum())
    assert raw_norm != pytest.approx(float(full_identity.norms.mean()), rel=1e-5)
    assert np.linalg.norm(embedding) == pytest.approx(raw_norm, rel=1e-5)
    np.testing.assert_array_equal(tensors["bbox"].numpy(), full_identity.bboxes[0])
    np.testing.assert_array_equal(tensors["kps"].numpy(), full_identity.landmarks[0])

    # and it comes back through our own loader as the same direction and raw norm
    back = load_identity(path)
    np.testing.assert_allclose(back.embeddings[0], centroid, atol=1e-6)
    assert back.norms[0] == pytest.approx(raw_norm, rel=1e-5)


def test_export_without_known_boxes_writes_zeros(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    identity = Identity(embeddings=raw_rows(2), model_id=W600K_R50_SPACE)
    tensors = load_file(str(export_reactor_face(identity, tmp_path / "x.safetensors")))
    assert not tensors["bbox"].any() and not tensors["kps"].any()
    assert np.isfinite(tensors["embedding"].numpy()).all()


@pytest.mark.parametrize(("model_id", "dimension"), [("w600k_mbf_int8_dynamic@1234abcd", 512), (W600K_R50_SPACE, 128)])
def test_export_refuses_other_embedding_spaces(tmp_path: Path, model_id: str, dimension: int) -> None:
    identity = Identity(embeddings=raw_rows(1, dimension=dimension), model_id=model_id)
    with pytest.raises(IdentityFileError, match="w600k_r50"):
        export_reactor_face(identity, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_export_refuses_to_overwrite(full_identity: Identity, tmp_path: Path) -> None:
    path = export_reactor_face(full_identity, tmp_path / "x.safetensors")
    before = path.read_bytes()
    with pytest.raises(IdentityFileError, match="already exists"):
        export_reactor_face(Identity(embeddings=raw_rows(1, seed=4), model_id=W600K_R50_SPACE), path)
    assert path.read_bytes() == before


def test_unknown_safetensors_content_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"weight": np.zeros((2, 2), np.float32)}, str(tmp_path / "lora.safetensors"))
    with pytest.raises(IdentityFileError, match="neither"):
        load_identity(tmp_path / "lora.safetensors")


def test_unreadable_missing_and_newer_files_are_refused(full_identity: Identity, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    (tmp_path / "garbage.safetensors").write_bytes(b"\x00\x01not a safetensors file" * 10)
    with pytest.raises(IdentityFileError, match="not a readable safetensors"):
        load_identity(tmp_path / "garbage.safetensors")
    with pytest.raises(IdentityFileError, match="does not exist"):
        load_identity(tmp_path / "absent.safetensors")

    tensors = {"embeddings": full_identity.embeddings, "weights": full_identity.weights, "norms": full_identity.norms}
    metadata = {"format": FORMAT_NAME, "format_version": "2", "model_id": W600K_R50_SPACE}
    save_file(tensors, str(tmp_path / "future.safetensors"), metadata=metadata)
    with pytest.raises(IdentityFileError, match="version '2'"):
        load_identity(tmp_path / "future.safetensors")

    save_file(
        {"embeddings": full_identity.embeddings},
        str(tmp_path / "partial.safetensors"),
        metadata={**metadata, "format_version": "1"},
    )
    with pytest.raises(IdentityFileError, match="norms"):
        load_identity(tmp_path / "partial.safetensors")


def test_saving_and_loading_never_pickle(full_identity: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle used")

    for name in ("dump", "dumps", "load", "loads"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(pickle, "Pickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(torch, "save", forbidden)

    ours = save_identity(full_identity, tmp_path / "ours.safetensors")
    reactor = export_reactor_face(full_identity, tmp_path / "reactor.safetensors")
    assert len(load_identity(ours)) == 3
    assert len(load_identity(reactor)) == 1


def test_library_source_has_no_pickle_calls() -> None:
    pattern = re.compile(
        r"^\s*(import|from)\s+(c?pickle|dill|joblib|cloudpickle)\b|torch\.load\(|allow_pickle\s*=\s*True|\bpickle\.(load|dump)",
        re.M,
    )
    offenders = [
        f"{path.relative_to(LIBRARY.parent)}: {match.group(0).strip()}"
        for path in sorted(LIBRARY.rglob("*.py"))
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("kps", np.zeros(7, np.float32), "kps has 7 values"),
        ("bbox", np.zeros((2, 4), np.float32), "bbox has 8 values"),
        ("embedding", np.full(512, np.nan, np.float32), "NaN"),
        ("embedding", np.zeros(512, np.float32), "only zeros"),
    ],
)
def test_malformed_reactor_face_model_names_the_file(tmp_path: Path, key: str, value: np.ndarray, expected: str) -> None:
    from safetensors.numpy import save_file

    face = {
        "bbox": np.zeros(4, np.float32),
        "kps": np.zeros((5, 2), np.float32),
        "embedding": raw_rows(1, seed=3)[0],
        key: value,
    }
    path = tmp_path / "broken face.safetensors"
    save_file(face, str(path))
    with pytest.raises(IdentityFileError) as caught:
        load_identity(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


@pytest.mark.parametrize(("field", "value"), [("dimension", "128"), ("rows", "7"), ("dimension", "many")])
def test_identity_metadata_must_describe_its_tensor(full_identity: Identity, tmp_path: Path, field: str, value: str) -> None:
    from safetensors.numpy import save_file

    path = save_identity(full_identity, tmp_path / "good.safetensors")
    assert load_identity(path).dimension == 512  # the written metadata agrees with the tensor
    tensors = {"embeddings": full_identity.embeddings, "weights": full_identity.weights, "norms": full_identity.norms}
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model_id": W600K_R50_SPACE, field: value}
    edited = tmp_path / "edited.safetensors"
    save_file(tensors, str(edited), metadata=metadata)
    with pytest.raises(IdentityFileError, match=re.escape(f"{field} = {value!r}")) as caught:
        load_identity(edited)
    assert str(edited) in str(caught.value)
