"""Load and run the models declared in ``model_facts`` (landmarkers, occluders, parsers, restorers).

One loader and one runner for every kind: find the file (catalog name or path), open it with
onnxruntime, check its input against the facts, optionally convert it to torch (kept only when it
matches onnxruntime on a probe), and run it chunk by chunk along the batch axis (a graph with a
fixed batch of 1 gets one item per call, the last chunk padded).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from .download import resolve_model
from .errors import InvalidArgumentError, InvalidImageError, ModelConversionError, ModelMismatchError
from .model_facts import ModelFacts, ModelKind, facts_for
from .runtime import BACKEND_CHOICES, ModelSession, TensorInfo, graph_session, session_for_backend

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 8
"""Items per call for graphs with a dynamic batch axis (bounds memory on long batches)."""
TORCH_MATCH_TOLERANCE = 2e-3
"""Largest output difference from onnxruntime on the probe, relative to the output's range, for the torch backend to be kept."""


class GraphBackend(Protocol):
    """Runs a graph: named inputs (batch axis first) -> its outputs as float32 numpy arrays."""

    name: str

    def run(self, feeds: Mapping[str, NDArray[np.generic]]) -> list[NDArray[np.float32]]: ...

    def describe(self) -> str: ...


def _static(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxGraphBackend:
    """An onnxruntime session; float16 inputs are fed float16, outputs come back float32."""

    name = "onnxruntime"

    def __init__(self, model: ModelSession) -> None:
        self.model = model
        self.dtypes = {info.name: _numpy_dtype(info) for info in model.inputs}

    def run(self, feeds: Mapping[str, NDArray[np.generic]]) -> list[NDArray[np.float32]]:
        typed = {name: np.ascontiguousarray(value, dtype=self.dtypes.get(name, value.dtype)) for name, value in feeds.items()}
        return [np.asarray(output, dtype=np.float32) for output in self.model.run(typed)]

    def describe(self) -> str:
        return f"onnxruntime ({self.model.describe_providers()})"


class TorchGraphBackend:
    """A graph converted by ``face_identity.convert``; inputs go in the graph's input order."""

    name = "torch"

    def __init__(self, graph: Any, device: Any, dtype: Any) -> None:
        self.graph = graph
        self.device = device
        self.dtype = dtype

    def run(self, feeds: Mapping[str, NDArray[np.generic]]) -> list[NDArray[np.float32]]:
        import torch

        arguments = []
        for name in self.graph.input_names:
            value = np.ascontiguousarray(feeds[name])
            tensor = torch.from_numpy(value).to(self.device)
            arguments.append(tensor.to(self.dtype) if tensor.is_floating_point() and value.dtype != np.float64 else tensor)
        with torch.inference_mode():
            outputs = self.graph(*arguments)
        if not isinstance(outputs, (tuple, list)):
            outputs = (outputs,)
        return [output.float().cpu().numpy() for output in outputs]

    def describe(self) -> str:
        return f"torch ({self.device}, {str(self.dtype).removeprefix('torch.')})"


def _numpy_dtype(info: TensorInfo) -> Any:
    return {"tensor(float16)": np.float16, "tensor(double)": np.float64, "tensor(float)": np.float32}.get(info.type, np.float32)


class FaceModel:
    """A loaded model of one ``ModelFacts`` kind.

    Attributes:
        facts: the row it was loaded as. name: its name. model: the onnxruntime session (None for a
        bare torch callable). backend: what runs it. inputs: input name -> ``TensorInfo``.
        batch_size: items per call (1 when the graph's batch axis is fixed at 1).
    """

    def __init__(
        self, facts: ModelFacts, backend: GraphBackend, model: ModelSession | None, batch_size: int | None = None
    ) -> None:
        self.facts = facts
        self.name = facts.name
        self.backend = backend
        self.model = model
        self.inputs: dict[str, TensorInfo] = {info.name: info for info in model.inputs} if model is not None else {}
        fixed = _static(self.inputs[facts.input_name].shape[0]) if facts.input_name in self.inputs else None
        self.fixed_batch = fixed
        self.batch_size = fixed or max(int(batch_size or DEFAULT_BATCH), 1)

    def __repr__(self) -> str:
        return f"FaceModel({self.name!r}, {self.facts.kind}, size={self.facts.size}, backend={self.backend.describe()})"

    def has_input(self, name: str) -> bool:
        return name in self.inputs

    def preprocess(self, crops: NDArray[np.floating]) -> NDArray[np.float32]:
        """``[N, S, S, 3]`` float RGB 0..1 crops -> the model input (resized to the model size, colours, mean/std, layout)."""
        facts = self.facts
        array = np.asarray(crops, dtype=np.float32)
        if array.ndim != 4 or array.shape[3] != 3:
            raise InvalidImageError(f"{self.name} takes [N, S, S, 3] RGB crops, got shape {array.shape}")
        size = facts.size
        if array.shape[1:3] != (size, size):
            array = (
                np.stack([cv2.resize(crop, (size, size)) for crop in array])
                if len(array)
                else np.zeros((0, size, size, 3), np.float32)
            )
        if facts.colour == "BGR":
            array = array[..., ::-1]
        mean = np.asarray(facts.mean, np.float32)
        std = np.asarray(facts.std, np.float32)
        if facts.colour == "BGR":
            mean, std = mean[::-1], std[::-1]
        array = (array - mean) / std
        if facts.layout == "NCHW":
            array = array.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(array, dtype=np.float32)

    def run(self, blob: NDArray[np.generic], extra: Mapping[str, NDArray[np.generic]] | None = None) -> list[NDArray[np.float32]]:
        """Run the main input ``blob`` (batch axis first) chunk by chunk; ``extra`` inputs (e.g. ``weight``) go to every call.

        Returns the outputs concatenated along the batch axis, float32.
        """
        count = int(blob.shape[0])
        chunks: list[list[NDArray[np.float32]]] = []
        for start in range(0, count, self.batch_size):
            chunk = blob[start : start + self.batch_size]
            real = chunk.shape[0]
            if self.fixed_batch is not None and real < self.fixed_batch:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], self.fixed_batch - real, axis=0)])
            feeds: dict[str, NDArray[np.generic]] = {self.facts.input_name: chunk}
            feeds.update(extra or {})
            chunks.append([output[:real] for output in self.backend.run(feeds)])
        if not chunks:
            return []
        return [np.concatenate(parts) for parts in zip(*chunks)]


