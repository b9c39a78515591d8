"""Face swap with inswapper_128: project a w600k_r50 identity through the model's emap, swap aligned crops, paste back.

Images are ``[H, W, 3]`` float32 RGB in 0..1 (ComfyUI's IMAGE convention). Work stays in float32 so
pixels outside the paste mask come back bit-identical; only detection and recognition see uint8 copies.

insightface's recipe (``model_zoo/inswapper.py``), followed here:

- latent = ``normed_embedding @ emap``, divided by its L2 norm (``emap`` = the graph's last initializer);
- target crop: 5-point similarity to the ``arcface_128`` template at 128 px, fed as RGB ``pixel / 255``;
- output ``[1, 3, 128, 128]`` RGB in 0..1, pasted back with the eroded, blurred square mask (``align.paste_back``).

Additions: FaceFusion-style pixel boost, a face-area mask from the 5 landmarks, a swap strength that
blends the target's own identity in, and target selection by reference identity.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from .align import alignment_matrix, paste_back, warp_face
from .catalog import W600K_R50_SPACE
from .compare import cosine_matrix, match_threshold
from .download import resolve_model
from .errors import (
    IncompatibleIdentitiesError,
    InvalidArgumentError,
    InvalidImageError,
    ModelConversionError,
    ModelMismatchError,
)
from .images import as_rgb_uint8
from .onnx_graph import last_initializer
from .runtime import ModelSession, TensorInfo, declared_embedding_space, open_session, require_kind
from .select import DEFAULT_ORDER, FACE_ORDERS, order_faces, select_faces
from .types import AffineMatrix, Face, Identity, RGBImage

logger = logging.getLogger(__name__)

FloatImage = NDArray[np.float32]
"""[H, W, 3] float32 RGB, nominally 0..1."""

INSWAPPER_TEMPLATE = "arcface_128"
"""inswapper crops with insightface's 128 rule: ``(arcface_dst + [8, 0]) * size / 128``."""
INSWAPPER_INPUT_SIZE = 128
PIXEL_BOOST_FACTORS: tuple[int, ...] = (1, 2, 4)
"""Crop at 1x, 2x or 4x the model size; FaceFusion offers 128..1024 px for inswapper (1x..8x)."""
FACE_AREA_HALF_WIDTH = 1.1
"""Face-area ellipse half-width, in eye distances (cheek to cheek is about two eye distances)."""
FACE_AREA_HALF_HEIGHT = 1.3
"""Face-area ellipse half-height, in eyes-to-mouth distances (brows to chin)."""
FACE_AREA_CENTRE = 0.5
"""Face-area ellipse centre: this fraction of the way from the eye midpoint to the mouth midpoint."""
CROPS_PER_STEP = 64
"""Faces prepared at once: bounds crop memory (a 4x-boost crop is 16 model inputs, 3 MB) on long batches."""
SelectionMode = Literal["all", "indices", "reference"]
SELECTION_MODES: tuple[str, ...] = ("all", "indices", "reference")
ScalarT = TypeVar("ScalarT", bound=np.generic)


@dataclass(frozen=True)
class SwapSettings:
    """How to swap each target face.

    - ``pixel_boost``: 1, 2 or 4. The face is cropped at ``pixel_boost * 128`` px, split into
      ``pixel_boost**2`` model-size images by strided sampling, each swapped, and interleaved back
      (FaceFusion's pixel boost): the pasted face has ``pixel_boost`` times the detail.
    - ``strength``: 0..1. 1 swaps in the source identity (insightface). Below 1 the target's own
      identity is blended in: ``latent = normalise(s * normalise(source @ emap) + (1 - s) *
      normalise(target @ emap))``; 0 asks the model to re-draw the target as itself. Needs a
      w600k_r50 recognizer to embed the target faces.
    - ``mask_blur``: multiplies insightface's Gaussian feather kernel (1 = insightface, 0 = nearly hard).
    - ``face_area_mask``: also limit the paste to an ellipse over brows, eyes, nose, mouth and chin,
      placed from the 5 landmarks (keeps hair, ears and background of the target).
    """

    pixel_boost: int = 1
    strength: float = 1.0
    mask_blur: float = 1.0
    face_area_mask: bool = False

    def __post_init__(self) -> None:
        if self.pixel_boost not in PIXEL_BOOST_FACTORS:
            raise InvalidArgumentError(f"pixel boost must be one of {PIXEL_BOOST_FACTORS}, got {self.pixel_boost}")
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidArgumentError(f"swap strength must lie in 0..1, got {self.strength}")
        if not 0.0 <= self.mask_blur <= 8.0:
            raise InvalidArgumentError(f"mask blur must lie in 0..8, got {self.mask_blur}")


