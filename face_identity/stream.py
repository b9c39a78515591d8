"""Stream a batch of frames through detect -> select -> align -> embed on a torch device, chunk by chunk.

``analyze_stream`` is the device-resident twin of ``pipeline.analyze``: frames (a ComfyUI IMAGE
tensor ``[B, H, W, C]`` in 0..1 on any device, or numpy RGB images) are moved to the device one
chunk at a time; faces are found per frame (onnxruntime ``FaceDetector``, or ``TorchFaceDetector``
running a converted SCRFD on the device, where only the few above-threshold candidates reach the
host for NMS); the crops of all faces of a chunk are cut on the device with ``grid_sample``
(``align.warp_faces_torch``) and embedded on the device (``ArcFaceRecognizer.embed_tensor``). Only
the embeddings and face records are kept between chunks, so a 1,000-frame video streams within a
memory budget.

Results do not depend on the chunk size: detection is per frame, and crops wait in a queue until a
full recognizer batch is ready, so every model call sees the same faces whatever the chunking.

Crops cut with ``grid_sample`` stay float (cv2's ``warpAffine`` rounds them to uint8), so
embeddings differ slightly from ``pipeline.analyze`` (cosine about 0.9999 per face). On the CPU,
where cv2 on uint8 frames is faster than ``grid_sample`` on float frames, ``align_on="auto"`` cuts
crops with cv2 instead, and the results then equal ``pipeline.analyze`` exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .align import alignment_matrix, warp_faces_torch
from .detect import FaceDetector, faces_from_detections
from .detect.postprocess import letterbox_size, nms
from .detect.scrfd import layout_for_outputs
from .embed import ArcFaceRecognizer, EmbeddingResult
from .errors import InvalidArgumentError, InvalidImageError, ModelConversionError
from .images import as_rgb_uint8
from .pipeline import Analysis
from .select import EVERY_FACE, FaceSelection, select_faces
from .types import Face, FaceBatch, RGBImage

if TYPE_CHECKING:
    import torch

    from .convert import ConvertedGraph

logger = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET_MB = 1024.0
"""Device memory the frames of one chunk may take (frames in float32 plus their temporaries)."""
MAX_CHUNK_FRAMES = 256
DETECTOR_ACTIVATION_FACTOR = 8
"""A converted SCRFD's activations take about this many times its input canvas."""
PAD_RETRY_FRACTION = 0.5
"""As ``detect.PAD_RETRY_FRACTION``: the last retry pads every side by half the longer image side."""


# --------------------------------------------------------------------------------------------------
# Frames


class _Frames:
    """A batch of frames, handed out chunk by chunk on a device (float 0..255, NCHW) or on the host (uint8 RGB)."""

    def __init__(self, images: Any) -> None:
        import torch

        self.tensor: torch.Tensor | None = None
        self.arrays: list[RGBImage] | None = None
        if isinstance(images, torch.Tensor):
            if images.ndim == 3:
                images = images[None]
            if images.ndim != 4 or images.shape[3] not in (1, 3, 4):
                raise InvalidImageError(f"expected an IMAGE tensor [B, H, W, C] with C in 1, 3, 4, got {tuple(images.shape)}")
            self.tensor = images
            self.count = int(images.shape[0])
            self.sizes = [(int(images.shape[1]), int(images.shape[2]))] * self.count
        else:
            if isinstance(images, np.ndarray) and images.ndim == 4:
                images = list(images)
            self.arrays = [as_rgb_uint8(image) for image in images]
            self.count = len(self.arrays)
            self.sizes = [(int(a.shape[0]), int(a.shape[1])) for a in self.arrays]

    def _rgb(self, chunk: torch.Tensor) -> torch.Tensor:
        channels = chunk.shape[3]
        if channels == 4:
            return chunk[..., :3]
        if channels == 1:
            return chunk.expand(*chunk.shape[:3], 3)
        return chunk

    def _pixel_scale(self) -> float:
        assert self.tensor is not None
        return 1.0 if self.tensor.dtype == _uint8() else 255.0

    def device_groups(self, start: int, stop: int, device: Any) -> list[tuple[torch.Tensor, list[int]]]:
        """``[(frames [n, 3, H, W] float32 in 0..255 on device, their global indices)]``, same-size frames grouped."""
        import torch

        if self.tensor is not None:
            chunk = self._rgb(self.tensor[start:stop]).to(device=device)
            frames = (chunk.to(torch.float32) * self._pixel_scale()).permute(0, 3, 1, 2).contiguous()
            return [(frames, list(range(start, stop)))]
        assert self.arrays is not None
        groups: list[tuple[torch.Tensor, list[int]]] = []
        index = start
        while index < stop:
            end = index + 1
            while end < stop and self.sizes[end] == self.sizes[index]:
                end += 1
            stacked = np.stack(self.arrays[index:end])
            tensor = torch.from_numpy(stacked).to(device=device).permute(0, 3, 1, 2).to(torch.float32).contiguous()
            groups.append((tensor, list(range(index, end))))
            index = end
        return groups

    def host_images(self, start: int, stop: int) -> list[RGBImage]:
        """Frames ``start..stop`` as ``[H, W, 3]`` uint8 RGB numpy images (one transfer per chunk)."""
        import torch

        if self.arrays is not None:
            return self.arrays[start:stop]
        assert self.tensor is not None
        chunk = self._rgb(self.tensor[start:stop])
        if chunk.dtype != torch.uint8:
            # as_rgb_uint8's arithmetic: rint(x * 255) clipped, in float32.
            chunk = torch.clamp(torch.round(chunk.to(torch.float32) * 255.0), 0, 255).to(torch.uint8)
        host = chunk.cpu().numpy()
        return [np.ascontiguousarray(frame) for frame in host]


