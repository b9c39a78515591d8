"""The ops the converter covers: op type -> builder, and the check that a graph uses only those."""

from __future__ import annotations

from ..errors import ModelConversionError
from . import ops_dense, ops_elementwise, ops_shape, ops_spatial
from .context import Builder
from .graph import GraphSpec


def op_builders() -> dict[str, Builder]:
    """Op type -> builder for every op the converter covers (``Constant`` is folded by the interpreter instead)."""
    return {
        **ops_elementwise.builders(),
        **ops_dense.builders(),
        **ops_shape.builders(),
        **ops_spatial.builders(),
    }


SUPPORTED_OPS: frozenset[str] = frozenset(
    {
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Pow",
        "Max",
        "Min",
        "Sum",
        "Relu",
        "Sigmoid",
        "Tanh",
        "Sqrt",
        "Exp",
        "Log",
        "Neg",
        "Abs",
        "Reciprocal",
        "Erf",
        "Floor",
        "Ceil",
        "Not",
        "LeakyRelu",
        "HardSigmoid",
        "HardSwish",
        "Elu",
        "PRelu",
        "Clip",
        "Cast",
        "Conv",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeLinear",
        "BatchNormalization",
        "InstanceNormalization",
        "Gemm",
        "MatMul",
        "Flatten",
        "Reshape",
        "Transpose",
        "Shape",
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Concat",
        "Slice",
        "Split",
        "Expand",
        "Tile",
        "ConstantOfShape",
        "Identity",
        "Dropout",
        "AveragePool",
        "MaxPool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "Resize",
        "Upsample",
        "Pad",
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ReduceL2",
        "Softmax",
        "LogSoftmax",
        "Where",
        "Equal",
        "Less",
        "Greater",
        "Constant",
    }
)
"""Op types of the default ONNX domain the converter covers (``Constant`` is folded at build time)."""
QUANTIZED_OPS: frozenset[str] = frozenset({"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"})


def check_convertible(spec: GraphSpec, source: str = "model") -> None:
    """Raise ``ModelConversionError`` naming every op of ``spec`` the converter does not cover."""
    unknown = sorted(
        {
            f"{node.domain}:{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
            for node in spec.nodes
            if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS
        }
    )
    if unknown:
        raise ModelConversionError(
            f"{source} uses ONNX op(s) the torch converter does not cover: {', '.join(unknown)}. "
            "Use the onnxruntime backend for this model."
        )
