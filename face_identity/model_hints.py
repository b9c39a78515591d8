"""What a user can do when a model file does not fit: the supported families of each role and the next command.

Every "this file is not a ..." message ends with one of these hints, so that it names what *is*
supported (catalog names and file layouts) and the command that gets a working model. Pure text
built from the catalog and the model-facts table; no I/O.
"""

from __future__ import annotations

from .catalog import Role, names_for_role

SUPPORTED_FAMILIES: dict[str, str] = {
    "detector": (
        "SCRFD / RetinaFace-10g (insightface's det_10g, det_2.5g, det_500m layouts: 6, 9, 10 or 15 outputs) "
        "and YOLOFace-8n (one [1,20,A] output); YuNet and biubug6's RetinaFace-mobilenet are not supported"
    ),
    "recognizer": "ArcFace-style recognizers: one [N,3,S,S] RGB input (S 112 or more, a multiple of 16), one [N,D] output",
    "swapper": "inswapper_128, HyperSwap, SimSwap, GHOST and HifiFace exports: an image input plus a source-embedding input",
}
"""The file layouts each role's loader reads, in words (see ``runtime.classify_signature``)."""

_CLI_FLAG = {"detector": "--detector", "recognizer": "--recognizer"}
"""The face-identity options that take a model of the role (the CLI loads no swapper)."""


def role_hint(role: Role) -> str:
    """What the library supports for ``role`` and the command that gets a model of it.

    E.g. for ``"detector"``: "Supported detectors: SCRFD / RetinaFace-10g (...). Give a catalog name
    (retinaface_10g, scrfd_2.5g, yoloface_8n; `face-identity models` lists every model) or download one
    first: `face-identity download retinaface_10g`."
    """
    names = names_for_role(role)
    families = SUPPORTED_FAMILIES.get(role)
    supported = f"Supported {role}s: {families}. " if families else ""
    flag = _CLI_FLAG.get(role)
    usage = f" (`{flag} {names[0]}` on the command line)" if flag and names else ""
    if not names:
        return f"{supported}`face-identity models` lists every model this library knows."
    return (
        f"{supported}Give a catalog name{usage}: {', '.join(names)} (`face-identity models` lists every model), "
        f"or download one first: `face-identity download {names[0]}`."
    )
