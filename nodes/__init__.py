"""The pack's ComfyUI nodes (V1 API): one list of classes, from which the mappings are built."""

from __future__ import annotations

from .consistency import IdentityConsistency
from .faceid import InsightFaceAnalysis
from .faces import FaceAlign, FaceDetect, FacePaste, PreviewFaces
from .identity import FaceEmbed, IdentityAverage, IdentitySimilarity, LoadIdentity, SaveIdentity
from .loaders import (
    LoadArcFaceModel,
    LoadFaceDetector,
    LoadFaceLandmarker,
    LoadFaceOccluder,
    LoadFaceParser,
    LoadFaceRestorer,
    LoadFaceSwapper,
)
from .masks import FaceMask
from .restore import FaceRestore
from .swap import FaceSwap
from .track import FaceTrack

NODE_ID_PREFIX = "FaceIdentity_"

ALL_NODES: list[tuple[type, str]] = [
    (LoadArcFaceModel, "Load ArcFace Model"),
    (LoadFaceDetector, "Load Face Detector"),
    (LoadFaceSwapper, "Load Face Swapper"),
    (LoadFaceLandmarker, "Load Face Landmarker"),
    (LoadFaceOccluder, "Load Face Occluder"),
    (LoadFaceParser, "Load Face Parser"),
    (LoadFaceRestorer, "Load Face Restorer"),
    (FaceDetect, "Face Detect"),
    (FaceAlign, "Face Align"),
    (FaceEmbed, "Face Embed"),
    (IdentitySimilarity, "Identity Similarity"),
    (IdentityAverage, "Identity Average"),
    (IdentityConsistency, "Identity Consistency"),
    (SaveIdentity, "Save Identity"),
    (LoadIdentity, "Load Identity"),
    (FacePaste, "Face Paste"),
    (PreviewFaces, "Preview Faces"),
    (FaceSwap, "Face Swap"),
    (FaceTrack, "Face Track"),
    (FaceMask, "Face Mask"),
    (FaceRestore, "Face Restore"),
    (InsightFaceAnalysis, "Face Analysis (insightface-compatible)"),
]
"""(node class, display name); the node id is NODE_ID_PREFIX + the class name."""


def node_id(node_class: type) -> str:
    return NODE_ID_PREFIX + node_class.__name__


NODE_CLASS_MAPPINGS = {node_id(cls): cls for cls, _ in ALL_NODES}
NODE_DISPLAY_NAME_MAPPINGS = {node_id(cls): name for cls, name in ALL_NODES}
