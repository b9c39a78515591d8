"""The one input policy of the library and the nodes: what is refused with an error, what is only flagged.

Refused (an exception naming the caller, the item and the fix), before any work:

- an image batch whose shape is not ``[B, H, W, C]`` (C in 1, 3, 4; H, W >= 1), whose dtype is
  neither uint8 nor float, or with a NaN/infinite pixel, or float values outside 0..1 by more
  than ``IMAGE_RANGE_TOLERANCE`` (``InvalidImageError``; values within the tolerance are clipped
  where the image is converted);
- a number (threshold, strength, weight, ...) that is NaN or infinite, or outside its range, and
  a count or size that is not a whole number (``check_number``, ``check_integer``; the CLI's
  argparse types ``number_argument``/``integer_argument`` apply the same functions), and a face
  index list with a negative index or one listed twice (``check_index_list``)
  (``InvalidArgumentError``);
- a name that becomes a file or folder name (identity files, gallery identities, copy folders)
  and could leave its folder or clash with the platform (``safe_name``), or that is a reserved
  label in any spelling (``refuse_reserved``).

Flagged, never an error: per-image findings such as "no face" (the outputs say which images).

An empty image (height or width 0) is the same everywhere: given alone (a detector's ``detect``,
``FaceAnalysisCompat.get``, ``as_rgb_uint8``, a node's IMAGE) it is an ``InvalidImageError``
(``check_not_empty``); inside a list of separate images (a detector's ``detect_batch``,
``analyze``/``detect_faces``) it is "no face" for that image, logged with its index, and the other
images go on.
An empty batch ``[0, H, W, C]`` is valid; callers return empty outputs of the right shape.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, InvalidImageError

IMAGE_RANGE_TOLERANCE = 0.02
"""Float images may leave 0..1 by this much (filters and upscalers overshoot slightly); they are clipped."""
_CHECK_ELEMENTS = 1 << 24
"""Values reduced at once while checking (bounds the temporaries of a long batch)."""


def _frame_checks(chunk: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame of a float ``[n, ...]`` chunk (numpy or torch, any device): (all finite, min, max)."""
    if hasattr(chunk, "detach"):
        flat = chunk.detach().flatten(1)
        finite = flat.isfinite().all(1)
        low, high = flat.amin(1), flat.amax(1)  # NaN/inf frames are reported by ``finite`` first
        return finite.cpu().numpy(), low.float().cpu().numpy(), high.float().cpu().numpy()
    flat = np.asarray(chunk).reshape(chunk.shape[0], -1)
    return np.isfinite(flat).all(1), flat.min(1), flat.max(1)


def check_float_range(image: np.ndarray, context: str = "image") -> None:
    """Refuse a float numpy image with NaN/infinite values or values outside 0..1 beyond ``IMAGE_RANGE_TOLERANCE``.

    The single-image form of ``check_image_batch`` (``images.as_rgb_uint8`` and ``as_float_image`` use it).

    Raises:
        InvalidImageError: as ``check_image_batch``.
    """
    if not np.all(np.isfinite(image)):
        raise InvalidImageError(f"{context} contains NaN or infinity")
    if image.size and (float(image.min()) < -IMAGE_RANGE_TOLERANCE or float(image.max()) > 1.0 + IMAGE_RANGE_TOLERANCE):
        low, high = float(image.min()), float(image.max())
        hint = " It looks like 0..255: divide it by 255, or pass uint8." if high > 2.0 else " Clamp it to 0..1 first."
        raise InvalidImageError(f"{context} has values {low:.4g}..{high:.4g}, but a float image holds 0..1.{hint}")


