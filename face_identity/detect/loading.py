"""The detector loaders: ``load_face_detector`` (onnxruntime, or torch) and ``load_detector`` (onnxruntime only).

Both go through ``face_identity.runner``: ``open_model`` opens the file, ``runtime.require_kind`` checks it is
a detector, ``FaceDetector`` that it has landmarks, and ``torch_detector.torch_detector_for`` converts an
SCRFD when the options ask for torch (or onnxruntime is not installed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..download import resolve_model
from ..errors import ProviderUnavailableError
from ..runner import LoadKeywords, LoadOptions, load_options, open_model
from ..runtime import ONNXRUNTIME_INSTALL_HINT, onnxruntime_available, require_kind
from .onnx_detector import FaceDetector
from .settings import DetectionSettings
from .torch_detector import TorchFaceDetector, torch_detector_for

if TYPE_CHECKING:
    from typing_extensions import Unpack


def _open(
    name_or_path: str | os.PathLike[str],
    folders: Sequence[str | os.PathLike[str]],
    options: LoadOptions,
    settings: DetectionSettings | None,
) -> tuple[FaceDetector, str]:
    resolved = resolve_model(name_or_path, folders, allow_download=options.allow_download)
    model, backend = open_model(resolved.path, options)
    signature = require_kind(model, "detector")
    spec = resolved.spec if resolved.spec is not None and resolved.spec.role == "detector" else None
    detector = FaceDetector(
        model,
        signature.family or "scrfd",
        spec.name if spec else resolved.path.stem,
        spec.input_mean if spec else None,
        spec.input_std if spec else None,
        settings,
    )
    return detector, backend


def load_face_detector(
    name_or_path: str | os.PathLike[str],
    folders: Sequence[str | os.PathLike[str]] = (),
    options: LoadOptions | None = None,
    *,
    settings: DetectionSettings | None = None,
    **keywords: Unpack[LoadKeywords],
) -> FaceDetector | TorchFaceDetector:
    """Find (or download), open and check a face detector, whether or not onnxruntime is installed (the nodes use this).

    Args:
        name_or_path: catalog name (``retinaface_10g``, ``scrfd_2.5g``, ``yoloface_8n``) or an ``.onnx`` path.
        folders: model folders to search before downloading.
        options: how to find and run it (``runner.LoadOptions``; its fields may also be given as keywords):
            ``providers``, ``strict``, ``device_id`` for onnxruntime; ``backend`` (default ``onnxruntime``,
            which becomes ``torch`` when onnxruntime is not installed), ``device`` and ``dtype`` for torch.
        settings: detection settings (size, thresholds).

    Returns:
        a ``FaceDetector`` (onnxruntime), or an SCRFD model converted to torch on ``device``
        (``TorchFaceDetector``, same results within float rounding) for backend ``torch``, for ``auto`` on
        a GPU device, and without onnxruntime installed.

    Raises:
        ModelMismatchError: the file is not a detector with 5 landmarks.
        ProviderUnavailableError: onnxruntime is not installed and the model is not an SCRFD
            (the message says how to install it).
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ModelConversionError.
    """
    chosen = load_options(options, keywords)
    if chosen.backend == "onnxruntime" and not onnxruntime_available():
        chosen = replace(chosen, backend="torch")
    detector, backend = _open(name_or_path, folders, chosen, settings)
    if backend == "onnxruntime":
        return detector
    if not detector.model.has_session and detector.family != "scrfd":
        raise ProviderUnavailableError(
            f"{detector.model.path.name} ({detector.family}) needs onnxruntime, which is not installed: "
            f"{ONNXRUNTIME_INSTALL_HINT}. Without it, use an SCRFD detector (retinaface_10g, scrfd_2.5g), which runs with torch."
        )
    converted = torch_detector_for(detector, backend, chosen)
    if not isinstance(converted, TorchFaceDetector):
        return converted
    # The runner released the onnxruntime session once the conversion matched it: the detector keeps none either.
    model = converted.backend.model
    released = FaceDetector(model, detector.family, detector.name, detector.input_mean, detector.input_std, detector.settings)
    return TorchFaceDetector(released, converted.backend)


def load_detector(
    name_or_path: str | os.PathLike[str],
    folders: Sequence[str | os.PathLike[str]] = (),
    options: LoadOptions | None = None,
    *,
    settings: DetectionSettings | None = None,
    **keywords: Unpack[LoadKeywords],
) -> FaceDetector:
    """Find (or download), open and check a face detector run by onnxruntime (``load_face_detector`` also takes torch).

    Args: as ``load_face_detector``; the backend is always ``onnxruntime``.

    Raises:
        ModelMismatchError: the file is not a detector with 5 landmarks.
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ProviderUnavailableError.
    """
    chosen = replace(load_options(options, keywords), backend="onnxruntime")
    return _open(name_or_path, folders, chosen, settings)[0]
