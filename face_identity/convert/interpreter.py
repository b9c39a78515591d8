"""``ConvertedGraph``: turn each node of a ``GraphSpec`` into a torch function once, run them in topological order."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError, ModelConversionError
from .context import BuildContext, OpFunction, RunState, Value, as_tensor, host_value, unsupported
from .device import resolve_dtype
from .graph import GraphSpec, NodeSpec, contiguous_array
from .registry import QUANTIZED_OPS, check_convertible, op_builders

logger = logging.getLogger(__name__)


@dataclass
class _Step:
    """One node's torch function, its value names, and the values it uses last (dropped after it runs)."""

    function: OpFunction
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    release: tuple[str, ...] = ()


def _topological_nodes(spec: GraphSpec) -> list[NodeSpec]:
    """``spec.nodes`` in an order where every input is produced before use (file order when it already is)."""
    available = set(spec.tensors) | set(spec.input_names) | {""}
    ordered: list[NodeSpec] = []
    pending = list(spec.nodes)
    while pending:
        remaining = []
        for node in pending:
            if all(name in available for name in node.inputs):
                ordered.append(node)
                available.update(node.outputs)
            else:
                remaining.append(node)
        if len(remaining) == len(pending):
            missing = sorted({n for node in remaining for n in node.inputs if n not in available})[:5]
            raise ModelConversionError(f"the graph uses values nothing produces: {', '.join(missing)}")
        pending = remaining
    return ordered


