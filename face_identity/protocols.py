"""What a detector and a recognizer are to the code that uses them: the ``Detector`` and ``Recognizer`` protocols.

Every stage that takes a detector or a recognizer (analysis, identification, target selection,
swapping, retention) is typed with these instead of a concrete class, so the onnxruntime
``FaceDetector``, the torch ``TorchFaceDetector`` and ``ArcFaceRecognizer`` (whatever its runner) all fit,
and so does a test stand-in with the same surface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from .types import Face, Identity, RGBImage

if TYPE_CHECKING:
    from .detect.settings import DetectionSettings
    from .embed import EmbeddingResult


class Detector(Protocol):
    """Finds faces: ``Face`` records with a box, a score and 5 landmarks, highest score first; none is an empty list."""

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> DetectionSettings: ...

    def detect(self, image: RGBImage, image_index: int = 0, score_threshold: float | None = None) -> list[Face]:
        """Faces in one ``[H, W, 3]`` uint8 RGB image, each recording ``image_index``."""
        ...

    def detect_batch(
        self,
        images: Sequence[RGBImage],
        score_threshold: float | None = None,
        on_image_done: Callable[[int], None] | None = None,
    ) -> list[list[Face]]:
        """``detect`` for each image; ``result[i]`` holds image ``i``'s faces; ``on_image_done(i)`` after each."""
        ...

    def describe(self) -> str:
        """What runs it (``ModelRunner.describe``)."""
        ...

    def with_settings(self, **changes: object) -> Detector:
        """The same model with some ``DetectionSettings`` fields changed (e.g. ``score_threshold=0.4``)."""
        ...


class Recognizer(Protocol):
    """Embeds aligned face crops: ``[N, S, S, 3]`` uint8 RGB in, ``EmbeddingResult`` (raw, norms, unit rows) out."""

    @property
    def name(self) -> str: ...

    @property
    def model_id(self) -> str:
        """The embedding space its identities are tagged with (``arcface_w600k_r50``)."""
        ...

    @property
    def input_size(self) -> int: ...

    @property
    def template(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def align(self, image: RGBImage, faces: Sequence[Face]) -> tuple[NDArray[np.uint8], list[Face]]:
        """Crops of ``faces`` in ``image`` aligned for this model, and the faces with their matrices."""
        ...

    def embed_crops(
        self, crops: NDArray[np.uint8], flip: bool = False, on_chunk: Callable[[int], None] | None = None
    ) -> EmbeddingResult: ...

    def embed_faces(
        self,
        images: Sequence[RGBImage],
        faces_per_image: Sequence[Sequence[Face]],
        flip: bool = False,
        on_chunk: Callable[[int], None] | None = None,
    ) -> tuple[EmbeddingResult, list[Face]]:
        """Align every face of every image, embed all crops; the aligned faces image by image."""
        ...

    def identity(
        self, result: EmbeddingResult, faces: Sequence[Face] | None = None, face_indices: Sequence[int] | None = None
    ) -> Identity: ...
