"""Every embedding-driven swapper family (HyperSwap, SimSwap 256/512, GHOST, HifiFace, AlphaFace) through synthetic models
with the real graphs' exact I/O names, shapes and dtypes: identity round trips, the identity path against numpy,
batches, chunking, family detection, torch parity and the learned mask."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.align import template_points
from face_identity.catalog import W600K_R50_SPACE
from face_identity.devtools import synthetic
from face_identity.embed import ArcFaceRecognizer, load_recognizer
from face_identity.errors import IncompatibleIdentitiesError, InvalidArgumentError, ModelMismatchError
from face_identity.geometry import paste_crop_mask
from face_identity.masks import box_mask
from face_identity.swap import (
    EmbeddingSwapper,
    SwapSettings,
    detect_and_swap,
    landmarks_in_crop,
    load_swapper,
    swap_faces,
)
from face_identity.swapper_facts import SWAPPER_FACTS, family_facts, strength_share
from face_identity.types import Face, Identity

pytestmark = pytest.mark.usefixtures("no_network")

# name -> (family, crop side, template, converter, crop mean, crop std, de-normalised) as FaceFusion 3.x declares them.
FAMILIES: dict[str, tuple[str, int, str, str | None, tuple[float, ...], tuple[float, ...], bool]] = {
    "hyperswap_1a_256": ("hyperswap", 256, "arcface_128", None, (0.5,) * 3, (0.5,) * 3, True),
    "simswap_256": ("simswap", 256, "arcface_112_v1", "crossface_simswap", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), False),
    "simswap_unofficial_512": ("simswap", 512, "arcface_112_v1", "crossface_simswap", (0.0,) * 3, (1.0,) * 3, False),
    "ghost_1_256": ("ghost", 256, "arcface_112_v1", "crossface_ghost", (0.5,) * 3, (0.5,) * 3, True),
    "hififace_unofficial_256": ("hififace", 256, "mtcnn_512", "crossface_hififace", (0.5,) * 3, (0.5,) * 3, True),
    # FaceFusion 3.9.0: crop in 0..1, output already 0..1, fed the raw w600k_r50 embedding (no converter).
    "alphaface_256": ("alphaface", 256, "arcface_128", None, (0.0,) * 3, (1.0,) * 3, False),
}
RAW_FED = {"ghost", "alphaface"}
"""Families whose strength rule mixes in the target's raw (not unit) embedding."""
CONVERTER_SEEDS = {"crossface_simswap": 1, "crossface_ghost": 2, "crossface_hififace": 3}
SWAPPER_SEED = 5


def build_folder(folder: Path, mode: str) -> Path:
    """Stand-ins under every catalog name; in identity mode a plain-RGB-output family's graph undoes its input normalisation."""
    for name, (family, size, _, _, mean, std, denormalise) in FAMILIES.items():
        plain = None if denormalise else (mean, std)
        synthetic.build_embedding_swapper_like(
            folder / f"{name}.onnx", size, mode, mask=family == "hyperswap", seed=SWAPPER_SEED, plain_output=plain
        )
    synthetic.build_embedding_swapper_like(folder / "hyperswap_1b_256.onnx", 256, mode, mask=False, seed=SWAPPER_SEED)
    for converter, seed in CONVERTER_SEEDS.items():
        synthetic.build_crossface_like(folder / f"{converter}.onnx", seed=seed)
    return folder


@pytest.fixture(scope="module")
def identity_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_folder(tmp_path_factory.mktemp("identity_swappers"), "identity")


@pytest.fixture(scope="module")
def linear_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_folder(tmp_path_factory.mktemp("linear_swappers"), "linear")


@pytest.fixture(scope="module")
def source() -> Identity:
    rows = np.random.default_rng(11).normal(size=(3, 512)).astype(np.float32)
    return Identity(rows, W600K_R50_SPACE)


