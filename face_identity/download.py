"""Find a model file: an explicit path, a copy in the caller's model folders, or a verified download.

Resolution order for a catalog name: the caller's folders (file name, then the paths under which
insightface/ReActor users already keep the same file), the default download folder, then a download
from Hugging Face with ``huggingface_hub`` (honours ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, ``HF_TOKEN``;
shows a progress bar). A download is checked against FaceFusion's CRC32 sidecar; a mismatch
deletes the new file and raises.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .catalog import HF_ENDPOINT_DEFAULT, HF_REVISION, ModelSpec, build_catalog
from .errors import ModelFileError, ModelIntegrityError, ModelNotAvailableError

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 8 * 1024 * 1024
_TRUE_WORDS = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model file is, and its catalog entry when it is a known model."""

    path: Path
    spec: ModelSpec | None
    downloaded: bool = False


def default_model_dir() -> Path:
    """Folder for downloads when the caller passes none: ``$FACE_IDENTITY_HOME/models`` or ``~/.cache/face_identity/models``."""
    home = os.environ.get("FACE_IDENTITY_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "face_identity"
    return base / "models"


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, read at call time."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _TRUE_WORDS


def file_crc32(path: Path) -> str:
    """CRC32 of the whole file as 8 lowercase hex digits (FaceFusion's ``.hash`` scheme)."""
    crc = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            crc = zlib.crc32(chunk, crc)
    return format(crc & 0xFFFFFFFF, "08x")


def _candidate_relpaths(spec: ModelSpec) -> list[str]:
    """The catalog file name, then every alias and each of its shorter suffixes, without repeats."""
    candidates = [spec.filename]
    for alias in spec.aliases:
        parts = PurePosixPath(alias).parts
        for start in range(len(parts)):
            candidates.append(str(PurePosixPath(*parts[start:])))
    return list(dict.fromkeys(candidates))


def find_local_copy(spec: ModelSpec, folders: Sequence[Path]) -> Path | None:
    """The first existing copy of ``spec`` in ``folders`` (catalog file name first, then aliases)."""
    for relpath in _candidate_relpaths(spec):
        for folder in folders:
            candidate = Path(folder) / relpath
            if candidate.is_file():
                return candidate
    return None


def spec_for_file(path: Path) -> ModelSpec | None:
    """The catalog entry a file name belongs to (``w600k_r50.onnx`` -> arcface_w600k_r50), if any."""
    name = path.name
    for spec in build_catalog().values():
        if name == spec.filename or any(PurePosixPath(alias).name == name for alias in spec.aliases):
            return spec
    return None


def resolve_model(
    name_or_path: str | os.PathLike[str],
    folders: Sequence[str | os.PathLike[str]] = (),
    *,
    download_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
    endpoint: str | None = None,
    token: str | None = None,
) -> ResolvedModel:
    """Find a model by catalog name or file path, downloading a catalog model when it is nowhere on disk.

    Args:
        name_or_path: a catalog name (``arcface_w600k_r50``) or a path to an ``.onnx`` file.
        folders: model folders to search, in order (ComfyUI's ``models/face_identity``,
            ``models/insightface``, ...). A relative path is also tried inside each folder.
        download_dir: where a download goes; default: the first folder, else ``default_model_dir()``.
        allow_download: False never touches the network.
        endpoint: Hugging Face endpoint; default ``$HF_ENDPOINT`` or https://huggingface.co.
        token: Hugging Face token; default ``$HF_TOKEN`` / the stored login.

    Raises:
        ModelFileError: not a catalog name and no such file.
        ModelNotAvailableError: a catalog model that is not on disk and cannot be downloaded.
        ModelIntegrityError: the download does not match its published hash (the file was deleted).
    """
    search = [Path(folder) for folder in folders]
    text = os.fspath(name_or_path)
    catalog = build_catalog()
    spec = catalog.get(text)
    if spec is None:
        explicit = Path(text).expanduser()
        if explicit.is_file():
            return ResolvedModel(explicit, spec_for_file(explicit))
        for folder in search:
            if (folder / text).is_file():
                return ResolvedModel(folder / text, spec_for_file(folder / text))
        raise ModelFileError(
            f"model {text!r} is neither a file nor a catalog name. Give the path of an .onnx file, "
            f"or one of: {', '.join(sorted(catalog))}" + (f" (searched {', '.join(str(f) for f in search)})" if search else "")
        )
    target_dir = Path(download_dir) if download_dir is not None else (search[0] if search else default_model_dir())
    local = find_local_copy(spec, [*search, target_dir, default_model_dir()])
    if local is not None:
        return ResolvedModel(local, spec)
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or HF_ENDPOINT_DEFAULT
    if not allow_download or is_offline():
        reason = "offline mode (HF_HUB_OFFLINE) is on" if is_offline() else "downloads are disabled"
        raise ModelNotAvailableError(
            f"model file {spec.filename} is not on disk and {reason}. Download {spec.url(endpoint)} "
            f"and put it in {target_dir} (or any model folder searched: "
            f"{', '.join(str(f) for f in search) or target_dir})."
        )
    return ResolvedModel(download_model(spec, target_dir, endpoint=endpoint, token=token), spec, downloaded=True)


def download_model(spec: ModelSpec, target_dir: Path, *, endpoint: str | None = None, token: str | None = None) -> Path:
    """Download ``spec`` into ``target_dir`` and verify it; returns the verified file.

    The hash sidecar is fetched first, then the model. ``huggingface_hub`` writes into a
    ``.incomplete`` file under ``target_dir/.cache`` and moves it into place only when complete,
    so an interrupted transfer never leaves a file where it would be used.

    Raises:
        ModelNotAvailableError: the transfer failed (network, 404, interrupted).
        ModelIntegrityError: CRC32 mismatch; the downloaded file was deleted.
    """
    from huggingface_hub import hf_hub_download

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or HF_ENDPOINT_DEFAULT
    target_dir.mkdir(parents=True, exist_ok=True)

    def fetch(filename: str) -> Path:
        try:
            return Path(
                hf_hub_download(
                    repo_id=spec.repo_id,
                    filename=filename,
                    revision=HF_REVISION,
                    local_dir=target_dir,
                    endpoint=endpoint,
                    token=token,
                )
            )
        except Exception as error:  # huggingface_hub raises many unrelated types (httpx, OSError, HfHubHTTPError)
            raise ModelNotAvailableError(
                f"could not download {spec.url(endpoint, filename)} into {target_dir}: {error}. "
                f"Check the network (or HF_ENDPOINT / HF_TOKEN), or download the file by hand and put it in "
                f"{target_dir}."
            ) from error

    expected_crc = None
    if spec.hash_filename:
        hash_path = fetch(spec.hash_filename)
        expected_crc = hash_path.read_text(encoding="ascii", errors="replace").strip().lower()
        if len(expected_crc) != 8 or any(c not in "0123456789abcdef" for c in expected_crc):
            hash_path.unlink(missing_ok=True)
            raise ModelIntegrityError(
                f"the hash file {spec.url(endpoint, spec.hash_filename)} does not hold an 8-digit CRC32 "
                f"(got {expected_crc[:40]!r}); it was deleted. Try again later or download the model by hand."
            )
    logger.info("downloading %s into %s", spec.url(endpoint), target_dir)
    model_path = fetch(spec.filename)
    if expected_crc is not None:
        actual = file_crc32(model_path)
        if actual != expected_crc:
            model_path.unlink(missing_ok=True)
            raise ModelIntegrityError(
                f"downloaded {model_path.name} is corrupt: CRC32 expected {expected_crc}, got {actual}. "
                f"The bad file was deleted; run again to download it anew."
            )
    logger.info("verified %s (%s)", model_path, "CRC32" if expected_crc is not None else "no hash published")
    return model_path
