"""The Ray engine: the same per-batch function as a Ray Data pipeline, on one machine or a cluster.

Pipeline: ``from_items`` (the image paths, one block per batch) -> ``map_batches`` with an actor
pool (each actor loads one detector and one recognizer once, then scores batch after batch with
``rows.BatchScorer``, decoding on its own thread pool) -> the rows stream back to the driver,
which writes them (``output.ResultStore``) and draws the progress bar. Images are read by the
actors, so on a cluster every node must see the dataset at the same paths (a shared file system);
the ``face_identity`` package travels with the job (``worker_environment``), its dependencies
(onnxruntime, OpenCV, numpy) must be installed on every node.

Ray is optional: ``pip install "face-identity[ray]"``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import InvalidArgumentError
from ..detect import FaceDetector
from ..embed import ArcFaceRecognizer
from .output import rows_to_table
from .references import References
from .rows import DEFAULT_DECODE_WORKERS, BatchScorer, Row

RAY_INSTALL_HINT = 'pip install "face-identity[ray]"'
READ_CPU_RESERVE = 0.5
"""CPUs per node left free of actors for Ray Data's own tasks. On 2 CPUs an actor pool of two
one-CPU actors starves them and the dataset stays "backpressured" forever; fractional actors run."""
MIN_ACTOR_CPUS = 0.25

ModelFactory = Callable[[], tuple[FaceDetector, ArcFaceRecognizer]]
"""Loads ``(detector, recognizer)``; must be picklable (a module-level function or a ``functools.partial`` of one)."""


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or an error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise InvalidArgumentError(f"--engine ray needs Ray Data, which is not installed: {RAY_INSTALL_HINT}") from error
    return ray


@dataclass(frozen=True)
class ActorPlan:
    """How many scoring actors to start and what each reserves (CPUs may be fractional)."""

    actors: int
    num_cpus: float
    num_gpus: float

    def describe(self) -> str:
        gpus = f", {self.num_gpus:g} GPU" if self.num_gpus else ""
        return f"{self.actors} actor(s) of {self.num_cpus:g} CPU{gpus}"


def plan_actors(cpus: float, gpus: float, node_cpus: Sequence[float], requested: int | None = None) -> ActorPlan:
    """Size the actor pool from the cluster's resources.

    - With GPUs: one actor per GPU (``num_gpus`` 1), or ``requested`` actors sharing them.
    - CPU only: one actor per node (onnxruntime already uses every core of its node), or ``requested``.
    - CPUs per actor: what is left after ``READ_CPU_RESERVE`` per node, shared evenly, and no more
      than the smallest node minus its reserve (so each actor fits a node), at least ``MIN_ACTOR_CPUS``.

    Args:
        cpus, gpus: the cluster's totals (``ray.cluster_resources()``).
        node_cpus: CPUs of each alive node.
        requested: actors asked for (``--actors``); None = automatic.
    """
    nodes = max(1, len(node_cpus))
    if requested is not None and requested < 1:
        raise InvalidArgumentError(f"--actors must be at least 1, got {requested}")
    whole_gpus = int(math.floor(gpus + 1e-9))
    if whole_gpus >= 1:
        actors = requested or whole_gpus
        num_gpus = min(1.0, gpus / actors)
    else:
        actors = requested or nodes
        num_gpus = 0.0
    free = max(cpus - READ_CPU_RESERVE * nodes, MIN_ACTOR_CPUS)
    per_node_limit = max(min(node_cpus, default=cpus) - READ_CPU_RESERVE, MIN_ACTOR_CPUS)
    num_cpus = max(MIN_ACTOR_CPUS, min(free / actors, per_node_limit))
    return ActorPlan(actors, round(num_cpus, 3), round(num_gpus, 3))


class ScoreActor:
    """A Ray Data actor: loads the models once, then turns batches of paths into batches of rows."""

    def __init__(
        self, models: ModelFactory, references: References, threshold: float, decode_workers: int, flip: bool = False
    ) -> None:
        detector, recognizer = models()
        self.scorer = BatchScorer(detector, recognizer, references, threshold, decode_workers, flip)

    def __call__(self, batch: Any) -> Any:
        """``pyarrow.Table`` with a ``path`` column -> ``pyarrow.Table`` of rows (``output.arrow_schema()``)."""
        return rows_to_table(self.scorer([str(p) for p in batch.column("path").to_pylist()]))


def cluster_plan(ray: Any, requested: int | None) -> ActorPlan:
    """``plan_actors`` from the connected cluster's resources."""
    resources = ray.cluster_resources()
    node_cpus = [float(node.get("Resources", {}).get("CPU", 0.0)) for node in ray.nodes() if node.get("Alive")]
    return plan_actors(float(resources.get("CPU", 1.0)), float(resources.get("GPU", 0.0)), node_cpus, requested)


def worker_environment(remote: bool) -> dict[str, Any]:
    """Ray ``runtime_env`` that lets the actors import this very ``face_identity``.

    On a cluster named by ``--address`` the package folder travels with the job (``py_modules``;
    its dependencies, onnxruntime and OpenCV, must be installed on the nodes). Locally the actors
    get the folder that holds the package on their ``PYTHONPATH`` (so a checkout that is not
    pip-installed works too).
    """
    package = Path(__file__).resolve().parent.parent
    if remote:
        return {"py_modules": [str(package)]}
    paths = [str(package.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}}


def run_ray(
    paths: Sequence[str],
    models: ModelFactory,
    references: References,
    threshold: float,
    batch_images: int,
    *,
    address: str | None = None,
    actors: int | None = None,
    decode_workers: int = DEFAULT_DECODE_WORKERS,
    flip: bool = False,
    on_plan: Callable[[ActorPlan], None] | None = None,
) -> Iterator[list[Row]]:
    """Yield the rows of ``paths`` computed on a Ray cluster, batch by batch (in the order they finish).

    Uses the Ray instance this process is already connected to; otherwise connects to ``address``
    (``auto``, ``ray://host:10001``, ``host:6379``) or, without one, starts a local instance, which
    it shuts down at the end.
    """
    ray = import_ray()
    if batch_images < 1:
        raise InvalidArgumentError(f"batch size must be at least 1 image, got {batch_images}")
    started = False
    remote = address is not None and not ray.is_initialized()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        started = True
    try:
        plan = cluster_plan(ray, actors)
        if on_plan is not None:
            on_plan(plan)
        if not paths:
            return
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the driver draws one bar for the whole run
        dataset = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=math.ceil(len(paths) / batch_images))
        scored = dataset.map_batches(
            ScoreActor,
            batch_size=batch_images,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=plan.actors),
            num_cpus=plan.num_cpus,
            num_gpus=plan.num_gpus or None,
            runtime_env=worker_environment(remote),
            fn_constructor_kwargs={
                "models": models,
                "references": references,
                "threshold": threshold,
                "decode_workers": decode_workers,
                "flip": flip,
            },
        )
        for table in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield table.to_pylist()
    finally:
        if started:
            ray.shutdown()
