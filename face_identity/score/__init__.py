"""Scoring datasets: every image of folders, globs or path lists against a reference identity or a gallery.

``score_dataset`` runs the whole thing (the CLI's ``score``); ``BatchScorer`` is the per-batch
function both engines share (embedded: ``run_embedded``; Ray Data: ``run_ray``, optional
``pip install "face-identity[ray]"``). Rows go to Parquet (``pip install "face-identity[parquet]"``)
or CSV and resume on a rerun. See docs/scoring.md.
"""

from .engine_embedded import run_embedded
from .engine_ray import ActorPlan, plan_actors, run_ray
from .inputs import expand_dataset
from .output import ResultStore, read_rows, write_rows
from .references import UNKNOWN, References, load_gallery, load_references
from .report import CopyResult, Summary, copy_passed, draw_histogram, summarize
from .rows import COLUMNS, BatchScorer, Row, apply_threshold
from .run import ScoreOutcome, score_dataset

__all__ = [
    "COLUMNS",
    "UNKNOWN",
    "ActorPlan",
    "BatchScorer",
    "CopyResult",
    "References",
    "ResultStore",
    "Row",
    "ScoreOutcome",
    "Summary",
    "apply_threshold",
    "copy_passed",
    "draw_histogram",
    "expand_dataset",
    "load_gallery",
    "load_references",
    "plan_actors",
    "read_rows",
    "run_embedded",
    "run_ray",
    "score_dataset",
    "summarize",
    "write_rows",
]
