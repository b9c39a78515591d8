"""Converted graphs as backends: ``convert_model`` (file -> ``ConvertedGraph``) and the torch recognizer backend."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError, ModelConversionError
from .cache import load_graph_spec
from .device import default_channels_last, resolve_device, torch_target
from .interpreter import ConvertedGraph

logger = logging.getLogger(__name__)


def convert_model(
    path: str | os.PathLike[str],
    *,
    dtype: Any = "float32",
    device: Any = "cpu",
    channels_last: bool | None = None,
    per_sample_quantization: bool = False,
    cache: bool = True,
) -> ConvertedGraph:
    """Load (from the cache when possible) and convert an ONNX file to a ``ConvertedGraph`` on ``device``.

    Raises:
        ModelFileError: missing or unreadable file.
        ModelConversionError: an op the converter does not cover.
    """
    spec = load_graph_spec(path, cache=cache)
    use_channels_last = default_channels_last(device) if channels_last is None else channels_last
    return ConvertedGraph(spec, dtype, resolve_device(device), use_channels_last, per_sample_quantization)


class TorchBackend:
    """A recognizer graph converted to torch, on any torch device (``EmbeddingBackend`` protocol).

    ``run`` takes and returns numpy (host) arrays; ``run_tensor`` stays on the device.
    ``batch_independent`` is True when each face's embedding does not depend on its batch mates
    (always, since dynamic quantization is done per face here).
    """

    name = "torch"

    def __init__(self, graph: ConvertedGraph, source: str = "") -> None:
        if len(graph.input_names) != 1 or len(graph.output_names) < 1:
            raise ModelConversionError(f"{source or 'the graph'} is not a one-input recognizer graph")
        self.graph = graph
        self.source = source
        self.batch_independent = graph.per_sample_quantization or "DynamicQuantizeLinear" not in graph.spec.op_types

    @property
    def device(self) -> Any:
        return self.graph.device

    @property
    def dtype(self) -> Any:
        return self.graph.dtype

    @property
    def on_gpu(self) -> bool:
        return self.graph.device.type != "cpu"

    def run_tensor(self, blob: Any) -> Any:
        """``[N, 3, S, S]`` normalised input tensor (any device, any float dtype) -> ``[N, D]`` float32 raw embeddings there."""
        import torch

        with torch.inference_mode():
            output = self.graph(blob)[0]
            return output.reshape(output.shape[0], -1).to(torch.float32)

    def run(self, blob: NDArray[np.float32]) -> NDArray[np.float32]:
        """``[N, 3, S, S]`` float32 normalised input -> ``[N, D]`` float32 raw embeddings (host arrays)."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(blob, dtype=np.float32))
        return self.run_tensor(tensor).cpu().numpy()

    def describe(self) -> str:
        """e.g. ``torch cuda:0 float16 channels_last``."""
        parts = ["torch", str(self.graph.device), str(self.graph.dtype).replace("torch.", "")]
        if self.graph.channels_last:
            parts.append("channels_last")
        if "DynamicQuantizeLinear" in self.graph.spec.op_types:
            parts.append("int8-exact per-face" if self.graph.per_sample_quantization else "int8-exact")
        return " ".join(parts)


def choose_torch_backend(
    path: str | os.PathLike[str],
    backend: str = "auto",
    device: Any = None,
    dtype: Any = "float32",
    *,
    channels_last: bool | None = None,
    cache: bool = True,
) -> TorchBackend | None:
    """The torch backend for a recognizer file, or ``None`` when ``auto`` should keep onnxruntime.

    ``auto`` keeps onnxruntime on the CPU (it is faster there: see the benchmark) and when the
    graph cannot be converted (with a warning); ``torch`` always converts and raises on failure.
    A precision the device cannot run falls back to float32 with a warning.

    Raises:
        ModelConversionError: ``backend="torch"`` and the graph (or torch itself) is not usable.
        InvalidArgumentError: unknown backend, device or precision name.
    """
    if backend not in ("auto", "torch"):
        raise InvalidArgumentError(f"choose_torch_backend takes backend auto or torch, got {backend!r}")
    target = torch_target(Path(path).name, backend, device, dtype)
    if target is None:
        return None
    torch_device, torch_dtype = target
    try:
        graph = convert_model(
            path,
            dtype=torch_dtype,
            device=torch_device,
            channels_last=channels_last,
            per_sample_quantization=True,
            cache=cache,
        )
        return TorchBackend(graph, Path(path).name)
    except ModelConversionError as error:
        if backend == "torch":
            raise ModelConversionError(f"cannot run {Path(path).name} with the torch backend: {error}") from error
        logger.warning("%s: torch conversion failed (%s); using onnxruntime instead", Path(path).name, error)
        return None