@dataclass(frozen=True)
class TargetSelection:
    """Which detected faces of each image to swap.

    - ``mode="all"``: every face (after ``min_size``), in ``order``.
    - ``mode="indices"``: positions ``indices`` of the faces sorted by ``order`` (out-of-range ones skipped).
    - ``mode="reference"``: every face whose cosine similarity to ``reference.centroid()`` is at
      least ``threshold`` (default: ``compare.match_threshold`` of the reference's model), in ``order``.
      The faces are embedded with a recognizer of the reference's model (FaceFusion's reference mode).
    - ``max_faces``: keep at most this many per image after the above (0 = no limit).
    - ``min_size``: ignore faces whose box's shorter side is below this many pixels.
    """

    mode: str = "all"
    order: str = DEFAULT_ORDER
    indices: tuple[int, ...] = ()
    reference: Identity | None = None
    threshold: float | None = None
    max_faces: int = 0
    min_size: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in SELECTION_MODES:
            raise InvalidArgumentError(f"unknown target mode {self.mode!r}; use one of: {', '.join(SELECTION_MODES)}")
        if self.order not in FACE_ORDERS:
            raise InvalidArgumentError(f"unknown face order {self.order!r}; use one of: {', '.join(FACE_ORDERS)}")
        object.__setattr__(self, "indices", tuple(int(index) for index in self.indices))
        if self.mode == "indices" and not self.indices:
            raise InvalidArgumentError('target mode "indices" needs at least one face index, e.g. (0,) or (0, 2)')
        if any(index < 0 for index in self.indices):
            raise InvalidArgumentError(f"face indices must be >= 0, got {self.indices}")
        if self.mode == "reference" and self.reference is None:
            raise InvalidArgumentError('target mode "reference" needs a reference identity (the person to replace)')
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise InvalidArgumentError(f"similarity threshold must lie in -1..1, got {self.threshold}")
        if self.max_faces < 0 or self.min_size < 0:
            raise InvalidArgumentError("max faces and min size must be >= 0")

    def effective_threshold(self) -> float:
        """The cosine threshold of reference mode: the given one, else the reference model's default."""
        if self.threshold is not None:
            return float(self.threshold)
        return match_threshold(self.reference.model_id) if self.reference is not None else match_threshold("")


@dataclass(frozen=True)
class SwapResult:
    """Swapped images of a batch.

    - ``images``: ``[H, W, 3]`` float32 RGB per input image; an image with no swapped face is an
      exact float32 copy of its input.
    - ``masks``: ``[H, W]`` float32 0..1 per image: the union (maximum) of the paste masks.
    - ``swapped_counts``: faces swapped per image.
    - ``targets``: the swapped faces per image, with the matrix of their swap crop
      (``align_matrix``, ``crop_size = pixel_boost * 128``, ``template = arcface_128``).
    """

    images: tuple[FloatImage, ...]
    masks: tuple[NDArray[np.float32], ...]
    swapped_counts: tuple[int, ...]
    targets: tuple[tuple[Face, ...], ...]

    @property
    def skipped(self) -> tuple[bool, ...]:
        """True for every image in which no face was swapped (returned unchanged)."""
        return tuple(count == 0 for count in self.swapped_counts)

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped)

    @property
    def swapped_total(self) -> int:
        return sum(self.swapped_counts)


class SwapperBackend(Protocol):
    """Runs the swapper graph on a batch."""

    name: str

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        """``target [N, 3, S, S]`` float32 RGB 0..1 and ``source [N, D]`` float32 latents -> ``[N, 3, S, S]`` float32."""
        ...

    def describe(self) -> str: ...


class OnnxSwapperBackend:
    """The swapper in an onnxruntime session.

    Float16-input models (``inswapper_128_fp16``) are fed float16 and their output is cast back to
    float32. A fixed batch axis (inswapper's is 1) is run chunk by chunk, padding the last chunk.
    """

    name = "onnxruntime"

    def __init__(self, model: ModelSession, target: TensorInfo, source: TensorInfo) -> None:
        self.model = model
        self.target_name = target.name
        self.source_name = source.name
        self.target_dtype = np.float16 if target.is_float16 else np.float32
        self.source_dtype = np.float16 if source.is_float16 else np.float32
        batch_axis = target.shape[0]
        self.fixed_batch = int(batch_axis) if isinstance(batch_axis, int) and batch_axis > 0 else None
        self.batch_size = self.fixed_batch or 16

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        count = target.shape[0]
        outputs = []
        for start in range(0, count, self.batch_size):
            target_chunk = target[start : start + self.batch_size]
            source_chunk = source[start : start + self.batch_size]
            real = target_chunk.shape[0]
            if self.fixed_batch is not None and real < self.fixed_batch:
                pad = self.fixed_batch - real
                target_chunk = np.concatenate([target_chunk, np.zeros((pad, *target_chunk.shape[1:]), target_chunk.dtype)])
                source_chunk = np.concatenate([source_chunk, np.repeat(source_chunk[-1:], pad, axis=0)])
            feeds = {
                self.target_name: np.ascontiguousarray(target_chunk, dtype=self.target_dtype),
                self.source_name: np.ascontiguousarray(source_chunk, dtype=self.source_dtype),
            }
            output = self.model.run(feeds)[0]
            outputs.append(np.asarray(output, dtype=np.float32)[:real])
        if not outputs:
            return np.zeros_like(target, dtype=np.float32)
        return np.concatenate(outputs)

    def describe(self) -> str:
        precision = "float16 inputs" if self.target_dtype == np.float16 else "float32"
        return f"onnxruntime ({self.model.describe_providers()}; {precision})"


