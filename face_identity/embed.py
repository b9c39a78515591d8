"""ArcFace embedding: aligned 112 crops -> raw embeddings, norms and L2-normalised embeddings, batched.

Preprocessing is inferred from the graph exactly as insightface does (see ``onnx_graph.GraphFacts``):
RGB, ``(pixel - mean) / std``, NCHW. A model with a dynamic batch axis is run in chunks; a model
with a fixed batch of 1 is run face by face.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from .align import align_faces
from .catalog import ModelSpec
from .download import resolve_model
from .errors import InvalidArgumentError, InvalidImageError
from .integrity import cached_crc32, graph_mismatch
from .io_facts import IOFacts
from .onnx_graph import GraphFacts, read_graph_facts
from .runner import LoadKeywords, LoadOptions, Probe, load_options, load_runner, open_model
from .runtime import ModelSession, require_kind
from .types import Face, Identity, RGBImage
from .validate import check_integer

if TYPE_CHECKING:
    import torch
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

AUTO_BATCH_CPU = 32
"""Faces per call on the CPU: IResNet-50 gains ~13% from batching, and 32 faces keep activations ~100 MB."""
AUTO_BATCH_GPU = 256


class EmbeddingBackend(Protocol):
    """What ``ArcFaceRecognizer`` asks of what runs its graph (a ``runner.ModelRunner``, or a test stand-in)."""

    @property
    def name(self) -> str:
        """``onnxruntime`` or ``torch``."""
        ...

    @property
    def on_gpu(self) -> bool:
        """Whether the graph runs on a GPU (the automatic batch size is larger there)."""
        ...

    @property
    def batch_independent(self) -> bool:
        """Whether each face's embedding is independent of its batch mates even for a graph that quantizes per batch."""
        ...

    @property
    def device(self) -> torch.device | None:
        """The torch device the graph computes on, or ``None`` for onnxruntime."""
        ...

    def run(self, blob: NDArray[np.float32], /) -> NDArray[np.float32]:
        """``[N, 3, S, S]`` float32 normalised input -> ``[N, D]`` float32 raw embeddings."""
        ...

    def run_tensor(self, blob: torch.Tensor, /) -> torch.Tensor:
        """``[N, 3, S, S]`` normalised tensor on any device -> raw embeddings, float32 (on the graph's device for torch)."""
        ...

    def describe(self) -> str: ...

    def report(self) -> str:
        """``describe`` and the providers really active (``runner.ModelRunner.report``), for logs and nodes."""
        ...


@dataclass(frozen=True)
class EmbeddingResult:
    """Embeddings of N faces.

    - ``raw``: ``[N, D]`` float32 model output (with flip TTA: mean of the two passes).
    - ``norms``: ``[N]`` float32 L2 norms of ``raw``.
    - ``normalised``: ``[N, D]`` float32, ``raw / norms``.
    """

    raw: NDArray[np.float32]
    norms: NDArray[np.float32]
    normalised: NDArray[np.float32]

    @staticmethod
    def from_raw(raw: NDArray[np.floating]) -> EmbeddingResult:
        raw32 = np.asarray(raw, dtype=np.float32)
        norms = np.linalg.norm(raw32.astype(np.float64), axis=1).astype(np.float32)
        safe = np.where(norms > 0, norms, 1.0).astype(np.float32)
        return EmbeddingResult(raw32, norms, raw32 / safe[:, None])

    def __len__(self) -> int:
        return int(self.raw.shape[0])


