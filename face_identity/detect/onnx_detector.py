"""The onnxruntime face detector: SCRFD / RetinaFace-10g and YOLOFace ONNX models -> ``Face`` records with 5 landmarks.

An image with no face yields an empty list, never an exception. When nothing is found the detector
retries at smaller det sizes (big close-up faces) and then on a padded copy (tight face crops), as
``settings.retry_fit_sizes`` and ``settings.pad_retry_margin`` say.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidImageError, ModelMismatchError, ModelOutputError
from ..runner import ModelRunner
from ..runtime import ModelSession
from ..types import Face, RGBImage
from ..validate import check_not_empty
from .postprocess import faces_from_detections, image_blob, letterbox, nms
from .scrfd import decode_scrfd, layout_for_outputs
from .settings import DetectionSettings, pad_retry_margin, retry_fit_sizes, skip_empty
from .yoloface import decode_yoloface

logger = logging.getLogger(__name__)

_FAMILY_NORMALISATION = {"scrfd": (127.5, 128.0), "yoloface": (0.0, 255.0)}


class FaceDetector:
    """A loaded face detector run by onnxruntime (``backend``, a ``runner.ModelRunner``). Thread-compatible.

    Satisfies ``protocols.Detector``. Its ``model`` may be a ``runtime.graph_session`` (no onnxruntime)
    when it only carries a ``TorchFaceDetector``'s settings and decoding facts.
    """

    def __init__(
        self,
        model: ModelSession,
        family: str,
        name: str,
        input_mean: float | None = None,
        input_std: float | None = None,
        settings: DetectionSettings | None = None,
    ) -> None:
        if family not in _FAMILY_NORMALISATION:
            raise ModelMismatchError(f"unknown detector family {family!r}")
        if family == "scrfd" and not layout_for_outputs(len(model.outputs))[2]:
            raise ModelMismatchError(
                f"{model.path.name} detects boxes without landmarks; alignment needs 5 landmarks. "
                "Use an SCRFD *_bnkps model (det_10g, scrfd_2.5g, det_500m)."
            )
        default_mean, default_std = _FAMILY_NORMALISATION[family]
        self.model = model
        self.backend = ModelRunner(model)
        self.family = family
        self.name = name
        self.input_mean = default_mean if input_mean is None else input_mean
        self.input_std = default_std if input_std is None else input_std
        self.settings = settings or DetectionSettings()
        shape = model.inputs[0].shape
        height, width = shape[2], shape[3]
        self.fixed_input: tuple[int, int] | None = (
            (int(width), int(height)) if isinstance(width, int) and isinstance(height, int) and width > 0 else None
        )
        self._input_name = model.inputs[0].name
        self._input_dtype = np.float16 if model.inputs[0].is_float16 else np.float32

    def __repr__(self) -> str:
        return f"FaceDetector({self.name!r}, family={self.family}, providers={self.model.describe_providers()})"

    def describe(self) -> str:
        """What runs it (``ModelRunner.describe``)."""
        return self.backend.describe()

    def with_settings(self, **changes: object) -> FaceDetector:
        """The same session with some settings changed (e.g. ``score_threshold=0.4``)."""
        return FaceDetector(
            self.model,
            self.family,
            self.name,
            self.input_mean,
            self.input_std,
            replace(self.settings, **changes),  # type: ignore[arg-type]
        )

    def _run_once(
        self, image: RGBImage, fit_size: tuple[int, int], score_threshold: float
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        canvas_size = self.fixed_input or fit_size
        canvas, scale = letterbox(image, fit_size, canvas_size)
        blob = image_blob(canvas, self.input_mean, self.input_std, self._input_dtype)
        outputs = self.backend.run_feeds({self._input_name: blob}, ())
        if self.family == "scrfd":
            try:
                boxes, scores, landmarks = decode_scrfd(outputs, canvas_size[1], canvas_size[0], score_threshold)
            except ModelOutputError as error:
                raise ModelOutputError(f"{self.model.path.name}: {error}") from error
        else:
            boxes, scores, landmarks = decode_yoloface(outputs, score_threshold)
        assert landmarks is not None  # landmark-less layouts are refused in __init__
        keep = nms(boxes, scores, self.settings.nms_threshold)
        return boxes[keep] / scale, scores[keep], landmarks[keep] / scale

    def detect(self, image: RGBImage, image_index: int = 0, score_threshold: float | None = None) -> list[Face]:
        """Faces in one image, highest score first.

        Args:
            image: ``[H, W, 3]`` uint8 RGB.
            image_index: recorded in each ``Face`` (position in the caller's batch).
            score_threshold: overrides the settings' threshold for this call.

        Returns:
            A list of ``Face`` (possibly empty), boxes and landmarks in image pixels.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InvalidImageError(f"detect() takes an [H, W, 3] uint8 RGB image, got {image.shape} {image.dtype}")
        check_not_empty(image, "detect()")
        threshold = self.settings.score_threshold if score_threshold is None else score_threshold
        fit_sizes = retry_fit_sizes(self.settings, self.fixed_input)
        for fit_size in fit_sizes:
            boxes, scores, landmarks = self._run_once(image, fit_size, threshold)
            if scores.size:
                return faces_from_detections(boxes, scores, landmarks, image_index)
        if self.settings.pad_retry:
            pad = pad_retry_margin(image.shape[0], image.shape[1])
            padded = np.zeros((image.shape[0] + 2 * pad, image.shape[1] + 2 * pad, 3), dtype=np.uint8)
            padded[pad : pad + image.shape[0], pad : pad + image.shape[1]] = image
            boxes, scores, landmarks = self._run_once(padded, fit_sizes[0], threshold)
            if scores.size:
                logger.debug("found %d face(s) in image %d only after padding", scores.size, image_index)
                return faces_from_detections(boxes - pad, scores, landmarks - pad, image_index)
        return []

    def detect_batch(
        self,
        images: Sequence[RGBImage],
        score_threshold: float | None = None,
        on_image_done: Callable[[int], None] | None = None,
    ) -> list[list[Face]]:
        """``detect`` for each image; ``result[i]`` holds image ``i``'s faces (``image_index = i``); an empty image has none."""
        results = []
        for index, image in enumerate(images):
            results.append([] if skip_empty(image, index) else self.detect(image, index, score_threshold))
            if on_image_done is not None:
                on_image_done(index)
        return results
