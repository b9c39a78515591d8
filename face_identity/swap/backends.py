"""What runs a swapper graph: the backend protocol, onnxruntime and torch backends, and the torch conversion check.

Family-agnostic: a backend takes ``target [N, 3, S, S]`` crops and ``source [N, D]`` vectors exactly as
the graph wants them and returns the graph's ``[N, 3, S, S]`` output as float32. What a family feeds
in (normalisation, latents) and how it reads the output lives with the family (``inswapper``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError, ModelConversionError
from ..runtime import TORCH_PRECISIONS, ModelSession, TensorInfo

logger = logging.getLogger(__name__)


class SwapperBackend(Protocol):
    """Runs the swapper graph on a batch."""

    name: str

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        """``target [N, 3, S, S]`` float32 (as the family feeds it) and ``source [N, D]`` float32 -> ``[N, 3, S, S]`` float32."""
        ...

    def run_outputs(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> tuple[NDArray[np.float32], ...]:
        """As ``run``, every graph output in graph order (e.g. HyperSwap's ``output`` and ``mask``), float32."""
        ...

    def describe(self) -> str: ...


class OnnxSwapperBackend:
    """The swapper in an onnxruntime session.

    Float16-input models (``inswapper_128_fp16``) are fed float16 and their output is cast back to
    float32. A fixed batch axis (inswapper's is 1) is run chunk by chunk, padding the last chunk.
    """

    name = "onnxruntime"

    def __init__(self, model: ModelSession, target: TensorInfo, source: TensorInfo) -> None:
        self.model = model
        self.target_name = target.name
        self.source_name = source.name
        self.target_dtype = np.float16 if target.is_float16 else np.float32
        self.source_dtype = np.float16 if source.is_float16 else np.float32
        batch_axis = target.shape[0]
        self.fixed_batch = int(batch_axis) if isinstance(batch_axis, int) and batch_axis > 0 else None
        self.batch_size = self.fixed_batch or 16

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        return self.run_outputs(target, source)[0]

    def run_outputs(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> tuple[NDArray[np.float32], ...]:
        count = target.shape[0]
        outputs: list[list[NDArray[np.float32]]] = []
        for start in range(0, count, self.batch_size):
            target_chunk = target[start : start + self.batch_size]
            source_chunk = source[start : start + self.batch_size]
            real = target_chunk.shape[0]
            if self.fixed_batch is not None and real < self.fixed_batch:
                pad = self.fixed_batch - real
                target_chunk = np.concatenate([target_chunk, np.zeros((pad, *target_chunk.shape[1:]), target_chunk.dtype)])
                source_chunk = np.concatenate([source_chunk, np.repeat(source_chunk[-1:], pad, axis=0)])
            feeds = {
                self.target_name: np.ascontiguousarray(target_chunk, dtype=self.target_dtype),
                self.source_name: np.ascontiguousarray(source_chunk, dtype=self.source_dtype),
            }
            outputs.append([np.asarray(output, dtype=np.float32)[:real] for output in self.model.run(feeds)])
        if not outputs:
            return (np.zeros_like(target, dtype=np.float32),)
        return tuple(np.concatenate(parts) for parts in zip(*outputs, strict=True))

    def describe(self) -> str:
        precision = "float16 inputs" if self.target_dtype == np.float16 else "float32"
        return f"onnxruntime ({self.model.describe_providers()}; {precision})"


class TorchSwapperBackend:
    """A swapper graph run by torch on any device: a ``convert.ConvertedGraph`` or any torch callable.

    ``graph(*inputs)`` takes the graph inputs in ``input_names`` order (``target`` ``[N, 3, S, S]``,
    ``source`` ``[N, D]``) and returns ``[N, 3, S, S]`` (or a tuple whose first item is that); it must
    already live on ``device``. Inputs are cast to ``dtype`` on ``device``; the output comes back as
    float32 numpy. ``batch_size`` crops go in per call (1 for graphs with a hard-coded batch of 1).
    """

    name = "torch"

    def __init__(
        self,
        graph: Any,
        device: Any = "cpu",
        dtype: str = "float32",
        input_names: Sequence[str] = ("target", "source"),
        batch_size: int = 1,
    ) -> None:
        import torch

        if dtype not in TORCH_PRECISIONS:
            raise InvalidArgumentError(f"unknown torch dtype {dtype!r}; use float32, float16 or bfloat16")
        self.graph = graph
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.input_names = tuple(input_names)
        self.batch_size = max(int(batch_size), 1)

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        return self.run_outputs(target, source)[0]

    def run_outputs(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> tuple[NDArray[np.float32], ...]:
        import torch

        feeds = {"target": target, "source": source}
        outputs: list[list[NDArray[np.float32]]] = []
        with torch.inference_mode():
            for start in range(0, target.shape[0], self.batch_size):
                arguments = [
                    torch.from_numpy(np.ascontiguousarray(feeds[name][start : start + self.batch_size])).to(
                        self.device, self.dtype
                    )
                    for name in self.input_names
                ]
                output = self.graph(*arguments)
                parts = output if isinstance(output, (tuple, list)) else (output,)
                outputs.append([part.float().cpu().numpy() for part in parts])
        if not outputs:
            return (np.zeros_like(target, dtype=np.float32),)
        return tuple(np.concatenate(parts) for parts in zip(*outputs, strict=True))

    def describe(self) -> str:
        return f"torch ({self.device}, {str(self.dtype).removeprefix('torch.')}, batch {self.batch_size})"


TORCH_MATCH_TOLERANCE: dict[str, float] = {"float32": 2e-3, "float16": 2e-2, "bfloat16": 6e-2}
"""Largest absolute output difference (0..1 RGB) from onnxruntime on the probe for a torch conversion to count as exact."""


def _probe_inputs(size: int, dimension: int, count: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Seeded ``[count, 3, S, S]`` crops in 0..1 and ``[count, D]`` unit latents for checking a conversion."""
    rng = np.random.default_rng(128)
    crops = rng.random((count, 3, size, size), dtype=np.float32)
    latents = rng.normal(size=(count, dimension))
    return crops, (latents / np.linalg.norm(latents, axis=1, keepdims=True)).astype(np.float32)


def _checked_torch_backend(
    graph: Any,
    reference: SwapperBackend,
    device: Any,
    dtype: str,
    input_names: Sequence[str],
    size: int,
    dimension: int,
) -> tuple[TorchSwapperBackend, str | None]:
    """Wrap a converted graph and compare it with ``reference`` on a seeded probe.

    Two crops per call are tried first, then one (exports that hard-code batch 1 in a Reshape fail
    at 2). Returns the backend and ``None`` when it matches within ``TORCH_MATCH_TOLERANCE``, else
    the backend and what went wrong.
    """
    crops, latents = _probe_inputs(size, dimension, 2)
    expected = np.concatenate([part.reshape(2, -1) for part in reference.run_outputs(crops, latents)], axis=1)
    tolerance = TORCH_MATCH_TOLERANCE[dtype]
    problem = "not run"
    for batch_size in (2, 1):
        candidate = TorchSwapperBackend(graph, device, dtype, input_names, batch_size)
        try:
            output = np.concatenate([part.reshape(2, -1) for part in candidate.run_outputs(crops, latents)], axis=1)
        except (RuntimeError, ValueError) as error:
            problem = f"fails at {batch_size} crop(s) per call ({str(error)[:200]})"
            continue
        difference = float(np.abs(output - expected).max()) if output.shape == expected.shape else math.inf
        if difference <= tolerance:
            logger.debug("torch swapper: %d crop(s) per call, max difference %.3g", batch_size, difference)
            return candidate, None
        problem = f"differs from onnxruntime by up to {difference:.3g} (allowed {tolerance:g} in {dtype})"
    return candidate, problem


def _unchecked_torch_backend(
    graph: Any, device: Any, dtype: str, input_names: Sequence[str], size: int, dimension: int
) -> tuple[TorchSwapperBackend, str | None]:
    """Wrap a converted graph with no onnxruntime to compare against: it only has to run on the probe."""
    crops, latents = _probe_inputs(size, dimension, 2)
    problem = "not run"
    for batch_size in (2, 1):
        candidate = TorchSwapperBackend(graph, device, dtype, input_names, batch_size)
        try:
            output = candidate.run(crops, latents)
        except (RuntimeError, ValueError) as error:
            problem = f"fails at {batch_size} crop(s) per call ({str(error)[:200]})"
            continue
        if np.isfinite(output).all():
            return candidate, None
        problem = "gives NaN or infinite pixels on the probe"
    return candidate, problem


def torch_swapper_backend(
    path: os.PathLike[str] | str,
    backend: str,
    device: Any,
    dtype: str,
    reference: SwapperBackend | None,
    size: int,
    dimension: int,
) -> SwapperBackend | None:
    """The swapper converted to torch by ``face_identity.convert``, if it matches onnxruntime; else ``None``.

    ``auto`` keeps onnxruntime on a CPU device or one torch cannot use, when the graph has an op the converter lacks, and
    when the converted graph's output on a seeded probe differs from onnxruntime's by more than
    ``TORCH_MATCH_TOLERANCE``; ``torch`` raises in those cases instead (the CPU is allowed).

    Raises:
        ModelConversionError: ``backend="torch"`` and the graph cannot be converted exactly.

    ``reference`` is ``None`` when onnxruntime is not installed: the conversion then only has to run
    (finite output on the probe), with a warning that it was not compared.
    """
    from ..convert import convert_model, torch_target

    name = Path(path).name
    target = torch_target(name, backend, device, dtype)
    if target is None:
        return None
    torch_device, torch_dtype = target
    precision = str(torch_dtype).removeprefix("torch.")
    try:
        graph = convert_model(path, dtype=precision, device=torch_device)
        if reference is None:
            logger.warning("%s: onnxruntime is not installed, so the torch conversion is not compared with it", name)
            converted, problem = _unchecked_torch_backend(graph, torch_device, precision, graph.input_names, size, dimension)
        else:
            converted, problem = _checked_torch_backend(
                graph, reference, torch_device, precision, graph.input_names, size, dimension
            )
    except ModelConversionError as error:
        if backend == "torch":
            raise ModelConversionError(f"cannot run {name} with the torch backend: {error}") from error
        logger.warning("%s: torch conversion failed (%s); using onnxruntime instead", name, error)
        return None
    if problem is not None:
        message = f"{name}: the torch conversion {problem}"
        if backend == "torch":
            raise ModelConversionError(message + "; use backend='onnxruntime'")
        logger.warning("%s; using onnxruntime instead", message)
        return None
    logger.info("%s runs in torch: %s", name, converted.describe())
    return converted
