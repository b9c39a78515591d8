"""Face Mask node: FaceFusion-style masks of the detected faces as a ComfyUI MASK (and a spec for Face Restore)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..face_identity import FaceBatch, FaceModel, Frames, MaskSpec, SkippedFace, check, choices, face_masks
from . import sockets
from .comfy import progress_hook, use_models
from .faces import check_faces_match
from .sockets import LANDMARKER, MASK_SPEC, OCCLUDER, PARSER
from .tensors import image_size, to_image, to_mask

if TYPE_CHECKING:  # torch is imported inside the node functions, not at pack import
    import torch

MASK_CATEGORY = f"{sockets.CATEGORY}/masks"
PREVIEW_COLOUR = np.array([1.0, 0.15, 0.1], np.float32)


def _names(text: str) -> tuple[str, ...]:
    """``"skin, eyes"`` -> ``("skin", "eyes")`` (commas or spaces; MaskSpec rejects unknown names with the list)."""
    return tuple(part.strip() for part in text.replace(" ", ",").split(",") if part.strip())


class FaceMask:
    DESCRIPTION = (
        "FaceFusion's face masks, one MASK per image (maximum over its faces), usable by any node (inpainting, compositing): "
        "box (feathered crop square), occlusion (XSeg), region (BiSeNet classes), area (68-point hulls). Each is computed "
        "in the face's ffhq_512 crop and the chosen ones are combined by minimum. Also outputs the spec for Face Restore."
    )
    CATEGORY = MASK_CATEGORY
    FUNCTION = "mask"
    RETURN_TYPES = ("MASK", "IMAGE", MASK_SPEC, "STRING")
    RETURN_NAMES = ("mask", "preview", "mask_spec", "info")
    OUTPUT_TOOLTIPS = (
        "Per image, 0..1: 1 inside the masked face area(s); an image without faces gets an all-zero mask.",
        "The images with the mask tinted red.",
        "These mask settings (with their models), for Face Restore.",
        "The mask settings in words.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        def toggle(default: bool, tooltip: str) -> tuple[str, dict[str, Any]]:
            return ("BOOLEAN", {"default": default, "tooltip": tooltip})

        def padding(side: str) -> tuple[str, dict[str, Any]]:
            return (
                "INT",
                {"default": 0, "min": 0, "max": 100, "step": 1, "tooltip": f"Box padding at the {side}, % of the crop side."},
            )

        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images the faces are in."}),
                "faces": (sockets.FACES, {"tooltip": "Faces from Face Detect on the same images (all of them are masked)."}),
                "box": toggle(True, "Box mask: the crop square, feathered by blur and shrunk by padding."),
                "occlusion": toggle(False, "Occlusion mask (needs an occluder): leaves out what covers the face."),
                "region": toggle(False, "Region mask (needs a parser): only the selected face regions."),
                "area": toggle(False, "Area mask (needs a landmarker unless the faces have 68 points): 68-point hulls."),
                "blur": (
                    "FLOAT",
                    {
                        "default": choices().default_mask_blur,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Box feather, 0..1 of half the crop side (FaceFusion 0.3).",
                    },
                ),
                "padding_top": padding("top"),
                "padding_right": padding("right"),
                "padding_bottom": padding("bottom"),
                "padding_left": padding("left"),
                "regions": (
                    "STRING",
                    {
                        "default": ", ".join(choices().mask_regions),
                        "tooltip": f"Region mask classes, comma separated: {', '.join(choices().mask_regions)}.",
                    },
                ),
                "areas": (
                    "STRING",
                    {
                        "default": ", ".join(choices().mask_areas),
                        "tooltip": f"Area mask parts, comma separated: {', '.join(choices().mask_areas)} (one hull).",
                    },
                ),
            },
            "optional": {
                "occluder": (OCCLUDER, {"tooltip": "From Load Face Occluder (for the occlusion mask)."}),
                "parser": (PARSER, {"tooltip": "From Load Face Parser (for the region mask)."}),
                "landmarker": (LANDMARKER, {"tooltip": "From Load Face Landmarker (for the area mask)."}),
            },
        }

    def mask(
        self,
        image: torch.Tensor,
        faces: FaceBatch,
        box: bool,
        occlusion: bool,
        region: bool,
        area: bool,
        blur: float,
        padding_top: int,
        padding_right: int,
        padding_bottom: int,
        padding_left: int,
        regions: str,
        areas: str,
        occluder: tuple[FaceModel, ...] | None = None,
        parser: FaceModel | None = None,
        landmarker: FaceModel | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, MaskSpec, str]:
        frames = Frames.of(image, "Face Mask")  # the one validation of this IMAGE
        check_faces_match(faces, frames, "Face Mask")
        blur = check("number", blur, "blur", "Face Mask")
        use_models(*(occluder or ()), parser, landmarker)  # torch-backend models under ComfyUI's memory management
        types = tuple(name for name, on in (("box", box), ("occlusion", occlusion), ("region", region), ("area", area)) if on)
        spec = MaskSpec(
            types=types,
            blur=blur,
            padding=(padding_top, padding_right, padding_bottom, padding_left),
            regions=_names(regions),
            areas=_names(areas),
            occluders=tuple(occluder or ()),
            parser=parser,
            landmarker=landmarker,
        )
        skipped: list[SkippedFace] = []
        masks = face_masks(frames, faces, spec, on_progress=progress_hook(), skipped=skipped)
        previews = [
            frame * (1 - 0.5 * m[..., None]) + PREVIEW_COLOUR * 0.5 * m[..., None] for frame, m in zip(frames.floats(), masks)
        ]
        size = image_size(image)
        info = "\n".join(filter(None, (spec.describe(), SkippedFace.lines(skipped))))
        return to_mask(masks, size), to_image(previews, size), spec, info