class TorchSwapperBackend:
    """A swapper graph run by torch on any device: a ``convert.ConvertedGraph`` or any torch callable.

    ``graph(*inputs)`` takes the graph inputs in ``input_names`` order (``target`` ``[N, 3, S, S]``,
    ``source`` ``[N, D]``) and returns ``[N, 3, S, S]`` (or a tuple whose first item is that); it must
    already live on ``device``. Inputs are cast to ``dtype`` on ``device``; the output comes back as
    float32 numpy. ``batch_size`` crops go in per call (1 for graphs with a hard-coded batch of 1).
    """

    name = "torch"

    def __init__(
        self,
        graph: Any,
        device: Any = "cpu",
        dtype: str = "float32",
        input_names: Sequence[str] = ("target", "source"),
        batch_size: int = 1,
    ) -> None:
        import torch

        if dtype not in ("float32", "float16", "bfloat16"):
            raise InvalidArgumentError(f"unknown torch dtype {dtype!r}; use float32, float16 or bfloat16")
        self.graph = graph
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.input_names = tuple(input_names)
        self.batch_size = max(int(batch_size), 1)

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        import torch

        feeds = {"target": target, "source": source}
        outputs = []
        with torch.inference_mode():
            for start in range(0, target.shape[0], self.batch_size):
                arguments = [
                    torch.from_numpy(np.ascontiguousarray(feeds[name][start : start + self.batch_size])).to(
                        self.device, self.dtype
                    )
                    for name in self.input_names
                ]
                output = self.graph(*arguments)
                if isinstance(output, (tuple, list)):
                    output = output[0]
                outputs.append(output.float().cpu().numpy())
        return np.concatenate(outputs) if outputs else np.zeros_like(target, dtype=np.float32)

    def describe(self) -> str:
        return f"torch ({self.device}, {str(self.dtype).removeprefix('torch.')}, batch {self.batch_size})"


def project_embeddings(normed: NDArray[np.floating], emap: NDArray[np.floating]) -> NDArray[np.float32]:
    """insightface's inswapper latent: ``latent = normed @ emap``, each row divided by its L2 norm.

    Args:
        normed: ``[D]`` or ``[K, D]`` unit-length w600k_r50 embeddings.
        emap: ``[D, D]`` the swapper's last initializer.

    Returns:
        ``[K, D]`` float32 unit rows (computed in float64).
    """
    rows = np.atleast_2d(np.asarray(normed, dtype=np.float64))
    latents = rows @ np.asarray(emap, dtype=np.float64)
    norms = np.linalg.norm(latents, axis=1, keepdims=True)
    return (latents / np.maximum(norms, 1e-12)).astype(np.float32)


def blend_latents(
    source_latent: NDArray[np.floating], target_latents: NDArray[np.floating], strength: float
) -> NDArray[np.float32]:
    """Swap strength: ``normalise(s * source_latent + (1 - s) * target_latent)`` per target row.

    Args:
        source_latent: ``[D]`` unit latent of the source identity (``project_embeddings``).
        target_latents: ``[K, D]`` unit latents of the target faces' own identities.
        strength: ``s`` in 0..1; 1 returns the source latent for every row.

    Returns:
        ``[K, D]`` float32 unit rows.
    """
    if not 0.0 <= strength <= 1.0:
        raise InvalidArgumentError(f"swap strength must lie in 0..1, got {strength}")
    source = np.asarray(source_latent, dtype=np.float64).reshape(1, -1)
    targets = np.atleast_2d(np.asarray(target_latents, dtype=np.float64))
    mixed = strength * source + (1.0 - strength) * targets
    norms = np.linalg.norm(mixed, axis=1, keepdims=True)
    return (mixed / np.maximum(norms, 1e-12)).astype(np.float32)


def split_pixel_boost(crop: NDArray[ScalarT], factor: int) -> NDArray[ScalarT]:
    """Split a ``factor * S`` crop into ``factor**2`` model-size images by strided sampling.

    Tile ``i * factor + j`` holds ``crop[i::factor, j::factor]``: the whole face at sub-pixel phase
    ``(i, j) / factor`` (FaceFusion's ``implode_pixel_boost``).

    Args:
        crop: ``[factor * S, factor * S, C]``.

    Returns:
        ``[factor**2, S, S, C]`` of the crop's dtype.
    """
    side = crop.shape[0]
    if crop.ndim != 3 or crop.shape[1] != side or side % factor:
        raise InvalidArgumentError(f"pixel boost {factor} needs a square crop whose side divides by {factor}, got {crop.shape}")
    size = side // factor
    channels = crop.shape[2]
    tiles = crop.reshape(size, factor, size, factor, channels).transpose(1, 3, 0, 2, 4)
    return np.ascontiguousarray(tiles.reshape(factor * factor, size, size, channels))


def merge_pixel_boost(tiles: NDArray[ScalarT], factor: int) -> NDArray[ScalarT]:
    """Interleave ``factor**2`` model-size images back into one ``factor * S`` crop (inverse of ``split_pixel_boost``).

    Args:
        tiles: ``[factor**2, S, S, C]``.

    Returns:
        ``[factor * S, factor * S, C]`` of the tiles' dtype.
    """
    if tiles.ndim != 4 or tiles.shape[0] != factor * factor or tiles.shape[1] != tiles.shape[2]:
        raise InvalidArgumentError(f"pixel boost {factor} needs [{factor * factor}, S, S, C] tiles, got {tiles.shape}")
    size, channels = tiles.shape[1], tiles.shape[3]
    crop = tiles.reshape(factor, factor, size, size, channels).transpose(2, 0, 3, 1, 4)
    return np.ascontiguousarray(crop.reshape(factor * size, factor * size, channels))


