"""Find a model file: an explicit path, a copy in the caller's model folders, or a verified download.

Resolution order for a catalog name: the caller's folders (file name, then the paths under which
insightface/ReActor users already keep the same file), the default download folder, then a download
from Hugging Face with ``huggingface_hub`` (honours ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, ``HF_TOKEN``;
shows a progress bar). A download is checked against FaceFusion's CRC32 sidecar; a mismatch deletes
the new file and raises. A catalog model found on disk beside its ``.hash`` is checked against it on
every load (``integrity.check_sidecar``, cached by size and times). Offline, one TCP probe fails the
download at once with one message.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .catalog import HF_ENDPOINT_DEFAULT, HF_REVISION, NEXT_COMMANDS, ModelSpec, build_catalog, names_by_role
from .errors import ModelFileError, ModelIntegrityError, ModelNotAvailableError
from .integrity import cached_crc32, check_sidecar, face_identity_home, file_sha256, read_sidecar

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 8 * 1024 * 1024
_TRUE_WORDS = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model file is, and its catalog entry when it is a known model.

    ``verified``: the file's CRC32 matched the catalog's published ``.hash`` (just downloaded, or
    checked against the sidecar beside it on this load).
    """

    path: Path
    spec: ModelSpec | None
    downloaded: bool = False
    verified: bool = False


def default_model_dir() -> Path:
    """Folder for downloads when the caller passes none: ``$FACE_IDENTITY_HOME/models`` or ``~/.cache/face_identity/models``."""
    return face_identity_home() / "models"


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, read at call time."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _TRUE_WORDS


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
        ModelNotAvailableError: a catalog model that is not on disk and cannot be downloaded (the
            message names the file, its URL, the folders searched and the ways out).
        ModelIntegrityError: the download does not match its published hash (the file was deleted),
            or a catalog model on disk no longer matches the ``.hash`` sidecar beside it (kept; the
            message says to delete it).
    """
    search = [Path(folder) for folder in folders]
    text = os.fspath(name_or_path)
    catalog = build_catalog()
    spec = catalog.get(text)
    if spec is None:
        explicit = Path(text).expanduser()
        candidates = [explicit, *(folder / text for folder in search)]
        for candidate in candidates:
            if candidate.is_file():
                return _checked(candidate, spec_for_file(candidate))
        if explicit.is_dir():
            raise ModelFileError(f"model {text!r} is a folder, not a model file. Give the path of an .onnx file in it.")
        raise ModelFileError(
            f"model {text!r} is neither a file nor a catalog name"
            + (f" (searched {', '.join(str(f) for f in search)})" if search else "")
            + f". Give the path of an .onnx file, or a catalog name; by role: {names_by_role()}. {NEXT_COMMANDS}"
        )
    target_dir = Path(download_dir) if download_dir is not None else (search[0] if search else default_model_dir())
    searched = list(dict.fromkeys([*search, target_dir, default_model_dir()]))
    local = find_local_copy(spec, searched)
    if local is not None:
        return _checked(local, spec)
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or HF_ENDPOINT_DEFAULT
    if not allow_download or is_offline():
        reason = "offline mode (HF_HUB_OFFLINE) is on" if is_offline() else "downloads are disabled"
        logger.info("%s is not in %s and %s", spec.filename, ", ".join(map(str, searched)), reason)
        raise not_available(spec, endpoint, reason, target_dir, searched)
    path = download_model(spec, target_dir, endpoint=endpoint, token=token, searched=searched)
    return ResolvedModel(path, spec, downloaded=True, verified=spec.hash_filename is not None or spec.sha256 is not None)


def _checked(path: Path, spec: ModelSpec | None) -> ResolvedModel:
    """A found file, checked against its ``.hash`` sidecar when it is a catalog model that has one."""
    check = check_sidecar(path, spec) if spec is not None else None
    if check is None and spec is not None and spec.sha256 is not None:
        digest = file_sha256(path)
        if digest != spec.sha256:
            spec = _published_as(path.name, digest) or spec
        matches = digest == spec.sha256
        logger.info("using %s (its SHA-256 %s %s's)", path, "matches" if matches else "differs from", spec.name)
        return ResolvedModel(path, spec, verified=matches)
    how = "its .hash sidecar matches" if check is not None else "no .hash sidecar to check" if spec is not None else "a file path"
    logger.info("using %s (%s)", path, how)
    return ResolvedModel(path, spec, verified=check is not None)


def _published_as(name: str, digest: str) -> ModelSpec | None:
    """The catalog model published under the file name ``name`` whose SHA-256 is ``digest``, if any.

    fal publishes AuraFace as ``glintr100.onnx`` (its model card unpacks it into ``models/auraface/``), the name of
    antelopev2's recognizer: such a file is AuraFace when its bytes are AuraFace's.
    """
    for spec in build_catalog().values():
        if spec.published_filename == name and spec.sha256 == digest:
            return spec
    return None


def not_available(
    spec: ModelSpec, endpoint: str, reason: str, target_dir: Path, searched: Sequence[Path] = ()
) -> ModelNotAvailableError:
    """The one error for a catalog model that is not on disk and cannot be downloaded now.

    It names the model file, its URL, the folders searched and the ways out: put the file in a
    searched folder, pass a local ``.onnx`` path, ``HF_HUB_OFFLINE`` / ``FACE_IDENTITY_HOME``.
    """
    folders = ", ".join(dict.fromkeys(str(folder) for folder in [*searched, target_dir]))
    renamed = f" as {spec.filename}" if spec.remote_filename else ""
    return ModelNotAvailableError(
        f"model file {spec.filename} is not on disk and {reason.rstrip('. ')}. Download {spec.url(endpoint)} and put it "
        f"in {target_dir}{renamed} (folders searched: {folders}), or in a folder you pass (CLI: --model-dir DIR; ComfyUI: "
        f"models/face_identity), or give the path of a local .onnx file instead of the name {spec.name}. "
        "Set HF_HUB_OFFLINE=1 to never try downloads; FACE_IDENTITY_HOME moves the default model folder."
    )


PROBE_TIMEOUT_S = 5.0
"""How long the reachability probe waits for a TCP connection to the endpoint (or its proxy)."""


def endpoint_unreachable(endpoint: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why ``endpoint`` cannot be reached right now (one TCP connect, through the configured proxy), or ``None``.

    Without this check ``huggingface_hub`` retries a dead connection five times with back-off
    (~24 s of warnings) before giving up.
    """
    parsed = urllib.parse.urlsplit(endpoint)
    host, scheme = parsed.hostname or "", parsed.scheme or "https"
    port = parsed.port or (443 if scheme == "https" else 80)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        default_port = 1080 if proxied.scheme.startswith("socks") else (443 if proxied.scheme == "https" else 80)
        host, port = proxied.hostname or host, proxied.port or default_port
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:
        return f"{host}:{port} cannot be reached ({error.strerror or error})"


