"""Face Track and Face Swap's tracking input: validation, the swap with and without it, the identity-over-time chart,
fallback swappers by catalog name (stand-ins with the real I/O under the catalog names, see conftest)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import build_stand_in_swappers
from video_clip import CLIP_PHOTO, panning_frames

FRAMES = 6


def track(nodes: dict[str, Any], **changes: Any) -> Any:
    """Face Track's output at its defaults, with ``changes``."""
    values = {
        "tracking": True,
        "max_gap": 8,
        "smoothing": 0.5,
        "smoother": "centred",
        "fallback": "",
        "retention_floor": 0.0,
        "min_overlap": 0.3,
    }
    return nodes["FaceTrack"].settings(**{**values, **changes})[0]


@pytest.fixture
def clip(shared_data: Path) -> torch.Tensor:
    """``FRAMES`` frames of a real photo panning, as a ComfyUI IMAGE [T, H, W, 3] float32 0..1."""
    from face_identity.images import read_image

    frames = panning_frames(read_image(shared_data / CLIP_PHOTO), FRAMES)
    return torch.from_numpy(frames.astype(np.float32) / 255.0)


@pytest.fixture
def swap_inputs(nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path, model_folder: Path) -> tuple[Any, ...]:
    """(source identity, hyperswap_1a_256 stand-in, detector, recognizer), the swapper on onnxruntime's CPU provider."""
    from face_identity.images import read_image

    recognizer, detector = loaded
    build_stand_in_swappers(model_folder)
    swapper, _ = nodes["LoadFaceSwapper"].load("hyperswap_1a_256", "onnxruntime", "cpu", "float32", False)
    photo = torch.from_numpy(read_image(shared_data / "faces/barack_obama/face_recognition_obama.jpg") / np.float32(255))[None]
    source = nodes["FaceEmbed"].embed(recognizer, photo, False, detector=detector)[0]
    return source, swapper, detector, recognizer


def run_swap(nodes: dict[str, Any], clip: torch.Tensor, swap_inputs: tuple[Any, ...], **optional: Any) -> tuple[Any, ...]:
    source, swapper, detector, recognizer = swap_inputs
    return nodes["FaceSwap"].swap(
        clip, source, swapper, detector, "all", "large-small", "0", 0.4, "1", 1.0, 1.0, False, None, recognizer, **optional
    )


def test_face_track_checks_fallback_names_before_the_run(nodes: dict[str, Any], pack: Any) -> None:
    validate = type(nodes["FaceTrack"]).VALIDATE_INPUTS
    assert validate(fallback="hyperswap_1b_256, inswapper_128") is True
    assert validate(fallback="") is True and validate(fallback=None) is True  # empty = no fallback; None = fed by a link
    refused = validate(fallback="hyperswap_1b_256,hyperswap_9z")
    assert isinstance(refused, str) and "'hyperswap_9z'" in refused and "inswapper_128" in refused  # names the choices
    assert "more than once" in str(validate(fallback="inswapper_128,inswapper_128"))
    errors = pack.face_identity.errors
    with pytest.raises(errors.InvalidArgumentError, match="hyperswap_9z"):
        track(nodes, fallback="hyperswap_9z", retention_floor=0.4)


