"""Faulty copies of any synthetic model, for the fault table of the output checks (``io_facts.check_outputs``).

``with_fault(source, path, fault)`` rewrites a working ONNX file's first output:

- ``"nan"``: ``output + 0 * sqrt(mean(first input per item) - threshold)``: NaN for the items whose
  first input has a mean below ``threshold`` (all items with the default ``inf``), the output unchanged
  for the others. So one face of a batch can be broken while its neighbours are not.
- ``"shrink"``: every axis after the first that has at least 4 entries is cut to its first half (a
  restorer's ``[N, 3, 512, 512]`` gives ``[N, 3, 256, 256]``, a recognizer's ``[N, 512]`` gives
  ``[N, 256]``). The cut is computed from the data (``0 * mean + half``), so no shape inference can
  see it: the file loads (its outputs declared dynamic) and only its run shows the fault.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["FAULTS", "with_fault"]

FAULTS = ("nan", "shrink")


def _dims(value: object) -> list[int | str]:
    shape = value.type.tensor_type.shape  # type: ignore[attr-defined]
    return [dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?") for dim in shape.dim]


def _set_dims(value: object, dims: list[int | str]) -> None:
    shape = value.type.tensor_type.shape  # type: ignore[attr-defined]
    for dim, size in zip(shape.dim, dims):
        if isinstance(size, int):
            dim.dim_value = size
        else:
            dim.dim_param = size


def with_fault(
    source: str | os.PathLike[str],
    path: str | os.PathLike[str],
    fault: str,
    threshold: float = math.inf,
    gate_input: str | None = None,
) -> Path:
    """Write ``source`` with ``fault`` (``FAULTS``) to ``path`` (see the module docstring); returns ``path``.

    ``gate_input``: the input whose per-item mean decides the NaN items (default: the first input).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(os.fspath(source))
    graph = model.graph
    first_input = next(value for value in graph.input if gate_input is None or value.name == gate_input)
    output = graph.output[0]
    if fault in FAULTS:
        raw = f"{output.name}__raw"
        for node in graph.node:
            node.output[:] = [raw if name == output.name else name for name in node.output]
            node.input[:] = [raw if name == output.name else name for name in node.input]
        dims = _dims(output)

        def constant(name: str, value: np.ndarray) -> str:
            graph.initializer.append(numpy_helper.from_array(value, f"fault_const__{name}"))
            return f"fault_const__{name}"

        if fault == "nan":
            sizes = [size for size in _dims(first_input)[1:]]
            if not all(isinstance(size, int) for size in sizes):
                raise ValueError(f"{source}: the first input needs static sizes after the batch axis for the nan fault")
            count = int(np.prod([int(size) for size in sizes]))
            mean_weights = np.full((count, 1), 1.0 / count, np.float32)
            gate_shape = np.array([-1] + [1] * (len(dims) - 1), np.int64)
            graph.node.extend(
                [
                    helper.make_node("Cast", [first_input.name], ["fault__float"], to=onnx.TensorProto.FLOAT),
                    helper.make_node("Flatten", ["fault__float"], ["fault__flat"], axis=1),
                    helper.make_node("MatMul", ["fault__flat", constant("mean", mean_weights)], ["fault__mean"]),
                    helper.make_node(
                        "Sub", ["fault__mean", constant("threshold", np.array([threshold], np.float32))], ["fault__d"]
                    ),
                    helper.make_node("Sqrt", ["fault__d"], ["fault__root"]),
                    helper.make_node("Mul", ["fault__root", constant("zero", np.zeros(1, np.float32))], ["fault__gate"]),
                    helper.make_node("Reshape", ["fault__gate", constant("shape", gate_shape)], ["fault__gated"]),
                    helper.make_node("Add", [raw, "fault__gated"], [output.name]),
                ]
            )
        else:
            if not dims:  # an output of undeclared shape (SCRFD-style detectors): its axis 1 is cut to half
                graph.node.extend(
                    [
                        helper.make_node("Shape", [raw], ["fault__shape"]),
                        helper.make_node("Gather", ["fault__shape", constant("axis", np.array([1], np.int64))], ["fault__size"]),
                        helper.make_node("Div", ["fault__size", constant("two", np.array([2], np.int64))], ["fault__half"]),
                        helper.make_node(
                            "Slice",
                            [
                                raw,
                                constant("start", np.zeros(1, np.int64)),
                                "fault__half",
                                constant("axis1", np.array([1], np.int64)),
                            ],
                            [output.name],
                        ),
                    ]
                )
            else:
                axes = [axis for axis, size in enumerate(dims) if axis > 0 and isinstance(size, int) and size >= 4]
                halves = np.array([int(dims[axis]) // 2 for axis in axes], np.float32)
                graph.node.extend(
                    [
                        helper.make_node("Cast", [first_input.name], ["fault__float"], to=onnx.TensorProto.FLOAT),
                        helper.make_node("ReduceSum", ["fault__float"], ["fault__sum"], keepdims=0),
                        helper.make_node("Mul", ["fault__sum", constant("zero", np.zeros(1, np.float32))], ["fault__nothing"]),
                        helper.make_node("Add", ["fault__nothing", constant("halves", halves)], ["fault__ends_float"]),
                        helper.make_node("Cast", ["fault__ends_float"], ["fault__ends"], to=onnx.TensorProto.INT64),
                        helper.make_node(
                            "Slice",
                            [
                                raw,
                                constant("starts", np.zeros(len(axes), np.int64)),
                                "fault__ends",
                                constant("axes", np.array(axes, np.int64)),
                            ],
                            [output.name],
                        ),
                    ]
                )
                _set_dims(output, [f"fault_{axis}" if axis in axes else size for axis, size in enumerate(dims)])
    else:
        raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
    del graph.value_info[:]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, os.fspath(target))
    return target
