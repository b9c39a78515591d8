"""Identities into generation: an INSIGHTFACE object for ComfyUI_IPAdapter_plus's FaceID nodes, without the insightface package."""

from __future__ import annotations

from typing import Any

from ..face_identity import Detector, Identity, Recognizer, insightface_compatible
from . import sockets
from .comfy import use_models

INSIGHTFACE = "INSIGHTFACE"
"""ComfyUI_IPAdapter_plus's socket type for an insightface FaceAnalysis (its FaceID nodes' ``insightface`` input)."""
GENERATION_CATEGORY = f"{sockets.CATEGORY}/generation"
_FACE_ALIGN_NOTE = {
    "insightface": "face_align: the insightface package's",
    "face-identity": "insightface: face-identity's compatible module (the package is not installed)",
    "disabled": "face_align: none (insightface is not installed and FACE_IDENTITY_NO_INSIGHTFACE_SHIM is set)",
}


class InsightFaceAnalysis:
    DESCRIPTION = (
        "An insightface-compatible face analyser for ComfyUI_IPAdapter_plus's FaceID nodes (IPAdapter FaceID, FaceID Plus "
        "v2, Portrait; connect it to their 'insightface' input): our detector and w600k_r50 recognizer, no insightface "
        "package needed. With an IDENTITY (saved, averaged or from Face Embed) every face found carries that identity's "
        "embedding: generation conditioned on a multi-photo identity. Not for InstantID, PuLID or Kolors FaceID "
        "(antelopev2's glintr100 space: without the insightface package those packs get face-identity's insightface "
        "module at start-up; see docs/faceid.md)."
    )
    CATEGORY = GENERATION_CATEGORY
    FUNCTION = "build"
    RETURN_TYPES = (INSIGHTFACE, "STRING")
    RETURN_NAMES = ("insightface", "info")
    OUTPUT_TOOLTIPS = (
        "For IPAdapter_plus's FaceID nodes (the 'insightface' input), in place of IPAdapter InsightFace Loader.",
        "Detector, recognizer, mode, and who provides insightface.utils.face_align.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "detector": (sockets.DETECTOR, {"tooltip": "From Load Face Detector (retinaface_10g = buffalo_l's det_10g)."}),
                "recognizer": (
                    sockets.RECOGNIZER,
                    {"tooltip": "From Load ArcFace Model: arcface_w600k_r50, the space IP-Adapter FaceID was trained on."},
                ),
            },
            "optional": {
                "identity": (
                    sockets.IDENTITY,
                    {
                        "tooltip": "Fixed-identity mode: faces found in IPAdapter's image carry this identity's embedding "
                        "(w600k_r50 only); the image still gives the face crop FaceID Plus reads."
                    },
                ),
            },
        }

    def build(
        self, detector: Detector, recognizer: Recognizer, identity: Identity | None = None
    ) -> tuple[object, str]:  # face_identity.faceid.FaceAnalysisCompat, an object IPAdapter_plus drives
        use_models(detector, recognizer)
        analyser, face_align = insightface_compatible(detector, recognizer, identity)
        return analyser, f"{analyser.describe()} | {_FACE_ALIGN_NOTE[face_align]}"