def landmarks_in_crop(landmarks: NDArray[np.floating], matrix: AffineMatrix) -> NDArray[np.float64]:
    """``[5, 2]`` image landmarks mapped into crop pixels by the ``[2, 3]`` image-to-crop matrix."""
    points = np.asarray(landmarks, dtype=np.float64)
    return points @ np.asarray(matrix, dtype=np.float64)[:, :2].T + np.asarray(matrix, dtype=np.float64)[:, 2]


def face_area_mask(crop_landmarks: NDArray[np.floating], crop_size: int) -> NDArray[np.float32]:
    """``[S, S]`` float32 0/1 ellipse over the inner face, placed from 5 crop-space landmarks.

    The ellipse is tilted with the eye line, centred ``FACE_AREA_CENTRE`` of the way from the eye
    midpoint to the mouth midpoint, ``FACE_AREA_HALF_WIDTH`` eye distances wide on each side and
    ``FACE_AREA_HALF_HEIGHT`` eyes-to-mouth distances tall on each side. ``paste_mask`` erodes
    and feathers it like the square.
    """
    points = np.asarray(crop_landmarks, dtype=np.float64)
    eyes = (points[0] + points[1]) / 2
    mouth = (points[3] + points[4]) / 2
    eye_vector = points[1] - points[0]
    eye_distance = max(float(np.linalg.norm(eye_vector)), 1e-6)
    axis_x = eye_vector / eye_distance
    axis_y = np.array([-axis_x[1], axis_x[0]])  # eye line turned 90 degrees, pointing down the face
    centre = eyes + FACE_AREA_CENTRE * (mouth - eyes)
    half_width = FACE_AREA_HALF_WIDTH * eye_distance
    half_height = FACE_AREA_HALF_HEIGHT * max(float(np.linalg.norm(mouth - eyes)), 1e-6)
    ys, xs = np.mgrid[0:crop_size, 0:crop_size].astype(np.float64)
    offset_x, offset_y = xs - centre[0], ys - centre[1]
    along = offset_x * axis_x[0] + offset_y * axis_x[1]
    across = offset_x * axis_y[0] + offset_y * axis_y[1]
    inside = (along / half_width) ** 2 + (across / half_height) ** 2 <= 1.0
    return inside.astype(np.float32)


def as_float_image(image: NDArray[np.generic]) -> FloatImage:
    """A float32 ``[H, W, 3]`` RGB copy of an image: floats kept as they are (0..1), uint8 divided by 255.

    Raises:
        InvalidImageError: not ``[H, W, 3]``, unsupported dtype, or non-finite values.
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise InvalidImageError(f"expected an [H, W, 3] RGB image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidImageError(f"unsupported image dtype {array.dtype}; use float32 in 0..1 or uint8")
    converted = np.array(array, dtype=np.float32, copy=True)
    if not np.all(np.isfinite(converted)):
        raise InvalidImageError("image contains NaN or infinity")
    return converted


class InswapperSwapper:
    """inswapper_128 (or a model with its I/O): identity latents in, swapped 128 crops out.

    Attributes:
        name: catalog name or file stem.
        emap: ``[D, D]`` float32, the graph's last initializer (the identity projection).
        embedding_space: the identity space the projection expects (``arcface_w600k_r50``).
        input_size: model crop side (128). template: alignment template (``arcface_128``).
        backend: what runs the graph (onnxruntime session, or a converted torch module).
    """

    def __init__(
        self,
        backend: SwapperBackend,
        model: ModelSession | None,
        emap: NDArray[np.floating],
        name: str,
        input_size: int = INSWAPPER_INPUT_SIZE,
        template: str = INSWAPPER_TEMPLATE,
        embedding_space: str = W600K_R50_SPACE,
    ) -> None:
        matrix = np.asarray(emap, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ModelMismatchError(f"{name}: the emap must be a square [D, D] matrix, got shape {matrix.shape}")
        matrix.setflags(write=False)
        self.backend = backend
        self.model = model
        self.emap = matrix
        self.name = name
        self.input_size = int(input_size)
        self.template = template
        self.embedding_space = embedding_space

    @property
    def dimension(self) -> int:
        return int(self.emap.shape[0])

    def __repr__(self) -> str:
        return (
            f"InswapperSwapper({self.name!r}, size={self.input_size}, space={self.embedding_space}, "
            f"backend={self.backend.describe()})"
        )

    def require_compatible(self, identity: Identity, role: str = "source") -> None:
        """Raise unless ``identity`` lives in the space the emap projects from (w600k_r50, 512-d).

        Raises:
            IncompatibleIdentitiesError: names the identity's model and says how to make a usable one.
        """
        if identity.model_id != self.embedding_space or identity.dimension != self.dimension:
            raise IncompatibleIdentitiesError(
                f"{self.name} needs a {role} identity from {self.embedding_space} ({self.dimension}-d); this one "
                f"comes from {identity.model_id} ({identity.dimension}-d). inswapper's identity projection only "
                f"makes sense for that ArcFace space: embed the {role} face with the {W600K_R50_SPACE} recognizer."
            )

    def project(self, identity: Identity) -> NDArray[np.float32]:
        """``[D]`` float32 unit latent of an identity (its centroid through the emap, re-normalised).

        Raises:
            IncompatibleIdentitiesError: not a w600k_r50 512-d identity.
        """
        self.require_compatible(identity)
        return project_embeddings(identity.centroid(), self.emap)[0]

    def swap_crops(self, crops: NDArray[np.floating], latents: NDArray[np.floating]) -> NDArray[np.float32]:
        """Run the swapper on aligned crops.

        Args:
            crops: ``[N, S, S, 3]`` float32 RGB 0..1, aligned with ``self.template`` at ``S = self.input_size``.
            latents: ``[N, D]`` float32 unit latents (``project`` / ``blend_latents``), one per crop.

        Returns:
            ``[N, S, S, 3]`` float32 RGB clipped to 0..1.
        """
        size = self.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise InvalidImageError(f"{self.name} takes [N, {size}, {size}, 3] RGB crops, got shape {crops.shape}")
        latent_rows = np.asarray(latents, dtype=np.float32).reshape(-1, self.dimension)
        if latent_rows.shape[0] != crops.shape[0]:
            raise InvalidArgumentError(f"{crops.shape[0]} crops but {latent_rows.shape[0]} latents")
        if crops.shape[0] == 0:
            return np.zeros((0, size, size, 3), dtype=np.float32)
        blob = np.ascontiguousarray(np.asarray(crops, dtype=np.float32).transpose(0, 3, 1, 2))
        output = self.backend.run(blob, latent_rows)
        return np.clip(output.transpose(0, 2, 3, 1), 0.0, 1.0).astype(np.float32, copy=False)


def _swap_inputs(model: ModelSession) -> tuple[TensorInfo, TensorInfo]:
    by_name = {info.name: info for info in model.inputs}
    if "target" in by_name and "source" in by_name:
        return by_name["target"], by_name["source"]
    images = [info for info in model.inputs if len(info.shape) == 4]
    vectors = [info for info in model.inputs if len(info.shape) == 2]
    if len(images) != 1 or len(vectors) != 1:
        raise ModelMismatchError(f"{model.path.name}: expected an image input and a vector input, got {model.inputs}")
    return images[0], vectors[0]


TORCH_MATCH_TOLERANCE: dict[str, float] = {"float32": 2e-3, "float16": 2e-2, "bfloat16": 6e-2}
"""Largest absolute output difference (0..1 RGB) from onnxruntime on the probe for a torch conversion to count as exact."""


def _probe_inputs(size: int, dimension: int, count: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Seeded ``[count, 3, S, S]`` crops in 0..1 and ``[count, D]`` unit latents for checking a conversion."""
    rng = np.random.default_rng(128)
    crops = rng.random((count, 3, size, size), dtype=np.float32)
    latents = rng.normal(size=(count, dimension))
    return crops, (latents / np.linalg.norm(latents, axis=1, keepdims=True)).astype(np.float32)