def _check_inputs(model: ModelSession, facts: ModelFacts) -> None:
    by_name = {info.name: info for info in model.inputs}
    info = by_name.get(facts.input_name)
    problem = None
    if info is None:
        problem = f"has no input named {facts.input_name!r} (inputs: {[i.name for i in model.inputs]})"
    elif facts.kind == "landmarker_68_5":
        if len(info.shape) != 3 or _static(info.shape[1]) not in (5, None):
            problem = f"input shape {list(info.shape)} is not [N, 5, 2]"
    elif len(info.shape) != 4:
        problem = f"input shape {list(info.shape)} is not an image batch"
    else:
        channel_axis = 3 if facts.layout == "NHWC" else 1
        if _static(info.shape[channel_axis]) not in (3, None):
            problem = f"input shape {list(info.shape)} is not {facts.layout} with 3 channels"
    unknown = [name for name in by_name if name != facts.input_name and name not in facts.optional_inputs]
    if problem is None and unknown:
        problem = f"has inputs {unknown} a {facts.kind} of this kind does not take"
    if problem is not None:
        raise ModelMismatchError(f"{model.path.name} is not a {facts.kind} like {facts.name}: it {problem}.")


def _probe(model: FaceModel) -> dict[str, NDArray[np.generic]]:
    facts = model.facts
    rng = np.random.default_rng(12)
    count = 2 if model.fixed_batch is None else model.fixed_batch
    if facts.kind == "landmarker_68_5":
        main: NDArray[np.generic] = rng.random((count, 5, 2), dtype=np.float32)
    else:
        main = model.preprocess(rng.random((count, facts.size, facts.size, 3), dtype=np.float32))
    feeds: dict[str, NDArray[np.generic]] = {facts.input_name: main}
    if "weight" in model.inputs:
        feeds["weight"] = np.array([0.5], dtype=np.float64)
    return feeds


