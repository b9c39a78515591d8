"""What each embedding-driven face swapper needs, as one table of plain data (no I/O, no imports of models).

Every row is read from FaceFusion 3.x (``processors/modules/face_swapper/core.py`` model set and
``choices.py``) and facefusion-labs (``hyperswap/src/exporting.py``, ``crossface/``); the swap stage
(``swap.embedding_swapper``) runs any row, and the catalog builds its download entries from it.

Per family (all crops are RGB, the image's own colour order):

- ``template`` / ``size``: 5-point template (``align.template_points``) and model crop side.
- ``mean`` / ``std``: the crop is fed ``(rgb01 - mean) / std`` per channel (``rgb01`` = pixel / 255).
- ``denormalise``: the output is mapped back with ``output * std + mean`` (else taken as RGB 0..1); then clipped.
- ``source``: how the ``[1, D]`` ``source`` input is built from a w600k_r50 identity:
  ``emap`` (inswapper: ``unit @ emap`` re-normalised, ``emap`` = the graph's last initializer),
  ``embedding`` (the unit embedding itself), ``raw`` (the raw, un-normalised embedding:
  ``Identity.raw_centroid``, the unit centroid times the mean raw norm; refused for an identity whose
  raw norms are unknown), ``converter_raw`` (the crossface converter's output as is), ``converter_unit``
  (the converter's output L2-normalised). A crossface converter L2-normalises its own input, so feeding
  it the unit embedding equals feeding it the raw one (FaceFusion feeds raw).
- ``blend``: the strength rule. ``latent``: our inswapper rule ``unit(s * source + (1 - s) * target)``
  in emap space. ``facefusion_unit`` / ``facefusion_raw``: FaceFusion's weight rule
  ``source * (1 - w) + target * w`` with ``w = 0.35 * (1 - strength)`` (FaceFusion's
  ``interp(weight, [0, 1], [0.35, -0.35])`` at ``weight = strength / 2``, so strength 1 is its default
  0.5 and changes nothing), the target being the target face's w600k_r50 embedding, unit
  (``_unit``) or raw (``_raw``: ghost), unconverted, as FaceFusion does.
- ``inputs`` / ``outputs``: the graph's I/O names, ``(target, source)`` and the outputs in graph order
  (the first is the swapped crop; ``mask`` ``[1, 1, S, S]`` second where the family has a learned mask).
- ``learned_mask``: the graph may have a second output ``mask`` ``[1, 1, S, S]`` (HyperSwap's export).
- ``boost_factors``: the crop multiples offered (FaceFusion offers 256..1024 for the 256 models, 512..1024
  for the 512 one; factor 3 (768) is not offered here).
- ``paste``: the crop-and-paste recipe of the family's authors, the default of ``SwapSettings.paste``.
  ``facefusion`` (FaceFusion 3.8.1, ``face_helper.py`` and ``face_swapper/core.py``: crop with the
  image edge replicated; box mask, blur 0.3, combined by minimum with the other masks; that mask
  alone is the paste weight) for the families FaceFusion publishes; ``insightface`` (``INSwapper.get``:
  black border, eroded and blurred square) for inswapper.
- ``sources``: where the row's facts were read (a file of FaceFusion, facefusion-labs or insightface),
  and which facts are not confirmed.

A new family is one new ``FamilyFacts`` row (and its ``SwapperFacts`` rows): the loader
(``swap.loading``) and the swapper (``swap.embedding_swapper.EmbeddingSwapper``) read every fact from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

from .errors import InvalidArgumentError

SourceRule = Literal["emap", "embedding", "raw", "converter_raw", "converter_unit"]
BlendRule = Literal["latent", "facefusion_unit", "facefusion_raw"]
PasteStyle = Literal["facefusion", "insightface"]
PASTE_STYLES: tuple[str, ...] = get_args(PasteStyle)
"""The crop-and-paste recipes a swap can follow (``geometry.paste_crop``, ``geometry.paste_back``)."""
LatentRule = Literal["insightface", "facefusion"]
LATENT_RULES: tuple[str, ...] = get_args(LatentRule)
"""inswapper's source latent: ``insightface`` (``INSwapper.get``: ``unit @ emap`` re-normalised) or ``facefusion``
(``face_swapper/core.py``: ``raw @ emap / |raw|`` = ``unit @ emap``, not re-normalised)."""
SwapperFamilyName = Literal["inswapper", "hyperswap", "simswap", "ghost", "hififace", "alphaface"]
SWAPPER_FAMILY_NAMES: tuple[str, ...] = get_args(SwapperFamilyName)
"""Family names accepted by ``load_swapper(family=...)``."""

LEARNED_MASK_OUTPUT = "mask"
"""The name of a learned-mask output (HyperSwap's export); a graph output of that name after the first is read as one."""

FACEFUSION_WEIGHT_SPAN = 0.35
"""FaceFusion's ``--face-swapper-weight`` maps 0..1 onto a target share ``w`` of 0.35..-0.35."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)
ZERO = (0.0, 0.0, 0.0)
ONE = (1.0, 1.0, 1.0)

INSIGHTFACE_LICENCE = (
    "InsightFace model weights: non-commercial research use only "
    "(https://github.com/deepinsight/insightface#license); WebFace600K training data is research-only."
)
"""The licence of InsightFace's weights (inswapper here; the catalog's recognizer and detectors too)."""
INSIGHTFACE_SWAP_LICENCE = INSIGHTFACE_LICENCE
HYPERSWAP_LICENCE = "ResearchRAIL (FaceFusion): research use with behavioural restrictions; not for commercial use."
SIMSWAP_LICENCE = "Non-commercial (neuralchen/SimSwap), as FaceFusion lists it."
GHOST_LICENCE = "Apache-2.0 (ai-forever/ghost), as FaceFusion lists it."
HIFIFACE_LICENCE = "Unknown (GuijiAI unofficial HifiFace port), as FaceFusion lists it: treat as non-commercial."
ALPHAFACE_LICENCE = (
    "See FaceFusion's model card for alphaface_256 (facefusion/models-3.9.0); not verified here: check before any use."
)
CROSSFACE_LICENCE = (
    "No licence stated for the weights in FaceFusion's model set; facefusion-labs' crossface code is OpenRAIL-MS. "
    "Check before commercial use."
)


@dataclass(frozen=True)
class FamilyFacts:
    """How one swapper family is fed and read (see the module docstring for each field)."""

    family: str
    template: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    denormalise: bool
    source: SourceRule
    blend: BlendRule
    converter: str | None = None
    learned_mask: bool = False
    boost_factors: tuple[int, ...] = (1, 2, 4)
    paste: PasteStyle = "facefusion"
    inputs: tuple[str, str] = ("target", "source")
    outputs: tuple[str, ...] = ("output",)
    sources: str = ""

    @property
    def needs_raw(self) -> bool:
        """The ``source`` input is the raw (un-normalised) embedding: identities without raw norms are refused."""
        return self.source == "raw"


@dataclass(frozen=True)
class SwapperFacts:
    """One downloadable swapper: its family facts plus where it is published and under which licence.

    ``release``: the Hugging Face repository ``facefusion/<release>`` holding ``<name>.onnx`` and its
    ``<name>.hash`` sidecar (CRC32). ``file_mb``: the published file size, approximate. ``aliases``:
    relative paths under which users already keep the same file (``catalog.ModelSpec.aliases``).
    """

    name: str
    facts: FamilyFacts
    release: str
    licence: str
    file_mb: float
    description: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConverterFacts:
    """A crossface embedding converter: ``input [1, 512]`` (w600k_r50) -> one ``[1, 512]`` output."""

    name: str
    release: str
    licence: str
    file_mb: float
    description: str


FF_CORE = "FaceFusion 3.8.1 processors/modules/face_swapper/core.py (model set, forward_swap_face, prepare_source_embedding)"
INSWAPPER = FamilyFacts(
    "inswapper",
    "arcface_128",
    128,
    ZERO,
    ONE,
    False,
    "emap",
    "latent",
    paste="insightface",
    sources="insightface 2.1 model_zoo/inswapper.py (INSwapper.get: crop, emap latent, paste); " + FF_CORE,
)
HYPERSWAP = FamilyFacts(
    "hyperswap",
    "arcface_128",
    256,
    HALF,
    HALF,
    True,
    "embedding",
    "facefusion_unit",
    learned_mask=True,
    outputs=("output", LEARNED_MASK_OUTPUT),
    sources=FF_CORE + "; facefusion-labs hyperswap/src/exporting.py (I/O names, the mask output)",
)
SIMSWAP_256 = FamilyFacts(
    "simswap",
    "arcface_112_v1",
    256,
    IMAGENET_MEAN,
    IMAGENET_STD,
    False,
    "converter_unit",
    "facefusion_unit",
    "crossface_simswap",
    sources=FF_CORE + "; facefusion-labs crossface/",
)
SIMSWAP_512 = replace(SIMSWAP_256, size=512, mean=ZERO, std=ONE, boost_factors=(1, 2))
GHOST = FamilyFacts(
    "ghost",
    "arcface_112_v1",
    256,
    HALF,
    HALF,
    True,
    "converter_raw",
    "facefusion_raw",
    "crossface_ghost",
    sources=FF_CORE + "; facefusion-labs crossface/",
)
HIFIFACE = FamilyFacts(
    "hififace",
    "mtcnn_512",
    256,
    HALF,
    HALF,
    True,
    "converter_unit",
    "facefusion_unit",
    "crossface_hififace",
    sources=FF_CORE + "; facefusion-labs crossface/",
)
ALPHAFACE = FamilyFacts(
    "alphaface",
    "arcface_128",
    256,
    ZERO,
    ONE,
    False,
    "raw",
    "facefusion_raw",
    sources=(
        "FaceFusion 3.9.0 face_swapper model set as published with 3.9.0 (template, size, crop in 0..1, output "
        "not de-normalised, source = the raw w600k_r50 embedding). Not read here: the I/O names (taken as "
        "target/source/output like the other families) and the weight rule (taken as FaceFusion's rule on the "
        "raw target embedding, as for a raw source)"
    ),
)

FAMILY_DEFAULTS: dict[str, FamilyFacts] = {
    "inswapper": INSWAPPER,
    "hyperswap": HYPERSWAP,
    "simswap": SIMSWAP_256,
    "ghost": GHOST,
    "hififace": HIFIFACE,
    "alphaface": ALPHAFACE,
}
"""The facts a file of each family gets when it is not a catalog name (``load_swapper(family=...)``)."""

FAMILY_ROWS: tuple[FamilyFacts, ...] = (INSWAPPER, HYPERSWAP, SIMSWAP_256, SIMSWAP_512, GHOST, HIFIFACE, ALPHAFACE)
"""Every distinct family row (a family may have several sizes), the candidates ``rows_for_graph`` picks from."""

SWAPPER_FACTS: dict[str, SwapperFacts] = {
    row.name: row
    for row in (
        SwapperFacts(
            "inswapper_128",
            INSWAPPER,
            "models-3.0.0",
            INSIGHTFACE_SWAP_LICENCE,
            554,
            "InsightFace inswapper_128 face swapper (fp32).",
            ("insightface/inswapper_128.onnx",),
        ),
        SwapperFacts(
            "inswapper_128_fp16",
            INSWAPPER,
            "models-3.0.0",
            INSIGHTFACE_SWAP_LICENCE,
            278,
            "InsightFace inswapper_128 face swapper, fp16 weights (half the download).",
            ("insightface/inswapper_128_fp16.onnx",),
        ),
        SwapperFacts(
            "hyperswap_1a_256",
            HYPERSWAP,
            "models-3.3.0",
            HYPERSWAP_LICENCE,
            403,
            "FaceFusion HyperSwap 1a, 256 px (its default).",
        ),
        SwapperFacts("hyperswap_1b_256", HYPERSWAP, "models-3.3.0", HYPERSWAP_LICENCE, 403, "FaceFusion HyperSwap 1b, 256 px."),
        SwapperFacts("hyperswap_1c_256", HYPERSWAP, "models-3.3.0", HYPERSWAP_LICENCE, 403, "FaceFusion HyperSwap 1c, 256 px."),
        SwapperFacts("simswap_256", SIMSWAP_256, "models-3.0.0", SIMSWAP_LICENCE, 220, "SimSwap 256 px (via crossface_simswap)."),
        SwapperFacts(
            "simswap_unofficial_512",
            SIMSWAP_512,
            "models-3.0.0",
            SIMSWAP_LICENCE,
            239,
            "Unofficial SimSwap 512 px (via crossface_simswap).",
        ),
        SwapperFacts(
            "ghost_1_256", GHOST, "models-3.0.0", GHOST_LICENCE, 515, "GHOST, 1-block U-Net, 256 px (via crossface_ghost)."
        ),
        SwapperFacts(
            "ghost_2_256", GHOST, "models-3.0.0", GHOST_LICENCE, 739, "GHOST, 2-block U-Net, 256 px (via crossface_ghost)."
        ),
        SwapperFacts(
            "ghost_3_256", GHOST, "models-3.0.0", GHOST_LICENCE, 856, "GHOST, 3-block U-Net, 256 px (via crossface_ghost)."
        ),
        SwapperFacts(
            "hififace_unofficial_256",
            HIFIFACE,
            "models-3.1.0",
            HIFIFACE_LICENCE,
            204,
            "Unofficial HifiFace 256 px (via crossface_hififace).",
        ),
        SwapperFacts(
            "alphaface_256",
            ALPHAFACE,
            "models-3.9.0",
            ALPHAFACE_LICENCE,
            0,
            "FaceFusion AlphaFace, 256 px (fed the raw w600k_r50 embedding).",
        ),
    )
}
"""Every swapper the catalog knows, by catalog name."""

CONVERTER_FACTS: dict[str, ConverterFacts] = {
    row.name: row
    for row in (
        ConverterFacts(
            "crossface_simswap", "models-3.4.0", CROSSFACE_LICENCE, 22.1, "w600k_r50 -> SimSwap identity space (crossface MLP)."
        ),
        ConverterFacts(
            "crossface_ghost", "models-3.4.0", CROSSFACE_LICENCE, 22.1, "w600k_r50 -> GHOST identity space (crossface MLP)."
        ),
        ConverterFacts(
            "crossface_hififace", "models-3.4.0", CROSSFACE_LICENCE, 22.1, "w600k_r50 -> HifiFace identity space (crossface MLP)."
        ),
    )
}
"""The crossface converters the swappers above need, by catalog name."""


def swapper_facts(name: str) -> SwapperFacts:
    """The row of catalog swapper ``name``.

    Raises:
        InvalidArgumentError: not a known swapper; the message lists them.
    """
    if name not in SWAPPER_FACTS:
        raise InvalidArgumentError(f"unknown swapper {name!r}; known swappers: {', '.join(SWAPPER_FACTS)}")
    return SWAPPER_FACTS[name]


def family_facts(family: str) -> FamilyFacts:
    """The default facts of a family name (``SWAPPER_FAMILY_NAMES``).

    Raises:
        InvalidArgumentError: unknown family.
    """
    if family not in FAMILY_DEFAULTS:
        raise InvalidArgumentError(f"unknown swapper family {family!r}; use one of: {', '.join(SWAPPER_FAMILY_NAMES)}")
    return FAMILY_DEFAULTS[family]


def strength_share(strength: float) -> float:
    """FaceFusion's target share ``w`` for our strength ``s`` (0..1): ``0.35 * (1 - s)``; 0 at full strength."""
    return FACEFUSION_WEIGHT_SPAN * (1.0 - float(strength))


def rows_for_graph(side: int | None, has_mask: bool, family: str | None = None) -> list[FamilyFacts]:
    """The family rows a swapper graph may be, from what the graph shows.

    Args:
        side: the ``target`` input's side in pixels, or ``None`` when the graph leaves it dynamic.
        has_mask: the graph has a second output named ``mask`` (a learned mask).
        family: a family name the caller gave: only its rows, the one of the graph's side first
            (else the family's default row, whose size the I/O check then compares with the graph).

    Returns:
        The fitting rows in ``FAMILY_ROWS`` order; more than one means the graph alone does not tell.

    Raises:
        InvalidArgumentError: unknown family.
    """
    if family is not None:
        default = family_facts(family)
        sized = [row for row in FAMILY_ROWS if row.family == family and side in (row.size, None)]
        return sized[:1] or [default]
    return [row for row in FAMILY_ROWS if side in (row.size, None) and row.learned_mask == has_mask]
