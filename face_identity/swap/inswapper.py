"""The inswapper family (inswapper_128 and its fp16 twin): the names callers already use for it.

Its facts are one row, ``swapper_facts.INSWAPPER`` (insightface's ``model_zoo/inswapper.py``):

- latent = ``normed_embedding @ emap``, divided by its L2 norm (``emap`` = the graph's last initializer);
  FaceFusion leaves out the division (latent rule ``facefusion``, ``swapper_facts.LATENT_RULES``);
- target crop: 5-point similarity to the ``arcface_128`` template at 128 px, black border, fed as RGB ``pixel / 255``;
- output ``[1, 3, 128, 128]`` RGB in 0..1, pasted back with the eroded, blurred square mask (``geometry.paste_back``;
  the row's ``paste`` fact).

``embedding_swapper.EmbeddingSwapper`` runs it from that row like every other family; ``InswapperSwapper``
is that class with inswapper's constructor (an emap, a size and a template instead of a row).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ..catalog import W600K_R50_SPACE
from ..runtime import ModelSession
from ..swapper_facts import INSWAPPER
from .backends import SwapperBackend
from .embedding_swapper import EmbeddingSwapper, project_embeddings

__all__ = ["INSWAPPER_INPUT_SIZE", "INSWAPPER_TEMPLATE", "InswapperSwapper", "project_embeddings"]

INSWAPPER_TEMPLATE = INSWAPPER.template
"""inswapper crops with insightface's 128 rule: ``(arcface_dst + [8, 0]) * size / 128``."""
INSWAPPER_INPUT_SIZE = INSWAPPER.size
"""inswapper's crop side in pixels."""


class InswapperSwapper(EmbeddingSwapper):
    """An inswapper-style swapper built from its emap: ``EmbeddingSwapper`` on the ``INSWAPPER`` row.

    Args:
        backend: what runs the graph. model: its onnxruntime session, if any.
        emap: ``[D, D]`` the graph's last initializer (the identity projection).
        name: catalog name or file stem. input_size, template: the crop (default: the row's, 128 and ``arcface_128``).
        embedding_space: the identity space the emap projects from.
    """

    def __init__(
        self,
        backend: SwapperBackend,
        model: ModelSession | None,
        emap: NDArray[np.floating],
        name: str,
        input_size: int = INSWAPPER_INPUT_SIZE,
        template: str = INSWAPPER_TEMPLATE,
        embedding_space: str = W600K_R50_SPACE,
    ) -> None:
        facts = replace(INSWAPPER, size=int(input_size), template=template)
        super().__init__(backend, model, facts, name, embedding_space, emap=emap)
