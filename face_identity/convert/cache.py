"""The converter's disk cache: a parsed ``GraphSpec`` stored as ``<stem>.<crc32>.torch.safetensors``.

Always under ``<face_identity home>/torch_cache`` (``$FACE_IDENTITY_HOME``), never beside the model:
model folders are the user's (often shared or read-only), and nothing is written there. The
tensors are the safetensors entries and the graph is JSON in its metadata, so a cached load parses no
ONNX. Every load verifies the cache against the model it was made from and against its own
content: the metadata carries the source model's CRC32 (the hash the on-load ``.hash`` check keeps)
and a SHA-256 digest of that CRC32, the graph and every tensor (name, dtype, shape, bytes). Any
mismatch (made from another model file, another converter version, flipped bytes, another model's
tensors of the same names and shapes, a missing or reshaped tensor, a truncated file, an edited
source hash) deletes the cache with a warning and converts the model again, so a wrong cache is
never loaded and never left to fail later loads. Nothing is ever pickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from ..errors import ModelFileError
from ..integrity import cached_crc32, face_identity_home
from .graph import GraphSpec, contiguous_array, graph_spec_from_proto
from .registry import check_convertible

logger = logging.getLogger(__name__)


CACHE_FORMAT = "face_identity.onnx_graph"
CACHE_VERSION = "3"
"""3: ``digest`` covers the source model's CRC32 too; caches of older versions are deleted and converted again."""
CACHE_SUFFIX = ".torch.safetensors"


def cache_dir() -> Path:
    """Where converted graphs go: ``<face_identity home>/torch_cache``, never beside the user's model files."""
    return face_identity_home() / "torch_cache"


def cache_file_name(model_path: Path, crc32: str) -> str:
    """``<stem>.<crc32>.torch.safetensors``."""
    return f"{model_path.stem}.{crc32}{CACHE_SUFFIX}"


def _cache_candidates(model_path: Path, crc32: str) -> list[Path]:
    return [cache_dir() / cache_file_name(model_path, crc32)]


def cache_digest(graph_json: str, tensors: Mapping[str, NDArray[Any]], source_crc32: str = "") -> str:
    """SHA-256 (64 hex digits) of a cache: the source model's CRC32, the graph JSON, then each tensor's name,
    dtype, shape and bytes in name order (so neither the tensors nor the model they claim to come from can change alone)."""
    digest = hashlib.sha256()
    digest.update(f"source:{source_crc32}\n".encode())
    digest.update(graph_json.encode("utf-8"))
    for name in sorted(tensors):
        array = contiguous_array(tensors[name])
        header = json.dumps([name, array.dtype.str, list(array.shape)], separators=(",", ":")).encode("utf-8")
        digest.update(len(header).to_bytes(8, "little") + header)
        digest.update(array.data)  # C-contiguous: hashed in place, no copy
    return digest.hexdigest()


def _discard(cache_path: Path, problem: str) -> None:
    """Warn about a damaged cache file and delete it (when the folder allows), so no later load trips over it."""
    logger.warning("the torch conversion cache %s %s; it is deleted and the model converted again", cache_path, problem)
    try:
        cache_path.unlink(missing_ok=True)
    except OSError as error:
        logger.debug("could not delete %s: %s", cache_path, error)


def read_cached_graph(cache_path: Path, crc32: str) -> GraphSpec | None:
    """The graph stored in a cache file, or ``None`` when the file is not a usable cache of this model (re-convert then).

    Any mismatch deletes the file with a warning: another format or converter version, made from
    another model file than the one with CRC32 ``crc32``, unreadable, or content not matching its digest.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(cache_path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != CACHE_FORMAT or metadata.get("version") != CACHE_VERSION:
                _discard(cache_path, f"was written by another converter version ({metadata.get('version')!r})")
                return None
            if metadata.get("source_crc32") != crc32:
                _discard(
                    cache_path, f"was made from another model file (CRC32 {metadata.get('source_crc32')!r}, this one {crc32})"
                )
                return None
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open is not iterable)
        graph_json = metadata["graph"]
        if cache_digest(graph_json, tensors, crc32) != metadata.get("digest"):
            _discard(cache_path, "does not match the digest written with it (damaged or altered)")
            return None
        return GraphSpec.from_json(graph_json, tensors)
    except Exception as error:  # a truncated or foreign file must only cost a re-conversion
        _discard(cache_path, f"is unreadable ({type(error).__name__}: {str(error)[:200]})")
        return None


def write_cache_file(cache_path: Path, spec: GraphSpec, crc32: str, source_name: str) -> None:
    """Write ``spec`` as safetensors (tensors) + metadata (graph JSON), atomically.

    Raises:
        OSError: the folder is not writable (or the disk is full).
    """
    from safetensors.numpy import save_file

    cache_path.parent.mkdir(parents=True, exist_ok=True)
    graph_json = spec.to_json()
    tensors = {key: contiguous_array(value) for key, value in spec.tensors.items()}
    metadata = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "source_crc32": crc32,
        "source_name": source_name,
        "graph": graph_json,
        "digest": cache_digest(graph_json, tensors, crc32),
    }
    handle, temporary = tempfile.mkstemp(prefix=".converting-", suffix=CACHE_SUFFIX, dir=str(cache_path.parent))
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=metadata)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; the cache is as readable as a model file
        os.replace(temporary, cache_path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def folder_writable(folder: Path) -> bool:
    """Whether we may add files to ``folder``: the OS allows it and the folder has a write bit.

    The mode check matters when running as root, where ``os.access`` says yes even for a folder
    its owner made read-only (e.g. a shared, read-only model folder).
    """
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    try:
        return os.access(probe, os.W_OK) and bool(probe.stat().st_mode & 0o222)
    except OSError:
        return False


def _store_in_cache(spec: GraphSpec, model_path: Path, crc32: str) -> Path | None:
    for candidate in _cache_candidates(model_path, crc32):
        if not folder_writable(candidate.parent):
            logger.debug("not caching the torch conversion in %s: folder not writable", candidate.parent)
            continue
        try:
            write_cache_file(candidate, spec, crc32, model_path.name)
            logger.debug("cached the torch conversion of %s at %s", model_path.name, candidate)
            return candidate
        except Exception as error:  # read-only folder, full disk, ...: try the next place, then give up quietly
            logger.debug("could not write the torch cache %s: %s", candidate, error)
    return None


def load_graph_spec(path: str | os.PathLike[str], *, cache: bool = True) -> GraphSpec:
    """The ``GraphSpec`` of an ONNX file, from the safetensors cache when present (no ONNX parsing then).

    Args:
        path: the ``.onnx`` file.
        cache: read and write the cache (keyed by the file's CRC32, so an edited model gets a new entry).

    Raises:
        ModelFileError: missing or unreadable file.
        ModelConversionError: the graph has an op the converter does not cover (nothing is cached then).
    """
    from ..onnx_graph import load_model_proto

    model_path = Path(path)
    if not model_path.is_file():
        raise ModelFileError(f"model file {model_path} does not exist")
    crc32 = cached_crc32(model_path)  # the same cached hash the on-load .hash check uses: no second read of the model
    if cache:
        for candidate in _cache_candidates(model_path, crc32):
            if candidate.is_file():
                spec = read_cached_graph(candidate, crc32)
                if spec is not None:
                    logger.debug("loaded the torch conversion of %s from %s", model_path.name, candidate)
                    return spec
    spec = graph_spec_from_proto(load_model_proto(model_path, load_external_data=True), model_path.name)
    check_convertible(spec, model_path.name)
    if cache:
        _store_in_cache(spec, model_path, crc32)
    return spec
