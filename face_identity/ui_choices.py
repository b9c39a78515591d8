"""``choices()``: every choice a caller has, as one frozen value: the option lists each stage accepts with their
defaults, and the model catalog (names per role, each model's facts, its folder, its match threshold).

The values come from the modules that own them (``select``, ``align``, ``masks``, ``restore``,
``compare``, ``store``, ``runtime``, ``swap``, ``swapper_facts``, ``catalog``, ``download``); this module
only gathers them for a user interface (the ComfyUI nodes' widgets) or a script, so that none has to
know where each lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from .align import TEMPLATE_NAMES
from .catalog import ModelSpec, get_spec, names_for_role
from .compare import DEFAULT_MATCH_THRESHOLD, match_threshold
from .download import default_model_dir, spec_for_file
from .masks import AREAS, DEFAULT_BLUR, REGIONS
from .restore import DEFAULT_BLEND, DEFAULT_FIDELITY
from .roles import Role
from .runtime import BACKEND_CHOICES, PROVIDER_CHOICES, TORCH_PRECISIONS
from .select import DEFAULT_ORDER, FACE_ORDERS
from .store import IF_EXISTS_CHOICES
from .swap import PIXEL_BOOST_FACTORS, SELECTION_MODES, EmbeddingSwapper, describe_facts
from .swapper_facts import LATENT_RULES, PASTE_STYLES


@dataclass(frozen=True)
class Choices:
    """The options of every stage with their defaults, and the model catalog's lookups.

    Options (tuples of the accepted values; ``default_*`` the value used when none is given):

    - ``face_orders``, ``default_order``: face order within an image (``FaceSelection.order``).
    - ``templates``: 5-point alignment templates (``align_frames``).
    - ``mask_regions``, ``mask_areas``, ``default_mask_blur``: ``MaskSpec``'s regions, areas and box blur.
    - ``default_restore_blend``, ``default_restore_fidelity``: ``RestoreSettings``.
    - ``default_match_threshold``: w600k_r50's same-person cosine (``match_threshold`` for other spaces).
    - ``if_exists``: what ``save_identity`` does when the file exists.
    - ``providers``, ``backends``, ``precisions``: how a model runs (``LoadOptions``).
    - ``selection_modes``, ``pixel_boosts``, ``paste_styles``, ``latent_rules``: ``TargetSelection.mode``,
      ``SwapSettings.pixel_boost``, ``.paste`` and ``.inswapper_latent``.
    """

    face_orders: tuple[str, ...] = FACE_ORDERS
    default_order: str = DEFAULT_ORDER
    templates: tuple[str, ...] = TEMPLATE_NAMES
    mask_regions: tuple[str, ...] = tuple(REGIONS)
    mask_areas: tuple[str, ...] = tuple(AREAS)
    default_mask_blur: float = DEFAULT_BLUR
    default_restore_blend: float = DEFAULT_BLEND
    default_restore_fidelity: float = DEFAULT_FIDELITY
    default_match_threshold: float = DEFAULT_MATCH_THRESHOLD
    if_exists: tuple[str, ...] = IF_EXISTS_CHOICES
    providers: tuple[str, ...] = PROVIDER_CHOICES
    backends: tuple[str, ...] = BACKEND_CHOICES
    precisions: tuple[str, ...] = TORCH_PRECISIONS
    selection_modes: tuple[str, ...] = SELECTION_MODES
    pixel_boosts: tuple[int, ...] = PIXEL_BOOST_FACTORS
    paste_styles: tuple[str, ...] = PASTE_STYLES
    latent_rules: tuple[str, ...] = LATENT_RULES

    def names(self, role: str) -> list[str]:
        """The catalog models of ``role`` (``roles.Role``), in catalog order; the first is the default (none for an unknown role)."""
        return names_for_role(cast(Role, role))

    def spec(self, name: str) -> ModelSpec:
        """The catalog entry ``name``: role, file, licence, input size, aliases, ...

        Raises:
            InvalidArgumentError: no such entry; the message lists the known names.
        """
        return get_spec(name)

    def spec_for_file(self, path: Path) -> ModelSpec | None:
        """The catalog entry a model file belongs to, by its file name or an alias (``w600k_r50.onnx``), else ``None``."""
        return spec_for_file(path)

    def model_dir(self) -> Path:
        """Where catalog models are downloaded when no folder is given (``$FACE_IDENTITY_HOME``-based)."""
        return default_model_dir()

    def match_threshold(self, model_id: str) -> float:
        """The same-person cosine threshold of an embedding space (0.4, with a warning, where none is calibrated)."""
        return match_threshold(model_id)

    def swapper_facts(self, swapper: EmbeddingSwapper) -> str:
        """One line naming a loaded swapper's family, size, template and how the identity is fed."""
        return describe_facts(swapper)


def choices() -> Choices:
    """Every option list and default of the stages, and the model catalog's lookups (``Choices``)."""
    return Choices()
