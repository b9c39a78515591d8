"""One swapper class for every family, run from its row of facts (``swapper_facts.FamilyFacts``).

The path of a swap, per crop: RGB 0..1 crop -> ``(crop - mean) / std`` -> ``target`` ``[N, 3, S, S]``;
identity -> ``source`` ``[N, D]`` by the family's source rule (inswapper's emap latent, the unit or the
raw embedding, or a crossface converter's output, raw or re-normalised), blended with the target
face's own embedding below full strength by the family's blend rule; the graph's first output,
``* std + mean`` when the family de-normalises, clipped to 0..1; its ``mask`` output (HyperSwap),
when present and wanted, becomes the paste mask. Nothing here names a family: every difference is a
field of the row.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..errors import IncompatibleIdentitiesError, InvalidArgumentError, InvalidImageError, ModelMismatchError
from ..runner import ModelRunner
from ..runtime import ModelSession
from ..swapper_facts import LATENT_RULES, FamilyFacts, LatentRule, strength_share
from ..types import Identity
from .backends import SwapperBackend

SOURCE_DIMENSION = 512
"""Every embedding-driven swapper and crossface converter takes a ``[1, 512]`` vector."""


def unit_rows(rows: NDArray[np.floating]) -> NDArray[np.float64]:
    """``[K, D]`` rows divided by their L2 norms (float64; zero rows stay zero)."""
    values = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


def project_embeddings(
    normed: NDArray[np.floating], emap: NDArray[np.floating], rule: LatentRule | str = "insightface"
) -> NDArray[np.float32]:
    """inswapper's latent: ``latent = normed @ emap``, each row divided by its L2 norm (insightface) or not (FaceFusion).

    Args:
        normed: ``[D]`` or ``[K, D]`` unit-length w600k_r50 embeddings.
        emap: ``[D, D]`` the swapper's last initializer.
        rule: ``insightface`` (re-normalised, ``INSwapper.get``) or ``facefusion`` (not re-normalised).

    Returns:
        ``[K, D]`` float32 rows (computed in float64), unit rows under the insightface rule.

    Raises:
        InvalidArgumentError: unknown rule.
    """
    if rule not in LATENT_RULES:
        raise InvalidArgumentError(f"unknown inswapper latent rule {rule!r}; use one of {', '.join(LATENT_RULES)}")
    rows = np.atleast_2d(np.asarray(normed, dtype=np.float64))
    latents = rows @ np.asarray(emap, dtype=np.float64)
    if rule == "facefusion":
        return latents.astype(np.float32)
    return unit_rows(latents).astype(np.float32)


def blend_latents(
    source_latent: NDArray[np.floating], target_latents: NDArray[np.floating], strength: float, normalise: bool = True
) -> NDArray[np.float32]:
    """Swap strength: ``normalise(s * source_latent + (1 - s) * target_latent)`` per target row.

    Args:
        source_latent: ``[D]`` latent of the source identity (``Swapper.project``).
        target_latents: ``[K, D]`` latents of the target faces' own identities.
        strength: ``s`` in 0..1; 1 returns the source latent for every row.
        normalise: divide each mixed row by its L2 norm (the insightface latent rule); False keeps the plain mix.

    Returns:
        ``[K, D]`` float32 rows (unit rows when ``normalise``).
    """
    if not 0.0 <= strength <= 1.0:
        raise InvalidArgumentError(f"swap strength must lie in 0..1, got {strength}")
    source = np.asarray(source_latent, dtype=np.float64).reshape(1, -1)
    targets = np.atleast_2d(np.asarray(target_latents, dtype=np.float64))
    mixed = strength * source + (1.0 - strength) * targets
    if not normalise:
        return mixed.astype(np.float32)
    norms = np.linalg.norm(mixed, axis=1, keepdims=True)
    return (mixed / np.maximum(norms, 1e-12)).astype(np.float32)


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
    """Any swapper family (inswapper, HyperSwap, SimSwap, GHOST, HifiFace, AlphaFace, or any graph with a
    ``target`` ``[1, 3, S, S]`` and a ``source`` ``[1, D]`` input) run by its row of facts.

    Attributes:
        name: catalog name or file stem. facts: the family's row (template, size, normalisation, rules).
        backend: what runs the swapper graph. model: its onnxruntime session.
        converter: the crossface converter (families whose source rule is ``converter_*``), else ``None``.
        emap: ``[D, D]`` float32, the graph's last initializer (source rule ``emap``), else ``None``.
        embedding_space: the identity space its source identities come from (w600k_r50).
        template, input_size: the row's alignment template and crop side. pixel_boost_factors: the row's.
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
        emap: NDArray[np.floating] | None = None,
    ) -> None:
        if facts.source in ("converter_raw", "converter_unit") and converter is None:
            raise InvalidArgumentError(f"{name}: the {facts.family} family needs its {facts.converter} converter")
        matrix = None
        if facts.source == "emap":
            matrix = np.asarray(emap, dtype=np.float32) if emap is not None else np.zeros(0, np.float32)
            if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
                raise ModelMismatchError(f"{name}: the emap must be a square [D, D] matrix, got shape {matrix.shape}")
            matrix.setflags(write=False)
        self.backend = backend
        self.model = model
        self.facts = facts
        self.name = name
        self.embedding_space = embedding_space
        self.converter = converter
        self.emap = matrix
        self.has_learned_mask = bool(has_learned_mask)
        self.use_learned_mask = bool(use_learned_mask) and self.has_learned_mask
        self.template = facts.template
        self.input_size = int(facts.size)
        self.pixel_boost_factors = facts.boost_factors

    @property
    def dimension(self) -> int:
        return SOURCE_DIMENSION if self.emap is None else int(self.emap.shape[0])

    def __repr__(self) -> str:
        mask = ", learned mask" if self.use_learned_mask else ""
        return (
            f"{type(self).__name__}({self.name!r}, family={self.facts.family}, size={self.input_size}, "
            f"space={self.embedding_space}{mask}, backend={self.backend.describe()})"
        )

    def require_compatible(self, identity: Identity, role: str = "source") -> None:
        """Raise unless ``identity`` lives in the space this swapper is fed from (w600k_r50, 512-d), and,
        for a family fed the raw embedding, knows its raw norm.

        Raises:
            IncompatibleIdentitiesError: names the identity's model and says how to make a usable one.
        """
        if identity.model_id != self.embedding_space or identity.dimension != self.dimension:
            route = {
                "emap": "through the graph's identity projection (emap), which",
                "converter_raw": f"through {self.facts.converter}, which",
                "converter_unit": f"through {self.facts.converter}, which",
            }.get(self.facts.source, "directly; it")
            raise IncompatibleIdentitiesError(
                f"{self.name} needs a {role} identity from {self.embedding_space} ({self.dimension}-d); this one comes "
                f"from {identity.model_id} ({identity.dimension}-d). {self.facts.family} takes the embedding {route} only "
                f"understands that ArcFace space: embed the {role} face with the {self.embedding_space} recognizer."
            )
        if self.facts.needs_raw and identity.raw_norm <= 0:
            raise IncompatibleIdentitiesError(
                f"{self.name} ({self.facts.family}) is fed the raw, un-normalised {self.embedding_space} embedding, and "
                f"this {role} identity does not know its raw norm (0 = unknown): embed the {role} faces again with the "
                "recognizer (saved identities keep the norms), or use a family fed the unit embedding."
            )

    def project_rows(
        self, normed: NDArray[np.floating], rule: LatentRule | str = "insightface", raw: NDArray[np.floating] | None = None
    ) -> NDArray[np.float32]:
        """``[K, D]`` ``source`` vectors for ``[K, D]`` unit embeddings, by the family's source rule.

        ``rule``: inswapper's latent rule (``swapper_facts.LATENT_RULES``), read by the ``emap`` rule only.
        ``raw``: the ``[K, D]`` raw embeddings, for the ``raw`` rule (required there).
        """
        rows = unit_rows(normed)
        source = self.facts.source
        if source == "emap":
            assert self.emap is not None  # checked in __init__
            return project_embeddings(rows, self.emap, rule)
        if source == "embedding":
            return rows.astype(np.float32)
        if source == "raw":
            if raw is None:
                raise InvalidArgumentError(f"{self.name}: the {self.facts.family} family is fed raw embeddings; pass raw=")
            return np.atleast_2d(np.asarray(raw, dtype=np.float32))
        assert self.converter is not None  # checked in __init__
        converted = self.converter.convert(rows.astype(np.float32)).astype(np.float64)
        if source == "converter_unit":
            converted = unit_rows(converted)
        return converted.astype(np.float32)

    def project(self, identity: Identity, rule: LatentRule | str = "insightface") -> NDArray[np.float32]:
        """``[D]`` float32 ``source`` vector of an identity: its unit centroid (or, for the ``raw`` rule, its
        ``raw_centroid``) by the family's source rule (see ``project_rows``).

        Raises:
            IncompatibleIdentitiesError: not a w600k_r50 512-d identity, or no raw norm where the family needs it.
        """
        self.require_compatible(identity)
        raw = identity.raw_centroid()[None, :] if self.facts.needs_raw else None
        return self.project_rows(identity.centroid()[None, :], rule, raw)[0]

    def target_latents(
        self,
        source_latent: NDArray[np.floating],
        normalised: NDArray[np.floating],
        raw: NDArray[np.floating],
        strength: float,
        rule: LatentRule | str = "insightface",
    ) -> NDArray[np.float32]:
        """``[K, D]`` ``source`` vectors per target face at ``strength``, by the family's blend rule.

        - ``latent`` (inswapper): ``s * source + (1 - s) * project_rows(target)`` in emap space, re-normalised
          under the insightface latent ``rule`` (``blend_latents``).
        - ``facefusion_unit`` / ``facefusion_raw``: FaceFusion's weight rule ``source * (1 - w) + target * w``
          with ``w = 0.35 * (1 - strength)``; the target is the face's unconverted w600k_r50 embedding,
          unit or raw.

        Args:
            source_latent: ``[D]`` (``project``). normalised, raw: ``[K, D]`` unit and raw target embeddings.
        """
        if not 0.0 <= strength <= 1.0:
            raise InvalidArgumentError(f"swap strength must lie in 0..1, got {strength}")
        source = np.asarray(source_latent, dtype=np.float64).reshape(1, -1)
        if self.facts.blend == "latent":
            return blend_latents(source_latent, self.project_rows(normalised, rule, raw), strength, rule == "insightface")
        share = strength_share(strength)
        targets = np.atleast_2d(np.asarray(normalised if self.facts.blend == "facefusion_unit" else raw, dtype=np.float64))
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


def describe_facts(swapper: EmbeddingSwapper) -> str:
    """One line naming a swapper's family, size, template and how the identity is fed (for logs and nodes)."""
    facts = swapper.facts
    route = {
        "emap": "the emap",
        "embedding": "unit embedding",
        "raw": "raw embedding",
        "converter_raw": f"{facts.converter} (raw)",
        "converter_unit": f"{facts.converter} (re-normalised)",
    }[facts.source]
    return f"{swapper.name}: {facts.family}, {swapper.input_size} px, {swapper.template}, identity via {route}"
