"""What the facts tables say a model's inputs and outputs look like, and the check ``runner.load_runner`` makes with it.

A loader that has facts for a file (``model_facts`` for landmarkers, occluders, parsers and restorers;
``swapper_facts`` for swappers) states the input and output shapes those facts imply as ``IOFacts``.
When the model loads, ``check_io`` compares them with the graph's own signature (rank, and every size
both give as a number) and raises ``ModelMismatchError`` naming the file and what differs, before
anything runs, instead of a shape error deep inside a run. ``check_outputs`` is the same facts' check
of every output a run gives (``runner.ModelRunner._outputs``): finite, and of the stated shape (batch
axis free), or ``ModelOutputError`` naming the file, the output and what is wrong, before any stage
pastes it into an image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ModelMismatchError, ModelOutputError
from .runtime import Dim, ModelSession, TensorInfo

Shape = tuple[int | None, ...]
"""A stated shape: a size per axis, ``None`` for one the facts do not fix (the batch axis, a dynamic side)."""


@dataclass(frozen=True)
class IOFacts:
    """Stated shapes: ``inputs`` by input name, ``outputs`` by position (``None``: that output is not stated).

    ``source`` names the facts in messages (``"the gfpgan_1.4 facts"``).
    """

    source: str
    inputs: Mapping[str, Shape] = field(default_factory=dict)
    outputs: tuple[Shape | None, ...] = ()


def _static(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _difference(info: TensorInfo, expected: Shape) -> str | None:
    """Why a graph tensor does not fit a stated shape, or ``None`` when it does (dynamic sizes fit anything)."""
    shown = "[" + ", ".join(str(dim) if _static(dim) is not None else "?" for dim in info.shape) + "]"
    wanted = "[" + ", ".join("N" if i == 0 and size is None else str(size or "?") for i, size in enumerate(expected)) + "]"
    if len(info.shape) != len(expected):
        return f"{info.name} is {shown} (rank {len(info.shape)}), not {wanted} (rank {len(expected)})"
    for axis, (dim, size) in enumerate(zip(info.shape, expected)):
        actual = _static(dim)
        if size is not None and actual is not None and actual != size:
            return f"{info.name} is {shown}, not {wanted} (axis {axis}: {actual}, not {size})"
    return None


def io_problems(model: ModelSession, facts: IOFacts) -> list[str]:
    """Every way ``model``'s signature differs from ``facts`` (empty when it fits)."""
    inputs = {info.name: info for info in model.inputs}
    problems = []
    for name, expected in facts.inputs.items():
        info = inputs.get(name)
        if info is None:
            problems.append(f"it has no input {name!r} (inputs: {sorted(inputs)})")
            continue
        problem = _difference(info, expected)
        if problem is not None:
            problems.append(f"input {problem}")
    outputs: Sequence[TensorInfo] = model.outputs
    for position, expected_output in enumerate(facts.outputs):
        if expected_output is None:
            continue
        if position >= len(outputs):
            problems.append(f"it has {len(outputs)} output(s), the facts state output {position + 1}")
            continue
        problem = _difference(outputs[position], expected_output)
        if problem is not None:
            problems.append(f"output {problem}")
    return problems


def check_io(model: ModelSession, facts: IOFacts) -> None:
    """Raise unless ``model``'s inputs and outputs fit ``facts``.

    Raises:
        ModelMismatchError: e.g. "gfpgan_1.4.onnx does not match the gfpgan_1.4 facts: input input is [1, 3, 256, 256],
            not [N, 3, 512, 512] (axis 2: 256, not 512)".
    """
    problems = io_problems(model, facts)
    if problems:
        raise ModelMismatchError(
            f"{model.path.name} does not match {facts.source}: {'; '.join(problems)}. "
            "Use the model file these facts describe, or a name/family whose facts fit this file."
        )


def _non_finite(output: Any) -> int:
    """How many values of a numpy array or torch tensor are NaN or infinite (0 for integer outputs)."""
    if isinstance(output, np.ndarray):
        return 0 if np.issubdtype(output.dtype, np.integer) else int(output.size - np.count_nonzero(np.isfinite(output)))
    import torch

    if not output.is_floating_point():
        return 0
    finite = torch.isfinite(output)
    return 0 if bool(finite.all()) else int(finite.numel() - int(finite.sum()))


def check_outputs(model: ModelSession, facts: IOFacts | None, outputs: Sequence[Any]) -> None:
    """Raise unless every output (numpy array or torch tensor) is finite and fits its stated shape (``facts.outputs``).

    The batch axis is not compared (a call may hold fewer items than the graph's fixed batch). Every
    run of every model passes here once (``runner.ModelRunner._outputs``), so no NaN and no wrongly
    sized output reaches a stage.

    Raises:
        ModelOutputError: e.g. "gfpgan_1.4.onnx gave output 'output' of shape [1, 3, 256, 256]; its facts
            (the gfpgan_1.4 facts) state [N, 3, 512, 512]" or "... 1,234 NaN or infinite values".
    """
    names = [info.name for info in model.outputs]
    stated = facts.outputs if facts is not None else ()
    for position, output in enumerate(outputs):
        name = names[position] if position < len(names) else f"#{position + 1}"
        shape = tuple(int(size) for size in output.shape)
        expected = stated[position] if position < len(stated) else None
        if expected is not None and facts is not None:
            wrong = len(shape) != len(expected) or any(
                want is not None and axis > 0 and got != want for axis, (got, want) in enumerate(zip(shape, expected))
            )
            if wrong:
                wanted = "[" + ", ".join("N" if size is None else str(size) for size in expected) + "]"
                raise ModelOutputError(
                    f"{model.path.name} gave output {name!r} of shape {list(shape)}; {facts.source} state {wanted}. "
                    "The file is not the model its name or family says; use the right file."
                )
        bad = _non_finite(output)
        if bad:
            raise ModelOutputError(
                f"{model.path.name} gave {bad:,} NaN or infinite value(s) in output {name!r} (shape {list(shape)}); "
                "the face it ran on is left as it was. A broken export or a precision overflow; try another file or float32."
            )