def test_face_track_output(nodes: dict[str, Any], pack: Any) -> None:
    errors = pack.face_identity.errors
    tracking = track(nodes, max_gap=3, smoothing=0.25, smoother="causal", fallback="inswapper_128", retention_floor=0.45)
    assert tracking.fallback == ("inswapper_128",) and tracking.retention_floor == 0.45
    settings = tracking.settings
    assert (settings.max_gap, settings.smoothing, settings.smoother, settings.min_overlap) == (3, 0.25, "causal", 0.3)
    untracked = track(nodes, tracking=False)
    assert untracked.settings is None and untracked.fallback == () and untracked.retention_floor is None  # 0 = no floor
    with pytest.raises(errors.InvalidArgumentError, match="retention_floor"):  # a fallback that could never be tried
        track(nodes, fallback="inswapper_128", retention_floor=0.0)
    with pytest.raises(errors.InvalidArgumentError, match="smoother"):
        track(nodes, smoother="gaussian")
    with pytest.raises(errors.InvalidArgumentError, match="max gap"):
        track(nodes, max_gap=-1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tracking.retention_floor = 0.1


def test_face_swap_without_tracking_is_unchanged_and_says_what_to_connect(
    nodes: dict[str, Any], clip: torch.Tensor, swap_inputs: tuple[Any, ...]
) -> None:
    plain = run_swap(nodes, clip, swap_inputs)
    assert len(plain) == len(type(nodes["FaceSwap"]).RETURN_TYPES) == 8
    image, mask, total, _counts, _retention, summary, _chart, timeline = plain
    assert total == FRAMES and "identity over time" not in summary  # no Face Track: today's info
    assert timeline.shape[0] == 1 and timeline.ndim == 4 and timeline.shape[-1] == 3 and timeline.dtype == torch.float32
    untracked = run_swap(nodes, clip, swap_inputs, tracking=track(nodes, tracking=False))  # only scored per frame
    assert torch.equal(untracked[0], image) and torch.equal(untracked[1], mask) and untracked[2] == total
    assert not torch.equal(untracked[7], timeline)  # a real chart instead of "connect Face Track"
    assert f"identity over time: {FRAMES} frame(s), {FRAMES} scored" in untracked[5] and "flagged frames: none" in untracked[5]


def test_face_swap_with_tracking_charts_identity_over_time(
    nodes: dict[str, Any], clip: torch.Tensor, swap_inputs: tuple[Any, ...], pack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars: list[list[int]] = []  # per progress bar: its total, then each step

    class Recorder:
        def __init__(self, total: int) -> None:
            bars.append([total])

        def per_count(self) -> Any:
            return bars[-1].append

    monkeypatch.setattr(pack.nodes.swap, "Progress", Recorder)
    image, mask, total, counts, retention, summary, chart, timeline = run_swap(
        nodes, clip, swap_inputs, tracking=track(nodes, retention_floor=0.2)
    )
    ((bar_total, *steps),) = bars
    assert bar_total == sum(steps) == 2 * FRAMES  # pass 1 (detect and track the clip), then pass 2 (swap)
    assert total == FRAMES and image.shape == clip.shape and mask.shape == clip.shape[:3]
    assert all(float(frame.max()) > 0.5 for frame in mask)  # the person is swapped in every frame
    assert timeline.ndim == 4 and timeline.shape[0] == 1 and timeline.shape[-1] == 3 and timeline.dtype == torch.float32
    assert float(timeline.min()) >= 0.0 and float(timeline.max()) <= 1.0 and float(timeline.std()) > 0.01
    # the stand-in swapper keeps none of the source (retention about 0): every frame is flagged below the floor
    assert f"below floor: {FRAMES} frame(s): 0, 1, 2, 3, 4, 5" in summary
    assert f"models kept: hyperswap_1a_256 {FRAMES} face(s)" in summary and "fallback" not in summary


def test_face_swap_falls_back_to_the_next_model_below_the_floor(
    nodes: dict[str, Any], clip: torch.Tensor, swap_inputs: tuple[Any, ...], pack: Any
) -> None:
    unreachable = track(nodes, fallback="inswapper_128,simswap_256", retention_floor=1.0)  # no face ever keeps 1.0
    *_, summary, _chart, timeline = run_swap(nodes, clip, swap_inputs, tracking=unreachable)
    assert f"fallback: {FRAMES} frame(s)" in summary and f"below floor: {FRAMES} frame(s)" in summary
    assert float(timeline.std()) > 0.01
    no_recognizer = swap_inputs[:3] + (None,)
    with pytest.raises(pack.face_identity.errors.InvalidArgumentError, match="recognizer"):
        run_swap(nodes, clip, no_recognizer, tracking=unreachable)


def test_fallback_swappers_load_like_the_primary(nodes: dict[str, Any], swap_inputs: tuple[Any, ...], pack: Any) -> None:
    track_module = pack.nodes.track
    _, primary, _, _ = swap_inputs
    options = track_module.options_like(primary)
    assert options["backend"] == "onnxruntime" and options["providers"] == ("CPUExecutionProvider",)
    fallbacks = track_module.load_fallbacks(("inswapper_128", "hyperswap_1a_256", "simswap_256"), primary)
    assert [swapper.name for swapper in fallbacks] == ["inswapper_128", "simswap_256"]  # the primary is not tried twice
    assert all(
        "backend onnxruntime" in swapper.backend.report() and "providers: CPU" in swapper.backend.report()
        for swapper in fallbacks
    )


def test_fallback_swappers_follow_a_torch_primary(nodes: dict[str, Any], swap_inputs: tuple[Any, ...], pack: Any) -> None:
    track_module = pack.nodes.track
    primary, _ = nodes["LoadFaceSwapper"].load("hyperswap_1a_256", "torch", "cpu", "float32", False)
    options = track_module.options_like(primary)
    assert (options["backend"], str(options["device"]), options["dtype"]) == ("torch", "cpu", "float32")
    (fallback,) = track_module.load_fallbacks(("inswapper_128",), primary)
    assert fallback.backend.name == "torch" and pack.face_identity.converted_graphs(fallback)
