"""The one pipeline of every image batch: detect -> select -> align -> embed, chunk by chunk.

Pixels come in through ``frames.Frames`` (validated once, converted per chunk); ``detect_faces`` and
``analyze`` are the only entry points of detection and embedding, for a list of photos, a ComfyUI
IMAGE tensor on any device, or a long video alike. Faces are found per frame (onnxruntime
``FaceDetector`` on uint8 host frames, or ``detect.TorchFaceDetector`` running a converted SCRFD on
the device, where only the few above-threshold candidates reach the host for NMS). Crops are cut
on the host with cv2 (uint8, insightface's alignment) or on the device with ``grid_sample``
(``align.warp_faces_torch``, float crops) and embedded in full recognizer batches. Only the
embeddings and face records are kept between chunks, so a 1,000-frame video streams within a
memory budget.

Results do not depend on the chunk size: detection is per frame, and crops wait in a queue until a
full recognizer batch is ready, so every model call sees the same faces whatever the chunking.
Device crops stay float (cv2 rounds them to uint8), so their embeddings differ slightly from the
host's (cosine about 0.9999 per face); on the CPU ``align_on="auto"`` cuts crops with cv2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .align import alignment_matrix, warp_faces_torch
from .detect import TorchFaceDetector
from .embed import EmbeddingResult
from .errors import InvalidArgumentError
from .faults import SkippedFace, per_item
from .frames import DEFAULT_MEMORY_BUDGET_MB, Frames, frames_per_chunk
from .protocols import Detector, Recognizer
from .select import EVERY_FACE, FaceSelection
from .types import Face, FaceBatch, Identity, RGBImage

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32
"""Crops per recognizer call for a recognizer that does not say (``batch_size``)."""


@dataclass(frozen=True)
class Analysis:
    """Faces of a batch, aligned, and their identity rows.

    ``identity`` has one row per face, image by image (``identity.image_indices`` and
    ``identity.face_indices`` say which); it is ``None`` when no image has a face.
    """

    faces: FaceBatch
    identity: Identity | None
    skipped: tuple[SkippedFace, ...] = ()
    """Faces whose recognizer output was unusable (NaN, wrong shape): left out of ``faces`` and ``identity``."""

    def rows_of_image(self, image_index: int) -> list[int]:
        """Identity rows belonging to one image, in face order."""
        if self.identity is None:
            return []
        return [int(row) for row in np.nonzero(self.identity.image_indices == image_index)[0]]


def _recognizer_device(recognizer: Recognizer | None) -> Any:
    """The torch device of a recognizer's torch backend, else ``None``."""
    return getattr(getattr(recognizer, "backend", None), "device", None)


def _tensor_embedder(recognizer: Recognizer) -> Callable[..., EmbeddingResult]:
    """The recognizer's ``embed_tensor`` (device crops in, ``ArcFaceRecognizer``); else ``InvalidArgumentError``."""
    embed: Callable[..., EmbeddingResult] | None = getattr(recognizer, "embed_tensor", None)
    if embed is None:
        raise InvalidArgumentError(f"{recognizer.name} cannot embed device crops; use align_on='host'")
    return embed


def _device(device: Any, recognizer: Recognizer | None, detector: Detector | None, frames: Frames) -> str:
    """Where device work runs, as a torch device name: ``device``, else the recognizer's torch device, else the
    torch detector's, else the IMAGE tensor's, else the CPU (torch is not imported for this)."""
    for candidate in (device, _recognizer_device(recognizer)):
        if candidate is not None:
            return str(candidate)
    if isinstance(detector, TorchFaceDetector):
        return str(detector.device)
    if frames.is_tensor:
        return str(frames.device)
    return "cpu"


