"""What each embedding-driven face swapper needs, as one table of plain data (no I/O, no imports of models).

Every row is read from FaceFusion 3.x (``processors/modules/face_swapper/core.py`` model set and
``choices.py``) and facefusion-labs (``hyperswap/src/exporting.py``, ``crossface/``); the swap stage
(``swap.embedding_swapper``) runs any row, and the catalog builds its download entries from it.

Per family (all crops are RGB, the image's own colour order):

- ``template`` / ``size``: 5-point template (``align.template_points``) and model crop side.
- ``mean`` / ``std``: the crop is fed ``(rgb01 - mean) / std`` per channel (``rgb01`` = pixel / 255).
- ``denormalise``: the output is mapped back with ``output * std + mean`` (else taken as RGB 0..1); then clipped.
- ``source``: how the ``[1, 512]`` ``source`` input is built from a w600k_r50 identity:
  ``emap`` (inswapper: ``unit @ emap`` re-normalised), ``embedding`` (the unit embedding itself),
  ``converter_raw`` (the crossface converter's output as is), ``converter_unit`` (the converter's
  output L2-normalised). A crossface converter L2-normalises its own input, so feeding it the unit
  embedding equals feeding it the raw one (FaceFusion feeds raw).
- ``blend``: the strength rule. ``latent``: our inswapper rule ``unit(s * source + (1 - s) * target)``
  in emap space. ``facefusion_unit`` / ``facefusion_raw``: FaceFusion's weight rule
  ``source * (1 - w) + target * w`` with ``w = 0.35 * (1 - strength)`` (FaceFusion's
  ``interp(weight, [0, 1], [0.35, -0.35])`` at ``weight = strength / 2``, so strength 1 is its default
  0.5 and changes nothing), the target being the target face's w600k_r50 embedding, unit
  (``_unit``) or raw (``_raw``: ghost), unconverted, as FaceFusion does.
- ``learned_mask``: the graph may have a second output ``mask`` ``[1, 1, S, S]`` (HyperSwap's export).
- ``boost_factors``: the crop multiples offered (FaceFusion offers 256..1024 for the 256 models, 512..1024
  for the 512 one; factor 3 (768) is not offered here).
- ``paste``: the crop-and-paste recipe of the family's authors, the default of ``SwapSettings.paste``.
  ``facefusion`` (FaceFusion 3.8.1, ``face_helper.py`` and ``face_swapper/core.py``: crop with the
  image edge replicated; box mask, blur 0.3, combined by minimum with the other masks; that mask
  alone is the paste weight) for the families FaceFusion publishes; ``insightface`` (``INSwapper.get``:
  black border, eroded and blurred square) for inswapper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .errors import InvalidArgumentError

SourceRule = Literal["emap", "embedding", "converter_raw", "converter_unit"]
BlendRule = Literal["latent", "facefusion_unit", "facefusion_raw"]
PasteStyle = Literal["facefusion", "insightface"]
PASTE_STYLES: tuple[str, ...] = get_args(PasteStyle)
"""The crop-and-paste recipes a swap can follow (``geometry.paste_crop``, ``geometry.paste_back``)."""
LatentRule = Literal["insightface", "facefusion"]
LATENT_RULES: tuple[str, ...] = get_args(LatentRule)
"""inswapper's source latent: ``insightface`` (``INSwapper.get``: ``unit @ emap`` re-normalised) or ``facefusion``
(``face_swapper/core.py``: ``raw @ emap / |raw|`` = ``unit @ emap``, not re-normalised)."""
SwapperFamilyName = Literal["inswapper", "hyperswap", "simswap", "ghost", "hififace"]
SWAPPER_FAMILY_NAMES: tuple[str, ...] = get_args(SwapperFamilyName)
"""Family names accepted by ``load_swapper(family=...)``."""

FACEFUSION_WEIGHT_SPAN = 0.35
"""FaceFusion's ``--face-swapper-weight`` maps 0..1 onto a target share ``w`` of 0.35..-0.35."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)
ZERO = (0.0, 0.0, 0.0)
ONE = (1.0, 1.0, 1.0)

INSIGHTFACE_SWAP_LICENCE = "InsightFace inswapper: non-commercial research use only."
HYPERSWAP_LICENCE = "ResearchRAIL (FaceFusion): research use with behavioural restrictions; not for commercial use."
SIMSWAP_LICENCE = "Non-commercial (neuralchen/SimSwap), as FaceFusion lists it."
GHOST_LICENCE = "Apache-2.0 (ai-forever/ghost), as FaceFusion lists it."
HIFIFACE_LICENCE = "Unknown (GuijiAI unofficial HifiFace port), as FaceFusion lists it: treat as non-commercial."
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


@dataclass(frozen=True)
class SwapperFacts:
    """One downloadable swapper: its family facts plus where it is published and under which licence.

    ``release``: the Hugging Face repository ``facefusion/<release>`` holding ``<name>.onnx`` and its
    ``<name>.hash`` sidecar (CRC32). ``file_mb``: the published file size, approximate.
    """

    name: str
    facts: FamilyFacts
    release: str
    licence: str
    file_mb: float
    description: str


@dataclass(frozen=True)
class ConverterFacts:
    """A crossface embedding converter: ``input [1, 512]`` (w600k_r50) -> one ``[1, 512]`` output."""

    name: str
    release: str
    licence: str
    file_mb: float
    description: str


INSWAPPER = FamilyFacts("inswapper", "arcface_128", 128, ZERO, ONE, False, "emap", "latent", paste="insightface")
HYPERSWAP = FamilyFacts("hyperswap", "arcface_128", 256, HALF, HALF, True, "embedding", "facefusion_unit", learned_mask=True)
SIMSWAP_256 = FamilyFacts(
    "simswap", "arcface_112_v1", 256, IMAGENET_MEAN, IMAGENET_STD, False, "converter_unit", "facefusion_unit", "crossface_simswap"
)
SIMSWAP_512 = FamilyFacts(
    "simswap",
    "arcface_112_v1",
    512,
    ZERO,
    ONE,
    False,
    "converter_unit",
    "facefusion_unit",
    "crossface_simswap",
    boost_factors=(1, 2),
)
GHOST = FamilyFacts("ghost", "arcface_112_v1", 256, HALF, HALF, True, "converter_raw", "facefusion_raw", "crossface_ghost")
HIFIFACE = FamilyFacts("hififace", "mtcnn_512", 256, HALF, HALF, True, "converter_unit", "facefusion_unit", "crossface_hififace")

FAMILY_DEFAULTS: dict[str, FamilyFacts] = {
    "inswapper": INSWAPPER,
    "hyperswap": HYPERSWAP,
    "simswap": SIMSWAP_256,
    "ghost": GHOST,
    "hififace": HIFIFACE,
}
"""The facts a file of each family gets when it is not a catalog name (``load_swapper(family=...)``)."""

SWAPPER_FACTS: dict[str, SwapperFacts] = {
    row.name: row
    for row in (
        SwapperFacts(
            "inswapper_128", INSWAPPER, "models-3.0.0", INSIGHTFACE_SWAP_LICENCE, 554, "InsightFace inswapper_128 (fp32)."
        ),
        SwapperFacts(
            "inswapper_128_fp16", INSWAPPER, "models-3.0.0", INSIGHTFACE_SWAP_LICENCE, 278, "inswapper_128, fp16 weights."
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
