"""The contents of each module face-identity's ``insightface`` finder serves (``insightface_compat.PROVIDED_MODULES``).

- ``insightface``: ``__version__``, and ``app``, ``model_zoo``, ``utils`` (imported on first attribute access);
- ``insightface.app`` (and ``.face_analysis``): ``FaceAnalysis``; ``insightface.app.common``: ``Face``;
- ``insightface.model_zoo``: ``get_model(path, providers=...)`` (a detection or recognition model object);
- ``insightface.utils.face_align``: ``norm_crop``, ``estimate_norm`` (112, 224, 256, 336...);
- ``insightface.utils.download``: ``download_file``; ``insightface.utils.storage``: ``BASE_REPO_URL``,
  ``download``, ``ensure_available``. A download asked through them is refused with a message that says where
  to put the files (face-identity downloads only what it can verify).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from .align import estimate_norm, norm_crop
from .errors import ModelMismatchError, ModelNotAvailableError
from .insightface_analysis import FaceAnalysis
from .insightface_app import Face
from .insightface_packs import KNOWN_TASKS, open_model

VERSION = "0.7.3"
"""The insightface release whose behaviour this module follows (``det_model.input_size`` honoured after ``prepare``)."""
BASE_REPO_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7"
"""insightface 0.7.x's ``utils.storage.BASE_REPO_URL`` (InfiniteYou imports it at module level)."""


def download_file(url: str, path: str | None = None, overwrite: bool = False, sha1_hash: str | None = None) -> str:
    """insightface's ``download_file``: returns ``path`` when the file is already there, else refuses to download.

    Raises:
        ModelNotAvailableError: names the file, where it comes from and where to put it.
    """
    target = path if path is not None else url.rstrip("/").split("/")[-1]
    if os.path.isdir(target):
        target = os.path.join(target, url.rstrip("/").split("/")[-1])
    if os.path.isfile(target) and not overwrite:
        return target
    name = Path(url.rstrip("/").split("/")[-1]).stem
    folder = f"models/insightface/models/{name}/" if name in ("antelopev2", "buffalo_l") else os.path.dirname(target) or "."
    raise ModelNotAvailableError(
        f"face-identity's insightface module does not download {url} (it cannot verify it). Download it yourself and put "
        f"its files in {folder} (for a model pack: the .onnx files directly in that folder, not one level deeper); "
        f"or install the insightface package."
    )


def ensure_available(sub_dir: str, name: str, root: str = "~/.insightface") -> str:
    """insightface's ``storage.ensure_available``: ``<root>/<sub_dir>/<name>`` when it exists, else a clear error."""
    folder = Path(os.path.expanduser(root)) / sub_dir / name
    if folder.exists():
        return str(folder)
    return download_file(f"{BASE_REPO_URL}/{name}.zip", str(folder))


def download(sub_dir: str, name: str, force: bool = False, root: str = "~/.insightface") -> str:
    """insightface's ``storage.download`` (``ensure_available``; ``force`` cannot re-download here)."""
    return ensure_available(sub_dir, name, root)


def get_model(name: str, **kwargs: Any) -> Any:
    """insightface's ``model_zoo.get_model``: a ``DetectionModel`` or ``RecognitionModel`` for an ``.onnx`` path.

    Raises:
        ModelNotAvailableError: no such file.
        ModelMismatchError: another kind of model (e.g. ``inswapper_128.onnx``); the message says what to use instead.
    """
    path = Path(os.path.expanduser(name))
    if not path.is_file():
        raise ModelNotAvailableError(f"model_zoo.get_model: {path} is not a file; give the path of an .onnx model")
    task = KNOWN_TASKS.get(path.name)
    try:
        return open_model(path, task, kwargs.get("providers") or "auto")
    except ModelMismatchError as error:
        raise ModelMismatchError(
            f"model_zoo.get_model: {path.name} is neither a 5-keypoint face detector nor a face recognizer, the only "
            "kinds face-identity's insightface module runs (no swapper, landmark or gender/age model). Use "
            f"face-identity's own nodes for swapping, or install the insightface package. ({error})"
        ) from error


def _lazy_submodules(package: str, names: tuple[str, ...]) -> Callable[[str], ModuleType]:
    def attribute(name: str) -> ModuleType:
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return attribute


CONTENTS: dict[str, dict[str, Any]] = {
    "insightface": {"__version__": VERSION},
    "insightface.app": {"FaceAnalysis": FaceAnalysis, "Face": Face},
    "insightface.app.face_analysis": {"FaceAnalysis": FaceAnalysis, "Face": Face},
    "insightface.app.common": {"Face": Face},
    "insightface.model_zoo": {"get_model": get_model},
    "insightface.utils": {"ensure_available": ensure_available, "download": download},
    "insightface.utils.face_align": {"norm_crop": norm_crop, "estimate_norm": estimate_norm},
    "insightface.utils.download": {"download_file": download_file},
    "insightface.utils.storage": {
        "BASE_REPO_URL": BASE_REPO_URL,
        "download": download,
        "ensure_available": ensure_available,
        "download_file": download_file,
    },
}
SUBMODULES: dict[str, tuple[str, ...]] = {
    "insightface": ("app", "model_zoo", "utils"),
    "insightface.app": ("common", "face_analysis"),
    "insightface.utils": ("face_align", "download", "storage"),
}


def fill(module: ModuleType) -> None:
    """Give one served module its names (``CONTENTS``) and its submodules on attribute access."""
    for key, value in CONTENTS.get(module.__name__, {}).items():
        setattr(module, key, value)
    if module.__name__ in SUBMODULES:
        module.__getattr__ = _lazy_submodules(module.__name__, SUBMODULES[module.__name__])  # type: ignore[method-assign]
