"""Face swap nodes: load an inswapper model, swap a source IDENTITY onto the chosen faces of an IMAGE batch."""

from __future__ import annotations

import json
from typing import Any

from ..face_identity.compare import DEFAULT_MATCH_THRESHOLD
from ..face_identity.detect import FaceDetector
from ..face_identity.embed import ArcFaceRecognizer
from ..face_identity.select import DEFAULT_ORDER, FACE_ORDERS, parse_index_list
from ..face_identity.stream import frames_per_chunk
from ..face_identity.swap import (
    PIXEL_BOOST_FACTORS,
    SELECTION_MODES,
    InswapperSwapper,
    SwapSettings,
    TargetSelection,
    load_swapper,
    select_targets,
    swap_faces,
)
from ..face_identity.types import Identity
from . import sockets
from .comfy import Progress, gpu_index, model_folders, torch_device
from .loaders import BACKENDS, PRECISIONS, model_input, provider_input, provider_note, strict_input
from .tensors import empty_image, empty_mask, image_size, image_to_float_list, image_to_uint8_list, to_image, to_mask

SWAP_CATEGORY = f"{sockets.CATEGORY}/swap"


class LoadFaceSwapper:
    DESCRIPTION = (
        "Loads inswapper_128 (fp32 or fp16) for Face Swap; an existing models/insightface/inswapper_128.onnx is reused. "
        "Licence: InsightFace non-commercial research only."
    )
    CATEGORY = f"{sockets.CATEGORY}/loaders"
    FUNCTION = "load"
    RETURN_TYPES = (sockets.SWAPPER, "STRING")
    RETURN_NAMES = ("swapper", "info")
    OUTPUT_TOOLTIPS = ("The swapper, for Face Swap.", "Model, backend and the providers running it.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model_name": model_input(
                    "swapper", "Catalog name (downloaded on demand) or a file in models/face_identity or models/insightface."
                ),
                "backend": (
                    list(BACKENDS),
                    {
                        "default": "auto",
                        "tooltip": "auto: torch on a GPU device when its conversion matches onnxruntime, else onnxruntime.",
                    },
                ),
                "provider": provider_input(),
                "precision": (list(PRECISIONS), {"default": "float32", "tooltip": "Torch backend precision."}),
                "strict": strict_input(),
            }
        }

    def load(self, model_name: str, backend: str, provider: str, precision: str, strict: bool) -> tuple[InswapperSwapper, str]:
        swapper = load_swapper(
            model_name,
            model_folders(),
            providers=provider,
            strict=strict,
            backend=backend,
            device=torch_device(),
            dtype=precision,
            device_id=gpu_index(),
        )
        return swapper, f"{swapper.name} | backend {swapper.backend.describe()} | {provider_note(swapper.model)}"


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
        swapper.require_compatible(source)
        settings = SwapSettings(int(pixel_boost), float(strength), float(mask_blur), bool(face_area_mask))
        positions = tuple(parse_index_list(indices) or ()) if target_mode == "indices" else ()
        selection = TargetSelection(target_mode, order, positions, reference if target_mode == "reference" else None, threshold)
        frames = image if image.ndim == 4 else image[None]
        count, size = int(frames.shape[0]), image_size(frames)
        swapped, masks, counts = empty_image(count, size), empty_mask(count, size), []
        progress = Progress(count)
        # A video batch goes through in chunks, so host copies (uint8, float, result) exist for one chunk only.
        step = frames_per_chunk(size[0], size[1])
        for start in range(0, count, step):
            chunk = frames[start : start + step]
            uint8_frames = image_to_uint8_list(chunk)
            detected = detector.detect_batch(uint8_frames, on_image_done=progress.per_call())
            targets = select_targets(uint8_frames, detected, selection, recognizer)
            result = swap_faces(swapper, image_to_float_list(chunk), source, targets, settings, recognizer, uint8_frames)
            swapped[start : start + len(uint8_frames)] = to_image(result.images)
            masks[start : start + len(uint8_frames)] = to_mask(result.masks)
            counts.extend(result.swapped_counts)
        return swapped, masks, sum(counts), json.dumps(counts)