def smooth_image(height: int = 320, width: int = 320, seed: int = 0) -> NDArray[np.float32]:
    """Slowly varying colours (periods of 60+ px): bilinear warps there and back stay within a fraction of a grey level."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fy, fx, phase = rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.08), rng.uniform(0, 6)
        channels.append(0.5 + 0.3 * np.sin(fy * ys + phase) * np.cos(fx * xs))
    return np.stack(channels, axis=-1).astype(np.float32)


def planted_face(
    centre_x: float = 160.0, centre_y: float = 160.0, scale: float = 1.0, image_index: int = 0, template: str = "arcface_112"
) -> Face:
    """A face whose 5 landmarks have the shape of ``template`` at 112 px, scaled by ``scale`` about the centre."""
    points = (template_points(template, 112) - 56.0) * scale + np.array([centre_x, centre_y])
    half = 56.0 * scale
    box = np.array([centre_x - half, centre_y - half, centre_x + half, centre_y + half])
    return Face(box, 0.99, points.astype(np.float32), image_index)


def unit(rows: NDArray[np.floating]) -> NDArray[np.float64]:
    values = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def reference_source(name: str, identity: Identity) -> NDArray[np.float64]:
    """The ``source`` input FaceFusion builds from a w600k_r50 embedding, in numpy from the synthetic weights."""
    family, _, _, converter, *_ = FAMILIES[name]
    embedding = unit(identity.centroid())
    if family == "alphaface":  # the raw vector: unit centroid times the weighted mean raw norm
        weights = identity.weights.astype(np.float64)
        return embedding * float((identity.norms * weights).sum() / weights.sum())
    if converter is None:
        return embedding
    converted = embedding @ synthetic.crossface_weights(CONVERTER_SEEDS[converter]).astype(np.float64)
    return converted if family == "ghost" else unit(converted)


class RecordingBackend:
    """Wraps a backend and keeps what it was fed."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = "recording"
        self.sources: list[NDArray[np.float32]] = []
        self.targets: list[NDArray[np.float32]] = []

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        return self.run_outputs(target, source)[0]

    def run_outputs(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> tuple[NDArray[np.float32], ...]:
        self.targets.append(target.copy())
        self.sources.append(source.copy())
        return self.inner.run_outputs(target, source)  # type: ignore[attr-defined, no-any-return]

    def describe(self) -> str:
        return "recording"


def recording(swapper: EmbeddingSwapper) -> tuple[EmbeddingSwapper, RecordingBackend]:
    backend = RecordingBackend(swapper.backend)
    copy = EmbeddingSwapper(
        backend,
        swapper.model,
        swapper.facts,
        swapper.name,
        swapper.embedding_space,
        swapper.converter,
        swapper.has_learned_mask,
        swapper.use_learned_mask,
    )
    return copy, backend


def load(folder: Path, name: str, **options: object) -> EmbeddingSwapper:
    swapper = load_swapper(name, [folder], providers="cpu", allow_download=False, **options)  # type: ignore[arg-type]
    assert isinstance(swapper, EmbeddingSwapper)
    return swapper


# --- facts and loading ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_catalog_name_picks_the_family_facts(linear_folder: Path, name: str) -> None:
    family, size, template, converter, mean, std, denormalise = FAMILIES[name]
    swapper = load(linear_folder, name)
    facts = swapper.facts
    assert (facts.family, facts.size, facts.template, facts.converter) == (family, size, template, converter)
    assert (swapper.input_size, swapper.template) == (size, template)
    assert np.allclose(facts.mean, mean) and np.allclose(facts.std, std) and facts.denormalise == denormalise
    assert (swapper.converter.name if swapper.converter else None) == converter
    assert swapper.has_learned_mask == (family == "hyperswap")
    assert swapper.embedding_space == W600K_R50_SPACE and swapper.dimension == 512
    assert SWAPPER_FACTS[name].release.startswith("models-3.") and SWAPPER_FACTS[name].licence


def test_every_row_names_its_sources_and_can_be_found_from_a_graph() -> None:
    """Each family row says where its facts come from, and the graph-side lookup knows every catalog swapper's row."""
    from face_identity.swapper_facts import FAMILY_ROWS, rows_for_graph

    for name, row in SWAPPER_FACTS.items():
        assert row.facts.sources, name
        assert row.facts in FAMILY_ROWS, name
        assert row.facts in rows_for_graph(row.facts.size, row.facts.learned_mask), name
        assert row.facts.inputs == ("target", "source") and row.facts.outputs[0] == "output", name
        assert (len(row.facts.outputs) > 1) == row.facts.learned_mask, name


def test_unknown_files_get_their_family_from_the_graph_or_the_argument(linear_folder: Path, tmp_path: Path) -> None:
    masked = synthetic.build_embedding_swapper_like(tmp_path / "my_swapper.onnx", 256, mask=True)
    assert load(linear_folder, str(masked)).facts.family == "hyperswap"
    large = synthetic.build_embedding_swapper_like(tmp_path / "my_512.onnx", 512)
    swapper = load(linear_folder, str(large))
    assert (swapper.facts.family, swapper.input_size, swapper.converter.name) == ("simswap", 512, "crossface_simswap")  # type: ignore[union-attr]
    plain = synthetic.build_embedding_swapper_like(tmp_path / "my_256.onnx", 256)
    with pytest.raises(ModelMismatchError, match="family=") as ambiguous:
        load_swapper(plain, [linear_folder], providers="cpu", allow_download=False)
    assert all(name in str(ambiguous.value) for name in ("simswap", "ghost", "hififace", "alphaface"))
    assert load(linear_folder, str(plain), family="alphaface").facts == SWAPPER_FACTS["alphaface_256"].facts
    ghost = load(linear_folder, str(plain), family="ghost")
    assert (ghost.facts.family, ghost.template) == ("ghost", "arcface_112_v1")
    with pytest.raises(InvalidArgumentError, match="family"):
        load_swapper(plain, [linear_folder], providers="cpu", allow_download=False, family="blendswap")
    inswapper = synthetic.build_inswapper_like(tmp_path / "some_inswapper.onnx")
    found = load_swapper(inswapper, providers="cpu", allow_download=False)
    assert (type(found), found.facts.family, found.dimension) == (EmbeddingSwapper, "inswapper", 512)
    with pytest.raises(ModelMismatchError, match="emap"):
        load_swapper(plain, [linear_folder], providers="cpu", allow_download=False, family="inswapper")


def test_identity_of_another_space_is_refused_with_the_fix(linear_folder: Path) -> None:
    swapper = load(linear_folder, "simswap_256")
    other = Identity(np.ones((1, 512), np.float32), "arcface_glintr100")
    with pytest.raises(IncompatibleIdentitiesError) as caught:
        swapper.project(other)
    message = str(caught.value)
    assert "arcface_glintr100" in message and W600K_R50_SPACE in message and "crossface_simswap" in message


def test_a_raw_fed_family_refuses_an_identity_without_raw_norms(linear_folder: Path, source: Identity) -> None:
    """AlphaFace takes the raw vector: an identity whose norms are unknown (0) has none, and is refused with the fix."""
    swapper = load(linear_folder, "alphaface_256")
    assert swapper.facts.needs_raw and not load(linear_folder, "hyperswap_1a_256").facts.needs_raw
    unknown = Identity(source.embeddings, W600K_R50_SPACE, norms=np.zeros(len(source)))
    with pytest.raises(IncompatibleIdentitiesError, match="raw norm"):
        swap_faces(swapper, [smooth_image()], unknown, [[planted_face(scale=1.3)]])
    # a family fed the unit embedding does not need it
    hyperswap = load(linear_folder, "hyperswap_1a_256")
    assert np.allclose(hyperswap.project(unknown), hyperswap.project(source), atol=1e-6)
    # one unknown row makes the whole average unknown: a mean over some rows would stand for other faces
    partial = Identity(source.embeddings, W600K_R50_SPACE, norms=np.array([20.0, 0.0, 25.0]))
    assert partial.raw_norm == 0.0
    with pytest.raises(IncompatibleIdentitiesError, match="raw norm"):
        swapper.project(partial)


# --- the whole path with an output-equals-target swapper ------------------------------------------


@pytest.mark.parametrize("pixel_boost", [1, 2])
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_output_equals_target_gives_back_the_image(identity_folder: Path, source: Identity, name: str, pixel_boost: int) -> None:
    _, size, template, *_ = FAMILIES[name]
    image = smooth_image()
    face = planted_face(scale=1.3, template=template)  # the template's own shape: the crop must put it exactly there
    swapper = load(identity_folder, name)
    result = swap_faces(swapper, [image], source, [[face]], SwapSettings(pixel_boost=pixel_boost, learned_mask=False))
    assert result.swapped_counts == (1,)
    mask = result.masks[0]
    assert mask.max() > 0.99
    difference = np.abs(result.images[0] - image) * 255.0
    assert difference.max() <= 1.0, f"{name}: largest difference {difference.max():.2f} grey levels"
    swapped = result.targets[0][0]
    assert swapped.template == template and swapped.crop_size == size * pixel_boost
    assert swapped.align_matrix is not None
    placed = landmarks_in_crop(face.landmarks, swapped.align_matrix)
    assert np.allclose(placed, template_points(template, size * pixel_boost), atol=1e-3 * pixel_boost)


def test_a_wrong_normalisation_would_be_caught(identity_folder: Path, source: Identity) -> None:
    """The round trip above fails when the de-normalisation is skipped: the check has teeth."""
    swapper = load(identity_folder, "ghost_1_256")
    broken = EmbeddingSwapper(
        swapper.backend,
        swapper.model,
        replace(swapper.facts, denormalise=False),
        swapper.name,
        swapper.embedding_space,
        swapper.converter,
    )
    image = smooth_image()
    result = swap_faces(broken, [image], source, [[planted_face(scale=1.3)]])
    assert (np.abs(result.images[0] - image) * 255.0).max() > 10


# --- the identity path against numpy ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_source_vector_matches_numpy(linear_folder: Path, source: Identity, name: str) -> None:
    swapper, backend = recording(load(linear_folder, name))
    expected = reference_source(name, source)[0]
    assert np.allclose(swapper.project(source), expected, atol=1e-5)
    image = smooth_image()
    swap_faces(swapper, [image], source, [[planted_face(scale=1.3)]], SwapSettings(pixel_boost=2))
    fed = np.concatenate(backend.sources)
    assert fed.shape == (4, 512)
    assert np.allclose(fed, expected[None, :], atol=1e-5)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_crop_path_matches_numpy(linear_folder: Path, name: str) -> None:
    _, size, _, _, mean, std, denormalise = FAMILIES[name]
    swapper = load(linear_folder, name)
    rng = np.random.default_rng(3)
    crops = rng.random((2, size, size, 3)).astype(np.float32)
    latents = rng.normal(0, 1, (2, 512)).astype(np.float32)
    images, _ = swapper.swap_crops_masked(crops, latents)
    fed = (crops.astype(np.float64) - np.array(mean)) / np.array(std)
    output = 0.5 * fed + (latents.astype(np.float64) @ synthetic.embedding_swapper_weights(SWAPPER_SEED))[:, None, None, :]
    if denormalise:
        output = output * np.array(std) + np.array(mean)
    assert np.allclose(images, np.clip(output, 0.0, 1.0), atol=1e-5)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_strength_blends_the_target_embedding_by_facefusion_rule(linear_folder: Path, source: Identity, name: str) -> None:
    swapper = load(linear_folder, name)
    rng = np.random.default_rng(4)
    raw = rng.normal(0, 8, (3, 512))
    normalised = unit(raw)
    latent = swapper.project(source)
    assert np.allclose(swapper.target_latents(latent, normalised, raw, 1.0), latent[None, :], atol=1e-6)
    share = strength_share(0.4)
    assert share == pytest.approx(0.35 * 0.6)
    target = raw if FAMILIES[name][0] in RAW_FED else normalised
    expected = latent[None, :].astype(np.float64) * (1 - share) + target * share
    assert np.allclose(swapper.target_latents(latent, normalised, raw, 0.4), expected, atol=1e-5)


def test_strength_end_to_end_embeds_the_target_with_the_recognizer(linear_folder: Path, tiny_recognizer_path: Path) -> None:
    recognizer: ArcFaceRecognizer = load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)
    swapper, backend = recording(load(linear_folder, "hififace_unofficial_256", embedding_space=recognizer.model_id))
    source = Identity(np.random.default_rng(5).normal(size=(1, 512)).astype(np.float32), recognizer.model_id)
    image = smooth_image()
    face = planted_face(scale=1.3)
    swap_faces(swapper, [image], source, [[face]], SwapSettings(strength=0.5), recognizer=recognizer)
    embedded, _ = recognizer.embed_faces([np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)], [[face]])
    share = 0.35 * 0.5
    expected = reference_source("hififace_unofficial_256", source) * (1 - share) + embedded.normalised * share
    assert np.allclose(backend.sources[0], expected, atol=1e-4)


