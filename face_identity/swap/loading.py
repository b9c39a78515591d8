"""``load_swapper``: find a swapper file, pick its row of facts, and build the swapper that runs it.

The row (``swapper_facts.FamilyFacts``) comes from, in order: the ``family`` argument (its row of the
graph's crop side); the catalog row of the file's name (``swapper_facts.SWAPPER_FACTS``); the graph
itself (``swapper_facts.rows_for_graph``: the rows of its crop side and of its learned-mask output, and
where that leaves several, whether its last initializer is a ``[D, D]`` emap). A 256 graph without a mask
output or an emap could be SimSwap, GHOST, HifiFace or AlphaFace, which differ only in their facts, so it
needs ``family=``. Everything after the row is the same for every family: the row says how the graph is
checked, probed and fed (``embedding_swapper.EmbeddingSwapper``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..catalog import W600K_R50_SPACE
from ..download import resolve_model
from ..errors import ModelMismatchError
from ..onnx_graph import last_initializer
from ..runner import LoadKeywords, LoadOptions, ModelRunner, Probe, load_options, load_runner, open_model
from ..runtime import ModelSession, TensorInfo, declared_embedding_space, require_kind
from ..swapper_facts import LEARNED_MASK_OUTPUT, SWAPPER_FACTS, SWAPPER_FAMILY_NAMES, FamilyFacts, family_facts, rows_for_graph
from .backends import SWAPPER_BATCH, swapper_io, swapper_probe
from .embedding_swapper import SOURCE_DIMENSION, EmbeddingConverter, EmbeddingSwapper

if TYPE_CHECKING:
    from typing_extensions import Unpack


def swap_inputs(model: ModelSession, names: tuple[str, str] = ("target", "source")) -> tuple[TensorInfo, TensorInfo]:
    """A swapper graph's ``(target, source)`` inputs: by the row's names, else the image input and the vector input."""
    by_name = {info.name: info for info in model.inputs}
    if names[0] in by_name and names[1] in by_name:
        return by_name[names[0]], by_name[names[1]]
    images = [info for info in model.inputs if len(info.shape) == 4]
    vectors = [info for info in model.inputs if len(info.shape) == 2]
    if len(images) != 1 or len(vectors) != 1:
        raise ModelMismatchError(f"{model.path.name}: expected an image input and a vector input, got {model.inputs}")
    return images[0], vectors[0]


def _emap(path: Any, source: TensorInfo) -> NDArray[np.float32] | None:
    """The graph's last initializer when it is a ``[D, D]`` identity projection for the ``[1, D]`` source, else None."""
    emap = last_initializer(path)
    dimension = source.shape[1] if isinstance(source.shape[1], int) and source.shape[1] > 0 else emap.shape[-1]
    return emap if emap.shape == (dimension, dimension) else None


def _facts_for(model: ModelSession, path: Any, spec_name: str | None, family: str | None) -> FamilyFacts:
    """The row a swapper graph runs by (see the module docstring), or raise asking for ``family=``."""
    if family is None and spec_name in SWAPPER_FACTS:
        return SWAPPER_FACTS[spec_name].facts
    target, source = swap_inputs(model)
    side = target.shape[2] if isinstance(target.shape[2], int) and target.shape[2] > 0 else None
    has_mask = any(info.name == LEARNED_MASK_OUTPUT for info in model.outputs[1:])
    rows = rows_for_graph(side, has_mask, family)
    if len(rows) > 1:
        projected = _emap(path, source) is not None
        rows = [row for row in rows if (row.source == "emap") == projected]
    if len(rows) == 1:
        return rows[0]
    families = sorted({row.family for row in rows_for_graph(side, has_mask)}) or list(SWAPPER_FAMILY_NAMES)
    raise ModelMismatchError(
        f"{model.path.name}: a {side or 'dynamic'}-px swapper whose family its graph does not tell ("
        f"{', '.join(families)} share such inputs); pass family= one of {', '.join(repr(name) for name in families)} "
        "(or use a catalog name)."
    )


def load_converter(
    name_or_path: str | os.PathLike[str],
    folders: Sequence[str | os.PathLike[str]] = (),
    options: LoadOptions | None = None,
    **keywords: Unpack[LoadKeywords],
) -> EmbeddingConverter:
    """Find (or download with its ``.hash``), open and check a crossface converter (``input [1, 512]`` -> ``[1, 512]``).

    ``options`` (or its fields as keywords) as for ``load_swapper``; a converter runs in torch only where
    ``auto`` would put it there (a GPU device, or no onnxruntime), since it is tiny.

    Raises:
        ModelMismatchError: not a one-vector-in, one-vector-out graph.
        ModelFileError, ModelNotAvailableError, ModelIntegrityError.
    """
    settings = load_options(options, keywords)
    settings = replace(settings, backend="onnxruntime" if settings.backend == "onnxruntime" else "auto")
    resolved = resolve_model(name_or_path, folders, allow_download=settings.allow_download)
    model, backend = open_model(resolved.path, settings)
    name = resolved.spec.name if resolved.spec else resolved.path.stem
    EmbeddingConverter(ModelRunner(model), name)  # checks the signature before anything runs
    rows = np.random.default_rng(512).normal(size=(2, SOURCE_DIMENSION)).astype(np.float32)
    probe = Probe({model.inputs[0].name: rows}, (model.inputs[0].name,))
    return EmbeddingConverter(load_runner(model, backend, settings, probe), name)