def _checked_torch_backend(
    graph: Any,
    reference: SwapperBackend,
    device: Any,
    dtype: str,
    input_names: Sequence[str],
    size: int,
    dimension: int,
) -> tuple[TorchSwapperBackend, str | None]:
    """Wrap a converted graph and compare it with ``reference`` on a seeded probe.

    Two crops per call are tried first, then one (exports that hard-code batch 1 in a Reshape fail
    at 2). Returns the backend and ``None`` when it matches within ``TORCH_MATCH_TOLERANCE``, else
    the backend and what went wrong.
    """
    crops, latents = _probe_inputs(size, dimension, 2)
    expected = reference.run(crops, latents)
    tolerance = TORCH_MATCH_TOLERANCE[dtype]
    problem = "not run"
    for batch_size in (2, 1):
        candidate = TorchSwapperBackend(graph, device, dtype, input_names, batch_size)
        try:
            output = candidate.run(crops, latents)
        except (RuntimeError, ValueError) as error:
            problem = f"fails at {batch_size} crop(s) per call ({str(error)[:200]})"
            continue
        difference = float(np.abs(output - expected).max()) if output.shape == expected.shape else math.inf
        if difference <= tolerance:
            logger.debug("torch swapper: %d crop(s) per call, max difference %.3g", batch_size, difference)
            return candidate, None
        problem = f"differs from onnxruntime by up to {difference:.3g} (allowed {tolerance:g} in {dtype})"
    return candidate, problem


def _torch_swapper_backend(
    path: os.PathLike[str] | str, backend: str, device: Any, dtype: str, reference: SwapperBackend, size: int, dimension: int
) -> SwapperBackend | None:
    """The swapper converted to torch by ``face_identity.convert``, if it matches onnxruntime; else ``None``.

    ``auto`` keeps onnxruntime on a CPU device or one torch cannot use, when the graph has an op the converter lacks, and
    when the converted graph's output on a seeded probe differs from onnxruntime's by more than
    ``TORCH_MATCH_TOLERANCE``; ``torch`` raises in those cases instead (the CPU is allowed).

    Raises:
        ModelConversionError: ``backend="torch"`` and the graph cannot be converted exactly.
    """
    from .convert import convert_model, torch_target

    name = Path(path).name
    target = torch_target(name, backend, device, dtype)
    if target is None:
        return None
    torch_device, torch_dtype = target
    precision = str(torch_dtype).removeprefix("torch.")
    try:
        graph = convert_model(path, dtype=precision, device=torch_device)
        converted, problem = _checked_torch_backend(graph, reference, torch_device, precision, graph.input_names, size, dimension)
    except ModelConversionError as error:
        if backend == "torch":
            raise ModelConversionError(f"cannot run {name} with the torch backend: {error}") from error
        logger.warning("%s: torch conversion failed (%s); using onnxruntime instead", name, error)
        return None
    if problem is not None:
        message = f"{name}: the torch conversion {problem}"
        if backend == "torch":
            raise ModelConversionError(message + "; use backend='onnxruntime'")
        logger.warning("%s; using onnxruntime instead", message)
        return None
    logger.info("%s runs in torch: %s", name, converted.describe())
    return converted


