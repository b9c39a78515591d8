"""face_identity: faces -> identities, without the insightface package.

Pure library (numpy, opencv-python-headless, onnxruntime, onnx, huggingface_hub, safetensors;
torch only for the optional torch backend). It never imports ComfyUI. Importing it does no work.

Stages, one module each: ``catalog``/``download`` (models), ``runtime`` (onnxruntime sessions),
``detect`` (SCRFD/YOLOFace), ``select`` (face order), ``align`` (templates, warp, paste-back),
``embed`` (ArcFace), ``compare`` (similarity, averaging, thresholds), ``calibrate``, ``store``
(identity files), ``swap`` (inswapper), ``convert`` (ONNX -> torch), ``pipeline``.
"""

from .align import TEMPLATE_NAMES, align_faces, alignment_matrix, estimate_similarity, paste_back, template_points, warp_face
from .catalog import ModelSpec, build_catalog, get_spec
from .compare import (
    DEFAULT_MATCH_THRESHOLD,
    CalibrationReport,
    average_identities,
    calibrate_scores,
    cosine_matrix,
    match_threshold,
    similarity,
    similarity_matrix,
    verdict,
)
from .detect import DetectionSettings, FaceDetector, load_detector
from .download import ResolvedModel, resolve_model
from .embed import ArcFaceRecognizer, EmbeddingResult, load_recognizer
from .errors import (
    FaceIdentityError,
    IdentityFileError,
    IncompatibleIdentitiesError,
    InvalidArgumentError,
    InvalidImageError,
    InvalidLandmarksError,
    ModelFileError,
    ModelIntegrityError,
    ModelMismatchError,
    ModelNotAvailableError,
    NoFaceFoundError,
    ProviderUnavailableError,
)
from .face_models import FaceModel, load_face_model
from .images import as_rgb_uint8, read_image
from .landmarks68 import add_landmarks_68, landmarks_68
from .masks import MaskSpec, crop_masks, face_masks
from .model_facts import ModelFacts, build_model_facts
from .pipeline import Analysis, FaceSelection, analyze, detect_faces, embed_batch
from .restore import DriftReport, RestoreResult, RestoreSettings, restore_faces
from .runtime import ModelSession, open_session
from .select import FACE_ORDERS, order_faces, parse_index_list, select_faces
from .store import export_reactor_face, load_identity, safe_identity_filename, save_identity
from .swap import InswapperSwapper, SwapResult, SwapSettings, TargetSelection, detect_and_swap, load_swapper, swap_faces
from .types import Face, FaceBatch, Identity, concatenate_identities

__version__ = "0.1.0"

__all__ = [
    "FACE_ORDERS",
    "TEMPLATE_NAMES",
    "DEFAULT_MATCH_THRESHOLD",
    "Analysis",
    "ArcFaceRecognizer",
    "CalibrationReport",
    "DetectionSettings",
    "EmbeddingResult",
    "Face",
    "FaceBatch",
    "FaceDetector",
    "FaceIdentityError",
    "FaceSelection",
    "InswapperSwapper",
    "SwapResult",
    "SwapSettings",
    "TargetSelection",
    "detect_and_swap",
    "load_swapper",
    "swap_faces",
    "Identity",
    "IdentityFileError",
    "IncompatibleIdentitiesError",
    "InvalidArgumentError",
    "InvalidImageError",
    "InvalidLandmarksError",
    "ModelFileError",
    "ModelIntegrityError",
    "ModelMismatchError",
    "ModelNotAvailableError",
    "ModelSession",
    "ModelSpec",
    "NoFaceFoundError",
    "ProviderUnavailableError",
    "ResolvedModel",
    "align_faces",
    "alignment_matrix",
    "analyze",
    "as_rgb_uint8",
    "average_identities",
    "build_catalog",
    "calibrate_scores",
    "concatenate_identities",
    "cosine_matrix",
    "detect_faces",
    "embed_batch",
    "estimate_similarity",
    "export_reactor_face",
    "get_spec",
    "load_detector",
    "load_identity",
    "load_recognizer",
    "match_threshold",
    "open_session",
    "order_faces",
    "parse_index_list",
    "paste_back",
    "read_image",
    "resolve_model",
    "safe_identity_filename",
    "save_identity",
    "select_faces",
    "similarity",
    "similarity_matrix",
    "template_points",
    "verdict",
    "warp_face",
    # masks, 68-point landmarks and restoration (issue 12)
    "DriftReport",
    "FaceModel",
    "MaskSpec",
    "ModelFacts",
    "RestoreResult",
    "RestoreSettings",
    "add_landmarks_68",
    "build_model_facts",
    "crop_masks",
    "face_masks",
    "landmarks_68",
    "load_face_model",
    "restore_faces",
]
