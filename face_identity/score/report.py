"""What a scoring run found: summary figures, a similarity histogram, and copies of the passing images."""

from __future__ import annotations

import filecmp
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import InvalidArgumentError
from ..files import write_atomic
from ..validate import safe_name
from .rows import Row

logger = logging.getLogger(__name__)

HISTOGRAM_SIZE = (900, 420)
"""Histogram image ``(width, height)`` in pixels."""
HISTOGRAM_BIN = 0.02
"""Histogram bin width in cosine similarity."""


@dataclass(frozen=True)
class Summary:
    """Figures over all rows of an output.

    ``scored`` counts images with at least one face; the similarity statistics are over their best
    faces (None when there are none); ``pass_rate`` is ``passed / images``.
    """

    images: int
    scored: int
    no_face: int
    unreadable: int
    passed: int
    pass_rate: float
    threshold: float
    mean: float | None
    median: float | None
    p5: float | None
    p95: float | None
    identities: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        """The summary as a few printable lines."""
        lines = [
            f"images {self.images}: scored {self.scored}, no face {self.no_face}, unreadable {self.unreadable}",
            f"passed {self.passed} ({100 * self.pass_rate:.1f} % of images) at threshold {self.threshold:.3f}",
        ]
        if self.mean is not None:
            lines.append(f"similarity mean {self.mean:.4f}  median {self.median:.4f}  p5 {self.p5:.4f}  p95 {self.p95:.4f}")
        if self.identities:
            lines.append("identities: " + ", ".join(f"{name} {count}" for name, count in self.identities.items()))
        return "\n".join(lines)


def summarize(rows: Sequence[Row], threshold: float, gallery: bool = False) -> Summary:
    """Counts and similarity statistics of ``rows`` (``pass`` as the rows say)."""
    unreadable = sum(1 for row in rows if row.get("error"))
    similarities = np.array([row["similarity"] for row in rows if row.get("similarity") is not None], dtype=np.float64)
    passed = sum(1 for row in rows if row.get("pass"))
    stats: dict[str, float | None] = {"mean": None, "median": None, "p5": None, "p95": None}
    if similarities.size:
        stats = {
            "mean": float(similarities.mean()),
            "median": float(np.median(similarities)),
            "p5": float(np.percentile(similarities, 5)),
            "p95": float(np.percentile(similarities, 95)),
        }
    identities: dict[str, int] = {}
    if gallery:
        counts = Counter(str(row["identity"]) for row in rows if row.get("identity") is not None)
        identities = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return Summary(
        images=len(rows),
        scored=int(similarities.size),
        no_face=sum(1 for row in rows if not row.get("error") and row.get("similarity") is None),
        unreadable=unreadable,
        passed=passed,
        pass_rate=passed / len(rows) if rows else 0.0,
        threshold=float(threshold),
        identities=identities,
        **stats,
    )


