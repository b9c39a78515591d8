"""One frame source for every stage: an image batch validated once, converted per chunk on demand.

``Frames.of`` is the one door by which pixels enter the library. It takes a ComfyUI IMAGE tensor
``[B, H, W, C]`` (float 0..1 or uint8, C in 1, 3, 4, on any torch device), a numpy batch or image,
a sequence of separate images (any sizes; ``[H, W]`` grey allowed) or image file paths, or a lazy
``FrameSource`` (a video file decoded a chunk at a time, ``video_io.VideoFrames``), applies
the input policy (``validate.check_image_batch``: shape, dtype, finite, range) once, one scan per
pixel, and keeps the pixels where they are. Every stage then asks it for what it needs, a chunk at
a time, without checking again:

- ``uint8(start, stop)``: ``[H, W, 3]`` uint8 RGB host arrays (detection, alignment, embedding);
- ``floats(start, stop)``: ``[H, W, 3]`` float32 RGB 0..1 host arrays (swap, paste, masks, restore);
- ``device_groups(start, stop, device)``: ``[n, 3, H, W]`` float32 0..255 torch tensors on a
  device (the torch detector and recognizer), same-size frames grouped.

The conversion rules are those of ``images.as_rgb_uint8`` / ``images.as_float_image``: grey
repeated, alpha dropped, floats rounded ``rint(x * 255)`` and clipped (so ``x / 255`` comes back
exactly), uint8 divided by 255. torch is imported only when a tensor is given or asked for.

A ``FrameSource`` is read, never held: each ``uint8``/``floats``/``window`` asks it for that chunk
only (it decodes sequentially and keeps at most its last chunk), so a long video never sits in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import InvalidImageError
from .images import read_image, rgb_float32_unchecked, rgb_uint8_unchecked
from .types import FloatImage, RGBImage
from .validate import check_image_batch, is_empty_image

DEFAULT_MEMORY_BUDGET_MB = 1024.0
"""Memory the frames of one chunk may take (frames in float32 plus their temporaries)."""
MAX_CHUNK_FRAMES = 256
DETECTOR_ACTIVATION_FACTOR = 8
"""A converted SCRFD's activations take about this many times its input canvas."""


def frames_per_chunk(
    height: int,
    width: int,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    detector_canvas: tuple[int, int] | None = None,
    device_frames: bool = True,
) -> int:
    """How many ``height`` x ``width`` frames fit the budget (1..``MAX_CHUNK_FRAMES``).

    Per frame: its uint8 host copy, plus with ``device_frames`` the float32 frame on the device and
    one temporary, plus (for a torch detector, ``detector_canvas``) its canvas and activations.
    """
    per_frame = height * width * 3 * ((4 * 2 + 1) if device_frames else 1)
    if detector_canvas is not None:
        per_frame += detector_canvas[0] * detector_canvas[1] * 3 * 4 * DETECTOR_ACTIVATION_FACTOR
    frames = int(memory_budget_mb * 1024 * 1024 // max(per_frame, 1))
    return max(1, min(frames, MAX_CHUNK_FRAMES))


@runtime_checkable
class FrameSource(Protocol):
    """Frames read on demand (e.g. ``video_io.VideoFrames``), all of one size.

    - ``count``: how many frames; ``size``: ``(height, width)`` of every frame.
    - ``read(start, stop)``: frames ``start..stop`` as ``[H, W, 3]`` uint8 RGB arrays (trusted: not
      scanned again). Asking again for the chunk just read must not decode it again.
    """

    @property
    def count(self) -> int: ...

    @property
    def size(self) -> tuple[int, int]: ...

    def read(self, start: int, stop: int) -> list[RGBImage]: ...


def _is_source(images: Any) -> bool:
    return isinstance(images, FrameSource) and not isinstance(images, Frames)


def _is_batch(images: Any) -> bool:
    """An array or tensor (a ``[B, H, W, C]`` batch or one ``[H, W, C]`` image), as opposed to a sequence of images."""
    return hasattr(images, "shape") and hasattr(images, "dtype")


def _is_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))


