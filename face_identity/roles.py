"""The one vocabulary of what a model is for (``Role``): the catalog's roles, the roles a session's
signature is checked against (``runtime.require_kind``) and the nodes' model lists.

``model_facts.ModelKind`` refines the crop-in / tensor-out roles by code path (three landmarker
kinds); ``model_facts.role_of`` maps each kind back to its ``Role``.
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["recognizer", "detector", "swapper", "converter", "landmarker", "occluder", "parser", "restorer"]
ROLES: tuple[str, ...] = get_args(Role)
"""Every role, in catalog order."""

ROLE_WORDS: dict[str, str] = {
    "recognizer": "a face recognizer (embedding model)",
    "detector": "a face detector",
    "swapper": "a face swapper",
    "converter": "an embedding converter",
    "landmarker": "a 68-point face landmarker",
    "occluder": "a face occluder",
    "parser": "a face parser",
    "restorer": "a face restorer",
    "unknown": "not a face model this library knows",
}
"""Each role in words, for messages (``unknown``: a graph whose signature fits no role)."""
