"""The ``score`` subcommand: ``face-identity score DATASET... --reference REF [...]``.

``face_identity.cli`` registers it with ``add_score_parser(commands)``; the model options and their loading are the
other commands' (``cli_models``).
Exit status: 0, or 2 when any image could not be read (its row says why; every other row is
written, and the summary printed, first).
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from ..cli_models import add_model_options, load_detector_from, load_recognizer_from
from ..detect import FaceDetector
from ..embed import ArcFaceRecognizer
from ..validate import integer_argument, number_argument
from .inputs import DEFAULT_PATH_COLUMN
from .output import parquet_available
from .rows import DEFAULT_DECODE_WORKERS
from .run import DEFAULT_BATCH_IMAGES, ENGINES, score_dataset

DEFAULT_OUT_PARQUET = "face_identity_scores.parquet"
DEFAULT_OUT_CSV = "face_identity_scores.csv"


def load_models(args: argparse.Namespace) -> tuple[FaceDetector, ArcFaceRecognizer]:
    """Both models from the parsed model options (module level, so ``partial(load_models, ...)`` pickles for Ray)."""
    return load_detector_from(args), load_recognizer_from(args)


def add_score_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``score`` to the CLI's subparsers; its handler is ``run_score``."""
    parser = commands.add_parser(
        "score",
        help="score folders of images against a reference identity (or a gallery): Parquet/CSV rows, summary, histogram",
        description="Compare the faces of every image of a dataset with reference identities; one row per image.",
    )
    parser.add_argument(
        "dataset", nargs="+", help="folders (recursive), globs, .txt lists of paths, or .csv/.parquet tables of paths"
    )
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="REF",
        help="reference image or identity file (.safetensors, ours or ReActor's); repeat to average several",
    )
    parser.add_argument("--gallery", type=Path, default=None, help="folder of identities (one sub-folder or file each) for 1:N")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"rows to .parquet or .csv (default {DEFAULT_OUT_PARQUET}); reruns resume"
    )
    parser.add_argument(
        "--threshold",
        type=number_argument("--threshold", -1.0, 1.0),
        default=None,
        help="cosine threshold for pass, -1..1 (default: the model's; see calibrate)",
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="folder for summary.json and histogram.png (default: next to --out)"
    )
    parser.add_argument("--copy-passed", type=Path, default=None, metavar="DIR", help="hard-link (or copy) passing images here")
    parser.add_argument("--copy-mode", choices=("auto", "link", "copy"), default="auto", help="auto: link, else copy")
    parser.add_argument("--engine", choices=ENGINES, default="embedded", help="embedded (default) or ray")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray instance)")
    parser.add_argument(
        "--actors",
        type=integer_argument("--actors", minimum=1, automatic="auto"),
        default=None,
        help="Ray actors, >= 1, or auto (the default: one per GPU, else one per node)",
    )
    parser.add_argument(
        "--batch-images",
        type=integer_argument("--batch-images", minimum=1),
        default=DEFAULT_BATCH_IMAGES,
        help="images per batch",
    )
    parser.add_argument(
        "--decode-workers",
        type=integer_argument("--decode-workers", minimum=1),
        default=DEFAULT_DECODE_WORKERS,
        help="threads decoding files",
    )
    parser.add_argument("--path-column", default=DEFAULT_PATH_COLUMN, help="column of paths in a .csv/.parquet dataset")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_options(parser)
    parser.set_defaults(handler=run_score)
    return parser


def run_score(args: argparse.Namespace) -> int:
    """Run ``score_dataset`` from parsed arguments; print the summary. 0, or 2 if any file was unreadable."""
    out = args.out or Path(DEFAULT_OUT_PARQUET if parquet_available() else DEFAULT_OUT_CSV)
    models = partial(load_models, args)

    def note(text: str) -> None:
        print(text, file=sys.stderr)

    outcome = score_dataset(
        args.dataset,
        out,
        models,
        references=args.reference,
        gallery=args.gallery,
        threshold=args.threshold,
        engine=args.engine,
        address=args.address,
        actors=args.actors,
        batch_images=args.batch_images,
        decode_workers=args.decode_workers,
        report_dir=args.report,
        copy_to=args.copy_passed,
        copy_mode=args.copy_mode,
        path_column=args.path_column,
        flip=getattr(args, "flip", False),
        progress=not args.no_progress,
        on_message=note,
    )
    summary = outcome.summary
    if args.json:
        print(json.dumps(json.loads(outcome.summary_path.read_text(encoding="utf-8"))))
    else:
        print(summary.text())
        print(
            f"{outcome.scored_now} scored now ({outcome.images_per_second:.1f} images/s), {outcome.skipped} already in {outcome.out}"
        )
        print(f"rows: {outcome.out}\nsummary: {outcome.summary_path}\nhistogram: {outcome.histogram_path}")
        for item, reason in outcome.left_out:
            print(f"left out: {item}: {reason}")
        if outcome.copied is not None:
            copied = outcome.copied
            print(
                f"copied to {args.copy_passed}: {copied.placed} new, {copied.already_there} already there, "
                f"{len(copied.conflicts)} left alone (a different file of that name exists)"
            )
    if summary.unreadable:
        print(f"{summary.unreadable} image(s) could not be read; see the error column of {outcome.out}", file=sys.stderr)
        return 2
    return 0
