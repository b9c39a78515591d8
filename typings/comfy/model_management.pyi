# comfy/model_management.py (ComfyUI 0.3.64): only the names the nodes use.
from collections.abc import Iterable

import torch

from .model_patcher import ModelPatcher

def get_torch_device() -> torch.device: ...
def intermediate_device() -> torch.device: ...
def unet_offload_device() -> torch.device: ...
def throw_exception_if_processing_interrupted() -> None: ...
def load_models_gpu(
    models: Iterable[ModelPatcher],
    memory_required: int = ...,
    force_patch_weights: bool = ...,
    minimum_memory_required: int | None = ...,
    force_full_load: bool = ...,
) -> None: ...
