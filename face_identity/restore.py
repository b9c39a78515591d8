"""Face restoration (GFPGAN, CodeFormer, GPEN-BFR, RestoreFormer++) of chosen faces, with an identity-drift report.

FaceFusion's recipe (``processors/modules/face_enhancer/core.py``), followed here:

- crop: 5-point similarity to the model's template at its size (``ffhq_512`` at 512, GPEN-BFR 256:
  ``arcface_128`` at 256), bilinear, edge pixels repeated;
- input ``input``: RGB ``(pixel / 255 - 0.5) / 0.5``, NCHW float32; CodeFormer's ``weight`` (float64
  ``[1]``, the fidelity) is fed only when the graph has that input;
- output 0 clipped to ``[-1, 1]`` and mapped to 0..1 (FaceFusion then rounds to uint8; here the image stays float);
- mask: the box mask (blur 0.3, no padding) by default, or any ``MaskSpec``, in the crop;
- paste the crop back inside the mask, then blend with the original: weight ``blend x mask`` (default 0.8);
- order: faces one after another, each cut from the image into which the previous face was already pasted
  (``face_enhancer/core.py``), so overlapping faces see each other's restoration; images are independent,
  so the k-th faces of all images are restored together.

The drift report embeds each face before and after with a recognizer and gives their cosine (1 =
the restorer left the identity as it was) and, with a source identity, the cosine of each to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .align import alignable_faces, alignment_matrix
from .compare import cosine_matrix
from .errors import IncompatibleIdentitiesError, InvalidArgumentError
from .face_models import FaceModel
from .faults import SkippedFace, per_item
from .frames import Frames
from .geometry import paste_crop, warp_face
from .masks import DEFAULT_BLUR, MaskSpec, crop_masks, with_landmarks_68
from .model_facts import kind_hint
from .progress import ProgressCallback
from .protocols import Recognizer
from .types import Face, FaceBatch, Identity

logger = logging.getLogger(__name__)

DEFAULT_RESTORER = "gfpgan_1.4"
DEFAULT_BLEND = 0.8
"""FaceFusion's ``face_enhancer_blend`` 80 %."""
DEFAULT_FIDELITY = 0.5
"""FaceFusion's ``face_enhancer_weight``: CodeFormer's fidelity ``w`` (0 = more restoration, 1 = closer to the input)."""
FACES_PER_STEP = 16
"""Faces whose crops are held at once (a 2048 crop is 48 MB in float32)."""
DRIFT_WARNING = 0.6
"""Below this cosine to the face before restoration, the summary flags the face (the restorer is changing the person)."""


@dataclass(frozen=True)
class RestoreSettings:
    """How to restore: ``blend`` 0..1 (weight of the restored face), ``fidelity`` (CodeFormer's weight
    input, 0..1), ``mask`` (default: the box mask with blur 0.3, no padding), ``faces_per_step``."""

    blend: float = DEFAULT_BLEND
    fidelity: float = DEFAULT_FIDELITY
    mask: MaskSpec = field(default_factory=lambda: MaskSpec(types=("box",), blur=DEFAULT_BLUR))
    faces_per_step: int = FACES_PER_STEP

    def __post_init__(self) -> None:
        if not 0.0 <= self.blend <= 1.0:
            raise InvalidArgumentError(f"blend must be in 0..1, got {self.blend}")
        if not 0.0 <= self.fidelity <= 1.0:
            raise InvalidArgumentError(f"fidelity must be in 0..1, got {self.fidelity}")
        if self.faces_per_step < 1:
            raise InvalidArgumentError(f"faces_per_step must be >= 1, got {self.faces_per_step}")


@dataclass(frozen=True)
class FaceDrift:
    """One restored face: where it is, and cosines (``None`` where not measured).

    - ``to_before``: restored vs the same face before restoration.
    - ``source_before`` / ``source_after``: the face before / after vs the source identity's centroid.
    """

    image_index: int
    face_index: int
    to_before: float
    source_before: float | None = None
    source_after: float | None = None


@dataclass(frozen=True)
class DriftReport:
    """Per restored face, how much the restorer moved the identity (empty without a recognizer)."""

    faces: tuple[FaceDrift, ...] = ()
    recognizer: str = ""
    measured: bool = False

    def to_before(self) -> list[float]:
        return [drift.to_before for drift in self.faces]

    def source_after(self) -> list[float]:
        return [drift.source_after for drift in self.faces if drift.source_after is not None]

    def summary(self) -> str:
        """Text for people: per face the cosines, and a warning line for faces below ``DRIFT_WARNING``."""
        if not self.measured:
            return "identity drift not measured (no recognizer given)"
        if not self.faces:
            return "no face restored"
        lines = [f"identity drift ({self.recognizer}; cosine restored vs before, 1 = unchanged):"]
        for drift in self.faces:
            line = f"image {drift.image_index} face {drift.face_index}: {drift.to_before:.3f}"
            if drift.source_after is not None and drift.source_before is not None:
                line += f"; to source {drift.source_before:.3f} -> {drift.source_after:.3f} ({drift.source_after - drift.source_before:+.3f})"
            if drift.to_before < DRIFT_WARNING:
                line += "  <- the restorer changed this face's identity"
            lines.append(line)
        values = self.to_before()
        lines.append(f"mean {np.mean(values):.3f}, lowest {np.min(values):.3f} over {len(values)} face(s)")
        return "\n".join(lines)


