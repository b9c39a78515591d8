"""``LoadOptions``: how every loader finds and runs a model, as one value (or the same fields as keywords).

Every public loader (``load_recognizer``, ``load_face_detector``, ``load_detector``, ``load_swapper``,
``load_inswapper``, ``load_converter``, ``load_face_model``) takes ``options: LoadOptions | None`` and
``**keywords: Unpack[LoadKeywords]``; ``load_options`` merges the two. ``runner.load_runner`` runs the model
as they say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from .errors import InvalidArgumentError
from .runtime import BACKEND_CHOICES


class LoadKeywords(TypedDict, total=False):
    """The ``LoadOptions`` fields as keywords, which every public loader also takes (``backend="torch"``)."""

    providers: str | Sequence[str]
    strict: bool
    allow_download: bool
    backend: str
    device: Any
    dtype: str
    device_id: int
    channels_last: bool | None
    cache: bool


@dataclass(frozen=True)
class LoadOptions:
    """How a model is found and run; one value for every loader.

    Attributes:
        providers: onnxruntime provider choice (``auto``, ``cuda``, ``cpu``, ...; ``runtime.PROVIDER_CHOICES``)
            or an explicit list of onnxruntime provider names.
        strict: raise instead of warning when a requested GPU provider is not active.
        allow_download: download a catalog model that is not on disk.
        backend: ``onnxruntime``, ``torch`` or ``auto`` (torch on a GPU device when its conversion matches).
        device, dtype: torch device (default: CUDA when available) and precision of the torch backend.
        device_id: GPU index for onnxruntime's GPU providers.
        channels_last, cache: the torch conversion's memory layout (default: per device) and disk cache.
    """

    providers: str | tuple[str, ...] = "auto"
    strict: bool = False
    allow_download: bool = True
    backend: str = "onnxruntime"
    device: Any = None
    dtype: str = "float32"
    device_id: int = 0
    channels_last: bool | None = None
    cache: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_CHOICES:
            raise InvalidArgumentError(f"unknown backend {self.backend!r}; use onnxruntime, torch or auto")
        if not isinstance(self.providers, str):
            object.__setattr__(self, "providers", tuple(self.providers))


def load_options(options: LoadOptions | None = None, keywords: Mapping[str, Any] | None = None) -> LoadOptions:
    """``options`` (default ``LoadOptions()``) with the loader keywords a caller gave applied on top.

    Raises:
        InvalidArgumentError: a keyword ``LoadOptions`` does not have, or an unknown backend.
    """
    base = options or LoadOptions()
    given = dict(keywords or {})
    unknown = sorted(set(given) - set(LoadKeywords.__annotations__))
    if unknown:
        raise InvalidArgumentError(f"unknown loader option(s) {unknown}; the options are {sorted(LoadKeywords.__annotations__)}")
    return replace(base, **given) if given else base
