"""ComfyUI runs this file (by path, before importing any node pack): make ``import insightface`` work when the
insightface package is not installed, so InstantID, PuLID, InfiniteYou and IPAdapter FaceID load and run on
face-identity's detector and recognizer. Nothing is imported beyond the standard library here; a real insightface
always wins; ``FACE_IDENTITY_NO_INSIGHTFACE_SHIM=1`` turns this off. See docs/faceid.md.
"""

import importlib.util
import logging
import os


def _register_insightface_module() -> None:
    package_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "face_identity")
    path = os.path.join(package_dir, "insightface_compat.py")
    spec = importlib.util.spec_from_file_location("face_identity_insightface_compat", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    provider = module.register(None, package_dir)
    if provider == "insightface":
        logging.info("face-identity: the insightface package is installed; face-identity's insightface module is not used")


try:
    _register_insightface_module()
except Exception as error:  # a start-up script must never stop ComfyUI
    logging.warning("face-identity: could not register its insightface-compatible module: %s", error)
