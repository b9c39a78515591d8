"""How a detector runs: ``DetectionSettings`` and the retry policy every detector shares.

When nothing is found at the first fit size, a detector retries at smaller fit sizes (big
close-up faces), then once on a black-padded copy (a face filling a tight crop gets context).
``FaceDetector`` (onnxruntime) and ``TorchFaceDetector`` (torch device) both follow
``retry_fit_sizes`` and ``pad_retry_margin``, so they try the same sizes in the same order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgumentError
from ..validate import check_integer, check_number, is_empty_image

logger = logging.getLogger(__name__)

RETRY_SIZE_STEP = 64
"""When nothing is found, retry with the fit size shrunk in steps of 64 px (ComfyUI packs' 640 -> 320 rule)."""
RETRY_MIN_SIZE = 320
PAD_RETRY_FRACTION = 0.5
"""Last retry: pad every side by half the longer image side, so a face filling a tight crop gets context."""
MAX_DET_SIZE = 4096
"""Largest detector fit size side (px): 4096 x 4096 is 16x the usual 640 x 640 input and already needs
gigabytes for one SCRFD run; beyond it the letterbox and anchors only exhaust memory."""
DEFAULT_FIT_SIZE = (640, 640)
"""Fit size of a dynamic-size model when the settings name none."""


@dataclass(frozen=True)
class DetectionSettings:
    """How to run a detector.

    - ``det_size``: ``(width, height)`` the image is letterboxed into (multiples of 32); ``None``
      uses the model's fixed input size, or 640 x 640 for dynamic-size models.
    - ``score_threshold`` 0.5 and ``nms_threshold`` 0.4 are insightface's defaults.
    - ``retry_smaller``: when nothing is found, try again at smaller fits down to 320.
    - ``pad_retry``: when still nothing, try once more on a black-padded copy.
    """

    det_size: tuple[int, int] | None = None
    score_threshold: float = 0.5
    nms_threshold: float = 0.4
    retry_smaller: bool = True
    pad_retry: bool = True

    def __post_init__(self) -> None:
        if self.det_size is not None:
            if len(self.det_size) != 2:
                raise InvalidArgumentError(f"det size must be a (width, height) pair, got {self.det_size!r}")
            width, height = (check_integer(side, "det size", minimum=32, maximum=MAX_DET_SIZE) for side in self.det_size)
            if width % 32 or height % 32:
                raise InvalidArgumentError(f"det size must be multiples of 32 (32..{MAX_DET_SIZE}), got {self.det_size}")
            object.__setattr__(self, "det_size", (width, height))
        object.__setattr__(
            self, "score_threshold", check_number(self.score_threshold, "score threshold", minimum=0.0, maximum=1.0)
        )
        object.__setattr__(self, "nms_threshold", check_number(self.nms_threshold, "NMS threshold", minimum=0.0, maximum=1.0))


def retry_fit_sizes(settings: DetectionSettings, fixed_input: tuple[int, int] | None) -> list[tuple[int, int]]:
    """The ``(width, height)`` fit sizes to try in order until faces are found; the first is also the padded retry's.

    The first is ``settings.det_size``, else the model's fixed input size, else 640 x 640, never
    larger than a fixed input; with ``retry_smaller`` it shrinks by 64 px per try down to 320.
    """
    base = settings.det_size or fixed_input or DEFAULT_FIT_SIZE
    if fixed_input is not None:
        base = (min(base[0], fixed_input[0]), min(base[1], fixed_input[1]))
    sizes = [base]
    if settings.retry_smaller:
        width, height = base
        while min(width, height) - RETRY_SIZE_STEP >= RETRY_MIN_SIZE:
            width, height = width - RETRY_SIZE_STEP, height - RETRY_SIZE_STEP
            sizes.append((width, height))
    return sizes


def pad_retry_margin(height: int, width: int) -> int:
    """Black border (px, every side) of the padded retry of a ``height`` x ``width`` image: half its longer side."""
    return int(round(max(height, width) * PAD_RETRY_FRACTION))


def skip_empty(image: Any, index: int) -> bool:
    """In a batch of separate images, an empty one (height or width 0) has no faces: warn, naming it, and skip it."""
    if not is_empty_image(image):
        return False
    logger.warning(
        "image %d of the batch is empty (shape %s); it has no faces, the other images go on", index, tuple(image.shape)
    )
    return True
