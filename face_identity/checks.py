"""``check(kind, value, ...)``: a caller's number or text input checked by the library's own rule, by name.

The rules live with their concern: the number policy in ``validate`` (``check_number``: finite, within
bounds), face index lists in ``select`` (``parse_index_list``), identity file names in ``store``
(``safe_identity_filename``). A user interface checks its widgets through this one function, before a run
and at run time alike, and gets the same message either way.
"""

from __future__ import annotations

from typing import Any, Literal, overload

from .errors import InvalidArgumentError
from .select import parse_index_list
from .store import safe_identity_filename
from .validate import check_number

CHECK_KINDS: tuple[str, ...] = ("number", "indices", "identity name")
"""What ``check`` checks."""


@overload
def check(
    kind: Literal["number"],
    value: Any,
    name: str,
    context: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
) -> float: ...


@overload
def check(kind: Literal["indices"], value: str) -> list[int] | None: ...


@overload
def check(kind: Literal["identity name"], value: str) -> str: ...


def check(kind: str, value: Any, *arguments: Any, **keywords: Any) -> Any:
    """``value`` checked and normalised by the rule of ``kind`` (``CHECK_KINDS``):

    - ``"number"`` (with ``name``, ``context``, ``minimum``, ``maximum``): a finite float within the bounds
      (``validate.check_number``; NaN and infinity are refused).
    - ``"indices"``: a face index list such as ``"0,2"`` -> ``[0, 2]``; empty text -> ``None`` (every face)
      (``select.parse_index_list``).
    - ``"identity name"``: an identity file name -> ``name.safetensors``, refusing paths, reserved and
      unsafe names (``store.safe_identity_filename``).

    Raises:
        InvalidArgumentError: an unknown kind, or a value the rule refuses (the message names it and the fix);
        ``IdentityFileError`` for an unsafe identity name.
    """
    if kind == "number":
        return check_number(value, *arguments, **keywords)
    if kind == "indices":
        return parse_index_list(value, *arguments, **keywords)
    if kind == "identity name":
        return safe_identity_filename(value, *arguments, **keywords)
    raise InvalidArgumentError(f"unknown check {kind!r}; check checks {', '.join(CHECK_KINDS)}")
