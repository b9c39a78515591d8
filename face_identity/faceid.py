"""Identities into generation: an insightface-compatible face analyser for IP-Adapter FaceID, and FaceID embeddings.

IP-Adapter FaceID (SD1.5/SDXL, Plus, Plus v2, Portrait) was trained on insightface buffalo_l's
``normed_embedding``, i.e. the ``arcface_w600k_r50`` space our identities live in. ComfyUI_IPAdapter_plus
reaches it through an ``insightface.app.FaceAnalysis`` object; ``FaceAnalysisCompat`` is that object's
interface on our detector, alignment and recognizer:

- ``analyser.det_model.input_size = (s, s)`` (settable; the letterbox size of the next ``get``),
- ``analyser.get(bgr_uint8_hwc)`` -> ``list[CompatFace]``, highest detector score first,
- each ``CompatFace`` has ``bbox``, ``kps``, ``det_score``, ``embedding`` (raw) and ``normed_embedding``
  by attribute and by item (``face.kps`` and ``face["kps"]``).

In fixed-identity mode the faces found keep their boxes and landmarks but carry a saved or averaged
identity's embedding, so a generator is conditioned on a multi-photo identity. ``faceid_embeds`` gives
the same vectors as the tensor diffusers' FaceID pipelines take as ``ip_adapter_image_embeds``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .catalog import W600K_R50_SPACE
from .detect.settings import MAX_DET_SIZE
from .errors import IncompatibleIdentitiesError, InvalidArgumentError
from .insightface_app import check_bgr, keep_max_num
from .insightface_compat import ensure_face_align
from .protocols import Detector, Recognizer
from .types import Face, Identity
from .validate import check_integer, check_number

if TYPE_CHECKING:
    import torch

FACEID_DIMENSION = 512
DEFAULT_INPUT_SIZE = (640, 640)
"""IPAdapter_plus prepares its FaceAnalysis at det size 640 and retries 576, 512, ... 320 when nothing is found."""
COMPAT_FIELDS = ("bbox", "kps", "det_score", "embedding", "normed_embedding")


@dataclass(frozen=True, eq=False)
class CompatFace(Mapping[str, Any]):
    """One face as insightface's ``Face`` presents it, readable as ``face.kps`` or ``face["kps"]``.

    - ``bbox``: ``[4]`` float32 x1, y1, x2, y2 in source pixels.
    - ``kps``: ``[5, 2]`` float32 landmarks (image-left eye, image-right eye, nose, mouth corners).
    - ``det_score``: ``np.float32`` detector confidence.
    - ``embedding``: ``[512]`` float32 raw (un-normalised) ArcFace embedding.
    - ``normed_embedding``: ``[512]`` float32, ``embedding / ||embedding||``.

    The arrays belong to this face (fresh, writable, as insightface's). Other insightface fields
    (``gender``, ``age``, ``landmark_2d_106``...) are not estimated: reading them as attributes gives
    ``None``, as insightface's ``Face`` does for fields its models did not fill; as items they raise ``KeyError``.
    """

    bbox: NDArray[np.float32]
    kps: NDArray[np.float32]
    det_score: np.float32
    embedding: NDArray[np.float32]
    normed_embedding: NDArray[np.float32]

    def __getitem__(self, key: str) -> Any:
        if key not in COMPAT_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(COMPAT_FIELDS)

    def __len__(self) -> int:
        return len(COMPAT_FIELDS)

    def __eq__(self, other: object) -> bool:
        return self is other  # arrays inside: compare fields explicitly

    def __hash__(self) -> int:
        return id(self)

    def __getattr__(self, name: str) -> None:
        if name.startswith("_"):
            raise AttributeError(name)
        return None  # insightface Face: a field no model filled reads as None

    @property
    def embedding_norm(self) -> np.float32:
        """L2 norm of the raw embedding (insightface ``Face.embedding_norm``)."""
        return np.float32(np.linalg.norm(self.embedding))


class DetectionInputSize:
    """The part of insightface's ``det_model`` callers touch: ``input_size`` (width, height) and the thresholds.

    ``input_size`` is the box the image is letterboxed into for the next ``get``; it must be whole multiples
    of 32, at most ``MAX_DET_SIZE`` (4096) per side.
    A detector with a fixed input (e.g. 640 x 640) letterboxes into that fixed canvas at ``input_size``.
    """

    def __init__(self, input_size: tuple[int, int], det_thresh: float, nms_thresh: float) -> None:
        self.input_size = input_size
        self.det_thresh = det_thresh
        self.nms_thresh = nms_thresh

    def __repr__(self) -> str:
        return f"DetectionInputSize(input_size={self.input_size}, det_thresh={self.det_thresh}, nms_thresh={self.nms_thresh})"


def require_faceid_space(model_id: str, dimension: int, what: str) -> None:
    """Refuse anything but 512-d ``arcface_w600k_r50`` vectors, the space IP-Adapter FaceID was trained on.

    Raises:
        IncompatibleIdentitiesError: names the space given and how to get a usable one.
    """
    if model_id != W600K_R50_SPACE or dimension != FACEID_DIMENSION:
        raise IncompatibleIdentitiesError(
            f"IP-Adapter FaceID was trained on insightface buffalo_l's w600k_r50 embeddings ({W600K_R50_SPACE}, "
            f"{FACEID_DIMENSION}-d); the {what} is {model_id} ({dimension}-d), which FaceID cannot read. "
            f"Load the {W600K_R50_SPACE} recognizer (Load ArcFace Model) and embed the faces with it."
        )


def identity_vectors(identity: Identity) -> tuple[NDArray[np.float32], float]:
    """The identity as one FaceID vector: ``([D] unit centroid, raw length)``.

    The direction is the weighted mean of the rows re-normalised (``Identity.centroid``). The raw length
    is the weighted mean of the rows' known raw norms (what ``embedding`` is scaled by, as ReActor
    exports do); 0.0 when no row's raw norm is known.
    """
    direction = identity.centroid()
    all_norms = np.asarray(identity.norms, dtype=np.float64)
    known = all_norms > 0
    if not np.any(known):
        return direction, 0.0
    weights = np.asarray(identity.weights, dtype=np.float64)[known]
    norms = all_norms[known]
    length = float((weights * norms).sum() / weights.sum()) if weights.sum() > 0 else float(norms.mean())
    return direction, length


class FaceAnalysisCompat:
    """insightface ``FaceAnalysis``'s detection + recognition interface on our detector and recognizer.

    Args:
        detector: any of our detectors; ``det_model.input_size`` overrides its det size, and the
            detector's own retries (smaller sizes, padding) are off, as insightface has none.
        recognizer: the ArcFace recognizer (``arcface_w600k_r50`` for FaceID).
        identity: fixed-identity mode: every face found carries this identity's embedding instead of
            its own (see ``get``).
        require_space: the embedding space the recognizer and identity must be in; ``None`` accepts any
            (tests with other recognizers; never for FaceID).

    Raises:
        IncompatibleIdentitiesError: recognizer or identity not in ``require_space`` (512-d).
    """

    def __init__(
        self,
        detector: Detector,
        recognizer: Recognizer,
        identity: Identity | None = None,
        require_space: str | None = W600K_R50_SPACE,
    ) -> None:
        if require_space is not None:
            if require_space != W600K_R50_SPACE:
                raise InvalidArgumentError(f"require_space must be {W600K_R50_SPACE} or None, got {require_space!r}")
            require_faceid_space(recognizer.model_id, recognizer.dimension, f"recognizer {recognizer.name}")
            if identity is not None:
                require_faceid_space(identity.model_id, identity.dimension, "identity")
        elif identity is not None and identity.dimension != recognizer.dimension:
            raise IncompatibleIdentitiesError(
                f"the identity is {identity.dimension}-d but {recognizer.name} gives {recognizer.dimension}-d embeddings"
            )
        self.detector = detector
        self.recognizer = recognizer
        self.identity = identity
        self.det_model = DetectionInputSize(
            DEFAULT_INPUT_SIZE, detector.settings.score_threshold, detector.settings.nms_threshold
        )

    def __repr__(self) -> str:
        return f"FaceAnalysisCompat({self.describe()})"

    def describe(self) -> str:
        """One line: detector, recognizer, mode."""
        mode = (
            f"fixed identity ({len(self.identity)} row(s), {self.identity.model_id})"
            if self.identity is not None
            else "embeds the faces it finds"
        )
        return f"detector {self.detector.name} | recognizer {self.recognizer.name} ({self.recognizer.model_id}) | {mode}"

    def _detector_now(self) -> Detector:
        size = self.det_model.input_size
        try:
            width, height = size
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(f"det_model.input_size must be a (width, height) pair, got {size!r}") from error
        sides = [check_integer(side, "det_model.input_size", minimum=32, maximum=MAX_DET_SIZE) for side in (width, height)]
        return self.detector.with_settings(
            det_size=(sides[0], sides[1]),
            score_threshold=check_number(self.det_model.det_thresh, "det_model.det_thresh", minimum=0.0, maximum=1.0),
            nms_threshold=check_number(self.det_model.nms_thresh, "det_model.nms_thresh", minimum=0.0, maximum=1.0),
            retry_smaller=False,
            pad_retry=False,
        )

    def detect(self, image: NDArray[np.uint8], max_num: int = 0, det_metric: str = "default") -> list[Face]:
        """Our ``Face`` records of one BGR image at ``det_model.input_size``, highest score first (no embeddings)."""
        bgr = check_bgr(image)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        faces = self._detector_now().detect(rgb)
        return keep_max_num(faces, bgr.shape, max_num, det_metric)

    def get(self, img: NDArray[np.uint8], max_num: int = 0, det_metric: str = "default") -> list[CompatFace]:
        """Detect and embed the faces of one image, as ``insightface.app.FaceAnalysis.get``.

        Args:
            img: ``[H, W, 3]`` uint8 **BGR** (OpenCV order, insightface's convention).
            max_num: keep at most this many faces (0 = all), chosen as insightface does.
            det_metric: ``"default"`` or ``"max"`` (insightface's ``max_num`` rule).

        Returns:
            One ``CompatFace`` per face, highest detector score first (with ``max_num``: in the order of
            insightface's choice); ``[]`` when none is found.
            In fixed-identity mode each face's ``normed_embedding`` is the identity's unit centroid and
            ``embedding`` is that direction times the identity's mean raw norm (or, when the identity
            records no raw norm, times the norm of the face's own raw embedding).

        Raises:
            InvalidImageError: not an ``[H, W, 3]`` uint8 array, or an empty one (height or width 0).
            InvalidArgumentError: ``det_model.input_size`` not a pair of whole multiples of 32 in 32..4096
                (``MAX_DET_SIZE``; 640.5 is refused, never truncated), or a threshold not a finite number in 0..1.
        """
        faces = self.detect(img, max_num, det_metric)
        if not faces:
            return []
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        if self.identity is None:
            result, _ = self.recognizer.embed_faces([rgb], [faces])
            raw, normalised = result.raw, result.normalised
        else:
            direction, length = identity_vectors(self.identity)
            if length > 0:
                lengths = np.full(len(faces), length, dtype=np.float64)
            else:
                lengths = self.recognizer.embed_faces([rgb], [faces])[0].norms.astype(np.float64)
            normalised = np.repeat(direction[None, :], len(faces), axis=0).astype(np.float32)
            raw = (direction[None, :].astype(np.float64) * lengths[:, None]).astype(np.float32)
        return [
            CompatFace(
                bbox=np.array(face.bbox, dtype=np.float32),
                kps=np.array(face.landmarks, dtype=np.float32),
                det_score=np.float32(face.score),
                embedding=np.array(raw[index], dtype=np.float32),
                normed_embedding=np.array(normalised[index], dtype=np.float32),
            )
            for index, face in enumerate(faces)
        ]


def faceid_embeds(
    identity: Identity,
    rows: str = "average",
    normalised: bool = True,
    classifier_free_guidance: bool = True,
) -> torch.Tensor:
    """The identity as diffusers' IP-Adapter FaceID pipelines take it: ``ip_adapter_image_embeds=[tensor]``.

    The tensor is what diffusers' FaceID example builds from ``faces[0].normed_embedding``:
    ``[2, N, 1, 512]`` float32 on the CPU, zeros (the negative, unconditional half) first, then the
    identity; ``[1, N, 1, 512]`` without classifier-free guidance. Move it with ``.to(device, dtype)``.

    Args:
        identity: a 512-d ``arcface_w600k_r50`` identity.
        rows: ``"average"``: N = 1, the weighted centroid (one person from several photos);
            ``"all"``: N = K, each row as its own reference image (FaceID Portrait takes several).
        normalised: unit vectors (``normed_embedding``, what FaceID was trained on); ``False`` gives raw
            vectors (``embedding``, for the "portrait unnorm" SDXL model) scaled by the rows' raw norms.
        classifier_free_guidance: prepend the zero negative half.

    Raises:
        IncompatibleIdentitiesError: not a 512-d w600k_r50 identity.
        InvalidArgumentError: unknown ``rows``, or raw vectors asked of an identity with unknown norms.
    """
    import torch

    require_faceid_space(identity.model_id, identity.dimension, "identity")
    if rows == "average":
        direction, length = identity_vectors(identity)
        vectors = direction[None, :]
        lengths = np.array([length])
    elif rows == "all":
        vectors = identity.embeddings
        lengths = np.asarray(identity.norms, dtype=np.float64)
    else:
        raise InvalidArgumentError(f"rows must be 'average' or 'all', got {rows!r}")
    if not normalised:
        if np.any(lengths <= 0):
            raise InvalidArgumentError(
                "raw FaceID vectors need the faces' raw embedding norms, which this identity does not record; "
                "use normalised=True or embed the faces again with Face Embed"
            )
        vectors = vectors.astype(np.float64) * lengths[:, None]
    positive = torch.from_numpy(np.array(vectors, dtype=np.float32))[None, :, None, :]
    if not classifier_free_guidance:
        return positive
    return torch.cat([torch.zeros_like(positive), positive])


def insightface_compatible(
    detector: Detector,
    recognizer: Recognizer,
    identity: Identity | None = None,
) -> tuple[FaceAnalysisCompat, str]:
    """What the "Face Analysis (insightface-compatible)" node hands IPAdapter_plus.

    Checks the spaces (w600k_r50 only), then makes sure ``from insightface.utils import face_align`` works:
    when the insightface package is not installed, face-identity's insightface-compatible module is registered
    (``insightface_compat.ensure_face_align``; normally the pack's ``prestartup_script.py`` did so already).

    Returns:
        ``(analyser, who provides face_align)``: ``"insightface"`` (the package), ``"face-identity"`` (our module) or
        ``"disabled"`` (``FACE_IDENTITY_NO_INSIGHTFACE_SHIM`` is set).
    """
    analyser = FaceAnalysisCompat(detector, recognizer, identity)
    return analyser, ensure_face_align()