def load_swapper(
    name_or_path: str | os.PathLike[str] = "inswapper_128",
    folders: Sequence[str | os.PathLike[str]] = (),
    options: LoadOptions | None = None,
    *,
    embedding_space: str | None = None,
    family: str | None = None,
    converter: str | os.PathLike[str] | None = None,
    learned_mask: bool = True,
    **keywords: Unpack[LoadKeywords],
) -> EmbeddingSwapper:
    """Find (or download), open and check a swapper of any family (``swapper_facts.SWAPPER_FACTS``).

    Args:
        name_or_path: a catalog name (``inswapper_128``, ``hyperswap_1a_256``, ``simswap_256``, ...) or an
            ``.onnx`` path (an existing ``insightface/inswapper_128.onnx`` in ``folders`` is found as is).
        folders: model folders to search before downloading (the converter is looked up there too).
        options: how to find and run it (``runner.LoadOptions``; its fields may also be given as keywords):
            ``providers``, ``strict``, ``device_id`` (onnxruntime); ``backend``, ``device``, ``dtype``:
            ``onnxruntime``, ``torch`` or ``auto`` (the torch conversion is checked against onnxruntime
            on a probe, every output included). Without onnxruntime installed, ``auto`` and ``torch`` run
            the torch conversion (not compared then); ``onnxruntime`` raises ``ProviderUnavailableError``.
        embedding_space: identity space the swapper is fed from (default: the file's ONNX metadata,
            ``runtime.EMBEDDING_SPACE_METADATA_KEY``; else the catalog's, else w600k_r50).
        family: a ``swapper_facts.SWAPPER_FAMILY_NAMES`` name for a file the catalog does not name
            (default: from the catalog name, else from the graph).
        converter: crossface converter name or path (default: the family's catalog converter).
        learned_mask: use a HyperSwap-style ``mask`` output as the paste mask when the graph has one.

    Raises:
        ModelMismatchError: not a swapper, its family cannot be told from the graph, or a family fed
            through the emap whose last initializer is not a ``[D, D]`` emap for the ``[1, D]`` source.
        InvalidArgumentError: unknown backend or family.
        ModelConversionError, ModelFileError, ModelNotAvailableError, ModelIntegrityError, ProviderUnavailableError.
    """
    settings = load_options(options, keywords)
    if family is not None:
        family_facts(family)
    resolved = resolve_model(name_or_path, folders, allow_download=settings.allow_download)
    spec = resolved.spec if resolved.spec is not None and resolved.spec.role == "swapper" else None
    model, backend = open_model(resolved.path, settings)
    require_kind(model, "swapper")
    facts = _facts_for(model, resolved.path, spec.name if spec else None, family)
    target, source = swap_inputs(model, facts.inputs)
    emap = None
    if facts.source == "emap":
        emap = _emap(resolved.path, source)
        if emap is None:
            raise ModelMismatchError(
                f"{resolved.path.name}: the last initializer is not the [D, D] identity projection (emap) the "
                f"{facts.family} family keeps there for its [1, D] source. This swapper is not {facts.family}-compatible."
            )
    dimension = SOURCE_DIMENSION if emap is None else int(emap.shape[0])
    io = swapper_io(f"the {facts.family} facts", target.name, source.name, facts.size, dimension)
    probe = swapper_probe(target.name, source.name, facts.size, dimension)
    names = (target.name, source.name)
    chosen = load_runner(model, backend, settings, probe, io=io, input_names=names, max_batch=SWAPPER_BATCH)
    embedding_converter = None
    if facts.converter is not None:
        embedding_converter = load_converter(converter or facts.converter, folders, settings)
    has_mask = any(info.name == LEARNED_MASK_OUTPUT for info in chosen.model.outputs[1:])
    return EmbeddingSwapper(
        chosen,
        chosen.model,
        facts,
        spec.name if spec else resolved.path.stem,
        embedding_space
        or declared_embedding_space(chosen.model)
        or (spec.embedding_space if spec and spec.embedding_space else W600K_R50_SPACE),
        embedding_converter,
        has_learned_mask=has_mask,
        use_learned_mask=learned_mask,
        emap=emap,
    )


def load_inswapper(
    name_or_path: str | os.PathLike[str] = "inswapper_128",
    folders: Sequence[str | os.PathLike[str]] = (),
    options: LoadOptions | None = None,
    *,
    embedding_space: str | None = None,
    **keywords: Unpack[LoadKeywords],
) -> EmbeddingSwapper:
    """``load_swapper`` with ``family="inswapper"``: the file must carry an emap (``ModelMismatchError`` otherwise)."""
    return load_swapper(name_or_path, folders, options, embedding_space=embedding_space, family="inswapper", **keywords)