@dataclass(frozen=True)
class RestoreResult:
    """``images``: ``[H, W, 3]`` float32 per image; ``masks``: ``[H, W]`` float32, the applied weight (blend x mask,
    max over faces); ``drift``; ``restored_counts`` per image; ``skipped``: faces left as they were (bad model output)."""

    images: tuple[NDArray[np.float32], ...]
    masks: tuple[NDArray[np.float32], ...]
    drift: DriftReport
    restored_counts: tuple[int, ...]
    skipped: tuple[SkippedFace, ...] = ()


def restore_crops(restorer: FaceModel, crops: NDArray[np.floating], fidelity: float = DEFAULT_FIDELITY) -> NDArray[np.float32]:
    """Run a restorer on ``[N, S, S, 3]`` RGB 0..1 crops (S = its size) -> ``[N, S, S, 3]`` RGB 0..1.

    Raises:
        InvalidArgumentError: not a restorer.
        ModelOutputError: the restorer gave NaN/infinite values or an output of another size than its facts.
    """
    if restorer.facts.kind != "restorer":
        raise InvalidArgumentError(f"{restorer.name} is a {restorer.facts.kind}, not a face restorer. {kind_hint('restorer')}")
    count, size = crops.shape[0], restorer.facts.size
    if count == 0:
        return np.zeros((0, size, size, 3), np.float32)
    extra = {"weight": np.array([fidelity], np.float64)} if restorer.has_input("weight") else None
    output = restorer.run(restorer.preprocess(crops), extra)[0]
    low, high = restorer.facts.output_range
    output = (np.clip(output, low, high) - low) / (high - low)  # finite and of the facts' shape (runner checks)
    if restorer.facts.layout == "NCHW":
        output = output.transpose(0, 2, 3, 1)
    if restorer.facts.colour == "BGR":
        output = output[..., ::-1]
    return np.ascontiguousarray(output, dtype=np.float32)