def load_swapper(
    name_or_path: str | os.PathLike[str] = "inswapper_128",
    folders: Sequence[str | os.PathLike[str]] = (),
    *,
    providers: str | Sequence[str] = "auto",
    strict: bool = False,
    allow_download: bool = True,
    backend: str = "onnxruntime",
    device: Any = None,
    dtype: str = "float32",
    embedding_space: str | None = None,
    device_id: int = 0,
) -> InswapperSwapper:
    """Find (or download), open and check an inswapper-style swapper.

    Args:
        name_or_path: ``inswapper_128``, ``inswapper_128_fp16`` or an ``.onnx`` path (an existing
            ``insightface/inswapper_128.onnx`` in ``folders`` is found as is).
        folders: model folders to search before downloading.
        providers: onnxruntime provider choice (``auto``, ``cuda``, ``cpu``, ...).
        strict: raise when a requested GPU provider is not active.
        backend: ``onnxruntime``; ``torch`` runs the graph converted by ``face_identity.convert`` on
            ``device`` (checked against onnxruntime on a probe at load); ``auto`` does so on a GPU
            device when the conversion is exact, and keeps onnxruntime otherwise.
        device, dtype: torch device (default: CUDA if available) and precision (``float32``,
            ``float16``, ``bfloat16``) of the torch backend.
        embedding_space: identity space the emap expects (default: the one the file declares in its ONNX
            metadata, ``runtime.EMBEDDING_SPACE_METADATA_KEY``; else the catalog's, else ``arcface_w600k_r50``).
        device_id: GPU index for onnxruntime's GPU providers.

    Raises:
        ModelMismatchError: not a swapper, or the last initializer is not a ``[D, D]`` emap for the ``[1, D]`` source.
        ModelConversionError: ``backend="torch"`` and the graph does not convert exactly.
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ProviderUnavailableError.
    """
    if backend not in ("onnxruntime", "torch", "auto"):
        raise InvalidArgumentError(f"unknown backend {backend!r}; use onnxruntime, torch or auto")
    resolved = resolve_model(name_or_path, folders, allow_download=allow_download)
    model = open_session(resolved.path, providers, strict=strict, device_id=device_id)
    require_kind(model, "swapper")
    target, source = _swap_inputs(model)
    emap = last_initializer(resolved.path)
    source_dim = source.shape[1] if isinstance(source.shape[1], int) and source.shape[1] > 0 else emap.shape[-1]
    if emap.shape != (source_dim, source_dim):
        raise ModelMismatchError(
            f"{resolved.path.name}: the last initializer has shape {list(emap.shape)}, not the "
            f"[{source_dim}, {source_dim}] identity projection (emap) inswapper keeps there. "
            "This swapper is not inswapper-compatible."
        )
    spec = resolved.spec if resolved.spec is not None and resolved.spec.role == "swapper" else None
    side = target.shape[2]
    input_size = int(side) if isinstance(side, int) and side > 0 else (spec.input_size[1] if spec else INSWAPPER_INPUT_SIZE)
    chosen: SwapperBackend = OnnxSwapperBackend(model, target, source)
    if backend in ("torch", "auto"):
        converted = _torch_swapper_backend(resolved.path, backend, device, dtype, chosen, input_size, int(source_dim))
        if converted is not None:
            chosen = converted
    return InswapperSwapper(
        chosen,
        model,
        emap,
        spec.name if spec else resolved.path.stem,
        input_size,
        spec.template if spec and spec.template else INSWAPPER_TEMPLATE,
        embedding_space
        or declared_embedding_space(model)
        or (spec.embedding_space if spec and spec.embedding_space else W600K_R50_SPACE),
    )


def _embed_normalised(
    recognizer: Any, images: Sequence[RGBImage], faces_per_image: Sequence[Sequence[Face]]
) -> list[NDArray[np.float32]]:
    """Per image, ``[F_i, D]`` unit embeddings of its faces (all crops embedded together)."""
    result, _ = recognizer.embed_faces(list(images), [list(faces) for faces in faces_per_image])
    counts = np.cumsum([0] + [len(faces) for faces in faces_per_image])
    return [result.normalised[counts[i] : counts[i + 1]] for i in range(len(faces_per_image))]


