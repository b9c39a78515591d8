"""``convert_model``: an ONNX file -> a ``ConvertedGraph`` on a device (what ``runner.load_runner`` runs for the torch backend)."""

from __future__ import annotations

import os
from typing import Any

from .cache import load_graph_spec
from .device import default_channels_last, resolve_device
from .interpreter import ConvertedGraph


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