def _torch_backend(path: Path, model: FaceModel, backend: str, device: Any, dtype: str) -> GraphBackend | None:
    """The graph converted to torch when it matches onnxruntime on a probe; ``None`` keeps onnxruntime (``auto``).

    Without onnxruntime (``model.model`` is a ``runtime.graph_session``) the conversion only has to give
    finite outputs on the probe, with a warning that it was not compared.

    Raises:
        ModelConversionError: ``backend="torch"`` and the conversion fails or differs.
    """
    from .convert import convert_model, torch_target

    target = torch_target(path.name, backend, device, dtype)
    if target is None:
        return None
    torch_device, torch_dtype = target
    try:
        graph = convert_model(path, dtype=torch_dtype, device=torch_device)
        candidate = TorchGraphBackend(graph, torch_device, torch_dtype)
        feeds = _probe(model)
        produced = candidate.run(feeds)
        if model.model is None or not model.model.has_session:
            logger.warning("%s: onnxruntime is not installed, so the torch conversion is not compared with it", path.name)
            if not all(np.isfinite(output).all() for output in produced):
                raise ModelConversionError("the torch conversion gives non-finite outputs on a probe")
            return candidate
        expected = model.backend.run(feeds)
        worst = 0.0
        for want, got in zip(expected, produced):
            if want.shape != got.shape:
                worst = math.inf
                break
            scale = max(float(np.ptp(want)), 1e-6)
            worst = max(worst, float(np.abs(want - got).max()) / scale)
        if worst > TORCH_MATCH_TOLERANCE * (10 if str(torch_dtype) != "torch.float32" else 1):
            raise ModelConversionError(f"the torch conversion differs from onnxruntime by {worst:.3g} of the output range")
    except (ModelConversionError, RuntimeError, KeyError, ValueError) as error:
        if backend == "torch":
            raise ModelConversionError(f"cannot run {path.name} with the torch backend: {error}") from error
        logger.warning("%s: %s; using onnxruntime instead", path.name, error)
        return None
    return candidate


def load_face_model(
    name_or_path: str | os.PathLike[str],
    kinds: ModelKind | tuple[ModelKind, ...],
    folders: Sequence[str | os.PathLike[str]] = (),
    *,
    providers: str | Sequence[str] = "auto",
    strict: bool = False,
    allow_download: bool = True,
    backend: str = "onnxruntime",
    device: Any = None,
    dtype: str = "float32",
    batch_size: int | None = None,
    device_id: int = 0,
    facts: ModelFacts | None = None,
) -> FaceModel:
    """Find (or download with its ``.hash`` check), open and check a model of the ``model_facts`` table.

    Args:
        name_or_path: a name of the table (``gfpgan_1.4``, ``xseg_1``, ...) or an ``.onnx`` path whose
            file stem is such a name (or pass ``facts`` for a file under another name).
        kinds: the kind(s) the caller can run (e.g. ``"restorer"``).
        backend: ``onnxruntime``, ``torch`` or ``auto`` (torch on a GPU device when the conversion matches).
        batch_size: items per call for a dynamic batch axis (default ``DEFAULT_BATCH``).

    Without onnxruntime installed, ``auto`` and ``torch`` run the torch conversion; ``onnxruntime`` raises
    ``ProviderUnavailableError`` saying how to install it. Once the torch backend is chosen no onnxruntime
    session stays open (``model`` is then a ``runtime.graph_session``), as for the other loaders.

    Raises:
        InvalidArgumentError: not a model of those kinds, or an unknown backend.
        ModelMismatchError: the file's inputs are not what the facts say.
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ModelConversionError.
    """
    if backend not in BACKEND_CHOICES:
        raise InvalidArgumentError(f"unknown backend {backend!r}; use onnxruntime, torch or auto")
    row = facts or facts_for(os.fspath(name_or_path), kinds)
    target = name_or_path if (row.release or Path(os.fspath(name_or_path)).suffix == ".onnx") else row.file_name
    resolved = resolve_model(target, folders, allow_download=allow_download)
    session, backend = session_for_backend(resolved.path, backend, providers, strict=strict, device_id=device_id)
    _check_inputs(session, row)
    loaded = FaceModel(row, OnnxGraphBackend(session), session, batch_size)
    if backend in ("torch", "auto"):
        converted = _torch_backend(resolved.path, loaded, backend, device, dtype)
        if converted is not None:
            loaded.backend = converted
            if session.has_session:  # checked against onnxruntime above; no second copy of the weights stays open
                loaded.model = graph_session(resolved.path)
    return loaded