def _idle_lock_files(target_dir: Path, filenames: Sequence[str]) -> Iterator[Path]:
    folder = target_dir / ".cache" / "huggingface" / "download"
    for filename in filenames:
        lock = folder / f"{filename}.lock"
        if lock.is_file():
            yield lock


def remove_idle_locks(target_dir: Path, filenames: Sequence[str]) -> None:
    """Delete ``huggingface_hub``'s ``<file>.lock`` files for ``filenames`` that no process holds.

    A lock held by another download is left alone; taking the lock first means no running
    download loses it (and ``huggingface_hub`` writes to a process-unique temporary file anyway).
    """
    from filelock import FileLock, Timeout

    for path in _idle_lock_files(target_dir, filenames):
        lock = FileLock(str(path), timeout=0)
        try:
            with lock:
                path.unlink(missing_ok=True)
        except (Timeout, OSError):  # held by another download, or a system that cannot delete an open file
            continue
        if path.exists():
            path.unlink(missing_ok=True)


@contextmanager
def _locks_cleaned(target_dir: Path, filenames: Sequence[str]) -> Iterator[None]:
    try:
        yield
    finally:
        try:
            remove_idle_locks(target_dir, filenames)
        except Exception as error:  # cleaning up must never hide the download's own outcome
            logger.debug("could not remove lock files in %s: %s", target_dir, error)


