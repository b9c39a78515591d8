"""Everything that touches ComfyUI's own modules, imported inside functions, with library-only fallbacks.

Outside ComfyUI (tests, scripts) model folders come from ``$FACE_IDENTITY_MODEL_DIRS``
(``os.pathsep``-separated) or ``face_identity``'s default download folder, progress is a no-op and
the torch device is the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

from ..face_identity import choices, converted_graphs

if TYPE_CHECKING:  # typed by typings/ (stubs of the ComfyUI names used here); imported inside functions at run time
    import torch
    from comfy.model_patcher import ModelPatcher
    from comfy.utils import ProgressBar
    from comfy_execution.graph_utils import ExecutionBlocker

MODEL_FOLDER = "face_identity"
"""Our folder under ComfyUI's models/: downloads, local models, and identities/ for saved identities."""
INSIGHTFACE_FOLDER = "insightface"
IDENTITY_SUBFOLDER = "identities"
REACTOR_FACES = ("reactor", "faces")
PATCHER_ATTRIBUTE = "_comfy_model_patcher"
"""The attribute of a converted graph that holds its ``ModelPatcher`` (made once per graph)."""


class TorchGraph(Protocol):
    """What ComfyUI's model management needs of a converted torch graph (``face_identity.converted_graphs``)."""

    @property
    def device(self) -> torch.device: ...

    @property
    def tensors(self) -> Mapping[str, torch.Tensor]: ...

    def to(self, device: torch.device) -> object: ...


def _has_folder_paths() -> bool:
    """True inside ComfyUI: its ``folder_paths`` module imports (and is ComfyUI's, with a folder registry)."""
    try:
        import folder_paths
    except ImportError:
        return False
    return hasattr(folder_paths, "folder_names_and_paths")


def register_model_folders() -> None:
    """Add ``models/face_identity`` and ``models/insightface`` to ComfyUI's folder registry, keeping existing entries.

    Paths from ``extra_model_paths.yaml`` stay (our default is appended, never replacing), and ``.onnx``
    and ``.safetensors`` are added to the folder's extensions (an unknown folder starts with none,
    which ComfyUI reads as "every file").
    """
    if not _has_folder_paths():
        return
    import folder_paths

    for name, extensions in ((MODEL_FOLDER, {".onnx", ".safetensors"}), (INSIGHTFACE_FOLDER, {".onnx"})):
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, name))
        paths, known = folder_paths.folder_names_and_paths[name]
        folder_paths.folder_names_and_paths[name] = (paths, set(known) | extensions)


def _fallback_folders() -> list[Path]:
    configured = os.environ.get("FACE_IDENTITY_MODEL_DIRS", "")
    folders = [Path(part) for part in configured.split(os.pathsep) if part]
    return folders or [choices().model_dir()]


def model_folders() -> list[Path]:
    """Folders searched for models, in order: every ``face_identity`` path, every ``insightface`` path, the models root."""
    if not _has_folder_paths():
        return _fallback_folders()
    import folder_paths

    register_model_folders()
    folders = [Path(p) for p in folder_paths.get_folder_paths(MODEL_FOLDER)]
    folders += [Path(p) for p in folder_paths.get_folder_paths(INSIGHTFACE_FOLDER)]
    folders.append(Path(folder_paths.models_dir))
    return list(dict.fromkeys(folders))


def identity_folders() -> list[tuple[str, Path]]:
    """``(label, folder)`` pairs holding identity files: ours (``identities``) first, then ReActor's face models."""
    folders: list[tuple[str, Path]] = []
    if not _has_folder_paths():
        roots = _fallback_folders()
        folders += [(IDENTITY_SUBFOLDER, root / IDENTITY_SUBFOLDER) for root in roots]
        folders += [("reactor", root.parent / Path(*REACTOR_FACES)) for root in roots]
        return folders
    import folder_paths

    register_model_folders()
    folders += [(IDENTITY_SUBFOLDER, Path(p) / IDENTITY_SUBFOLDER) for p in folder_paths.get_folder_paths(MODEL_FOLDER)]
    reactor_roots = [Path(folder_paths.models_dir) / REACTOR_FACES[0]]
    if REACTOR_FACES[0] in folder_paths.folder_names_and_paths:
        reactor_roots += [Path(p) for p in folder_paths.get_folder_paths(REACTOR_FACES[0])]
    folders += [("reactor", root / REACTOR_FACES[1]) for root in dict.fromkeys(reactor_roots)]
    return folders


def torch_device() -> torch.device:
    """ComfyUI's torch device (``get_torch_device()``), or the CPU outside ComfyUI."""
    try:
        from comfy import model_management
    except ImportError:
        import torch

        return torch.device("cpu")
    return model_management.get_torch_device()


def gpu_index() -> int:
    """Index of ComfyUI's GPU (``cuda:1`` -> 1), so onnxruntime's GPU providers use the same card; 0 otherwise."""
    index = getattr(torch_device(), "index", None)
    return int(index) if index is not None else 0


def intermediate_device() -> torch.device:
    """Where ComfyUI keeps IMAGE/MASK tensors between nodes (the CPU unless --gpu-only)."""
    import torch

    try:
        from comfy import model_management
    except ImportError:
        return torch.device("cpu")
    return model_management.intermediate_device() if hasattr(model_management, "intermediate_device") else torch.device("cpu")


