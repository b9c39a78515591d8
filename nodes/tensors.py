"""ComfyUI IMAGE/MASK tensors <-> the library's numpy images: the only file that knows both conventions.

ComfyUI: IMAGE ``[B, H, W, C]`` float32 in 0..1, RGB (C may be 1 or 4); MASK ``[B, H, W]`` float32 0..1.
Library: ``[H, W, 3]`` uint8 RGB for detection/alignment/embedding, ``[H, W, 3]`` float32 0..1 for blending.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..face_identity import InvalidImageError, as_rgb_uint8, check_image_batch
from .comfy import intermediate_device


def _check_image_shape(shape: Any, *ranks: int) -> tuple[int, ...]:
    """``shape`` as ints when it has one of ``ranks`` and 1, 3 or 4 channels last; else ``InvalidImageError``."""
    sides = tuple(int(side) for side in shape)
    if len(sides) not in ranks or sides[-1] not in (1, 3, 4):
        raise InvalidImageError(
            f"expected a ComfyUI IMAGE [batch, height, width, channels] with 1, 3 or 4 channels, got shape {sides}"
        )
    return sides


def check_image(image: Any, node: str) -> tuple[int, int, int, int]:
    """The pack's image policy (``face_identity.check_image_batch``) for ``node``'s IMAGE input; ``(B, H, W, C)``.

    Every node checks its IMAGE inputs this way (directly or through the conversions below), so a
    NaN, infinite or out-of-range frame is refused by all of them with the same message.
    """
    return check_image_batch(image, node)


def _as_batch(image: Any, node: str) -> NDArray[np.float32]:
    """A ``[B, H, W, C]`` float32 numpy view of an IMAGE tensor (a single ``[H, W, C]`` image becomes B = 1), checked."""
    check_image(image, node)
    array = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    return array


def image_to_uint8_list(image: Any, node: str = "IMAGE") -> list[NDArray[np.uint8]]:
    """IMAGE ``[B, H, W, C]`` 0..1 -> B arrays ``[H, W, 3]`` uint8 RGB (rounded, alpha dropped, grey repeated).

    Raises ``InvalidImageError`` naming ``node`` for images the policy refuses (``check_image``).
    """
    return [as_rgb_uint8(frame) for frame in _as_batch(image, node)]


def image_to_float_list(image: Any, node: str = "IMAGE") -> list[NDArray[np.float32]]:
    """IMAGE ``[B, H, W, C]`` -> B arrays ``[H, W, 3]`` float32 0..1 RGB (alpha dropped, grey repeated, clipped to 0..1).

    Raises ``InvalidImageError`` naming ``node`` for images the policy refuses (``check_image``).
    """
    frames = []
    for frame in _as_batch(image, node):
        if frame.shape[2] == 1:
            frame = np.repeat(frame, 3, axis=2)
        frames.append(np.ascontiguousarray(np.clip(frame[:, :, :3], 0.0, 1.0), dtype=np.float32))
    return frames


def to_image(frames: Sequence[NDArray[np.generic]] | NDArray[np.generic], size: tuple[int, int] = (64, 64)) -> Any:
    """``[H, W, 3]`` uint8 (0..255) or float (0..1) frames of one size -> IMAGE ``[B, H, W, 3]`` float32.

    An empty sequence gives an empty batch ``[0, height, width, 3]`` of ``size`` (height, width).
    """
    import torch

    if len(frames) == 0:
        return torch.zeros((0, size[0], size[1], 3), dtype=torch.float32, device=intermediate_device())
    stacked = np.stack([np.asarray(frame) for frame in frames])
    values = stacked.astype(np.float32) / 255.0 if stacked.dtype == np.uint8 else stacked.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(values)).to(intermediate_device())


def to_mask(masks: Sequence[NDArray[np.floating]] | NDArray[np.floating], size: tuple[int, int] = (64, 64)) -> Any:
    """``[H, W]`` float masks 0..1 -> MASK ``[B, H, W]`` float32 (empty -> ``[0, height, width]``)."""
    import torch

    if len(masks) == 0:
        return torch.zeros((0, size[0], size[1]), dtype=torch.float32, device=intermediate_device())
    stacked = np.stack([np.asarray(mask, dtype=np.float32) for mask in masks])
    return torch.from_numpy(np.ascontiguousarray(stacked)).to(intermediate_device())


def batch_to_tensor(batch: NDArray[np.float32]) -> Any:
    """A float32 ``[B, H, W, 3]`` image or ``[B, H, W]`` mask batch -> IMAGE/MASK, sharing its memory on the CPU (no copy)."""
    import torch

    return torch.from_numpy(batch).to(intermediate_device())


def image_size(image: Any) -> tuple[int, int]:
    """``(height, width)`` of an IMAGE ``[B, H, W, C]`` (or one ``[H, W, C]`` image), read from its shape without a copy."""
    shape = _check_image_shape(image.shape, 3, 4)
    return shape[-3], shape[-2]