def _uint8() -> Any:
    import torch

    return torch.uint8


def frames_per_chunk(
    height: int,
    width: int,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    detector_canvas: tuple[int, int] | None = None,
    device_frames: bool = True,
) -> int:
    """How many ``height`` x ``width`` frames fit the budget.

    Per frame: its uint8 host copy, plus with ``device_frames`` the float32 frame on the device and
    one temporary, plus (for a torch detector, ``detector_canvas``) its canvas and activations.
    """
    per_frame = height * width * 3 * ((4 * 2 + 1) if device_frames else 1)
    if detector_canvas is not None:
        per_frame += detector_canvas[0] * detector_canvas[1] * 3 * 4 * DETECTOR_ACTIVATION_FACTOR
    frames = int(memory_budget_mb * 1024 * 1024 // max(per_frame, 1))
    return max(1, min(frames, MAX_CHUNK_FRAMES))


# --------------------------------------------------------------------------------------------------
# Detection on the device


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
        if any(part is None for part in split):
            return None
        score_table, box_table, landmark_table = split  # type: ignore[misc]
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

    def __init__(self, detector: FaceDetector, graph: ConvertedGraph) -> None:
        if detector.family != "scrfd":
            raise ModelConversionError(f"{detector.name}: only SCRFD-family detectors run on the torch device")
        layout_for_outputs(len(graph.output_names))
        self.detector = detector
        self.graph = graph
        self.name = detector.name
        self.family = detector.family
        self.layouts = output_layouts(graph)

    @property
    def settings(self) -> Any:
        return self.detector.settings

    @property
    def device(self) -> Any:
        return self.graph.device

    def __repr__(self) -> str:
        return f"TorchFaceDetector({self.name!r}, device={self.graph.device}, dtype={self.graph.dtype})"

    def describe(self) -> str:
        return f"torch {self.graph.device} {str(self.graph.dtype).replace('torch.', '')}"

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
            outputs = self.graph(blob)
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
        fit_sizes = self.detector._fit_sizes()  # the same retry sizes as FaceDetector.detect
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
            pad = int(round(max(height, width) * PAD_RETRY_FRACTION))
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
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(torch.float32)
        return self.detect_frames(tensor, [image_index], score_threshold)[0]

    def detect_batch(self, images: Sequence[RGBImage], score_threshold: float | None = None) -> list[list[Face]]:
        """``detect`` for each image (same-size neighbours in one call); ``result[i]`` holds image ``i``'s faces."""
        frames = _Frames(list(images))
        results: list[list[Face]] = []
        for group, indices in frames.device_groups(0, frames.count, self.graph.device):
            results.extend(self.detect_frames(group, indices, score_threshold))
        return results


def load_torch_detector(
    detector: FaceDetector,
    device: Any = None,
    dtype: Any = "float32",
    *,
    channels_last: bool | None = None,
    cache: bool = True,
) -> TorchFaceDetector:
    """Convert a loaded SCRFD ``FaceDetector``'s model to torch on ``device`` (default: CUDA when available, else CPU).

    Raises:
        ModelConversionError: not an SCRFD model with landmarks, or an op the converter lacks.
    """
    from .convert import convert_model, resolve_device, usable_dtype

    torch_device = resolve_device(device)
    torch_dtype = usable_dtype(torch_device, dtype, "the torch detector")
    graph = convert_model(detector.model.path, dtype=torch_dtype, device=torch_device, channels_last=channels_last, cache=cache)
    return TorchFaceDetector(detector, graph)


# --------------------------------------------------------------------------------------------------
# The stream


def _default_device(recognizer: ArcFaceRecognizer | None, detector: Any, images: Any) -> Any:
    import torch

    backend_device = getattr(recognizer.backend, "device", None) if recognizer is not None else None
    if backend_device is not None:
        return torch.device(backend_device)
    if isinstance(detector, TorchFaceDetector):
        return detector.device
    if isinstance(images, torch.Tensor):
        return images.device
    return torch.device("cpu")


class _EmbeddingQueue:
    """Crops wait here until a full recognizer batch is ready, so batches never depend on the chunking.

    Crops are either host ``[F, S, S, 3]`` uint8 arrays (cv2 alignment, ``embed_crops``) or device
    ``[F, 3, S, S]`` float tensors (``grid_sample`` alignment, ``embed_tensor``); one queue holds one kind.
    """

    def __init__(self, recognizer: ArcFaceRecognizer, flip: bool) -> None:
        self.recognizer = recognizer
        self.flip = flip
        self.pending: list[Any] = []
        self.pending_count = 0
        self.raw: list[NDArray[np.float32]] = []

    def add(self, crops: Any) -> None:
        if crops.shape[0]:
            self.pending.append(crops)
            self.pending_count += int(crops.shape[0])
        if self.pending_count >= self.recognizer.batch_size:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        import torch

        if not self.pending_count:
            return
        on_host = isinstance(self.pending[0], np.ndarray)
        if len(self.pending) == 1:
            crops = self.pending[0]
        else:
            crops = np.concatenate(self.pending) if on_host else torch.cat(self.pending)
        batch = self.recognizer.batch_size
        take = self.pending_count if final else (self.pending_count // batch) * batch
        if take:
            embed = self.recognizer.embed_crops if on_host else self.recognizer.embed_tensor
            self.raw.append(embed(crops[:take], flip=self.flip).raw)
        rest = crops[take:]
        self.pending = [rest] if rest.shape[0] else []
        self.pending_count = int(rest.shape[0])

    def finish(self) -> EmbeddingResult:
        self._flush(final=True)
        if not self.raw:
            return EmbeddingResult.from_raw(np.zeros((0, self.recognizer.dimension), np.float32))
        return EmbeddingResult.from_raw(np.concatenate(self.raw))


def _aligned_on_device(
    recognizer: ArcFaceRecognizer, group: torch.Tensor, chosen: Sequence[Sequence[Face]]
) -> tuple[torch.Tensor | None, list[tuple[Face, ...]]]:
    """Crops of every chosen face of a same-size frame group, cut on the group's device in one batched call."""
    template, crop_size = recognizer.template, recognizer.input_size
    matrices, local_indices, aligned = [], [], []
    for local, faces in enumerate(chosen):
        kept = []
        for face in faces:
            matrix = alignment_matrix(face.landmarks, template, crop_size)
            matrices.append(matrix)
            local_indices.append(local)
            kept.append(face.with_alignment(matrix, crop_size, template))
        aligned.append(tuple(kept))
    if not matrices:
        return None, aligned
    return warp_faces_torch(group, np.stack(matrices), local_indices, crop_size), aligned


def _aligned_on_host(
    recognizer: ArcFaceRecognizer, images: Sequence[RGBImage], chosen: Sequence[Sequence[Face]]
) -> tuple[NDArray[np.uint8] | None, list[tuple[Face, ...]]]:
    """uint8 crops cut with cv2 (``pipeline.analyze``'s alignment), and the aligned faces per frame."""
    crops, aligned = [], []
    for image, faces in zip(images, chosen, strict=False):
        if faces:
            frame_crops, frame_faces = recognizer.align(image, faces)
            crops.append(frame_crops)
            aligned.append(tuple(frame_faces))
        else:
            aligned.append(())
    return (np.concatenate(crops) if crops else None), aligned


def _stream(
    detector: FaceDetector | TorchFaceDetector,
    recognizer: ArcFaceRecognizer | None,
    images: Any,
    selection: FaceSelection,
    flip: bool,
    device: Any,
    align_on: str,
    chunk_frames: int | None,
    memory_budget_mb: float,
    on_frames_done: Callable[[int], None] | None,
) -> tuple[FaceBatch, EmbeddingResult | None]:
    import torch

    if align_on not in ("auto", "device", "host"):
        raise InvalidArgumentError(f"align_on must be auto, device or host, got {align_on!r}")
    if chunk_frames is not None and chunk_frames < 1:
        raise InvalidArgumentError(f"chunk_frames must be at least 1, got {chunk_frames}")
    frames = _Frames(images)
    torch_device = torch.device(device) if device is not None else _default_device(recognizer, detector, images)
    on_device = align_on == "device" or (align_on == "auto" and torch_device.type != "cpu")
    torch_detector = isinstance(detector, TorchFaceDetector)
    if chunk_frames is None and frames.count:
        height = max(h for h, _ in frames.sizes)
        width = max(w for _, w in frames.sizes)
        canvas = detector.canvas_size(detector.settings.det_size or (640, 640)) if torch_detector else None  # type: ignore[union-attr]
        device_frames = torch_detector or (recognizer is not None and on_device)
        chunk_frames = frames_per_chunk(height, width, memory_budget_mb, canvas, device_frames)
    step = chunk_frames or 1
    queue = _EmbeddingQueue(recognizer, flip) if recognizer is not None else None
    per_frame: list[tuple[Face, ...]] = []
    for start in range(0, frames.count, step):
        stop = min(start + step, frames.count)
        need_device = torch_detector or (queue is not None and on_device)
        groups = frames.device_groups(start, stop, torch_device) if need_device else []
        need_host = not torch_detector or (queue is not None and not on_device)
        host = frames.host_images(start, stop) if need_host else []
        if torch_detector:
            detected = [faces for group, indices in groups for faces in detector.detect_frames(group, indices)]  # type: ignore[union-attr]
        else:
            detected = [detector.detect(image, start + offset) for offset, image in enumerate(host)]
        chosen = [
            select_faces(faces, selection.order, selection.indices, selection.max_faces, selection.min_size) for faces in detected
        ]
        if queue is None or recognizer is None:
            per_frame.extend(tuple(faces) for faces in chosen)
        elif on_device:
            for group, indices in groups:
                crops, aligned = _aligned_on_device(recognizer, group, [chosen[i - start] for i in indices])
                if crops is not None:
                    queue.add(crops)
                per_frame.extend(aligned)
        else:
            host_crops, aligned = _aligned_on_host(recognizer, host, chosen)
            if host_crops is not None:
                queue.add(host_crops)
            per_frame.extend(aligned)
        if on_frames_done is not None:
            on_frames_done(stop - start)
    batch = FaceBatch(tuple(per_frame), tuple(frames.sizes))
    return batch, (queue.finish() if queue is not None else None)


def analyze_stream(
    detector: FaceDetector | TorchFaceDetector,
    recognizer: ArcFaceRecognizer,
    images: Any,
    selection: FaceSelection = EVERY_FACE,
    *,
    flip: bool = False,
    device: Any = None,
    align_on: str = "auto",
    chunk_frames: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    on_frames_done: Callable[[int], None] | None = None,
) -> Analysis:
    """Detect, select, align and embed the faces of a batch of frames on a torch device, chunk by chunk.

    Args:
        detector: an onnxruntime ``FaceDetector`` (frames go to the host once per chunk for it) or
            a ``TorchFaceDetector`` (frames stay on the device).
        recognizer: any ``ArcFaceRecognizer``; with the torch backend crops never leave the device.
        images: a ComfyUI IMAGE tensor ``[B, H, W, C]`` float in 0..1 (or uint8) on any device,
            a numpy ``[B, H, W, 3]`` array, or a sequence of ``[H, W, 3]`` images (``as_rgb_uint8`` rules).
        selection: which faces to keep per frame.
        flip: average each embedding with that of the mirrored crop.
        device: where alignment (and the torch models) run; default: the recognizer's torch
            device, else the torch detector's, else the IMAGE tensor's, else the CPU.
        align_on: ``device`` cuts crops with ``grid_sample`` on ``device`` (float crops, no host
            round-trip); ``host`` cuts uint8 crops with cv2 like ``pipeline.analyze`` (results then
            equal ``pipeline.analyze`` exactly); ``auto`` = host on the CPU (cv2 on uint8 is faster
            there), device elsewhere.
        chunk_frames: frames per chunk; default: as many as ``memory_budget_mb`` allows (1..256).
        memory_budget_mb: device memory for one chunk's frames and their temporaries.
        on_frames_done: called with the number of frames finished after each chunk (progress).

    Returns:
        ``Analysis`` as ``pipeline.analyze`` returns it: faces per frame (aligned, with their
        matrices; frames with no face keep an empty entry) and one identity row per face.
    """
    faces, result = _stream(
        detector, recognizer, images, selection, flip, device, align_on, chunk_frames, memory_budget_mb, on_frames_done
    )
    assert result is not None
    if faces.face_count == 0:
        return Analysis(faces, None)
    face_indices = [index for image_faces in faces.faces_per_image for index in range(len(image_faces))]
    return Analysis(faces, recognizer.identity(result, faces.all_faces(), face_indices))


def detect_stream(
    detector: FaceDetector | TorchFaceDetector,
    images: Any,
    selection: FaceSelection = EVERY_FACE,
    *,
    device: Any = None,
    chunk_frames: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    on_frames_done: Callable[[int], None] | None = None,
) -> FaceBatch:
    """Detect and select faces frame by frame, chunk by chunk (``analyze_stream`` without alignment and embedding)."""
    faces, _ = _stream(detector, None, images, selection, False, device, "auto", chunk_frames, memory_budget_mb, on_frames_done)
    return faces