# --- batches, chunks, masks, boost --------------------------------------------------------------


def test_batch_with_faceless_frames(linear_folder: Path, source: Identity) -> None:
    swapper = load(linear_folder, "hyperswap_1a_256")
    frames = [smooth_image(seed=0), smooth_image(seed=1), smooth_image(seed=2)]
    result = swap_faces(swapper, frames, source, [[planted_face()], [], [planted_face(scale=1.2)]])
    assert result.swapped_counts == (1, 0, 1)
    assert np.array_equal(result.images[1], frames[1]) and not result.masks[1].any()
    for index in (0, 2):
        assert np.abs(result.images[index] - frames[index]).max() > 0.05


class PlantedDetector:
    """Finds one planted face in every frame but the faceless ones."""

    def __init__(self, faceless: set[int]) -> None:
        self.faceless = faceless
        self.calls: list[int] = []
        self.offset = 0

    def detect_batch(self, images: list[NDArray[np.uint8]], **_hooks: object) -> list[list[Face]]:
        self.calls.append(len(images))
        found = []
        for index in range(len(images)):
            frame = self.offset + index
            found.append([] if frame in self.faceless else [planted_face(scale=1.0 + 0.05 * frame, image_index=index)])
        self.offset += len(images)
        return found


def test_chunked_equals_unchunked(linear_folder: Path, source: Identity) -> None:
    swapper = load(linear_folder, "ghost_1_256")
    batch = np.stack([smooth_image(seed=seed) for seed in range(5)])
    whole = detect_and_swap(swapper, PlantedDetector({1, 3}), batch, source)
    chunked_detector = PlantedDetector({1, 3})
    chunked = detect_and_swap(swapper, chunked_detector, batch, source, chunk_frames=2)
    assert chunked_detector.calls == [2, 2, 1]
    assert whole.swapped_counts == chunked.swapped_counts == (1, 0, 1, 0, 1)
    assert np.array_equal(whole.images, chunked.images) and np.array_equal(whole.masks, chunked.masks)
    assert np.array_equal(whole.images[1], batch[1])


