"""Video files in and out with PyAV (the optional ``video`` extra): probe, a lazy frame source, a segment writer.

PyAV (``pip install av``, or ``pip install face-identity[video]``) ships its own FFmpeg; ComfyUI's video
nodes depend on it already. It is imported inside the functions here only, so the library works
without it and only video files need it (``VideoFileError`` naming the install command otherwise).

- ``probe_video(path)``: frame count, frame rate (an exact ``Fraction``), size, audio.
- ``VideoFrames(path)``: a ``frames.FrameSource``. ``read(start, stop)`` decodes sequentially and keeps
  only the chunk it returns; asking for an earlier frame reopens the file and decodes from the start
  (a second pass). Memory: one chunk of ``[H, W, 3]`` uint8 RGB frames.
- ``SegmentWriter``: each finished chunk becomes its own H.264 file (``segment_<first frame>_<count>.mp4``, written
  beside and renamed when complete, so a killed run leaves only whole segments); ``finish()`` copies
  the segments' packets one after the other (no re-encoding) and the source's audio packets (copied,
  not re-encoded) into the final file, frame ``i`` at ``i / fps``: same frame rate, same frame count.

Encoder: ``libx264`` (PyAV's wheels ship it; ``mpeg4`` is the fallback of a build without it), ``yuv420p``,
constant quality ``crf`` 18 (visually lossless), no B-frames, so that every segment starts with a key
frame, decode order is presentation order and segments join by stream copy. Frame rate: the video
stream's average rate (a variable-rate source comes out at that constant rate).
"""

from __future__ import annotations

import heapq
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import VideoFileError
from .files import temporary_beside
from .frames import Frames
from .types import RGBImage

INSTALL_HINT = "install PyAV: pip install av (or the extra: pip install face-identity[video])"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".gif")
"""File extensions (lower case) the swap command treats as videos."""
ENCODERS = ("libx264", "mpeg4")
"""Video encoders tried in this order (the first the PyAV build has)."""
CRF = 18
"""libx264 constant quality: 18 is visually lossless at 8 bits."""
MP4_AUDIO = ("aac", "mp3", "alac", "opus", "flac", "ac3", "eac3")
"""Audio codecs an MP4/MOV file takes by stream copy; other audio goes into a Matroska (.mkv) output."""
SEGMENT_PREFIX = "segment_"
CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
"""FFmpeg muxer of each output extension (the file is written under a temporary name first)."""


