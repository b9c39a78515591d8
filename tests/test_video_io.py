"""video_io: probing, the lazy frame source (chunk by chunk, a second pass from the start), segments joined with audio."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.devtools.video_clip import AAC_FRAME, SAMPLE_RATE
from face_identity.devtools.video_clip import write_clip as write_video
from face_identity.errors import VideoFileError
from face_identity.frames import Frames, FrameSource
from face_identity.images import read_image
from face_identity.video_io import SegmentWriter, VideoFrames, output_suffix, probe_video, transform_video

av = pytest.importorskip("av")  # the video extra; scripts/test.sh installs it (tests/requirements.txt)

"""Samples per AAC frame: the audio length may differ by at most one frame."""


def moving_photo(
    photo: NDArray[np.uint8], count: int, size: tuple[int, int] = (288, 352), origin: tuple[int, int] = (20, 200)
) -> list[NDArray[np.uint8]]:
    """``count`` frames of ``size``: a window sliding (1, 2) px per frame across ``photo`` from ``origin`` (a face
    moving; the default keeps Newton's whole face, x 335..438, y 90..233 of newton.png, inside every frame)."""
    (height, width), (top, left) = size, origin
    return [
        np.ascontiguousarray(photo[top + index : top + index + height, left + 2 * index : left + 2 * index + width])
        for index in range(count)
    ]


def decode_all(path: Path) -> list[NDArray[np.uint8]]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.fixture(scope="module")
def clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    photo = read_image(shared_data / "faces/isaac_newton/newton.png")
    folder = tmp_path_factory.mktemp("video_io")
    return write_video(folder / "clip.mp4", moving_photo(photo, 12), Fraction(30000, 1001), audio_seconds=0.4)


def test_probe_states_count_rate_size_and_audio(clip: Path) -> None:
    info = probe_video(clip)
    assert (info.count, info.fps, info.size, info.codec) == (12, Fraction(30000, 1001), (288, 352), "h264")
    assert info.audio_codec == "aac" and abs(info.audio_seconds - 0.4) <= AAC_FRAME / SAMPLE_RATE


def test_frames_read_in_chunks_and_a_second_pass_starts_again(clip: Path) -> None:
    whole = decode_all(clip)
    source = VideoFrames(clip)
    assert isinstance(source, FrameSource)
    frames = Frames.of(source, "clip")
    assert frames.is_lazy and frames.count == 12 and frames.size == (288, 352)
    first = frames.uint8(0, 5)
    assert frames.window(0, 5).count == 5 and source.passes == 1  # the chunk just read is not decoded again
    rest = frames.uint8(5, 12)
    assert source.passes == 1  # forward: the same pass
    np.testing.assert_array_equal(np.stack(first + rest), np.stack(whole))
    np.testing.assert_array_equal(frames.floats(2, 3)[0], whole[2] / np.float32(255))
    assert source.passes == 2  # backward: decoding starts again from the first frame
    with pytest.raises(VideoFileError, match="frames 10..13"):
        source.read(10, 13)
    source.close()


def test_segments_join_with_the_audio_and_resume_after_the_last_finished_one(clip: Path, tmp_path: Path) -> None:
    info = probe_video(clip)
    calls: list[tuple[int, int]] = []

    def invert(start: int, frames: Frames) -> list[NDArray[np.uint8]]:
        calls.append((frames.count, start))
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill during the third chunk
        return [255 - image for image in frames.uint8()]

    parts, output = tmp_path / "parts", tmp_path / "out.mp4"
    with VideoFrames(clip) as source, pytest.raises(KeyboardInterrupt):
        transform_video(source, output, parts, invert, 5)
    assert SegmentWriter(parts, info).done() == 10 and not output.exists()
    assert not list(parts.glob(".*"))  # no partial segment left behind
    with VideoFrames(clip) as source:
        transform_video(source, output, parts, invert, 5)
    assert calls == [(5, 0), (5, 5), (2, 10), (2, 10)]  # the interrupted chunk again, nothing else twice
    assert not parts.exists()
    joined = probe_video(output)
    assert (joined.count, joined.fps, joined.size, joined.audio_codec) == (12, info.fps, info.size, "aac")
    assert abs(joined.audio_seconds - info.audio_seconds) <= AAC_FRAME / SAMPLE_RATE
    expected = [255 - image for image in decode_all(clip)]
    for got, want in zip(decode_all(output), expected, strict=True):  # H.264 is lossy: close, not equal
        assert np.abs(got.astype(int) - want).mean() < 3.0


def test_missing_damaged_and_no_pyav_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VideoFileError, match="does not exist"):
        probe_video(tmp_path / "none.mp4")
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 10)
    with pytest.raises(VideoFileError, match="damaged or not a video"):
        probe_video(damaged)
    monkeypatch.setitem(sys.modules, "av", None)  # as without the video extra
    with pytest.raises(VideoFileError, match=r"pip install av .*face-identity\[video\]"):
        probe_video(damaged)


