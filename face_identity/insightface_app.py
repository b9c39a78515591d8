"""insightface's ``Face`` and model objects (``det_model``, the recognizer), as other ComfyUI packs use them, on our models.

What the packs call (InstantID, PuLID and its Flux forks, InfiniteYou, UniPortrait, WithAnyone, IPAdapter_plus;
see docs/faceid.md) and what this gives them:

- ``FaceAnalysis`` (``insightface_analysis``) holds one ``DetectionModel`` and one ``RecognitionModel``;
- ``prepare(ctx_id, det_thresh, det_size)``: may be called again on the same object (640, then 320, then 160);
- ``get(img, max_num=0, det_metric="default")``: ``[H, W, 3]`` uint8 **BGR**; faces highest detector score
  first, as insightface orders them (``max_num`` keeps insightface's choice and order);
- ``det_model.input_size``: settable, and the next ``get`` letterboxes into it, as insightface 0.7.x does
  (2.1 ignores a value set after ``prepare``; the packs' 640 -> 320 retry loops were written for 0.7.x);
- ``Face``: a dict with attribute access, as insightface's.

``ctx_id`` is accepted and ignored: the device comes from ``providers`` when the models are opened.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .align import norm_crop
from .errors import InvalidArgumentError, InvalidImageError
from .protocols import Detector, Recognizer
from .types import Face as DetectedFace
from .validate import check_not_empty

logger = logging.getLogger(__name__)

DEFAULT_DET_SIZE = (640, 640)
DEFAULT_DET_THRESH = 0.5
DEFAULT_NMS_THRESH = 0.4
_PROPERTIES = frozenset({"embedding_norm", "normed_embedding", "sex"})


class Face(dict[str, Any]):
    """One face as insightface presents it: a dict whose keys are also attributes.

    - ``face.bbox`` / ``face["bbox"]``: ``[4]`` float32 x1, y1, x2, y2; ``kps``: ``[5, 2]`` float32;
      ``det_score``: float32; ``embedding``: ``[D]`` float32 raw (only when a recognizer ran).
    - Both are writable (``face.bbox = ...`` also sets ``face["bbox"]``); ``len(face)`` counts the keys set.
    - A field nobody set reads as ``None`` by attribute and raises ``KeyError`` by item.
    - ``normed_embedding``, ``embedding_norm`` and ``sex`` are properties, not keys:
      ``face["normed_embedding"]`` raises ``KeyError``, as in insightface.
    """

    def __init__(self, d: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__()
        for key, value in {**(d or {}), **kwargs}.items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _PROPERTIES:
            raise AttributeError(f"Face.{key} is computed from the other fields and cannot be set")
        if isinstance(value, dict) and not isinstance(value, Face):
            value = Face(value)
        super().__setitem__(key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self.get(name)

    def __delattr__(self, name: str) -> None:
        del self[name]

    @property
    def embedding_norm(self) -> np.floating[Any] | None:
        """L2 norm of the raw embedding, ``None`` without one."""
        embedding = self.get("embedding")
        return None if embedding is None else np.linalg.norm(embedding)

    @property
    def normed_embedding(self) -> NDArray[np.float32] | None:
        """``embedding / ||embedding||``, ``None`` without an embedding."""
        embedding = self.get("embedding")
        return None if embedding is None else embedding / np.linalg.norm(embedding)

    @property
    def sex(self) -> str | None:
        """``"M"`` / ``"F"`` from ``gender`` (never estimated here, so ``None``)."""
        gender = self.get("gender")
        return None if gender is None else ("M" if gender == 1 else "F")


def check_bgr(image: object, where: str = "get()") -> NDArray[np.uint8]:
    """``image`` when it is an ``[H, W, 3]`` uint8 array with pixels; else ``InvalidImageError``."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        raise InvalidImageError(
            f"{where} takes one BGR image as an [H, W, 3] uint8 numpy array (insightface's convention), got "
            f"{shape} {getattr(image, 'dtype', type(image).__name__)}"
        )
    check_not_empty(image, where)  # one image alone: empty is an error, as everywhere (validate.py)
    return image


def keep_max_num(faces: list[DetectedFace], image_shape: tuple[int, ...], max_num: int, metric: str) -> list[DetectedFace]:
    """insightface's ``max_num``: the ``max_num`` faces with the largest area (``"max"``) or area minus twice the
    squared distance of the box centre from the image centre (``"default"``), in that value's order."""
    if max_num <= 0 or len(faces) <= max_num:
        return faces
    centre_y, centre_x = image_shape[0] // 2, image_shape[1] // 2
    values = []
    for face in faces:
        x1, y1, x2, y2 = (float(v) for v in face.bbox)
        area = (x2 - x1) * (y2 - y1)
        offset = ((x1 + x2) / 2 - centre_x) ** 2 + ((y1 + y2) / 2 - centre_y) ** 2
        values.append(area if metric == "max" else area - 2.0 * offset)
    order = np.argsort(np.asarray(values))[::-1][:max_num]
    return [faces[int(i)] for i in order]


