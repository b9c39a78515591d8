"""Identity over time: per frame, how much of the source a swap kept (retention) and of the target it left (leakage).

``build_timeline`` turns the ``swap.selfcheck.FaceCheck`` of every swapped face into one
``TimelineRow`` per frame: the faces swapped, the model(s) that won, the lowest retention and the
highest leakage over its faces, and four flags:

- ``no_face``: the chosen person is not in the frame (the swap plan's ``no_face`` when a plan is
  given, else: no face was swapped in it);
- ``bridged``: its target was interpolated over a detection gap (from the plan);
- ``fallback``: a face of it was swapped again with a later model;
- ``below_floor``: a face of it stays below the retention floor after every model.

A frame without a scored face has no retention or leakage: ``None`` in the rows, an empty CSV cell,
``null`` in JSON, a gap in the chart. NaN never reaches an output. ``write_timeline`` writes CSV or
JSON (by the suffix) atomically; ``timeline_chart`` draws both scores over the frames with the floor.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .draw import FAIL_COLOUR, NO_FACE_COLOUR, PASS_COLOUR, line_chart
from .errors import InvalidArgumentError
from .files import temporary_beside
from .types import FloatImage
from .validate import check_integer, check_number

if TYPE_CHECKING:  # swap imports this module (stream); at run time only the checks' fields are read
    from .swap.selfcheck import FaceCheck

__all__ = ["FLAGS", "IdentityTimeline", "TimelineRow", "build_timeline", "timeline_chart", "write_timeline"]

FLAGS = ("no_face", "bridged", "fallback", "below_floor")
"""The flags of a timeline row, in the order they are listed and drawn."""
TIMELINE_SUFFIXES = (".csv", ".json")
"""The file types ``write_timeline`` writes (chosen by the path's suffix)."""
LEAKAGE_COLOUR = (90, 90, 90)
FLAG_COLOURS = {"no_face": NO_FACE_COLOUR, "bridged": (60, 110, 220), "fallback": (230, 140, 0), "below_floor": FAIL_COLOUR}
FLAG_LABELS = {"no_face": "no face", "bridged": "bridged", "fallback": "fallback", "below_floor": "< floor"}
"""The label of each flag's row of ticks in the chart."""


class PlanFlags(Protocol):
    """What the timeline reads from a swap plan (``swap.plan.SwapPlan``): frames with no face, frames bridged."""

    @property
    def no_face(self) -> tuple[int, ...]: ...

    @property
    def bridged(self) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class TimelineRow:
    """One frame of a timeline.

    ``frame``: its index in the batch; ``faces``: faces swapped and scored; ``models``: the model kept for
    each of them (swap order); ``retention``: the lowest over its faces, ``leakage``: the highest (cosines,
    -1..1; ``None`` without a scored face); the flags as in the module docstring.
    """

    frame: int
    faces: int
    models: tuple[str, ...]
    retention: float | None
    leakage: float | None
    no_face: bool = False
    bridged: bool = False
    fallback: bool = False
    below_floor: bool = False

    @property
    def flags(self) -> tuple[str, ...]:
        """The names of the flags set on this row (``FLAGS`` order)."""
        return tuple(flag for flag in FLAGS if getattr(self, flag))

    def record(self) -> dict[str, Any]:
        """The row as a JSON-ready dict (``None`` for a missing score)."""
        return {
            "frame": self.frame,
            "faces": self.faces,
            "models": list(self.models),
            "retention": self.retention,
            "leakage": self.leakage,
            **{flag: getattr(self, flag) for flag in FLAGS},
        }


@dataclass(frozen=True)
class IdentityTimeline:
    """One ``TimelineRow`` per frame of a swapped batch, and the floor they were checked against (``None``: none)."""

    rows: tuple[TimelineRow, ...]
    floor: float | None = None

    def flagged(self) -> dict[str, tuple[int, ...]]:
        """Every flag of ``FLAGS`` -> the frames that carry it, ascending (an empty tuple when none)."""
        return {flag: tuple(row.frame for row in self.rows if getattr(row, flag)) for flag in FLAGS}

    def summary(self) -> str:
        """Readable lines: frames, the retention range, then each flag with its frames (at most 20 listed)."""
        scored = [row.retention for row in self.rows if row.retention is not None]
        lines = [f"identity over time: {len(self.rows)} frame(s), {len(scored)} scored"]
        if scored:
            lines[0] += f", retention {min(scored):.3f}..{max(scored):.3f}"
        if self.floor is not None:
            lines[0] += f", floor {self.floor:.2f}"
        for flag, frames in self.flagged().items():
            if frames:
                listed = ", ".join(str(frame) for frame in frames[:20]) + (", ..." if len(frames) > 20 else "")
                lines.append(f"{flag.replace('_', ' ')}: {len(frames)} frame(s): {listed}")
        return "\n".join(lines)


def _finite(values: Sequence[float]) -> list[float]:
    return [float(value) for value in values if math.isfinite(value)]


def build_timeline(count: int, checks: Sequence[FaceCheck], plan: PlanFlags | None, floor: float | None) -> IdentityTimeline:
    """The timeline of a batch of ``count`` frames from its face checks (``swap_checked``'s, batch frame indices).

    Args:
        count: frames in the batch (rows ``0 .. count-1``).
        checks: one ``FaceCheck`` per swapped face.
        plan: the swap plan (``no_face`` and ``bridged`` frames), or ``None``: frames without a swapped
            face are flagged ``no_face`` and none ``bridged``.
        floor: the retention floor (``below_floor`` when a face's check did not pass), or ``None``.

    Raises:
        InvalidArgumentError: a negative count, a NaN/infinite floor, or a check of a frame outside the batch.
    """
    count = check_integer(count, "frame count", "build_timeline", minimum=0)
    floor = None if floor is None else check_number(floor, "retention floor", "build_timeline", -1.0, 1.0)
    per_frame: list[list[FaceCheck]] = [[] for _ in range(count)]
    for check in checks:
        if not 0 <= check.frame < count:
            raise InvalidArgumentError(f"build_timeline: a face check of frame {check.frame}, but the batch has {count} frame(s)")
        per_frame[check.frame].append(check)
    no_face = None if plan is None else set(plan.no_face)
    bridged = set() if plan is None else set(plan.bridged)
    rows = []
    for frame, found in enumerate(per_frame):
        retention, leakage = _finite([c.retention for c in found]), _finite([c.leakage for c in found])
        rows.append(
            TimelineRow(
                frame,
                len(found),
                tuple(check.model for check in sorted(found, key=lambda check: check.face)),
                min(retention) if retention else None,
                max(leakage) if leakage else None,
                no_face=frame in no_face if no_face is not None else not found,
                bridged=frame in bridged,
                fallback=any(len(check.tried) > 1 for check in found),
                below_floor=floor is not None and any(not check.passed for check in found),
            )
        )
    return IdentityTimeline(tuple(rows), floor)


def _csv_text(timeline: IdentityTimeline) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["frame", "faces", "models", "retention", "leakage", *FLAGS])
    for row in timeline.rows:
        scores = ["" if value is None else f"{value:.6f}" for value in (row.retention, row.leakage)]
        writer.writerow([row.frame, row.faces, "+".join(row.models), *scores, *(int(getattr(row, flag)) for flag in FLAGS)])
    return buffer.getvalue()


