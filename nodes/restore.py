"""Face Restore node: restore faces (GFPGAN, CodeFormer, GPEN-BFR, RestoreFormer++) and report identity drift."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..face_identity import (
    FaceBatch,
    FaceModel,
    Frames,
    Identity,
    MaskSpec,
    Recognizer,
    RestoreSettings,
    SkippedFace,
    check,
    choices,
    restore_faces,
)
from . import sockets
from .comfy import progress_hook, use_models
from .faces import check_faces_match
from .sockets import MASK_SPEC, RESTORER
from .tensors import image_size, to_image, to_mask

if TYPE_CHECKING:  # torch is imported inside the node functions, not at pack import
    import torch

RESTORE_CATEGORY = f"{sockets.CATEGORY}/restore"


class FaceRestore:
    DESCRIPTION = (
        "Restores every face in FACES (select them upstream, e.g. only the swapped ones) with FaceFusion's recipe: crop, "
        "restore, paste inside the mask (the box mask by default, or a Face Mask spec), blend. With a recognizer it reports "
        "how far the restorer moved each identity: cosine restored vs before (1 = unchanged) and, with a source identity, "
        "the similarity to it before and after."
    )
    CATEGORY = RESTORE_CATEGORY
    FUNCTION = "restore"
    RETURN_TYPES = ("IMAGE", "MASK", "FLOAT", "FLOAT", "STRING")
    RETURN_NAMES = ("image", "mask", "drift", "source_similarity", "report")
    OUTPUT_IS_LIST = (False, False, True, True, False)
    OUTPUT_TOOLTIPS = (
        "The images with the faces restored (images without faces unchanged).",
        "Where each image was changed: blend x mask, 0..1.",
        "Per restored face, cosine restored vs before (a list; empty without a recognizer).",
        "Per restored face, cosine to the source identity after restoring (a list; empty without a source).",
        "The drift report in words; faces below 0.6 are flagged.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images the faces are in."}),
                "faces": (sockets.FACES, {"tooltip": "The faces to restore (from Face Detect on the same images)."}),
                "restorer": (RESTORER, {"tooltip": "From Load Face Restorer."}),
                "blend": (
                    "FLOAT",
                    {
                        "default": choices().default_restore_blend,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Weight of the restored face (FaceFusion 0.8).",
                    },
                ),
                "fidelity": (
                    "FLOAT",
                    {
                        "default": choices().default_restore_fidelity,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "CodeFormer only: 0 = strongest restoration, 1 = closest to the input.",
                    },
                ),
                "mask_blur": (
                    "FLOAT",
                    {
                        "default": choices().default_mask_blur,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Box mask feather when no mask spec is connected.",
                    },
                ),
            },
            "optional": {
                "mask_spec": (
                    MASK_SPEC,
                    {"tooltip": "From Face Mask: use its masks (e.g. box + occlusion) instead of the plain box."},
                ),
                "recognizer": (sockets.RECOGNIZER, {"tooltip": "Measures identity drift (embeds each face before and after)."}),
                "source": (sockets.IDENTITY, {"tooltip": "Identity to compare with before and after (e.g. the swap source)."}),
            },
        }

    def restore(
        self,
        image: torch.Tensor,
        faces: FaceBatch,
        restorer: FaceModel,
        blend: float,
        fidelity: float,
        mask_blur: float,
        mask_spec: MaskSpec | None = None,
        recognizer: Recognizer | None = None,
        source: Identity | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, list[float], list[float], str]:
        frames = Frames.of(image, "Face Restore")  # the one validation of this IMAGE
        check_faces_match(faces, frames, "Face Restore")
        blend, fidelity, mask_blur = (
            check("number", value, name, "Face Restore")
            for value, name in ((blend, "blend"), (fidelity, "fidelity"), (mask_blur, "mask_blur"))
        )
        use_models(restorer, recognizer)  # torch-backend models under ComfyUI's memory management
        settings = RestoreSettings(blend=blend, fidelity=fidelity, mask=mask_spec or MaskSpec(types=("box",), blur=mask_blur))
        result = restore_faces(restorer, frames, faces, settings, recognizer, source, on_progress=progress_hook())
        size = image_size(image)
        return (
            to_image(result.images, size),
            to_mask(result.masks, size),
            result.drift.to_before(),
            result.drift.source_after(),
            "\n".join(filter(None, (result.drift.summary(), SkippedFace.lines(result.skipped)))),
        )