def test_learned_mask_is_offered_but_off_by_default(linear_folder: Path, source: Identity) -> None:
    """FaceFusion ignores HyperSwap's ``mask`` output: by default the paste does too; ``learned_mask=True`` uses it."""
    image = smooth_image()
    faces = [[planted_face(scale=1.3)]]
    on = SwapSettings(learned_mask=True)
    default = swap_faces(load(linear_folder, "hyperswap_1a_256"), [image], source, faces)
    with_mask = swap_faces(load(linear_folder, "hyperswap_1a_256"), [image], source, faces, on)
    without = swap_faces(load(linear_folder, "hyperswap_1b_256"), [image], source, faces, on)
    refused = swap_faces(load(linear_folder, "hyperswap_1a_256", learned_mask=False), [image], source, faces, on)
    assert SwapSettings().learned_mask is False
    assert np.array_equal(default.masks[0], without.masks[0]) and np.array_equal(default.images[0], without.images[0])
    assert with_mask.masks[0].sum() < 0.9 * without.masks[0].sum()
    assert np.array_equal(refused.masks[0], without.masks[0]) and np.array_equal(refused.images[0], without.images[0])
    outside = with_mask.masks[0] == 0
    assert np.array_equal(with_mask.images[0][outside], image[outside])
    boosted = swap_faces(
        load(linear_folder, "hyperswap_1a_256"), [image], source, faces, SwapSettings(pixel_boost=2, learned_mask=True)
    )
    assert np.abs(boosted.masks[0] - with_mask.masks[0]).max() < 0.05  # the 4 tiles' masks weave back into the same disc