def reference_similarities(
    recognizer: Any,
    images: Sequence[NDArray[np.generic]],
    faces_per_image: Sequence[Sequence[Face]],
    reference: Identity,
) -> list[NDArray[np.float32]]:
    """Cosine similarity of every face to ``reference.centroid()``, per image ``[F_i]`` float32.

    Args:
        recognizer: an ``ArcFaceRecognizer`` of the reference's model.
        images: ``[H, W, 3]`` RGB, uint8 or float 0..1 (converted to uint8 for the recognizer).

    Raises:
        IncompatibleIdentitiesError: the recognizer's model is not the reference's.
    """
    if recognizer.model_id != reference.model_id or recognizer.dimension != reference.dimension:
        raise IncompatibleIdentitiesError(
            f"the reference identity comes from {reference.model_id} ({reference.dimension}-d) but the recognizer "
            f"is {recognizer.model_id} ({recognizer.dimension}-d). Embed the reference with the recognizer used "
            "for target selection."
        )
    uint8_images = [as_rgb_uint8(image) for image in images]
    centroid = reference.centroid()[None, :]
    embeddings = _embed_normalised(recognizer, uint8_images, faces_per_image)
    return [cosine_matrix(rows, centroid)[:, 0] if rows.shape[0] else np.zeros(0, np.float32) for rows in embeddings]


def select_targets(
    images: Sequence[NDArray[np.generic]],
    faces_per_image: Sequence[Sequence[Face]],
    selection: TargetSelection = TargetSelection(),
    recognizer: Any = None,
) -> list[list[Face]]:
    """The faces to swap in each image, in swap order; an image may get none.

    Args:
        images: ``[H, W, 3]`` RGB (uint8 or float 0..1); read only in reference mode.
        faces_per_image: detected faces per image.
        selection: mode, order, indices, reference and threshold.
        recognizer: an ``ArcFaceRecognizer`` of the reference's model (reference mode only).

    Raises:
        InvalidArgumentError: reference mode without a recognizer; images and face lists differ in length.
        IncompatibleIdentitiesError: recognizer and reference come from different models.
    """
    if len(images) != len(faces_per_image):
        raise InvalidArgumentError(f"{len(images)} images but faces for {len(faces_per_image)}")
    if selection.mode != "reference":
        indices = selection.indices if selection.mode == "indices" else None
        return [
            select_faces(faces, selection.order, indices, selection.max_faces, selection.min_size) for faces in faces_per_image
        ]
    if recognizer is None:
        raise InvalidArgumentError('target mode "reference" needs a recognizer to embed the target faces')
    assert selection.reference is not None  # checked by TargetSelection
    sized = [[face for face in faces if min(face.width, face.height) >= selection.min_size] for faces in faces_per_image]
    scores = reference_similarities(recognizer, images, sized, selection.reference)
    threshold = selection.effective_threshold()
    chosen = []
    for image_index, (faces, image_scores) in enumerate(zip(sized, scores, strict=True)):
        logger.debug("image %d: reference similarities %s (threshold %.3f)", image_index, np.round(image_scores, 3), threshold)
        kept = [face for face, score in zip(faces, image_scores, strict=True) if score >= threshold]
        matched = order_faces(kept, selection.order)
        chosen.append(matched[: selection.max_faces] if selection.max_faces > 0 else matched)
    return chosen


def _target_latents(
    swapper: InswapperSwapper,
    source_latent: NDArray[np.float32],
    uint8_images: Sequence[RGBImage] | None,
    images: Sequence[FloatImage],
    faces_per_image: Sequence[Sequence[Face]],
    strength: float,
    recognizer: Any,
) -> list[NDArray[np.float32]]:
    """Per image ``[F_i, D]`` latents: the source latent, blended with each target's own at strength < 1."""
    counts = [len(faces) for faces in faces_per_image]
    if strength >= 1.0 or sum(counts) == 0:
        return [np.repeat(source_latent[None, :], count, axis=0) for count in counts]
    if recognizer is None:
        raise InvalidArgumentError(
            f"swap strength {strength} < 1 blends in the target's own identity, which needs a "
            f"{swapper.embedding_space} recognizer to embed the target faces; pass recognizer=..."
        )
    if recognizer.model_id != swapper.embedding_space or recognizer.dimension != swapper.dimension:
        raise IncompatibleIdentitiesError(
            f"swap strength < 1 embeds the target faces for {swapper.name}'s projection, which needs "
            f"{swapper.embedding_space} ({swapper.dimension}-d) embeddings; the recognizer given is "
            f"{recognizer.model_id} ({recognizer.dimension}-d). Load the {W600K_R50_SPACE} recognizer."
        )
    pictures = uint8_images if uint8_images is not None else [as_rgb_uint8(image) for image in images]
    embeddings = _embed_normalised(recognizer, pictures, faces_per_image)
    return [
        blend_latents(source_latent, project_embeddings(rows, swapper.emap), strength) if rows.shape[0] else rows
        for rows in embeddings
    ]


