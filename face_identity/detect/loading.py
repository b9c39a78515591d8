"""``load_face_detector``: a face detector run by onnxruntime, or by torch when onnxruntime is not installed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..errors import ProviderUnavailableError
from ..runtime import ONNXRUNTIME_INSTALL_HINT, onnxruntime_available
from .onnx_detector import FaceDetector, load_detector
from .settings import DetectionSettings
from .torch_detector import TorchFaceDetector, load_torch_detector


def load_face_detector(
    name_or_path: str | os.PathLike[str],
    folders: Sequence[str | os.PathLike[str]] = (),
    *,
    providers: str | Sequence[str] = "auto",
    strict: bool = False,
    settings: DetectionSettings | None = None,
    allow_download: bool = True,
    device_id: int = 0,
    device: Any = None,
) -> FaceDetector | TorchFaceDetector:
    """Find (or download), open and check a face detector, whether or not onnxruntime is installed (the nodes use this).

    Args:
        name_or_path: catalog name (``retinaface_10g``, ``scrfd_2.5g``, ``yoloface_8n``) or an ``.onnx`` path.
        folders: model folders to search before downloading.
        providers: onnxruntime provider choice (``auto``, ``cuda``, ``cpu``, ...).
        strict: raise when a requested GPU provider is not active.
        settings: detection settings (size, thresholds).
        device_id: GPU index for GPU providers.
        device: torch device of the torch detector used when onnxruntime is not installed.

    Returns:
        a ``FaceDetector`` (onnxruntime); without onnxruntime installed, an SCRFD model converted to
        torch on ``device`` (``TorchFaceDetector``, same results within float rounding).

    Raises:
        ModelMismatchError: the file is not a detector with 5 landmarks.
        ProviderUnavailableError: onnxruntime is not installed and the model is not an SCRFD
            (the message says how to install it).
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ModelConversionError.
    """
    without = not onnxruntime_available()
    detector = load_detector(
        name_or_path,
        folders,
        providers=providers,
        strict=strict,
        settings=settings,
        allow_download=allow_download,
        device_id=device_id,
        without_onnxruntime=without,
    )
    if not without:
        return detector
    if detector.family != "scrfd":
        raise ProviderUnavailableError(
            f"{detector.model.path.name} ({detector.family}) needs onnxruntime, which is not installed: "
            f"{ONNXRUNTIME_INSTALL_HINT}. Without it, use an SCRFD detector (retinaface_10g, scrfd_2.5g), which runs with torch."
        )
    return load_torch_detector(detector, device)