def download_model(
    spec: ModelSpec,
    target_dir: Path,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    searched: Sequence[Path] = (),
) -> Path:
    """Download ``spec`` into ``target_dir`` and verify it; returns the verified file.

    The endpoint is probed first (one TCP connect), so an offline machine fails at once with one
    message. The hash sidecar is fetched first, then the model. ``huggingface_hub`` writes into a
    temporary file under ``target_dir/.cache`` and moves it into place only when complete, so an
    interrupted transfer never leaves a file where it would be used; its ``.lock`` files are
    removed afterwards, whatever the outcome.

    Raises:
        ModelFileError: ``target_dir`` is a file, or cannot be created.
        ModelNotAvailableError: the endpoint is unreachable or the transfer failed (network, 404, interrupted).
        ModelIntegrityError: CRC32 mismatch; the downloaded file was deleted.
    """
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or HF_ENDPOINT_DEFAULT
    target_dir = Path(target_dir)
    if target_dir.exists() and not target_dir.is_dir():
        raise ModelFileError(f"download folder {target_dir} is a file, not a folder. Give a folder (e.g. --model-dir DIR).")
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelFileError(f"cannot create the download folder {target_dir} ({error}). Give a writable folder.") from error
    problem = endpoint_unreachable(endpoint)
    if problem is not None:
        raise not_available(spec, endpoint, f"the download server is unreachable: {problem}", target_dir, searched)
    filenames = [name for name in (spec.hash_filename, spec.filename) if name]
    with _locks_cleaned(target_dir, filenames):
        return _download_verified(spec, target_dir, endpoint, token, searched)


STAGING_PREFIX = ".download-"
"""A model published under another model's file name is downloaded into ``<folder>/.download-<name>/`` first."""


def _fetch_renamed(spec: ModelSpec, target_dir: Path, fetch: Callable[[str, Path], Path]) -> Path:
    """Download ``spec.remote_filename`` into a staging folder, then move it to ``target_dir/spec.filename``.

    AuraFace is published as ``glintr100.onnx``, which is also antelopev2's recognizer: downloading it straight
    into ``target_dir`` would overwrite that other model. The staging folder (with huggingface_hub's cache and
    lock files) is removed afterwards, whatever the outcome.
    """
    staging = target_dir / f"{STAGING_PREFIX}{spec.name}"
    try:
        fetched = fetch(spec.published_filename, staging)
        target = target_dir / spec.filename
        os.replace(fetched, target)  # same file system: atomic, so no half file ever has the catalog name
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download_verified(spec: ModelSpec, target_dir: Path, endpoint: str, token: str | None, searched: Sequence[Path]) -> Path:
    from huggingface_hub import hf_hub_download

    def fetch(filename: str, folder: Path = target_dir) -> Path:
        try:
            return Path(
                hf_hub_download(
                    repo_id=spec.repo_id,
                    filename=filename,
                    revision=HF_REVISION,
                    local_dir=folder,
                    endpoint=endpoint,
                    token=token,
                )
            )
        except Exception as error:  # huggingface_hub raises many unrelated types (httpx, OSError, HfHubHTTPError)
            detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300].rstrip(". ")
            raise not_available(
                spec, endpoint, f"the download of {spec.url(endpoint, filename)} failed ({detail})", target_dir, searched
            ) from error

    expected_crc = None
    if spec.hash_filename:
        hash_path = fetch(spec.hash_filename)
        try:
            expected_crc = read_sidecar(hash_path)
        except ModelIntegrityError as error:
            hash_path.unlink(missing_ok=True)
            raise ModelIntegrityError(
                f"the hash file {spec.url(endpoint, spec.hash_filename)} does not hold an 8-digit CRC32; it was "
                f"deleted. Try again later, or download {spec.url(endpoint)} by hand into {target_dir}."
            ) from error
    logger.info("downloading %s into %s", spec.url(endpoint), target_dir)
    model_path = fetch(spec.filename) if spec.remote_filename is None else _fetch_renamed(spec, target_dir, fetch)
    if spec.sha256 is not None and file_sha256(model_path) != spec.sha256:
        model_path.unlink(missing_ok=True)
        raise ModelIntegrityError(
            f"downloaded {model_path.name} is not the published model: its SHA-256 is not {spec.sha256}. "
            f"The file was deleted; run again, or put the original {spec.filename} in {target_dir} by hand."
        )
    if expected_crc is not None:
        actual = cached_crc32(model_path)
        if actual != expected_crc:
            model_path.unlink(missing_ok=True)
            raise ModelIntegrityError(
                f"downloaded {model_path.name} is corrupt: CRC32 expected {expected_crc}, got {actual}. "
                f"The bad file was deleted; run again to download it anew."
            )
    how = "CRC32" if expected_crc is not None else "SHA-256" if spec.sha256 is not None else "no hash published"
    logger.info("verified %s (%s)", model_path, how)
    return model_path