def check_image_batch(images: Any, context: str = "image", first_index: int = 0) -> tuple[int, int, int, int]:
    """Apply the image policy to a batch; return its ``(B, H, W, C)``.

    Args:
        images: ``[B, H, W, C]`` (or one ``[H, W, C]``), C in 1, 3, 4: uint8, or float in 0..1;
            a numpy array or a torch tensor on any device (checked where it lies, chunk by chunk).
        context: who is asking (a node's name), put at the start of every message.
        first_index: the batch index of the first image (messages name ``first_index + i``).

    Raises:
        InvalidImageError: wrong shape or dtype, NaN/infinite pixels, or float values outside 0..1
            by more than ``IMAGE_RANGE_TOLERANCE``; the message names the image's batch index and the fix.
    """
    shape = tuple(int(side) for side in images.shape)
    sides = (1, *shape) if len(shape) == 3 else shape
    if len(sides) == 4 and sides[3] in (1, 3, 4) and (sides[1] < 1 or sides[2] < 1):
        raise InvalidImageError(
            f"{context}: the images are empty (height or width 0, shape {shape}); an image needs at least 1 x 1 pixels. "
            "Check the node that made or cropped them."
        )
    if len(sides) != 4 or sides[3] not in (1, 3, 4) or sides[1] < 1 or sides[2] < 1:
        raise InvalidImageError(
            f"{context}: expected an IMAGE [batch, height, width, channels] with 1, 3 or 4 channels, got shape {shape}. "
            "Connect an IMAGE output (e.g. Load Image, VAE Decode)."
        )
    dtype = str(images.dtype).replace("torch.", "")
    if dtype == "uint8":
        return sides[0], sides[1], sides[2], sides[3]
    if not dtype.startswith(("float", "bfloat")):
        raise InvalidImageError(f"{context}: unsupported image dtype {dtype}; use float32 in 0..1 (ComfyUI's IMAGE) or uint8")
    batch = images if len(shape) == 4 else images[None]
    step = max(1, _CHECK_ELEMENTS // (sides[1] * sides[2] * sides[3]))
    for start in range(0, sides[0], step):
        finite, low, high = _frame_checks(batch[start : start + step])
        for offset in range(len(finite)):
            index = first_index + start + offset
            if not finite[offset]:
                raise InvalidImageError(
                    f"{context}: image {index} of the batch has NaN or infinite pixels. Fix the node that made it "
                    "(e.g. a float16 VAE decode that overflowed: run it in float32) or leave that image out."
                )
            if low[offset] < -IMAGE_RANGE_TOLERANCE or high[offset] > 1.0 + IMAGE_RANGE_TOLERANCE:
                hint = " It looks like 0..255: divide it by 255." if high[offset] > 2.0 else " Clamp it to 0..1 first."
                raise InvalidImageError(
                    f"{context}: image {index} of the batch has values {float(low[offset]):.4g}..{float(high[offset]):.4g}, "
                    f"but an IMAGE holds 0..1.{hint}"
                )
    return sides[0], sides[1], sides[2], sides[3]


def is_empty_image(image: Any) -> bool:
    """Whether an ``[H, W, ...]`` image has no pixels (height or width 0)."""
    shape = tuple(getattr(image, "shape", ()))
    return len(shape) >= 2 and (int(shape[0]) == 0 or int(shape[1]) == 0)


def check_not_empty(image: Any, context: str = "image") -> None:
    """Refuse an empty image given on its own (see the module docstring for batches).

    Raises:
        InvalidImageError: names ``context``, the shape and the fix.
    """
    if is_empty_image(image):
        raise InvalidImageError(
            f"{context}: the image is empty (shape {tuple(image.shape)}); give an image of at least 1 x 1 pixels"
        )


def check_number(value: Any, name: str, context: str = "", minimum: float | None = None, maximum: float | None = None) -> float:
    """Apply the number policy: ``value`` as a float when finite and within ``minimum..maximum`` (inclusive).

    Raises:
        InvalidArgumentError: not a number, NaN, infinite, or out of range; the message names
            ``context`` (a node), the input ``name``, the value and the range.
    """
    prefix = f"{context}: " if context else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{prefix}{name} must be a number, got {value!r}") from None
    span = f" ({minimum if minimum is not None else '-inf'}..{maximum if maximum is not None else 'inf'})"
    if not math.isfinite(number):
        raise InvalidArgumentError(f"{prefix}{name} is {number}; give a finite number{span}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InvalidArgumentError(f"{prefix}{name} is {number:g}, outside its range{span}")
    return number


def check_integer(value: Any, name: str, context: str = "", minimum: int | None = None, maximum: int | None = None) -> int:
    """Apply the number policy to a whole number: ``value`` as an int when it is integral and within ``minimum..maximum``.

    ``640`` and ``640.0`` pass; ``640.5``, ``True``, NaN and infinity do not (nothing is truncated).

    Raises:
        InvalidArgumentError: not a whole number, or out of range; names ``context``, ``name``, the value and the range.
    """
    prefix = f"{context}: " if context else ""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{prefix}{name} must be a whole number, got {value!r}")
    number = check_number(value, name, context, minimum, maximum)
    if not number.is_integer():
        raise InvalidArgumentError(f"{prefix}{name} must be a whole number, got {value!r} (nothing is rounded for you)")
    return int(number)


def check_index_list(indices: Any, context: str = "") -> tuple[int, ...]:
    """Face indices as a tuple of whole numbers >= 0, each listed once (a face is never picked twice).

    Raises:
        InvalidArgumentError: a negative or non-integral index, or one listed twice (names it and the fix).
    """
    checked = tuple(check_integer(index, "face index", context, minimum=0) for index in indices)
    repeated = sorted({index for index in checked if checked.count(index) > 1})
    if repeated:
        prefix = f"{context}: " if context else ""
        raise InvalidArgumentError(
            f"{prefix}face index list {','.join(map(str, checked))} names face {', '.join(map(str, repeated))} more than "
            'once; list each face once (e.g. "0,2")'
        )
    return checked


def number_argument(name: str, minimum: float | None = None, maximum: float | None = None) -> Callable[[str], float]:
    """An argparse ``type`` applying ``check_number`` (so ``nan``, ``inf`` and out-of-range values are usage errors)."""

    def parse(text: str) -> float:
        try:
            return check_number(text, name, minimum=minimum, maximum=maximum)
        except InvalidArgumentError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def integer_argument(
    name: str, minimum: int | None = None, maximum: int | None = None, automatic: str | None = None
) -> Callable[[str], int | None]:
    """An argparse ``type`` applying ``check_integer``; the word ``automatic`` (when given) means ``None``."""

    def parse(text: str) -> int | None:
        if automatic is not None and text.strip().lower() == automatic:
            return None
        try:
            value = float(text) if text.strip().lstrip("+-").replace(".", "", 1).isdigit() else text
            return check_integer(value, name, minimum=minimum, maximum=maximum)
        except InvalidArgumentError as error:
            hint = f" (or {automatic})" if automatic else ""
            raise argparse.ArgumentTypeError(f"{error}{hint}") from None

    return parse


SAFE_NAME_MAX = 128
"""Longest name ``safe_name`` accepts (characters)."""
_WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))})
"""Names Windows refuses as files whatever the extension."""
_NAME_CHARACTERS = re.compile(r"[^\W_][\w .\-]*")
"""A letter or digit (any script), then letters, digits, ``_``, space, ``.`` and ``-``."""


