"""The mask examples: Face Mask as inpainting input, and a swap through occlusion + region masks then restored."""

from __future__ import annotations

from .graph import Node, Workflow
from .parts import Pos, check_previews, consistency, detect, face_detector, photo
from .swap import swap, swap_models_and_source, targets_batch


def model_loader(wf: Workflow, pos: Pos, node_type: str, model_name: str) -> Node:
    """One of the mask and restorer loaders (``node_type``) at its defaults."""
    return wf.add(node_type, pos, model_name=model_name, backend="auto", provider="auto", precision="float32")


def face_mask_node(
    wf: Workflow,
    pos: Pos,
    image: Node,
    faces: Node,
    regions: str,
    occluder: Node | None = None,
    parser: Node | None = None,
    box: bool = True,
) -> Node:
    """A Face Mask: the box (unless ``box`` is off), occlusion with ``occluder``, the ``regions`` with ``parser``."""
    models = {name: (node, 0) for name, node in (("occluder", occluder), ("parser", parser)) if node is not None}
    return wf.add(
        "FaceIdentity_FaceMask",
        pos,
        image=(image, 0),
        faces=(faces, 0),
        box=box,
        occlusion=occluder is not None,
        region=parser is not None,
        area=False,
        blur=0.3,
        padding_top=0,
        padding_right=0,
        padding_bottom=0,
        padding_left=0,
        regions=regions,
        areas="upper-face, lower-face, mouth",
        **models,
    )


def face_swap_masked_restored() -> Workflow:
    """HyperSwap through occlusion + region masks (FaceFusion's order), GFPGAN on the swapped faces, then the identity check."""
    wf = Workflow("face_swap_masked_restored")
    recognizer, detector, swapper, source = swap_models_and_source(wf)
    targets = targets_batch(wf, 360, 760)
    occluder = model_loader(wf, (0, 800), "FaceIdentity_LoadFaceOccluder", "xseg_1")
    parser = model_loader(wf, (0, 1040), "FaceIdentity_LoadFaceParser", "bisenet_resnet_34")
    faces = detect(wf, (720, 1040), targets, detector, "Target faces")
    regions = "skin, brows, eyes, glasses, nose, mouth, lips"
    mask = face_mask_node(wf, (1080, 900), targets, faces, regions, occluder, parser, box=False)
    wf.add("PreviewImage", (1440, 1100), title="Mask on the targets", images=(mask, 1))
    swapped = swap(wf, (1440, 520), targets, source, swapper, recognizer, detector, mask)
    wf.add("PreviewAny", (1800, 1100), title="Retention and leakage after the swap", source=(swapped, 5))
    swapped_faces = detect(wf, (1800, 520), swapped, detector, "Swapped faces")
    restorer = model_loader(wf, (1800, 200), "FaceIdentity_LoadFaceRestorer", "gfpgan_1.4")
    restored = wf.add(
        "FaceIdentity_FaceRestore",
        (2160, 520),
        image=(swapped, 0),
        faces=(swapped_faces, 0),
        restorer=(restorer, 0),
        blend=0.8,
        fidelity=0.5,
        mask_blur=0.3,
        recognizer=(recognizer, 0),
        source=(source, 0),
    )
    wf.add(
        "SaveImage", (2520, 120), title="Swapped, masked, restored", images=(restored, 0), filename_prefix="face_identity_masked"
    )
    wf.add("PreviewAny", (2520, 520), title="Restorer drift report", source=(restored, 4))
    check = consistency(wf, (2520, 760), source, restored, recognizer, detector, "Does the final image look like the source?")
    check_previews(wf, (2880, 520), (2880, 900), check)
    return wf


INPAINT_NOTE = (
    "Face Mask's MASK is an ordinary ComfyUI mask (one per image, 0..1). Here it only composites a blurred copy inside "
    "the faces so the example runs without a checkpoint. In a real pipeline feed it to an inpainting node: "
    "VAE Encode (for Inpainting) (VAEEncodeForInpaint) or InpaintModelConditioning, with the same image."
)


def face_mask() -> Workflow:
    """Masks as inpainting input: Face Detect -> Face Mask (box + region) -> a MASK any node takes."""
    wf = Workflow("face_mask")
    detector = face_detector(wf, (0, 0))
    parser = model_loader(wf, (0, 260), "FaceIdentity_LoadFaceParser", "bisenet_resnet_34")
    image = photo(wf, (0, 480), "Image", "face_identity_swap_target.jpg")
    faces = detect(wf, (360, 0), image, detector)
    mask = face_mask_node(wf, (720, 200), image, faces, "skin, brows, eyes, nose, mouth, lips", parser=parser)
    blurred = wf.add("ImageBlur", (720, 760), image=(image, 0), blur_radius=15, sigma=8.0)
    composite = wf.add(
        "ImageCompositeMasked",
        (1080, 560),
        title="Blurred inside the mask (in practice: inpainting)",
        destination=(image, 0),
        source=(blurred, 0),
        x=0,
        y=0,
        resize_source=False,
        mask=(mask, 0),
    )
    wf.add("PreviewImage", (1440, 560), title="Result", images=(composite, 0))
    wf.add("MaskPreview", (1080, 0), title="MASK (to an inpainting node)", mask=(mask, 0))
    wf.add("PreviewImage", (1440, 0), title="Mask preview", images=(mask, 1))
    wf.add("PreviewAny", (1080, 320), title="Mask settings", source=(mask, 3))
    wf.note((1080, 920), INPAINT_NOTE)
    return wf
