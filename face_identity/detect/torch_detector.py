"""The torch face detector: a converted SCRFD on a torch device, with a ``FaceDetector``'s settings and retry policy.

Frames of the same size are detected in one batched call: letterbox and anchor decoding run on the
device, and only the few above-threshold candidates reach the host for NMS. Results match
``FaceDetector.detect`` within float rounding of the model outputs (same retries at smaller sizes
and on a padded copy: ``settings.retry_fit_sizes``, ``settings.pad_retry_margin``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidImageError, ModelConversionError
from ..images import as_rgb_uint8
from ..runner import LoadOptions, ModelRunner, Probe, load_runner
from ..types import Face, RGBImage
from ..validate import check_not_empty
from .onnx_detector import FaceDetector
from .postprocess import faces_from_detections, letterbox_size, nms
from .scrfd import layout_for_outputs
from .settings import DetectionSettings, pad_retry_margin, retry_fit_sizes, skip_empty

if TYPE_CHECKING:
    import torch

    from ..convert import ConvertedGraph


def letterbox_tensor(
    frames: torch.Tensor, fit_size: tuple[int, int], canvas_size: tuple[int, int], mean: float, std: float, dtype: Any
) -> tuple[torch.Tensor, float]:
    """Device letterbox: bilinear resize (as ``cv2.resize``), rounded like a uint8 canvas, top-left on black, normalised.

    Args:
        frames: ``[n, 3, H, W]`` float 0..255 (RGB).
        fit_size, canvas_size: ``(width, height)``.

    Returns:
        ``([n, 3, canvas_h, canvas_w] (x - mean) / std in dtype, scale)``.
    """
    import torch
    import torch.nn.functional as functional

    height, width = int(frames.shape[2]), int(frames.shape[3])
    new_height, new_width, scale = letterbox_size(height, width, fit_size)
    if (new_height, new_width) != (height, width):
        resized = functional.interpolate(frames, size=(new_height, new_width), mode="bilinear", align_corners=False)
    else:
        resized = frames
    resized = torch.clamp(torch.round(resized), 0.0, 255.0)
    canvas = frames.new_zeros((frames.shape[0], 3, canvas_size[1], canvas_size[0]))
    canvas[:, :, :new_height, :new_width] = resized
    return ((canvas - float(mean)) / float(std)).to(dtype), scale


@dataclass(frozen=True)
class _Candidates:
    """Above-threshold detections of n frames, on the host: frame of each row, boxes, scores, landmarks (canvas px)."""

    frame: NDArray[np.int64]
    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    landmarks: NDArray[np.float32]


BATCH_MAJOR = "batch_major"
"""Output rows ordered (frame, y, x, anchor): exports that transpose NCHW -> NHWC (scrfd_2.5g_bnkps)."""
BATCH_INSIDE = "batch_inside"
"""Output rows ordered (y, x, frame, anchor): exports that transpose NCHW -> HWNC (det_500m)."""


def output_layouts(graph: ConvertedGraph) -> list[str | None]:
    """How each detector output orders its rows across a batch, from the Transpose that feeds it (``None``: unknown)."""
    producers = {name: node for node in graph.spec.nodes for name in node.outputs}
    layouts: list[str | None] = []
    for name in graph.output_names:
        node = producers.get(name)
        while node is not None and node.op_type in ("Reshape", "Sigmoid", "Identity", "Flatten", "Cast"):
            node = producers.get(node.inputs[0])
        perm = tuple(node.attributes.get("perm", ())) if node is not None and node.op_type == "Transpose" else ()
        layouts.append({(0, 2, 3, 1): BATCH_MAJOR, (2, 3, 0, 1): BATCH_INSIDE}.get(perm))
    return layouts


def _per_frame(
    tensor: torch.Tensor, frame_count: int, cells: int, anchors_per_cell: int, width: int, layout: str | None
) -> torch.Tensor | None:
    """``[frame_count, cells * anchors_per_cell, width]`` view of one output, or ``None`` when its batch order is unknown."""
    if tensor.numel() != frame_count * cells * anchors_per_cell * width:
        return None
    if frame_count == 1 or layout == BATCH_MAJOR:
        return tensor.reshape(frame_count, cells * anchors_per_cell, width)
    if layout == BATCH_INSIDE:
        return (
            tensor.reshape(cells, frame_count, anchors_per_cell * width)
            .permute(1, 0, 2)
            .reshape(frame_count, cells * anchors_per_cell, width)
        )
    return None


def decode_scrfd_tensors(
    outputs: Sequence[torch.Tensor],
    frame_count: int,
    canvas_height: int,
    canvas_width: int,
    score_threshold: float,
    layouts: Sequence[str | None] | None = None,
) -> _Candidates | None:
    """``detect.scrfd.decode_scrfd`` for a batch of frames, on the device; only candidates come to the host.

    Args:
        outputs: the detector's outputs in file order, for ``frame_count`` frames.
        layouts: per output, ``BATCH_MAJOR`` or ``BATCH_INSIDE`` (``output_layouts``); default batch-major.

    Returns ``None`` when the outputs cannot be split per frame (unknown batch order, or a graph
    that does not carry the batch through), so the caller runs frame by frame.
    """
    import torch

    strides, anchors_per_cell, has_landmarks = layout_for_outputs(len(outputs))
    if not has_landmarks:
        raise ModelConversionError("the torch detector needs an SCRFD model with landmarks (*_bnkps)")
    levels = len(strides)
    order = list(layouts) if layouts is not None else [BATCH_MAJOR] * len(outputs)
    pieces: list[tuple[torch.Tensor, ...]] = []
    for level, stride in enumerate(strides):
        grid_width = canvas_width // stride
        cells = (canvas_height // stride) * grid_width
        split = [
            _per_frame(outputs[level + k * levels], frame_count, cells, anchors_per_cell, width, order[level + k * levels])
            for k, width in enumerate((1, 4, 10))
        ]
        score_table, box_table, landmark_table = split
        if score_table is None or box_table is None or landmark_table is None:
            return None
        scores = score_table[:, :, 0].to(torch.float32)
        rows = torch.nonzero(scores >= score_threshold)  # [K, 2] (frame, anchor), row-major like decode_scrfd
        frame, anchor = rows[:, 0], rows[:, 1]
        distances = box_table[frame, anchor].to(torch.float32) * stride
        offsets = landmark_table[frame, anchor].to(torch.float32) * stride
        cell = torch.div(anchor, anchors_per_cell, rounding_mode="floor")
        centres = torch.stack(
            [(cell % grid_width) * stride, torch.div(cell, grid_width, rounding_mode="floor") * stride], dim=1
        ).to(torch.float32)
        boxes = torch.cat([centres - distances[:, :2], centres + distances[:, 2:4]], dim=1)
        landmarks = centres[:, None, :] + offsets.reshape(-1, 5, 2)
        pieces.append((frame, boxes, scores[frame, anchor], landmarks))
    frame_all = torch.cat([p[0] for p in pieces]).cpu().numpy()
    return _Candidates(
        frame_all.astype(np.int64),
        torch.cat([p[1] for p in pieces]).cpu().numpy().astype(np.float32),
        torch.cat([p[2] for p in pieces]).cpu().numpy().astype(np.float32),
        torch.cat([p[3] for p in pieces]).cpu().numpy().astype(np.float32),
    )


class TorchFaceDetector:
    """An SCRFD detector converted to torch, running on a torch device with a ``FaceDetector``'s settings.

    Frames of the same size are detected in one batched call; letterbox and decoding run on the
    device, NMS on the host over the few candidates. Results match ``FaceDetector.detect`` (same
    retries at smaller sizes and on a padded copy) within float rounding of the model outputs.
    """

    def __init__(self, detector: FaceDetector, backend: ModelRunner) -> None:
        if detector.family != "scrfd":
            raise ModelConversionError(f"{detector.name}: only SCRFD-family detectors run on the torch device")
        if backend.graph is None:
            raise ModelConversionError(f"{detector.name}: the torch detector needs a runner with a converted graph")
        layout_for_outputs(len(backend.graph.output_names))
        self.detector = detector
        self.backend = backend
        self.name = detector.name
        self.family = detector.family
        self.layouts = output_layouts(backend.graph)

    @property
    def graph(self) -> ConvertedGraph:
        """The converted graph its runner calls."""
        assert self.backend.graph is not None  # checked in __init__
        return self.backend.graph

    @property
    def settings(self) -> DetectionSettings:
        return self.detector.settings

    @property
    def model(self) -> Any:
        """The wrapped detector's ``ModelSession`` (a ``graph_session`` when onnxruntime is not installed)."""
        return self.detector.model

    def with_settings(self, **changes: object) -> TorchFaceDetector:
        """The same converted model with some settings changed (as ``FaceDetector.with_settings``)."""
        return TorchFaceDetector(self.detector.with_settings(**changes), self.backend)

    @property
    def device(self) -> Any:
        return self.graph.device

    def __repr__(self) -> str:
        return f"TorchFaceDetector({self.name!r}, device={self.graph.device}, dtype={self.graph.dtype})"

    def describe(self) -> str:
        """What runs it (``ModelRunner.describe``): ``torch cuda:0 float32 ...``."""
        return self.backend.describe()

    def canvas_size(self, fit_size: tuple[int, int]) -> tuple[int, int]:
        return self.detector.fixed_input or fit_size

    def _run(
        self, frames: torch.Tensor, fit_size: tuple[int, int], threshold: float
    ) -> list[tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]]:
        """Per frame: ``(boxes, scores, landmarks)`` after NMS, in frame pixels."""
        import torch

        canvas = self.canvas_size(fit_size)
        blob, scale = letterbox_tensor(
            frames, fit_size, canvas, self.detector.input_mean, self.detector.input_std, self.graph.dtype
        )
        with torch.inference_mode():
            outputs = self.backend.call_graph(blob)
            candidates = decode_scrfd_tensors(outputs, int(frames.shape[0]), canvas[1], canvas[0], threshold, self.layouts)
        if candidates is None:
            if frames.shape[0] == 1:
                raise ModelConversionError(f"{self.name}: outputs do not match SCRFD's anchor layout for a {canvas} input")
            return [result for i in range(int(frames.shape[0])) for result in self._run(frames[i : i + 1], fit_size, threshold)]
        results = []
        for index in range(int(frames.shape[0])):
            rows = np.nonzero(candidates.frame == index)[0]
            boxes, scores, landmarks = candidates.boxes[rows], candidates.scores[rows], candidates.landmarks[rows]
            keep = nms(boxes, scores, self.settings.nms_threshold)
            results.append((boxes[keep] / scale, scores[keep], landmarks[keep] / scale))
        return results

    def detect_frames(
        self, frames: torch.Tensor, image_indices: Sequence[int] | None = None, score_threshold: float | None = None
    ) -> list[list[Face]]:
        """Faces of each frame, highest score first.

        Args:
            frames: ``[n, 3, H, W]`` float RGB in 0..255 on any device (moved to the detector's device).
            image_indices: recorded in each ``Face`` (default ``0..n-1``).
            score_threshold: overrides the settings' threshold.
        """
        import torch.nn.functional as functional

        count = int(frames.shape[0])
        indices = list(range(count)) if image_indices is None else [int(i) for i in image_indices]
        threshold = self.settings.score_threshold if score_threshold is None else score_threshold
        frames = frames.to(self.graph.device)
        found: list[list[Face] | None] = [None] * count
        pending = list(range(count))
        fit_sizes = retry_fit_sizes(self.settings, self.detector.fixed_input)
        for fit_size in fit_sizes:
            if not pending:
                break
            subset = frames if len(pending) == count else frames[pending]
            still = []
            for position, (boxes, scores, landmarks) in zip(pending, self._run(subset, fit_size, threshold), strict=False):
                if scores.size:
                    found[position] = faces_from_detections(boxes, scores, landmarks, indices[position])
                else:
                    still.append(position)
            pending = still
        if pending and self.settings.pad_retry:
            height, width = int(frames.shape[2]), int(frames.shape[3])
            pad = pad_retry_margin(height, width)
            padded = functional.pad(frames[pending], (pad, pad, pad, pad))
            for position, (boxes, scores, landmarks) in zip(pending, self._run(padded, fit_sizes[0], threshold), strict=False):
                if scores.size:
                    found[position] = faces_from_detections(boxes - pad, scores, landmarks - pad, indices[position])
        return [faces if faces is not None else [] for faces in found]

    def detect(self, image: RGBImage, image_index: int = 0, score_threshold: float | None = None) -> list[Face]:
        """``FaceDetector.detect`` on the device, for one ``[H, W, 3]`` uint8 RGB image."""
        import torch

        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InvalidImageError(f"detect() takes an [H, W, 3] uint8 RGB image, got {image.shape} {image.dtype}")
        check_not_empty(image, "detect()")
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(torch.float32)
        return self.detect_frames(tensor, [image_index], score_threshold)[0]

    def detect_batch(
        self,
        images: Sequence[RGBImage],
        score_threshold: float | None = None,
        on_image_done: Callable[[int], None] | None = None,
    ) -> list[list[Face]]:
        """``detect`` for each image (same-size neighbours in one call); ``result[i]`` holds image ``i``'s faces.

        ``on_image_done(index)`` is called for every image once its group is done (as ``FaceDetector.detect_batch``).
        """
        import torch

        arrays = [None if skip_empty(image, index) else as_rgb_uint8(image) for index, image in enumerate(images)]
        results: list[list[Face]] = []
        start = 0
        while start < len(arrays):
            current = arrays[start]
            if current is None:  # an empty image: no faces, the others go on
                results.append([])
                if on_image_done is not None:
                    on_image_done(start)
                start += 1
                continue
            stop = start + 1
            while stop < len(arrays) and (following := arrays[stop]) is not None and following.shape == current.shape:
                stop += 1
            stacked = torch.from_numpy(np.stack([array for array in arrays[start:stop] if array is not None]))
            stacked = stacked.to(device=self.graph.device)
            frames = stacked.permute(0, 3, 1, 2).to(torch.float32).contiguous()
            results.extend(self.detect_frames(frames, range(start, stop), score_threshold))
            for index in range(start, stop):
                if on_image_done is not None:
                    on_image_done(index)
            start = stop
        return results


