"""The library's outputs -> ComfyUI IMAGE/MASK tensors.

An IMAGE input enters the library once, as ``face_identity.Frames.of(image, node)`` (validated
there, converted per chunk by the stages); this module only wraps what the library hands back:
``[H, W, 3]`` uint8 or float32 0..1 frames -> IMAGE ``[B, H, W, 3]`` float32, ``[H, W]`` masks ->
MASK ``[B, H, W]`` float32, on ComfyUI's intermediate device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from .comfy import intermediate_device

if TYPE_CHECKING:  # torch is imported by the functions that use it, not at pack import
    import torch


def to_image(frames: Sequence[NDArray[np.generic]] | NDArray[np.generic], size: tuple[int, int] = (64, 64)) -> torch.Tensor:
    """``[H, W, 3]`` uint8 (0..255) or float (0..1) frames of one size -> IMAGE ``[B, H, W, 3]`` float32.

    An empty sequence gives an empty batch ``[0, height, width, 3]`` of ``size`` (height, width).
    """
    import torch

    if len(frames) == 0:
        return torch.zeros((0, size[0], size[1], 3), dtype=torch.float32, device=intermediate_device())
    stacked = np.stack([np.asarray(frame) for frame in frames])
    values = stacked.astype(np.float32) / 255.0 if stacked.dtype == np.uint8 else stacked.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(values)).to(intermediate_device())


def to_mask(masks: Sequence[NDArray[np.floating]] | NDArray[np.floating], size: tuple[int, int] = (64, 64)) -> torch.Tensor:
    """``[H, W]`` float masks 0..1 -> MASK ``[B, H, W]`` float32 (empty -> ``[0, height, width]``)."""
    import torch

    if len(masks) == 0:
        return torch.zeros((0, size[0], size[1]), dtype=torch.float32, device=intermediate_device())
    stacked = np.stack([np.asarray(mask, dtype=np.float32) for mask in masks])
    return torch.from_numpy(np.ascontiguousarray(stacked)).to(intermediate_device())


def batch_to_tensor(batch: NDArray[np.float32]) -> torch.Tensor:
    """A float32 ``[B, H, W, 3]`` image or ``[B, H, W]`` mask batch -> IMAGE/MASK, sharing its memory on the CPU (no copy)."""
    import torch

    return torch.from_numpy(batch).to(intermediate_device())


def image_size(image: torch.Tensor) -> tuple[int, int]:
    """``(height, width)`` of an IMAGE ``[B, H, W, C]`` (or one ``[H, W, C]`` image), read from its shape without a copy.

    Only for an IMAGE that ``Frames.of`` has already validated (its shape is checked there, once).
    """
    return int(image.shape[-3]), int(image.shape[-2])
