"""The face swap examples: a batch of images, the swappers side by side, a video clip with Face Track."""

from __future__ import annotations

from typing import Any

from .graph import Node, Workflow
from .parts import Pos, average, check_previews, consistency, embed, loaders, photo


def swapper_loader(wf: Workflow, pos: Pos, model_name: str, title: str | None = None) -> Node:
    return wf.add(
        "FaceIdentity_LoadFaceSwapper",
        pos,
        title=title,
        model_name=model_name,
        backend="auto",
        provider="auto",
        precision="float32",
        strict=False,
    )


def swap(
    wf: Workflow,
    pos: Pos,
    targets: Node,
    source: Node,
    swapper: Node,
    recognizer: Node,
    detector: Node,
    mask_spec: Node | None = None,
    tracking: Node | None = None,
) -> Node:
    """A Face Swap of every face at the defaults (each family's own paste), with the retention scores on (and a mask
    spec, Face Track's settings)."""
    extra: dict[str, Any] = {} if mask_spec is None else {"mask_spec": (mask_spec, 2)}
    if tracking is not None:
        extra["tracking"] = (tracking, 0)
    return wf.add(
        "FaceIdentity_FaceSwap",
        pos,
        image=(targets, 0),
        source=(source, 0),
        swapper=(swapper, 0),
        detector=(detector, 0),
        target_mode="all",
        order="large-small",
        indices="0",
        threshold=0.4,
        pixel_boost="1",
        strength=1.0,
        mask_blur=1.0,
        face_area_mask=False,
        recognizer=(recognizer, 0),
        learned_mask=False,
        measure_retention=True,
        paste="auto",
        inswapper_latent="insightface",
        **extra,
    )


def targets_batch(wf: Workflow, x: int, y: int) -> Node:
    """Two target photos batched (standing in for video frames)."""
    target_1 = photo(wf, (x, y), "Target 1", "face_identity_swap_target.jpg")
    target_2 = photo(wf, (x, y + 360), "Target 2", "face_identity_person_b.jpg")
    return wf.add(
        "ImageBatch", (x + 360, y + 40), title="Targets (in practice: video frames)", image1=(target_1, 0), image2=(target_2, 0)
    )


def source_identity(wf: Workflow, recognizer: Node, detector: Node) -> Node:
    """Identity Average of Face Embed of the two person_a photos."""
    embeds = []
    for i, name in enumerate(("face_identity_person_a_1.jpg", "face_identity_person_a_2.jpg")):
        image = photo(wf, (360, 360 * i), f"Source photo {i + 1}", name)
        embeds.append(embed(wf, (720, 40 + 260 * i), recognizer, detector, image))
    return average(wf, (1080, 120), embeds, min_similarity=-1.0, title="Source identity")


def swap_models_and_source(wf: Workflow) -> tuple[Node, Node, Node, Node]:
    """The loaders, HyperSwap's loader below them and the source identity: (recognizer, detector, swapper, source)."""
    recognizer, detector = loaders(wf, 0, 0)
    swapper = swapper_loader(wf, (0, 520), "hyperswap_1a_256")
    return recognizer, detector, swapper, source_identity(wf, recognizer, detector)


def face_swap() -> Workflow:
    wf = Workflow("face_swap")
    recognizer, detector, swapper, source = swap_models_and_source(wf)
    targets = targets_batch(wf, 360, 760)
    swapped = swap(wf, (1080, 520), targets, source, swapper, recognizer, detector)
    wf.add("SaveImage", (1440, 300), title="Swapped", images=(swapped, 0), filename_prefix="face_identity_swap")
    wf.add("PreviewAny", (1440, 680), title="Faces swapped per image", source=(swapped, 3))
    wf.add("PreviewAny", (1440, 860), title="Identity retention and leakage", source=(swapped, 5))
    wf.add("PreviewImage", (1800, 300), title="Retention chart", images=(swapped, 6))
    check = consistency(wf, (1440, 1040), source, swapped, recognizer, detector, "Does the result look like the source?")
    check_previews(wf, (1800, 760), (1800, 1100), check)
    return wf


def video_face_swap() -> Workflow:
    """A clip through Face Swap with Face Track (tracking, smoothing, fallback), back to a video with its audio and fps."""
    wf = Workflow("video_face_swap")
    recognizer, detector, swapper, source = swap_models_and_source(wf)
    clip = wf.add("LoadVideo", (0, 760), title="Clip", file="face_identity_clip.mp4", upload="image")
    parts = wf.add("GetVideoComponents", (360, 760), video=(clip, 0))
    track = wf.add(
        "FaceIdentity_FaceTrack",
        (720, 960),
        tracking=True,
        max_gap=8,
        smoothing=0.5,
        smoother="centred",
        fallback="inswapper_128",
        retention_floor=0.4,
        min_overlap=0.3,
    )
    swapped = swap(wf, (1080, 520), parts, source, swapper, recognizer, detector, tracking=track)
    video = wf.add("CreateVideo", (1440, 300), images=(swapped, 0), audio=(parts, 1), fps=(parts, 2, 24.0))
    wf.add(
        "SaveVideo",
        (1800, 300),
        title="Swapped clip",
        video=(video, 0),
        filename_prefix="video/face_identity_swap",
        format="auto",
        codec="auto",
    )
    wf.add("PreviewImage", (1440, 620), title="Identity over time", images=(swapped, 7))
    wf.add("PreviewAny", (1800, 760), title="Retention and flagged frames", source=(swapped, 5))
    return wf


COMPARED_SWAPPERS = ("hyperswap_1a_256", "inswapper_128", "simswap_256")
"""The swappers side by side in swapper_comparison: FaceFusion's default, insightface's classic, one crossface-fed family."""


def swapper_comparison() -> Workflow:
    wf = Workflow("swapper_comparison")
    recognizer, detector = loaders(wf, 0, 0)
    source_photo = photo(wf, (360, 0), "Source photo", "face_identity_person_a_1.jpg")
    source = embed(wf, (720, 40), recognizer, detector, source_photo, "Source identity")
    targets = targets_batch(wf, 360, 400)
    for row, name in enumerate(COMPARED_SWAPPERS):
        y = 560 * row
        swapper = swapper_loader(wf, (1080, y), name, f"Swapper {row + 1}: {name}")
        swapped = swap(wf, (1440, y), targets, source, swapper, recognizer, detector)
        wf.add("SaveImage", (1800, y), title=f"{name}: swapped", images=(swapped, 0), filename_prefix=f"face_identity_{name}")
        wf.add("PreviewImage", (2160, y), title=f"{name}: retention chart", images=(swapped, 6))
        wf.add("PreviewAny", (2160, y + 300), title=f"{name}: retention and leakage", source=(swapped, 5))
    return wf
