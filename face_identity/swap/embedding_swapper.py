"""One swapper class for every embedding-driven family, run from its facts (``swapper_facts.FamilyFacts``).

The path of a swap, per crop: RGB 0..1 crop -> ``(crop - mean) / std`` -> ``target`` ``[N, 3, S, S]``;
identity -> ``source`` ``[N, 512]`` by the family's source rule (the unit embedding, or a crossface
converter's output, raw or re-normalised), blended with the target face's own embedding below full
strength by the family's blend rule; the graph's first output, ``* std + mean`` when the family
de-normalises, clipped to 0..1; its ``mask`` output (HyperSwap), when present and wanted, becomes
the paste mask. inswapper keeps its own class (``inswapper.InswapperSwapper``, emap projection).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import IncompatibleIdentitiesError, InvalidArgumentError, InvalidImageError, ModelMismatchError
from ..runner import ModelRunner
from ..runtime import ModelSession
from ..swapper_facts import FamilyFacts, strength_share
from ..types import Identity
from .backends import SwapperBackend

SOURCE_DIMENSION = 512
"""Every embedding-driven swapper and crossface converter takes a ``[1, 512]`` vector."""


def unit_rows(rows: NDArray[np.floating]) -> NDArray[np.float64]:
    """``[K, D]`` rows divided by their L2 norms (float64; zero rows stay zero)."""
    values = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


class EmbeddingConverter:
    """A crossface converter: ``[K, 512]`` w600k_r50 embeddings -> ``[K, 512]`` raw converted vectors.

    Its graph takes one ``input`` ``[1, 512]`` float32 and gives one ``[1, 512]`` output; its runner
    (``runner.ModelRunner``) sends rows one by one when the batch axis is fixed.
    """

    def __init__(self, backend: ModelRunner, name: str) -> None:
        model = backend.model
        if len(model.inputs) != 1 or len(model.outputs) < 1:
            raise ModelMismatchError(f"{name}: a crossface converter has one input and one output, got {model.inputs}")
        info = model.inputs[0]
        if len(info.shape) != 2 or (isinstance(info.shape[1], int) and info.shape[1] not in (SOURCE_DIMENSION, -1)):
            raise ModelMismatchError(f"{name}: a crossface converter takes [1, 512] vectors, its input is {list(info.shape)}")
        self.backend = backend
        self.model = model
        self.name = name

    def convert(self, rows: NDArray[np.floating]) -> NDArray[np.float32]:
        """``[K, 512]`` float rows -> ``[K, 512]`` float32 converter outputs (not normalised)."""
        values = np.atleast_2d(np.asarray(rows, dtype=np.float32))
        if not len(values):
            return np.zeros((0, SOURCE_DIMENSION), np.float32)
        return self.backend.run(values).reshape(len(values), -1)

    def __repr__(self) -> str:
        return f"EmbeddingConverter({self.name!r}, backend={self.backend.describe()})"


class EmbeddingSwapper:
    """A HyperSwap / SimSwap / GHOST / HifiFace swapper (or any graph with ``source`` ``[1, 512]`` and
    ``target`` ``[1, 3, S, S]`` inputs) run by its family facts.

    Attributes:
        name: catalog name or file stem. facts: the family's facts (template, size, normalisation, rules).
        backend: what runs the swapper graph. model: its onnxruntime session.
        converter: the crossface converter (families whose source rule is ``converter_*``), else ``None``.
        embedding_space: the identity space its source identities come from (w600k_r50).
        has_learned_mask: the graph has a second output ``mask`` ``[N, 1, S, S]``.
        use_learned_mask: read that mask (default: whenever it exists); ``SwapSettings.learned_mask`` decides whether the paste uses it.
    """

    def __init__(
        self,
        backend: SwapperBackend,
        model: ModelSession | None,
        facts: FamilyFacts,
        name: str,
        embedding_space: str,
        converter: EmbeddingConverter | None = None,
        has_learned_mask: bool = False,
        use_learned_mask: bool = True,
    ) -> None:
        if facts.source in ("converter_raw", "converter_unit") and converter is None:
            raise InvalidArgumentError(f"{name}: the {facts.family} family needs its {facts.converter} converter")
        if facts.source == "emap":
            raise InvalidArgumentError(f"{name}: emap-projected swappers are InswapperSwapper's (load_swapper picks it)")
        self.backend = backend
        self.model = model
        self.facts = facts
        self.name = name
        self.embedding_space = embedding_space
        self.converter = converter
        self.has_learned_mask = bool(has_learned_mask)
        self.use_learned_mask = bool(use_learned_mask) and self.has_learned_mask
        self.template = facts.template
        self.input_size = int(facts.size)
        self.pixel_boost_factors = facts.boost_factors

    @property
    def dimension(self) -> int:
        return SOURCE_DIMENSION

    def __repr__(self) -> str:
        mask = ", learned mask" if self.use_learned_mask else ""
        return (
            f"EmbeddingSwapper({self.name!r}, family={self.facts.family}, size={self.input_size}, "
            f"space={self.embedding_space}{mask}, backend={self.backend.describe()})"
        )

    def require_compatible(self, identity: Identity, role: str = "source") -> None:
        """Raise unless ``identity`` lives in the space this swapper is fed from (w600k_r50, 512-d).

        Raises:
            IncompatibleIdentitiesError: names the identity's model and says how to make a usable one.
        """
        if identity.model_id != self.embedding_space or identity.dimension != self.dimension:
            route = f"through {self.facts.converter}, which" if self.converter is not None else "directly; it"
            raise IncompatibleIdentitiesError(
                f"{self.name} needs a {role} identity from {self.embedding_space} ({self.dimension}-d); this one comes "
                f"from {identity.model_id} ({identity.dimension}-d). {self.facts.family} takes the embedding {route} only "
                f"understands that ArcFace space: embed the {role} face with the {self.embedding_space} recognizer."
            )

    def project_rows(self, normed: NDArray[np.floating], rule: str = "facefusion") -> NDArray[np.float32]:
        """``[K, 512]`` ``source`` vectors for ``[K, 512]`` unit embeddings, by the family's source rule.

        ``rule`` (inswapper's latent rule, ``swapper_facts.LATENT_RULES``) does not apply: these families have FaceFusion's only.
        """
        rows = unit_rows(normed)
        if self.facts.source == "embedding":
            return rows.astype(np.float32)
        assert self.converter is not None  # checked in __init__
        converted = self.converter.convert(rows.astype(np.float32)).astype(np.float64)
        if self.facts.source == "converter_unit":
            converted = unit_rows(converted)
        return converted.astype(np.float32)

    def project(self, identity: Identity, rule: str = "facefusion") -> NDArray[np.float32]:
        """``[512]`` float32 ``source`` vector of an identity's centroid (see ``project_rows``; ``rule`` does not apply).

        Raises:
            IncompatibleIdentitiesError: not a w600k_r50 512-d identity.
        """
        self.require_compatible(identity)
        return self.project_rows(identity.centroid()[None, :])[0]

    def target_latents(
        self,
        source_latent: NDArray[np.floating],
        normalised: NDArray[np.floating],
        raw: NDArray[np.floating],
        strength: float,
    ) -> NDArray[np.float32]:
        """``[K, 512]`` ``source`` vectors per target face at ``strength`` (FaceFusion's weight rule).

        ``source * (1 - w) + target * w`` with ``w = 0.35 * (1 - strength)``; the target is the face's
        unconverted w600k_r50 embedding, unit (``facefusion_unit``) or raw (``facefusion_raw``).
        """
        if not 0.0 <= strength <= 1.0:
            raise InvalidArgumentError(f"swap strength must lie in 0..1, got {strength}")
        share = strength_share(strength)
        targets = np.atleast_2d(np.asarray(normalised if self.facts.blend == "facefusion_unit" else raw, dtype=np.float64))
        source = np.asarray(source_latent, dtype=np.float64).reshape(1, -1)
        return (source * (1.0 - share) + targets * share).astype(np.float32)

    def _blob(self, crops: NDArray[np.floating]) -> NDArray[np.float32]:
        mean = np.asarray(self.facts.mean, dtype=np.float32)
        std = np.asarray(self.facts.std, dtype=np.float32)
        normalised = (np.asarray(crops, dtype=np.float32) - mean) / std
        return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2), dtype=np.float32)

    def swap_crops_masked(
        self, crops: NDArray[np.floating], latents: NDArray[np.floating]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
        """Run the swapper on aligned crops.

        Args:
            crops: ``[N, S, S, 3]`` float32 RGB 0..1, aligned with ``self.template`` at ``S = self.input_size``.
            latents: ``[N, 512]`` float32 ``source`` vectors (``project`` / ``target_latents``), one per crop.

        Returns:
            ``([N, S, S, 3]`` float32 RGB 0..1, ``[N, S, S]`` float32 0..1 learned mask or ``None``) — the mask
            only when the graph has one and ``use_learned_mask`` is on.
        """
        size = self.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise InvalidImageError(f"{self.name} takes [N, {size}, {size}, 3] RGB crops, got shape {crops.shape}")
        rows = np.asarray(latents, dtype=np.float32).reshape(-1, self.dimension)
        if rows.shape[0] != crops.shape[0]:
            raise InvalidArgumentError(f"{crops.shape[0]} crops but {rows.shape[0]} source vectors")
        if crops.shape[0] == 0:
            empty_mask = np.zeros((0, size, size), np.float32) if self.use_learned_mask else None
            return np.zeros((0, size, size, 3), dtype=np.float32), empty_mask
        outputs = self.backend.run_outputs(self._blob(crops), rows)
        images = outputs[0].transpose(0, 2, 3, 1)
        if self.facts.denormalise:
            images = images * np.asarray(self.facts.std, np.float32) + np.asarray(self.facts.mean, np.float32)
        images = np.clip(images, 0.0, 1.0).astype(np.float32, copy=False)
        mask = None
        if self.use_learned_mask and len(outputs) > 1:
            mask = np.clip(outputs[1].reshape(crops.shape[0], size, size), 0.0, 1.0).astype(np.float32, copy=False)
        return images, mask

    def swap_crops(self, crops: NDArray[np.floating], latents: NDArray[np.floating]) -> NDArray[np.float32]:
        """``swap_crops_masked`` without the mask: ``[N, S, S, 3]`` float32 RGB 0..1."""
        return self.swap_crops_masked(crops, latents)[0]


def describe_facts(swapper: Any) -> str:
    """One line naming a swapper's family, size, template and how the identity is fed (for logs and nodes)."""
    facts = swapper.facts
    if facts.source == "emap":
        return f"{swapper.name}: inswapper, {swapper.input_size} px, {swapper.template}, identity through the emap"
    route = {
        "embedding": "unit embedding",
        "converter_raw": f"{facts.converter} (raw)",
        "converter_unit": f"{facts.converter} (re-normalised)",
    }.get(facts.source, facts.source)
    return f"{swapper.name}: {facts.family}, {facts.size} px, {facts.template}, identity via {route}"
