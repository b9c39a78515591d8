"""Swapping the chosen faces of a batch: latents per target face, crops, the swapper, paste-back.

Images are ``[H, W, 3]`` float32 RGB in 0..1 (ComfyUI's IMAGE convention). Work stays in float32 so
pixels outside the paste mask come back bit-identical; only detection and recognition see uint8 copies.

Family-agnostic: any swapper with the ``Swapper`` surface runs here. How a face is cut and pasted is the
family's ``paste`` fact (``swapper_facts``), which ``SwapSettings.paste`` can override:

- ``facefusion`` (FaceFusion 3.8.1's ``swap_face`` and ``paste_back``): the crop is cut with the image edge
  replicated; the box mask (the mask spec's, else FaceFusion's default: blur 0.3, no padding) and the
  occlusion masks are judged on the target crop, the region and area masks on the swapped crop; they are
  combined by minimum and that mask alone is the paste weight (``geometry.paste_crop``).
- ``insightface`` (``INSwapper.get``): black border, eroded and blurred square (``geometry.paste_back``),
  multiplied by the face-area ellipse, the learned mask and the mask spec's masks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from ..align import alignment_matrix
from ..errors import IncompatibleIdentitiesError, InvalidArgumentError
from ..faults import SkippedFace, per_item
from ..frames import Frames
from ..geometry import paste_back, paste_crop, warp_face
from ..images import as_rgb_uint8
from ..masks import POST_SWAP_TYPES, PRE_SWAP_TYPES, MaskSpec, crop_masks, smooth_threshold, with_landmarks_68
from ..protocols import Recognizer
from ..swapper_facts import LATENT_RULES, PASTE_STYLES, FamilyFacts
from ..types import Face, FloatImage, Identity, RGBImage
from .crops import PIXEL_BOOST_FACTORS, face_area_mask, landmarks_in_crop, merge_pixel_boost, split_pixel_boost
from .targets import embeddings_per_image

if TYPE_CHECKING:
    from .embedding_swapper import EmbeddingSwapper

logger = logging.getLogger(__name__)

CROPS_PER_STEP = 64
"""Faces prepared at once: bounds crop memory (a 4x-boost crop is 16 model inputs, 3 MB) on long batches."""


class Swapper(Protocol):
    """What every swapper provides to ``swap_faces`` (``embedding_swapper.EmbeddingSwapper`` for every family).

    - ``name``; ``template`` and ``input_size``: the alignment template and crop side of the model input;
    - ``facts``: its family's row of ``swapper_facts`` (the default paste recipe);
    - ``pixel_boost_factors``: the crop multiples the family offers (the row's ``boost_factors``);
    - ``embedding_space`` and ``dimension``: the identity space its source identities come from;
    - ``require_compatible(identity)``: raise ``IncompatibleIdentitiesError`` for an identity of another space;
    - ``project(identity, rule)`` -> ``[D]``: the source latent (``rule``: inswapper's latent rule,
      ``swapper_facts.LATENT_RULES``; other families ignore it);
    - ``target_latents(source_latent, unit [K, D], raw [K, D], strength, rule)`` -> ``[K, D]``: the latent per
      target face at ``strength`` (the family's blend rule);
    - ``swap_crops_masked([N, S, S, 3] RGB 0..1 crops, [N, D] latents)`` -> ``([N, S, S, 3]`` float32 RGB 0..1,
      ``[N, S, S]`` learned mask or ``None)``.
    """

    name: str
    template: str
    input_size: int
    embedding_space: str
    facts: FamilyFacts
    pixel_boost_factors: tuple[int, ...]

    @property
    def dimension(self) -> int: ...

    def require_compatible(self, identity: Identity, role: str = "source") -> None: ...

    def project(self, identity: Identity, rule: str = ...) -> NDArray[np.float32]: ...

    def target_latents(
        self,
        source_latent: NDArray[np.floating],
        normalised: NDArray[np.floating],
        raw: NDArray[np.floating],
        strength: float,
        rule: str = ...,
    ) -> NDArray[np.float32]: ...

    def swap_crops_masked(
        self, crops: NDArray[np.floating], latents: NDArray[np.floating]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]: ...


if TYPE_CHECKING:

    def _every_family_fits(swapper: EmbeddingSwapper) -> Swapper:
        """mypy checks here that the one swapper class provides the whole ``Swapper`` surface."""
        return swapper


@dataclass(frozen=True)
class SwapSettings:
    """How to swap each target face.

    - ``pixel_boost``: 1, 2 or 4. The face is cropped at ``pixel_boost`` times the model size (128 px
      for inswapper), split into ``pixel_boost**2`` model-size images by strided sampling, each
      swapped, and interleaved back (FaceFusion's pixel boost): the pasted face has ``pixel_boost``
      times the detail.
    - ``strength``: 0..1. 1 swaps in the source identity (insightface). Below 1 the target's own
      identity is blended in: ``latent = normalise(s * normalise(source @ emap) + (1 - s) *
      normalise(target @ emap))`` (without the normalisations under the ``facefusion`` latent rule);
      0 asks the model to re-draw the target as itself. Needs a w600k_r50 recognizer to embed the target faces.
    - ``mask_blur``: multiplies insightface's Gaussian feather kernel (1 = insightface, 0 = nearly hard);
      ``insightface`` paste only (FaceFusion's feather is the mask spec's ``blur``).
    - ``face_area_mask``: also limit the paste to an ellipse over brows, eyes, nose, mouth and chin,
      placed from the 5 landmarks (keeps hair, ears and background of the target); eroded and feathered
      with the square (``insightface``), or smoothed like an area mask and combined by minimum (``facefusion``).
    - ``learned_mask``: paste through the swapper's own learned mask when it has one (HyperSwap's
      ``mask`` output), combined by minimum with the mask spec's masks. Off by default: FaceFusion
      ignores that output.
    - ``masks``: an optional ``MaskSpec`` (the Face Mask stage's), applied as FaceFusion's swapper does: box
      and occlusion on the target crop before the swap, region and area on the swapped crop after it, all at
      the swap crop (template and ``pixel_boost`` size), combined by minimum with each other and with the
      learned mask. ``facefusion`` paste: that mask is the paste weight, and always includes a box mask (the
      spec's, else FaceFusion's default: blur 0.3, no padding); ``insightface`` paste: it multiplies the
      feathered square (None = no extra mask).
    - ``paste``: ``auto`` (the family's ``paste`` fact: ``insightface`` for inswapper, ``facefusion`` for
      HyperSwap, SimSwap, GHOST and HifiFace), ``facefusion`` or ``insightface`` (see the module docstring).
    - ``inswapper_latent``: inswapper's source latent, ``insightface`` (``unit @ emap`` re-normalised,
      ``INSwapper.get``) or ``facefusion`` (not re-normalised, FaceFusion's ``face_swapper``); other families
      have FaceFusion's source rule only.

    Families other than inswapper apply ``strength`` by FaceFusion's weight rule
    (``swapper_facts.strength_share``); their pixel boost factors may be fewer (simswap 512: 1, 2).
    """

    pixel_boost: int = 1
    strength: float = 1.0
    mask_blur: float = 1.0
    face_area_mask: bool = False
    learned_mask: bool = False
    masks: MaskSpec | None = None
    paste: str = "auto"
    inswapper_latent: str = "insightface"

    def __post_init__(self) -> None:
        if self.paste not in ("auto", *PASTE_STYLES):
            raise InvalidArgumentError(f"paste must be one of auto, {', '.join(PASTE_STYLES)}; got {self.paste!r}")
        if self.inswapper_latent not in LATENT_RULES:
            raise InvalidArgumentError(
                f"inswapper_latent must be one of {', '.join(LATENT_RULES)}; got {self.inswapper_latent!r}"
            )
        if self.pixel_boost not in PIXEL_BOOST_FACTORS:
            raise InvalidArgumentError(f"pixel boost must be one of {PIXEL_BOOST_FACTORS}, got {self.pixel_boost}")
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidArgumentError(f"swap strength must lie in 0..1, got {self.strength}")
        if not 0.0 <= self.mask_blur <= 8.0:
            raise InvalidArgumentError(f"mask blur must lie in 0..8, got {self.mask_blur}")


DEFAULT_SWAP = SwapSettings()
"""The default swap settings: each family's authors' recipe (no pixel boost, full strength, the family's paste)."""
FACEFUSION_SWAP_MASK = MaskSpec()
"""FaceFusion's default ``face_mask_types``: the box mask, blur 0.3, no padding (the ``facefusion`` paste without a spec)."""


def facefusion_spec(spec: MaskSpec | None) -> MaskSpec:
    """The masks of a ``facefusion`` paste: ``spec`` with FaceFusion's default box mask added when it has none."""
    if spec is None:
        return FACEFUSION_SWAP_MASK
    if "box" in spec.types:
        return spec
    return replace(spec, types=("box", *spec.types), blur=FACEFUSION_SWAP_MASK.blur, padding=FACEFUSION_SWAP_MASK.padding)


def paste_style(swapper: Swapper, settings: SwapSettings) -> str:
    """The paste recipe a swap follows: ``settings.paste``, or the family's ``paste`` fact for ``auto``."""
    return swapper.facts.paste if settings.paste == "auto" else settings.paste


class SwapCounts:
    """How many faces a swap pasted per image (``swapped_counts``), and what follows from it."""

    swapped_counts: tuple[int, ...]

    @property
    def skipped(self) -> tuple[bool, ...]:
        """True for every image in which no face was swapped (returned unchanged)."""
        return tuple(count == 0 for count in self.swapped_counts)

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped)

    @property
    def swapped_total(self) -> int:
        return sum(self.swapped_counts)


@dataclass(frozen=True)
class SwapResult(SwapCounts):
    """Swapped images of a batch.

    - ``images``: ``[H, W, 3]`` float32 RGB per input image; an image with no swapped face is an
      exact float32 copy of its input.
    - ``masks``: ``[H, W]`` float32 0..1 per image: the union (maximum) of the paste masks.
    - ``swapped_counts``: faces swapped per image.
    - ``targets``: the swapped faces per image, with the matrix of their swap crop
      (``align_matrix``, ``crop_size = pixel_boost * swapper.input_size``, ``template = swapper.template``).
    - ``skipped_faces``: faces left as they were because a model output was bad (NaN, wrong shape), with the reason.
    """

    images: tuple[FloatImage, ...]
    masks: tuple[NDArray[np.float32], ...]
    swapped_counts: tuple[int, ...]
    targets: tuple[tuple[Face, ...], ...]
    skipped_faces: tuple[SkippedFace, ...] = ()


def _target_latents(
    swapper: Swapper,
    source_latent: NDArray[np.float32],
    uint8_images: Sequence[RGBImage] | None,
    images: Sequence[FloatImage],
    faces_per_image: Sequence[Sequence[Face]],
    settings: SwapSettings,
    recognizer: Recognizer | None,
) -> list[NDArray[np.float32]]:
    """Per image ``[F_i, D]`` latents: the source latent, blended with each target's own at strength < 1."""
    strength, rule = settings.strength, settings.inswapper_latent
    counts = [len(faces) for faces in faces_per_image]
    if strength >= 1.0 or sum(counts) == 0:
        return [np.repeat(source_latent[None, :], count, axis=0) for count in counts]
    if recognizer is None:
        raise InvalidArgumentError(
            f"swap strength {strength} < 1 blends in the target's own identity, which needs a "
            f"{swapper.embedding_space} recognizer to embed the target faces; pass recognizer=..."
        )
    if recognizer.model_id != swapper.embedding_space or recognizer.dimension != swapper.dimension:
        raise IncompatibleIdentitiesError(
            f"swap strength < 1 embeds the target faces for {swapper.name}'s projection, which needs "
            f"{swapper.embedding_space} ({swapper.dimension}-d) embeddings; the recognizer given is "
            f"{recognizer.model_id} ({recognizer.dimension}-d). Load the {swapper.embedding_space} recognizer."
        )
    pictures = uint8_images if uint8_images is not None else [as_rgb_uint8(image) for image in images]
    embeddings = embeddings_per_image(recognizer, pictures, faces_per_image)
    latents = []
    for rows, raw in embeddings:
        if not rows.shape[0]:
            latents.append(np.zeros((0, source_latent.shape[-1]), np.float32))
        else:
            latents.append(swapper.target_latents(source_latent, rows, raw, strength, rule))
    return latents


def _swap_round(
    swapper: Swapper,
    frames: list[FloatImage],
    masks: list[NDArray[np.float32]],
    jobs: Sequence[tuple[int, Face, NDArray[np.float32]]],
    settings: SwapSettings,
) -> tuple[list[Face], dict[int, str]]:
    """Swap one face in each of several images (one job per image), updating ``frames`` and ``masks`` in place.

    Returns the aligned faces and ``{job number: reason}`` for the faces left as they were because a
    model output (swapper, occluder, parser, landmarker) was bad (``faults.per_item``).
    """
    factor = settings.pixel_boost
    crop_size = swapper.input_size * factor
    style = paste_style(swapper, settings)
    spec = facefusion_spec(settings.masks) if style == "facefusion" else settings.masks
    tiles, latents, matrices, crops, aligned = [], [], [], [], []
    for image_index, face, latent in jobs:
        matrix = alignment_matrix(face.landmarks, swapper.template, crop_size)
        crop = warp_face(frames[image_index], matrix, crop_size, "replicate" if style == "facefusion" else "constant")
        tiles.append(split_pixel_boost(crop, factor))
        latents.append(np.repeat(latent[None, :], factor * factor, axis=0))
        matrices.append(matrix)
        crops.append(crop)
        aligned.append(face.with_alignment(matrix, crop_size, swapper.template))
    boxes = factor * factor

    def run(indices: Sequence[int]) -> list[tuple[FloatImage, NDArray[np.float32] | None]]:
        picked = list(indices)
        if spec is not None:  # the 68-point landmarker runs here, per face, so a bad output skips only its face
            for number in picked:
                aligned[number] = with_landmarks_68(aligned[number], spec, frames[jobs[number][0]])
        faces = [aligned[number] for number in picked]
        # FaceFusion's swap_face: box and occlusion judge the target crop as it is, before the swap.
        spec_masks = None if spec is None else crop_masks(np.stack([crops[n] for n in picked]), faces, spec, PRE_SWAP_TYPES)
        swapped_tiles, learned_tiles = swapper.swap_crops_masked(
            np.concatenate([tiles[n] for n in picked]), np.concatenate([latents[n] for n in picked])
        )
        spans = [slice(number * boxes, (number + 1) * boxes) for number in range(len(picked))]
        swapped_crops = [merge_pixel_boost(swapped_tiles[span], factor) for span in spans]
        if spec is not None and spec_masks is not None:
            # region (face parser) and area (68 points) judge the swapped crop, after the swap
            spec_masks = np.minimum(spec_masks, crop_masks(np.stack(swapped_crops), faces, spec, POST_SWAP_TYPES))
        results = []
        for number, span in enumerate(spans):
            combined = None
            if settings.learned_mask and learned_tiles is not None:
                combined = merge_pixel_boost(learned_tiles[span][..., None], factor)[..., 0]
            if spec_masks is not None:
                combined = spec_masks[number] if combined is None else np.minimum(combined, spec_masks[number])
            results.append((swapped_crops[number], combined))
        return results

    outcomes, problems = per_item(run, len(jobs))
    for job_number, ((image_index, face, _), outcome) in enumerate(zip(jobs, outcomes)):
        if outcome is None:  # a bad model output: this face keeps its pixels
            continue
        matrix, (swapped_crop, combined) = matrices[job_number], outcome
        area = face_area_mask(landmarks_in_crop(face.landmarks, matrix), crop_size) if settings.face_area_mask else None
        if style == "facefusion":
            assert combined is not None  # the spec always gives a mask under the facefusion paste
            if area is not None:
                combined = np.minimum(combined, smooth_threshold(area))
            frames[image_index], face_mask = paste_crop(frames[image_index], swapped_crop, combined, matrix)
        else:
            frames[image_index], face_mask = paste_back(
                frames[image_index], swapped_crop, matrix, area, settings.mask_blur, combined
            )
        np.maximum(masks[image_index], face_mask, out=masks[image_index])
    return aligned, problems


def swap_faces(
    swapper: Swapper,
    images: Frames | Sequence[NDArray[np.generic]],
    source: Identity,
    faces_per_image: Sequence[Sequence[Face]],
    settings: SwapSettings = DEFAULT_SWAP,
    recognizer: Recognizer | None = None,
    uint8_images: Sequence[RGBImage] | None = None,
) -> SwapResult:
    """Swap the source identity onto the given faces of every image.

    Faces of one image are swapped one after the other on the updated image (as insightface does);
    the k-th faces of all images go through the model together.

    Args:
        swapper: from ``load_swapper``.
        images: ``frames.Frames``, or ``[H, W, 3]`` RGB float32 0..1 images (uint8 accepted, divided by 255).
        source: the identity to paste in, of the swapper's space (``arcface_w600k_r50``, 512-d, for inswapper). Its centroid is used.
        faces_per_image: the target faces of each image (``select_targets``); an empty list leaves the image as is.
        settings: pixel boost, strength, mask blur, face-area mask.
        recognizer: an ``ArcFaceRecognizer`` of the swapper's space (w600k_r50); needed only when ``settings.strength < 1``.
        uint8_images: uint8 copies of ``images`` the caller already has (saves a conversion at strength < 1).

    Returns:
        ``SwapResult``; images with no target are exact float32 copies of the input.

    Raises:
        IncompatibleIdentitiesError: the source (or the recognizer) is not of the swapper's space (w600k_r50).
        InvalidArgumentError: strength < 1 without a recognizer; lengths differ.
    """
    if len(images) != len(faces_per_image):
        raise InvalidArgumentError(f"{len(images)} images but faces for {len(faces_per_image)}")
    factors = swapper.pixel_boost_factors
    if settings.pixel_boost not in factors:
        raise InvalidArgumentError(
            f"{swapper.name} offers pixel boost {', '.join(str(f) for f in factors)} (crops of "
            f"{', '.join(str(f * swapper.input_size) for f in factors)} px), not {settings.pixel_boost}"
        )
    source_latent = swapper.project(source, settings.inswapper_latent)
    given = Frames.of(images, "swap_faces")  # Frames pass as they are; arrays are checked here, once
    frames = given.floats()
    if uint8_images is None and settings.strength < 1.0:
        uint8_images = given.uint8()
    latents = _target_latents(swapper, source_latent, uint8_images, frames, faces_per_image, settings, recognizer)
    masks = [np.zeros(frame.shape[:2], dtype=np.float32) for frame in frames]
    swapped: list[list[Face]] = [[] for _ in frames]
    skipped: list[SkippedFace] = []
    rounds = max((len(faces) for faces in faces_per_image), default=0)
    for face_number in range(rounds):
        jobs = [
            (image_index, faces[face_number], latents[image_index][face_number])
            for image_index, faces in enumerate(faces_per_image)
            if len(faces) > face_number
        ]
        for start in range(0, len(jobs), CROPS_PER_STEP):
            step = jobs[start : start + CROPS_PER_STEP]
            aligned, problems = _swap_round(swapper, frames, masks, step, settings)
            for job_number, ((image_index, _, _), face) in enumerate(zip(step, aligned, strict=True)):
                if job_number in problems:
                    skipped.append(SkippedFace("swap", image_index, face_number, problems[job_number]))
                    logger.warning("%s", skipped[-1].line())
                else:
                    swapped[image_index].append(face)
    counts = tuple(len(faces) for faces in swapped)
    logger.debug("swapped %d face(s) in %d image(s); %d image(s) unchanged", sum(counts), len(frames), counts.count(0))
    return SwapResult(tuple(frames), tuple(masks), counts, tuple(tuple(faces) for faces in swapped), tuple(skipped))
