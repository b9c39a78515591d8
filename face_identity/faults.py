"""Per-face isolation of bad model outputs: a face whose model output is unusable is skipped and flagged.

Every model output passes ``io_facts.check_outputs`` (through ``runner.ModelRunner``), which raises
``ModelOutputError`` for NaN/infinite values or a wrong shape. A stage runs its faces as one batch;
when that batch raises, ``per_item`` runs the faces one at a time so that only the faces whose own
output is bad are skipped (``SkippedFace``, with the reason), and every other face goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .errors import ModelOutputError

__all__ = ["SkippedFace", "per_item", "skipped_lines"]

T = TypeVar("T")


@dataclass(frozen=True)
class SkippedFace:
    """A face a stage left as it was: ``stage`` (``swap``, ``restore``, ``mask``, ``detect``), where, and why.

    ``face_index`` -1: the whole image (its detection failed, so none of its faces was found).
    """

    stage: str
    image_index: int
    face_index: int
    reason: str

    def line(self) -> str:
        where = f"image {self.image_index}" + (f" face {self.face_index}" if self.face_index >= 0 else "")
        return f"{self.stage}: {where} skipped: {self.reason}"

    @staticmethod
    def lines(skipped: Sequence[SkippedFace]) -> str:
        """One line per skipped face (empty text for none), for summaries and info outputs (``skipped_lines``)."""
        return skipped_lines(skipped)


def per_item(run: Callable[[Sequence[int]], Sequence[T]], count: int) -> tuple[list[T | None], dict[int, str]]:
    """``run(indices)`` -> one result per index, tried on all ``count`` items at once, then one by one on ``ModelOutputError``.

    Returns:
        (per item its result or ``None``, ``{item: reason}`` for the items whose own run raised).
    """
    indices = list(range(count))
    try:
        return list(run(indices)), {}
    except ModelOutputError:
        pass
    results: list[T | None] = []
    problems: dict[int, str] = {}
    for index in indices:
        try:
            results.append(run([index])[0])
        except ModelOutputError as error:
            results.append(None)
            problems[index] = str(error)
    return results, problems


def skipped_lines(skipped: Sequence[SkippedFace]) -> str:
    """One line per skipped face (empty text for none), for summaries and node info outputs."""
    return "\n".join(face.line() for face in skipped)
