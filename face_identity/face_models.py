"""Load and run the models declared in ``model_facts`` (landmarkers, occluders, parsers, restorers).

One loader for every kind: find the file (catalog name or path), open it (``runner.open_model``),
check its inputs against the facts, and hand it to the shared runner (``runner.load_runner``:
onnxruntime, or the torch conversion kept only when it matches onnxruntime on a probe), which runs
it chunk by chunk along the batch axis (a graph with a fixed batch of 1 gets one item per call,
the last chunk padded).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from .download import resolve_model
from .errors import InvalidImageError, ModelMismatchError
from .io_facts import IOFacts, Shape
from .model_facts import ModelFacts, ModelKind, facts_for, kind_hint
from .roles import Role
from .runner import LoadKeywords, LoadOptions, ModelRunner, Probe, load_options, load_runner, open_model
from .runtime import ModelSession, TensorInfo

if TYPE_CHECKING:
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 8
"""Items per call for graphs with a dynamic batch axis (bounds memory on long batches)."""


def _static(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class FaceModel:
    """A loaded model of one ``ModelFacts`` kind.

    Attributes:
        facts: the row it was loaded as. name: its name. backend: the ``runner.ModelRunner`` that runs it.
        model: its session (a ``runtime.graph_session`` once the torch conversion runs it).
        inputs: input name -> ``TensorInfo``. batch_size: items per call (1 when the graph's batch axis is fixed at 1).
    """

    def __init__(self, facts: ModelFacts, backend: ModelRunner) -> None:
        self.facts = facts
        self.name = facts.name
        self.backend = backend
        self.model = backend.model
        self.inputs: dict[str, TensorInfo] = {info.name: info for info in self.model.inputs}
        self.fixed_batch = backend.fixed_batch
        self.batch_size = backend.batch_size or DEFAULT_BATCH

    def __repr__(self) -> str:
        return f"FaceModel({self.name!r}, {self.facts.kind}, size={self.facts.size}, backend={self.backend.describe()})"

    def has_input(self, name: str) -> bool:
        return name in self.inputs

    def preprocess(self, crops: NDArray[np.floating]) -> NDArray[np.float32]:
        """``[N, S, S, 3]`` float RGB 0..1 crops -> the model input (resized to the model size, colours, mean/std, layout)."""
        facts = self.facts
        array = np.asarray(crops, dtype=np.float32)
        if array.ndim != 4 or array.shape[3] != 3:
            raise InvalidImageError(f"{self.name} takes [N, S, S, 3] RGB crops, got shape {array.shape}")
        size = facts.size
        if array.shape[1:3] != (size, size):
            array = (
                np.stack([cv2.resize(crop, (size, size)) for crop in array])
                if len(array)
                else np.zeros((0, size, size, 3), np.float32)
            )
        if facts.colour == "BGR":
            array = array[..., ::-1]
        mean = np.asarray(facts.mean, np.float32)
        std = np.asarray(facts.std, np.float32)
        if facts.colour == "BGR":
            mean, std = mean[::-1], std[::-1]
        array = (array - mean) / std
        if facts.layout == "NCHW":
            array = array.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(array, dtype=np.float32)

    def run(self, blob: NDArray[np.generic], extra: Mapping[str, NDArray[np.generic]] | None = None) -> list[NDArray[np.float32]]:
        """Run the main input ``blob`` (batch axis first) chunk by chunk; ``extra`` inputs (e.g. ``weight``) go to every call.

        Returns the outputs concatenated along the batch axis, float32.
        """
        feeds: dict[str, NDArray[np.generic]] = {self.facts.input_name: blob}
        feeds.update(extra or {})
        return self.backend.run_feeds(feeds, (self.facts.input_name,))


def _check_inputs(model: ModelSession, facts: ModelFacts) -> None:
    by_name = {info.name: info for info in model.inputs}
    info = by_name.get(facts.input_name)
    problem = None
    if info is None:
        problem = f"has no input named {facts.input_name!r} (inputs: {[i.name for i in model.inputs]})"
    elif facts.kind == "landmarker_68_5":
        if len(info.shape) != 3 or _static(info.shape[1]) not in (5, None):
            problem = f"input shape {list(info.shape)} is not [N, 5, 2]"
    elif len(info.shape) != 4:
        problem = f"input shape {list(info.shape)} is not an image batch"
    else:
        channel_axis = 3 if facts.layout == "NHWC" else 1
        if _static(info.shape[channel_axis]) not in (3, None):
            problem = f"input shape {list(info.shape)} is not {facts.layout} with 3 channels"
    unknown = [name for name in by_name if name != facts.input_name and name not in facts.optional_inputs]
    if problem is None and unknown:
        problem = f"has inputs {unknown} a {facts.kind} of this kind does not take"
    if problem is not None:
        raise ModelMismatchError(
            f"{model.path.name} is not a {facts.kind} like {facts.name}: it {problem}. {kind_hint(facts.kind)}"
        )


def io_facts(facts: ModelFacts) -> IOFacts:
    """The input (and, where the code reads it by shape, output) shapes a row of ``model_facts`` implies."""
    size = facts.size
    outputs: tuple[Shape | None, ...] = ()
    if facts.kind == "landmarker_68_5":
        image: Shape = (None, 5, 2)
        outputs = ((None, 68, 2),)
    elif facts.layout == "NHWC":
        image = (None, size, size, 3)
    else:
        image = (None, 3, size, size)
    if facts.kind == "restorer":
        outputs = ((None, 3, size, size),)
    elif facts.kind == "parser":
        outputs = ((None, 19, size, size),)
    elif facts.kind == "occluder":
        outputs = ((None, size, size, 1),)
    elif facts.kind == "landmarker_2dfan4":
        outputs = ((None, 68, 3), (None, 68, 64, 64))
    elif facts.kind == "landmarker_pfld":
        outputs = ((None, 136),)
    return IOFacts(f"the {facts.name} facts", {facts.input_name: image}, outputs)


def _probe(facts: ModelFacts, model: ModelSession) -> Probe:
    """Seeded inputs of the facts' shape (two items, or the fixed batch) for checking a torch conversion."""
    rng = np.random.default_rng(12)
    info = next(info for info in model.inputs if info.name == facts.input_name)
    count = _static(info.shape[0]) or 2
    if facts.kind == "landmarker_68_5":
        main: NDArray[np.generic] = rng.random((count, 5, 2), dtype=np.float32)
    else:
        crops = rng.random((count, facts.size, facts.size, 3), dtype=np.float32)
        mean, std = np.asarray(facts.mean, np.float32), np.asarray(facts.std, np.float32)
        main = np.ascontiguousarray((crops - mean) / std, dtype=np.float32)
        main = main[..., ::-1] if facts.colour == "BGR" else main
        main = np.ascontiguousarray(main.transpose(0, 3, 1, 2) if facts.layout == "NCHW" else main)
    feeds: dict[str, NDArray[np.generic]] = {facts.input_name: main}
    if any(info.name == "weight" for info in model.inputs):
        feeds["weight"] = np.array([0.5], dtype=np.float64)
    return Probe(feeds, (facts.input_name,))


def load_face_model(
    name_or_path: str | os.PathLike[str],
    kinds: ModelKind | Role | tuple[ModelKind | Role, ...],
    folders: Sequence[str | os.PathLike[str]] = (),
    options: LoadOptions | None = None,
    *,
    batch_size: int | None = None,
    facts: ModelFacts | None = None,
    **keywords: Unpack[LoadKeywords],
) -> FaceModel:
    """Find (or download with its ``.hash`` check), open and check a model of the ``model_facts`` table.

    Args:
        name_or_path: a name of the table (``gfpgan_1.4``, ``xseg_1``, ...) or an ``.onnx`` path whose
            file stem is such a name (or pass ``facts`` for a file under another name).
        kinds: the kind(s) or role(s) the caller can run (e.g. ``"restorer"``, ``"landmarker"``).
        options: how to find and run it (``runner.LoadOptions``; its fields may also be given as keywords):
            ``backend`` ``onnxruntime``, ``torch`` or ``auto`` (torch on a GPU device when the conversion matches), ...
        batch_size: items per call for a dynamic batch axis (default ``DEFAULT_BATCH``).

    Without onnxruntime installed, ``auto`` and ``torch`` run the torch conversion; ``onnxruntime`` raises
    ``ProviderUnavailableError`` saying how to install it. Once the torch backend is chosen no onnxruntime
    session stays open (``model`` is then a ``runtime.graph_session``), as for the other loaders.

    Raises:
        InvalidArgumentError: not a model of those kinds, or an unknown backend.
        ModelMismatchError: the file's inputs are not what the facts say.
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ModelConversionError.
    """
    settings = load_options(options, keywords)
    row = facts or facts_for(os.fspath(name_or_path), kinds)
    target = name_or_path if (row.release or Path(os.fspath(name_or_path)).suffix == ".onnx") else row.file_name
    resolved = resolve_model(target, folders, allow_download=settings.allow_download)
    session, backend = open_model(resolved.path, settings)
    _check_inputs(session, row)
    probe = lambda: _probe(row, session)  # noqa: E731 - built only when a conversion is asked for
    runner = load_runner(
        session, backend, settings, probe, io=io_facts(row), max_batch=batch_size or DEFAULT_BATCH, per_call=(None, 1)
    )
    return FaceModel(row, runner)
