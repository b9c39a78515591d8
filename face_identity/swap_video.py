"""A video file through a ``SwapJob``, resumable: pass 1 (the plan) once, pass 2 a chunk at a time into segments.

``swap_video_file`` keeps its work in a ``parts`` folder (``swap_resume.RunState.parts_folder``):

- ``plan.json``: the ``SwapPlan`` of pass 1 (tracking on), written once; a rerun reads it instead of
  detecting the clip again, so it swaps the very faces the first run chose;
- ``rows_<first frame>.json``: the identity-over-time rows of a chunk (with a self-check), written before
  its segment, so every finished segment has its rows;
- the segments (``video_io.SegmentWriter``).

Memory: pass 1 keeps ``Face`` records only; pass 2 holds one chunk of frames (decoded, swapped,
restored, encoded) at a time. The folder is deleted once the output (and the timeline) is written.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidArgumentError
from .files import write_atomic
from .frames import Frames, frames_per_chunk
from .images import save_image
from .progress import Progress
from .swap.job import SwapJob, window_plan
from .swap.plan import SwapPlan
from .timeline import IdentityTimeline, TimelineRow, timeline_chart, write_timeline
from .types import RGBImage
from .video_io import VideoFrames, transform_video

logger = logging.getLogger(__name__)
PLAN_FILE = "plan.json"
VIDEO_MEMORY_BUDGET_MB = 512.0
"""Budget given to ``frames.frames_per_chunk`` for a video's default chunk (21 frames at 720p): a chunk goes
through about twice the copies that function counts (decoded, swapped, pasted, restored, encoded), so the
chunk's frames take about 1 GB; docs/video.md "Memory and speed" has the measured peaks."""
ROWS_PREFIX = "rows_"


@dataclass(frozen=True)
class VideoReport:
    """What one video run did: frames in the file, frames swapped by this run, frames with a swapped face among them,
    and the timeline files written."""

    frames: int
    swapped_now: int
    with_face: int
    timeline_files: tuple[Path, ...] = ()


def load_or_make_plan(job: SwapJob, frames: Frames, parts: Path, chunk: int, label: str) -> SwapPlan | None:
    """The clip's plan: ``parts/plan.json`` when an earlier run wrote it, else pass 1 now (and written). ``None`` without tracking."""
    if job.tracking is None:
        return None
    path = parts / PLAN_FILE
    if path.is_file():
        plan = SwapPlan.from_json(path.read_text(encoding="utf-8"))
        if plan.count != frames.count:
            raise InvalidArgumentError(
                f"{path} covers {plan.count} frames, the video {frames.count}; delete {parts} and run again"
            )
        return plan
    with Progress(frames.count, f"{label}: tracking", "frames") as progress:
        plan = job.plan(frames, chunk, progress.update)
    write_atomic(path, plan.to_json().encode("utf-8"))
    return plan


def _save_rows(parts: Path, start: int, rows: tuple[TimelineRow, ...]) -> None:
    records = [{**row.record(), "frame": row.frame + start} for row in rows]
    write_atomic(parts / f"{ROWS_PREFIX}{start:07d}.json", json.dumps(records).encode("utf-8"))


def _timeline(parts: Path, floor: float | None) -> IdentityTimeline:
    by_frame: dict[int, TimelineRow] = {}
    for path in sorted(parts.glob(f"{ROWS_PREFIX}*.json")):
        for record in json.loads(path.read_text(encoding="utf-8")):
            record["models"] = tuple(record["models"])
            by_frame[int(record["frame"])] = TimelineRow(**record)
    return IdentityTimeline(tuple(by_frame[frame] for frame in sorted(by_frame)), floor)


def write_timeline_files(timeline: IdentityTimeline, paths: tuple[Path, ...]) -> tuple[Path, ...]:
    """Each path by its suffix: ``.csv``/``.json`` the rows, ``.png`` the chart (overwritten: the run owns them)."""
    for path in paths:
        if path.suffix.lower() == ".png":
            save_image(path, timeline_chart(timeline, timeline.floor))
        else:
            write_timeline(timeline, path, overwrite=True)
    return paths


def swap_video_file(
    job: SwapJob,
    target: Path,
    output: Path,
    parts: Path,
    chunk_frames: int | None = None,
    timeline_paths: tuple[Path, ...] = (),
    on_chunk_done: Callable[[int, int], None] | None = None,
) -> VideoReport:
    """Swap every frame of the video ``target`` into ``output`` (same frame rate, frame count and audio).

    ``chunk_frames``: frames per chunk and segment (default ``frames.frames_per_chunk`` of the size and
    ``VIDEO_MEMORY_BUDGET_MB``);
    ``timeline_paths``: where the identity-over-time rows/chart go (the job must check identity);
    ``on_chunk_done(first frame, frames)`` after each segment (tests, the benchmark).
    """
    with VideoFrames(target) as source:
        frames = Frames.of(source, str(target))
        step = chunk_frames or frames_per_chunk(*source.size, VIDEO_MEMORY_BUDGET_MB)
        parts.mkdir(parents=True, exist_ok=True)
        plan = load_or_make_plan(job, frames, parts, step, target.name)
        counts = {"now": 0, "faces": 0}  # frames swapped by this run, and those with a face

        def process(start: int, window: Frames) -> list[RGBImage]:
            result = job.run(window, None if plan is None else window_plan(plan, start, start + window.count), str(target))
            if job.checking:
                _save_rows(parts, start, result.rows)
            counts["now"] += window.count
            counts["faces"] += sum(1 for count in result.swapped_counts if count)
            if on_chunk_done is not None:
                on_chunk_done(start, window.count)
            return result.images

        with Progress(source.count, f"{target.name}: swapping", "frames") as progress:
            transform_video(source, output, parts, process, step, progress.update, keep_parts=True)
        written = write_timeline_files(_timeline(parts, job.retention_floor), timeline_paths) if job.checking else ()
        shutil.rmtree(parts, ignore_errors=True)
        return VideoReport(source.count, counts["now"], counts["faces"], written)
