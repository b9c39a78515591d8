"""Exceptions raised by the face_identity library; every message says what went wrong and how to fix it."""

from __future__ import annotations


class FaceIdentityError(Exception):
    """Base class of every error this library raises on purpose."""


class ModelFileError(FaceIdentityError):
    """A model file is missing, unreadable or not an ONNX model."""


class ModelNotAvailableError(ModelFileError):
    """A catalog model is not on disk and cannot be downloaded (offline, or the download failed)."""


class ModelIntegrityError(ModelFileError):
    """A model file does not match its published hash.

    After a download the bad file was deleted; a file found on disk that no longer matches the
    ``.hash`` sidecar beside it is left in place and the message says to delete it.
    """


class ModelMismatchError(FaceIdentityError):
    """A model file is of another kind than the caller asked for (e.g. a detector given as recognizer)."""


class ModelOutputError(FaceIdentityError):
    """A model's output is not usable: non-finite values or a shape its facts do not allow (``runner.ModelRunner``).

    Stages catch it per face (``faults.per_item``): that face is skipped and flagged, the others go on.
    """


class ProviderUnavailableError(FaceIdentityError):
    """An execution provider (CUDA, TensorRT, ...) was required but is not active in the session."""


class InvalidImageError(FaceIdentityError):
    """An image has a shape, dtype or value range the library cannot use."""


class InvalidLandmarksError(FaceIdentityError):
    """Landmarks have the wrong shape or are degenerate (all points equal, NaN, ...)."""


class NoFaceFoundError(FaceIdentityError):
    """An operation needed a face and none was found; the message names the image."""


class IncompatibleIdentitiesError(FaceIdentityError):
    """Two identities come from different embedding models or dimensions and cannot be compared."""


class IdentityFileError(FaceIdentityError):
    """An identity file is malformed, of an unknown format, or would overwrite an existing file."""


class InvalidArgumentError(FaceIdentityError, ValueError):
    """An argument has a value outside what the function accepts."""


class ModelConversionError(ModelFileError):
    """An ONNX model cannot be converted to a torch module (an op or attribute the converter does not cover)."""


class VideoFileError(FaceIdentityError):
    """A video file is missing, unreadable or cannot be written, or PyAV (the ``video`` extra) is not installed."""
