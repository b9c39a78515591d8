"""Model files checked by content: a CRC32 cached per file, the ``.hash`` sidecar check, and the graph facts of known models.

- ``cached_crc32``: the CRC32 of a file, remembered in a small JSON file per model under
  ``$FACE_IDENTITY_HOME/file_checks`` (default ``~/.cache/face_identity/file_checks``), keyed by the
  file's resolved path, size, mtime and ctime. A file that changes on disk (bytes flipped, replaced,
  truncated) changes its size or times, so it is hashed again; an unchanged file costs one ``stat``.
- ``check_sidecar``: a catalog model found as ``<name>.onnx`` next to ``<name>.hash`` (FaceFusion's
  sidecar, which our downloads keep) must have the CRC32 in it, on every load, not only after the
  download; a mismatch raises ``ModelIntegrityError`` naming the file and the fix.
- ``graph_mismatch``: where a catalog recognizer has no sidecar (an insightface/ReActor copy), the
  facts its signature and size must show before it is granted the catalog's embedding space.

The cache is plain JSON (never pickle) and only ever an optimisation: unreadable or unwritable
cache files are ignored and the file is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .catalog import ModelSpec
from .errors import ModelIntegrityError
from .files import write_atomic

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 8 * 1024 * 1024
CHECKS_FOLDER = "file_checks"
"""Folder under the face_identity home that holds the CRC32 cache (one JSON file per model path)."""


def face_identity_home() -> Path:
    """``$FACE_IDENTITY_HOME`` or ``~/.cache/face_identity`` (read at call time): downloads, caches, file checks."""
    home = os.environ.get("FACE_IDENTITY_HOME")
    return Path(home) if home else Path.home() / ".cache" / "face_identity"


def file_crc32(path: str | os.PathLike[str]) -> str:
    """CRC32 of the whole file as 8 lowercase hex digits (FaceFusion's ``.hash`` scheme); reads the file."""
    crc = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            crc = zlib.crc32(chunk, crc)
    return format(crc & 0xFFFFFFFF, "08x")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the whole file as 64 lowercase hex digits; reads the file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> dict[str, int]:
    status = path.stat()
    return {"size": int(status.st_size), "mtime_ns": int(status.st_mtime_ns), "ctime_ns": int(status.st_ctime_ns)}


def _cache_file(path: Path) -> Path:
    key = hashlib.sha256(os.fsencode(str(path))).hexdigest()[:24]
    return face_identity_home() / CHECKS_FOLDER / f"{key}.json"


def _read_cached(cache: Path, path: Path, stamp: dict[str, int]) -> str | None:
    try:
        record = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("path") != str(path):
        return None
    if any(record.get(key) != value for key, value in stamp.items()):
        return None
    crc = record.get("crc32")
    return crc if isinstance(crc, str) and _is_crc32(crc) else None


def _write_cached(cache: Path, path: Path, stamp: dict[str, int], crc: str) -> None:
    try:
        write_atomic(cache, json.dumps({"path": str(path), **stamp, "crc32": crc}).encode("utf-8"))  # no temporary left behind
    except OSError as error:  # a read-only home only costs a re-hash next time
        logger.debug("could not record the CRC32 of %s in %s: %s", path, cache, error)


def cached_crc32(path: str | os.PathLike[str]) -> str:
    """``file_crc32`` of a file, remembered while its size, mtime and ctime stay the same."""
    file_path = Path(path).resolve()
    stamp = _stamp(file_path)
    cache = _cache_file(file_path)
    known = _read_cached(cache, file_path, stamp)
    if known is not None:
        return known
    crc = file_crc32(file_path)
    if _stamp(file_path) == stamp:  # not written to while it was read
        _write_cached(cache, file_path, stamp, crc)
    return crc


def _is_crc32(text: str) -> bool:
    return len(text) == 8 and all(c in "0123456789abcdef" for c in text)


def read_sidecar(hash_path: Path) -> str:
    """The CRC32 in a ``.hash`` sidecar, 8 lowercase hex digits.

    Raises:
        ModelIntegrityError: the sidecar is unreadable or does not hold an 8-digit CRC32.
    """
    try:
        text = hash_path.read_text(encoding="ascii", errors="replace").strip().lower()
    except OSError as error:
        raise ModelIntegrityError(
            f"cannot read the hash file {hash_path} ({error}); delete it and the model beside it to download both again"
        ) from error
    if not _is_crc32(text):
        raise ModelIntegrityError(
            f"the hash file {hash_path} does not hold an 8-digit CRC32 (it holds {text[:40]!r}). Delete it and "
            f"the model file beside it to download both again."
        )
    return text


def sidecar_of(path: Path, spec: ModelSpec) -> Path | None:
    """Where the ``.hash`` sidecar of ``path`` would be: next to it, only when the file has the catalog file name."""
    if not spec.hash_filename or path.name != spec.filename:
        return None
    return path.with_name(spec.hash_filename)


@dataclass(frozen=True)
class SidecarCheck:
    """A model file whose CRC32 matched its ``.hash`` sidecar."""

    path: Path
    sidecar: Path
    crc32: str


def check_sidecar(path: Path, spec: ModelSpec) -> SidecarCheck | None:
    """Check a catalog model file against its ``.hash`` sidecar; ``None`` when there is no sidecar.

    Raises:
        ModelIntegrityError: the file's CRC32 differs from the sidecar's (corrupted or replaced on
            disk; nothing is deleted, the message says what to delete), or the sidecar is malformed.
    """
    sidecar = sidecar_of(path, spec)
    if sidecar is None or not sidecar.is_file():
        return None
    expected = read_sidecar(sidecar)
    actual = cached_crc32(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"model file {path} does not match its hash file {sidecar.name}: CRC32 {actual}, expected {expected}. "
            f"The file was changed or damaged after it was downloaded. Delete {path} (and {sidecar.name}) and run "
            f"again to download it anew, or give the path of a good copy."
        )
    return SidecarCheck(path, sidecar, actual)


@dataclass(frozen=True)
class KnownGraph:
    """What a catalog recognizer's file must show without a sidecar: I/O shapes (``None`` = any) and a size range in bytes."""

    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]
    min_bytes: int
    max_bytes: int
    description: str


