"""Face Swap node: swap a source IDENTITY onto the chosen faces of an IMAGE batch (the loader is in loaders.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from ..face_identity import (
    Detector,
    Frames,
    Identity,
    IncompatibleIdentitiesError,
    InvalidArgumentError,
    MaskSpec,
    Recognizer,
    SkippedFace,
    Swapper,
    SwapSettings,
    TargetSelection,
    check,
    choices,
    detect_and_swap,
    measure_retention,
    render,
)
from . import sockets
from .comfy import Progress, throw_if_interrupted, use_models
from .tensors import batch_to_tensor, to_image
from .track import FaceTracking, load_fallbacks
from .validation import index_list_answer

if TYPE_CHECKING:  # torch is imported inside the node functions, not at pack import
    import torch

SWAP_CATEGORY = f"{sockets.CATEGORY}/swap"


class FaceSwap:
    DESCRIPTION = (
        "Swaps the SOURCE identity (from Face Embed, Identity Average or Load Identity; w600k_r50 only) onto faces of every "
        "image: all faces, faces by index, or every face that looks like a REFERENCE identity. Frames with no matching face "
        "pass through unchanged and are counted. With a recognizer connected, every swapped face is found again in the "
        "output and scored: retention = cosine to the source identity, leakage = cosine to the face it replaced."
    )
    CATEGORY = SWAP_CATEGORY
    FUNCTION = "swap"
    RETURN_TYPES = ("IMAGE", "MASK", "INT", "STRING", "FLOAT", "STRING", "IMAGE", "IMAGE")
    RETURN_NAMES = (
        "image",
        "mask",
        "swapped_total",
        "swap_counts",
        "retention",
        "retention_summary",
        "retention_chart",
        "timeline_chart",
    )
    OUTPUT_IS_LIST = (False, False, False, False, True, False, False, False)
    OUTPUT_TOOLTIPS = (
        "The images with the faces swapped.",
        "The paste weight actually used per image (0..1): FaceFusion's crop mask (box, mask spec, learned mask) or "
        "insightface's feathered square times the face area, learned mask and mask spec.",
        "Faces swapped in the whole batch.",
        "JSON list: faces swapped per image (0 = passed through unchanged).",
        "Identity retention per swapped face (cosine of the re-detected face to the source; a list, empty without a recognizer).",
        "Retention and leakage per image, as text (says why when not measured).",
        "Bars per swapped face: retention (green above the recognizer's match threshold) and leakage (grey).",
        "Identity over time (with Face Track and a recognizer): retention and leakage per frame, the retention floor and "
        "the flagged frames. Without them, a blank chart saying what to connect.",
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
                    list(choices().selection_modes),
                    {
                        "default": "all",
                        "tooltip": "all faces; indices = the listed positions in the order below; reference = faces similar to the reference identity.",
                    },
                ),
                "order": (
                    list(choices().face_orders),
                    {
                        "default": choices().default_order,
                        "tooltip": "Face order within each image (for indices mode, and the swap order).",
                    },
                ),
                "indices": ("STRING", {"default": "0", "tooltip": 'Face positions for indices mode, e.g. "0,2".'}),
                "threshold": (
                    "FLOAT",
                    {
                        "default": choices().default_match_threshold,
                        "min": -1.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Reference mode: swap faces at least this similar to the reference.",
                    },
                ),
                "pixel_boost": (
                    [str(f) for f in choices().pixel_boosts],
                    {
                        "default": "1",
                        "tooltip": "Swap at 2x or 4x the model's size (128 px inswapper, 256 or 512 px the others; FaceFusion's pixel boost): "
                        "sharper faces, 4x or 16x the work. SimSwap 512 offers 1 and 2.",
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
                        "tooltip": "Feather of the paste mask relative to insightface's (insightface paste only; FaceFusion's "
                        "paste takes its feather from the Face Mask spec's blur, 0.3 without one).",
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
                    {
                        "tooltip": "Embeds target faces: needed for reference mode, strength below 1 and the retention scores "
                        "(the source identity's recognizer, w600k_r50)."
                    },
                ),
                "learned_mask": (
                    "BOOLEAN",
                    {
                        "default": False,
                        "tooltip": "Paste through the swapper's own learned mask when it has one (HyperSwap). Off by default: "
                        "FaceFusion ignores it.",
                    },
                ),
                "measure_retention": (
                    "BOOLEAN",
                    {"default": True, "tooltip": "Re-detect and score every swapped face (needs the recognizer)."},
                ),
                "second_recognizer": (
                    sockets.RECOGNIZER,
                    {
                        "tooltip": "Optional second opinion on retention from another recognizer (swappers are trained on w600k_r50)."
                    },
                ),
                "second_source": (sockets.IDENTITY, {"tooltip": "The source identity embedded by the second recognizer."}),
                "mask_spec": (
                    sockets.MASK_SPEC,
                    {
                        "tooltip": "From Face Mask: box and occlusion judged on the target before the swap, region and area on "
                        "the swapped face after it (FaceFusion's order), combined by minimum with the learned mask."
                    },
                ),
                "paste": (
                    ["auto", *choices().paste_styles],
                    {
                        "default": "auto",
                        "tooltip": "How the face is cut and pasted. auto = the swapper's authors' way (insightface for inswapper, "
                        "FaceFusion for the others). facefusion = replicated image border, the crop mask alone as the paste "
                        "weight. insightface = black border, eroded and feathered square.",
                    },
                ),
                "inswapper_latent": (
                    list(choices().latent_rules),
                    {
                        "default": "insightface",
                        "tooltip": "inswapper only: insightface re-normalises the source latent (identity x emap), as "
                        "insightface's INSwapper does; facefusion does not, as FaceFusion does.",
                    },
                ),
                "tracking": (
                    sockets.TRACKING,
                    {
                        "tooltip": "From Face Track: the frames are a clip. The chosen person is tracked (gaps bridged, "
                        "landmarks smoothed), faces below the retention floor are swapped again with the fallback models, "
                        "and every frame is scored (timeline_chart; flagged frames in retention_summary)."
                    },
                ),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, indices: str | None = None) -> bool | str:
        """Checks the face index list before the run, whatever the mode (ComfyUI still checks every other input)."""
        return index_list_answer(indices)

    def swap(
        self,
        image: torch.Tensor,
        source: Identity,
        swapper: Swapper,
        detector: Detector,
        target_mode: str,
        order: str,
        indices: str,
        threshold: float,
        pixel_boost: str,
        strength: float,
        mask_blur: float,
        face_area_mask: bool,
        reference: Identity | None = None,
        recognizer: Recognizer | None = None,
        learned_mask: bool = False,
        measure_retention: bool = True,
        second_recognizer: Recognizer | None = None,
        second_source: Identity | None = None,
        mask_spec: MaskSpec | None = None,
        paste: str = "auto",
        inswapper_latent: str = "insightface",
        tracking: FaceTracking | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, int, str, list[float], str, torch.Tensor, torch.Tensor]:
        frames = Frames.of(image, "Face Swap")  # the one validation of this IMAGE, before any work
        threshold, strength, mask_blur = (
            check("number", value, name, "Face Swap")
            for value, name in ((threshold, "threshold"), (strength, "strength"), (mask_blur, "mask_blur"))
        )
        settings = SwapSettings(
            int(pixel_boost),
            float(strength),
            float(mask_blur),
            bool(face_area_mask),
            bool(learned_mask),
            mask_spec,
            paste,
            inswapper_latent,
        )
        positions = tuple(check("indices", indices) or ()) if target_mode == "indices" else ()
        selection = TargetSelection(target_mode, order, positions, reference if target_mode == "reference" else None, threshold)
        mask_models = () if mask_spec is None else (*mask_spec.occluders, mask_spec.parser, mask_spec.landmarker)
        fallback = _fallbacks(tracking, swapper, recognizer)
        # torch-backend models under ComfyUI's memory management
        use_models(swapper, *fallback, detector, recognizer, second_recognizer, *mask_models)
        tracked = tracking is not None and tracking.settings is not None
        progress = Progress(frames.count * (2 if tracked else 1))  # with tracking, pass 1 detects the whole clip first
        # The library swaps the batch in memory-bounded chunks (a long video never sits on the host twice).
        result = detect_and_swap(
            swapper,
            detector,
            frames,
            source,
            settings,
            selection,
            recognizer,
            on_frames_done=progress.per_count(),
            on_frames_planned=progress.per_count() if tracked else None,
            check_cancel=throw_if_interrupted,
            context="Face Swap",
            tracking=None if tracking is None else tracking.settings,
            fallback=fallback,
            retention_floor=None if tracking is None else tracking.retention_floor,
            check_identity=tracking is not None and recognizer is not None,
        )
        scores, summary, chart = _retention(
            frames, result, source, detector, recognizer if measure_retention else None, second_recognizer, second_source
        )
        if result.skipped_faces:  # faces left as they were (a bad model output), named in the info output
            summary = f"{summary}\n{SkippedFace.lines(result.skipped_faces)}"
        over_time, timeline_image = _over_time(result, tracking, recognizer)
        summary = f"{summary}\n{over_time}" if over_time else summary
        assert isinstance(result.images, np.ndarray) and isinstance(result.masks, np.ndarray)  # one IMAGE: one size
        images, masks = batch_to_tensor(result.images), batch_to_tensor(result.masks)
        counts = json.dumps(list(result.swapped_counts))
        return images, masks, result.swapped_total, counts, scores, summary, chart, timeline_image


def _fallbacks(tracking: FaceTracking | None, swapper: Swapper, recognizer: Recognizer | None) -> tuple[Swapper, ...]:
    """Face Track's fallback swappers, loaded like ``swapper``; none without Face Track or a fallback list.

    Raises:
        InvalidArgumentError: a fallback or retention floor without the recognizer that scores retention.
    """
    if tracking is None:
        return ()
    if recognizer is None and (tracking.fallback or tracking.retention_floor is not None):
        raise InvalidArgumentError(
            "Face Swap: Face Track's fallback and retention_floor score each swapped face's identity: connect the "
            "source identity's recognizer (Load ArcFace Model) to Face Swap's recognizer input"
        )
    return load_fallbacks(tracking.fallback, swapper)


def _over_time(
    result: Any,  # face_identity.swap.SwappedBatch, what detect_and_swap returns
    tracking: FaceTracking | None,
    recognizer: Recognizer | None,
) -> tuple[str, torch.Tensor]:
    """Info lines (frames, flagged frames, models kept, long gaps) and the identity-over-time chart [1, H, W, 3]."""
    if tracking is None:
        return "", _empty_chart("identity over time: connect Face Track")
    gaps = () if result.plan is None else result.plan.long_gaps
    lines = [f"gaps longer than max_gap, not bridged: {_spans(gaps)}"] if gaps else []
    timeline = result.timeline
    if timeline is None or recognizer is None:
        lines.insert(0, "identity over time not measured: connect the source identity's recognizer")
        return "\n".join(lines), _empty_chart("identity over time not measured")
    kept = Counter(model for row in timeline.rows for model in row.models)
    models = ", ".join(f"{name} {count} face(s)" for name, count in kept.most_common())
    flagged = any(timeline.flagged().values())
    lines[:0] = [timeline.summary(), *([] if flagged else ["flagged frames: none"]), f"models kept: {models or 'none'}"]
    return "\n".join(lines), to_image([render("timeline", timeline)])


def _empty_chart(caption: str) -> torch.Tensor:
    """The chart output when nothing was scored: an empty retention chart captioned ``caption``, IMAGE [1, H, W, 3]."""
    return to_image([render("retention", [], [], [], 0.0, caption)])


def _spans(gaps: tuple[tuple[int, int], ...]) -> str:
    """``((3, 9), (40, 52))`` -> ``"frames 3-9, 40-52"``."""
    return "frames " + ", ".join(f"{first}-{last}" for first, last in gaps)


def _retention(
    frames: Frames,
    result: Any,  # face_identity.swap.SwappedBatch, what detect_and_swap returns
    source: Identity,
    detector: Detector,
    recognizer: Recognizer | None,
    second_recognizer: Recognizer | None,
    second_source: Identity | None,
) -> tuple[list[float], str, torch.Tensor]:
    """Retention scores, summary text and chart of a swapped batch (an explanation and an empty chart when not measured)."""
    if recognizer is None:
        text = "identity retention not measured: connect the source identity's recognizer (and keep measure_retention on)"
        return [], text, _empty_chart("retention not measured")
    pair = (second_recognizer, second_source) if second_recognizer is not None and second_source is not None else (None, None)
    try:
        swapped = Frames.from_library(result.images, "Face Swap (swapped)")  # our own output: no second scan
        report = measure_retention(detector, recognizer, frames, swapped, result.targets, source, *pair)
    except IncompatibleIdentitiesError as error:  # the swap itself succeeded: keep it, say why it was not scored
        return (
            [],
            f"identity retention not measured: {error}",
            _empty_chart("retention not measured"),
        )
    labels = [f"{face.image_index}.{face.face_index}" for face in report.faces]
    chart = render(
        "retention", report.retention_scores, report.leakage_scores, labels, choices().match_threshold(recognizer.model_id)
    )
    summary = report.summary()
    if (second_recognizer is None) != (second_source is None):
        summary += "\nsecond opinion skipped: connect both second_recognizer and second_source"
    return report.retention_scores, summary, to_image([chart])
