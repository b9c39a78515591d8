"""insightface model packs (``buffalo_l``, ``antelopev2``) found where users and other packs keep them.

- ``buffalo_l`` = ``det_10g.onnx`` (SCRFD-10GF, 5 keypoints) + ``w600k_r50.onnx`` (ArcFace R50, WebFace600K:
  ``arcface_w600k_r50``, the space IP-Adapter FaceID was trained on).
- ``antelopev2`` = ``scrfd_10g_bnkps.onnx`` (SCRFD-10GF) + ``glintr100.onnx`` (ArcFace R100, Glint360K:
  ``arcface_glintr100``, what InstantID, PuLID, WithAnyone and EcomID read as the raw ``embedding``).

Where: ``<root>/models/<name>/``, or ``<root>/models/<name>/<name>/`` (a zip unpacked one level too deep), or
``name`` itself when it is a folder. Files are routed as insightface routes them (sorted, first per task wins);
insightface's landmark and gender/age models are skipped. A pack folder that is nowhere on disk: buffalo_l's two
models come from our verified downloader (catalog ``retinaface_10g``, ``arcface_w600k_r50``); antelopev2's from
``arcface_glintr100`` (SHA-256-checked) and ``retinaface_10g`` (det_10g, the same SCRFD-10GF detector, in place of
``scrfd_10g_bnkps.onnx``, for which we know no verified source).

A file under an expected name that is not the original weights (a stand-in, Arc2Face's own R100 as
``glintr100.onnx``) is used, as insightface uses it, with a warning; its embeddings are then tagged with a
content id (``<stem>@<crc32>``), never with the original's space (``arcface_glintr100`` is granted by the
catalog's SHA-256, ``arcface_w600k_r50`` by its sidecar or graph facts).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .detect import load_detector
from .embed import load_recognizer
from .errors import ModelMismatchError, ModelNotAvailableError
from .insightface_app import DetectionModel, RecognitionModel
from .integrity import file_sha256

logger = logging.getLogger(__name__)

INSIGHTFACE_ROOT_DEFAULT = "~/.insightface"


@dataclass(frozen=True)
class PackFile:
    """One model file of a pack: its file name, insightface task, and what stands in for it when missing.

    - ``download``: the catalog model downloaded (verified) when the pack folder is nowhere on disk.
    - ``sha256``: the original's SHA-256 where our catalog does not check the file itself (a warning when it
      differs); the value is the one published beside a public copy of the pack (cited in docs/faceid.md).
    - ``space``: the embedding space granted when ``sha256`` matches.
    """

    filename: str
    task: str
    download: str | None = None
    sha256: str | None = None
    space: str | None = None


PACKS: dict[str, tuple[PackFile, ...]] = {
    "buffalo_l": (
        PackFile("det_10g.onnx", "detection", download="retinaface_10g"),
        PackFile("w600k_r50.onnx", "recognition", download="arcface_w600k_r50"),
    ),
    "antelopev2": (
        PackFile(
            "scrfd_10g_bnkps.onnx",
            "detection",
            download="retinaface_10g",  # det_10g: the same SCRFD-10GF detector; no verified scrfd_10g_bnkps source yet
            sha256="5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
        ),
        PackFile("glintr100.onnx", "recognition", download="arcface_glintr100"),  # checked by the catalog's SHA-256
    ),
}
KNOWN_TASKS: dict[str, str | None] = {
    "det_10g.onnx": "detection",
    "scrfd_10g_bnkps.onnx": "detection",
    "det_2.5g.onnx": "detection",
    "det_500m.onnx": "detection",
    "retinaface_10g.onnx": "detection",
    "w600k_r50.onnx": "recognition",
    "w600k_mbf.onnx": "recognition",
    "glintr100.onnx": "recognition",
    "arcface_w600k_r50.onnx": "recognition",
    "1k3d68.onnx": None,
    "2d106det.onnx": None,
    "genderage.onnx": None,
}
"""Task of the file names insightface packs ship; ``None``: a task we do not provide (skipped). Other names are probed."""


def pack_folder(name: str, root: str | os.PathLike[str] = INSIGHTFACE_ROOT_DEFAULT) -> Path | None:
    """The folder holding pack ``name``'s ``.onnx`` files, or ``None``.

    Tried in order: ``name`` as a folder path, ``<root>/models/<name>``, ``<root>/models/<name>/<name>``.
    """
    direct = Path(os.fspath(name)).expanduser()
    base = Path(os.fspath(root)).expanduser() / "models" / str(name)
    for candidate in (direct, base, base / str(name)):
        if candidate.is_dir() and any(candidate.glob("*.onnx")):
            if candidate == base / str(name):
                logger.info("insightface pack %s found one level too deep, in %s; using it", name, candidate)
            return candidate
    return None


def _expected(name: str, filename: str) -> PackFile | None:
    for entry in PACKS.get(name, ()):
        if entry.filename == filename:
            return entry
    for entries in PACKS.values():
        for entry in entries:
            if entry.filename == filename:
                return entry
    return None


def pack_file_space(path: Path, entry: PackFile | None) -> str | None:
    """The original's space when the file is the original (by SHA-256); else ``None`` (content id), with a warning."""
    if entry is None or entry.sha256 is None:
        return None
    if file_sha256(path) == entry.sha256:
        return entry.space
    logger.warning(
        "%s is not the original %s (its SHA-256 differs); using it as insightface would, but its results are not the "
        "original model's%s",
        path,
        entry.filename,
        "; its embeddings are tagged with a content id, not " + entry.space if entry.space else "",
    )
    return None