KNOWN_GRAPHS: dict[str, KnownGraph] = {
    "arcface_w600k_r50": KnownGraph(
        input_shape=(None, 3, 112, 112),
        output_shape=(None, 512),
        min_bytes=150_000_000,
        max_bytes=200_000_000,
        description="an fp32 IResNet-50: input [N,3,112,112], output [N,512], about 174 MB",
    ),
}
"""Graph facts of catalog recognizers (w600k_r50.onnx is 174,383,860 bytes, input ``[None,3,112,112]``)."""


def _shape_matches(actual: Sequence[object], expected: tuple[int | None, ...]) -> bool:
    if len(actual) != len(expected):
        return False
    return all(want is None or (isinstance(got, int) and got == want) for got, want in zip(actual, expected))


def graph_mismatch(
    path: Path, spec: ModelSpec, input_shapes: Sequence[Sequence[object]], output_shapes: Sequence[Sequence[object]]
) -> str | None:
    """Why a sidecar-less file under a catalog recognizer's name is not that model, or ``None`` if its facts match.

    Facts checked: one input of the catalog shape, one output of the catalog width, file size in the
    model's range. A catalog name without known facts never matches (``"no known graph facts"``).
    """
    known = KNOWN_GRAPHS.get(spec.name)
    if known is None:
        return "no known graph facts for this model"
    reasons = []
    if len(input_shapes) != 1 or not _shape_matches(input_shapes[0], known.input_shape):
        reasons.append(f"inputs {[list(s) for s in input_shapes]}")
    if len(output_shapes) != 1 or not _shape_matches(output_shapes[0], known.output_shape):
        reasons.append(f"outputs {[list(s) for s in output_shapes]}")
    size = path.stat().st_size
    if not known.min_bytes <= size <= known.max_bytes:
        reasons.append(f"{size / 1e6:.1f} MB")
    if not reasons:
        return None
    return f"{', '.join(reasons)}; {spec.name} is {known.description}"