def _constant_node_value(node: NodeSpec, spec: GraphSpec) -> NDArray[Any]:
    attributes = node.attributes
    if "value" in attributes:
        return np.asarray(spec.tensors[attributes["value"]["tensor"]])
    for key, dtype in (
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in attributes:
            return np.asarray(attributes[key], dtype=dtype)
    raise unsupported(node, f"Constant with attributes {sorted(attributes)}")


class ConvertedGraph:
    """An ONNX graph run with torch ops: ``graph(x, ...) -> tuple of output tensors``.

    It is a plain object holding its tensors (not an ``nn.Module``: it is only ever used for
    inference). Float tensors are kept in ``dtype``; quantized operands stay float32 (their values
    are integers). Call it under ``torch.inference_mode()``.

    Args:
        spec: the graph.
        dtype: ``float32``, ``float16`` or ``bfloat16`` (or the torch dtype).
        device: any torch device.
        channels_last: keep 4-D convolution weights and 4-D inputs in channels-last memory format.
        per_sample_quantization: DynamicQuantizeLinear picks a scale per batch item instead of one
            for the whole tensor, so each item's result equals running it alone (ONNX semantics
            at batch 1) and no longer depends on its batch mates.

    Raises:
        ModelConversionError: an op or attribute the converter does not cover.
    """

    def __init__(
        self,
        spec: GraphSpec,
        dtype: Any = "float32",
        device: Any = "cpu",
        channels_last: bool = False,
        per_sample_quantization: bool = False,
    ) -> None:
        import torch

        check_convertible(spec)
        self.spec = spec
        self.dtype = resolve_dtype(dtype)
        if self.dtype != torch.float32 and spec.op_types & QUANTIZED_OPS:
            # Integer accumulations overflow float16 (and lose digits in bfloat16): quantized graphs stay float32.
            logger.info("the graph has quantized ops; it runs in float32 instead of %s", self.dtype)
            self.dtype = torch.float32
        self.device = torch.device(device)
        self.channels_last = bool(channels_last)
        self.per_sample_quantization = bool(per_sample_quantization)
        self.input_names = spec.input_names
        self.output_names = spec.output_names
        self._steps: list[_Step] = []
        self._constants: dict[str, Value] = {}
        self._tensors: dict[str, Any] = {}
        self._build()

    # -- building

    def _build(self) -> None:
        import torch

        arrays: dict[str, NDArray[Any]] = dict(self.spec.tensors)
        ctx = BuildContext(self.spec.opset, self.dtype, self.channels_last, self.per_sample_quantization, arrays)
        builders = op_builders()
        fold_state = RunState(torch.device("cpu"), torch.float32, ctx.derived)
        steps: list[_Step] = []
        needed: set[str] = set(self.spec.output_names)
        for node in _topological_nodes(self.spec):
            if node.op_type == "Constant":
                arrays[node.outputs[0]] = _constant_node_value(node, self.spec)
                continue
            ctx.baked = set()
            function = builders[node.op_type](node, ctx)
            if node.inputs and all((not name) or name in arrays for name in node.inputs):
                # Every input is constant: evaluate once now (float work in float32 on the CPU).
                inputs = [self._fold_input(arrays, name) for name in node.inputs]
                for name, value in zip(node.outputs, function(inputs, fold_state), strict=False):
                    if name:
                        arrays[name] = self._fold_output(value)
                continue
            needed.update(name for name in node.inputs if name and name not in ctx.baked)
            steps.append(_Step(function, node.inputs, node.outputs))
        produced = {name for step in steps for name in step.outputs}
        for name in sorted(needed - produced - set(self.spec.input_names)):
            if name not in arrays:
                continue
            host = host_value(arrays[name])
            if host is not None:
                self._constants[name] = host
            else:
                self._tensors[name] = self._device_tensor(
                    torch.from_numpy(contiguous_array(arrays[name], writable=True)), name, ctx
                )
        for key, tensor in ctx.derived.items():
            self._tensors[key] = self._device_tensor(tensor, key, ctx)
        self._steps = self._with_releases(steps)

    @staticmethod
    def _fold_input(arrays: Mapping[str, NDArray[Any]], name: str) -> Value:
        import torch

        if not name:
            return None
        array = arrays[name]
        host = host_value(array)
        if host is not None:
            return host
        tensor = torch.from_numpy(contiguous_array(array, writable=True))
        if tensor.dtype in (torch.uint8, torch.int8):
            tensor = tensor.to(torch.float32)
        return tensor

    @staticmethod
    def _fold_output(value: Value) -> NDArray[Any]:
        import torch

        if isinstance(value, int):
            return np.asarray(value, dtype=np.int64)
        if isinstance(value, tuple):
            return np.asarray(value, dtype=np.int64)
        tensor = value.detach().cpu()
        if tensor.dtype == torch.bfloat16 or tensor.dtype == torch.float16:
            tensor = tensor.to(torch.float32)
        return tensor.contiguous().numpy()

    def _device_tensor(self, tensor: Any, name: str, ctx: BuildContext) -> Any:
        import torch

        if tensor.dtype in (torch.uint8, torch.int8):
            tensor = tensor.to(torch.float32)  # quantized values: integer-valued float32
        elif tensor.is_floating_point() and name not in ctx.exact:
            tensor = tensor.to(self.dtype)
        if name in ctx.channels_last_names and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor.to(self.device)

    def _with_releases(self, steps: list[_Step]) -> list[_Step]:
        last_use: dict[str, int] = {}
        for index, step in enumerate(steps):
            for name in step.inputs:
                if name:
                    last_use[name] = index
        keep = set(self.spec.output_names) | set(self._constants) | set(self._tensors)
        releases: dict[int, list[str]] = {}
        for name, index in last_use.items():
            if name not in keep:
                releases.setdefault(index, []).append(name)
        return [_Step(s.function, s.inputs, s.outputs, tuple(releases.get(i, ()))) for i, s in enumerate(steps)]

    # -- running

    def to(self, device: Any) -> ConvertedGraph:
        """Move every tensor to ``device`` (in place); returns ``self``."""
        import torch

        self.device = torch.device(device)
        self._tensors = {name: tensor.to(self.device) for name, tensor in self._tensors.items()}
        return self

    @property
    def tensors(self) -> Mapping[str, Any]:
        """The graph's tensors on the device (weights, derived BN affines, ...), by name."""
        return self._tensors

    def __call__(self, *inputs: Any) -> tuple[Any, ...]:
        """Run the graph.

        Args:
            inputs: one tensor per graph input, in ``input_names`` order. Float inputs are moved
                to the device and cast to the graph's dtype.

        Returns:
            One tensor per graph output, on the device (float outputs in the graph's dtype).
        """
        import torch

        if len(inputs) != len(self.input_names):
            raise InvalidArgumentError(f"the graph takes {len(self.input_names)} input(s), got {len(inputs)}")
        values: dict[str, Value] = dict(self._constants)
        values.update(self._tensors)
        for name, tensor in zip(self.input_names, inputs, strict=False):
            if isinstance(tensor, np.ndarray):
                tensor = torch.from_numpy(tensor)
            if tensor.is_floating_point():
                tensor = tensor.to(device=self.device, dtype=self.dtype)
                if self.channels_last and tensor.dim() == 4:
                    tensor = tensor.contiguous(memory_format=torch.channels_last)
            else:
                tensor = tensor.to(self.device)
            values[name] = tensor
        state = RunState(self.device, self.dtype, self._tensors)
        for step in self._steps:
            arguments = [values.get(name) if name else None for name in step.inputs]
            results = step.function(arguments, state)
            for name, result in zip(step.outputs, results, strict=False):
                if name:
                    values[name] = result
            for name in step.release:
                values.pop(name, None)
        return tuple(as_tensor(values[name], state) for name in self.output_names)
