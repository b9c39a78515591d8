"""Face Swap node: swap a source IDENTITY onto the chosen faces of an IMAGE batch (the loader is in loaders.py)."""

from __future__ import annotations

import json
from typing import Any

from ..face_identity import (
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_ORDER,
    FACE_ORDERS,
    PIXEL_BOOST_FACTORS,
    SELECTION_MODES,
    ArcFaceRecognizer,
    FaceDetector,
    Identity,
    InswapperSwapper,
    SwapSettings,
    TargetSelection,
    check_number,
    parse_index_list,
    swap_stream,
)
from . import sockets
from .comfy import Progress, throw_if_interrupted, use_models
from .tensors import batch_to_tensor, check_image
from .validation import index_list_answer

SWAP_CATEGORY = f"{sockets.CATEGORY}/swap"


class FaceSwap:
    DESCRIPTION = (
        "Swaps the SOURCE identity (from Face Embed, Identity Average or Load Identity; w600k_r50 only) onto faces of every "
        "image: all faces, faces by index, or every face that looks like a REFERENCE identity. Frames with no matching face "
        "pass through unchanged and are counted."
    )
    CATEGORY = SWAP_CATEGORY
    FUNCTION = "swap"
    RETURN_TYPES = ("IMAGE", "MASK", "INT", "STRING")
    RETURN_NAMES = ("image", "mask", "swapped_total", "swap_counts")
    OUTPUT_TOOLTIPS = (
        "The images with the faces swapped.",
        "Where each image was changed (0..1).",
        "Faces swapped in the whole batch.",
        "JSON list: faces swapped per image (0 = passed through unchanged).",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "Target images (a single image or video frames)."}),
                "source": (
                    sockets.IDENTITY,
                    {"tooltip": "Who to paste in: a w600k_r50 identity (averaging several photos helps)."},
                ),
                "swapper": (sockets.SWAPPER, {"tooltip": "From Load Face Swapper."}),
                "detector": (sockets.DETECTOR, {"tooltip": "Finds the target faces."}),
                "target_mode": (
                    list(SELECTION_MODES),
                    {
                        "default": "all",
                        "tooltip": "all faces; indices = the listed positions in the order below; reference = faces similar to the reference identity.",
                    },
                ),
                "order": (
                    list(FACE_ORDERS),
                    {"default": DEFAULT_ORDER, "tooltip": "Face order within each image (for indices mode, and the swap order)."},
                ),
                "indices": ("STRING", {"default": "0", "tooltip": 'Face positions for indices mode, e.g. "0,2".'}),
                "threshold": (
                    "FLOAT",
                    {
                        "default": DEFAULT_MATCH_THRESHOLD,
                        "min": -1.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Reference mode: swap faces at least this similar to the reference.",
                    },
                ),
                "pixel_boost": (
                    [str(f) for f in PIXEL_BOOST_FACTORS],
                    {
                        "default": "1",
                        "tooltip": "Swap at 2x or 4x the model's 128 px (FaceFusion's pixel boost): sharper faces, 4x or 16x the work.",
                    },
                ),
                "strength": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "1 = the source identity; lower blends the target's own identity back in (needs a recognizer).",
                    },
                ),
                "mask_blur": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 8.0,
                        "step": 0.05,
                        "tooltip": "Feather of the paste mask relative to insightface's.",
                    },
                ),
                "face_area_mask": (
                    "BOOLEAN",
                    {
                        "default": False,
                        "tooltip": "Limit the paste to the face area around the 5 landmarks (keeps hair and background).",
                    },
                ),
            },
            "optional": {
                "reference": (sockets.IDENTITY, {"tooltip": "Reference mode: who to replace."}),
                "recognizer": (
                    sockets.RECOGNIZER,
                    {"tooltip": "Embeds target faces: needed for reference mode and strength below 1 (w600k_r50 for strength)."},
                ),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, indices: str | None = None) -> bool | str:
        """Checks the face index list before the run, whatever the mode (ComfyUI still checks every other input)."""
        return index_list_answer(indices)

    def swap(
        self,
        image: Any,
        source: Identity,
        swapper: InswapperSwapper,
        detector: FaceDetector,
        target_mode: str,
        order: str,
        indices: str,
        threshold: float,
        pixel_boost: str,
        strength: float,
        mask_blur: float,
        face_area_mask: bool,
        reference: Identity | None = None,
        recognizer: ArcFaceRecognizer | None = None,
    ) -> tuple[Any, Any, int, str]:
        count = check_image(image, "Face Swap")[0]  # the input policy (face_identity.validate), before any work
        threshold, strength, mask_blur = (
            check_number(value, name, "Face Swap")
            for value, name in ((threshold, "threshold"), (strength, "strength"), (mask_blur, "mask_blur"))
        )
        settings = SwapSettings(int(pixel_boost), float(strength), float(mask_blur), bool(face_area_mask))
        positions = tuple(parse_index_list(indices) or ()) if target_mode == "indices" else ()
        selection = TargetSelection(target_mode, order, positions, reference if target_mode == "reference" else None, threshold)
        use_models(swapper, detector, recognizer)  # torch-backend models under ComfyUI's memory management
        progress = Progress(count)
        # The library streams the batch in memory-bounded chunks (a long video never sits on the host twice).
        result = swap_stream(
            swapper,
            detector,
            image,
            source,
            settings,
            selection,
            recognizer,
            on_frames_done=progress.per_count(),
            check_cancel=throw_if_interrupted,
        )
        images, masks = batch_to_tensor(result.images), batch_to_tensor(result.masks)
        return images, masks, result.swapped_total, json.dumps(list(result.swapped_counts))