class _EmbeddingQueue:
    """Crops wait here until a full recognizer batch is ready, so batches never depend on the chunking.

    Crops are either host ``[F, S, S, 3]`` uint8 arrays (cv2 alignment, ``embed_crops``) or device
    ``[F, 3, S, S]`` float tensors (``grid_sample`` alignment, ``embed_tensor``); one queue holds one kind.
    """

    def __init__(self, recognizer: Recognizer, flip: bool) -> None:
        self.recognizer = recognizer
        self.flip = flip
        self.batch_size = int(getattr(recognizer, "batch_size", DEFAULT_BATCH_SIZE))
        self.pending: list[Any] = []
        self.pending_count = 0
        self.raw: list[NDArray[np.float32]] = []
        self.embedded = 0
        self.problems: dict[int, str] = {}
        """Face number (in queue order) -> why its output was unusable; its row holds NaN until ``analyze`` drops it."""

    def add(self, crops: Any) -> None:
        if crops.shape[0]:
            self.pending.append(crops)
            self.pending_count += int(crops.shape[0])
        if self.pending_count >= self.batch_size:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self.pending_count:
            return
        on_host = isinstance(self.pending[0], np.ndarray)
        if len(self.pending) == 1:
            crops = self.pending[0]
        elif on_host:
            crops = np.concatenate(self.pending)
        else:
            import torch

            crops = torch.cat(self.pending)
        batch = self.batch_size
        take = self.pending_count if final else (self.pending_count // batch) * batch
        if take:
            embed = self.recognizer.embed_crops if on_host else _tensor_embedder(self.recognizer)
            part = crops[:take]
            rows, problems = per_item(lambda items: list(embed(part[list(items)], flip=self.flip).raw), take)
            nan_row = np.full(self.recognizer.dimension, np.nan, np.float32)
            self.raw.append(np.stack([nan_row if row is None else row for row in rows]).astype(np.float32))
            self.problems.update({self.embedded + item: reason for item, reason in problems.items()})
            self.embedded += take
        rest = crops[take:]
        self.pending = [rest] if rest.shape[0] else []
        self.pending_count = int(rest.shape[0])

    def finish(self) -> EmbeddingResult:
        self._flush(final=True)
        if not self.raw:
            return EmbeddingResult.from_raw(np.zeros((0, self.recognizer.dimension), np.float32))
        return EmbeddingResult.from_raw(np.concatenate(self.raw))


def _aligned_on_device(
    recognizer: Recognizer, group: torch.Tensor, chosen: Sequence[Sequence[Face]]
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
    recognizer: Recognizer, images: Sequence[RGBImage], chosen: Sequence[Sequence[Face]]
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


def _numbered(faces: Sequence[Face], image_index: int) -> list[Face]:
    """``faces`` carrying their frame's batch index (a detector numbers the frames of a chunk from 0)."""
    return [face if face.image_index == image_index else replace(face, image_index=image_index) for face in faces]


def _stream(
    detector: Detector | None,
    recognizer: Recognizer | None,
    frames: Frames,
    given: FaceBatch | None,
    selection: FaceSelection,
    flip: bool,
    device: Any,
    align_on: str,
    chunk_frames: int | None,
    memory_budget_mb: float,
    on_frames_done: Callable[[int], None] | None,
    on_image_done: Callable[[int], None] | None = None,
) -> tuple[FaceBatch, EmbeddingResult | None, dict[int, str]]:
    """Faces per frame (detected and selected, or ``given``), aligned and embedded when there is a recognizer."""
    if align_on not in ("auto", "device", "host"):
        raise InvalidArgumentError(f"align_on must be auto, device or host, got {align_on!r}")
    if chunk_frames is not None and chunk_frames < 1:
        raise InvalidArgumentError(f"chunk_frames must be at least 1, got {chunk_frames}")
    torch_device = _device(device, recognizer, detector, frames)
    on_device = recognizer is not None and (align_on == "device" or (align_on == "auto" and not torch_device.startswith("cpu")))
    torch_detector = detector if isinstance(detector, TorchFaceDetector) and given is None else None
    if chunk_frames is None and frames.count:
        height, width = frames.largest
        canvas = None
        if torch_detector is not None:
            canvas = torch_detector.canvas_size(torch_detector.settings.det_size or (640, 640))
        chunk_frames = frames_per_chunk(height, width, memory_budget_mb, canvas, torch_detector is not None or on_device)
    queue = _EmbeddingQueue(recognizer, flip) if recognizer is not None else None
    per_frame: list[tuple[Face, ...]] = []
    for start, stop in frames.chunks(chunk_frames or 1):
        groups = frames.device_groups(start, stop, torch_device) if torch_detector is not None or on_device else []
        need_host = (torch_detector is None and given is None) or (queue is not None and not on_device)
        host = frames.uint8(start, stop) if need_host else []
        chosen: list[Sequence[Face]]
        if given is not None:
            chosen = [given.faces_per_image[index] for index in range(start, stop)]
        elif torch_detector is not None:
            detected = [faces for group, indices in groups for faces in torch_detector.detect_frames(group, indices)]
            chosen = [selection.apply(faces) for faces in detected]
        else:
            assert detector is not None  # analyze/detect_faces say so
            done = None if on_image_done is None else (lambda local, first=start: on_image_done(first + local))
            detected = detector.detect_batch(host, on_image_done=done)
            chosen = [_numbered(selection.apply(faces), start + i) for i, faces in enumerate(detected)]
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
    return batch, (queue.finish() if queue is not None else None), (queue.problems if queue is not None else {})


def detect_faces(
    detector: Detector,
    images: Any,
    selection: FaceSelection = EVERY_FACE,
    *,
    device: Any = None,
    chunk_frames: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    on_frames_done: Callable[[int], None] | None = None,
    on_image_done: Callable[[int], None] | None = None,
    context: str = "detect_faces",
) -> FaceBatch:
    """Detect and select the faces of every frame, chunk by chunk; frames with no face keep an empty entry.

    ``images`` and the keywords are as ``analyze``'s; ``on_image_done`` is called with each frame's
    batch index once it is searched (onnxruntime detector). An empty image of a sequence has no face (logged).

    Raises:
        InvalidImageError: refused by the input policy (``frames.Frames.of``, naming ``context``).
    """
    frames = Frames.of(images, context)
    faces, _, _ = _stream(
        detector,
        None,
        frames,
        None,
        selection,
        False,
        device,
        "auto",
        chunk_frames,
        memory_budget_mb,
        on_frames_done,
        on_image_done,
    )
    return faces


def analyze(
    detector: Detector | None,
    recognizer: Recognizer,
    images: Any,
    selection: FaceSelection = EVERY_FACE,
    flip: bool = False,
    *,
    faces: FaceBatch | None = None,
    device: Any = None,
    align_on: str = "auto",
    chunk_frames: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    on_frames_done: Callable[[int], None] | None = None,
    context: str = "analyze",
) -> Analysis:
    """Detect, select, align and embed the faces of a batch of frames, chunk by chunk.

    Args:
        detector: an onnxruntime ``FaceDetector`` (host frames) or a ``TorchFaceDetector`` (frames
            stay on the device); ``None`` when ``faces`` are given.
        recognizer: any ``ArcFaceRecognizer``; with the torch backend device crops never leave the device.
        images: ``frames.Frames``, or anything ``Frames.of`` takes: a ComfyUI IMAGE tensor
            ``[B, H, W, C]`` (0..1 float or uint8, any device), a numpy batch, a sequence of
            ``[H, W, C]`` images or image paths.
        selection: which detected faces to keep per frame.
        flip: average each embedding with that of the mirrored crop.
        faces: faces already found on these frames (one entry per frame): embedded as they are.
        device: where device alignment (and the torch models) run; default: the recognizer's torch
            device, else the torch detector's, else the IMAGE tensor's, else the CPU.
        align_on: ``device`` cuts float crops with ``grid_sample``; ``host`` cuts uint8 crops with cv2
            (insightface's alignment); ``auto`` = host on the CPU, device elsewhere.
        chunk_frames: frames per chunk; default: as many as ``memory_budget_mb`` allows (1..256).
        memory_budget_mb: memory for one chunk's frames and their temporaries.
        on_frames_done: called with the number of frames finished after each chunk (progress).
        context: names the caller (e.g. a node) in error messages.

    Returns:
        ``Analysis``: faces per frame (aligned, with their matrices) and one identity row per face.

    Raises:
        InvalidImageError: refused by the input policy (``frames.Frames.of``).
        InvalidArgumentError: a bad ``align_on`` or ``chunk_frames``; neither detector nor faces;
            faces of another number of frames.
    """
    frames = Frames.of(images, context)
    if faces is None and detector is None:
        raise InvalidArgumentError(f"{context}: give a detector or the faces found on these images")
    if faces is not None and len(faces) != frames.count:
        raise InvalidArgumentError(f"{context}: faces of {len(faces)} image(s) for {frames.count} image(s)")
    found, result, problems = _stream(
        detector, recognizer, frames, faces, selection, flip, device, align_on, chunk_frames, memory_budget_mb, on_frames_done
    )
    assert result is not None
    found, result, face_indices, skipped = _without_bad_embeddings(found, result, problems)
    if found.face_count == 0:
        return Analysis(found, None, skipped)
    return Analysis(found, recognizer.identity(result, found.all_faces(), face_indices), skipped)


def _without_bad_embeddings(
    found: FaceBatch, result: EmbeddingResult, problems: dict[int, str]
) -> tuple[FaceBatch, EmbeddingResult, list[int], tuple[SkippedFace, ...]]:
    """Drop the faces whose recognizer output was unusable, flagged; the others keep their face index in their image.

    Returns:
        (the faces left, their embeddings, each one's face index in its image, the skipped faces).
    """
    numbered = [(image, index, face) for image, faces in enumerate(found.faces_per_image) for index, face in enumerate(faces)]
    if not problems:
        return found, result, [index for _, index, _ in numbered], ()
    skipped = tuple(SkippedFace("embed", numbered[n][0], numbered[n][1], reason) for n, reason in sorted(problems.items()))
    for face in skipped:
        logger.warning("%s", face.line())
    keep = [n for n in range(len(numbered)) if n not in problems]
    per_image: list[list[Face]] = [[] for _ in found.faces_per_image]
    for n in keep:
        per_image[numbered[n][0]].append(numbered[n][2])
    kept = FaceBatch(tuple(tuple(faces) for faces in per_image), found.image_sizes)
    return kept, EmbeddingResult.from_raw(result.raw[keep]), [numbered[n][1] for n in keep], skipped
