"""``face-identity swap``: a video with audio round-trips, a killed run resumes without losing or repeating a frame,
chunked equals unchunked, images and folders, a photo or identity file as source, clear errors.

Detection uses the small real det_500m of ../shared/data on real photos; the swapper is a synthetic stand-in with
inswapper's I/O (``synthetic.build_inswapper_like``); the source is an identity file (random w600k_r50 row), or
a real photo embedded by the small real int8 recognizer (the stand-in swapper then declares that space).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from test_video_io import AAC_FRAME, SAMPLE_RATE, decode_all, moving_photo, write_video

from face_identity import video_io
from face_identity.catalog import W600K_R50_SPACE
from face_identity.cli import main
from face_identity.devtools import synthetic
from face_identity.embed import load_recognizer
from face_identity.frames import Frames
from face_identity.images import read_image, save_image
from face_identity.store import save_identity
from face_identity.swap.job import SwapJob
from face_identity.swap_resume import WORK_FOLDER
from face_identity.types import Identity

pytest.importorskip("av")
pytestmark = pytest.mark.usefixtures("no_network")
REPO_ROOT = Path(__file__).resolve().parent.parent
FRAMES = 24
FPS = Fraction(24)


@pytest.fixture(scope="module")
def data(shared_data: Path, real_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("swap_cli")
    photo = read_image(shared_data / "faces/isaac_newton/newton.png")
    identity = Identity(np.random.default_rng(3).normal(size=(1, 512)).astype(np.float32), W600K_R50_SPACE)
    mbf_space = load_recognizer(real_models["mbf_int8"], providers="cpu", allow_download=False).model_id
    return {
        "video": write_video(folder / "clip.mp4", moving_photo(photo, FRAMES), FPS, audio_seconds=1.0),
        "identity": save_identity(identity, folder / "source.safetensors"),
        "swapper": synthetic.build_inswapper_like(folder / "inswapper_like.onnx", seed=0),
        "mbf_swapper": synthetic.build_inswapper_like(folder / "mbf" / "inswapper_like.onnx", embedding_space=mbf_space),
        "mbf_space": mbf_space,
        "detector": real_models["det500m"],
        "mbf_int8": real_models["mbf_int8"],
        "photo": shared_data / "faces/isaac_newton/newton.png",
        "gauss": shared_data / "faces/carl_friedrich_gauss/gauss.png",
    }


def swap_args(data: dict[str, Any], *targets: Path, out: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        "swap",
        str(data["identity"]),
        *map(str, targets),
        "--out",
        str(out),
        "--swapper",
        str(data["swapper"]),
        "--detector",
        str(data["detector"]),
        "--det-size",
        "320",  # det_500m at 320 px finds the faces of these photos, 4x faster than at 640
        "--providers",
        "cpu",
        *extra,
    ]


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[NDArray[np.uint8]]:
    """Every frame handed to the encoder, in order (what the swap produced, before H.264)."""
    frames: list[NDArray[np.uint8]] = []
    original = video_io._encode

    def record(path: Path, images: list[NDArray[np.uint8]], *rest: Any) -> None:
        frames.extend(image.copy() for image in images)
        original(path, images, *rest)

    monkeypatch.setattr(video_io, "_encode", record)
    return frames


def test_video_round_trip_keeps_frame_count_rate_and_audio(
    data: dict[str, Any], tmp_path: Path, encoded: list[NDArray[np.uint8]], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(swap_args(data, data["video"], out=out, extra=("--chunk-frames", "10"))) == 0
    written = out / "clip.mp4"
    source, result = video_io.probe_video(data["video"]), video_io.probe_video(written)
    assert (result.count, result.fps, result.size) == (FRAMES, FPS, source.size)
    assert result.audio_codec == "aac" and abs(result.audio_seconds - source.audio_seconds) <= AAC_FRAME / SAMPLE_RATE
    assert str(written) in capsys.readouterr().out
    originals = decode_all(data["video"])
    changed = [bool(np.any(frame != original)) for frame, original in zip(encoded, originals, strict=True)]
    assert sum(changed) >= FRAMES - 2  # the face is swapped in (nearly) every frame
    assert not any(out.glob(f"{WORK_FOLDER}/*.parts"))  # the segments are gone once the file is written


def test_chunked_equals_unchunked(data: dict[str, Any], tmp_path: Path, encoded: list[NDArray[np.uint8]]) -> None:
    assert main(swap_args(data, data["video"], out=tmp_path / "whole", extra=("--chunk-frames", str(FRAMES)))) == 0
    whole = list(encoded)
    encoded.clear()
    assert main(swap_args(data, data["video"], out=tmp_path / "chunks", extra=("--chunk-frames", "7"))) == 0
    assert len(encoded) == len(whole) == FRAMES
    for chunked, unchunked in zip(encoded, whole, strict=True):
        np.testing.assert_array_equal(chunked, unchunked)


def test_resume_after_an_interruption_loses_no_frame_and_repeats_none(
    data: dict[str, Any], tmp_path: Path, encoded: list[NDArray[np.uint8]], monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = ("--chunk-frames", "5")
    assert main(swap_args(data, data["video"], out=tmp_path / "straight", extra=chunk)) == 0
    straight = list(encoded)
    encoded.clear()
    calls = []
    original_run = SwapJob.run

    def interrupted(self: SwapJob, images: Any, plan: Any = None, context: str = "swap") -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while the third chunk is swapped
        return original_run(self, images, plan, context)

    monkeypatch.setattr(SwapJob, "run", interrupted)
    out = tmp_path / "resumed"
    assert main(swap_args(data, data["video"], out=out, extra=chunk)) == 130
    assert len(encoded) == 10 and not (out / "clip.mp4").exists()
    assert main(swap_args(data, data["video"], out=out, extra=chunk)) == 0
    assert len(encoded) == FRAMES  # frames 10.. once more, 0..9 not again
    for resumed, reference in zip(encoded, straight, strict=True):
        np.testing.assert_array_equal(resumed, reference)
    for resumed, reference in zip(decode_all(out / "clip.mp4"), decode_all(tmp_path / "straight" / "clip.mp4"), strict=True):
        np.testing.assert_array_equal(resumed, reference)
    # the same command once more: nothing to do, nothing overwritten
    assert main(swap_args(data, data["video"], out=out, extra=chunk)) == 0 and len(encoded) == FRAMES


def test_a_killed_process_resumes_to_the_same_file(data: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "face_identity", *swap_args(data, data["video"], out=out, extra=("--chunk-frames", "2"))]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "FACE_IDENTITY_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = out / WORK_FOLDER / "clip.mp4.parts"
    deadline = time.monotonic() + 120
    while not list(parts.glob("segment_*.mp4")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before its first segment could be killed"
    assert not (out / "clip.mp4").exists() and list(parts.glob("segment_*.mp4"))
    resumed = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight"
    assert main(swap_args(data, data["video"], out=straight, extra=("--chunk-frames", "2"))) == 0
    ours, reference = decode_all(out / "clip.mp4"), decode_all(straight / "clip.mp4")
    assert len(ours) == len(reference) == FRAMES
    for got, want in zip(ours, reference, strict=True):
        np.testing.assert_array_equal(got, want)


def test_images_and_folders_are_swapped_once_and_never_overwritten(
    data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    save_image(folder / "a.png", read_image(data["photo"]))
    save_image(folder / "b.jpg", read_image(data["gauss"]))
    out = tmp_path / "out"
    assert main(swap_args(data, folder, data["photo"], out=out)) == 0
    printed = capsys.readouterr().out
    assert {path.name for path in out.iterdir() if not path.name.startswith(".")} == {"a.png", "b.jpg", "newton.png"}
    assert "1 face(s) swapped" in printed
    assert not np.array_equal(read_image(out / "newton.png"), read_image(data["photo"]))
    stamp = (out / "a.png").stat().st_mtime_ns
    assert main(swap_args(data, folder, data["photo"], out=out)) == 0  # the same command: all done, skipped
    assert "already done" in capsys.readouterr().err and (out / "a.png").stat().st_mtime_ns == stamp
    other = ("--pixel-boost", "2")
    assert main(swap_args(data, folder, out=out, extra=other)) == 2
    assert "already exists" in capsys.readouterr().err and (out / "a.png").stat().st_mtime_ns == stamp
    assert main(swap_args(data, folder, data["photo"], out=out)) == 0  # the refusal kept the finished run's record
    assert "3 target(s) already done" in capsys.readouterr().err
    assert main(swap_args(data, folder, out=out, extra=(*other, "--if-exists", "new name"))) == 0
    assert (out / "a_2.png").is_file() and (out / "b_2.jpg").is_file()
    assert main(swap_args(data, folder, out=out, extra=(*other, "--if-exists", "overwrite"))) == 0
    assert (out / "a.png").stat().st_mtime_ns == stamp  # that run is finished: its outputs are a_2.png, b_2.jpg
    assert main(swap_args(data, folder, out=out, extra=("--if-exists", "overwrite"))) == 0  # settings changed again
    assert (out / "a.png").stat().st_mtime_ns != stamp


def test_an_unfinished_run_with_other_settings_is_refused(
    data: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(self: SwapJob, images: Any, plan: Any = None, context: str = "swap") -> Any:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(SwapJob, "run", fail)
        assert main(swap_args(data, data["photo"], out=tmp_path)) == 130
    assert main(swap_args(data, data["photo"], out=tmp_path, extra=("--pixel-boost", "2"))) == 2
    message = capsys.readouterr().err
    assert "unfinished swap run with other settings" in message and "pixel_boost 1 -> 2" in message
    assert main(swap_args(data, data["photo"], out=tmp_path)) == 0 and (tmp_path / "newton.png").is_file()


def test_a_photo_source_is_embedded_with_the_recognizer(data: dict[str, Any], tmp_path: Path) -> None:
    args = swap_args(data, data["gauss"], out=tmp_path, extra=("--recognizer", str(data["mbf_int8"])))
    args[1], args[args.index("--swapper") + 1] = str(data["photo"]), str(data["mbf_swapper"])
    assert main(args) == 0
    assert not np.array_equal(read_image(tmp_path / "gauss.png"), read_image(data["gauss"]))


def test_bad_inputs_are_named(
    data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"not a video at all" * 50)
    out = tmp_path / "out"
    assert main(swap_args(data, tmp_path / "missing.png", damaged, data["photo"], out=out)) == 2
    err = capsys.readouterr().err
    assert "missing.png does not exist" in err and "damaged.mp4 is damaged or not a video" in err
    assert "2 of 3 target(s) failed" in err and (out / "newton.png").is_file()  # the good one is swapped
    args = swap_args(data, data["photo"], out=out)
    args[1] = str(tmp_path / "nobody.safetensors")
    assert main(args) == 2 and "source" in capsys.readouterr().err
    for extra, says in (
        (("--reference", str(data["photo"])), "--target-mode reference"),
        (("--indices", "0"), "--target-mode indices"),
    ):
        assert main(swap_args(data, data["photo"], out=tmp_path / "unused", extra=extra)) == 2
        assert says in capsys.readouterr().err  # an option its target mode ignores is refused, not dropped in silence
    monkeypatch.setitem(sys.modules, "av", None)  # as without the video extra
    assert main(swap_args(data, data["video"], out=tmp_path / "no_av")) == 2
    assert "pip install av" in capsys.readouterr().err


def test_tracking_plans_once_and_a_resumed_run_reads_the_plan(
    data: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans: list[int] = []
    original_plan, original_run = SwapJob.plan, SwapJob.run

    def plan(self: SwapJob, *args: Any, **kwargs: Any) -> Any:
        plans.append(1)
        return original_plan(self, *args, **kwargs)

    def run_then_stop(self: SwapJob, images: Any, plan: Any = None, context: str = "swap") -> Any:
        assert plan is not None and plan.count == Frames.of(images).count  # pass 2 swaps the plan's faces
        raise KeyboardInterrupt

    monkeypatch.setattr(SwapJob, "plan", plan)
    with monkeypatch.context() as patch:
        patch.setattr(SwapJob, "run", run_then_stop)
        assert main(swap_args(data, data["video"], out=tmp_path, extra=("--chunk-frames", "8"))) == 130
    assert len(plans) == 1 and (tmp_path / WORK_FOLDER / "clip.mp4.parts" / "plan.json").is_file()
    monkeypatch.setattr(SwapJob, "run", original_run)
    assert main(swap_args(data, data["video"], out=tmp_path, extra=("--chunk-frames", "8"))) == 0
    assert len(plans) == 1  # the resumed run read the plan instead of tracking the clip again
    assert main(swap_args(data, data["video"], out=tmp_path / "untracked", extra=("--no-track",))) == 0
    assert len(plans) == 1  # --no-track: each frame on its own, no pass 1


def test_fallback_below_the_floor_writes_the_identity_timeline(data: dict[str, Any], tmp_path: Path) -> None:
    short = write_video(tmp_path / "short.mp4", moving_photo(read_image(data["photo"]), 6), FPS)
    second = synthetic.build_inswapper_like(
        tmp_path / "second" / "inswapper_like.onnx", seed=5, embedding_space=data["mbf_space"]
    )
    args = swap_args(data, short, out=tmp_path / "out", extra=("--recognizer", str(data["mbf_int8"])))
    args[1], args[args.index("--swapper") + 1] = str(data["photo"]), str(data["mbf_swapper"])
    floor = ("--fallback", str(second), "--retention-floor", "0.99", "--chunk-frames", "4")  # no stand-in reaches 0.99
    assert main([*args, *floor]) == 0
    rows = [line.split(",") for line in (tmp_path / "out" / "short.timeline.csv").read_text().splitlines()]
    assert len(rows) == 1 + 6 and [int(row[0]) for row in rows[1:]] == list(range(6))  # both segments' rows
    assert {row[rows[0].index("below_floor")] for row in rows[1:]} == {"1"}
    assert {row[rows[0].index("fallback")] for row in rows[1:]} == {"1"}  # the second model was tried on every face
    assert (tmp_path / "out" / "short.timeline.png").is_file()
    assert main([*args, "--out", str(tmp_path / "json"), "--timeline", str(tmp_path / "identity.json")]) == 0
    assert (tmp_path / "identity.json").is_file() and not (tmp_path / "json" / "short.timeline.csv").exists()


def test_tracking_and_fallback_numbers_follow_the_number_policy(
    data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in (("--smoothing", "2"), ("--max-gap", "-1"), ("--retention-floor", "nan"), ("--smoother", "wobbly")):
        with pytest.raises(SystemExit) as refused:
            main(swap_args(data, data["video"], out=tmp_path, extra=bad))
        assert refused.value.code == 2 and bad[0] in capsys.readouterr().err
    assert main(swap_args(data, data["video"], out=tmp_path, extra=("--fallback", "inswapper_128"))) == 2
    assert "--retention-floor" in capsys.readouterr().err


def test_masks_and_restore_options_reach_the_swap(data: dict[str, Any], tmp_path: Path) -> None:
    from face_identity.devtools import synthetic_masks

    darken = synthetic_masks.build_restorer_like(tmp_path / "models" / "gfpgan_1.4.onnx", scale=0.5)  # a visible restore
    plain, restored = tmp_path / "plain", tmp_path / "restored"
    masks = ("--masks", "box", "--box-blur", "0.5", "--padding", "10")
    assert main(swap_args(data, data["photo"], out=plain, extra=masks)) == 0
    assert main(swap_args(data, data["photo"], out=restored, extra=(*masks, "--restore", str(darken), "--blend", "1"))) == 0
    before, after = read_image(plain / "newton.png").astype(int), read_image(restored / "newton.png").astype(int)
    changed = np.abs(before - after).sum(axis=2) > 8
    assert 0.01 < changed.mean() < 0.5  # the face is restored (darkened), the rest of the picture is not
    with pytest.raises(SystemExit):
        main(swap_args(data, data["photo"], out=plain, extra=("--padding", "1,2")))