def _to_uint8(image: NDArray[np.floating]) -> NDArray[np.uint8]:
    return np.clip(np.rint(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)


def measure_drift(
    recognizer: Recognizer,
    before: Sequence[NDArray[np.floating]],
    after: Sequence[NDArray[np.floating]],
    faces_per_image: Sequence[Sequence[Face]],
    source: Identity | None = None,
) -> DriftReport:
    """Embed every listed face in ``before`` and ``after`` (float 0..1 images) and compare.

    Raises:
        IncompatibleIdentitiesError: ``source`` is from another embedding space than ``recognizer``.
    """
    if source is not None and (source.model_id != recognizer.model_id or source.dimension != recognizer.dimension):
        raise IncompatibleIdentitiesError(
            f"the source identity comes from {source.model_id} ({source.dimension}-d) but the recognizer is "
            f"{recognizer.model_id} ({recognizer.dimension}-d); embed the source with the same recognizer"
        )
    positions = [(i, j) for i, faces in enumerate(faces_per_image) for j in range(len(faces))]
    if not positions:
        return DriftReport((), recognizer.name, True)
    first, _ = recognizer.embed_faces([_to_uint8(image) for image in before], faces_per_image)
    second, _ = recognizer.embed_faces([_to_uint8(image) for image in after], faces_per_image)
    to_before = np.diag(cosine_matrix(first.normalised, second.normalised))
    source_before = source_after = None
    if source is not None:
        centroid = source.centroid()[None]
        source_before = cosine_matrix(first.normalised, centroid)[:, 0]
        source_after = cosine_matrix(second.normalised, centroid)[:, 0]
    drifts = tuple(
        FaceDrift(
            image_index=i,
            face_index=j,
            to_before=float(np.clip(to_before[row], -1.0, 1.0)),
            source_before=None if source_before is None else float(source_before[row]),
            source_after=None if source_after is None else float(source_after[row]),
        )
        for row, (i, j) in enumerate(positions)
    )
    return DriftReport(drifts, recognizer.name, True)


def _restore_step(
    restorer: FaceModel,
    originals: Sequence[NDArray[np.float32]],
    outputs: list[NDArray[np.float32]],
    masks: list[NDArray[np.float32]],
    jobs: Sequence[tuple[int, Face]],
    settings: RestoreSettings,
) -> dict[int, str]:
    """Restore one face in each of several images (one job per image), cut from and pasted into ``outputs`` in place.

    Returns ``{job number: reason}`` for the faces left as they were because a model output was bad
    (``faults.per_item``: NaN, wrong shape).

    The crop comes from the current output (faces restored before it included); 68-point landmarks for an
    ``area`` mask from the original image, where the face was found.
    """
    template, size = restorer.facts.template or "ffhq_512", restorer.facts.size
    crops = np.zeros((len(jobs), size, size, 3), np.float32)
    aligned, matrices = [], []
    for number, (image_index, face) in enumerate(jobs):
        matrix = alignment_matrix(face.landmarks, template, size)
        crops[number] = warp_face(outputs[image_index], matrix, size, "replicate")
        aligned.append(with_landmarks_68(face.with_alignment(matrix, size, template), settings.mask, originals[image_index]))
        matrices.append(matrix)

    def run(indices: Sequence[int]) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
        picked = crops[list(indices)]
        weights = crop_masks(picked, [aligned[index] for index in indices], settings.mask)
        return list(zip(restore_crops(restorer, picked, settings.fidelity), weights))

    results, problems = per_item(run, len(jobs))
    for (image_index, _), matrix, result in zip(jobs, matrices, results):
        if result is None:  # a bad model output: this face keeps its pixels
            continue
        outputs[image_index], weight = paste_crop(outputs[image_index], result[0], result[1], matrix, settings.blend)
        np.maximum(masks[image_index], weight, out=masks[image_index])
    return problems


def restore_faces(
    restorer: FaceModel,
    images: Frames | Sequence[NDArray[np.floating]],
    faces: FaceBatch | Sequence[Sequence[Face]],
    settings: RestoreSettings | None = None,
    recognizer: Recognizer | None = None,
    source: Identity | None = None,
    on_progress: ProgressCallback | None = None,
) -> RestoreResult:
    """Restore the given faces of each image (selection is the caller's) and report the identity drift.

    Args:
        restorer: a restorer from ``load_face_model(name, "restorer")``.
        images: ``frames.Frames``, or ``[H, W, 3]`` float32 RGB 0..1 images (checked by ``Frames.of``; not modified).
        faces: per image, the faces to restore (an image with none passes through unchanged).
        settings: blend, fidelity, mask, faces per step.
        recognizer: embeds each face before and after for the drift report (none = not measured).
        source: an identity to compare the faces with before and after (e.g. the swap source).
        on_progress: called ``(faces done, total faces)`` before the first step and after each.

    Returns:
        ``RestoreResult``: the new images, the applied masks, the drift report, faces restored per image.
    """
    chosen = settings or RestoreSettings()
    faces_per_image = alignable_faces(faces)
    frames = Frames.of(images, "restore_faces")  # Frames pass as they are
    if len(frames) != len(faces_per_image):
        raise InvalidArgumentError(
            f"{len(frames)} images but faces for {len(faces_per_image)}; pass the images the faces came from"
        )
    originals = frames.floats()
    outputs = [np.array(image, copy=True) for image in originals]
    masks = [np.zeros(image.shape[:2], np.float32) for image in originals]
    rounds = max((len(image_faces) for image_faces in faces_per_image), default=0)
    total, done = sum(len(image_faces) for image_faces in faces_per_image), 0
    if on_progress is not None:
        on_progress(0, total)
    skipped: list[SkippedFace] = []
    for face_number in range(rounds):
        # FaceFusion's order: the k-th face is cut from the frame the (k-1)-th was pasted into; images are independent
        jobs = [(index, listed[face_number]) for index, listed in enumerate(faces_per_image) if len(listed) > face_number]
        for start in range(0, len(jobs), chosen.faces_per_step):
            step = jobs[start : start + chosen.faces_per_step]
            problems = _restore_step(restorer, originals, outputs, masks, step, chosen)
            skipped.extend(SkippedFace("restore", step[job][0], face_number, reason) for job, reason in problems.items())
            done += len(step)
            if on_progress is not None:
                on_progress(done, total)
    for face in skipped:
        logger.warning("%s", face.line())
    left = {(face.image_index, face.face_index) for face in skipped}
    restored = [
        [face for number, face in enumerate(listed) if (index, number) not in left]
        for index, listed in enumerate(faces_per_image)
    ]
    drift = DriftReport()
    if recognizer is not None:
        drift = measure_drift(recognizer, originals, outputs, restored, source)
    return RestoreResult(tuple(outputs), tuple(masks), drift, tuple(len(f) for f in restored), tuple(skipped))