class BlurBackend:
    """A spatial stand-in model: blurs the target crop (15 px box, within the crop) before the wrapped graph."""

    name = "blur"

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        return self.run_outputs(target, source)[0]

    def run_outputs(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> tuple[NDArray[np.float32], ...]:
        blurred = np.stack([[cv2.blur(plane, (15, 15), borderType=cv2.BORDER_REPLICATE) for plane in crop] for crop in target])
        return self.inner.run_outputs(blurred.astype(np.float32), source)  # type: ignore[attr-defined, no-any-return]

    def describe(self) -> str:
        return "blur"


def facefusion_reference(
    image: NDArray[np.float32], matrix: NDArray[np.float64], size: int, model: object
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """FaceFusion 3.8.1's swap written out with OpenCV: replicated-border crop, the model, box mask 0.3, paste_back."""
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    swapped = model(crop)  # type: ignore[operator]
    inverse = cv2.invertAffineTransform(matrix)
    height, width = image.shape[:2]
    back = cv2.warpAffine(swapped, inverse, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    weight = cv2.warpAffine(box_mask(size, 0.3), inverse, (width, height), flags=cv2.INTER_LINEAR).clip(0, 1)[..., None]
    return (image * (1 - weight) + back * weight).astype(np.float32), weight[..., 0]


def test_a_face_cut_by_the_image_border_leaves_no_dark_seam(identity_folder: Path, source: Identity) -> None:
    loaded = load(identity_folder, "hyperswap_1a_256")
    swapper = EmbeddingSwapper(BlurBackend(loaded.backend), loaded.model, loaded.facts, loaded.name, loaded.embedding_space)
    image = smooth_image()
    face = planted_face(centre_x=30.0, scale=1.3, template="arcface_128")  # the crop reaches ~110 px past the left edge
    result = swap_faces(swapper, [image], source, [[face]])
    matrix = result.targets[0][0].align_matrix
    assert matrix is not None
    blur = lambda crop: cv2.blur(crop, (15, 15), borderType=cv2.BORDER_REPLICATE)  # noqa: E731
    expected, weight = facefusion_reference(image, matrix, 256, blur)
    edge = (slice(None), slice(0, 12))  # the 12 columns along the left image edge, inside the face
    assert weight[edge].max() > 0.99
    assert np.abs(result.images[0] - expected)[edge].max() * 255 <= 1.0
    assert np.abs(result.images[0] - expected).max() * 255 <= 1.0
    # insightface's black border feeds black to the model: the blur drags it into the face along the edge
    black = swap_faces(swapper, [image], source, [[face]], SwapSettings(paste="insightface"))
    darker = (expected - black.images[0])[edge] * 255
    assert darker.max() > 20 and darker.mean() > 2


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_paste_weight_is_the_crop_mask_alone(linear_folder: Path, source: Identity, name: str) -> None:
    _, size, template, *_ = FAMILIES[name]
    swapper = load(linear_folder, name)
    image = smooth_image()
    face = planted_face(centre_x=60.0, scale=1.3, template=template)
    result = swap_faces(swapper, [image], source, [[face]])
    matrix = result.targets[0][0].align_matrix
    assert matrix is not None and swapper.facts.paste == "facefusion"
    warped, (x1, y1, x2, y2) = paste_crop_mask(box_mask(size, 0.3), matrix, *image.shape[:2])
    weight = np.zeros(image.shape[:2], np.float32)
    weight[y1:y2, x1:x2] = warped
    assert np.array_equal(result.masks[0], weight)  # nothing multiplies the box mask: no square, no learned mask
    latent = swapper.project(source)
    expected, _ = facefusion_reference(image, matrix, size, lambda crop: swapper.swap_crops(crop[None], latent[None])[0])
    assert np.abs(result.images[0] - expected).max() < 2e-5
    assert np.array_equal(result.images[0][weight == 0], image[weight == 0])


def test_paste_option_switches_any_family(linear_folder: Path, identity_folder: Path, source: Identity) -> None:
    image = smooth_image()
    faces = [[planted_face(centre_x=60.0, scale=1.3)]]
    swapper = load(linear_folder, "ghost_1_256")
    default = swap_faces(swapper, [image], source, faces)
    facefusion = swap_faces(swapper, [image], source, faces, SwapSettings(paste="facefusion"))
    insightface = swap_faces(swapper, [image], source, faces, SwapSettings(paste="insightface"))
    assert family_facts("ghost").paste == "facefusion" and family_facts("inswapper").paste == "insightface"
    assert np.array_equal(default.images[0], facefusion.images[0]) and np.array_equal(default.masks[0], facefusion.masks[0])
    assert np.abs(default.masks[0] - insightface.masks[0]).max() > 0.1  # box mask vs eroded, feathered square
    area = swap_faces(swapper, [image], source, faces, SwapSettings(face_area_mask=True))  # joins the box mask by minimum
    assert np.all(area.masks[0] <= default.masks[0]) and 0 < area.masks[0].sum() < 0.8 * default.masks[0].sum()
    outside = insightface.masks[0] == 0
    assert np.array_equal(insightface.images[0][outside], image[outside])
    round_trip = swap_faces(
        load(identity_folder, "ghost_1_256"), [image], source, [[planted_face(scale=1.3, template="arcface_112_v1")]]
    )
    assert np.abs(round_trip.images[0] - image).max() * 255 <= 1.0
    with pytest.raises(InvalidArgumentError, match="paste"):
        SwapSettings(paste="reactor")


def test_pixel_boost_factors_per_family(linear_folder: Path, source: Identity) -> None:
    large = load(linear_folder, "simswap_unofficial_512")
    with pytest.raises(InvalidArgumentError, match="512, 1024"):
        swap_faces(large, [smooth_image()], source, [[planted_face()]], SwapSettings(pixel_boost=4))
    swapper, backend = recording(load(linear_folder, "hyperswap_1a_256"))
    swap_faces(swapper, [smooth_image()], source, [[planted_face()]], SwapSettings(pixel_boost=4))
    assert np.concatenate(backend.targets).shape == (16, 3, 256, 256)


# --- torch backend --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_torch_backend_matches_onnxruntime(linear_folder: Path, source: Identity, name: str) -> None:
    onnx_swapper = load(linear_folder, name)
    torch_swapper = load(linear_folder, name, backend="torch", device="cpu")
    assert torch_swapper.backend.name == "torch"
    image = smooth_image()
    faces = [[planted_face(scale=1.3)]]
    expected = swap_faces(onnx_swapper, [image], source, faces)
    actual = swap_faces(torch_swapper, [image], source, faces)
    assert np.abs(actual.images[0] - expected.images[0]).max() < 2e-3
    assert np.abs(actual.masks[0] - expected.masks[0]).max() < 2e-3


def test_docs_table_matches_the_facts() -> None:
    """docs/swap.md's swapper table states each model's size, template and release as the facts table does."""
    rows = {}
    for line in (Path(__file__).resolve().parent.parent / "docs" / "swap.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 9:
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(SWAPPER_FACTS)
    for name, row in SWAPPER_FACTS.items():
        cells = rows[name]
        assert (int(cells[1]), cells[2].strip("`"), cells[8]) == (row.facts.size, row.facts.template, row.release)
        if row.facts.converter:
            assert row.facts.converter in cells[3]


def test_float16_outputs_come_back_as_float32(linear_folder: Path, tmp_path: Path, source: Identity) -> None:
    """FaceFusion marks HyperSwap fp16: an export whose outputs are float16 is read back as float32."""
    path = synthetic.build_embedding_swapper_like(tmp_path / "half.onnx", 256, mask=True, seed=SWAPPER_SEED, float16_outputs=True)
    half = load(linear_folder, str(path))
    full = load(linear_folder, "hyperswap_1a_256")
    crops = np.random.default_rng(8).random((2, 256, 256, 3)).astype(np.float32)
    latents = np.repeat(full.project(source)[None, :], 2, axis=0)
    (half_images, half_mask), (full_images, full_mask) = (
        half.swap_crops_masked(crops, latents),
        full.swap_crops_masked(crops, latents),
    )
    assert half_images.dtype == np.float32 and half_mask is not None and half_mask.dtype == np.float32
    assert np.abs(half_images - full_images).max() < 2e-3 and np.abs(half_mask - full_mask).max() < 2e-3  # type: ignore[operator]
