"""An ONNX graph as plain data (``GraphSpec``/``NodeSpec``: JSON-able nodes + numpy tensors), read from an ONNX proto.

Parsing needs ``onnx``; a ``GraphSpec`` read back from the cache does not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelConversionError


@dataclass(frozen=True)
class NodeSpec:
    """One ONNX node: op type, unique name, input/output value names ("" = optional input left out), attributes.

    Attribute values are JSON types (int, float, str, lists of them); a tensor attribute is
    ``{"tensor": key}`` naming an entry of ``GraphSpec.tensors``.
    """

    op_type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: Mapping[str, Any]
    domain: str = ""


@dataclass(frozen=True)
class GraphSpec:
    """An ONNX graph as plain data.

    - ``nodes``: in file order (topological for valid ONNX files).
    - ``input_names`` / ``output_names``: graph inputs (initializers excluded) and outputs.
    - ``opset``: version of the default ONNX domain.
    - ``tensors``: initializers, tensor attributes and ``Constant`` values by name, as numpy arrays.
    """

    nodes: tuple[NodeSpec, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    opset: int
    tensors: Mapping[str, NDArray[Any]] = field(repr=False)

    @property
    def op_types(self) -> frozenset[str]:
        return frozenset(node.op_type for node in self.nodes)

    def to_json(self) -> str:
        """The graph without its tensors, as compact JSON."""
        return json.dumps(
            {
                "opset": self.opset,
                "inputs": list(self.input_names),
                "outputs": list(self.output_names),
                "nodes": [
                    {
                        "op": n.op_type,
                        "name": n.name,
                        "domain": n.domain,
                        "in": list(n.inputs),
                        "out": list(n.outputs),
                        "attr": dict(n.attributes),
                    }
                    for n in self.nodes
                ],
            },
            separators=(",", ":"),
        )

    @staticmethod
    def from_json(text: str, tensors: Mapping[str, NDArray[Any]]) -> GraphSpec:
        """Inverse of ``to_json``, given the tensors."""
        data = json.loads(text)
        nodes = tuple(
            NodeSpec(n["op"], n["name"], tuple(n["in"]), tuple(n["out"]), n["attr"], n.get("domain", "")) for n in data["nodes"]
        )
        return GraphSpec(nodes, tuple(data["inputs"]), tuple(data["outputs"]), int(data["opset"]), dict(tensors))


def contiguous_array(array: NDArray[Any], writable: bool = False) -> NDArray[Any]:
    """A C-contiguous array of the same shape (``np.ascontiguousarray`` would turn 0-d into 1-d)."""
    if array.flags.c_contiguous and (array.flags.writeable or not writable):
        return array
    return np.array(array, order="C", copy=True)


def _numpy_tensor(tensor: Any) -> NDArray[Any]:
    from onnx import numpy_helper

    array = np.asarray(numpy_helper.to_array(tensor))
    if array.dtype.kind not in "fiub":  # bfloat16/float8 come back as ml_dtypes types
        array = array.astype(np.float32)
    return contiguous_array(array)


def graph_spec_from_proto(model: Any, source: str = "model") -> GraphSpec:
    """``GraphSpec`` of a parsed ``onnx.ModelProto`` (external data must already be loaded).

    Raises:
        ModelConversionError: a node has a subgraph attribute (If, Loop, Scan).
    """
    from onnx import AttributeProto, helper

    graph = model.graph
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)
    tensors: dict[str, NDArray[Any]] = {init.name: _numpy_tensor(init) for init in graph.initializer}
    nodes = []
    used_names: set[str] = set()
    for index, node in enumerate(graph.node):
        name = node.name or f"{node.op_type}_{index}"
        if name in used_names:
            name = f"{name}_{index}"
        used_names.add(name)
        attributes: dict[str, Any] = {}
        for attribute in node.attribute:
            if attribute.type == AttributeProto.TENSOR:
                key = f"{name}/{attribute.name}"
                tensors[key] = _numpy_tensor(attribute.t)
                attributes[attribute.name] = {"tensor": key}
            elif attribute.type in (
                AttributeProto.GRAPH,
                AttributeProto.GRAPHS,
                AttributeProto.SPARSE_TENSOR,
                AttributeProto.TENSORS,
            ):
                raise ModelConversionError(
                    f"{source}: node {name} ({node.op_type}) has a {AttributeProto.AttributeType.Name(attribute.type)} "
                    "attribute, which the torch converter does not support. Use the onnxruntime backend."
                )
            else:
                value = helper.get_attribute_value(attribute)
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                elif isinstance(value, list):
                    value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
                attributes[attribute.name] = value
        nodes.append(NodeSpec(node.op_type, name, tuple(node.input), tuple(node.output), attributes, node.domain))
    initializer_names = {init.name for init in graph.initializer}
    inputs = tuple(value.name for value in graph.input if value.name not in initializer_names)
    outputs = tuple(value.name for value in graph.output)
    return GraphSpec(tuple(nodes), inputs, outputs, int(opset), tensors)
