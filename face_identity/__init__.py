"""face_identity: faces -> identities, without the insightface package.

Pure library (numpy, opencv-python-headless, onnxruntime, onnx, huggingface_hub, safetensors;
torch only for the optional torch backends and the streamed stages). It never imports ComfyUI.
Importing it does no work. The public API is ``__all__`` below, by stage; docs/api.md describes each
name. The ComfyUI nodes use nothing else. Every other name stays importable from its module
(``face_identity.detect``, ``face_identity.compare``, ...), for tests, the CLI and callers who need a detail.

- Values: ``Frames`` (the one door of pixels: an image batch, IMAGE tensor, arrays or paths, validated
  once and converted per chunk for every stage), ``FaceBatch`` (the faces per image), ``Identity`` (unit
  embeddings of one recognizer, with their sources).
- Errors: ``FaceIdentityError`` (the base of every error raised on purpose), ``InvalidArgumentError``,
  ``NoFaceFoundError``, ``IncompatibleIdentitiesError``; the others (``face_identity.errors``) are
  subclasses of the base.
- Models: ``load_model`` (any role: detector, recognizer, swapper, landmarker, occluder, parser, restorer),
  what it returns as the stages see it: ``Detector``, ``Recognizer``, ``Swapper``, ``FaceModel``;
  ``converted_graphs`` (the torch graphs behind loaded models, for a host's memory management);
  ``choices`` (every option list and default, and the model catalog).
- Detect and embed: ``detect_faces`` with a ``FaceSelection``; ``identify`` (images in, identity out:
  from given faces, a detector, or aligned crops).
- Align: ``align_frames`` and its inverse ``paste_aligned``.
- Swap: ``detect_and_swap`` with ``SwapSettings``, a ``TargetSelection`` and, for a clip, ``TrackSettings``
  (face tracks, temporal smoothing); ``measure_retention``.
- Masks and restore: ``face_masks`` with a ``MaskSpec``; ``restore_faces`` with ``RestoreSettings``.
- Compare: ``compare``, ``average_identities``, ``drop_outlier_rows``, ``consistency_scores``.
- Identity files: ``save_identity``, ``load_identity``.
- Reports: ``render`` (faces drawn on frames, and the charts), ``check`` (a widget's number or text, by the
  library's rule), ``SkippedFace`` (a face a stage left as it was, and ``SkippedFace.lines``).
- Generation: ``insightface_compatible`` (an insightface-compatible analyser for IPAdapter FaceID).
"""

from .align import align_frames, paste_aligned
from .checks import check
from .compare import average_identities, compare, consistency_scores, drop_outlier_rows
from .errors import FaceIdentityError, IncompatibleIdentitiesError, InvalidArgumentError, NoFaceFoundError
from .face_models import FaceModel
from .faceid import insightface_compatible
from .faults import SkippedFace
from .frames import Frames
from .identify import identify
from .load import load_model
from .masks import MaskSpec, face_masks
from .pictures import render
from .pipeline import detect_faces
from .protocols import Detector, Recognizer
from .restore import RestoreSettings, restore_faces
from .runner import converted_graphs
from .select import FaceSelection
from .store import load_identity, save_identity
from .swap import SwapSettings, TargetSelection, detect_and_swap, measure_retention
from .swap.run import Swapper
from .tracks import TrackSettings
from .types import FaceBatch, Identity
from .ui_choices import choices

__version__ = "0.1.0"

__all__ = [
    # values
    "Frames",
    "FaceBatch",
    "Identity",
    # errors
    "FaceIdentityError",
    "InvalidArgumentError",
    "NoFaceFoundError",
    "IncompatibleIdentitiesError",
    # models
    "load_model",
    "Detector",
    "Recognizer",
    "Swapper",
    "FaceModel",
    "converted_graphs",
    "choices",
    # detect and embed
    "detect_faces",
    "FaceSelection",
    "identify",
    # align
    "align_frames",
    "paste_aligned",
    # swap
    "detect_and_swap",
    "SwapSettings",
    "TargetSelection",
    "TrackSettings",
    "measure_retention",
    # masks and restore
    "face_masks",
    "MaskSpec",
    "restore_faces",
    "RestoreSettings",
    # compare
    "compare",
    "average_identities",
    "drop_outlier_rows",
    "consistency_scores",
    # identity files
    "save_identity",
    "load_identity",
    # reports
    "render",
    "check",
    "SkippedFace",
    # generation
    "insightface_compatible",
]
