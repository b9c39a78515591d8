"""The inswapper family (inswapper_128 and its fp16 twin): its facts, identity projection, swapper and loader.

insightface's recipe (``model_zoo/inswapper.py``), followed here:

- latent = ``normed_embedding @ emap``, divided by its L2 norm (``emap`` = the graph's last initializer);
  FaceFusion leaves out the division (latent rule ``facefusion``, ``swapper_facts.LATENT_RULES``);
- target crop: 5-point similarity to the ``arcface_128`` template at 128 px, black border, fed as RGB ``pixel / 255``;
- output ``[1, 3, 128, 128]`` RGB in 0..1, pasted back with the eroded, blurred square mask (``geometry.paste_back``;
  the family's ``paste`` fact, ``swapper_facts.INSWAPPER``).

Everything specific to this family lives here; ``run`` drives any swapper with the same surface
(``run.Swapper``): a template and crop size, a source identity space, ``project`` and
``project_rows`` for latents, and ``swap_crops``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..catalog import W600K_R50_SPACE
from ..download import resolve_model
from ..errors import IncompatibleIdentitiesError, InvalidArgumentError, InvalidImageError, ModelMismatchError
from ..onnx_graph import last_initializer
from ..runner import LoadKeywords, LoadOptions, load_options, load_runner, open_model
from ..runtime import ModelSession, TensorInfo, declared_embedding_space, require_kind
from ..swapper_facts import INSWAPPER, LATENT_RULES, FamilyFacts, LatentRule
from ..types import Identity
from .backends import SWAPPER_BATCH, SwapperBackend, swapper_io, swapper_probe

if TYPE_CHECKING:
    from typing_extensions import Unpack

INSWAPPER_TEMPLATE = "arcface_128"
"""inswapper crops with insightface's 128 rule: ``(arcface_dst + [8, 0]) * size / 128``."""
INSWAPPER_INPUT_SIZE = 128
"""inswapper's crop side in pixels (used when neither the graph nor the catalog says)."""


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
    norms = np.linalg.norm(latents, axis=1, keepdims=True)
    return (latents / np.maximum(norms, 1e-12)).astype(np.float32)


