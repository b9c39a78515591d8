"""One model runner for every model kind: detector, recognizer, swapper, converter, landmarker, mask, restorer.

A ``ModelRunner`` runs one ONNX graph, with onnxruntime or as a torch conversion (``face_identity.convert``),
on numpy arrays (``run_feeds``, ``run_outputs``, ``run``) or torch tensors (``run_tensors``, ``run_tensor``).
It feeds each input in the dtype the graph wants, runs a batch chunk by chunk where the graph takes
fewer items per call (padding a fixed batch axis), and hands every output back as float32. Every output
of every call, onnxruntime's or torch's, passes through ``ModelRunner._outputs`` once: the place for
output checks.

``load_runner`` is the one place a model file becomes a runner, under one ``options.LoadOptions``:

- ``open_model`` opens the file (``runtime.session_for_backend``): an onnxruntime session, or, without
  onnxruntime, the file's signature (``runtime.graph_session``) and the torch backend;
- the kind's loader checks that signature (``runtime.require_kind``), and ``load_runner`` checks it against
  the shapes the kind's facts state (``io_facts.IOFacts``: ``ModelMismatchError`` naming what differs);
- for backend ``torch``/``auto`` the graph is converted and run on the kind's ``Probe``: kept when it
  matches onnxruntime within ``TORCH_MATCH_TOLERANCE`` (or, without onnxruntime, when its outputs are
  finite, with a warning that it was not compared). ``auto`` otherwise keeps onnxruntime with a warning;
  ``torch`` raises ``ModelConversionError``. Once the conversion runs, no onnxruntime session stays open.

``converted_graphs`` is the one hook for a host's model management (ComfyUI's ``ModelPatcher``): the torch
graphs behind loaded models, found through their ``backend`` runner.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .errors import ModelConversionError, ModelOutputError
from .io_facts import IOFacts, check_io, check_outputs
from .options import LoadKeywords, LoadOptions, load_options
from .runtime import ModelSession, TensorInfo, graph_session, session_for_backend

if TYPE_CHECKING:
    import torch

    from .convert import ConvertedGraph

__all__ = [
    "TORCH_MATCH_TOLERANCE",
    "LoadKeywords",
    "LoadOptions",
    "ModelRunner",
    "Probe",
    "converted_graphs",
    "load_options",
    "load_runner",
    "open_model",
    "probe_difference",
]

logger = logging.getLogger(__name__)

TORCH_MATCH_TOLERANCE: dict[str, float] = {"float32": 2e-3, "float16": 2e-2, "bfloat16": 6e-2}
"""Per torch precision, the largest difference from onnxruntime on the probe for a conversion to be kept.

