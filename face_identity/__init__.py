"""face_identity: faces -> identities, without the insightface package.

Pure library (numpy, opencv-python-headless, onnxruntime, onnx, huggingface_hub, safetensors;
torch only for the optional torch backends and the streamed stages). It never imports ComfyUI.
Importing it does no work. Everything below is the public API (``__all__``); the ComfyUI nodes use
nothing else. By stage, one module each:

- Values (``types``, ``errors``): ``Face``, ``FaceBatch``, ``Identity``, ``concatenate_identities``;
  ``FaceIdentityError`` and its subclasses ``IdentityFileError``, ``IncompatibleIdentitiesError``,
  ``InvalidArgumentError``, ``InvalidImageError``, ``InvalidLandmarksError``, ``ModelFileError``,
  ``ModelIntegrityError``, ``ModelMismatchError``, ``ModelOutputError``, ``ModelNotAvailableError``, ``NoFaceFoundError``,
  ``ProviderUnavailableError``. Faults (``faults``): ``SkippedFace``, a face a stage left as it was because
  a model output was bad (NaN, wrong shape: ``ModelOutputError``), and ``skipped_lines`` for info outputs.
- Frames (``frames``): ``Frames``, the one door of pixels: an image batch (IMAGE tensor, arrays or
  paths) validated once and converted per chunk for every stage; ``frames_per_chunk``.
- Images (``images``): ``read_image``, ``as_rgb_uint8``, ``as_float_image``, ``save_image`` (float 0..1 or uint8
  RGB to a file).
- Input policy (``validate``): ``check_image_batch``, ``check_float_range``, ``check_number``,
  ``check_integer``, ``check_index_list``, ``check_not_empty``, ``safe_name``, ``IMAGE_RANGE_TOLERANCE``.
- Models (``catalog``, ``download``): ``ModelSpec``, ``Role``, ``build_catalog``, ``get_spec``,
  ``names_for_role``, ``ResolvedModel``, ``resolve_model``, ``spec_for_file``, ``default_model_dir``.
- Runtime (``runtime``, ``runner``): ``ModelSession``, ``open_session``, ``graph_session``, ``onnxruntime_available``,
  ``PROVIDER_CHOICES``, ``BACKEND_CHOICES``, ``TORCH_PRECISIONS``; ``LoadOptions``, how every loader finds and
  runs a model (onnxruntime, or the torch conversion checked against it).
- Seams (``protocols``): ``Detector`` and ``Recognizer``, what every stage asks of a detector and a recognizer.
- Detect (``detect``): ``FaceDetector``, ``DetectionSettings``, ``load_detector``; ``TorchFaceDetector`` and
  ``load_face_detector`` (which runs an SCRFD with torch for backend torch/auto, or when onnxruntime is not installed).
- Select (``select``): ``FaceSelection``, ``EVERY_FACE``, ``FACE_ORDERS``, ``DEFAULT_ORDER``,
  ``order_faces``, ``select_faces``, ``parse_index_list``.
- Align (``align``): ``TEMPLATE_NAMES``, ``template_points``, ``estimate_similarity``,
  ``alignment_matrix``, ``align_faces``, ``norm_crop`` (insightface's ``face_align.norm_crop``); for a
  whole batch of ``Frames``: ``align_frames`` (``AlignedBatch``) and its inverse ``paste_aligned``.
- Crop and paste geometry (``geometry``): ``warp_face`` (black or replicated border), ``crop_validity_mask``,
  ``paste_back`` (insightface's feathered-square paste).
- Embed (``embed``): ``ArcFaceRecognizer``, ``EmbeddingResult``, ``load_recognizer``.
- Whole chain (``pipeline``, ``identify``): ``detect_faces`` and ``analyze`` (chunked, on the host or
  a torch device), ``Analysis``; images in, identity out whatever comes with them:
  ``identify``, ``Identification``, ``EMBED_SOURCES``.
- Compare (``compare``): ``similarity``, ``similarity_matrix``, ``cosine_matrix``, ``verdict``,
  ``match_threshold``, ``DEFAULT_MATCH_THRESHOLD``, ``average_identities``, ``drop_outlier_rows``,
  ``consistency_scores``, ``ConsistencyScores``.
- Calibrate (``calibrate``): ``calibrate_scores``, ``CalibrationReport``, ``calibrate_folder``.
- Store (``store``): ``save_identity``, ``load_identity``, ``export_reactor_face``,
  ``safe_identity_filename``, ``IF_EXISTS_CHOICES``.
- Swap (``swap``): ``load_swapper``, ``EmbeddingSwapper`` (every family, inswapper to AlphaFace, run from its
  ``SWAPPER_FACTS`` row, ``SWAPPER_FAMILY_NAMES``), ``InswapperSwapper`` (the same built from an emap),
  ``describe_facts``, ``SwapSettings``, ``TargetSelection``,
  the paste recipes and inswapper latent rules a swap can follow: ``PASTE_STYLES``, ``LATENT_RULES``,
  identity retention of a swap: ``measure_retention``, ``RetentionReport``,
  ``SELECTION_MODES``, ``PIXEL_BOOST_FACTORS``, ``swap_faces``, ``SwapResult``;
  ``detect_and_swap`` (any batch, chunked), ``SwappedBatch``; the swap that checks itself and falls back to
  the next model below a retention floor: ``swap_checked``, ``FaceCheck``.
- Identity over time (``timeline``): ``build_timeline``, ``IdentityTimeline`` of ``TimelineRow`` per frame,
  ``write_timeline`` (CSV or JSON), ``timeline_chart``.
- Model facts (``model_facts``, ``face_models``): one declarative table of the landmark, mask and
  restore models, ``ModelFacts``, ``ModelKind``, ``build_model_facts``; one loader and runner for every
  kind, ``load_face_model``, ``FaceModel``.
- 68-point landmarks (``landmarks68``): ``landmarks_68``, ``add_landmarks_68``.
- Masks (``masks``): ``MaskSpec``, ``crop_masks``, ``face_masks``, ``MASK_REGIONS``, ``MASK_AREAS``,
  ``DEFAULT_MASK_BLUR``.
- Restore (``restore``): ``restore_faces``, ``RestoreSettings``, ``RestoreResult``, ``DriftReport``,
  ``DEFAULT_RESTORE_BLEND``, ``DEFAULT_RESTORE_FIDELITY``.
- Draw (``draw``): ``draw_faces``, ``draw_frames`` (a batch of ``Frames``), ``similarity_chart``, ``score_chart``, ``retention_chart``,
  ``line_chart``.
- Generation (``faceid``, ``insightface_compat``): an insightface-compatible analyser for IPAdapter
  FaceID, ``FaceAnalysisCompat``, ``CompatFace``, ``insightface_compatible``;
  ``faceid_embeds`` for diffusers; the insightface-compatible module other packs import when the package is
  not installed (``insightface_compat`` registers it, ``insightface_modules`` fills it, ``insightface_app``:
  ``FaceAnalysis`` and ``Face``, ``insightface_packs``: buffalo_l / antelopev2 folders): ``ensure_face_align``,
  ``face_align_provider``, ``remove_face_align_stub``.

``convert`` (ONNX -> torch) is reached through the loaders' ``backend="torch"``; ``converted_graphs`` gives
the torch graphs behind loaded models (for a host's memory management, e.g. ComfyUI's).
"""