class InswapperSwapper:
    """inswapper_128 (or a model with its I/O): identity latents in, swapped 128 crops out.

    Attributes:
        name: catalog name or file stem.
        emap: ``[D, D]`` float32, the graph's last initializer (the identity projection).
        embedding_space: the identity space the projection expects (``arcface_w600k_r50``).
        input_size: model crop side (128). template: alignment template (``arcface_128``).
        backend: what runs the graph (onnxruntime session, or a converted torch module).
        facts: the family's row (``swapper_facts.INSWAPPER``: its paste recipe).
    """

    facts: FamilyFacts = INSWAPPER

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
        matrix = np.asarray(emap, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ModelMismatchError(f"{name}: the emap must be a square [D, D] matrix, got shape {matrix.shape}")
        matrix.setflags(write=False)
        self.backend = backend
        self.model = model
        self.emap = matrix
        self.name = name
        self.input_size = int(input_size)
        self.template = template
        self.embedding_space = embedding_space

    @property
    def dimension(self) -> int:
        return int(self.emap.shape[0])

    def __repr__(self) -> str:
        return (
            f"InswapperSwapper({self.name!r}, size={self.input_size}, space={self.embedding_space}, "
            f"backend={self.backend.describe()})"
        )

    def require_compatible(self, identity: Identity, role: str = "source") -> None:
        """Raise unless ``identity`` lives in the space the emap projects from (w600k_r50, 512-d).

        Raises:
            IncompatibleIdentitiesError: names the identity's model and says how to make a usable one.
        """
        if identity.model_id != self.embedding_space or identity.dimension != self.dimension:
            raise IncompatibleIdentitiesError(
                f"{self.name} needs a {role} identity from {self.embedding_space} ({self.dimension}-d); this one "
                f"comes from {identity.model_id} ({identity.dimension}-d). inswapper's identity projection only "
                f"makes sense for that ArcFace space: embed the {role} face with the {W600K_R50_SPACE} recognizer."
            )

    def project(self, identity: Identity, rule: LatentRule | str = "insightface") -> NDArray[np.float32]:
        """``[D]`` float32 latent of an identity: its unit centroid through the emap, re-normalised under ``rule`` insightface.

        Raises:
            IncompatibleIdentitiesError: not a w600k_r50 512-d identity.
        """
        self.require_compatible(identity)
        return project_embeddings(identity.centroid(), self.emap, rule)[0]

    def project_rows(self, normed: NDArray[np.floating], rule: LatentRule | str = "insightface") -> NDArray[np.float32]:
        """``[K, D]`` float32 latents of ``[K, D]`` unit embeddings of this space (``project_embeddings``)."""
        return project_embeddings(normed, self.emap, rule)

    def swap_crops(self, crops: NDArray[np.floating], latents: NDArray[np.floating]) -> NDArray[np.float32]:
        """Run the swapper on aligned crops.

        Args:
            crops: ``[N, S, S, 3]`` float32 RGB 0..1, aligned with ``self.template`` at ``S = self.input_size``.
            latents: ``[N, D]`` float32 unit latents (``project`` / ``blend_latents``), one per crop.

        Returns:
            ``[N, S, S, 3]`` float32 RGB clipped to 0..1.
        """
        size = self.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise InvalidImageError(f"{self.name} takes [N, {size}, {size}, 3] RGB crops, got shape {crops.shape}")
        latent_rows = np.asarray(latents, dtype=np.float32).reshape(-1, self.dimension)
        if latent_rows.shape[0] != crops.shape[0]:
            raise InvalidArgumentError(f"{crops.shape[0]} crops but {latent_rows.shape[0]} latents")
        if crops.shape[0] == 0:
            return np.zeros((0, size, size, 3), dtype=np.float32)
        blob = np.ascontiguousarray(np.asarray(crops, dtype=np.float32).transpose(0, 3, 1, 2))
        output = self.backend.run(blob, latent_rows)
        return np.clip(output.transpose(0, 2, 3, 1), 0.0, 1.0).astype(np.float32, copy=False)


def swap_inputs(model: ModelSession) -> tuple[TensorInfo, TensorInfo]:
    """A swapper graph's ``(target, source)`` inputs: by name, else the image input and the vector input."""
    by_name = {info.name: info for info in model.inputs}
    if "target" in by_name and "source" in by_name:
        return by_name["target"], by_name["source"]
    images = [info for info in model.inputs if len(info.shape) == 4]
    vectors = [info for info in model.inputs if len(info.shape) == 2]
    if len(images) != 1 or len(vectors) != 1:
        raise ModelMismatchError(f"{model.path.name}: expected an image input and a vector input, got {model.inputs}")
    return images[0], vectors[0]


def load_inswapper(
    name_or_path: str | os.PathLike[str] = "inswapper_128",
    folders: Sequence[str | os.PathLike[str]] = (),
    options: LoadOptions | None = None,
    *,
    embedding_space: str | None = None,
    **keywords: Unpack[LoadKeywords],
) -> InswapperSwapper:
    """Find (or download), open and check an inswapper-style swapper.

    Args:
        name_or_path: ``inswapper_128``, ``inswapper_128_fp16`` or an ``.onnx`` path (an existing
            ``insightface/inswapper_128.onnx`` in ``folders`` is found as is).
        folders: model folders to search before downloading.
        options: how to find and run it (``runner.LoadOptions``; its fields may also be given as keywords):
            ``providers``, ``strict``, ``device_id`` (onnxruntime); ``backend`` ``onnxruntime``, ``torch`` (the
            graph converted by ``face_identity.convert`` on ``device`` in ``dtype``, checked against
            onnxruntime on a probe at load) or ``auto`` (so on a GPU device when the conversion is exact).
        embedding_space: identity space the emap expects (default: the one the file declares in its ONNX
            metadata, ``runtime.EMBEDDING_SPACE_METADATA_KEY``; else the catalog's, else ``arcface_w600k_r50``).

    Raises:
        ModelMismatchError: not a swapper, or the last initializer is not a ``[D, D]`` emap for the ``[1, D]`` source.
        ModelConversionError: ``backend="torch"`` and the graph does not convert exactly.
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ProviderUnavailableError.

    Without onnxruntime installed, ``auto`` and ``torch`` run the torch conversion (not compared with
    onnxruntime then); ``onnxruntime`` raises ``ProviderUnavailableError`` saying how to install it.
    Once the torch backend is chosen no onnxruntime session stays open (``runtime.graph_session``).
    """
    settings = load_options(options, keywords)
    resolved = resolve_model(name_or_path, folders, allow_download=settings.allow_download)
    model, backend = open_model(resolved.path, settings)
    require_kind(model, "swapper")
    target, source = swap_inputs(model)
    emap = last_initializer(resolved.path)
    source_dim = source.shape[1] if isinstance(source.shape[1], int) and source.shape[1] > 0 else emap.shape[-1]
    if emap.shape != (source_dim, source_dim):
        raise ModelMismatchError(
            f"{resolved.path.name}: the last initializer has shape {list(emap.shape)}, not the "
            f"[{source_dim}, {source_dim}] identity projection (emap) inswapper keeps there. "
            "This swapper is not inswapper-compatible."
        )
    spec = resolved.spec if resolved.spec is not None and resolved.spec.role == "swapper" else None
    side = target.shape[2]
    input_size = int(side) if isinstance(side, int) and side > 0 else (spec.input_size[1] if spec else INSWAPPER_INPUT_SIZE)
    io = swapper_io("inswapper's I/O", target.name, source.name, input_size, int(source_dim))
    probe = swapper_probe(target.name, source.name, input_size, int(source_dim))
    names = (target.name, source.name)
    chosen = load_runner(model, backend, settings, probe, io=io, input_names=names, max_batch=SWAPPER_BATCH)
    model = chosen.model
    return InswapperSwapper(
        chosen,
        model,
        emap,
        spec.name if spec else resolved.path.stem,
        input_size,
        spec.template if spec and spec.template else INSWAPPER_TEMPLATE,
        embedding_space
        or declared_embedding_space(model)
        or (spec.embedding_space if spec and spec.embedding_space else W600K_R50_SPACE),
    )
