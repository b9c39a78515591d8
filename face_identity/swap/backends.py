"""What a swapper asks of what runs its graph: the ``SwapperBackend`` protocol (a ``runner.ModelRunner`` fits it).

Family-agnostic: a backend takes ``target [N, 3, S, S]`` crops and ``source [N, D]`` vectors exactly as
the graph wants them and returns the graph's outputs as float32. What a family feeds in
(normalisation, latents) and how it reads the output lives with the family (``inswapper``,
``embedding_swapper``). Loading, onnxruntime vs torch and the conversion check are ``face_identity.runner``'s.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from ..io_facts import IOFacts
from ..runner import TORCH_MATCH_TOLERANCE, Probe

__all__ = ["SWAPPER_BATCH", "TORCH_MATCH_TOLERANCE", "SwapperBackend", "swapper_io", "swapper_probe"]

SWAPPER_BATCH = 16
"""Crops per call for a swapper graph with a dynamic batch axis."""


class SwapperBackend(Protocol):
    """Runs the swapper graph on a batch (``runner.ModelRunner`` with ``input_names = (target, source)``)."""

    @property
    def name(self) -> str:
        """``onnxruntime`` or ``torch``."""
        ...

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32], /) -> NDArray[np.float32]:
        """``target [N, 3, S, S]`` float32 (as the family feeds it) and ``source [N, D]`` float32 -> ``[N, 3, S, S]`` float32."""
        ...

    def run_outputs(self, target: NDArray[np.float32], source: NDArray[np.float32], /) -> tuple[NDArray[np.float32], ...]:
        """As ``run``, every graph output in graph order (e.g. HyperSwap's ``output`` and ``mask``), float32."""
        ...

    def describe(self) -> str: ...

    def report(self) -> str:
        """``describe`` and the providers really active (``runner.ModelRunner.report``), for logs and nodes."""
        ...


def swapper_io(source_of_facts: str, target_name: str, source_name: str, size: int, dimension: int) -> IOFacts:
    """What a swapper's facts say of its graph: ``target [N, 3, S, S]``, ``source [N, D]`` in, ``[N, 3, S, S]`` out first."""
    return IOFacts(
        source_of_facts, {target_name: (None, 3, size, size), source_name: (None, dimension)}, ((None, 3, size, size),)
    )


def swapper_probe(target_name: str, source_name: str, size: int, dimension: int) -> Probe:
    """Seeded ``[2, 3, S, S]`` crops in 0..1 and ``[2, D]`` unit vectors for checking a swapper's torch conversion."""
    rng = np.random.default_rng(128)
    crops = rng.random((2, 3, size, size), dtype=np.float32)
    latents = rng.normal(size=(2, dimension))
    unit = (latents / np.linalg.norm(latents, axis=1, keepdims=True)).astype(np.float32)
    return Probe({target_name: crops, source_name: unit}, (target_name, source_name))