def detector_probe(detector: FaceDetector) -> Probe:
    """One seeded noise image letterboxed and normalised as the detector feeds it (640 px where the graph is dynamic)."""
    info = detector.model.inputs[0]
    width, height = detector.fixed_input or (640, 640)
    pixels = np.random.default_rng(640).integers(0, 256, (1, 3, height, width)).astype(np.float32)
    return Probe({info.name: (pixels - np.float32(detector.input_mean)) / np.float32(detector.input_std)})


def torch_detector_for(detector: FaceDetector, backend: str, options: LoadOptions) -> FaceDetector | TorchFaceDetector:
    """``detector`` converted to torch (``runner.load_runner``: probe-checked against onnxruntime where it has a session).

    ``auto`` may keep ``detector`` (onnxruntime); ``torch`` raises when it cannot convert.

    Raises:
        ModelConversionError: ``backend="torch"`` and not an SCRFD model with landmarks, or a conversion that
            fails or differs from onnxruntime.
    """
    if detector.family != "scrfd":
        if backend == "torch":
            raise ModelConversionError(f"{detector.name}: only SCRFD-family detectors run on the torch device")
        return detector
    runner = load_runner(detector.model, backend, options, lambda: detector_probe(detector), per_call=(None,))
    return TorchFaceDetector(detector, runner) if runner.graph is not None else detector


def load_torch_detector(
    detector: FaceDetector,
    device: Any = None,
    dtype: Any = "float32",
    *,
    channels_last: bool | None = None,
    cache: bool = True,
) -> TorchFaceDetector:
    """Convert a loaded SCRFD ``FaceDetector``'s model to torch on ``device`` (default: CUDA when available, else CPU).

    The conversion is checked against the detector's onnxruntime session on a probe when it has one.

    Raises:
        ModelConversionError: not an SCRFD model with landmarks, an op the converter lacks, or outputs that differ.
    """
    precision = str(dtype).removeprefix("torch.")
    options = LoadOptions(backend="torch", device=device, dtype=precision, channels_last=channels_last, cache=cache)
    converted = torch_detector_for(detector, "torch", options)
    assert isinstance(converted, TorchFaceDetector)  # backend torch converts or raises
    return converted
