# comfy/model_patcher.py (ComfyUI 0.3.64): only the names the nodes use.
import torch

class ModelPatcher:
    model: torch.nn.Module
    load_device: torch.device
    offload_device: torch.device
    def __init__(
        self,
        model: torch.nn.Module,
        load_device: torch.device,
        offload_device: torch.device,
        size: int = ...,
        weight_inplace_update: bool = ...,
    ) -> None: ...
