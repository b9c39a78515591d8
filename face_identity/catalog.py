"""The known models as plain data: where they come from, how to check them, how to feed them, their licence.

Building or reading the catalog never touches the network; ``download.py`` does that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidArgumentError
from .model_facts import ModelFacts, build_model_facts, role_of
from .roles import Role
from .swapper_facts import CONVERTER_FACTS, INSIGHTFACE_LICENCE, SWAPPER_FACTS

DetectorFamily = Literal["scrfd", "yoloface"]

HF_ENDPOINT_DEFAULT = "https://huggingface.co"
HF_REVISION = "main"
"""Every catalog model is downloaded from its repository's ``main`` branch."""
FACEFUSION_REPO = "facefusion/models-3.0.0"
YOLOFACE_LICENCE = "GPL-3.0 (derronqi/yolov8-face, as listed by FaceFusion); YOLOv8 code is AGPL-3.0."

W600K_R50_SPACE = "arcface_w600k_r50"
"""Embedding space of InsightFace's ResNet-50 trained on WebFace600K (buffalo_l's recognizer)."""
GLINTR100_SPACE = "arcface_glintr100"
"""Embedding space of InsightFace's ResNet-100 trained on Glint360K (antelopev2's ``glintr100.onnx``), which
InstantID, PuLID, WithAnyone and EcomID read as the raw ``embedding``."""
ANTELOPEV2_REPO = "DIAMONIK7777/antelopev2"
"""A Hugging Face copy of insightface's antelopev2 pack (no ``.hash`` sidecars: its files are checked by ``sha256``)."""
GLINTR100_SHA256 = "4ab1d6435d639628a6f3e5008dd4f929edf4c4124b1a7169e1048f9fef534cdf"
"""SHA-256 of the original ``glintr100.onnx``, as listed beside that copy by two independent projects (docs/faceid.md)."""
AURAFACE_SPACE = "auraface_v1"
"""Embedding space of fal's AuraFace v1 (an ArcFace-style ResNet-100 that fal trained on commercially usable data):
neither w600k_r50's nor glintr100's, although its file in fal's repository is also called ``glintr100.onnx``."""
AURAFACE_REPO = "fal/AuraFace-v1"
AURAFACE_SHA256 = "a7933ea5330113b01c9b60351d8f4c33003f145d8470ac5f0e52ee2effe25c60"
"""SHA-256 of ``glintr100.onnx`` in fal/AuraFace-v1, as Hugging Face lists it (Git LFS) since its upload (94ee6ce)."""
AURAFACE_LICENCE = (
    "Apache-2.0 (fal/AuraFace-v1 model card and LICENSE.md; fal says it was trained on commercially and publicly "
    "available data so that it may be used commercially). That repository's other files are insightface's "
    "non-commercial models and are not used."
)


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model.

    - ``input_size``: ``(width, height)`` the model is fed at (detectors: the default det size).
    - ``input_mean``/``input_std``: the model input is ``(pixel - mean) / std`` with pixels 0..255.
    - ``template``: the 5-point template its crops are aligned with (recognizers and swappers).
    - ``aliases``: relative paths under which users already keep the same file (insightface,
      ReActor); the resolver also tries every shorter suffix of each path.
    - ``hash_filename``: FaceFusion's sidecar with the CRC32 of the whole file, 8 lowercase hex.
    - ``sha256``: the whole file's SHA-256, for a model published without a sidecar (checked on download and load).
    - ``remote_filename``: the file's name in its repository when it differs from ``filename`` (AuraFace is
      published as ``glintr100.onnx``, antelopev2's recognizer's name; it is saved under its own name).
    """

    name: str
    role: Role
    filename: str
    licence: str
    input_size: tuple[int, int]
    input_mean: float
    input_std: float
    description: str
    repo_id: str = FACEFUSION_REPO
    hash_filename: str | None = None
    template: str | None = None
    family: DetectorFamily | None = None
    embedding_space: str | None = None
    embedding_dim: int | None = None
    aliases: tuple[str, ...] = ()
    sha256: str | None = None
    remote_filename: str | None = None

    @property
    def published_filename(self) -> str:
        """The model file's name in its Hugging Face repository."""
        return self.remote_filename or self.filename

    def url(self, endpoint: str = HF_ENDPOINT_DEFAULT, filename: str | None = None) -> str:
        """The Hugging Face download URL of the model file (or of ``filename`` in the same repo)."""
        return f"{endpoint.rstrip('/')}/{self.repo_id}/resolve/{HF_REVISION}/{filename or self.published_filename}"


def _facefusion(name: str, **fields: object) -> ModelSpec:
    stem = name
    return ModelSpec(name=name, filename=f"{stem}.onnx", hash_filename=f"{stem}.hash", **fields)  # type: ignore[arg-type]