def draw_histogram(similarities: Sequence[float], threshold: float, title: str = "") -> np.ndarray:
    """A histogram of cosine similarities with the threshold marked, as a ``[H, W, 3]`` uint8 BGR image.

    Bins of ``HISTOGRAM_BIN`` from ``min(-0.2, lowest)`` to 1.0; bars below the threshold grey,
    at or above it green; the threshold is a red vertical line.
    """
    width, height = HISTOGRAM_SIZE
    left, right, top, bottom = 60, 20, 40, 50
    values = np.asarray(similarities, dtype=np.float64)
    low = min(-0.2, float(np.floor(values.min() / HISTOGRAM_BIN) * HISTOGRAM_BIN)) if values.size else -0.2
    edges = np.arange(low, 1.0 + HISTOGRAM_BIN / 2, HISTOGRAM_BIN)
    counts, _ = np.histogram(np.clip(values, low, 1.0), bins=edges)
    image = np.full((height, width, 3), 255, np.uint8)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(value: float) -> int:
        return int(round(left + (value - low) / (1.0 - low) * plot_w))

    peak = max(int(counts.max()) if counts.size else 0, 1)
    for count, start in zip(counts, edges[:-1]):
        if count:
            bar_top = int(round(top + plot_h * (1 - count / peak)))
            colour = (90, 170, 60) if start + HISTOGRAM_BIN / 2 >= threshold else (170, 170, 170)
            cv2.rectangle(image, (x_of(start) + 1, bar_top), (x_of(start + HISTOGRAM_BIN) - 1, top + plot_h), colour, -1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.line(image, (left, top + plot_h), (left + plot_w, top + plot_h), (0, 0, 0), 1)
    cv2.line(image, (left, top), (left, top + plot_h), (0, 0, 0), 1)
    for tick in np.arange(np.ceil(low * 5) / 5, 1.0 + 1e-9, 0.2):
        x = x_of(float(tick))
        cv2.line(image, (x, top + plot_h), (x, top + plot_h + 5), (0, 0, 0), 1)
        cv2.putText(image, f"{tick:.1f}", (x - 14, top + plot_h + 22), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for fraction in (0.0, 0.5, 1.0):
        y = int(round(top + plot_h * (1 - fraction)))
        cv2.putText(image, str(int(round(peak * fraction))), (8, y + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    x = x_of(min(max(threshold, low), 1.0))
    cv2.line(image, (x, top - 5), (x, top + plot_h), (0, 0, 220), 2)
    cv2.putText(image, f"threshold {threshold:.3f}", (min(x + 6, width - 150), top + 12), font, 0.5, (0, 0, 220), 1, cv2.LINE_AA)
    caption = title or f"cosine similarity of the best face, {values.size} images"
    cv2.putText(image, caption, (left, 25), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "similarity", (left + plot_w // 2 - 40, height - 10), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def write_histogram(rows: Sequence[Row], threshold: float, path: Path) -> Path:
    """Draw the histogram of the rows' similarities and write it as PNG to ``path``."""
    values = [float(row["similarity"]) for row in rows if row.get("similarity") is not None]
    ok, encoded = cv2.imencode(".png", draw_histogram(values, threshold))
    if not ok:
        raise InvalidArgumentError(f"could not encode the histogram for {path}")
    return write_atomic(path, encoded.tobytes())


def report_owner(summary_path: Path) -> dict[str, Any] | None:
    """The payload of a summary JSON written by a scoring run, or ``None`` when the file is not one."""
    try:
        payload = json.loads(summary_path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if isinstance(payload, dict) and isinstance(payload.get("summary"), dict) and isinstance(payload.get("out"), str):
        return payload
    return None


def _same_path(recorded: object, path: Path) -> bool:
    """Whether a path recorded in a summary names ``path`` (as written, or once both are resolved)."""
    if not isinstance(recorded, str):
        return False
    return recorded == str(path) or Path(recorded).resolve() == path.resolve()


def check_report_targets(summary_path: Path, histogram_path: Path, out: Path) -> None:
    """Refuse, before any work, to replace a summary or histogram this command did not write for ``out``.

    A summary JSON may be replaced when it is a scoring run's summary of the same ``out``; the
    histogram only when that summary names it. Anything else (another run's report in a shared
    ``--report`` folder, a user's own file of that name) is left alone.

    Raises:
        InvalidArgumentError: names the file and the fix (another ``--report`` folder or ``--out``).
    """
    owner = report_owner(summary_path) if summary_path.exists() else None
    ours = owner is not None and _same_path(owner.get("out"), out)
    for path in (summary_path, histogram_path):
        if not os.path.lexists(path):
            continue
        if ours and (path == summary_path or _same_path((owner or {}).get("histogram"), histogram_path)):
            continue
        raise InvalidArgumentError(
            f"{path} exists and was not written by a score run for {out}; it is left alone. Pick another --report "
            f"folder (or --out), or move {path.name} away."
        )


@dataclass(frozen=True)
class CopyResult:
    """What ``copy_passed`` did: files placed now, already there (identical), and left alone (a different file)."""

    placed: int
    already_there: int
    conflicts: tuple[Path, ...]


def _place(source: Path, target: Path, mode: str) -> str:
    """Link or copy ``source`` to ``target`` without ever replacing an existing file: placed | same | conflict."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode in ("link", "auto"):
        try:
            os.link(source, target)  # fails when target exists: never overwrites
            return "placed"
        except FileExistsError:
            pass
        except OSError:
            if mode == "link":
                raise
    if not os.path.lexists(target):
        try:
            with source.open("rb") as reader, target.open("xb") as writer:  # "x": fails if the file appeared meanwhile
                shutil.copyfileobj(reader, writer)
            shutil.copystat(source, target)
            return "placed"
        except FileExistsError:
            pass
    if target.is_file() and (os.path.samefile(source, target) or filecmp.cmp(source, target, shallow=False)):
        return "same"
    return "conflict"


def copy_passed(rows: Sequence[Row], folder: str | os.PathLike[str], mode: str = "auto", gallery: bool = False) -> CopyResult:
    """Hard-link (``auto``: falling back to a copy across file systems), or copy, every passing image into ``folder``.

    Images keep their path relative to the deepest folder all passing images share (so equal file
    names from different folders do not collide); in gallery mode under a sub-folder per identity.
    Source files are never moved or changed, and an existing file in ``folder`` is never replaced:
    an identical one counts as already there, a different one as a conflict (reported, left alone).
    """
    if mode not in ("auto", "link", "copy"):
        raise InvalidArgumentError(f"copy mode must be auto, link or copy, got {mode!r}")
    passing = [row for row in rows if row.get("pass") and not row.get("error")]
    if not passing:
        return CopyResult(0, 0, ())
    sources = [Path(str(row["path"])).resolve() for row in passing]
    root = Path(os.path.commonpath([str(p.parent) for p in sources]))
    target_root = Path(folder)
    placed, same, conflicts = 0, 0, []
    for row, source in zip(passing, sources):
        relative = source.relative_to(root)
        folder_name = str(row["identity"]) if gallery and row.get("identity") else ""
        target = target_root / folder_name / relative
        if folder_name:
            try:
                safe_name(folder_name, "identity")  # a row edited by hand must not place a file outside DIR
            except InvalidArgumentError as error:
                conflicts.append(target)
                logger.warning("%s not copied: %s", source, error)
                continue
        outcome = _place(source, target, mode)
        if outcome == "placed":
            placed += 1
        elif outcome == "same":
            same += 1
        else:
            conflicts.append(target)
            logger.warning("%s exists and differs from %s; left alone", target, source)
    return CopyResult(placed, same, tuple(conflicts))