def _json_text(timeline: IdentityTimeline) -> str:
    document = {"floor": timeline.floor, "flagged": timeline.flagged(), "rows": [row.record() for row in timeline.rows]}
    return json.dumps(document, indent=1, allow_nan=False) + "\n"


def write_timeline(timeline: IdentityTimeline, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write the timeline to ``path``: ``.csv`` (one row per frame; models joined by ``+``, flags 1/0,
    an empty cell for a missing score) or ``.json`` (``floor``, ``flagged``, ``rows``; ``null`` for a
    missing score), atomically (``files.temporary_beside``). Returns ``path``.

    Raises:
        InvalidArgumentError: another suffix, or ``path`` exists and ``overwrite`` is False.
        OSError: the write failed; nothing is left behind.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in TIMELINE_SUFFIXES:
        raise InvalidArgumentError(f"write_timeline: {target.name} must end in .csv or .json (the format is chosen by it)")
    if target.exists() and not overwrite:
        raise InvalidArgumentError(f"write_timeline: {target} already exists; choose another path or pass overwrite=True")
    text = _csv_text(timeline) if suffix == ".csv" else _json_text(timeline)
    with temporary_beside(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return target


def timeline_chart(timeline: IdentityTimeline, floor: float | None = None, width: int = 640, height: int = 260) -> FloatImage:
    """Retention (green) and leakage (grey) over the frames, the floor as a line, and a row of ticks per flag
    under them marking the flagged frames (``draw.line_chart``); a frame without a score is a gap.

    Args:
        floor: the line drawn; default the timeline's own floor (none drawn when both are ``None``).
        width, height: the image size in pixels.

    Returns:
        ``[height, width, 3]`` float32 RGB in 0..1.

    Raises:
        InvalidArgumentError: as ``draw.line_chart`` (a NaN floor, too small a size).
    """
    rows = timeline.rows
    lines = [
        ("retention", [row.retention for row in rows], PASS_COLOUR),
        ("leakage", [row.leakage for row in rows], LEAKAGE_COLOUR),
    ]
    flagged = timeline.flagged()
    marks = [(FLAG_LABELS[flag], flagged[flag], FLAG_COLOURS[flag]) for flag in FLAGS]
    level = timeline.floor if floor is None else floor
    image = line_chart(lines, len(rows), level, marks, width, height)
    return (image.astype(np.float32) / np.float32(255.0)).astype(np.float32)
