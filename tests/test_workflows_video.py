"""The video example workflow (Load Video -> Face Swap with Face Track -> Create Video -> Save Video) and its clip,
run through the real node classes with stand-ins of ComfyUI's core video nodes (PyAV, as ComfyUI decodes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from conftest import build_stand_in_swappers
from test_workflows import WORKFLOW_DIR, CoreNodes, find, run_api_workflow


class VideoCoreNodes(CoreNodes):
    """``CoreNodes`` and ComfyUI's core video nodes (comfy_extras/nodes_video.py)."""

    def LoadVideo(self, file: str) -> tuple[Path]:
        return (self.input_dir / file,)

    def GetVideoComponents(self, video: Path) -> tuple[Any, dict[str, Any], float]:
        """As ComfyUI (decoded with PyAV): frames [T, H, W, 3] float 0..1, audio {"waveform" [1, C, S], "sample_rate"}, fps."""
        import av

        with av.open(str(video)) as container:
            fps = float(container.streams.video[0].average_rate or 0)
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        with av.open(str(video)) as container:
            rate = container.streams.audio[0].sample_rate
            chunks = [frame.to_ndarray() for frame in container.decode(audio=0)]
        images = torch.from_numpy(np.stack(frames).astype(np.float32) / 255.0)
        return images, {"waveform": torch.from_numpy(np.concatenate(chunks, axis=1))[None], "sample_rate": rate}, fps

    def CreateVideo(self, images: Any, fps: float, audio: Any = None) -> tuple[dict[str, Any]]:
        return ({"images": images, "fps": fps, "audio": audio},)

    def SaveVideo(self, video: Any, filename_prefix: str, format: str, codec: str) -> tuple[()]:  # noqa: A002 - ComfyUI's name
        self.shown.append(video)
        return ()


def test_video_face_swap_runs(pack: Any, model_folder: Path, example_inputs: Path) -> None:
    from video_clip import FPS, FRAMES

    build_stand_in_swappers(model_folder)
    prompt = json.loads((WORKFLOW_DIR / "api" / "video_face_swap.json").read_text())
    (track,) = find(prompt, "FaceIdentity_FaceTrack")
    assert prompt[track]["inputs"]["fallback"] == "inswapper_128" and prompt[track]["inputs"]["tracking"] is True
    core = VideoCoreNodes(example_inputs)
    outputs = run_api_workflow(pack, prompt, core)
    frames, audio, fps = outputs[find(prompt, "GetVideoComponents")[0]]
    swapped, mask, total, counts, _retention, summary, _chart, timeline = outputs[find(prompt, "FaceIdentity_FaceSwap")[0]]
    assert json.loads(counts) == [1] * FRAMES and total == FRAMES and swapped.shape == frames.shape
    assert f"identity over time: {FRAMES} frame(s), {FRAMES} scored" in summary and "models kept" in summary
    assert timeline.shape[0] == 1 and timeline.shape[-1] == 3 and any(item is timeline for item in core.shown)
    (video,) = [item for item in core.shown if isinstance(item, dict)]  # what Save Video got from Create Video
    assert video["images"] is swapped and video["audio"] is audio and video["fps"] == fps == FPS


def test_example_clip_has_frames_fps_and_audio(example_inputs: Path) -> None:
    from video_clip import EXAMPLE_CLIP, FPS, FRAMES, SIZE

    core = VideoCoreNodes(example_inputs)
    images, audio, fps = core.GetVideoComponents(core.LoadVideo(EXAMPLE_CLIP)[0])
    assert images.shape == (FRAMES, SIZE[1], SIZE[0], 3) and images.dtype == torch.float32 and fps == FPS
    seconds = audio["waveform"].shape[-1] / audio["sample_rate"]
    assert abs(seconds - FRAMES / FPS) < 0.1 and float(audio["waveform"].abs().max()) > 0.1  # the tone, as long as the video
    assert float((images[-1] - images[0]).abs().mean()) > 0.02  # the photo moves