def open_model(path: Path, task: str | None, providers: str | Sequence[str], pack: str = "") -> Any:
    """A ``DetectionModel`` or ``RecognitionModel`` for one file; ``task`` ``None`` probes (detector first).

    Raises:
        ModelMismatchError: neither a 5-keypoint detector nor a recognizer.
    """
    entry = _expected(pack, path.name)
    if task in (None, "detection"):
        try:
            detector = load_detector(path, providers=providers, allow_download=False)
        except ModelMismatchError:
            if task == "detection":
                raise
        else:
            pack_file_space(path, entry)
            return DetectionModel(detector)
    space = pack_file_space(path, entry)
    return RecognitionModel(load_recognizer(path, providers=providers, allow_download=False, model_id=space))


def load_pack(
    name: str,
    root: str | os.PathLike[str],
    allowed_modules: Sequence[str] | None,
    providers: str | Sequence[str],
) -> dict[str, Any]:
    """insightface's ``FaceAnalysis`` model loading: ``{"detection": DetectionModel, "recognition": RecognitionModel}``.

    Raises:
        ModelNotAvailableError: no such pack on disk, and no verified download for it.
        ModelMismatchError: the folder holds no detector (insightface asserts the same).
    """
    folder = pack_folder(name, root)
    if folder is None:
        return _download_pack(name, root, allowed_modules, providers)
    models: dict[str, Any] = {}
    for path in sorted(folder.glob("*.onnx")):
        task = KNOWN_TASKS.get(path.name, "probe")
        if task is None or (allowed_modules is not None and task != "probe" and task not in allowed_modules):
            logger.debug("insightface pack %s: %s skipped (task %s not provided or not asked for)", name, path.name, task)
            continue
        if task in models:
            continue
        try:
            model = open_model(path, None if task == "probe" else task, providers, str(name))
        except ModelMismatchError as error:
            logger.info("insightface pack %s: %s is neither a detector nor a recognizer, skipped (%s)", name, path.name, error)
            continue
        if model.taskname in models or (allowed_modules is not None and model.taskname not in allowed_modules):
            continue
        models[model.taskname] = model
    if "detection" not in models:
        raise ModelMismatchError(
            f"insightface pack {name}: {folder} holds no face detector with 5 keypoints. Put {_file_list(name)} there."
        )
    return models


def _file_list(name: str) -> str:
    entries = PACKS.get(name)
    return " and ".join(entry.filename for entry in entries) if entries else "a detector (e.g. det_10g.onnx) and a recognizer"


def _download_pack(
    name: str, root: str | os.PathLike[str], allowed_modules: Sequence[str] | None, providers: str | Sequence[str]
) -> dict[str, Any]:
    """The pack's catalog models through our verified downloader (into ``<root>/models/<name>``), or
    ``ModelNotAvailableError`` naming the folder and the files."""
    target = Path(os.fspath(root)).expanduser() / "models" / str(name)
    entries = PACKS.get(name, ())
    if not entries:
        raise ModelNotAvailableError(
            f"insightface model pack {name!r} is not on disk and face-identity knows no verified download for it. Put "
            f"{_file_list(name)} in {target} (ComfyUI: models/insightface/models/{name}/)."
        )
    logger.info("insightface pack %s is not in %s; using face-identity's verified downloads instead", name, target)
    models: dict[str, Any] = {}
    for entry in entries:
        if entry.download is None or (allowed_modules is not None and entry.task not in allowed_modules):
            continue
        if entry.task == "detection":
            models["detection"] = DetectionModel(load_detector(entry.download, [target], providers=providers))
        else:
            models["recognition"] = RecognitionModel(load_recognizer(entry.download, [target], providers=providers))
    return models