def _swap_round(
    swapper: InswapperSwapper,
    frames: list[FloatImage],
    masks: list[NDArray[np.float32]],
    jobs: Sequence[tuple[int, Face, NDArray[np.float32]]],
    settings: SwapSettings,
) -> list[Face]:
    """Swap one face in each of several images (one job per image), updating ``frames`` and ``masks`` in place."""
    factor = settings.pixel_boost
    crop_size = swapper.input_size * factor
    tiles, latents, matrices = [], [], []
    for image_index, face, latent in jobs:
        matrix = alignment_matrix(face.landmarks, swapper.template, crop_size)
        crop = warp_face(frames[image_index], matrix, crop_size)
        tiles.append(split_pixel_boost(crop, factor))
        latents.append(np.repeat(latent[None, :], factor * factor, axis=0))
        matrices.append(matrix)
    swapped_tiles = swapper.swap_crops(np.concatenate(tiles), np.concatenate(latents))
    swapped_faces = []
    for job_number, (image_index, face, _) in enumerate(jobs):
        rows = swapped_tiles[job_number * factor * factor : (job_number + 1) * factor * factor]
        swapped_crop = merge_pixel_boost(rows, factor)
        crop_mask = (
            face_area_mask(landmarks_in_crop(face.landmarks, matrices[job_number]), crop_size)
            if settings.face_area_mask
            else None
        )
        frames[image_index], face_mask = paste_back(
            frames[image_index], swapped_crop, matrices[job_number], crop_mask, settings.mask_blur
        )
        np.maximum(masks[image_index], face_mask, out=masks[image_index])
        swapped_faces.append(face.with_alignment(matrices[job_number], crop_size, swapper.template))
    return swapped_faces


def swap_faces(
    swapper: InswapperSwapper,
    images: Sequence[NDArray[np.generic]],
    source: Identity,
    faces_per_image: Sequence[Sequence[Face]],
    settings: SwapSettings = SwapSettings(),
    recognizer: Any = None,
    uint8_images: Sequence[RGBImage] | None = None,
) -> SwapResult:
    """Swap the source identity onto the given faces of every image.

    Faces of one image are swapped one after the other on the updated image (as insightface does);
    the k-th faces of all images go through the model together.

    Args:
        swapper: from ``load_swapper``.
        images: ``[H, W, 3]`` RGB float32 0..1 (uint8 accepted, divided by 255).
        source: the identity to paste in; must come from ``arcface_w600k_r50`` (512-d). Its centroid is used.
        faces_per_image: the target faces of each image (``select_targets``); an empty list leaves the image as is.
        settings: pixel boost, strength, mask blur, face-area mask.
        recognizer: a w600k_r50 ``ArcFaceRecognizer``; needed only when ``settings.strength < 1``.
        uint8_images: uint8 copies of ``images`` the caller already has (saves a conversion at strength < 1).

    Returns:
        ``SwapResult``; images with no target are exact float32 copies of the input.

    Raises:
        IncompatibleIdentitiesError: the source is not a w600k_r50 identity (or the recognizer is not w600k_r50).
        InvalidArgumentError: strength < 1 without a recognizer; lengths differ.
    """
    if len(images) != len(faces_per_image):
        raise InvalidArgumentError(f"{len(images)} images but faces for {len(faces_per_image)}")
    source_latent = swapper.project(source)
    frames = [as_float_image(image) for image in images]
    latents = _target_latents(swapper, source_latent, uint8_images, frames, faces_per_image, settings.strength, recognizer)
    masks = [np.zeros(frame.shape[:2], dtype=np.float32) for frame in frames]
    swapped: list[list[Face]] = [[] for _ in frames]
    rounds = max((len(faces) for faces in faces_per_image), default=0)
    for face_number in range(rounds):
        jobs = [
            (image_index, faces[face_number], latents[image_index][face_number])
            for image_index, faces in enumerate(faces_per_image)
            if len(faces) > face_number
        ]
        for start in range(0, len(jobs), CROPS_PER_STEP):
            step = jobs[start : start + CROPS_PER_STEP]
            for (image_index, _, _), face in zip(step, _swap_round(swapper, frames, masks, step, settings), strict=True):
                swapped[image_index].append(face)
    counts = tuple(len(faces) for faces in swapped)
    logger.debug("swapped %d face(s) in %d image(s); %d image(s) unchanged", sum(counts), len(frames), counts.count(0))
    return SwapResult(tuple(frames), tuple(masks), counts, tuple(tuple(faces) for faces in swapped))


def detect_and_swap(
    swapper: InswapperSwapper,
    detector: Any,
    images: Sequence[NDArray[np.generic]],
    source: Identity,
    settings: SwapSettings = SwapSettings(),
    selection: TargetSelection = TargetSelection(),
    recognizer: Any = None,
    reference_recognizer: Any = None,
) -> SwapResult:
    """Detect faces in every image, pick the targets, swap the source identity onto them.

    Args:
        swapper: from ``load_swapper``.
        detector: a ``FaceDetector`` (its own settings apply).
        images: ``[H, W, 3]`` RGB float32 0..1 (uint8 accepted).
        source: ``arcface_w600k_r50`` identity to paste in.
        settings: see ``SwapSettings``.
        selection: see ``TargetSelection``.
        recognizer: w600k_r50 ``ArcFaceRecognizer`` for strength < 1 (and reference mode when
            ``reference_recognizer`` is not given).
        reference_recognizer: recognizer of the reference identity's model, for reference mode.

    Returns:
        ``SwapResult``; images without a (matching) face come back unchanged and count as skipped.
    """
    swapper.require_compatible(source)
    frames = [as_float_image(image) for image in images]
    uint8_images = [as_rgb_uint8(frame) for frame in frames]
    detected = detector.detect_batch(uint8_images)
    targets = select_targets(uint8_images, detected, selection, reference_recognizer or recognizer)
    return swap_faces(swapper, frames, source, targets, settings, recognizer, uint8_images)
