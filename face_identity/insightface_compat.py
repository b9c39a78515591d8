"""An ``insightface`` module that other ComfyUI packs can import when the insightface package is not installed.

InstantID, PuLID (and its Flux forks) and InfiniteYou run ``from insightface.app import FaceAnalysis`` when
ComfyUI imports them; IPAdapter_plus runs ``from insightface.utils import face_align`` in its apply node.
Without the insightface package they fail to load. ``register()`` puts one finder first on
``sys.meta_path`` that answers ``import insightface`` and its submodules with face-identity's implementation
(``insightface_modules.py``: ``FaceAnalysis`` on our detector and recognizer, ``Face``, ``face_align``,
``model_zoo``, ``utils.download`` / ``utils.storage``), only while the real package cannot be found:

- it never shadows a real insightface: each time it is asked, it first looks for the package on ``sys.path``
  (without importing it) and steps aside when it is there, even when it was installed after registration;
  a bare ``insightface`` folder without ``__init__.py`` (e.g. a models folder) does not count;
- registration imports nothing heavy: the implementation (numpy, onnxruntime, our models) loads only when a
  pack imports an ``insightface`` module, and models load when a pack builds a ``FaceAnalysis``;
- ``FACE_IDENTITY_NO_INSIGHTFACE_SHIM=1`` (or true/yes/on) turns it off.

This file imports only the standard library, and nothing relative at import time, because ComfyUI executes
the pack's ``prestartup_script.py`` by file path before any pack is imported; that script loads this file
by path and calls ``register(package_dir=...)``. The "Face Analysis (insightface-compatible)" node calls
``ensure_face_align()``, which registers the same finder when the start-up script did not run.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

logger = logging.getLogger(__name__)

PACKAGE = "insightface"
DISABLE_ENV = "FACE_IDENTITY_NO_INSIGHTFACE_SHIM"
STUB_ORIGIN = "face-identity's insightface-compatible module (the insightface package is not installed)"
STUB_FLAG = "__face_identity_stub__"
PROVIDED_MODULES = (
    "insightface",
    "insightface.app",
    "insightface.app.common",
    "insightface.app.face_analysis",
    "insightface.model_zoo",
    "insightface.utils",
    "insightface.utils.face_align",
    "insightface.utils.download",
    "insightface.utils.storage",
)
PACKAGES = frozenset({"insightface", "insightface.app", "insightface.model_zoo", "insightface.utils"})
PRIVATE_PACKAGE = "face_identity_for_insightface"
"""The name face_identity is imported under when the start-up script registered the finder (no pack imported yet)."""
_TRUE_WORDS = {"1", "true", "yes", "on"}


def disabled(environ: dict[str, str] | None = None) -> bool:
    """True when ``FACE_IDENTITY_NO_INSIGHTFACE_SHIM`` is 1/true/yes/on (read at call time)."""
    value = (os.environ if environ is None else environ).get(DISABLE_ENV, "")
    return value.strip().lower() in _TRUE_WORDS


def is_stub(module: object) -> bool:
    """True for a module served by face-identity's finder."""
    return module is not None and bool(getattr(module, STUB_FLAG, False))


def real_insightface_installed(search_path: Sequence[str] | None = None) -> bool:
    """True when the real insightface package is imported or findable on ``sys.path`` (without importing it).

    A bare ``insightface`` directory without ``__init__.py`` (a namespace package) does not count.
    """
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None and not is_stub(loaded):
        return True
    spec = importlib.machinery.PathFinder.find_spec(PACKAGE, search_path)
    return spec is not None and spec.origin is not None


class InsightfaceFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """First on ``sys.meta_path``: serves ``PROVIDED_MODULES`` while the real insightface cannot be found.

    Args:
        implementation: the dotted name of face-identity's package whose ``insightface_modules`` fills the
            modules (``None``: import ``package_dir`` under ``PRIVATE_PACKAGE`` on first use).
        package_dir: the ``face_identity`` folder (used when ``implementation`` is ``None``).
    """

    __face_identity_stub__ = True

    def __init__(self, implementation: str | None, package_dir: str | None) -> None:
        self.implementation = implementation
        self.package_dir = package_dir

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE and not fullname.startswith(PACKAGE + "."):
            return None
        if fullname == PACKAGE:
            if real_insightface_installed():
                return None  # the real package wins, even when installed after registration
        elif not is_stub(sys.modules.get(PACKAGE)):
            return None  # a submodule of the real package
        if fullname not in PROVIDED_MODULES:
            raise ModuleNotFoundError(_unavailable(fullname), name=fullname)
        return importlib.machinery.ModuleSpec(fullname, self, origin=STUB_ORIGIN, is_package=fullname in PACKAGES)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        setattr(module, STUB_FLAG, True)
        if module.__spec__ is not None and module.__spec__.submodule_search_locations is not None:
            module.__path__ = []  # a package whose submodules only this finder serves
        self.modules_implementation().fill(module)

    def modules_implementation(self) -> ModuleType:
        """face-identity's ``insightface_modules`` (imports face_identity the first time, never at registration)."""
        if self.implementation is None:
            self.implementation = _import_private_package(self.package_dir)
        return importlib.import_module(f"{self.implementation}.insightface_modules")

    def invalidate_caches(self) -> None:
        return None


def _import_private_package(package_dir: str | None) -> str:
    if PRIVATE_PACKAGE in sys.modules:
        return PRIVATE_PACKAGE
    if package_dir is None:
        raise ImportError("face-identity's insightface module was registered without its package folder")
    init = os.path.join(package_dir, "__init__.py")
    spec = importlib.util.spec_from_file_location(PRIVATE_PACKAGE, init, submodule_search_locations=[package_dir])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load face-identity from {package_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PRIVATE_PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[PRIVATE_PACKAGE]
        raise
    return PRIVATE_PACKAGE


def _unavailable(fullname: str) -> str:
    return (
        f"{fullname} is not available: the insightface package is not installed, and face-identity's "
        f"insightface-compatible module provides only {', '.join(PROVIDED_MODULES)}. Install insightface and restart "
        f"ComfyUI for the rest (set {DISABLE_ENV}=1 to turn face-identity's module off)."
    )


def _finders() -> list[object]:
    return [finder for finder in sys.meta_path if getattr(finder, STUB_FLAG, False)]


def stub_installed() -> bool:
    """True while face-identity's finder is on ``sys.meta_path``."""
    return bool(_finders())


def remove_face_align_stub() -> bool:
    """Unregister the finder and forget the modules it served; the real package's next import loads normally.

    Returns:
        True when something was removed.
    """
    removed = False
    for name in [name for name, module in sys.modules.items() if name.split(".")[0] == PACKAGE and is_stub(module)]:
        del sys.modules[name]
        removed = True
    for finder in _finders():
        sys.meta_path.remove(finder)  # type: ignore[arg-type]
        removed = True
    return removed


def register(implementation: str | None = None, package_dir: str | None = None, announce: bool = True) -> str:
    """Make ``import insightface`` work when the real package is not installed.

    Args:
        implementation: dotted name of the face_identity package already imported (``None`` with ``package_dir``).
        package_dir: the ``face_identity`` folder, for the start-up script (nothing of it is imported now).
        announce: log the one line saying what is provided.

    Returns:
        ``"insightface"``: the real package is installed (a finder registered earlier is removed);
        ``"disabled"``: ``FACE_IDENTITY_NO_INSIGHTFACE_SHIM`` is set (nothing registered);
        ``"face-identity"``: the finder is registered (now or before).
    """
    if real_insightface_installed():
        remove_face_align_stub()
        return "insightface"
    if disabled():
        return "disabled"
    if not stub_installed():
        sys.meta_path.insert(0, InsightfaceFinder(implementation, package_dir))
        if announce:
            logger.info(
                "face-identity: the insightface package is not installed; 'import insightface' now gives face-identity's "
                "compatible module (%s) on its own detector and recognizer (set %s=1 to turn this off)",
                ", ".join(PROVIDED_MODULES),
                DISABLE_ENV,
            )
    return "face-identity"


def ensure_face_align() -> str:
    """``register`` from inside the imported package (the node's path): ``"insightface"``, ``"face-identity"`` or ``"disabled"``."""
    return register(__package__, None)


def face_align_provider() -> str:
    """Who answers ``from insightface.utils import face_align`` now: ``"insightface"``, ``"face-identity"`` or ``"none"``."""
    if real_insightface_installed():
        return "insightface"
    return "face-identity" if stub_installed() else "none"
