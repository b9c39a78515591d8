"""Node groups the example workflows share: the model loaders, a photo, Face Embed, Face Detect, Identity Average,
Identity Consistency and its previews, each at the examples' settings."""

from __future__ import annotations

from .graph import Node, Workflow

Pos = tuple[int, int]


def photo(wf: Workflow, pos: Pos, title: str, image: str) -> Node:
    """A Load Image of one of the example inputs (``image``: a file name in ComfyUI's input folder)."""
    return wf.add("LoadImage", pos, title=title, image=image, upload="image")


def face_detector(wf: Workflow, pos: Pos) -> Node:
    """Load Face Detector: retinaface_10g at 640, the default thresholds."""
    return wf.add(
        "FaceIdentity_LoadFaceDetector",
        pos,
        model_name="retinaface_10g",
        det_size=640,
        score_threshold=0.5,
        nms_threshold=0.4,
        provider="auto",
        strict=False,
    )


def loaders(wf: Workflow, x: int, y: int) -> tuple[Node, Node]:
    """Load ArcFace Model (arcface_w600k_r50) at (x, y) and Load Face Detector below it: (recognizer, detector)."""
    recognizer = wf.add(
        "FaceIdentity_LoadArcFaceModel",
        (x, y),
        model_name="arcface_w600k_r50",
        backend="auto",
        provider="auto",
        precision="float32",
        batch_size=0,
        strict=False,
    )
    return recognizer, face_detector(wf, (x, y + 260))


def loaders_and_reference(wf: Workflow) -> tuple[Node, Node, Node]:
    """The loaders at the origin and the reference photo (person_a_1) below them: (recognizer, detector, photo)."""
    recognizer, detector = loaders(wf, 0, 0)
    return recognizer, detector, photo(wf, (0, 520), "Reference photo", "face_identity_person_a_1.jpg")


def embed(wf: Workflow, pos: Pos, recognizer: Node, detector: Node, image: Node, title: str | None = None) -> Node:
    """A Face Embed node reading ``image`` with the detector (no flip)."""
    return wf.add(
        "FaceIdentity_FaceEmbed",
        pos,
        title=title,
        recognizer=(recognizer, 0),
        image=(image, 0),
        detector=(detector, 0),
        flip=False,
    )


def detect(wf: Workflow, pos: Pos, image: Node, detector: Node, title: str | None = None) -> Node:
    """A Face Detect of every face of ``image``, largest first."""
    return wf.add(
        "FaceIdentity_FaceDetect",
        pos,
        title=title,
        image=(image, 0),
        detector=(detector, 0),
        order="large-small",
        indices="",
        max_faces=0,
        min_size=0,
    )


def average(wf: Workflow, pos: Pos, identities: list[Node], min_similarity: float, title: str | None = None) -> Node:
    """An Identity Average of up to four identities, each at weight 1."""
    links = {f"identity_{number}": (identity, 0) for number, identity in enumerate(identities, 1)}
    return wf.add(
        "FaceIdentity_IdentityAverage",
        pos,
        title=title,
        weight_1=1.0,
        min_similarity=min_similarity,
        weight_2=1.0,
        weight_3=1.0,
        weight_4=1.0,
        **links,
    )


def consistency(
    wf: Workflow, pos: Pos, reference: Node, images: Node, recognizer: Node, detector: Node, title: str | None = None
) -> Node:
    """An Identity Consistency node scoring ``images`` against ``reference`` at the default threshold, every face."""
    return wf.add(
        "FaceIdentity_IdentityConsistency",
        pos,
        title=title,
        reference=(reference, 0),
        images=(images, 0),
        recognizer=(recognizer, 0),
        detector=(detector, 0),
        threshold=0.4,
        order="large-small",
        indices="",
        max_faces=0,
        min_size=0,
    )


def check_previews(wf: Workflow, chart_pos: Pos, scores_pos: Pos, check: Node) -> None:
    """Identity Consistency's chart and scores, previewed."""
    wf.add("PreviewImage", chart_pos, title="Identity check chart", images=(check, 6))
    wf.add("PreviewAny", scores_pos, title="Identity scores", source=(check, 5))
