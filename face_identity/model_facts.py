"""How each crop-in / tensor-out model is fed and read: one declarative table, one code path per model kind.

A ``ModelFacts`` row says everything the stages need to run a model without knowing its name:
the crop (template + side, or a box crop), the input layout, colour order and normalisation, how
the output is read back, the optional inputs, the release it is downloaded from and its licence.
``catalog.build_catalog`` turns the rows with a release into downloadable ``ModelSpec`` entries
(each with its FaceFusion ``.hash`` sidecar). Values were read from FaceFusion 3.x
(``face_landmarker.py``, ``face_masker.py``, ``processors/modules/face_enhancer/core.py``).

Normalisation convention: ``input = (pixel / 255 - mean) / std`` per channel, in the model's
colour order, pixels 0..255. Output de-normalisation (restorers): ``pixel / 255 = (output - low) / (high - low)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .errors import InvalidArgumentError
from .roles import ROLES, Role

ModelKind = Literal["landmarker_68_5", "landmarker_2dfan4", "landmarker_pfld", "occluder", "parser", "restorer"]
"""One code path per kind: the 5->68 point model, heatmap FAN, point regressor, XSeg, BiSeNet, face restorer.
Each is a ``roles.Role`` refined by its code path (``role_of``)."""
Layout = Literal["NCHW", "NHWC"]
ColourOrder = Literal["RGB", "BGR"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GPL3 = "GPL-3.0 (DeepFaceLab XSeg, as listed by FaceFusion)"
GPEN_LICENCE = "GPEN (yangxy): non-commercial use only"
CODEFORMER_LICENCE = "S-Lab License 1.0 (sczhou/CodeFormer): non-commercial use only"
APACHE_GFPGAN = "Apache-2.0 (TencentARC/GFPGAN)"
APACHE_RESTOREFORMER = "Apache-2.0 (wzhouxiff/RestoreFormerPlusPlus)"
BISENET_LICENCE = "MIT (yakhyo/face-parsing)"


@dataclass(frozen=True)
class ModelFacts:
    """Facts of one model; general enough for swappers too (template, size, mean/std, colours, layout).

    - ``kind``: which code path runs it (``ModelKind``).
    - ``release``: FaceFusion's Hugging Face repo (``facefusion/models-3.1.0``); ``None`` = not downloadable
      (give a file path).
    - ``template``/``size``: the 5-point template and side of the aligned crop it is fed; ``template``
      ``None`` = a box crop (landmarkers) or no image at all (``fan_68_5``).
    - ``layout``, ``colour``, ``mean``, ``std``: the input tensor (see the module docstring).
    - ``output_range``: the ``(low, high)`` the output maps to pixel 0..255 from (restorers ``(-1, 1)``).
    - ``input_name``: the image input; ``optional_inputs``: fed only when the graph has them
      (CodeFormer's ``weight``: float64 ``[1]``, the fidelity).
    - ``box_scale``: box crops: side = ``box_scale`` x the longer box side (PFLD 1.1); 2dfan4 scales
      the longer side to ``box_target`` pixels (195 of 256).
    """

    name: str
    kind: ModelKind
    licence: str
    vendor: str
    description: str
    release: str | None = None
    template: str | None = None
    size: int = 0
    layout: Layout = "NCHW"
    colour: ColourOrder = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    output_range: tuple[float, float] = (0.0, 1.0)
    input_name: str = "input"
    optional_inputs: tuple[str, ...] = ()
    box_scale: float = 0.0
    box_target: float = 0.0
    filename: str = ""

    @property
    def file_name(self) -> str:
        return self.filename or f"{self.name}.onnx"


def _restorer(name: str, licence: str, vendor: str, description: str, size: int = 512, template: str = "ffhq_512") -> ModelFacts:
    return ModelFacts(
        name=name,
        kind="restorer",
        licence=licence,
        vendor=vendor,
        description=description,
        release="facefusion/models-3.0.0",
        template=template,
        size=size,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        output_range=(-1.0, 1.0),
        optional_inputs=("weight",) if name == "codeformer" else (),
    )


def _occluder(name: str, release: str) -> ModelFacts:
    return ModelFacts(
        name=name,
        kind="occluder",
        licence=GPL3,
        vendor="DeepFaceLab",
        description=f"XSeg face occluder ({name}): 1 where the face is visible, 0 on hands, hair, objects.",
        release=release,
        size=256,
        layout="NHWC",
        colour="BGR",
    )


def _parser(name: str, release: str) -> ModelFacts:
    return ModelFacts(
        name=name,
        kind="parser",
        licence=BISENET_LICENCE,
        vendor="yakhyo",
        description=f"BiSeNet face parser ({name}): 19 classes (skin, brows, eyes, glasses, nose, mouth, lips, hair, ...).",
        release=release,
        size=512,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )


def build_model_facts() -> dict[str, ModelFacts]:
    """Every model of the landmark, mask and restore stages by name. Pure data; no I/O."""
    rows = [
        ModelFacts(
            name="fan_68_5",
            kind="landmarker_68_5",
            licence="OpenRAIL-M (FaceFusion)",
            vendor="FaceFusion",
            description="5 detector points -> 68 points, in the unit ffhq_512 template space (input [1,5,2], output [1,68,2]).",
            release="facefusion/models-3.0.0",
            template="ffhq_512",
            size=1,
        ),
        ModelFacts(
            name="2dfan4",
            kind="landmarker_2dfan4",
            licence="MIT (breadbread1984, as listed by FaceFusion)",
            vendor="breadbread1984",
            description="2D-FAN 68 points from a 256 box crop; outputs points on a 64 grid and 64x64 heatmaps.",
            release="facefusion/models-3.0.0",
            size=256,
            box_target=195.0,
        ),
        ModelFacts(
            name="landmarks_68_pfld",
            kind="landmarker_pfld",
            licence="MIT (FaceONNX copy of cunjian/pytorch_face_landmark PFLD; trained on 300W)",
            vendor="cunjian",
            description="PFLD 68 points from a 112 square box crop (1.1 x the longer box side); output [N,136] in crop units.",
            size=112,
            box_scale=1.1,
        ),
        _occluder("xseg_1", "facefusion/models-3.1.0"),
        _occluder("xseg_2", "facefusion/models-3.1.0"),
        _occluder("xseg_3", "facefusion/models-3.2.0"),
        _parser("bisenet_resnet_34", "facefusion/models-3.0.0"),  # FaceFusion's default parser first
        _parser("bisenet_resnet_18", "facefusion/models-3.1.0"),
        _restorer("gfpgan_1.4", APACHE_GFPGAN, "TencentARC", "GFPGAN v1.4 face restorer, 512 ffhq crop (FaceFusion's default)."),
        _restorer("gfpgan_1.2", APACHE_GFPGAN, "TencentARC", "GFPGAN v1.2 face restorer, 512 ffhq crop."),
        _restorer("gfpgan_1.3", APACHE_GFPGAN, "TencentARC", "GFPGAN v1.3 face restorer, 512 ffhq crop."),
        _restorer("codeformer", CODEFORMER_LICENCE, "sczhou", "CodeFormer, 512 ffhq crop, with a fidelity weight input."),
        _restorer("gpen_bfr_256", GPEN_LICENCE, "yangxy", "GPEN-BFR 256 (arcface_128 crop).", 256, "arcface_128"),
        _restorer("gpen_bfr_512", GPEN_LICENCE, "yangxy", "GPEN-BFR 512, ffhq crop.", 512),
        _restorer("gpen_bfr_1024", GPEN_LICENCE, "yangxy", "GPEN-BFR 1024, ffhq crop.", 1024),
        _restorer("gpen_bfr_2048", GPEN_LICENCE, "yangxy", "GPEN-BFR 2048, ffhq crop.", 2048),
        _restorer("restoreformer_plus_plus", APACHE_RESTOREFORMER, "wzhouxiff", "RestoreFormer++, 512 ffhq crop."),
    ]
    return {row.name: row for row in rows}


def role_of(kind: ModelKind) -> Role:
    """The ``roles.Role`` of a kind: the three landmarker kinds are ``landmarker``, the others their own name."""
    roles: dict[str, Role] = {
        "landmarker_68_5": "landmarker",
        "landmarker_2dfan4": "landmarker",
        "landmarker_pfld": "landmarker",
        "occluder": "occluder",
        "parser": "parser",
        "restorer": "restorer",
    }
    return roles[kind]


def names_of_kind(*kinds: ModelKind) -> list[str]:
    """Model names of the given kinds, in table order (the first is the default)."""
    return [row.name for row in build_model_facts().values() if row.kind in kinds]


def kinds_table(table: dict[str, ModelFacts] | None = None) -> str:
    """Every kind with its models: ``"landmarker_68_5 (fan_68_5); landmarker_2dfan4 (2dfan4); ..."``."""
    by_kind: dict[str, list[str]] = {}
    for row in (table or build_model_facts()).values():
        by_kind.setdefault(row.kind, []).append(row.name)
    return "; ".join(f"{kind} ({', '.join(names)})" for kind, names in by_kind.items())


def kind_hint(*kinds: ModelKind) -> str:
    """What to load instead, for a model that is not of ``kinds``: their models and the next command.

    E.g. "Models of kind restorer: gfpgan_1.4, gfpgan_1.2, ... (load one with load_face_model(NAME, 'restorer');
    `face-identity download gfpgan_1.4` fetches one first)."
    """
    names = names_of_kind(*kinds)
    downloadable = [name for name in names if build_model_facts()[name].release]
    fetch = f"; `face-identity download {downloadable[0]}` fetches one first" if downloadable else ""
    kind_text = " or ".join(kinds)
    argument = repr(kinds[0]) if len(kinds) == 1 else repr(tuple(kinds))
    return f"Models of kind {kind_text}: {', '.join(names)} (load one with load_face_model(NAME, {argument}){fetch})."


def facts_for(name_or_path: str, kind: ModelKind | Role | tuple[ModelKind | Role, ...] | None = None) -> ModelFacts:
    """The facts row of a model by name or file (``.../gfpgan_1.4.onnx`` -> ``gfpgan_1.4``).

    ``kind``: the kinds, or roles (``landmarker`` = its three kinds), the caller can run; ``None`` = any.

    Raises:
        InvalidArgumentError: a kind that does not exist, no row with that name (or file stem), or a row of
            another kind; the message names the kinds with their models and what to do.
    """
    stem = name_or_path.replace("\\", "/").rsplit("/", 1)[-1]
    stem = stem[: -len(".onnx")] if stem.endswith(".onnx") else stem
    table = build_model_facts()
    kinds = (kind,) if isinstance(kind, str) else kind
    every_kind = f"The kinds and their models: {kinds_table(table)}."
    if kinds is not None and (unknown := [k for k in kinds if k not in get_args(ModelKind) and k not in ROLES]):
        raise InvalidArgumentError(f"unknown model kind {', '.join(map(repr, unknown))}. {every_kind}")
    row = table.get(stem)
    if row is not None and (kinds is None or row.kind in kinds or role_of(row.kind) in kinds):
        return row
    wanted = " or ".join(kinds) if kinds else "model"
    known = [name for name, facts in table.items() if kinds is None or facts.kind in kinds or role_of(facts.kind) in kinds]
    found = f"{stem} is a {row.kind} model, not a {wanted}" if row is not None else f"no model facts for {name_or_path!r}"
    raise InvalidArgumentError(
        f"{found}; {wanted} models: {', '.join(known)}. A renamed file must keep its model name "
        f"(e.g. {known[0]}.onnx), or pass facts=facts_for('{known[0]}'). {every_kind} "
        "`face-identity models` lists every model."
    )