@dataclass(frozen=True, eq=False)
class Frames:
    """A validated batch of frames (make it with ``Frames.of``; see the module docstring).

    - ``source``: a ``[B, H, W, C]`` numpy array or torch tensor, a tuple of ``[H, W, C]`` numpy images,
      or a ``FrameSource`` (read a chunk at a time).
    - ``sizes``: ``(height, width)`` per frame (an empty image of a sequence keeps its 0 side).
    - ``context``: who gave the frames (a node's name), for messages.
    """

    source: Any
    sizes: tuple[tuple[int, int], ...]
    context: str = "images"

    @classmethod
    def of(cls, images: Any, context: str = "images") -> Frames:
        """The frames of ``images``, validated once (``Frames`` are returned as they are).

        Raises:
            InvalidImageError: refused by the input policy (``validate.check_image_batch``, naming
                ``context`` and the image's index), or an unreadable file (``images.read_image``).
        """
        if isinstance(images, Frames):
            return images
        if _is_source(images):  # decoded by the library: uint8 RGB, nothing to scan
            height, width = images.size
            return cls(images, ((int(height), int(width)),) * int(images.count), context)
        if _is_path(images):
            images = [images]
        if _is_batch(images):
            count, height, width, _ = check_image_batch(images, context)  # the one scan of these pixels
            batch = images if len(images.shape) == 4 else images[None]
            return cls(batch, ((height, width),) * count, context)
        frames = []
        for index, item in enumerate(images):
            if _is_path(item):
                frames.append(read_image(item))  # uint8: nothing to scan
                continue
            array = np.asarray(item)
            if array.ndim == 2:
                array = array[:, :, None]
            if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
                raise InvalidImageError(f"{context}: image {index} has shape {array.shape}; expected [H, W] or [H, W, 1|3|4]")
            if not is_empty_image(array):  # an empty image of a list is "no face" for it (validate.py)
                check_image_batch(array[None], context, first_index=index)
            frames.append(array)
        return cls(tuple(frames), tuple((int(f.shape[0]), int(f.shape[1])) for f in frames), context)

    @classmethod
    def from_library(cls, images: Any, context: str = "images") -> Frames:
        """Frames this library made itself (e.g. swapped float32 ``[B, H, W, 3]`` in 0..1), wrapped without a scan."""
        if _is_batch(images):
            batch = images if len(images.shape) == 4 else images[None]
            size = (int(batch.shape[1]), int(batch.shape[2]))
            return cls(batch, (size,) * int(batch.shape[0]), context)
        frames = tuple(np.asarray(image) for image in images)
        return cls(frames, tuple((int(f.shape[0]), int(f.shape[1])) for f in frames), context)

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def count(self) -> int:
        return len(self.sizes)

    @property
    def is_lazy(self) -> bool:
        """Whether the frames are a ``FrameSource``, read a chunk at a time."""
        return _is_source(self.source)

    @property
    def size(self) -> tuple[int, int] | None:
        """``(height, width)`` shared by every frame (a batch's, even when it holds 0 frames); ``None`` when sizes differ."""
        if self.is_lazy:
            height, width = self.source.size
            return int(height), int(width)
        if not isinstance(self.source, tuple):
            return int(self.source.shape[1]), int(self.source.shape[2])
        return self.sizes[0] if len(set(self.sizes)) == 1 else (None if self.sizes else (0, 0))

    @property
    def largest(self) -> tuple[int, int]:
        """``(largest height, largest width)`` over the frames (of different frames when sizes differ), at least
        ``(1, 1)``: what one frame of a chunk may take, for ``frames_per_chunk``."""
        return max((h for h, _ in self.sizes), default=1) or 1, max((w for _, w in self.sizes), default=1) or 1

    @property
    def is_tensor(self) -> bool:
        """Whether the frames are a torch tensor (possibly on a device), read without importing torch."""
        return hasattr(self.source, "detach")

    @property
    def device(self) -> Any:
        """The torch device of a tensor source, else ``None``."""
        return self.source.device if self.is_tensor else None

    def window(self, start: int, stop: int) -> Frames:
        """Frames ``start..stop`` as ``Frames`` (a view: no copy, no scan; a ``FrameSource``'s chunk, read once)."""
        if self.is_lazy:
            return Frames(tuple(self.source.read(start, stop)), self.sizes[start:stop], self.context)
        return Frames(self.source[start:stop], self.sizes[start:stop], self.context)

    def chunks(self, step: int) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of consecutive chunks of ``step`` frames."""
        for start in range(0, self.count, max(int(step), 1)):
            yield start, min(start + step, self.count)

    def _host(self, start: int, stop: int) -> list[Any]:
        """Frames ``start..stop`` as host numpy ``[H, W, C]`` arrays (one transfer per chunk for a tensor)."""
        if isinstance(self.source, tuple):
            return list(self.source[start:stop])
        if self.is_lazy:
            return list(self.source.read(start, stop))
        chunk = self.source[start:stop]
        if self.is_tensor:
            host = chunk.detach().cpu()
            chunk = host.numpy() if str(host.dtype) == "torch.uint8" else host.float().numpy()
        return list(np.asarray(chunk))

    def uint8(self, start: int = 0, stop: int | None = None) -> list[RGBImage]:
        """Frames ``start..stop`` as ``[H, W, 3]`` uint8 RGB (``images.as_rgb_uint8``'s rules, not checked again)."""
        stop = self.count if stop is None else stop
        return [rgb_uint8_unchecked(frame) for frame in self._host(start, stop)]

    def floats(self, start: int = 0, stop: int | None = None) -> list[FloatImage]:
        """Frames ``start..stop`` as new ``[H, W, 3]`` float32 RGB 0..1 arrays (uint8 / 255, floats clipped)."""
        stop = self.count if stop is None else stop
        return [rgb_float32_unchecked(frame) for frame in self._host(start, stop)]

    def device_groups(self, start: int, stop: int, device: Any) -> list[tuple[Any, list[int]]]:
        """``[(frames [n, 3, H, W] float32 in 0..255 on device, their batch indices)]``, same-size frames grouped.

        Floats are scaled by 255 without rounding (the torch path keeps float crops); uint8 is widened.
        """
        import torch

        if not isinstance(self.source, tuple):
            chunk: Any = np.stack(self._host(start, stop)) if self.is_lazy else self.source[start:stop]
            if not self.is_tensor:
                chunk = torch.from_numpy(np.ascontiguousarray(chunk))
            chunk = chunk.to(device=device)
            if chunk.shape[3] == 4:
                chunk = chunk[..., :3]
            elif chunk.shape[3] == 1:
                chunk = chunk.expand(*chunk.shape[:3], 3)
            scale = 1.0 if chunk.dtype == torch.uint8 else 255.0
            frames = (chunk.to(torch.float32) * scale).permute(0, 3, 1, 2).contiguous()
            return [(frames, list(range(start, stop)))]
        groups: list[tuple[Any, list[int]]] = []
        index = start
        while index < stop:
            end = index + 1
            while end < stop and self.sizes[end] == self.sizes[index]:
                end += 1
            stacked = np.stack(self.uint8(index, end))
            tensor = torch.from_numpy(stacked).to(device=device).permute(0, 3, 1, 2).to(torch.float32).contiguous()
            groups.append((tensor, list(range(index, end))))
            index = end
        return groups
