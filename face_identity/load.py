"""``load_model``: the one public loader, for a model of any role (the role's own loader does the work).

A role names what the model is for (``roles.Role``): ``detector`` -> ``detect.load_face_detector``
(onnxruntime, or an SCRFD converted to torch), ``recognizer`` -> ``embed.load_recognizer``, ``swapper`` ->
``swap.load_swapper`` (every family), and ``landmarker``, ``occluder``, ``parser``, ``restorer`` ->
``face_models.load_face_model``. Every one takes the same ``LoadOptions`` (or its fields as keywords) and
the few keywords of its role, listed in the overloads below; the per-role loaders stay importable from
their modules.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, get_args, overload

from .detect import DetectionSettings, FaceDetector, TorchFaceDetector, load_face_detector
from .embed import ArcFaceRecognizer, load_recognizer
from .errors import InvalidArgumentError
from .face_models import FaceModel, load_face_model
from .model_facts import ModelFacts
from .options import LoadKeywords, LoadOptions
from .roles import Role
from .swap import EmbeddingSwapper, load_swapper

if TYPE_CHECKING:
    from typing_extensions import Unpack

FaceModelRole = Literal["landmarker", "occluder", "parser", "restorer"]
"""The roles of the ``model_facts`` table, run by one ``FaceModel`` class."""
LOADED_ROLES: tuple[str, ...] = ("detector", "recognizer", "swapper", *get_args(FaceModelRole))
"""The roles ``load_model`` loads (a ``converter`` is loaded with the swapper that needs it)."""

Folders = Sequence[str | os.PathLike[str]]


@overload
def load_model(
    name_or_path: str | os.PathLike[str],
    role: Literal["detector"],
    folders: Folders = (),
    options: LoadOptions | None = None,
    *,
    settings: DetectionSettings | None = None,
    **keywords: Unpack[LoadKeywords],
) -> FaceDetector | TorchFaceDetector: ...


@overload
def load_model(
    name_or_path: str | os.PathLike[str],
    role: Literal["recognizer"],
    folders: Folders = (),
    options: LoadOptions | None = None,
    *,
    batch_size: int | None = None,
    model_id: str | None = None,
    **keywords: Unpack[LoadKeywords],
) -> ArcFaceRecognizer: ...


@overload
def load_model(
    name_or_path: str | os.PathLike[str],
    role: Literal["swapper"],
    folders: Folders = (),
    options: LoadOptions | None = None,
    *,
    embedding_space: str | None = None,
    family: str | None = None,
    converter: str | os.PathLike[str] | None = None,
    learned_mask: bool = True,
    **keywords: Unpack[LoadKeywords],
) -> EmbeddingSwapper: ...


@overload
def load_model(
    name_or_path: str | os.PathLike[str],
    role: FaceModelRole,
    folders: Folders = (),
    options: LoadOptions | None = None,
    *,
    batch_size: int | None = None,
    facts: ModelFacts | None = None,
    **keywords: Unpack[LoadKeywords],
) -> FaceModel: ...


def load_model(
    name_or_path: str | os.PathLike[str],
    role: str,
    folders: Folders = (),
    options: LoadOptions | None = None,
    **keywords: Any,
) -> Any:
    """Find (or download, hash-checked), open and check a model of ``role``.

    Args:
        name_or_path: a catalog name (``choices().names(role)``) or an ``.onnx`` path.
        role: ``detector``, ``recognizer``, ``swapper``, ``landmarker``, ``occluder``, ``parser`` or ``restorer``.
        folders: model folders searched before downloading.
        options: how it is found and run (``LoadOptions``: ``providers``, ``strict``, ``allow_download``,
            ``backend`` onnxruntime/torch/auto, ``device``, ``dtype``, ``device_id``, ...); its fields may
            also be given as keywords.
        keywords: besides those, the role's own: ``settings`` (detector: ``DetectionSettings``; or change
            them later with ``detector.with_settings``), ``batch_size`` and ``model_id`` (recognizer),
            ``embedding_space``, ``family``, ``converter``, ``learned_mask`` (swapper), ``batch_size`` and
            ``facts`` (the other roles).

    Returns:
        a ``Detector`` (``FaceDetector``, or ``TorchFaceDetector`` for the torch backend), an
        ``ArcFaceRecognizer`` (a ``Recognizer``), an ``EmbeddingSwapper`` (a ``Swapper``) or a ``FaceModel``.

    Raises:
        InvalidArgumentError: an unknown role or keyword.
        ModelMismatchError: the file is a model of another role.
        ModelFileError, ModelNotAvailableError, ModelIntegrityError, ProviderUnavailableError, ModelConversionError.
    """
    if role == "detector":
        return load_face_detector(name_or_path, folders, options, **keywords)
    if role == "recognizer":
        return load_recognizer(name_or_path, folders, options, **keywords)
    if role == "swapper":
        return load_swapper(name_or_path, folders, options, **keywords)
    if role in LOADED_ROLES:
        return load_face_model(name_or_path, cast(Role, role), folders, options, **keywords)
    raise InvalidArgumentError(f"unknown model role {role!r}; load_model loads a {', '.join(LOADED_ROLES)}")
