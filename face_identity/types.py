"""Values that travel between stages: Face, FaceBatch and Identity, plus named array aliases.

Conventions used throughout the library:

- ``RGBImage``: ``np.ndarray`` of shape ``[H, W, 3]``, dtype ``uint8``, RGB channel order
  (insightface feeds its models RGB too; it converts its BGR frames with ``swapRB``).
- Pixel coordinates are in the source image, x to the right, y down, pixel centres at integers
  (OpenCV's convention).
- ``Landmarks5``: ``[5, 2]`` float32 in the order image-left eye, image-right eye, nose tip,
  image-left mouth corner, image-right mouth corner (SCRFD's and insightface's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from .errors import IncompatibleIdentitiesError, InvalidArgumentError

RGBImage: TypeAlias = NDArray[np.uint8]
"""[H, W, 3] uint8, RGB."""
BoundingBox: TypeAlias = NDArray[np.float32]
"""[4] float32: x1, y1, x2, y2 in pixels."""
Landmarks5: TypeAlias = NDArray[np.float32]
"""[5, 2] float32: image-left eye, image-right eye, nose, image-left mouth, image-right mouth."""
Landmarks68: TypeAlias = NDArray[np.float32]
"""[68, 2] float32 image pixels in iBUG-68 order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67."""
AffineMatrix: TypeAlias = NDArray[np.float64]
"""[2, 3] float64 mapping source-image pixels to crop pixels."""
Embeddings: TypeAlias = NDArray[np.float32]
"""[K, D] float32."""
FloatImage: TypeAlias = NDArray[np.float32]
"""[H, W, 3] float32 RGB, nominally 0..1 (ComfyUI's IMAGE convention; what blending and swapping work in)."""


def _frozen_array(values: object, dtype: type, shape: tuple[int, ...], name: str) -> NDArray[Any]:
    array: NDArray[Any] = np.array(values, dtype=dtype, copy=True)
    if array.shape != shape:
        raise InvalidArgumentError(f"{name} must have shape {shape}, got {array.shape}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Face:
    """One face found in one image of a batch.

    ``align_matrix``/``crop_size``/``template`` are set by alignment (``align.align_faces``)
    and say how the aligned crop was cut: ``crop = warpAffine(image, align_matrix, crop_size)``.
    ``landmarks_68`` is set by the optional 68-point stage (``landmarks68.add_landmarks_68``).
    """

    bbox: BoundingBox
    score: float
    landmarks: Landmarks5
    image_index: int = 0
    align_matrix: AffineMatrix | None = None
    crop_size: int | None = None
    template: str | None = None
    landmarks_68: Landmarks68 | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bbox", _frozen_array(self.bbox, np.float32, (4,), "bbox"))
        object.__setattr__(self, "landmarks", _frozen_array(self.landmarks, np.float32, (5, 2), "landmarks"))
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "image_index", int(self.image_index))
        if self.align_matrix is not None:
            object.__setattr__(self, "align_matrix", _frozen_array(self.align_matrix, np.float64, (2, 3), "align_matrix"))
        if self.landmarks_68 is not None:
            object.__setattr__(self, "landmarks_68", _frozen_array(self.landmarks_68, np.float32, (68, 2), "landmarks_68"))

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def height(self) -> float:
        return float(self.bbox[3] - self.bbox[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def with_alignment(self, matrix: AffineMatrix, crop_size: int, template: str) -> Face:
        """The same face, remembering how its aligned crop was cut."""
        return replace(self, align_matrix=matrix, crop_size=int(crop_size), template=template)


@dataclass(frozen=True, eq=False)
class FaceBatch:
    """Faces of every image in a batch, in the chosen order; an image with no face has an empty tuple.

    ``image_sizes[i]`` is ``(height, width)`` of image ``i``, so later stages can check that they
    are handed the same images.
    """

    faces_per_image: tuple[tuple[Face, ...], ...]
    image_sizes: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        faces = tuple(tuple(image_faces) for image_faces in self.faces_per_image)
        object.__setattr__(self, "faces_per_image", faces)
        sizes = tuple((int(h), int(w)) for h, w in self.image_sizes)
        if sizes and len(sizes) != len(faces):
            raise InvalidArgumentError(f"FaceBatch has {len(faces)} images but {len(sizes)} image sizes")
        object.__setattr__(self, "image_sizes", sizes)

    def __len__(self) -> int:
        return len(self.faces_per_image)

    @property
    def face_count(self) -> int:
        return sum(len(image_faces) for image_faces in self.faces_per_image)

    def all_faces(self) -> list[Face]:
        """Every face, image by image, each image's faces in their order."""
        return [face for image_faces in self.faces_per_image for face in image_faces]


def _l2_normalise_rows(matrix: NDArray[np.floating]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    matrix64 = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix64, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return (matrix64 / safe[:, None]).astype(np.float32), norms.astype(np.float32)


@dataclass(frozen=True, eq=False)
class Identity:
    """Who one or more faces are: L2-normalised embeddings of one recognition model.

    - ``embeddings``: ``[K, D]`` float32, each row of unit length.
    - ``weights``: ``[K]`` float32 >= 0, used when the rows are averaged.
    - ``norms``: ``[K]`` float32, the L2 norm of each raw model output (0 where unknown);
      ``embeddings * norms[:, None]`` gives back the raw embeddings (ReActor files store those).
    - ``model_id``: the embedding space; identities of different spaces are never compared.
    - ``image_indices`` / ``face_indices``: ``[K]`` int64, where each row came from (-1 = unknown).
    - ``bboxes`` ``[K, 4]`` and ``landmarks`` ``[K, 5, 2]`` float32 of the source faces (NaN = unknown).

    Every field is checked when the identity is made (so also when an identity file is loaded):
    finite embeddings, weights and norms, indices >= -1, no infinite coordinate.
    """

    # A field given as None gets its default in __post_init__, so a constructed Identity always holds
    # arrays of these dtypes (the constructor's own signature, with None allowed, is declared below).
    embeddings: Embeddings
    model_id: str
    weights: NDArray[np.float32] = None  # type: ignore[assignment]
    norms: NDArray[np.float32] = None  # type: ignore[assignment]
    image_indices: NDArray[np.int64] = None  # type: ignore[assignment]
    face_indices: NDArray[np.int64] = None  # type: ignore[assignment]
    bboxes: NDArray[np.float32] = None  # type: ignore[assignment]
    landmarks: NDArray[np.float32] = None  # type: ignore[assignment]

    if TYPE_CHECKING:

        def __init__(
            self,
            embeddings: NDArray[Any],
            model_id: str,
            weights: NDArray[Any] | None = None,
            norms: NDArray[Any] | None = None,
            image_indices: NDArray[Any] | None = None,
            face_indices: NDArray[Any] | None = None,
            bboxes: NDArray[Any] | None = None,
            landmarks: NDArray[Any] | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        raw = np.asarray(self.embeddings)
        if raw.ndim == 1:
            raw = raw[None, :]
        if raw.ndim != 2 or raw.shape[0] < 1 or raw.shape[1] < 1:
            raise InvalidArgumentError(f"identity embeddings must be [K, D] with K, D >= 1, got shape {raw.shape}")
        if not np.all(np.isfinite(raw)):
            raise InvalidArgumentError("identity embeddings contain NaN or infinity")
        if not self.model_id:
            raise InvalidArgumentError("identity needs a model_id naming the embedding model")
        normalised, measured_norms = _l2_normalise_rows(raw)
        if np.any(measured_norms == 0):
            raise InvalidArgumentError("identity embeddings contain an all-zero row")
        rows = raw.shape[0]
        norms = measured_norms if self.norms is None else self.norms
        defaults: dict[str, tuple[object, type, tuple[int, ...]]] = {
            "weights": (np.ones(rows) if self.weights is None else self.weights, np.float32, (rows,)),
            "norms": (norms, np.float32, (rows,)),
            "image_indices": (np.full(rows, -1) if self.image_indices is None else self.image_indices, np.int64, (rows,)),
            "face_indices": (np.full(rows, -1) if self.face_indices is None else self.face_indices, np.int64, (rows,)),
            "bboxes": (np.full((rows, 4), np.nan) if self.bboxes is None else self.bboxes, np.float32, (rows, 4)),
            "landmarks": (
                np.full((rows, 5, 2), np.nan) if self.landmarks is None else self.landmarks,
                np.float32,
                (rows, 5, 2),
            ),
        }
        object.__setattr__(self, "embeddings", _frozen_array(normalised, np.float32, raw.shape, "embeddings"))
        for name, (values, dtype, shape) in defaults.items():
            object.__setattr__(self, name, _frozen_array(values, dtype, shape, name))
        weights = np.asarray(self.weights)
        if np.any(weights < 0) or not np.all(np.isfinite(weights)) or weights.sum() <= 0:
            raise InvalidArgumentError("identity weights must be finite, >= 0, and not all zero")
        self._check_stored_fields()

    def _check_stored_fields(self) -> None:
        """The number policy for every other stored field: a raw norm is finite and >= 0 (0 = unknown);
        source indices are >= -1 (-1 = unknown); boxes and landmarks are finite or NaN (NaN = unknown), never infinite."""
        norms = np.asarray(self.norms)
        if not np.all(np.isfinite(norms)) or np.any(norms < 0):
            raise InvalidArgumentError(
                "identity norms must be finite and >= 0 (0 = unknown); these hold NaN, infinity or a negative"
            )
        for name in ("image_indices", "face_indices"):
            if np.any(np.asarray(getattr(self, name)) < -1):
                raise InvalidArgumentError(f"identity {name} must be >= 0, or -1 for unknown")
        for name in ("bboxes", "landmarks"):
            if np.any(np.isinf(np.asarray(getattr(self, name)))):
                raise InvalidArgumentError(f"identity {name} hold infinity; a coordinate is finite, or NaN for unknown")

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    def centroid(self) -> NDArray[np.float32]:
        """``[D]`` float32 unit vector: the weighted mean of the rows, re-normalised.

        Averaging unit vectors and re-normalising keeps the result on the sphere the
        cosine similarity is measured on; each face counts by its weight, not by the
        length of its raw embedding (which tracks image quality, not identity).
        """
        weights = self.weights.astype(np.float64)
        mean = (self.embeddings.astype(np.float64) * weights[:, None]).sum(axis=0) / weights.sum()
        norm = np.linalg.norm(mean)
        if norm < 1e-12:
            raise InvalidArgumentError("the identity's rows cancel out; their average has no direction")
        return (mean / norm).astype(np.float32)

    def select(self, rows: list[int] | NDArray[np.integer]) -> Identity:
        """A new identity holding only the given rows, in the given order."""
        index = np.asarray(rows, dtype=np.int64)
        if index.size == 0:
            raise InvalidArgumentError("cannot select zero rows of an identity")
        return Identity(
            embeddings=self.embeddings[index],
            model_id=self.model_id,
            weights=self.weights[index],
            norms=self.norms[index],
            image_indices=self.image_indices[index],
            face_indices=self.face_indices[index],
            bboxes=self.bboxes[index],
            landmarks=self.landmarks[index],
        )

    @property
    def raw_norm(self) -> float:
        """The identity's raw norm: the weighted mean of its rows' raw norms (``mean_raw_norm``); 0.0 = unknown."""
        return mean_raw_norm(self.norms, self.weights)

    def raw_centroid(self) -> NDArray[np.float32]:
        """``[D]`` float32: the raw vector of the identity, its unit ``centroid`` times its ``raw_norm``.

        This is how an averaged (or saved) identity stands for a raw model output: the direction of
        the weighted mean of the unit rows, the length of the weighted mean raw norm. For one row it is
        that row's raw embedding. FaceFusion's raw-fed swappers (AlphaFace) and ReActor files take it.

        Raises:
            IncompatibleIdentitiesError: a row's raw norm is unknown (0), e.g. an identity averaged from
                rows without norms; the fix is to embed the faces again.
        """
        norm = self.raw_norm
        if norm <= 0:
            raise IncompatibleIdentitiesError(
                "this identity does not know the raw norm of its embeddings (norm 0 = unknown, e.g. a file saved "
                "without norms or an average over such rows), so it has no raw vector; embed the source faces "
                "again with the recognizer to get one"
            )
        return (self.centroid().astype(np.float64) * norm).astype(np.float32)

    def raw_embeddings(self) -> NDArray[np.float32]:
        """``[K, D]`` float32: rows scaled back by their raw norms (rows with unknown norm stay unit length)."""
        norms = np.where(self.norms > 0, self.norms, 1.0).astype(np.float32)
        return self.embeddings * norms[:, None]


def mean_raw_norm(norms: NDArray[np.floating], weights: NDArray[np.floating]) -> float:
    """The raw norm of averaged rows: ``sum(w * norm) / sum(w)`` over ``[K]`` norms and weights.

    0.0 (unknown) when any row's norm is 0 (unknown): a mean over a part of the rows would stand for
    other faces than the centroid's. ``average_identities`` stores it, ``Identity.raw_centroid`` uses it.
    """
    values = np.asarray(norms, dtype=np.float64)
    shares = np.asarray(weights, dtype=np.float64)
    total = shares.sum()
    if values.size == 0 or total <= 0 or np.any(values <= 0):
        return 0.0
    return float((values * shares).sum() / total)


def require_same_space(first: Identity, second: Identity) -> None:
    """Raise unless both identities come from the same embedding model and dimension.

    Raises:
        IncompatibleIdentitiesError: names both models and says what to do.
    """
    if first.model_id != second.model_id or first.dimension != second.dimension:
        raise IncompatibleIdentitiesError(
            f"cannot compare an identity from {first.model_id} ({first.dimension}-d) with one from "
            f"{second.model_id} ({second.dimension}-d): embeddings of different models live in different "
            "spaces. Embed both with the same recognizer."
        )


def concatenate_identities(identities: list[Identity]) -> Identity:
    """All rows of several identities of one model, in order.

    Raises:
        IncompatibleIdentitiesError: the identities come from different models or dimensions.
    """
    if not identities:
        raise InvalidArgumentError("no identities to concatenate")
    for other in identities[1:]:
        require_same_space(identities[0], other)
    return Identity(
        embeddings=np.concatenate([i.embeddings for i in identities]),
        model_id=identities[0].model_id,
        weights=np.concatenate([i.weights for i in identities]),
        norms=np.concatenate([i.norms for i in identities]),
        image_indices=np.concatenate([i.image_indices for i in identities]),
        face_indices=np.concatenate([i.face_indices for i in identities]),
        bboxes=np.concatenate([i.bboxes for i in identities]),
        landmarks=np.concatenate([i.landmarks for i in identities]),
    )
