"""A stand-in for ``insightface.utils.face_align`` when the insightface package is not installed.

IPAdapter_plus's FaceID Plus path runs ``from insightface.utils import face_align`` and
``face_align.norm_crop(image, landmark=kps, image_size=224|256|336)`` inside its apply node. Without
the insightface package that import fails even when its ``INSIGHTFACE`` input is our analyser.
``ensure_face_align()`` (called when the "Face Analysis (insightface-compatible)" node runs, never at
import) registers three modules in ``sys.modules``:

- ``insightface.utils.face_align``: ``norm_crop`` and ``estimate_norm`` (``align.norm_crop``: our
  alignment, insightface's 112/128 size rule);
- ``insightface.utils`` and ``insightface``: empty packages that only hold the above.

What other packs then see: ``import insightface`` succeeds (and ``importlib.util.find_spec`` finds
it, with origin ``STUB_ORIGIN``), but every other name fails loudly and names this pack:
``from insightface.app import FaceAnalysis`` raises ``ModuleNotFoundError`` and
``insightface.model_zoo`` raises ``AttributeError``, each saying that the insightface package is not
installed. Packs that test ``import insightface`` at their own import are unaffected (ComfyUI imports
every pack before any node runs).

Nothing is registered when the real package is installed (findable on ``sys.path``), and a stand-in
registered earlier is removed as soon as the real package is found, so its next import loads the real one.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from .align import estimate_norm, norm_crop

STUB_ORIGIN = "face-identity stand-in for insightface.utils.face_align (the insightface package is not installed)"
STUB_FLAG = "__face_identity_stub__"
PACKAGE = "insightface"
STUB_MODULES = ("insightface", "insightface.utils", "insightface.utils.face_align")
FACE_ALIGN_NAMES = ("norm_crop", "estimate_norm")


def _unavailable(fullname: str) -> str:
    return (
        f"{fullname} is not available: the insightface package is not installed. The 'insightface' module in this "
        "process is face-identity's stand-in (registered by its 'Face Analysis (insightface-compatible)' node), which "
        "provides only insightface.utils.face_align.norm_crop / estimate_norm. Install insightface and restart ComfyUI "
        "for FaceAnalysis, model_zoo and the rest, or use face-identity's nodes."
    )


def is_stub(module: object) -> bool:
    """True for a module registered by ``ensure_face_align``."""
    return module is not None and bool(getattr(module, STUB_FLAG, False))


def real_insightface_installed(search_path: Sequence[str] | None = None) -> bool:
    """True when the real insightface package is imported or findable on ``sys.path`` (without importing it).

    A bare ``insightface`` directory without ``__init__.py`` (a namespace package, e.g. a models folder on
    the path) does not count.
    """
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None and not is_stub(loaded):
        return True
    spec = importlib.machinery.PathFinder.find_spec(PACKAGE, search_path)
    return spec is not None and spec.origin is not None


class _StubSubmoduleFinder:
    """Last entry of ``sys.meta_path`` while the stand-in is registered: imports of any other
    ``insightface.*`` module fail with a message naming the stand-in instead of a bare "No module named"."""

    __face_identity_stub__ = True

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.startswith(PACKAGE + ".") and is_stub(sys.modules.get(PACKAGE)):
            raise ModuleNotFoundError(_unavailable(fullname), name=fullname)
        return None

    def invalidate_caches(self) -> None:
        return None


def _attribute_guard(module_name: str) -> Callable[[str], object]:
    def missing(name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        raise AttributeError(_unavailable(f"{module_name}.{name}"))

    return missing


def _stub_module(name: str, package: bool) -> ModuleType:
    module = ModuleType(name, f"face-identity stand-in: {STUB_ORIGIN}.")
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, origin=STUB_ORIGIN, is_package=package)
    if package:
        module.__path__ = []  # a package with no search path: its submodules exist only in sys.modules
    setattr(module, STUB_FLAG, True)
    module.__getattr__ = _attribute_guard(name)  # type: ignore[method-assign]
    return module


def build_stub_modules() -> dict[str, ModuleType]:
    """The three stand-in modules, linked as parent attributes, not yet registered."""
    root = _stub_module("insightface", package=True)
    utils = _stub_module("insightface.utils", package=True)
    face_align = _stub_module("insightface.utils.face_align", package=False)
    face_align.norm_crop = norm_crop  # type: ignore[attr-defined]
    face_align.estimate_norm = estimate_norm  # type: ignore[attr-defined]
    utils.face_align = face_align  # type: ignore[attr-defined]
    root.utils = utils  # type: ignore[attr-defined]
    return {module.__name__: module for module in (root, utils, face_align)}


def stub_installed() -> bool:
    """True while the stand-in is registered in ``sys.modules``."""
    return is_stub(sys.modules.get(PACKAGE))


def remove_face_align_stub() -> bool:
    """Unregister the stand-in modules and their import guard; the real package's next import loads normally.

    Returns:
        True when something was removed.
    """
    removed = False
    for name in STUB_MODULES:
        if is_stub(sys.modules.get(name)):
            del sys.modules[name]
            removed = True
    for finder in [f for f in sys.meta_path if getattr(f, STUB_FLAG, False)]:
        sys.meta_path.remove(finder)
        removed = True
    return removed


def ensure_face_align() -> str:
    """Make ``from insightface.utils import face_align`` work with an exact ``norm_crop``.

    Returns:
        ``"insightface"``: the real package is installed; nothing registered (a stand-in from earlier is removed).
        ``"face-identity"``: the stand-in is registered (now or before).
    """
    if real_insightface_installed():
        remove_face_align_stub()
        return "insightface"
    if not stub_installed():
        remove_face_align_stub()  # leftovers of a partial registration
        sys.modules.update(build_stub_modules())
        sys.meta_path.append(_StubSubmoduleFinder())
    return "face-identity"


def face_align_provider() -> str:
    """Who answers ``from insightface.utils import face_align`` now: ``"insightface"``, ``"face-identity"`` or ``"none"``."""
    if stub_installed():
        return "face-identity"
    return "insightface" if real_insightface_installed() else "none"