def pair(size: Any, what: str) -> tuple[int, int]:
    try:
        width, height = size
        return int(width), int(height)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"{what} must be a (width, height) pair of whole numbers, got {size!r}") from error


class DetectionModel:
    """insightface's SCRFD object: ``input_size`` (settable, honoured by the next ``detect``), ``det_thresh``,
    ``nms_thresh``, ``prepare`` and ``detect``, on one of our detectors."""

    taskname = "detection"

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.input_size: tuple[int, int] = DEFAULT_DET_SIZE
        self.det_thresh = DEFAULT_DET_THRESH
        self.nms_thresh = DEFAULT_NMS_THRESH

    def __repr__(self) -> str:
        return f"DetectionModel({self.detector.name}, input_size={self.input_size}, det_thresh={self.det_thresh})"

    def prepare(self, ctx_id: int = 0, **kwargs: Any) -> None:
        """Set ``input_size``, ``det_thresh`` and ``nms_thresh`` from the keywords given (``ctx_id`` is ignored)."""
        if kwargs.get("input_size") is not None:
            self.input_size = pair(kwargs["input_size"], "det_size")
        if kwargs.get("det_thresh") is not None:
            self.det_thresh = float(kwargs["det_thresh"])
        if kwargs.get("nms_thresh") is not None:
            self.nms_thresh = float(kwargs["nms_thresh"])

    def detect_faces(
        self, img: NDArray[np.uint8], input_size: object = None, max_num: int = 0, metric: str = "default"
    ) -> list[DetectedFace]:
        """Our ``Face`` records of one BGR image at ``input_size`` (default ``self.input_size``), highest score first."""
        bgr = check_bgr(img)
        width, height = pair(input_size if input_size is not None else self.input_size, "det_model.input_size")
        detector = self.detector.with_settings(
            det_size=(width, height),
            score_threshold=self.det_thresh,
            nms_threshold=self.nms_thresh,
            retry_smaller=False,
            pad_retry=False,
        )
        faces = detector.detect(np.ascontiguousarray(bgr[:, :, ::-1]))
        return keep_max_num(faces, bgr.shape, max_num, metric)

    def detect(
        self, img: NDArray[np.uint8], input_size: object = None, max_num: int = 0, metric: str = "default"
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """insightface's ``SCRFD.detect``: ``([N, 5] x1, y1, x2, y2, score, [N, 5, 2] keypoints)``, float32."""
        faces = self.detect_faces(img, input_size, max_num, metric)
        boxes = np.array([[*face.bbox, face.score] for face in faces], dtype=np.float32).reshape(-1, 5)
        kpss = np.array([face.landmarks for face in faces], dtype=np.float32).reshape(-1, 5, 2)
        return boxes, kpss


class RecognitionModel:
    """insightface's ``ArcFaceONNX`` object: ``get(img, face)`` sets ``face.embedding`` (raw); ``get_feat`` on
    aligned BGR crops; ``compute_sim``. ``model_id`` is the embedding space its vectors are in."""

    taskname = "recognition"

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self.model_id = recognizer.model_id
        side = int(getattr(recognizer, "input_size", 112))
        self.input_size = (side, side)
        self.input_shape = ["None", 3, side, side]

    def __repr__(self) -> str:
        return f"RecognitionModel({self.recognizer.name}, space={self.model_id})"

    def prepare(self, ctx_id: int = 0, **kwargs: Any) -> None:
        """Nothing to do (``ctx_id`` is ignored; the session is open)."""

    def get_feat(self, imgs: NDArray[np.uint8] | Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """Raw embeddings ``[N, D]`` float32 of aligned BGR uint8 crops (one ``[S, S, 3]`` or a list / ``[N, S, S, 3]``)."""
        batch = np.asarray(imgs)
        if batch.ndim == 3:
            batch = batch[None]
        rgb = np.ascontiguousarray(batch[..., ::-1]).astype(np.uint8)
        return np.asarray(self.recognizer.embed_crops(rgb).raw, dtype=np.float32)

    def get(self, img: NDArray[np.uint8], face: Face) -> NDArray[np.float32]:
        """Align ``face.kps`` in ``img`` (BGR), embed, set and return ``face.embedding`` (``[D]`` float32, raw)."""
        crop = norm_crop(check_bgr(img, "get()"), np.asarray(face.kps, dtype=np.float32), self.input_size[0])
        face.embedding = self.get_feat(crop)[0]
        return face.embedding

    def compute_sim(self, feat1: NDArray[np.floating], feat2: NDArray[np.floating]) -> float:
        """Cosine similarity of two vectors."""
        a, b = np.ravel(feat1).astype(np.float64), np.ravel(feat2).astype(np.float64)
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