def test_device_groups_of_a_video_are_one_tensor_chunk(clip: Path) -> None:
    torch = pytest.importorskip("torch")
    with VideoFrames(clip) as source:
        frames = Frames.of(source)
        [(tensor, indices)] = frames.device_groups(3, 6, "cpu")
        assert tuple(tensor.shape) == (3, 3, 288, 352) and indices == [3, 4, 5] and tensor.dtype == torch.float32
        np.testing.assert_array_equal(tensor[0].permute(1, 2, 0).numpy(), frames.uint8(3, 4)[0].astype(np.float32))


def test_memory_follows_the_chunk_not_the_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoded frames and processed frames alive at once, counted by finalizers: at most two chunks' worth,
    whether the clip has 16 or 64 frames (holding the clip would keep all of them alive)."""
    import weakref

    rng = np.random.default_rng(0)
    alive, most = [0], [0]

    def born(array: NDArray[np.uint8]) -> NDArray[np.uint8]:
        alive[0] += 1
        most[0] = max(most[0], alive[0])
        weakref.finalize(array, lambda: alive.__setitem__(0, alive[0] - 1))
        return array

    decode = VideoFrames._decode_one
    monkeypatch.setattr(VideoFrames, "_decode_one", lambda self: born(decode(self).copy()))
    peaks = []
    for count in (16, 64):
        clip = write_video(
            tmp_path / f"noise_{count}.mp4", [rng.integers(0, 256, (64, 96, 3), np.uint8) for _ in range(count)], Fraction(25)
        )
        most[0] = 0
        with VideoFrames(clip) as source:
            process = lambda _start, window: [born(image.copy()) for image in window.uint8()]  # noqa: E731
            transform_video(source, tmp_path / f"out_{count}.mp4", tmp_path / f"parts_{count}", process, 4)
        peaks.append(most[0])
    assert peaks[0] == peaks[1] <= 4 * 4, peaks  # decoded + processed frames of one chunk, and the next chunk's


def test_audio_mp4_cannot_take_goes_into_matroska_copied(clip: Path, tmp_path: Path) -> None:
    """PCM audio: the output is .mkv, the audio copied packet for packet (same codec, same length)."""
    source = tmp_path / "pcm.mov"
    with av.open(str(source), "w") as output:
        video = output.add_stream("mpeg4", rate=Fraction(25))
        video.width, video.height, video.pix_fmt = 352, 288, "yuv420p"
        audio = output.add_stream("pcm_s16le", rate=16_000)
        audio.layout = "mono"
        for index, image in enumerate(decode_all(clip)[:8]):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        wave = av.AudioFrame.from_ndarray(np.zeros((1, 5120), np.int16), format="s16", layout="mono")
        wave.sample_rate, wave.pts = 16_000, 0
        output.mux(audio.encode(wave))
        output.mux(audio.encode(None))
    info = probe_video(source)
    assert output_suffix(info) == ".mkv" and output_suffix(probe_video(clip)) == ".mp4"
    with VideoFrames(source) as frames:
        written = transform_video(frames, tmp_path / "out.mkv", tmp_path / "parts", lambda _s, f: f.uint8(), 3)
    result = probe_video(written)
    assert (result.count, result.fps, result.audio_codec) == (8, Fraction(25), "pcm_s16le")
    assert abs(result.audio_seconds - info.audio_seconds) < 1e-3
