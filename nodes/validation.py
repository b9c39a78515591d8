"""``VALIDATE_INPUTS`` answers for text widgets ComfyUI can check before a run (the rest is face_identity.validate).

ComfyUI calls a node's ``VALIDATE_INPUTS`` classmethod with the inputs named in its signature and
skips its own min/max/choice checks for exactly those inputs, so a node names only the text inputs
checked here (no ``**kwargs``). An input fed by a link has no value yet: it arrives as ``None`` and is
checked at run time by the same library function.
"""

from __future__ import annotations

from collections.abc import Callable

from ..face_identity import FaceIdentityError, check


def answer(check: Callable[[str], object], value: object, label: str) -> bool | str:
    """``True`` when ``check(value)`` accepts it (or it comes by link), else the library's message for ``label``."""
    if value is None or not isinstance(value, str):
        return True
    try:
        check(value)
    except FaceIdentityError as error:
        return f"{label}: {error}"
    return True


def index_list_answer(indices: object) -> bool | str:
    """For a face index list widget (``check("indices", ...)``: ``"0,2"``, empty = all)."""
    return answer(lambda text: check("indices", text), indices, "indices")


def identity_name_answer(name: object) -> bool | str:
    """For an identity file name widget (``check("identity name", ...)``)."""
    return answer(lambda text: check("identity name", text), name, "name")