def throw_if_interrupted() -> None:
    """Raise ComfyUI's interruption exception when the user pressed Cancel; no-op outside ComfyUI."""
    try:
        from comfy import model_management
    except ImportError:
        return
    if hasattr(model_management, "throw_exception_if_processing_interrupted"):
        model_management.throw_exception_if_processing_interrupted()


class Progress:
    """A ComfyUI progress bar (which also checks for interruption), or a no-op outside ComfyUI."""

    def __init__(self, total: int) -> None:
        self._bar: ProgressBar | None = None
        try:
            from comfy import utils
        except ImportError:
            return
        if hasattr(utils, "ProgressBar"):
            self._bar = utils.ProgressBar(max(int(total), 1))

    def step(self, count: int = 1) -> None:
        throw_if_interrupted()
        if self._bar is not None:
            self._bar.update(count)

    def set(self, done: int) -> None:
        """Move the bar to ``done`` (of the total it was made with)."""
        throw_if_interrupted()
        if self._bar is not None:
            self._bar.update_absolute(int(done))

    def per_call(self) -> Callable[[int], None]:
        """A hook for ``on_image_done(index)``: one step per call."""
        return lambda _index: self.step(1)

    def per_count(self) -> Callable[[int], None]:
        """A hook for ``on_chunk(count)``: steps by the count it is given."""
        return lambda count: self.step(int(count))


def progress_hook() -> Callable[[int, int], None]:
    """A hook for ``on_progress(done, total)``: a progress bar made at the first call, when the total is known."""
    bars: list[Progress] = []

    def report(done: int, total: int) -> None:
        if not bars:
            bars.append(Progress(total))
        bars[0].set(done)

    return report


class BlockedOutput:
    """Outside ComfyUI, what a node returns in place of an output it blocks (``ExecutionBlocker`` inside ComfyUI)."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"BlockedOutput({self.message!r})"


if TYPE_CHECKING:
    Blocked: TypeAlias = ExecutionBlocker | BlockedOutput
    """What ``blocked_output`` returns: ComfyUI's blocker inside ComfyUI, a ``BlockedOutput`` outside it."""


def blocked_output() -> Blocked:
    """An output value that silently stops the nodes fed by it: ComfyUI's ``ExecutionBlocker(None)``.

    ComfyUI skips every node downstream of a blocked output without an error (a ``None`` message
    means "silently"); the node's other outputs flow as usual. Outside ComfyUI: a ``BlockedOutput``.
    """
    try:
        from comfy_execution.graph_utils import ExecutionBlocker
    except ImportError:
        try:  # older ComfyUI: defined in comfy_execution.graph
            from comfy_execution.graph import ExecutionBlocker
        except ImportError:
            return BlockedOutput(None)
    return ExecutionBlocker(None)


def is_blocked(value: object) -> bool:
    """True for a value made by ``blocked_output`` (inside or outside ComfyUI)."""
    return isinstance(value, BlockedOutput) or type(value).__name__ == "ExecutionBlocker"


def _graph_module(graph: TorchGraph) -> torch.nn.Module:
    """A ``torch.nn.Module`` view of a converted graph for ComfyUI's ``ModelPatcher``.

    Its parameters are the graph's own tensors (no copy); moving the module (``.to``, as ComfyUI does
    to load or offload it) moves the graph, which then runs where its tensors are.
    """
    import torch

    class ConvertedGraphModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            object.__setattr__(self, "graph", graph)  # a plain attribute, not a submodule
            self._wrap()

        def _wrap(self) -> None:
            self._parameters.clear()
            for index, tensor in enumerate(graph.tensors.values()):
                self.register_parameter(f"t{index}", torch.nn.Parameter(tensor, requires_grad=False))

        def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> ConvertedGraphModule:  # noqa: ARG002 - no submodules
            device = fn(torch.empty(0, device=graph.device)).device
            if device != graph.device:
                graph.to(device)
                self._wrap()
            return self

    return ConvertedGraphModule()


def _patcher_for(graph: TorchGraph) -> ModelPatcher:
    from comfy import model_management, model_patcher

    patcher: ModelPatcher | None = getattr(graph, PATCHER_ATTRIBUTE, None)
    if patcher is None:
        import torch

        offload = (
            model_management.unet_offload_device() if hasattr(model_management, "unet_offload_device") else torch.device("cpu")
        )
        patcher = model_patcher.ModelPatcher(_graph_module(graph), load_device=graph.device, offload_device=offload)
        setattr(graph, PATCHER_ATTRIBUTE, patcher)
    return patcher


def use_models(*models: object) -> None:
    """Before a node runs loaded models: ComfyUI's model management loads their torch graphs on their device.

    Torch-backend recognizers, detectors and swapper are registered once (a ``ModelPatcher`` each), so
    ComfyUI counts their memory and may offload them to the CPU when another model needs the VRAM;
    this call moves them back (``load_models_gpu``, fully, never partially). No-op outside ComfyUI
    and for models run by onnxruntime.
    """
    try:
        from comfy import model_management, model_patcher  # noqa: F401 - both or neither: ComfyUI's model management
    except ImportError:
        return
    if not hasattr(model_management, "load_models_gpu"):
        return
    patchers = [_patcher_for(graph) for graph in converted_graphs(*models)]
    if patchers:
        model_management.load_models_gpu(patchers, force_full_load=True)