One rule for every model kind and output (``probe_difference``): the largest absolute difference
divided by the onnxruntime output's range, or by 1 when that range is smaller. So it is absolute for
outputs in 0..1 (swapped crops, masks, scores) and relative for wider ones (embeddings, landmarks).
"""

_NUMPY_DTYPES = {"tensor(float16)": np.float16, "tensor(double)": np.float64, "tensor(float)": np.float32}


@dataclass(frozen=True)
class Probe:
    """Seeded inputs a conversion is checked on: ``feeds`` by input name; ``batched`` names split along the batch axis."""

    feeds: Mapping[str, NDArray[Any]]
    batched: tuple[str, ...] = field(default=())

    def items(self) -> int:
        return int(next(iter(self.feeds[name] for name in self.batched)).shape[0]) if self.batched else 1


def _static(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class ModelRunner:
    """One graph run by onnxruntime (``graph is None``) or by torch (a ``convert.ConvertedGraph``).

    Attributes:
        model: the onnxruntime session, or a ``runtime.graph_session`` (signature only) for the torch backend.
        graph: the converted torch graph, or ``None``.
        input_names: the order ``run_outputs``/``run_tensors`` take their positional inputs in.
        batch_size: items per call: the graph's fixed batch axis, else the most the probe showed the
            conversion takes, else ``max_batch`` (``None``: the whole batch in one call).
        io: the shapes the kind's facts state; every output is checked against them and for
            finiteness (``io_facts.check_outputs``: ``ModelOutputError``).
    """

    def __init__(
        self,
        model: ModelSession,
        graph: ConvertedGraph | None = None,
        *,
        input_names: Sequence[str] | None = None,
        max_batch: int | None = None,
        io: IOFacts | None = None,
    ) -> None:
        self.model = model
        self.graph = graph
        self.io = io
        self.input_names = tuple(input_names or [info.name for info in model.inputs])
        self.input_dtypes = {info.name: _NUMPY_DTYPES.get(info.type, np.float32) for info in model.inputs}
        first: TensorInfo | None = next((info for info in model.inputs if info.name == self.input_names[0]), None)
        self.fixed_batch = _static(first.shape[0]) if first is not None and first.shape else None
        self.batch_size = self.fixed_batch or (max(int(max_batch), 1) if max_batch else None)

    @property
    def name(self) -> str:
        """``onnxruntime`` or ``torch``: what runs the graph."""
        return "onnxruntime" if self.graph is None else "torch"

    @property
    def device(self) -> torch.device | None:
        """The torch device the graph computes on, or ``None`` for onnxruntime."""
        return None if self.graph is None else self.graph.device

    @property
    def on_gpu(self) -> bool:
        return self.model.on_gpu if self.graph is None else self.graph.device.type != "cpu"

    @property
    def batch_independent(self) -> bool:
        """Whether each item's outputs are independent of its batch mates even for a graph that quantizes per batch.

        ``False`` for onnxruntime (it is the graph's business: ``GraphFacts.batch_dependent``); a
        conversion quantizes each item on its own (``per_sample_quantization``) or does not quantize.
        """
        graph = self.graph
        return graph is not None and (graph.per_sample_quantization or "DynamicQuantizeLinear" not in graph.spec.op_types)

    def describe(self) -> str:
        """What runs it: ``onnxruntime (CUDAExecutionProvider, CPUExecutionProvider)`` or
        ``torch cuda:0 float16 channels_last`` (with the items per call when the probe limited them)."""
        if self.graph is None:
            half = any(dtype == np.float16 for dtype in self.input_dtypes.values())
            return f"onnxruntime ({self.model.describe_providers()}{'; float16 inputs' if half else ''})"
        parts = ["torch", str(self.graph.device), str(self.graph.dtype).replace("torch.", "")]
        if self.graph.channels_last:
            parts.append("channels_last")
        if "DynamicQuantizeLinear" in self.graph.spec.op_types:
            parts.append("int8-exact per-face" if self.graph.per_sample_quantization else "int8-exact")
        if self.batch_size is not None:
            parts.append(f"batch {self.batch_size}")
        return " ".join(parts)

    def report(self) -> str:
        """``describe`` and the onnxruntime providers really active, warning when a requested GPU provider is not."""
        model = self.model
        if not model.has_session:  # the torch backend runs it (requested_providers says why)
            note = f"onnxruntime: not used ({', '.join(model.requested_providers) or 'torch backend'})"
        else:
            active = ", ".join(name.replace("ExecutionProvider", "") for name in model.active_providers)
            wanted = [name for name in model.requested_providers if name != "CPUExecutionProvider"]
            warning = f" (WARNING: {', '.join(wanted)} requested but not active)" if wanted and not model.on_gpu else ""
            note = f"providers: {active}{warning}"
        return f"backend {self.describe()} | {note}"

    def __repr__(self) -> str:
        return f"ModelRunner({self.model.path.name!r}, {self.describe()})"

    def _outputs(self, outputs: list[Any]) -> list[Any]:
        """Every output of every call, numpy or torch, passes here once: finite and of the stated shape.

        Raises:
            ModelOutputError: naming the file, the output and what is wrong (``io_facts.check_outputs``).
        """
        check_outputs(self.model, self.io, outputs)
        return outputs

    def _call(self, feeds: Mapping[str, NDArray[Any]]) -> list[NDArray[np.float32]]:
        if self.graph is None:
            dtypes = self.input_dtypes
            typed = {name: np.ascontiguousarray(value, dtype=dtypes.get(name, value.dtype)) for name, value in feeds.items()}
            return self._outputs([np.asarray(output, dtype=np.float32) for output in self.model.run(typed)])
        import torch

        tensors = [torch.from_numpy(np.ascontiguousarray(feeds[name])) for name in self.graph.input_names]
        return [output.float().cpu().numpy() for output in self._graph_call(tensors)]

    def _graph_call(self, tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        import torch

        graph = self.graph
        if graph is None:
            raise ModelConversionError(f"{self.model.path.name} runs with onnxruntime here; it has no torch graph to call")
        floating = [tensor.is_floating_point() and tensor.dtype != torch.float64 for tensor in tensors]
        arguments = [tensor.to(graph.device, graph.dtype if cast else tensor.dtype) for tensor, cast in zip(tensors, floating)]
        with torch.inference_mode():
            outputs = graph(*arguments)
        return self._outputs(list(outputs) if isinstance(outputs, (tuple, list)) else [outputs])

    def run_feeds(self, feeds: Mapping[str, NDArray[Any]], batched: Sequence[str] | None = None) -> list[NDArray[np.float32]]:
        """Every output for ``feeds`` (input name -> array), float32, the ``batched`` inputs (default: all) split along axis 0.

        Inputs not in ``batched`` (e.g. a restorer's ``weight``) go to every call whole; with none batched
        (``()``, e.g. a detector whose outputs have no batch axis) it is one call, outputs as they come.
        Returns ``[]`` for an empty batch.
        """
        names = tuple(batched if batched is not None else feeds)
        if not names:
            return self._call(feeds)
        count = int(feeds[names[0]].shape[0])
        step = self.batch_size or max(count, 1)
        chunks: list[list[NDArray[np.float32]]] = []
        for start in range(0, count, step):
            part = {name: (value[start : start + step] if name in names else value) for name, value in feeds.items()}
            real = int(part[names[0]].shape[0])
            if self.fixed_batch is not None and real < self.fixed_batch:
                for name in names:
                    part[name] = np.concatenate([part[name], np.repeat(part[name][-1:], self.fixed_batch - real, axis=0)])
            chunks.append([output[:real] for output in self._call(part)])
        return [np.concatenate(parts) for parts in zip(*chunks)] if chunks else []

    def run_outputs(self, *inputs: NDArray[Any]) -> tuple[NDArray[np.float32], ...]:
        """Every output, float32, for the inputs given in ``input_names`` order, all batched along axis 0."""
        outputs = self.run_feeds(dict(zip(self.input_names, inputs, strict=True)))
        return tuple(outputs) if outputs else (np.zeros_like(inputs[0], dtype=np.float32),)

    def run(self, *inputs: NDArray[Any]) -> NDArray[np.float32]:
        """The first output of ``run_outputs``."""
        return self.run_outputs(*inputs)[0]

    def run_tensors(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """Every output for torch tensors (``input_names`` order, batched along axis 0, any device).

        A converted graph keeps the tensors on its device (inputs are moved there and cast to its
        precision); onnxruntime copies each chunk to the host and returns float32 CPU tensors.
        """
        import torch

        count = int(inputs[0].shape[0])
        step = self.batch_size or max(count, 1)
        chunks: list[list[torch.Tensor]] = []
        for start in range(0, count, step):
            part = [tensor[start : start + step] for tensor in inputs]
            if self.graph is not None and self.fixed_batch is None:
                chunks.append(self._graph_call(part))
                continue
            arrays = [np.ascontiguousarray(tensor.detach().cpu().numpy()) for tensor in part]
            chunks.append([torch.from_numpy(output) for output in self.run_outputs(*arrays)])
        if len(chunks) == 1:
            return chunks[0]
        return [torch.cat(parts) for parts in zip(*chunks)]

    def call_graph(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """One call of the converted graph on the whole batch, outputs as they come (a detector's batched layouts).

        Raises:
            ModelConversionError: the runner is onnxruntime's.
        """
        return self._graph_call(inputs)

    def run_tensor(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The first output of ``run_tensors`` as float32, on the graph's device (the host for onnxruntime)."""
        import torch

        return self.run_tensors(*inputs)[0].to(torch.float32)


def probe_difference(expected: Sequence[NDArray[Any]], produced: Sequence[NDArray[Any]]) -> float:
    """The ``TORCH_MATCH_TOLERANCE`` measure: per output, max |difference| / max(range of ``expected``, 1); the worst output.

    ``inf`` when the outputs differ in number or shape, or a difference is NaN.
    """
    if len(expected) != len(produced):
        return math.inf
    worst = 0.0
    for want, got in zip(expected, produced):
        if want.shape != got.shape:
            return math.inf
        if want.size:
            scale = max(float(np.ptp(want)), 1.0)
            difference = float(np.abs(np.asarray(got, np.float64) - want).max()) / scale
            if math.isnan(difference):
                return math.inf  # a NaN where onnxruntime has a number (or the other way round) never matches
            worst = max(worst, difference)
    return worst


def open_model(path: str | os.PathLike[str], options: LoadOptions) -> tuple[ModelSession, str]:
    """The session for ``options`` and the backend that then applies (``runtime.session_for_backend``).

    Raises:
        ModelFileError, ProviderUnavailableError: as ``runtime.open_session`` / ``runtime.graph_session``.
    """
    providers = options.providers if isinstance(options.providers, str) else list(options.providers)
    return session_for_backend(path, options.backend, providers, strict=options.strict, device_id=options.device_id)


def _reference_outputs(reference: ModelRunner, probe: Probe) -> list[NDArray[np.float32]]:
    """onnxruntime's outputs on the probe, item by item (so graphs that quantize per batch compare with a per-item conversion)."""
    rows = []
    for index in range(probe.items()):
        feeds = {name: (value[index : index + 1] if name in probe.batched else value) for name, value in probe.feeds.items()}
        rows.append(reference.run_feeds(feeds, probe.batched))
    return [np.concatenate(parts) for parts in zip(*rows)]


def _settled(candidate: ModelRunner, items: int | None, max_batch: int | None) -> ModelRunner:
    """A conversion that ran several items per call takes the caller's ``max_batch``; one that needed one item, one."""
    candidate.batch_size = candidate.fixed_batch or (1 if items == 1 else (max(int(max_batch), 1) if max_batch else None))
    return candidate


def _checked_candidate(
    model: ModelSession,
    graph: ConvertedGraph,
    reference: ModelRunner | None,
    probe: Probe,
    per_call: Sequence[int | None],
    input_names: Sequence[str] | None,
    max_batch: int | None,
    io: IOFacts | None = None,
) -> tuple[ModelRunner, str | None]:
    """The conversion as a runner at the first items-per-call that passes the probe, or the last one and what went wrong."""
    expected = _reference_outputs(reference, probe) if reference is not None else None
    tolerance = TORCH_MATCH_TOLERANCE[str(graph.dtype).removeprefix("torch.")]
    problem = "not run"
    candidate = ModelRunner(model, graph, input_names=input_names, io=io)
    for items in per_call:
        candidate = ModelRunner(model, graph, input_names=input_names, max_batch=items or max_batch, io=candidate.io)
        try:
            produced = candidate.run_feeds(probe.feeds, probe.batched)
        except (RuntimeError, ValueError, KeyError, IndexError, ModelConversionError, ModelOutputError) as error:
            problem = f"fails at {items or 'all'} item(s) per call ({str(error)[:200]})"
            continue
        if expected is None:  # nothing to compare with: run_feeds has checked every output finite (check_outputs)
            return _settled(candidate, items, max_batch), None
        difference = probe_difference(expected, produced)
        if difference <= tolerance:
            logger.debug("%s in torch: %s item(s) per call, difference %.3g", model.path.name, items or "all", difference)
            return _settled(candidate, items, max_batch), None
        allowed = f"allowed {tolerance:g} in {graph.dtype}"
        problem = f"differs from onnxruntime by up to {difference:.3g} of the output range ({allowed})"
    return candidate, problem


def load_runner(
    model: ModelSession,
    backend: str,
    options: LoadOptions,
    probe: Probe | Callable[[], Probe] | None = None,
    *,
    io: IOFacts | None = None,
    input_names: Sequence[str] | None = None,
    max_batch: int | None = None,
    per_call: Sequence[int | None] = (2, 1),
    per_sample_quantization: bool = False,
) -> ModelRunner:
    """The runner for an opened, checked model: onnxruntime, or the torch conversion when ``backend`` asks and it passes.

    Args:
        model, backend: what ``open_model`` returned (after the kind's signature checks).
        probe: the kind's seeded inputs (or a function making them); ``None`` keeps onnxruntime.
        io: the input and output shapes the kind's facts state for this file (``io_facts.check_io``).
        input_names, max_batch: as ``ModelRunner``.
        per_call: items per call to try the conversion at, in order (``None``: the whole probe).
        per_sample_quantization: quantize each item on its own (recognizers: batch-independent embeddings).

    Raises:
        ModelMismatchError: the graph's inputs or outputs differ from ``io``.
        ModelConversionError: ``backend="torch"`` and the graph does not convert, or its conversion
            differs from onnxruntime (or gives non-finite outputs without onnxruntime).
    """
    if io is not None:
        check_io(model, io)
    runner = ModelRunner(model, input_names=input_names, max_batch=max_batch, io=io)
    if backend not in ("torch", "auto") or probe is None:
        return runner
    from .convert import convert_model, torch_target

    name = model.path.name
    target = torch_target(name, backend, options.device, options.dtype)
    if target is None:
        return runner
    torch_device, torch_dtype = target
    try:
        graph = convert_model(
            model.path,
            dtype=torch_dtype,
            device=torch_device,
            channels_last=options.channels_last,
            per_sample_quantization=per_sample_quantization,
            cache=options.cache,
        )
        if not model.has_session:
            logger.warning("%s: onnxruntime is not installed, so the torch conversion is not compared with it", name)
        reference = runner if model.has_session else None
        candidate, problem = _checked_candidate(
            model, graph, reference, probe if isinstance(probe, Probe) else probe(), per_call, input_names, max_batch, io
        )
        if problem is not None:
            raise ModelConversionError(f"the torch conversion {problem}")
    except ModelConversionError as error:
        if backend == "torch":
            raise ModelConversionError(f"cannot run {name} with the torch backend: {error}") from error
        logger.warning("%s: %s; using onnxruntime instead", name, error)
        return runner
    if model.has_session:  # checked against onnxruntime: no second copy of the weights stays open
        candidate.model = graph_session(model.path)
    logger.info("%s runs in torch: %s", name, candidate.describe())
    return candidate


def converted_graphs(*models: Any) -> list[ConvertedGraph]:
    """The torch graphs behind loaded models, for a host that manages device memory (ComfyUI's ``ModelPatcher``).

    Looks at each model's ``backend`` runner (and ``model.graph``, ``model.backend.graph`` for bare
    graphs and wrappers); models run by onnxruntime contribute none. Moving a graph (``to``) moves
    where its runner computes.
    """
    from .convert import ConvertedGraph

    found: list[ConvertedGraph] = []
    for model in models:
        for holder in (model, getattr(model, "backend", None)):
            graph = getattr(holder, "graph", None)
            if isinstance(graph, ConvertedGraph) and all(graph is not seen for seen in found):
                found.append(graph)
    return found
