"""Face detection: SCRFD / RetinaFace-10g and YOLOFace models -> ``Face`` records with 5 landmarks.

- ``onnx_detector``: ``FaceDetector`` (onnxruntime, any model family).
- ``loading``: ``load_face_detector`` (onnxruntime, or the torch detector for backend torch/auto or when
  onnxruntime is not installed) and ``load_detector`` (onnxruntime only).
- ``torch_detector``: ``TorchFaceDetector``, an SCRFD converted to torch and run on a torch device.
- ``settings``: ``DetectionSettings`` and the retry policy both detectors follow.
- ``postprocess``, ``scrfd``, ``yoloface``: letterbox, NMS and the decoders of each output layout.

An image with no face yields an empty list, never an exception.
"""

from __future__ import annotations

from .loading import load_detector, load_face_detector
from .onnx_detector import FaceDetector
from .postprocess import faces_from_detections
from .settings import PAD_RETRY_FRACTION, RETRY_MIN_SIZE, RETRY_SIZE_STEP, DetectionSettings, pad_retry_margin, retry_fit_sizes
from .torch_detector import TorchFaceDetector, load_torch_detector

__all__ = [
    "PAD_RETRY_FRACTION",
    "RETRY_MIN_SIZE",
    "RETRY_SIZE_STEP",
    "DetectionSettings",
    "FaceDetector",
    "TorchFaceDetector",
    "faces_from_detections",
    "load_detector",
    "load_face_detector",
    "load_torch_detector",
    "pad_retry_margin",
    "retry_fit_sizes",
]
