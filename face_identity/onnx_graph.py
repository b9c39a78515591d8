"""Facts read from an ONNX file's graph (not its signature): insightface's preprocessing rule, quantization ops, the last initializer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ModelFileError

_MXNET_SUB_PREFIXES = ("Sub", "_minus")
_MXNET_MUL_PREFIXES = ("Mul", "_mul")
BATCH_DEPENDENT_OPS = frozenset({"DynamicQuantizeLinear"})
"""Ops whose result depends on the whole input tensor, so a face's output depends on its batch mates."""


@dataclass(frozen=True)
class GraphFacts:
    """What the embedder needs to know from the graph.

    - ``input_mean``/``input_std``: insightface's rule: if among the first 8 nodes one name starts with
      ``Sub``/``_minus`` and one with ``Mul``/``_mul``, the graph normalises itself (MXNet export) and
      the input is raw pixels (mean 0, std 1); otherwise ``(x - 127.5) / 127.5``.
    - ``op_types``: every op type in the graph.
    - ``batch_dependent``: the graph has ops (dynamic quantization) that mix batch members.
    """

    input_mean: float
    input_std: float
    op_types: frozenset[str]

    @property
    def batch_dependent(self) -> bool:
        return bool(self.op_types & BATCH_DEPENDENT_OPS)


def load_model_proto(path: str | os.PathLike[str], load_external_data: bool = False) -> Any:
    """Parse an ONNX file with the ``onnx`` package.

    Raises:
        ModelFileError: not a readable ONNX protobuf.
    """
    import onnx

    try:
        return onnx.load(os.fspath(path), load_external_data=load_external_data)
    except Exception as error:  # onnx raises DecodeError, OSError, ValueError, ValidationError (external data)...
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300].rstrip(". ")
        if load_external_data and _readable_without_external_data(path):
            raise ModelFileError(
                f"{path}: onnx cannot read its external data ({detail}). Keep the .onnx file and its data file "
                "together in one folder, or get the model again."
            ) from error
        raise ModelFileError(f"{path} is not a readable ONNX file ({detail}); delete it and get it again") from error


def _readable_without_external_data(path: str | os.PathLike[str]) -> bool:
    import onnx

    try:
        onnx.load(os.fspath(path), load_external_data=False)
    except Exception:  # the graph itself is unreadable, not (only) its external data
        return False
    return True


def facts_from_proto(model: Any) -> GraphFacts:
    """``GraphFacts`` of a parsed ``onnx.ModelProto``."""
    first_names = [node.name for node in model.graph.node[:8]]
    has_sub = any(name.startswith(_MXNET_SUB_PREFIXES) for name in first_names)
    has_mul = any(name.startswith(_MXNET_MUL_PREFIXES) for name in first_names)
    mean, std = (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)
    return GraphFacts(mean, std, frozenset(node.op_type for node in model.graph.node))


def read_graph_facts(path: str | os.PathLike[str]) -> GraphFacts:
    """``GraphFacts`` of an ONNX file."""
    return facts_from_proto(load_model_proto(path))


def last_initializer(path: str | os.PathLike[str]) -> NDArray[np.float32]:
    """The graph's last initializer as float32 (inswapper's ``emap``), reading external data only for it."""
    from onnx import numpy_helper

    model = load_model_proto(path, load_external_data=False)
    if not model.graph.initializer:
        raise ModelFileError(f"{path} has no initializers; it is not an inswapper-style model")
    tensor = model.graph.initializer[-1]
    try:
        return np.asarray(numpy_helper.to_array(tensor, base_dir=str(Path(path).parent)), dtype=np.float32)
    except Exception as error:  # onnx raises ValidationError, FileNotFoundError, ValueError... for external data
        raise ModelFileError(tensor_read_problem(path, tensor, error)) from error


def tensor_read_problem(path: str | os.PathLike[str], tensor: Any, error: BaseException) -> str:
    """The message for a tensor of ``path`` that onnx cannot read (most often its external data file)."""
    from onnx import TensorProto

    detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300].rstrip(". ")
    if tensor.data_location == TensorProto.EXTERNAL:
        location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "?")
        return (
            f"{path}: its tensor {tensor.name!r} lives in the external data file {location!r}, which cannot be read "
            f"({detail}). Keep the .onnx file and its data file together in one folder, or get the model again."
        )
    return f"{path}: its tensor {tensor.name!r} cannot be read ({detail}); delete the file and get it again."
