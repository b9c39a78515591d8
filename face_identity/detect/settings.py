"""How a detector runs: ``DetectionSettings`` and the retry policy every detector shares.

When nothing is found at the first fit size, a detector retries at smaller fit sizes (big
close-up faces), then once on a black-padded copy (a face filling a tight crop gets context).
``FaceDetector`` (onnxruntime) and ``TorchFaceDetector`` (torch device) both follow
``retry_fit_sizes`` and ``pad_retry_margin``, so they try the same sizes in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgumentError

RETRY_SIZE_STEP = 64
"""When nothing is found, retry with the fit size shrunk in steps of 64 px (ComfyUI packs' 640 -> 320 rule)."""
RETRY_MIN_SIZE = 320
PAD_RETRY_FRACTION = 0.5
"""Last retry: pad every side by half the longer image side, so a face filling a tight crop gets context."""
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
            width, height = self.det_size
            if width < 32 or height < 32 or width % 32 or height % 32:
                raise InvalidArgumentError(f"det size must be multiples of 32 and >= 32, got {self.det_size}")
        if not 0.0 <= self.score_threshold <= 1.0 or not 0.0 <= self.nms_threshold <= 1.0:
            raise InvalidArgumentError("score and NMS thresholds must lie in 0..1")


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