class ArcFaceRecognizer:
    """An ArcFace-style recognizer: 112 x 112 RGB crops in, D-dimensional embeddings out.

    Attributes:
        model_id: the embedding space (``arcface_w600k_r50`` for w600k_r50 wherever it came from).
        input_size: crop side the model takes (112).
        dimension: embedding length D.
        template: alignment template the model was trained with (``arcface_112``).
        batch_size: faces per model call (1 for fixed-batch or batch-dependent models).
    """

    def __init__(
        self,
        backend: EmbeddingBackend,
        model: ModelSession,
        facts: GraphFacts,
        model_id: str,
        name: str,
        template: str = "arcface_112",
        batch_size: int | None = None,
    ) -> None:
        self.backend = backend
        self.model = model
        self.facts = facts
        self.model_id = model_id
        self.name = name
        self.template = template
        shape = model.inputs[0].shape
        self.input_size = int(shape[2])  # type: ignore[arg-type]
        batch_axis = shape[0]
        self.dynamic_batch = not (isinstance(batch_axis, int) and batch_axis > 0)
        self.fixed_batch = None if self.dynamic_batch else int(batch_axis)  # type: ignore[arg-type]
        output_shape = model.outputs[0].shape
        self.dimension = int(output_shape[1]) if isinstance(output_shape[1], int) else self._probe_dimension()
        self.batch_size = self._choose_batch_size(batch_size)

    def _probe_dimension(self) -> int:
        crop = np.zeros((1, self.input_size, self.input_size, 3), dtype=np.uint8)
        return int(self.backend.run(self.preprocess(crop)).reshape(1, -1).shape[1])

    def _choose_batch_size(self, requested: int | None) -> int:
        if requested is not None:  # None = automatic; 0 and negatives are refused, never taken as automatic
            requested = check_integer(requested, "batch_size", minimum=1)
        if self.fixed_batch is not None:
            return self.fixed_batch
        # The torch backend quantizes each face on its own, so its results do not depend on the batch.
        batch_dependent = self.facts.batch_dependent and not self.backend.batch_independent
        if requested is not None:
            if batch_dependent and requested > 1:
                logger.warning(
                    "%s quantizes activations per batch: a face's embedding will depend on the other faces in "
                    "its batch. Use batch size 1 for reproducible embeddings.",
                    self.name,
                )
            return int(requested)
        if batch_dependent:
            return 1
        return AUTO_BATCH_GPU if self.backend.on_gpu else AUTO_BATCH_CPU

    def __repr__(self) -> str:
        return (
            f"ArcFaceRecognizer({self.name!r}, space={self.model_id}, dim={self.dimension}, "
            f"batch={self.batch_size}, backend={self.backend.describe()})"
        )

    def preprocess(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``[N, S, S, 3]`` uint8 RGB crops -> ``[N, 3, S, S]`` float32 ``(x - mean) * (1 / std)`` (blobFromImages' arithmetic)."""
        blob = (crops.astype(np.float32) - np.float32(self.facts.input_mean)) * np.float32(1.0 / self.facts.input_std)
        return np.ascontiguousarray(blob.transpose(0, 3, 1, 2))

    def preprocess_tensor(self, crops: torch.Tensor) -> torch.Tensor:
        """``[N, 3, S, S]`` float RGB crops in 0..255 (any device) -> ``(x - mean) * (1 / std)``, same device and dtype."""
        return (crops - float(self.facts.input_mean)) * float(1.0 / self.facts.input_std)

    def _run_tensor_chunks(self, crops: torch.Tensor, on_chunk: Callable[[int], None] | None) -> NDArray[np.float32]:
        import torch

        outputs = []
        for start in range(0, int(crops.shape[0]), self.batch_size):
            chunk = crops[start : start + self.batch_size]
            count = int(chunk.shape[0])
            if self.fixed_batch is not None and count < self.fixed_batch:
                chunk = torch.cat([chunk, chunk.new_zeros((self.fixed_batch - count, *chunk.shape[1:]))])
            blob = self.preprocess_tensor(chunk.float())
            raw = self.backend.run_tensor(blob)[:count].reshape(count, -1).float().cpu().numpy()
            outputs.append(np.asarray(raw, dtype=np.float32))
            if on_chunk is not None:
                on_chunk(count)
        return np.concatenate(outputs) if outputs else np.zeros((0, self.dimension), np.float32)

    def embed_tensor(
        self, crops: torch.Tensor, flip: bool = False, on_chunk: Callable[[int], None] | None = None
    ) -> EmbeddingResult:
        """Embed aligned crops that are already torch tensors (e.g. from ``align.warp_faces_torch``), chunk by chunk.

        With the torch backend the crops stay on their device until the ``[N, D]`` embeddings come
        back; with onnxruntime each chunk of ``batch_size`` crops is copied to the host once.

        Args:
            crops: ``[N, 3, S, S]`` float RGB in 0..255 (not rounded to integers), any device.
            flip: test-time augmentation: average with the embedding of the mirrored crop.
            on_chunk: called with the number of faces after each model call (progress).

        Raises:
            InvalidImageError: wrong shape.
        """
        if crops.ndim != 4 or tuple(crops.shape[1:]) != (3, self.input_size, self.input_size):
            raise InvalidImageError(
                f"{self.name} takes [N, 3, {self.input_size}, {self.input_size}] crop tensors, got {tuple(crops.shape)}"
            )
        raw: NDArray[np.floating] = self._run_tensor_chunks(crops, on_chunk)
        if flip and crops.shape[0]:
            raw = (raw + self._run_tensor_chunks(crops.flip(3), None)) / 2
        return EmbeddingResult.from_raw(raw)

    def _run_chunks(self, crops: NDArray[np.uint8], on_chunk: Callable[[int], None] | None) -> NDArray[np.float32]:
        outputs = []
        step = self.batch_size
        for start in range(0, crops.shape[0], step):
            chunk = crops[start : start + step]
            count = chunk.shape[0]
            if self.fixed_batch is not None and count < self.fixed_batch:
                padding = np.zeros((self.fixed_batch - count, *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, padding])
            outputs.append(self.backend.run(self.preprocess(chunk))[:count].reshape(count, -1))
            if on_chunk is not None:
                on_chunk(count)
        return np.concatenate(outputs) if outputs else np.zeros((0, self.dimension), np.float32)

    def embed_crops(
        self, crops: NDArray[np.uint8], flip: bool = False, on_chunk: Callable[[int], None] | None = None
    ) -> EmbeddingResult:
        """Embed aligned crops.

        Args:
            crops: ``[N, S, S, 3]`` uint8 RGB, aligned with ``self.template`` at ``self.input_size``.
            flip: test-time augmentation: average with the embedding of the mirrored crop.
            on_chunk: called with the number of faces after each model call (progress).

        Raises:
            InvalidImageError: wrong shape or dtype.
        """
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3) or crops.dtype != np.uint8:
            raise InvalidImageError(
                f"{self.name} takes [N, {self.input_size}, {self.input_size}, 3] uint8 RGB crops, "
                f"got {crops.shape} {crops.dtype}. Align faces first (align.align_faces)."
            )
        raw: NDArray[np.floating] = self._run_chunks(crops, on_chunk)
        if flip and crops.shape[0]:
            raw = (raw + self._run_chunks(np.ascontiguousarray(crops[:, :, ::-1]), None)) / 2
        return EmbeddingResult.from_raw(raw)

    def align(self, image: RGBImage, faces: Sequence[Face]) -> tuple[NDArray[np.uint8], list[Face]]:
        """Crops of ``faces`` in ``image`` aligned for this model, and the faces with their matrices."""
        crops, aligned = align_faces(image, faces, self.template, self.input_size)
        return crops.astype(np.uint8, copy=False), aligned

    def embed_faces(
        self,
        images: Sequence[RGBImage],
        faces_per_image: Sequence[Sequence[Face]],
        flip: bool = False,
        on_chunk: Callable[[int], None] | None = None,
    ) -> tuple[EmbeddingResult, list[Face]]:
        """Align every face of every image, then embed all crops in batches.

        Returns:
            ``(embeddings of all faces, the aligned faces)``, image by image, each image's faces in the given order.
        """
        if len(images) != len(faces_per_image):
            raise InvalidArgumentError(f"{len(images)} images but faces for {len(faces_per_image)}")
        crop_list, aligned_faces = [], []
        for image, faces in zip(images, faces_per_image):
            if faces:
                crops, aligned = self.align(image, faces)
                crop_list.append(crops)
                aligned_faces.extend(aligned)
        crops_all = np.concatenate(crop_list) if crop_list else np.zeros((0, self.input_size, self.input_size, 3), np.uint8)
        return self.embed_crops(crops_all, flip=flip, on_chunk=on_chunk), aligned_faces

    def identity(
        self, result: EmbeddingResult, faces: Sequence[Face] | None = None, face_indices: Sequence[int] | None = None
    ) -> Identity:
        """An ``Identity`` with one row per embedded face, remembering where each came from."""
        return identity_from_embeddings(result, self.model_id, faces, face_indices)


def identity_from_embeddings(
    result: EmbeddingResult,
    model_id: str,
    faces: Sequence[Face] | None = None,
    face_indices: Sequence[int] | None = None,
) -> Identity:
    """Wrap embeddings as an ``Identity`` (raw norms kept, sources from ``faces`` when given)."""
    count = len(result)
    if count == 0:
        raise InvalidArgumentError("no embeddings to make an identity from")
    if faces is not None and len(faces) != count:
        raise InvalidArgumentError(f"{count} embeddings but {len(faces)} faces")
    return Identity(
        embeddings=result.normalised,
        model_id=model_id,
        norms=result.norms,
        image_indices=np.array([f.image_index for f in faces]) if faces is not None else None,
        face_indices=np.asarray(face_indices) if face_indices is not None else None,
        bboxes=np.stack([f.bbox for f in faces]) if faces is not None else None,
        landmarks=np.stack([f.landmarks for f in faces]) if faces is not None else None,
    )


def embedding_space_for(
    path: os.PathLike[str] | str,
    spec: ModelSpec | None = None,
    *,
    verified: bool = False,
    model: ModelSession | None = None,
) -> str:
    """The model id (embedding space) of a recognizer file.

    The catalog's space (``arcface_w600k_r50``) is granted only when the file is that model: its
    CRC32 matched the published ``.hash`` (``verified``), or, with no sidecar, its signature and
    size are the catalog model's (``integrity.KNOWN_GRAPHS``; needs ``model``). Anything else,
    including a smaller model copied under a catalog name, is ``<file stem>@<crc32>`` (content-keyed),
    with a warning when a catalog name was refused, so its identities never compare with the real
    model's.
    """
    file_path = Path(os.fspath(path))
    if spec is None or not spec.embedding_space:
        return f"{file_path.stem}@{cached_crc32(file_path)}"
    if verified:
        return spec.embedding_space
    shapes_in = [info.shape for info in model.inputs] if model is not None else []
    shapes_out = [info.shape for info in model.outputs] if model is not None else []
    reason = graph_mismatch(file_path, spec, shapes_in, shapes_out)
    if reason is None:
        return spec.embedding_space
    content_id = f"{file_path.stem}@{cached_crc32(file_path)}"
    logger.warning(
        "%s has the name of %s but is not that model (no %s beside it, and its graph differs: %s). Its identities "
        "are tagged %s and will not compare with %s identities; use the real model (face-identity download %s) "
        "for those.",
        file_path,
        spec.name,
        spec.hash_filename or ".hash file",
        reason,
        content_id,
        spec.embedding_space,
        spec.name,
    )
    return content_id


def _probe(model: ModelSession) -> Probe:
    """Two seeded crops normalised as ArcFace wants them (about -1..1), for checking a torch conversion."""
    info = model.inputs[0]
    size = info.shape[2] if isinstance(info.shape[2], int) and info.shape[2] > 0 else 112
    crops = np.random.default_rng(112).random((2, 3, size, size), dtype=np.float32) * 2 - 1
    return Probe({info.name: crops}, (info.name,))


def load_recognizer(
    name_or_path: str | os.PathLike[str] = "arcface_w600k_r50",
    folders: Sequence[str | os.PathLike[str]] = (),
    options: LoadOptions | None = None,
    *,
    batch_size: int | None = None,
    model_id: str | None = None,
    **keywords: Unpack[LoadKeywords],
) -> ArcFaceRecognizer:
    """Find (or download), open and check an ArcFace recognizer.

    Args:
        name_or_path: catalog name or ``.onnx`` path.
        folders: model folders to search before downloading.
        options: how to find and run it (``runner.LoadOptions``); its fields may also be given as keywords:
            ``providers`` (``auto``, ``cuda``, ``cpu``, ...), ``strict`` (raise when a requested GPU provider is
            not active), ``backend`` (``onnxruntime``, ``torch`` or ``auto``: torch on a GPU device, onnxruntime
            on CPU), ``device`` and ``dtype`` (torch device and precision), ``device_id`` (onnxruntime's GPU), ...
        batch_size: faces per call, a whole number >= 1 (``None`` = automatic: 1 for batch-dependent
            int8 models, 32 on CPU, 256 on GPU; 0 and negatives are refused).
        model_id: override the embedding-space id (e.g. when a renamed w600k_r50 copy is used).

    The torch conversion quantizes each face on its own (its embeddings do not depend on the batch)
    and is kept only when it matches onnxruntime on a probe (``runner.load_runner``). Without
    onnxruntime installed, ``auto`` (and ``torch``) run the torch conversion; ``onnxruntime`` raises
    ``ProviderUnavailableError`` saying how to install it. Once the torch backend is chosen no
    onnxruntime session stays open (``model`` is then a ``runtime.graph_session``).

    Raises:
        ModelMismatchError: the file is not a recognizer ("... is a face detector, not a face recognizer"),
            or a catalog recognizer's inputs/outputs differ from its catalog facts (crop side, embedding length).
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ProviderUnavailableError, ModelConversionError.
    """
    settings = load_options(options, keywords)
    resolved = resolve_model(name_or_path, folders, allow_download=settings.allow_download)
    model, backend = open_model(resolved.path, settings)
    require_kind(model, "recognizer")
    facts = read_graph_facts(resolved.path)
    spec = resolved.spec if resolved.spec is not None and resolved.spec.role == "recognizer" else None
    space = model_id or embedding_space_for(resolved.path, spec, verified=resolved.verified, model=model)
    io = None
    if spec is not None:  # the catalog states the crop side and the embedding length
        width, height = spec.input_size
        outputs = ((None, spec.embedding_dim),) if spec.embedding_dim else ()
        io = IOFacts(f"the {spec.name} catalog facts", {model.inputs[0].name: (None, 3, height, width)}, outputs)
    runner = load_runner(model, backend, settings, lambda: _probe(model), io=io, per_sample_quantization=True)
    return ArcFaceRecognizer(
        runner,
        runner.model,
        facts,
        space,
        spec.name if spec else resolved.path.stem,
        spec.template if spec and spec.template else "arcface_112",
        batch_size,
    )