def safe_name(name: str, what: str = "name", error: type[Exception] = InvalidArgumentError) -> str:
    """The one check for every name that becomes a file or folder name; returns ``name`` unchanged.

    Allowed: letters and digits of any script, space, ``_``, ``.`` and ``-``; it starts with a letter
    or digit, has at most ``SAFE_NAME_MAX`` characters, no ``..``, does not end with ``.`` or a space,
    and is no Windows device name (``CON``, ``NUL``, ``COM1``, ...). So it can never be a path
    (``/``, ``\\``, ``:``), ``.`` or ``..``, hidden, or a name that one platform cannot create.

    Raises:
        error: (``InvalidArgumentError`` unless the caller names its own type) naming ``what``, the
            name and the rule.
    """
    text = str(name)
    device = text.split(".")[0].strip().upper() in _WINDOWS_DEVICES
    if not _NAME_CHARACTERS.fullmatch(text) or len(text) > SAFE_NAME_MAX or ".." in text or text.endswith((".", " ")) or device:
        raise error(
            f"{what} {text!r} is not allowed: use letters, digits, spaces, '_', '-' and '.', starting with a letter "
            f"or digit, no '..', no folders and no Windows device names like CON (at most {SAFE_NAME_MAX} characters)"
        )
    return text


def refuse_reserved(name: str, reserved: tuple[str, ...], what: str = "name") -> str:
    """``name`` unless it is one of the ``reserved`` labels in any spelling (case, surrounding spaces).

    Raises:
        InvalidArgumentError: names the label, what it is reserved for not being known here, and the fix.
    """
    if name.strip().casefold() in {label.casefold() for label in reserved}:
        raise InvalidArgumentError(
            f"{what} {name!r} is a reserved label ({', '.join(map(repr, reserved))}, in any case); rename it"
        )
    return name
