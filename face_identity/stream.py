"""Stream a batch of frames through detect -> select -> align -> embed on a torch device, chunk by chunk.

``analyze_stream`` is the device-resident twin of ``pipeline.analyze``: frames (a ComfyUI IMAGE
tensor ``[B, H, W, C]`` in 0..1 on any device, or numpy RGB images) are moved to the device one
chunk at a time; faces are found per frame (onnxruntime ``FaceDetector``, or
``detect.TorchFaceDetector`` running a converted SCRFD on the device, where only the few
above-threshold candidates reach the host for NMS); the crops of all faces of a chunk are cut on the device with ``grid_sample``
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
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .align import alignment_matrix, warp_faces_torch
from .detect import TorchFaceDetector
from .embed import ArcFaceRecognizer, EmbeddingResult
from .errors import InvalidArgumentError, InvalidImageError
from .images import as_rgb_uint8
from .pipeline import Analysis
from .protocols import Detector
from .select import EVERY_FACE, FaceSelection, select_faces
from .types import Face, FaceBatch, RGBImage
from .validate import check_image_batch

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET_MB = 1024.0
"""Device memory the frames of one chunk may take (frames in float32 plus their temporaries)."""
MAX_CHUNK_FRAMES = 256
DETECTOR_ACTIVATION_FACTOR = 8
"""A converted SCRFD's activations take about this many times its input canvas."""


# --------------------------------------------------------------------------------------------------
# Frames


class _Frames:
    """A batch of frames, handed out chunk by chunk on a device (float 0..255, NCHW) or on the host (uint8 RGB)."""

    def __init__(self, images: Any, context: str) -> None:
        import torch

        self.tensor: torch.Tensor | None = None
        self.arrays: list[RGBImage] | None = None
        if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim in (3, 4) and images.shape[-1] in (1, 3, 4):
            check_image_batch(images, context)  # the input policy (validate.py), before any work
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
# The stream


def _default_device(recognizer: ArcFaceRecognizer | None, detector: Detector, images: Any) -> Any:
    import torch

    backend_device = recognizer.backend.device if recognizer is not None else None
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
    detector: Detector,
    recognizer: ArcFaceRecognizer | None,
    images: Any,
    selection: FaceSelection,
    flip: bool,
    device: Any,
    align_on: str,
    chunk_frames: int | None,
    memory_budget_mb: float,
    on_frames_done: Callable[[int], None] | None,
    context: str,
) -> tuple[FaceBatch, EmbeddingResult | None]:
    import torch

    if align_on not in ("auto", "device", "host"):
        raise InvalidArgumentError(f"align_on must be auto, device or host, got {align_on!r}")
    if chunk_frames is not None and chunk_frames < 1:
        raise InvalidArgumentError(f"chunk_frames must be at least 1, got {chunk_frames}")
    frames = _Frames(images, context)
    torch_device = torch.device(device) if device is not None else _default_device(recognizer, detector, images)
    on_device = align_on == "device" or (align_on == "auto" and torch_device.type != "cpu")
    torch_detector = isinstance(detector, TorchFaceDetector)
    if chunk_frames is None and frames.count:
        height = max(h for h, _ in frames.sizes)
        width = max(w for _, w in frames.sizes)
        det_size = detector.settings.det_size or (640, 640)
        canvas = detector.canvas_size(det_size) if isinstance(detector, TorchFaceDetector) else None
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
        if isinstance(detector, TorchFaceDetector):
            detected = [faces for group, indices in groups for faces in detector.detect_frames(group, indices)]
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
    detector: Detector,
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
    context: str = "analyze_stream",
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
        context: names the caller (e.g. a node) in error messages.

    Returns:
        ``Analysis`` as ``pipeline.analyze`` returns it: faces per frame (aligned, with their
        matrices; frames with no face keep an empty entry) and one identity row per face.
    """
    faces, result = _stream(
        detector, recognizer, images, selection, flip, device, align_on, chunk_frames, memory_budget_mb, on_frames_done, context
    )
    assert result is not None
    if faces.face_count == 0:
        return Analysis(faces, None)
    face_indices = [index for image_faces in faces.faces_per_image for index in range(len(image_faces))]
    return Analysis(faces, recognizer.identity(result, faces.all_faces(), face_indices))


def detect_stream(
    detector: Detector,
    images: Any,
    selection: FaceSelection = EVERY_FACE,
    *,
    device: Any = None,
    chunk_frames: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    on_frames_done: Callable[[int], None] | None = None,
    context: str = "detect_stream",
) -> FaceBatch:
    """Detect and select faces frame by frame, chunk by chunk (``analyze_stream`` without alignment and embedding).

    Images that the input policy refuses (``validate.check_image_batch``) raise ``InvalidImageError`` naming ``context``.
    """
    faces, _ = _stream(
        detector, None, images, selection, False, device, "auto", chunk_frames, memory_budget_mb, on_frames_done, context
    )
    return faces
