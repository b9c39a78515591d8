"""A swap that checks itself: every swapped face is scored, and one below a floor is swapped again with the next model.

``swap_checked`` swaps every chosen face of a batch with the first model, in one batch, exactly as
``swap_faces`` does; then scores each swapped face with ``retention.measure_retention``: its
retention (cosine of the re-detected face to the source identity) and its leakage (cosine to the
face it replaced, embedded in the input frame). Without a floor that is all (scoring only).

With a floor and more than one model, a frame with a face below the floor (or a face the first
model's output left unswapped, ``SkippedFace``) is redone from its first such face: the frame as it
was before that face was pasted (the input with the earlier, passing faces swapped by the first
model again: the same computation as in the batch), then that face and each later one in turn, model after
model in the given order, until one result passes the floor; a face where none passes keeps the
result with the highest retention. Faces of frames where every face passed are never swapped
twice. The target latents (strength < 1) always come from the input frame, as in ``swap_faces``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError
from ..faults import SkippedFace
from ..frames import Frames
from ..protocols import Detector, Recognizer
from ..types import Face, FloatImage, Identity, RGBImage
from ..validate import check_number
from .retention import check_scorer, measure_retention
from .run import Swapper, SwapResult, SwapSettings, swap_faces

__all__ = ["FaceCheck", "check_chain", "swap_checked"]


@dataclass(frozen=True)
class FaceCheck:
    """The check of one swapped face.

    - ``frame``: its frame's index in the batch; ``face``: its number among the frame's chosen faces (swap order).
    - ``model``: the swapper (``Swapper.name``) whose result was kept; ``tried``: the models swapped on it, in order.
    - ``retention``: cosine (-1..1) of the re-detected swapped face to the source identity's centroid;
      ``leakage``: cosine to the face it replaced (both ``measure_retention``'s, NaN-free).
    - ``passed``: retention at or above the floor (always True without a floor).
    """

    frame: int
    face: int
    model: str
    retention: float
    leakage: float
    tried: tuple[str, ...]
    passed: bool


@dataclass(frozen=True)
class _Candidate:
    """One model's result for one face: scores, and the swapped frame, paste mask and aligned face (``None``
    for the first model's batch result, which is recomputed only when it is kept)."""

    retention: float
    leakage: float
    model: int
    image: FloatImage | None = None
    mask: NDArray[np.float32] | None = None
    face: Face | None = None


def check_chain(
    swappers: Sequence[Swapper],
    source: Identity,
    recognizer: Recognizer | None,
    detector: Detector | None,
    floor: float | None,
    context: str = "swap_checked",
    *,
    settings: SwapSettings | None = None,
) -> float | None:
    """Refuse, before any work, a self-checked swap that cannot run; return the floor as a float (or ``None``).

    Raises:
        InvalidArgumentError: no swapper, no detector or recognizer to score with, a floor that is
            not a finite number in -1..1 (``validate.check_number``), or a model of the chain that
            does not offer ``settings.pixel_boost``.
        IncompatibleIdentitiesError: a swapper of the chain, or the recognizer, is not of the source
            identity's embedding space (names the swapper and the space).
    """
    if not swappers:
        raise InvalidArgumentError(f"{context}: no swapper given; give at least one model")
    for swapper in swappers:
        swapper.require_compatible(source)
        if settings is not None and settings.pixel_boost not in swapper.pixel_boost_factors:
            offered = ", ".join(str(factor) for factor in swapper.pixel_boost_factors)
            raise InvalidArgumentError(
                f"{context}: {swapper.name} offers pixel boost {offered}, not {settings.pixel_boost}; "
                "choose a pixel boost every model of the fallback order offers"
            )
    if recognizer is None:
        raise InvalidArgumentError(
            f"{context}: checking each swapped face needs a recognizer of the source identity's space "
            f"({source.model_id}); pass recognizer=..."
        )
    check_scorer(recognizer, source)
    if detector is None:
        raise InvalidArgumentError(f"{context}: checking each swapped face needs a detector to find it again; pass detector=...")
    return None if floor is None else check_number(floor, "retention floor", context, -1.0, 1.0)


def _scores(
    detector: Detector, recognizer: Recognizer, originals: Frames, result: SwapResult, source: Identity, numbers: list[list[int]]
) -> list[dict[int, tuple[float, float]]]:
    """Per frame ``{face number: (retention, leakage)}`` of the faces ``result`` swapped (``numbers``: their face numbers)."""
    report = measure_retention(detector, recognizer, originals, Frames.from_library(list(result.images)), result.targets, source)
    scores: list[dict[int, tuple[float, float]]] = [{} for _ in result.targets]
    for face in report.faces:
        scores[face.image_index][numbers[face.image_index][face.face_index]] = (face.retention, face.leakage)
    return scores


def _swapped_numbers(faces_per_image: Sequence[Sequence[Face]], skipped: Sequence[SkippedFace]) -> list[list[int]]:
    """Per frame, the face numbers of the faces a ``swap_faces`` result holds (its ``targets`` leave skipped ones out)."""
    left_out = {(face.image_index, face.face_index) for face in skipped}
    return [[n for n in range(len(faces)) if (index, n) not in left_out] for index, faces in enumerate(faces_per_image)]


def _face_round(
    chain: Sequence[Swapper],
    jobs: dict[int, tuple[FloatImage, FloatImage, RGBImage, Face]],
    known: dict[int, tuple[float, float] | None],
    source: Identity,
    settings: SwapSettings,
    recognizer: Recognizer,
    detector: Detector,
    floor: float,
) -> dict[int, tuple[_Candidate | None, tuple[str, ...]]]:
    """Swap one face per frame, model after model, until a result passes ``floor``; per frame (best candidate, tried).

    ``jobs``: frame -> (its state before this face, its input frame, the input as uint8, the face).
    ``known``: frames whose first model's result is already scored (``None``: its output was bad);
    those start at the second model.
    """
    best: dict[int, _Candidate | None] = {frame: None for frame in jobs}
    tried: dict[int, list[str]] = {frame: [] for frame in jobs}
    level = dict.fromkeys(jobs, 0)
    for frame, score in known.items():
        tried[frame].append(chain[0].name)
        level[frame] = 1
        if score is not None:
            best[frame] = _Candidate(score[0], score[1], 0)
    pending = [frame for frame in jobs if level[frame] < len(chain)]
    while pending:
        for model in sorted({level[frame] for frame in pending}):
            group = [frame for frame in pending if level[frame] == model]
            states, originals, uint8s, faces = zip(*(jobs[frame] for frame in group))
            result = swap_faces(
                chain[model], list(states), source, [[face] for face in faces], settings, recognizer, list(uint8s)
            )
            numbers = _swapped_numbers([[face] for face in faces], result.skipped_faces)
            scores = _scores(detector, recognizer, Frames.from_library(list(originals)), result, source, numbers)
            for number, frame in enumerate(group):
                tried[frame].append(chain[model].name)
                level[frame] += 1
                if 0 not in scores[number]:
                    continue  # a bad model output: this model leaves the face as it was
                retention, leakage = scores[number][0]
                candidate = _Candidate(
                    retention, leakage, model, result.images[number], result.masks[number], result.targets[number][0]
                )
                current = best[frame]
                if current is None or retention > current.retention:
                    best[frame] = candidate
                if retention >= floor:
                    level[frame] = len(chain)  # the first passing result is kept
        pending = [frame for frame in pending if level[frame] < len(chain)]
    return {frame: (best[frame], tuple(tried[frame])) for frame in jobs}


def _redo(
    chain: Sequence[Swapper],
    given: Frames,
    pictures: Frames,
    source: Identity,
    faces_per_image: Sequence[Sequence[Face]],
    settings: SwapSettings,
    recognizer: Recognizer,
    detector: Detector,
    floor: float,
    redo: dict[int, int],
    first: list[dict[int, tuple[float, float]]],
) -> dict[int, tuple[FloatImage, NDArray[np.float32], list[Face], list[FaceCheck], list[SkippedFace]]]:
    """Redo each frame of ``redo`` (frame -> its first failing face) from that face on; per frame
    (image, mask, swapped faces, checks, skipped faces). ``pictures``: ``given`` as uint8 (the same frames, or their copies)."""
    order = sorted(redo)
    originals = {frame: given.floats(frame, frame + 1)[0] for frame in order}
    uint8s = {frame: pictures.uint8(frame, frame + 1)[0] for frame in order}
    # The frame as it was before its first failing face: its earlier faces by the first model, computed again.
    prefix = swap_faces(
        chain[0],
        [originals[frame] for frame in order],
        source,
        [faces_per_image[frame][: redo[frame]] for frame in order],
        settings,
        recognizer,
        [uint8s[frame] for frame in order],
    )
    states = {frame: prefix.images[n] for n, frame in enumerate(order)}
    masks = {frame: prefix.masks[n] for n, frame in enumerate(order)}
    targets = {frame: list(prefix.targets[n]) for n, frame in enumerate(order)}
    name = chain[0].name
    checks = {frame: [FaceCheck(frame, n, name, *first[frame][n], (name,), True) for n in range(redo[frame])] for frame in order}
    skipped: dict[int, list[SkippedFace]] = {frame: [] for frame in order}
    for number in range(min(redo.values()), max(len(faces_per_image[frame]) for frame in order)):
        active = [frame for frame in order if redo[frame] <= number < len(faces_per_image[frame])]
        jobs = {frame: (states[frame], originals[frame], uint8s[frame], faces_per_image[frame][number]) for frame in active}
        known = {frame: first[frame].get(number) for frame in active if number == redo[frame]}
        outcomes = _face_round(chain, jobs, known, source, settings, recognizer, detector, floor)
        again = [frame for frame in active if (kept := outcomes[frame][0]) is not None and kept.image is None]
        if again:  # the first model's batch result was the best: swap it again on this state (the same pixels)
            redone = swap_faces(
                chain[0],
                [states[f] for f in again],
                source,
                [[jobs[f][3]] for f in again],
                settings,
                recognizer,
                [uint8s[f] for f in again],
            )
            for n, frame in enumerate(again):
                kept, tried = outcomes[frame]
                assert kept is not None and redone.targets[n]  # it gave a good output in the batch
                outcomes[frame] = (
                    _Candidate(kept.retention, kept.leakage, 0, redone.images[n], redone.masks[n], redone.targets[n][0]),
                    tried,
                )
        for frame in active:
            kept, tried = outcomes[frame]
            if kept is None or kept.image is None or kept.mask is None or kept.face is None:
                reason = f"every model tried ({', '.join(tried)}) gave a bad output"
                skipped[frame].append(SkippedFace("swap", frame, number, reason))
                continue
            states[frame] = kept.image
            masks[frame] = np.maximum(masks[frame], kept.mask)
            targets[frame].append(kept.face)
            passed = kept.retention >= floor
            checks[frame].append(FaceCheck(frame, number, chain[kept.model].name, kept.retention, kept.leakage, tried, passed))
    return {frame: (states[frame], masks[frame], targets[frame], checks[frame], skipped[frame]) for frame in order}


def swap_checked(
    swappers: Sequence[Swapper],
    frames: Any,
    source: Identity,
    faces_per_image: Sequence[Sequence[Face]],
    settings: SwapSettings,
    recognizer: Recognizer,
    detector: Detector,
    floor: float | None,
    uint8_images: Sequence[RGBImage] | None = None,
    context: str = "swap_checked",
) -> tuple[SwapResult, tuple[FaceCheck, ...]]:
    """``swap_faces`` with ``swappers[0]``, each swapped face scored; below ``floor``, swapped again with the next model.

    Args:
        swappers: the models in the order to try them (``swappers[0]`` first), all of the source's space.
        frames: ``frames.Frames`` or anything ``Frames.of`` takes (``[H, W, 3]`` RGB float32 0..1 images).
        source, faces_per_image, settings: as ``swap_faces``.
        recognizer: an ``ArcFaceRecognizer`` of the source identity's space (scores; strength < 1 too).
        detector: finds each swapped face again (``measure_retention``).
        floor: the lowest retention (cosine, -1..1) a face may keep; ``None``: score only, no fallback.
        uint8_images: uint8 copies of the input frames the caller already has (as ``swap_faces``).
        context: names the caller in error messages.

    Returns:
        (``SwapResult`` as ``swap_faces`` gives, ``FaceCheck`` per swapped face ordered by frame then face).
        With one model or no floor the images are exactly ``swap_faces(swappers[0], ...)``'s.

    Raises:
        As ``check_chain`` (before any work) and ``swap_faces``.
    """
    floor = check_chain(swappers, source, recognizer, detector, floor, context, settings=settings)
    chain = list(swappers)
    given = Frames.of(frames, context)
    first = swap_faces(chain[0], given, source, faces_per_image, settings, recognizer, uint8_images)
    # The scores' input faces come from the caller's uint8 copies when it has them (not converted again).
    originals = given if uint8_images is None else Frames.from_library(list(uint8_images))
    scores = _scores(detector, recognizer, originals, first, source, _swapped_numbers(faces_per_image, first.skipped_faces))
    redo: dict[int, int] = {}
    if floor is not None and len(chain) > 1:
        for index, faces in enumerate(faces_per_image):
            failing = [n for n in range(len(faces)) if n not in scores[index] or scores[index][n][0] < floor]
            if failing:
                redo[index] = failing[0]
    images, masks = list(first.images), list(first.masks)
    targets = [list(faces) for faces in first.targets]
    skipped = [face for face in first.skipped_faces if face.image_index not in redo]
    checks = [
        FaceCheck(index, n, chain[0].name, kept, leaked, (chain[0].name,), floor is None or kept >= floor)
        for index, found in enumerate(scores)
        if index not in redo
        for n, (kept, leaked) in sorted(found.items())
    ]
    if redo and floor is not None:
        redone = _redo(chain, given, originals, source, faces_per_image, settings, recognizer, detector, floor, redo, scores)
        for index, (image, mask, faces, frame_checks, frame_skipped) in redone.items():
            images[index], masks[index], targets[index] = image, mask, faces
            checks.extend(frame_checks)
            skipped.extend(frame_skipped)
    checks.sort(key=lambda check: (check.frame, check.face))
    skipped.sort(key=lambda face: (face.image_index, face.face_index))
    result = SwapResult(
        tuple(images),
        tuple(masks),
        tuple(len(faces) for faces in targets),
        tuple(tuple(faces) for faces in targets),
        tuple(skipped),
    )
    return result, tuple(checks)
