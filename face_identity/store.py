"""Identity files: our safetensors format, and ReActor face-model files (import and export). Never pickle.

Our format (``format = face_identity.identity``, ``format_version = 1`` in the safetensors metadata,
plus ``model_id`` and ``dimension``) holds the tensors ``embeddings`` [K, D] float32 (unit rows),
``weights`` [K], ``norms`` [K] float32, ``image_indices``, ``face_indices`` [K] int64, ``bboxes``
[K, 4] and ``landmarks`` [K, 5, 2] float32.

ReActor's format (``models/reactor/faces/*.safetensors``) is insightface's ``Face`` dict: 9 keys
``bbox, kps, det_score, landmark_3d_68, pose, landmark_2d_106, embedding, gender, age`` with the raw
(un-normalised) w600k_r50 embedding.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from .catalog import W600K_R50_SPACE
from .errors import IdentityFileError, InvalidArgumentError
from .types import Identity
from .validate import safe_name

FORMAT_NAME = "face_identity.identity"
FORMAT_VERSION = "1"
IDENTITY_SUFFIX = ".safetensors"
REACTOR_KEYS = ("bbox", "kps", "det_score", "landmark_3d_68", "pose", "landmark_2d_106", "embedding", "gender", "age")


def safe_identity_filename(name: str) -> str:
    """``"Jane Doe"`` -> ``"Jane Doe.safetensors"``; refuses anything that could leave the folder.

    The name (surrounding spaces and a ``.safetensors`` suffix dropped) must pass ``validate.safe_name``,
    the one rule for every name that becomes a path: letters, digits, space, ``_``, ``.``, ``-``,
    starting with a letter or digit, at most 128 characters, no ``..``. The suffix is added.

    Raises:
        IdentityFileError: the name is empty, has path separators or other characters, or contains "..".
    """
    stem = name.strip()
    if stem.lower().endswith(IDENTITY_SUFFIX):
        stem = stem[: -len(IDENTITY_SUFFIX)]
    return safe_name(stem, "identity name", IdentityFileError) + IDENTITY_SUFFIX


IfExists = Literal["new name", "error", "overwrite"]
"""What to do when the target file exists: pick ``name_2``, ``name_3``, ... (never loses a file), refuse, or replace."""
IF_EXISTS_CHOICES: tuple[str, ...] = get_args(IfExists)
"""The values of ``IfExists``, for choice lists."""
FILE_FORMATS: tuple[str, ...] = ("face_identity", "reactor")
"""What ``save_identity`` writes: our format, or a ReActor face model."""


def _numbered(path: Path, number: int) -> Path:
    return path if number == 1 else path.with_name(f"{path.stem}_{number}{path.suffix}")


def _write_safetensors(tensors: dict[str, NDArray[np.generic]], path: Path, metadata: dict[str, str], if_exists: str) -> Path:
    """Write atomically via a temporary file in the same folder; an existing file is replaced only with ``if_exists="overwrite"``.

    Returns:
        The path written (with ``"new name"``, possibly ``<stem>_<n>.safetensors``).
    """
    from safetensors.numpy import save_file

    if if_exists not in IF_EXISTS_CHOICES:
        raise IdentityFileError(f"if_exists must be one of {', '.join(IF_EXISTS_CHOICES)}, got {if_exists!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    exists_message = f"{path} already exists; choose another name, or set 'if exists' to 'new name' or 'overwrite'"
    if path.exists() and if_exists == "error":
        raise IdentityFileError(exists_message)
    handle, temporary_name = tempfile.mkstemp(prefix=".tmp-", suffix=IDENTITY_SUFFIX, dir=path.parent)
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        # np.asarray(order="C"), not ascontiguousarray: that turns 0-d ReActor scalars (det_score, gender, age) into [1]
        save_file({key: np.asarray(value, order="C") for key, value in tensors.items()}, str(temporary), metadata=metadata)
        if if_exists == "overwrite":
            os.replace(temporary, path)
            return path
        for number in range(1, 10_000 if if_exists == "new name" else 2):
            candidate = _numbered(path, number)
            try:
                os.link(temporary, candidate)  # fails if the name exists, even if it appeared meanwhile: never clobbers
                return candidate
            except FileExistsError:
                continue
            except OSError:  # file systems without hard links (FAT, some network shares)
                if candidate.exists():
                    continue
                os.replace(temporary, candidate)
                return candidate
        raise IdentityFileError(exists_message)
    finally:
        temporary.unlink(missing_ok=True)


def save_identity(
    identity: Identity,
    path: str | os.PathLike[str],
    if_exists: str = "error",
    sources: Sequence[str] = (),
    *,
    file_format: str = "face_identity",
) -> Path:
    """Write ``identity`` as a safetensors file in our format (or ReActor's); returns the path written.

    Args:
        if_exists: ``"error"`` (default), ``"new name"`` (``<stem>_2`` ...) or ``"overwrite"``.
        sources: the photos (file names) the rows came from, kept in the metadata as a JSON list (``sources``).
        file_format: ``"face_identity"`` (every row and its source) or ``"reactor"``: one averaged face model
            ReActor loads (``export_reactor_face``; ``sources`` are not kept).

    Raises:
        IdentityFileError: the file exists and ``if_exists`` is ``"error"``; ``reactor`` for an identity that
            is not a 512-d w600k_r50 one.
        InvalidArgumentError: an unknown ``file_format``.
    """
    if file_format not in FILE_FORMATS:
        raise InvalidArgumentError(f"unknown identity file format {file_format!r}; use one of {', '.join(FILE_FORMATS)}")
    if file_format == "reactor":
        return export_reactor_face(identity, path, if_exists)
    tensors: dict[str, NDArray[np.generic]] = {
        "embeddings": identity.embeddings,
        "weights": identity.weights,
        "norms": identity.norms,
        "image_indices": identity.image_indices,
        "face_indices": identity.face_indices,
        "bboxes": identity.bboxes,
        "landmarks": identity.landmarks,
    }
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_id": identity.model_id,
        "dimension": str(identity.dimension),
        "rows": str(len(identity)),
    }
    if sources:
        metadata["sources"] = json.dumps([str(source) for source in sources])
    return _write_safetensors(tensors, Path(path), metadata, if_exists)


def identity_file_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors metadata of an identity file (``format``, ``model_id``, ``sources`` ...; ``{}`` for ReActor's).

    Raises:
        IdentityFileError: the file is missing or not readable safetensors.
    """
    return _read_safetensors(Path(path))[1]


def _read_safetensors(path: Path) -> tuple[dict[str, NDArray[np.generic]], dict[str, str]]:
    from safetensors import safe_open

    if not path.is_file():
        raise IdentityFileError(f"identity file {path} does not exist")
    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118  # safe_open handles have no __contains__/__iter__
    except Exception as error:  # safetensors raises SafetensorError / OSError for bad headers
        raise IdentityFileError(f"{path} is not a readable safetensors file ({error})") from error
    return tensors, metadata


def load_identity(path: str | os.PathLike[str]) -> Identity:
    """Read an identity file: our format, or a ReActor face model (imported as one w600k_r50 row).

    Raises:
        IdentityFileError: unreadable, unknown format, or a newer format version.
    """
    file_path = Path(path)
    tensors, metadata = _read_safetensors(file_path)
    if metadata.get("format") == FORMAT_NAME:
        version = metadata.get("format_version", "")
        if version != FORMAT_VERSION:
            raise IdentityFileError(
                f"{file_path} has identity format version {version!r}; this version reads {FORMAT_VERSION}. Update face-identity."
            )
        missing = {"embeddings", "weights", "norms"} - set(tensors)
        if missing or "model_id" not in metadata:
            raise IdentityFileError(f"{file_path} lacks {', '.join(sorted(missing)) or 'model_id metadata'}")
        _check_declared_sizes(file_path, metadata, tensors["embeddings"])
        try:
            return Identity(
                embeddings=tensors["embeddings"],
                model_id=metadata["model_id"],
                weights=tensors["weights"],
                norms=tensors["norms"],
                image_indices=tensors.get("image_indices"),
                face_indices=tensors.get("face_indices"),
                bboxes=tensors.get("bboxes"),
                landmarks=tensors.get("landmarks"),
            )
        except Exception as error:
            raise IdentityFileError(f"{file_path} holds an invalid identity: {error}") from error
    if "embedding" in tensors:
        return import_reactor_face(tensors, file_path)
    raise IdentityFileError(
        f"{file_path} is neither a face-identity file nor a ReActor face model (keys: {', '.join(sorted(tensors))[:200]})"
    )


def _check_declared_sizes(path: Path, metadata: dict[str, str], embeddings: NDArray[np.generic]) -> None:
    """The ``dimension`` and ``rows`` metadata must describe the ``embeddings`` tensor.

    Raises:
        IdentityFileError: a field is not a number, or disagrees with the tensor's ``[K, D]`` shape.
    """
    shape = tuple(int(n) for n in np.shape(embeddings))
    if len(shape) != 2:
        raise IdentityFileError(f"{path}: embeddings must be a [K, D] matrix, got shape {list(shape)}")
    for field, actual in (("dimension", shape[1]), ("rows", shape[0])):
        declared = metadata.get(field)
        if declared is None:
            continue
        if not declared.strip().isdigit() or int(declared) != actual:
            raise IdentityFileError(
                f"{path}: its metadata says {field} = {declared!r} but the embeddings tensor has {actual} "
                f"({'columns' if field == 'dimension' else 'rows'}); the file is damaged or was edited by hand. "
                "Make it again from the photos."
            )


REACTOR_SHAPES: dict[str, tuple[int, ...]] = {"embedding": (512,), "bbox": (4,), "kps": (5, 2)}
"""How many values ReActor face-model tensors we read hold (any layout with that many values)."""


def import_reactor_face(tensors: dict[str, NDArray[np.generic]], source: Path | None = None) -> Identity:
    """A ReActor face model (insightface ``Face`` fields) as a one-row w600k_r50 identity.

    Raises:
        IdentityFileError: naming the file, when ``embedding``, ``bbox`` or ``kps`` has the wrong
            number of values, a non-numeric dtype, or non-finite / all-zero embedding values.
    """
    name = source or "ReActor face"
    if "embedding" not in tensors:
        raise IdentityFileError(f"{name}: no embedding tensor; this is not a ReActor face model")
    arrays: dict[str, NDArray[np.float32]] = {}
    for key, shape in REACTOR_SHAPES.items():
        if key not in tensors:
            continue
        raw = np.asarray(tensors[key])
        if not (np.issubdtype(raw.dtype, np.floating) or np.issubdtype(raw.dtype, np.integer)):
            raise IdentityFileError(f"{name}: {key} has dtype {raw.dtype}; a ReActor face model stores numbers")
        if raw.size != int(np.prod(shape)):
            raise IdentityFileError(
                f"{name}: {key} has {raw.size} values (shape {list(raw.shape)}), expected {int(np.prod(shape))}; "
                "this is not a ReActor face model of the w600k_r50 recognizer (or it is damaged)"
            )
        arrays[key] = raw.astype(np.float32).reshape(shape)
    embedding = arrays["embedding"]
    if not np.all(np.isfinite(embedding)) or not np.any(embedding):
        raise IdentityFileError(f"{name}: the embedding holds NaN, infinity or only zeros; the file is damaged")
    bbox = arrays["bbox"][None] if "bbox" in arrays else None
    kps = arrays["kps"][None] if "kps" in arrays else None
    try:
        return Identity(embeddings=embedding[None, :], model_id=W600K_R50_SPACE, bboxes=bbox, landmarks=kps)
    except Exception as error:
        raise IdentityFileError(f"{name} holds an invalid ReActor face: {error}") from error


def export_reactor_face(identity: Identity, path: str | os.PathLike[str], if_exists: str = "error") -> Path:
    """Write the identity's centroid as a ReActor face model (9 keys, raw embedding).

    The raw embedding is ``Identity.raw_centroid`` (insightface ``Face.embedding`` is un-normalised): the
    unit centroid times the weighted mean raw norm of the rows; an identity whose raw norms are unknown
    is written as its unit centroid (insightface's ``normed_embedding`` of it is the same). Fields we do not estimate are filled neutrally:
    ``landmark_3d_68``, ``pose``, ``landmark_2d_106`` zeros, ``gender`` -1 and ``age`` -1
    (unknown), ``det_score`` 1. ``bbox``/``kps`` come from the first row when known.

    Raises:
        IncompatibleIdentitiesError-like IdentityFileError: not a 512-d w600k_r50 identity.
        IdentityFileError: the file exists and ``if_exists`` is ``"error"``.
    """
    if identity.model_id != W600K_R50_SPACE or identity.dimension != 512:
        raise IdentityFileError(
            f"ReActor face models hold w600k_r50 embeddings; this identity is from {identity.model_id} "
            f"({identity.dimension}-d). Embed the faces with arcface_w600k_r50 to export them for ReActor."
        )
    embedding = identity.raw_centroid() if identity.raw_norm > 0 else identity.centroid()
    bbox = identity.bboxes[0] if np.all(np.isfinite(identity.bboxes[0])) else np.zeros(4, np.float32)
    kps = identity.landmarks[0] if np.all(np.isfinite(identity.landmarks[0])) else np.zeros((5, 2), np.float32)
    tensors: dict[str, NDArray[np.generic]] = {
        "bbox": bbox.astype(np.float32),
        "kps": kps.astype(np.float32),
        "det_score": np.array(1.0, dtype=np.float32),
        "landmark_3d_68": np.zeros((68, 3), np.float32),
        "pose": np.zeros(3, np.float32),
        "landmark_2d_106": np.zeros((106, 2), np.float32),
        "embedding": embedding.astype(np.float32),
        "gender": np.array(-1, dtype=np.int64),
        "age": np.array(-1, dtype=np.int64),
    }
    return _write_safetensors(tensors, Path(path), {"format": "pt"}, if_exists)