from .align import (
    TEMPLATE_NAMES,
    AlignedBatch,
    align_faces,
    align_frames,
    alignment_matrix,
    estimate_similarity,
    norm_crop,
    paste_aligned,
    template_points,
)
from .calibrate import CalibrationReport, calibrate_folder, calibrate_scores
from .catalog import ModelSpec, Role, build_catalog, get_spec, names_for_role
from .compare import (
    DEFAULT_MATCH_THRESHOLD,
    ConsistencyScores,
    average_identities,
    consistency_scores,
    cosine_matrix,
    drop_outlier_rows,
    match_threshold,
    similarity,
    similarity_matrix,
    verdict,
)
from .detect import DetectionSettings, FaceDetector, TorchFaceDetector, load_detector, load_face_detector
from .download import ResolvedModel, default_model_dir, resolve_model, spec_for_file
from .draw import draw_faces, draw_frames, line_chart, retention_chart, score_chart, similarity_chart
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
    ModelOutputError,
    NoFaceFoundError,
    ProviderUnavailableError,
)
from .face_models import FaceModel, load_face_model
from .faceid import CompatFace, FaceAnalysisCompat, faceid_embeds, insightface_compatible
from .faults import SkippedFace, skipped_lines
from .frames import Frames, frames_per_chunk
from .geometry import crop_validity_mask, paste_back, warp_face
from .identify import EMBED_SOURCES, Identification, identify
from .images import as_float_image, as_rgb_uint8, read_image, save_image
from .insightface_compat import ensure_face_align, face_align_provider, remove_face_align_stub
from .landmarks68 import add_landmarks_68, landmarks_68
from .masks import AREAS as MASK_AREAS
from .masks import DEFAULT_BLUR as DEFAULT_MASK_BLUR
from .masks import REGIONS as MASK_REGIONS
from .masks import MaskSpec, crop_masks, face_masks
from .model_facts import ModelFacts, ModelKind, build_model_facts
from .pipeline import Analysis, analyze, detect_faces
from .protocols import Detector, Recognizer
from .restore import DEFAULT_BLEND as DEFAULT_RESTORE_BLEND
from .restore import DEFAULT_FIDELITY as DEFAULT_RESTORE_FIDELITY
from .restore import DriftReport, RestoreResult, RestoreSettings, restore_faces
from .runner import LoadOptions, converted_graphs
from .runtime import (
    BACKEND_CHOICES,
    PROVIDER_CHOICES,
    TORCH_PRECISIONS,
    ModelSession,
    graph_session,
    onnxruntime_available,
    open_session,
)
from .select import DEFAULT_ORDER, EVERY_FACE, FACE_ORDERS, FaceSelection, order_faces, parse_index_list, select_faces
from .store import IF_EXISTS_CHOICES, export_reactor_face, load_identity, safe_identity_filename, save_identity
from .swap import (
    PIXEL_BOOST_FACTORS,
    SELECTION_MODES,
    EmbeddingSwapper,
    FaceCheck,
    InswapperSwapper,
    RetentionReport,
    SwappedBatch,
    SwapResult,
    SwapSettings,
    TargetSelection,
    describe_facts,
    detect_and_swap,
    load_swapper,
    measure_retention,
    swap_checked,
    swap_faces,
)
from .swapper_facts import LATENT_RULES, PASTE_STYLES, SWAPPER_FACTS, SWAPPER_FAMILY_NAMES
from .timeline import IdentityTimeline, TimelineRow, build_timeline, timeline_chart, write_timeline
from .types import Face, FaceBatch, Identity, concatenate_identities
from .validate import (
    IMAGE_RANGE_TOLERANCE,
    check_float_range,
    check_image_batch,
    check_index_list,
    check_integer,
    check_not_empty,
    check_number,
    safe_name,
)

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "ArcFaceRecognizer",
    "BACKEND_CHOICES",
    "CalibrationReport",
    "CompatFace",
    "ConsistencyScores",
    "DEFAULT_MATCH_THRESHOLD",
    "DEFAULT_ORDER",
    "DetectionSettings",
    "EMBED_SOURCES",
    "EVERY_FACE",
    "EmbeddingResult",
    "EmbeddingSwapper",
    "FACE_ORDERS",
    "Face",
    "FaceAnalysisCompat",
    "FaceBatch",
    "FaceCheck",
    "FaceDetector",
    "FaceIdentityError",
    "FaceSelection",
    "IF_EXISTS_CHOICES",
    "Identification",
    "Identity",
    "IdentityTimeline",
    "IdentityFileError",
    "IncompatibleIdentitiesError",
    "InswapperSwapper",
    "InvalidArgumentError",
    "InvalidImageError",
    "InvalidLandmarksError",
    "ModelFileError",
    "ModelIntegrityError",
    "ModelMismatchError",
    "ModelOutputError",
    "SkippedFace",
    "skipped_lines",
    "ModelNotAvailableError",
    "ModelSession",
    "ModelSpec",
    "NoFaceFoundError",
    "PIXEL_BOOST_FACTORS",
    "PROVIDER_CHOICES",
    "ProviderUnavailableError",
    "ResolvedModel",
    "RetentionReport",
    "Role",
    "SELECTION_MODES",
    "SWAPPER_FACTS",
    "SWAPPER_FAMILY_NAMES",
    "SwapResult",
    "SwapSettings",
    "SwappedBatch",
    "TEMPLATE_NAMES",
    "TORCH_PRECISIONS",
    "TargetSelection",
    "TimelineRow",
    "align_faces",
    "align_frames",
    "AlignedBatch",
    "paste_aligned",
    "alignment_matrix",
    "analyze",
    "as_float_image",
    "as_rgb_uint8",
    "average_identities",
    "build_catalog",
    "build_timeline",
    "calibrate_folder",
    "calibrate_scores",
    "concatenate_identities",
    "consistency_scores",
    "cosine_matrix",
    "crop_validity_mask",
    "default_model_dir",
    "describe_facts",
    "detect_and_swap",
    "detect_faces",
    "draw_faces",
    "draw_frames",
    "line_chart",
    "drop_outlier_rows",
    "ensure_face_align",
    "estimate_similarity",
    "export_reactor_face",
    "face_align_provider",
    "faceid_embeds",
    "frames_per_chunk",
    "Frames",
    "get_spec",
    "identify",
    "check_image_batch",
    "check_number",
    "check_integer",
    "check_index_list",
    "check_not_empty",
    "safe_name",
    "check_float_range",
    "IMAGE_RANGE_TOLERANCE",
    "LATENT_RULES",
    "PASTE_STYLES",
    "insightface_compatible",
    "load_detector",
    "load_face_detector",
    "TorchFaceDetector",
    "load_identity",
    "load_recognizer",
    "load_swapper",
    "match_threshold",
    "measure_retention",
    "swap_checked",
    "timeline_chart",
    "write_timeline",
    "names_for_role",
    "graph_session",
    "converted_graphs",
    "LoadOptions",
    "Detector",
    "Recognizer",
    "onnxruntime_available",
    "norm_crop",
    "open_session",
    "order_faces",
    "parse_index_list",
    "paste_back",
    "read_image",
    "save_image",
    "remove_face_align_stub",
    "resolve_model",
    "retention_chart",
    "safe_identity_filename",
    "save_identity",
    "score_chart",
    "select_faces",
    "similarity",
    "similarity_chart",
    "similarity_matrix",
    "spec_for_file",
    "swap_faces",
    "template_points",
    "verdict",
    "warp_face",
    "DEFAULT_MASK_BLUR",
    "DEFAULT_RESTORE_BLEND",
    "DEFAULT_RESTORE_FIDELITY",
    "MASK_AREAS",
    "MASK_REGIONS",
    "ModelKind",
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
