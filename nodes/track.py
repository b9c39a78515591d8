"""Face Track node: how Face Swap ties video frames together (tracks, smoothing) and which swappers it falls back to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..face_identity import (
    InvalidArgumentError,
    Swapper,
    TrackSettings,
    check,
    choices,
    converted_graphs,
    load_model,
)
from . import sockets
from .comfy import gpu_index, model_folders, torch_device
from .validation import answer

SMOOTHERS = ("centred", "causal")
"""Face Track's smoother choices (``TrackSettings.smoother``); strength 0 turns smoothing off."""
NO_FLOOR = 0.0
"""``retention_floor`` widget value meaning "no floor": nothing is swapped again, nothing is flagged below it."""


@dataclass(frozen=True)
class FaceTracking:
    """What Face Track hands to Face Swap (the ``FACEID_TRACKING`` socket).

    Attributes:
        settings: how faces are tied across frames and smoothed; ``None`` = tracking off (frames are unrelated images).
        fallback: swapper catalog names tried in order on a face whose retention is below ``retention_floor``.
        retention_floor: the floor (cosine to the source, -1..1), or ``None`` for none.
    """

    settings: TrackSettings | None
    fallback: tuple[str, ...]
    retention_floor: float | None


def parse_fallback(text: str) -> tuple[str, ...]:
    """``"hyperswap_1b_256, inswapper_128"`` -> the swapper catalog names in that order (empty text: none).

    Raises:
        InvalidArgumentError: a name that is not a catalog swapper, or a name given twice.
    """
    names = tuple(part.strip() for part in str(text).split(",") if part.strip())
    known = choices().names("swapper")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidArgumentError(
            f"unknown swapper(s) {', '.join(repr(name) for name in unknown)} in the fallback list; use catalog names "
            f"separated by commas: {', '.join(known)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidArgumentError(f"fallback lists {', '.join(repeated)} more than once; name each swapper once")
    return names


def check_fallback(names: Sequence[str], floor: float | None) -> None:
    """Refuse fallback models without a retention floor (they would never be tried).

    Raises:
        InvalidArgumentError: naming the fix.
    """
    if names and floor is None:
        raise InvalidArgumentError(
            f"fallback {', '.join(names)} is only tried on faces below the retention floor, which is off (0): set "
            "retention_floor (e.g. 0.4) or clear fallback"
        )


def options_like(primary: Swapper) -> dict[str, Any]:
    """How the fallback swappers load (``load_model``'s keywords): the backend, device and precision (torch) or the
    onnxruntime providers of ``primary``."""
    graphs = converted_graphs(primary)
    if graphs:
        dtype = str(graphs[0].dtype).removeprefix("torch.")
        return {"backend": "torch", "device": graphs[0].device, "dtype": dtype, "device_id": gpu_index()}
    session = getattr(primary, "model", None)  # the onnxruntime session of a swapper run by onnxruntime
    providers = tuple(getattr(session, "requested_providers", ())) or "auto"
    return {"backend": "onnxruntime", "providers": providers, "device": torch_device(), "device_id": gpu_index()}


def load_fallbacks(names: Sequence[str], primary: Swapper) -> tuple[Swapper, ...]:
    """The fallback swappers by catalog name, from the model folders (downloaded on first use), loaded like ``primary``.

    A name equal to the primary's is skipped (it has already been tried).
    """
    options = options_like(primary)
    return tuple(load_model(name, "swapper", model_folders(), **options) for name in names if name != primary.name)


class FaceTrack:
    DESCRIPTION = (
        "Settings for Face Swap on video frames (connect to its tracking input). Tracking ties each person across frames "
        "by box overlap and face similarity, so the chosen person is swapped in every frame they appear in and only there; "
        "short detection gaps are bridged, longer ones reported. Smoothing steadies the face's landmarks along the track. "
        "Fallback swaps a face again with the next listed model when its identity retention is below the floor."
    )
    CATEGORY = f"{sockets.CATEGORY}/swap"
    FUNCTION = "settings"
    RETURN_TYPES = (sockets.TRACKING,)
    RETURN_NAMES = ("tracking",)
    OUTPUT_TOOLTIPS = ("Tracking, smoothing and fallback settings, for Face Swap's tracking input.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "tracking": (
                    "BOOLEAN",
                    {
                        "default": True,
                        "tooltip": "On: the frames are one clip (faces tracked, gaps bridged, landmarks smoothed). "
                        "Off: unrelated images (fallback and the identity chart still apply).",
                    },
                ),
                "max_gap": (
                    "INT",
                    {
                        "default": 8,
                        "min": 0,
                        "max": 240,
                        "tooltip": "Frames in a row a tracked face may go undetected and still be swapped (its position "
                        "interpolated). Longer gaps are not bridged and are listed in the info.",
                    },
                ),
                "smoothing": (
                    "FLOAT",
                    {
                        "default": 0.5,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Strength of the landmark smoothing along each track: 0 = off, 1 = strongest.",
                    },
                ),
                "smoother": (
                    list(SMOOTHERS),
                    {
                        "default": "centred",
                        "tooltip": "centred: looks ahead and behind (the whole batch is known: no lag). causal: One Euro "
                        "filter, past frames only (as for streamed input).",
                    },
                ),
                "fallback": (
                    "STRING",
                    {
                        "default": "",
                        "tooltip": "Swappers tried in order when a face's retention is below the floor, catalog names "
                        'separated by commas, e.g. "hyperswap_1b_256,inswapper_128". Empty = no fallback. Loaded '
                        "like Face Swap's swapper (same backend and device).",
                    },
                ),
                "retention_floor": (
                    "FLOAT",
                    {
                        "default": NO_FLOOR,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Identity retention (cosine to the source) below which a face is swapped again with "
                        "the next fallback model and its frame is flagged. 0 = no floor. Needs Face Swap's recognizer.",
                    },
                ),
            },
            "optional": {
                "min_overlap": (
                    "FLOAT",
                    {
                        "default": 0.3,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Box overlap (IoU) a face needs with a track's last box to continue that track.",
                    },
                ),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, fallback: str | None = None) -> bool | str:
        """Checks the fallback names against the swapper catalog before the run (ComfyUI checks the numbers)."""
        return answer(parse_fallback, fallback, "fallback")

    def settings(
        self,
        tracking: bool,
        max_gap: int,
        smoothing: float,
        smoother: str,
        fallback: str,
        retention_floor: float,
        min_overlap: float = 0.3,
    ) -> tuple[FaceTracking]:
        if smoother not in SMOOTHERS:
            raise InvalidArgumentError(f"unknown smoother {smoother!r}; use one of {', '.join(SMOOTHERS)}")
        context = "Face Track"
        floor = check("number", retention_floor, "retention_floor", context, 0.0, 1.0)
        names = parse_fallback(fallback)
        check_fallback(names, None if floor == NO_FLOOR else floor)
        settings = None
        if tracking:
            # TrackSettings applies the number policy to each of its fields
            settings = TrackSettings(max_gap=max_gap, min_overlap=min_overlap, smoothing=smoothing, smoother=smoother)
        return (FaceTracking(settings, names, None if floor == NO_FLOOR else floor),)
