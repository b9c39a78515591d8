"""A whole scoring run: expand the dataset, load the references, score what is not scored yet, write and report."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .. import InvalidArgumentError
from ..compare import match_threshold
from ..files import write_atomic
from ..progress import Progress, ProgressReporter
from .engine_embedded import run_embedded
from .engine_ray import ActorPlan, ModelFactory, import_ray, run_ray
from .inputs import DEFAULT_PATH_COLUMN, expand_dataset
from .output import ResultStore
from .references import References, load_gallery, load_references
from .report import CopyResult, Summary, check_report_targets, copy_passed, summarize, write_histogram
from .rows import DEFAULT_DECODE_WORKERS, BatchScorer, Row, apply_threshold

ENGINES = ("embedded", "ray")
DEFAULT_BATCH_IMAGES = 16


@dataclass(frozen=True)
class ScoreOutcome:
    """What a run wrote: every row of ``out`` (earlier runs' included), their summary, and where things went."""

    rows: list[Row]
    summary: Summary
    out: Path
    summary_path: Path
    histogram_path: Path
    scored_now: int
    skipped: int
    images_per_second: float
    copied: CopyResult | None
    left_out: tuple[tuple[str, str], ...] = ()
    """``(input, reason)`` of every dataset item and gallery input that contributes nothing."""


def report_paths(out: Path, report_dir: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """``(summary JSON, histogram PNG)``: in ``report_dir`` as summary.json/histogram.png, else next to ``out``."""
    if report_dir is not None:
        folder = Path(report_dir)
        return folder / "summary.json", folder / "histogram.png"
    stem = out.with_suffix("")
    return stem.with_name(stem.name + ".summary.json"), stem.with_name(stem.name + ".histogram.png")


def score_dataset(
    dataset: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    models: ModelFactory,
    *,
    references: Sequence[str | os.PathLike[str]] = (),
    gallery: str | os.PathLike[str] | None = None,
    threshold: float | None = None,
    engine: str = "embedded",
    address: str | None = None,
    actors: int | None = None,
    batch_images: int = DEFAULT_BATCH_IMAGES,
    decode_workers: int = DEFAULT_DECODE_WORKERS,
    report_dir: str | os.PathLike[str] | None = None,
    copy_to: str | os.PathLike[str] | None = None,
    copy_mode: str = "auto",
    path_column: str = DEFAULT_PATH_COLUMN,
    flip: bool = False,
    progress: bool = True,
    on_message: Callable[[str], None] | None = None,
) -> ScoreOutcome:
    """Score every image of ``dataset`` against ``references`` (or a ``gallery``) and write ``out``.

    Args:
        dataset: folders, globs, path lists or tables (``inputs.expand_dataset``).
        out: ``.parquet`` or ``.csv``; an existing output of an earlier run with the same settings
            is resumed (its finished rows are skipped and kept).
        models: loads ``(detector, recognizer)``; called here, and once per actor with Ray (so it
            must be picklable there).
        references: reference images and/or identity files, averaged into one identity.
        gallery: a folder of identities for 1:N assignment (instead of ``references``).
        threshold: cosine threshold for ``pass``; default the recognizer's ``match_threshold``.
        engine: ``embedded`` (this process) or ``ray``.
        address, actors: Ray cluster address and actor count (default: sized from the cluster).
        batch_images: images per batch (per call of the per-batch function).
        report_dir: where summary.json and histogram.png go (default: next to ``out``).
        copy_to: link or copy the passing images into this folder (``report.copy_passed``).
        flip: average each embedding with that of the mirrored face (references and dataset alike).
        on_message: receives one-line notes (models, actor plan, skipped images).

    Raises:
        InvalidArgumentError: bad arguments, an empty dataset, or ``out`` made with other settings.
        NoFaceFoundError, IncompatibleIdentitiesError, IdentityFileError: unusable references.
    """
    if engine not in ENGINES:
        raise InvalidArgumentError(f"unknown engine {engine!r}; use {' or '.join(ENGINES)}")
    if bool(references) == (gallery is not None):
        raise InvalidArgumentError("give either --reference (one or more) or --gallery DIR")
    if engine == "ray":
        import_ray()  # before any work: without Ray, say how to install it
    note = on_message or (lambda _text: None)
    left_out: list[tuple[str, str]] = []  # inputs that contribute nothing: named in the summary, never dropped silently
    paths = [str(p) for p in expand_dataset(dataset, path_column, left_out)]
    if not paths:
        raise InvalidArgumentError(f"no images found in {', '.join(map(str, dataset))}")
    summary_path, histogram_path = report_paths(Path(out), report_dir)
    check_report_targets(summary_path, histogram_path, Path(out))  # before any work: never replace a file not ours
    detector, recognizer = models()
    loading = ProgressReporter("loaded gallery" if gallery is not None else "loaded references", "files", enabled=progress)
    try:
        refs: References = (
            load_gallery(gallery, detector, recognizer, flip, loading)
            if gallery is not None
            else load_references(references, detector, recognizer, flip, loading)
        )
    finally:
        loading.close()
    left_out.extend(refs.left_out)
    chosen = float(threshold) if threshold is not None else match_threshold(recognizer.model_id)
    settings = {
        "recognizer": recognizer.model_id,
        "detector": detector.name,
        "det_thresh": detector.settings.score_threshold,
        "det_size": list(detector.settings.det_size) if detector.settings.det_size else None,
        "references": refs.fingerprint(),
        "identities": list(refs.names),
        "flip": bool(flip),
    }
    store = ResultStore(out, settings)
    done = store.done()
    todo = [path for path in paths if path not in done]
    note(
        f"{len(paths)} images, {len(paths) - len(todo)} already scored in {store.out}; "
        f"{len(refs.names)} identit{'y' if len(refs.names) == 1 else 'ies'}; threshold {chosen:.3f}; engine {engine}"
    )
    bar = Progress(len(todo), "scored", enabled=progress)
    scorer: BatchScorer | None = None
    try:
        if engine == "embedded":
            scorer = BatchScorer(detector, recognizer, refs, chosen, decode_workers, flip)
            batches = run_embedded(todo, scorer, batch_images)
        else:

            def describe(plan: ActorPlan) -> None:
                note(f"ray: {plan.describe()}")

            batches = run_ray(
                todo,
                models,
                refs,
                chosen,
                batch_images,
                address=address,
                actors=actors,
                decode_workers=decode_workers,
                flip=flip,
                on_plan=describe,
            )
        for rows in batches:
            store.append(rows)
            bar.update(len(rows))
    finally:
        bar.close()
        if scorer is not None:
            scorer.close()
    rate = bar.rate()
    rows = store.finish(paths, partial(apply_threshold, threshold=chosen, gallery=refs.gallery))
    summary = summarize(rows, chosen, refs.gallery)
    copied = copy_passed(rows, copy_to, copy_mode, refs.gallery) if copy_to is not None else None
    payload = {
        "summary": summary.as_dict(),
        "out": str(store.out),
        "histogram": str(histogram_path),
        "engine": engine,
        "scored_now": len(todo),
        "skipped": len(paths) - len(todo),
        "images_per_second": round(rate, 3),
        "detector": detector.name,
        "recognizer": recognizer.name,
        "settings": settings,
        "left_out": [{"input": item, "reason": reason} for item, reason in left_out],
    }
    write_atomic(summary_path, (json.dumps(payload, indent=1) + "\n").encode("utf-8"))
    write_histogram(rows, chosen, histogram_path)  # after the summary that claims it, so a rerun may replace it
    return ScoreOutcome(
        rows, summary, store.out, summary_path, histogram_path, len(todo), len(paths) - len(todo), rate, copied, tuple(left_out)
    )
