"""``load_swapper``: find a swapper file, tell its family, and build the swapper that runs it.

The family comes from, in order: the ``family`` argument; the catalog row of the file's name
(``swapper_facts.SWAPPER_FACTS``); the graph itself (a second output ``mask`` is HyperSwap, a
``[D, D]`` last initializer with a 128 crop is inswapper, a 512 crop is SimSwap 512). A 256 graph
without a mask output could be SimSwap, GHOST or HifiFace, which differ only in their facts, so it
needs ``family=``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..catalog import W600K_R50_SPACE
from ..download import resolve_model
from ..errors import ModelMismatchError
from ..onnx_graph import last_initializer
from ..runner import LoadKeywords, LoadOptions, ModelRunner, Probe, load_options, load_runner, open_model
from ..runtime import ModelSession, declared_embedding_space, require_kind
from ..swapper_facts import SWAPPER_FACTS, FamilyFacts, family_facts
from .backends import SWAPPER_BATCH, swapper_io, swapper_probe
from .embedding_swapper import SOURCE_DIMENSION, EmbeddingConverter, EmbeddingSwapper
from .inswapper import InswapperSwapper, load_inswapper, swap_inputs

if TYPE_CHECKING:
    from typing_extensions import Unpack


def _graph_family(model: ModelSession, path: os.PathLike[str] | str) -> str:
    """The family a non-catalog swapper file shows by its graph, or raise asking for ``family=``."""
    target, source = swap_inputs(model)
    side = target.shape[2] if isinstance(target.shape[2], int) else None
    if any(info.name == "mask" for info in model.outputs[1:]):
        return "hyperswap"
    emap = last_initializer(path)
    dimension = source.shape[1] if isinstance(source.shape[1], int) and source.shape[1] > 0 else emap.shape[-1]
    if emap.shape == (dimension, dimension) and side in (128, None):
        return "inswapper"
    if side == 512:
        return "simswap"
    raise ModelMismatchError(
        f"{model.path.name}: a {side}-px swapper whose family its graph does not tell (SimSwap, GHOST and HifiFace "
        "share their inputs); pass family='simswap', 'ghost' or 'hififace' (or use a catalog name)."
    )


def _facts_for(model: ModelSession, path: Any, spec_name: str | None, family: str | None) -> FamilyFacts:
    if family is not None:
        facts = family_facts(family)
        if family == "simswap":
            target, _ = swap_inputs(model)
            if target.shape[2] == 512:
                return SWAPPER_FACTS["simswap_unofficial_512"].facts
        return facts
    if spec_name in SWAPPER_FACTS:
        return SWAPPER_FACTS[spec_name].facts
    graph_family = _graph_family(model, path)
    if graph_family == "simswap":
        return SWAPPER_FACTS["simswap_unofficial_512"].facts
    return family_facts(graph_family)


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
) -> InswapperSwapper | EmbeddingSwapper:
    """Find (or download), open and check a swapper of any family (``swapper_facts.SWAPPER_FACTS``).

    Args:
        name_or_path: a catalog name (``inswapper_128``, ``hyperswap_1a_256``, ``simswap_256``, ...) or an ``.onnx`` path.
        folders: model folders to search before downloading (the converter is looked up there too).
        options: how to find and run it (``runner.LoadOptions``; its fields may also be given as keywords):
            ``providers``, ``strict``, ``device_id`` (onnxruntime); ``backend``, ``device``, ``dtype``:
            ``onnxruntime``, ``torch`` or ``auto`` (the torch conversion is checked against onnxruntime
            on a probe, every output included).
        embedding_space: identity space the swapper is fed from (default: the file's metadata, else w600k_r50).
        family: ``inswapper``, ``hyperswap``, ``simswap``, ``ghost`` or ``hififace`` for a file the
            catalog does not name (default: from the catalog name, else from the graph).
        converter: crossface converter name or path (default: the family's catalog converter).
        learned_mask: use a HyperSwap-style ``mask`` output as the paste mask when the graph has one.

    Raises:
        ModelMismatchError: not a swapper, or its family cannot be told from the graph.
        InvalidArgumentError: unknown backend or family.
        ModelConversionError, ModelFileError, ModelNotAvailableError, ModelIntegrityError, ProviderUnavailableError.
    """
    settings = load_options(options, keywords)
    if family is not None:
        family_facts(family)
    resolved = resolve_model(name_or_path, folders, allow_download=settings.allow_download)
    spec_name = resolved.spec.name if resolved.spec is not None and resolved.spec.role == "swapper" else None
    known = family or (SWAPPER_FACTS[spec_name].facts.family if spec_name in SWAPPER_FACTS else None)
    if known == "inswapper":
        return load_inswapper(resolved.path, folders, settings, embedding_space=embedding_space)
    model, backend = open_model(resolved.path, settings)
    require_kind(model, "swapper")
    facts = _facts_for(model, resolved.path, spec_name, family)
    if facts.source == "emap":
        del model  # inswapper's loader opens (and checks) its own session
        return load_inswapper(resolved.path, folders, settings, embedding_space=embedding_space)
    target, source = swap_inputs(model)
    io = swapper_io(f"the {facts.family} facts", target.name, source.name, facts.size, SOURCE_DIMENSION)
    probe = swapper_probe(target.name, source.name, facts.size, SOURCE_DIMENSION)
    names = (target.name, source.name)
    chosen = load_runner(model, backend, settings, probe, io=io, input_names=names, max_batch=SWAPPER_BATCH)
    embedding_converter = None
    if facts.converter is not None:
        embedding_converter = load_converter(converter or facts.converter, folders, settings)
    has_mask = any(info.name == "mask" for info in chosen.model.outputs[1:])
    return EmbeddingSwapper(
        chosen,
        chosen.model,
        facts,
        spec_name or resolved.path.stem,
        embedding_space or declared_embedding_space(chosen.model) or W600K_R50_SPACE,
        embedding_converter,
        has_learned_mask=has_mask,
        use_learned_mask=learned_mask,
    )
