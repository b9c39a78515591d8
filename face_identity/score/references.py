"""Who a scoring run looks for: one reference identity, or a gallery of named identities (1:N)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .. import (
    Detector,
    FaceIdentityError,
    Identity,
    IncompatibleIdentitiesError,
    InvalidArgumentError,
    Recognizer,
    average_identities,
)
from ..cli_models import identity_of
from ..images import IMAGE_EXTENSIONS, find_images
from ..progress import ProgressCallback
from ..store import IDENTITY_SUFFIX
from ..validate import refuse_reserved, safe_name

logger = logging.getLogger(__name__)

IDENTITY_SUFFIXES = (IDENTITY_SUFFIX,)
"""Reference files with these suffixes are identity files (ours or ReActor face models), not images."""
SINGLE_REFERENCE_NAME = "reference"
"""The name of the one identity of a run without a gallery."""
UNKNOWN = "unknown"
"""The ``identity`` of a gallery-mode row whose best match is below the threshold."""
RESERVED_LABELS = (UNKNOWN,)
"""Labels a gallery member may not be named, in any case: rows use them for something else."""


@dataclass(frozen=True, eq=False)
class References:
    """The identities a run compares every face with.

    - ``names``: one per identity (``("reference",)`` without a gallery).
    - ``centroids``: ``[N, D]`` float32 unit rows, one per name (each identity's averaged faces).
    - ``model_id``: the embedding space they live in (must equal the recognizer's).
    - ``gallery``: True in 1:N mode (rows then name their identity, or ``unknown``).
    - ``sources``: ``[N]`` how many faces or identity rows each centroid averages.
    - ``left_out``: ``(input, reason)`` of every gallery input that contributes nothing (an empty
      member folder, a file without a usable face, a member none of whose files could be used).
    """

    names: tuple[str, ...]
    centroids: NDArray[np.float32]
    model_id: str
    gallery: bool
    sources: tuple[int, ...]
    left_out: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        centroids = np.array(self.centroids, dtype=np.float32, copy=True)
        if centroids.ndim != 2 or centroids.shape[0] != len(self.names) or not self.names:
            raise InvalidArgumentError(f"{len(self.names)} reference names but centroids of shape {centroids.shape}")
        if len(set(self.names)) != len(self.names):
            raise InvalidArgumentError(f"reference names repeat: {', '.join(self.names)}")
        centroids.setflags(write=False)
        object.__setattr__(self, "centroids", centroids)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the names and centroid bytes: equal fingerprints mean the same references."""
        digest = hashlib.sha256()
        digest.update("\n".join(self.names).encode("utf-8"))
        digest.update(self.model_id.encode("utf-8"))
        digest.update(np.ascontiguousarray(self.centroids).tobytes())
        return digest.hexdigest()


def _require_space(identity: Identity, recognizer: Recognizer, source: Path) -> None:
    if identity.model_id != recognizer.model_id or identity.dimension != recognizer.dimension:
        raise IncompatibleIdentitiesError(
            f"reference {source} holds {identity.model_id} ({identity.dimension}-d) embeddings but the recognizer "
            f"{recognizer.name} makes {recognizer.model_id} ({recognizer.dimension}-d) ones; scores across models mean "
            "nothing. Use reference images, or the recognizer the identity file was made with."
        )


def identity_of_file(path: Path, detector: Detector, recognizer: Recognizer, flip: bool = False) -> Identity:
    """An identity file as is, or the largest face of a reference image (``NoFaceFoundError`` when it has none):
    ``cli_models.identity_of``, the rule compare and swap read their path arguments by, and of this recognizer's space."""
    identity = identity_of(path, detector, recognizer, flip)
    _require_space(identity, recognizer, path)
    return identity


def average_of(
    paths: Sequence[Path],
    detector: Detector,
    recognizer: Recognizer,
    flip: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[NDArray[np.float32], int]:
    """``([D] unit centroid, number of rows averaged)`` of identity files and reference images together.

    ``progress``: called ``(files done, total)`` before the first file and after each.
    """
    if not paths:
        raise InvalidArgumentError("no reference given; pass --reference FILE (an image or identity file) or --gallery DIR")
    identities = []
    for number, path in enumerate(paths):
        if progress is not None:
            progress(number, len(paths))
        identities.append(identity_of_file(path, detector, recognizer, flip))
    if progress is not None:
        progress(len(paths), len(paths))
    averaged = average_identities(identities)
    return averaged.embeddings[0], sum(len(identity) for identity in identities)


def load_references(
    paths: Sequence[str | os.PathLike[str]],
    detector: Detector,
    recognizer: Recognizer,
    flip: bool = False,
    progress: ProgressCallback | None = None,
) -> References:
    """One identity from reference images and/or identity files, all averaged (each face or row counts once)."""
    centroid, count = average_of([Path(p) for p in paths], detector, recognizer, flip, progress)
    return References((SINGLE_REFERENCE_NAME,), centroid[None, :], recognizer.model_id, False, (count,))


def gallery_members(folder: Path, left_out: list[tuple[str, str]] | None = None) -> dict[str, list[Path]]:
    """Identity name -> its files: each sub-folder is one identity (its images and identity files,
    sub-folders included); each image or identity file directly in ``folder`` is one identity named
    by its stem. Sorted by name.

    Every name must pass ``validate.safe_name`` (it becomes a folder of ``--copy-passed``), must not
    be a reserved label (``RESERVED_LABELS``, in any case), and names must differ in more than case
    (they would share one folder on Windows and macOS). A sub-folder with no images or identity
    files, and a file directly in ``folder`` that is neither, contribute nothing: each is appended
    to ``left_out`` as ``(path, reason)`` (when a list is given) rather than dropped without a word.

    Raises:
        InvalidArgumentError: not a folder, no members, an unsafe or reserved name, or two members with one name.
    """
    if not folder.is_dir():
        raise InvalidArgumentError(f"gallery {folder} is not a folder; give a folder with one sub-folder per identity")
    members: dict[str, list[Path]] = {}
    seen: dict[str, str] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            name, files = entry.name, find_images([entry], recursive=True) + sorted(entry.rglob("*.safetensors"))
            if not files:
                _leave_out(left_out, entry, "a member folder with no images or identity files")
                continue
        elif entry.suffix.lower() in IMAGE_EXTENSIONS + IDENTITY_SUFFIXES:
            name, files = entry.stem, [entry]
        else:
            if not entry.name.startswith("."):
                _leave_out(left_out, entry, "neither an image nor an identity file")
            continue
        what = f"gallery {folder}: the member {entry.name!r} gives the identity name"
        refuse_reserved(safe_name(name, what), RESERVED_LABELS, what)
        if name.casefold() in seen:
            raise InvalidArgumentError(
                f"gallery {folder}: two members are named {seen[name.casefold()]!r} and {name!r} (names must differ "
                "in more than case); rename one"
            )
        seen[name.casefold()] = name
        members[name] = files
    if not members:
        raise InvalidArgumentError(f"gallery {folder} holds no images or identity files")
    return members


def _leave_out(left_out: list[tuple[str, str]] | None, path: Path, reason: str) -> None:
    logger.warning("gallery: %s left out: %s", path, reason)
    if left_out is not None:
        left_out.append((str(path), reason))


def load_gallery(
    folder: str | os.PathLike[str],
    detector: Detector,
    recognizer: Recognizer,
    flip: bool = False,
    progress: ProgressCallback | None = None,
) -> References:
    """Several named identities for 1:N scoring (see ``gallery_members``); each member's usable files averaged.

    ``progress``: called ``(files done, total)`` before the first file and after each, over all members.

    One bad input never stops the run: a file that cannot be used (no face, unreadable, damaged) is
    left out, and so is a member none of whose files can be used; each is named in ``left_out`` (and
    logged). Only a gallery with no usable member at all is an error.

    Raises:
        InvalidArgumentError: no member left (the message lists why each was left out).
        IncompatibleIdentitiesError: an identity file of another embedding space (a setup error, not a bad item).
    """
    left_out: list[tuple[str, str]] = []
    members = gallery_members(Path(folder), left_out)
    names, rows, counts = [], [], []
    total, done = sum(len(files) for files in members.values()), 0
    for name, files in members.items():
        identities = []
        for path in files:
            if progress is not None:
                progress(done, total)
            done += 1
            try:
                identities.append(identity_of_file(path, detector, recognizer, flip))
            except IncompatibleIdentitiesError:
                raise
            except FaceIdentityError as error:
                _leave_out(left_out, path, str(error))
        if not identities:
            member = Path(folder) / name if (Path(folder) / name).is_dir() else files[0]
            _leave_out(left_out, member, f"member {name!r}: none of its {len(files)} file(s) could be used")
            continue
        names.append(name)
        rows.append(average_identities(identities).embeddings[0])
        counts.append(sum(len(identity) for identity in identities))
    if progress is not None:
        progress(total, total)
    if not names:
        reasons = "; ".join(f"{path}: {reason}" for path, reason in left_out)
        raise InvalidArgumentError(f"gallery {folder} has no usable member ({reasons[:600]})")
    return References(tuple(names), np.stack(rows), recognizer.model_id, True, tuple(counts), tuple(left_out))