def require_av() -> Any:
    """The ``av`` module.

    Raises:
        VideoFileError: PyAV is not installed (says how to install it).
    """
    try:
        import av
    except ImportError as error:
        raise VideoFileError(f"video files need PyAV, which is not installed; {INSTALL_HINT}") from error
    return av


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video extension (``VIDEO_EXTENSIONS``)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` finds: ``count`` frames of ``size`` ``(height, width)`` at ``fps`` (exact);
    ``audio_codec`` (``None``: no audio) and ``audio_seconds``; ``codec`` of the video stream."""

    path: str
    count: int
    fps: Fraction
    size: tuple[int, int]
    codec: str
    audio_codec: str | None = None
    audio_seconds: float = 0.0

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def _open(path: str | os.PathLike[str]) -> Any:
    av = require_av()
    file_path = Path(path)
    if not file_path.is_file():
        raise VideoFileError(f"video file {file_path} does not exist")
    try:
        container = av.open(str(file_path))
    except (av.FFmpegError, OSError, ValueError) as error:
        raise VideoFileError(f"{file_path} is damaged or not a video FFmpeg can read ({error})") from error
    if not container.streams.video:
        container.close()
        raise VideoFileError(f"{file_path} has no video stream")
    return container


def _fraction(value: Any) -> Fraction:
    """A PyAV rational (``Fraction`` up to PyAV 18, ``AVRational`` after) as a ``Fraction``; 0 when unset."""
    if not value:
        return Fraction(0)
    return Fraction(int(value.numerator), int(value.denominator))


def _seconds(stream: Any, container: Any) -> float:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * _fraction(stream.time_base))
    return float(container.duration or 0) / 1_000_000


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, frame rate, size and audio of a video file.

    The count is the container's when it states one, else the number of video packets (demuxed, not decoded).

    Raises:
        VideoFileError: missing, unreadable, no video stream, no frame rate, or PyAV missing.
    """
    av = require_av()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise VideoFileError(f"{path}: the video stream states no frame rate")
        count = int(stream.frames or 0)
        if count <= 0:
            count = sum(1 for _ in _packets(container, stream))
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=str(path),
            count=count,
            fps=_fraction(rate),
            size=(int(stream.codec_context.height), int(stream.codec_context.width)),
            codec=str(stream.codec_context.name),
            audio_codec=None if audio is None else str(audio.codec_context.name),
            audio_seconds=0.0 if audio is None else _seconds(audio, container),
        )
    except av.FFmpegError as error:
        raise VideoFileError(f"{path} is damaged or not a video FFmpeg can read ({error})") from error
    finally:
        container.close()


class VideoFrames:
    """A video file as a ``frames.FrameSource``: ``[H, W, 3]`` uint8 RGB frames decoded a chunk at a time.

    Holds the open file and the last chunk read (``read`` of that chunk again costs nothing). Reading
    forward continues the decoding; reading backward reopens the file. ``close()`` (or ``with``) ends it.
    """

    def __init__(self, path: str | os.PathLike[str], info: VideoInfo | None = None) -> None:
        self.path = Path(path)
        self.info = info or probe_video(path)
        self._container: Any = None
        self._frames: Iterator[Any] | None = None
        self._next = 0
        self._last: tuple[int, int, list[RGBImage]] | None = None
        self.passes = 0
        """How many times decoding started from the first frame (tests and the benchmark read it)."""

    @property
    def count(self) -> int:
        return self.info.count

    @property
    def size(self) -> tuple[int, int]:
        return self.info.size

    def _restart(self) -> None:
        self.close()
        self._container = _open(self.path)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames = iter(self._container.decode(stream))
        self._next = 0
        self.passes += 1

    def _decode_one(self) -> RGBImage:
        av = require_av()
        assert self._frames is not None
        try:
            frame = next(self._frames)
        except StopIteration:
            raise VideoFileError(
                f"{self.path} ended after {self._next} frame(s) but states {self.count}; re-encode it "
                "(e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) and try again"
            ) from None
        except av.FFmpegError as error:
            raise VideoFileError(f"{self.path}: frame {self._next} cannot be decoded ({error})") from error
        height, width = self.size
        if (frame.height, frame.width) != (height, width):
            frame = frame.reformat(width=width, height=height)
        self._next += 1
        return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))

    def read(self, start: int, stop: int) -> list[RGBImage]:
        """Frames ``start..stop`` (``0 <= start <= stop <= count``) as ``[H, W, 3]`` uint8 RGB.

        Raises:
            VideoFileError: a frame cannot be decoded, or the file holds fewer frames than it states.
        """
        if not 0 <= start <= stop <= self.count:
            raise VideoFileError(f"{self.path}: frames {start}..{stop} asked of {self.count}")
        if self._last is not None and self._last[:2] == (start, stop):
            return list(self._last[2])
        self._last = None  # the previous chunk is let go before the next is decoded
        if self._frames is None or start < self._next:
            self._restart()
        while self._next < start:
            self._decode_one()
        chunk = [self._decode_one() for _ in range(stop - start)]
        self._last = (start, stop, chunk)
        return list(chunk)

    def close(self) -> None:
        self._frames = None
        self._last = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def output_suffix(info: VideoInfo) -> str:
    """The final file's extension: the source's for MP4/MOV when its audio can be copied there, else ``.mkv``."""
    suffix = Path(info.path).suffix.lower()
    if suffix in (".mp4", ".mov", ".m4v") and (info.audio_codec is None or info.audio_codec in MP4_AUDIO):
        return suffix
    return ".mkv"


def choose_encoder() -> str:
    """The first of ``ENCODERS`` this PyAV build can encode with."""
    av = require_av()
    for name in ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # av.codec.codec.UnknownCodecError; its module path differs between PyAV versions
            continue
    raise VideoFileError(f"this PyAV build has none of the encoders {', '.join(ENCODERS)}; {INSTALL_HINT}")


def _encode(path: Path, frames: list[RGBImage], fps: Fraction, encoder: str) -> None:
    av = require_av()
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream(encoder, rate=fps)
        stream.width, stream.height = width - width % 2, height - height % 2  # yuv420p needs even sides
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / fps
        if encoder == "libx264":
            stream.codec_context.options = {"crf": str(CRF), "bf": "0"}
        else:
            stream.codec_context.max_b_frames = 0
            stream.codec_context.bit_rate = 8 * width * height * int(round(fps))  # ~1 bit per pixel per frame
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[: stream.height, : stream.width]), format="rgb24")
            frame.pts = index
            frame.time_base = stream.codec_context.time_base
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))


def _packets(container: Any, stream: Any) -> Iterator[Any]:
    for packet in container.demux(stream):
        if packet.size:  # the demuxer's empty flush packet
            yield packet


class SegmentWriter:
    """Writes a swapped video as numbered segments in ``folder``, then joins them with the source's audio.

    ``done()`` lists the frames already in finished segments (a resumed run starts there);
    ``write(start, frames)`` encodes one chunk as the next segment (``start`` must be the first frame
    not yet written); ``finish(path)`` writes the final file atomically.
    """

    def __init__(self, folder: str | os.PathLike[str], info: VideoInfo, encoder: str | None = None) -> None:
        self.folder = Path(folder)
        self.info = info
        self.encoder = encoder or choose_encoder()

    def segments(self) -> list[tuple[Path, int, int]]:
        """Finished segments ``(path, first frame, frame count)``, in order (from their names: ``segment_<first>_<n>``)."""
        found = []
        for path in sorted(self.folder.glob(f"{SEGMENT_PREFIX}*.mp4")):
            parts = path.stem[len(SEGMENT_PREFIX) :].split("_")
            if len(parts) == 2 and all(part.isdecimal() for part in parts):
                found.append((path, int(parts[0]), int(parts[1])))
        return sorted(found, key=lambda item: item[1])

    def done(self) -> int:
        """Frames ``0..done()`` are in finished segments (contiguous from frame 0)."""
        frame = 0
        for _, first, count in self.segments():
            if first != frame:
                break
            frame += count
        return frame

    def write(self, start: int, frames: list[RGBImage]) -> Path:
        """Encode ``frames`` (``[H, W, 3]`` uint8 RGB, frames ``start..start + len``) as one segment file."""
        if start != self.done():
            raise VideoFileError(f"segment at frame {start} but frames 0..{self.done()} are written; frames must come in order")
        path = self.folder / f"{SEGMENT_PREFIX}{start:07d}_{len(frames):05d}.mp4"
        with temporary_beside(path) as temporary:
            _encode(temporary, frames, self.info.fps, self.encoder)
        return path

    def finish(self, path: str | os.PathLike[str]) -> Path:
        """Join the segments (stream copy) and the source's audio (stream copy) into ``path``, atomically.

        Raises:
            VideoFileError: the segments do not cover every frame of the source.
        """
        av = require_av()
        if self.done() != self.info.count:
            raise VideoFileError(f"{self.folder}: segments hold {self.done()} of {self.info.count} frames; run again to finish")
        segments = self.segments()
        target = Path(path)
        source = av.open(self.info.path) if self.info.has_audio else None
        try:
            muxer = CONTAINER_FORMATS.get(target.suffix.lower(), "matroska")
            with temporary_beside(target) as temporary, av.open(str(temporary), "w", format=muxer) as output:
                self._join(output, segments, source)
        finally:
            if source is not None:
                source.close()
        return target

    def _join(self, output: Any, segments: list[tuple[Path, int, int]], source: Any) -> None:
        av = require_av()
        opened = [av.open(str(segment)) for segment, _, _ in segments]
        try:
            video_out = output.add_stream_from_template(opened[0].streams.video[0])
            frame_base = 1 / self.info.fps
            streams: list[Iterator[tuple[float, int, Any]]] = [self._video_packets(opened, video_out, frame_base)]
            if source is not None:
                audio_in = source.streams.audio[0]
                audio_out = output.add_stream_from_template(audio_in)
                start = source.streams.video[0].start_time or 0
                offset = float(start * _fraction(source.streams.video[0].time_base)) if start else 0.0
                streams.append(self._audio_packets(source, audio_in, audio_out, offset))
            for _, _, packet in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
                output.mux(packet)
        finally:
            for container in opened:
                container.close()

    @staticmethod
    def _video_packets(opened: list[Any], stream: Any, frame_base: Fraction) -> Iterator[tuple[float, int, Any]]:
        index = 0
        for container in opened:
            for packet in _packets(container, container.streams.video[0]):
                packet.stream = stream
                packet.time_base = frame_base
                packet.pts = packet.dts = index  # no B-frames: decode order is presentation order
                packet.duration = 1
                yield float(index * frame_base), 0, packet
                index += 1

    @staticmethod
    def _audio_packets(source: Any, audio_in: Any, stream: Any, offset: float) -> Iterator[tuple[float, int, Any]]:
        base = _fraction(audio_in.time_base)
        shift = int(round(offset / float(base))) if offset else 0
        for packet in _packets(source, audio_in):
            if packet.pts is None:
                continue
            packet.pts -= shift
            packet.dts = packet.pts if packet.dts is None else packet.dts - shift
            if packet.pts < 0:
                continue  # audio from before the first video frame
            packet.stream = stream
            yield float(packet.pts * base), 1, packet


def transform_video(
    source: VideoFrames,
    output: str | os.PathLike[str],
    parts: str | os.PathLike[str],
    process: Callable[[int, Frames], list[RGBImage]],
    chunk_frames: int,
    on_frames_done: Callable[[int], None] | None = None,
    keep_parts: bool = False,
) -> Path:
    """Write ``process`` of every chunk of ``source`` to ``output``, resuming after the segments in ``parts``.

    ``process`` takes a chunk's first frame and the chunk (``Frames`` of up to ``chunk_frames`` frames) and returns its frames as
    ``[H, W, 3]`` uint8 RGB; each result becomes a segment at once, so one chunk is held at a time. A
    rerun after a kill starts at the first frame no finished segment holds (none is lost or repeated).
    ``parts`` is deleted once ``output`` is written (unless ``keep_parts``: the caller has more to read there).
    """
    writer = SegmentWriter(parts, source.info)
    frames = Frames.of(source, str(source.path))
    first = writer.done()
    if on_frames_done is not None and first:
        on_frames_done(first)
    for start in range(first, source.count, max(int(chunk_frames), 1)):
        stop = min(start + int(chunk_frames), source.count)
        images = process(start, frames.window(start, stop))
        if len(images) != stop - start:
            raise VideoFileError(f"{source.path}: frames {start}..{stop} gave {len(images)} image(s)")
        writer.write(start, images)
        if on_frames_done is not None:
            on_frames_done(stop - start)
    written = writer.finish(output)
    if not keep_parts:
        shutil.rmtree(parts, ignore_errors=True)
    return written