def build_catalog() -> dict[str, ModelSpec]:
    """All known models by name. Pure data; no I/O."""
    scrfd: dict[str, object] = {
        "role": "detector",
        "family": "scrfd",
        "licence": INSIGHTFACE_LICENCE,
        "input_size": (640, 640),
        "input_mean": 127.5,
        "input_std": 128.0,
    }
    arcface: dict[str, Any] = {  # the three ArcFace-style recognizers are fed alike
        "role": "recognizer",
        "input_size": (112, 112),
        "input_mean": 127.5,
        "input_std": 127.5,
        "template": "arcface_112",
        "embedding_dim": 512,
    }
    specs = [
        _facefusion(
            "arcface_w600k_r50",
            licence=INSIGHTFACE_LICENCE,
            **arcface,
            embedding_space=W600K_R50_SPACE,
            description="InsightFace ArcFace IResNet-50 trained on WebFace600K (buffalo_l), 512-d.",
            aliases=("insightface/models/buffalo_l/w600k_r50.onnx",),
        ),
        ModelSpec(
            name="arcface_glintr100",
            filename="glintr100.onnx",
            licence=INSIGHTFACE_LICENCE.replace("WebFace600K", "Glint360K"),
            **arcface,
            embedding_space=GLINTR100_SPACE,
            description="InsightFace ArcFace IResNet-100 trained on Glint360K (antelopev2), 512-d raw: InstantID, PuLID.",
            repo_id=ANTELOPEV2_REPO,
            sha256=GLINTR100_SHA256,
            aliases=("insightface/models/antelopev2/glintr100.onnx", "insightface/models/antelopev2/antelopev2/glintr100.onnx"),
        ),
        ModelSpec(
            name="auraface_v1",
            filename="auraface_v1.onnx",
            remote_filename="glintr100.onnx",
            licence=AURAFACE_LICENCE,
            **arcface,
            embedding_space=AURAFACE_SPACE,
            description="fal's AuraFace v1, an ArcFace-style ResNet-100, 512-d; its own space (not w600k_r50's): scoring "
            "and gates, not swaps. No calibrated threshold.",
            repo_id=AURAFACE_REPO,
            sha256=AURAFACE_SHA256,
        ),
        _facefusion(
            "retinaface_10g",
            **scrfd,
            description="InsightFace SCRFD-10GF with 5 landmarks (buffalo_l det_10g), what FaceAnalysis uses.",
            aliases=("insightface/models/buffalo_l/det_10g.onnx",),
        ),
        _facefusion(
            "scrfd_2.5g",
            **scrfd,
            description="InsightFace SCRFD-2.5GF with 5 landmarks: faster, slightly less accurate.",
            aliases=("insightface/models/buffalo_m/det_2.5g.onnx",),
        ),
        _facefusion(
            "yoloface_8n",
            role="detector",
            family="yoloface",
            licence=YOLOFACE_LICENCE,
            input_size=(640, 640),
            input_mean=0.0,
            input_std=255.0,
            description="YOLOv8n-face with 5 landmarks (FaceFusion's default detector).",
        ),
    ]
    specs += _facefusion_swappers()
    specs.extend(_spec_from_facts(facts) for facts in build_model_facts().values() if facts.release)
    return {spec.name: spec for spec in specs}


def _spec_from_facts(facts: ModelFacts) -> ModelSpec:
    """A downloadable entry for a ``model_facts`` row (landmarkers, occluders, parsers, restorers)."""
    return _facefusion(
        facts.name,
        role=role_of(facts.kind),
        licence=facts.licence,
        input_size=(facts.size, facts.size),
        input_mean=facts.mean[0] * 255.0,
        input_std=facts.std[0] * 255.0,
        template=facts.template,
        description=facts.description,
        repo_id=facts.release,
    )


# --- swappers and crossface converters: built from swapper_facts (one table, inswapper included) ----------


def _facefusion_swappers() -> list[ModelSpec]:
    """Catalog entries of every ``SWAPPER_FACTS`` row (with its aliases) and of the crossface converters.

    ``input_mean``/``input_std`` are the first channel's, in 0..255 pixels (simswap_256's per-channel
    ImageNet values are in its ``swapper_facts`` row, which the swap stage reads).
    """
    specs = []
    for row in SWAPPER_FACTS.values():
        facts = row.facts
        size = f" About {row.file_mb:g} MB." if row.file_mb else ""
        specs.append(
            _facefusion(
                row.name,
                role="swapper",
                licence=row.licence,
                input_size=(facts.size, facts.size),
                input_mean=facts.mean[0] * 255.0,
                input_std=facts.std[0] * 255.0,
                template=facts.template,
                embedding_space=W600K_R50_SPACE,
                embedding_dim=512,
                description=f"{row.description}{size}",
                repo_id=f"facefusion/{row.release}",
                aliases=row.aliases,
            )
        )
    for converter in CONVERTER_FACTS.values():
        specs.append(
            _facefusion(
                converter.name,
                role="converter",
                licence=converter.licence,
                input_size=(512, 1),
                input_mean=0.0,
                input_std=1.0,
                embedding_space=W600K_R50_SPACE,
                embedding_dim=512,
                description=f"{converter.description} About {converter.file_mb:g} MB.",
                repo_id=f"facefusion/{converter.release}",
            )
        )
    return specs


def get_spec(name: str) -> ModelSpec:
    """The catalog entry called ``name``.

    Raises:
        InvalidArgumentError: no such entry; the message lists the known names.
    """
    catalog = build_catalog()
    if name not in catalog:
        raise InvalidArgumentError(f"unknown model {name!r}; the catalog by role: {names_by_role()}. {NEXT_COMMANDS}")
    return catalog[name]


NEXT_COMMANDS = "`face-identity models` lists each with its size and licence; `face-identity download NAME` fetches one."
"""The commands that follow every "unknown model" message."""


def names_by_role() -> str:
    """The catalog names grouped by role: ``"recognizer: arcface_w600k_r50; detector: retinaface_10g, ...; ..."``."""
    by_role: dict[str, list[str]] = {}
    for spec in build_catalog().values():
        by_role.setdefault(spec.role, []).append(spec.name)
    return "; ".join(f"{role}: {', '.join(names)}" for role, names in by_role.items())


def names_for_role(role: Role) -> list[str]:
    """Catalog names of one role, in catalog order (the first is the default)."""
    return [spec.name for spec in build_catalog().values() if spec.role == role]
