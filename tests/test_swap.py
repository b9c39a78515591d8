"""Face swap stage: emap projection, strength, pixel boost, paste-back exactness, target selection, batches, fp16.

The swapper is synthetic (``synthetic.build_inswapper_like``: inswapper's I/O names and shapes, an emap
as last initializer); detection and reference selection use the small real models of ../shared/data.
The swap source is a synthetic stand-in in the w600k_r50 space; reference identities come from the
real int8 MobileFaceNet, whose space is its own.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from numpy.typing import NDArray
from onnx import numpy_helper

from face_identity.align import template_points
from face_identity.catalog import W600K_R50_SPACE
from face_identity.detect import FaceDetector, load_detector
from face_identity.devtools import synthetic
from face_identity.embed import ArcFaceRecognizer, load_recognizer
from face_identity.errors import IncompatibleIdentitiesError, InvalidArgumentError, ModelConversionError, ModelMismatchError
from face_identity.geometry import paste_crop_mask
from face_identity.images import read_image
from face_identity.masks import box_mask
from face_identity.runner import ModelRunner
from face_identity.select import order_faces
from face_identity.swap import (
    InswapperSwapper,
    SwapSettings,
    TargetSelection,
    blend_latents,
    detect_and_swap,
    landmarks_in_crop,
    load_swapper,
    merge_pixel_boost,
    reference_similarities,
    select_targets,
    split_pixel_boost,
    swap_faces,
)
from face_identity.types import Face, Identity

MBF_INT8_THRESHOLD = 0.37
"""shared/data README: with w600k_mbf int8, every same-identity pair in faces/ scores above 0.37."""
pytestmark = pytest.mark.usefixtures("no_network")

TWO_PEOPLE = "groups/face_recognition_two_people.jpg"
KIT_WITH_ROSE = "groups/face_recognition_kit_with_rose.jpg"


def emap_of(path: Path) -> NDArray[np.float64]:
    """The last initializer, read with onnx directly (independent of the library)."""
    return numpy_helper.to_array(onnx.load(str(path)).graph.initializer[-1]).astype(np.float64)


def unit(vector: NDArray[np.floating]) -> NDArray[np.float64]:
    values = np.asarray(vector, dtype=np.float64)
    return values / np.linalg.norm(values, axis=-1, keepdims=True)


class RecordingBackend:
    """Wraps a swapper backend and keeps every batch it was given."""

    name = "recording"

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.targets: list[NDArray[np.float32]] = []
        self.sources: list[NDArray[np.float32]] = []

    def run(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> NDArray[np.float32]:
        return self.run_outputs(target, source)[0]

    def run_outputs(self, target: NDArray[np.float32], source: NDArray[np.float32]) -> tuple[NDArray[np.float32], ...]:
        self.targets.append(target.copy())
        self.sources.append(source.copy())
        return self.inner.run_outputs(target, source)  # type: ignore[attr-defined, no-any-return]

    def describe(self) -> str:
        return "recording"


def recording(swapper: InswapperSwapper) -> tuple[InswapperSwapper, RecordingBackend]:
    backend = RecordingBackend(swapper.backend)
    copy = InswapperSwapper(
        backend, swapper.model, swapper.emap, swapper.name, swapper.input_size, swapper.template, swapper.embedding_space
    )
    return copy, backend


@pytest.fixture(scope="module")
def swapper_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.build_inswapper_like(tmp_path_factory.mktemp("swap") / "inswapper_like.onnx", seed=0)


@pytest.fixture(scope="module")
def fp16_swapper_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("swap_fp16")
    return synthetic.build_inswapper_like(folder / "inswapper_like_fp16.onnx", seed=0, float16_inputs=True)


@pytest.fixture(scope="module")
def swapper(swapper_path: Path) -> InswapperSwapper:
    return load_swapper(swapper_path, providers="cpu", allow_download=False)


@pytest.fixture(scope="module")
def source() -> Identity:
    """Synthetic stand-in for a w600k_r50 identity (two rows, so the centroid matters)."""
    rows = np.random.default_rng(7).normal(size=(2, 512)).astype(np.float32)
    return Identity(rows, W600K_R50_SPACE)


@pytest.fixture(scope="module")
def detector(real_models: dict[str, Path]) -> FaceDetector:
    return load_detector(real_models["scrfd"], providers="cpu", allow_download=False)


@pytest.fixture(scope="module")
def small_recognizer(real_models: dict[str, Path]) -> ArcFaceRecognizer:
    """The real int8 ArcFace; batch size 1 because its embeddings depend on the batch."""
    return load_recognizer(real_models["mbf_int8"], providers="cpu", batch_size=1, allow_download=False)


@pytest.fixture(scope="module")
def two_people(shared_data: Path) -> NDArray[np.float32]:
    return read_image(shared_data / TWO_PEOPLE).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def two_people_faces(detector: FaceDetector, shared_data: Path) -> list[Face]:
    """Obama then Biden (left to right)."""
    faces = order_faces(detector.detect(read_image(shared_data / TWO_PEOPLE)), "left-right")
    assert len(faces) == 2
    return faces


def photo_identity(recognizer: ArcFaceRecognizer, detector: FaceDetector, path: Path) -> Identity:
    image = read_image(path)
    faces = detector.detect(image)
    assert faces, f"no face in {path}"
    result, aligned = recognizer.embed_faces([image], [faces[:1]])
    return recognizer.identity(result, aligned)


# --- loading and projection -------------------------------------------------------------------


def test_load_reads_emap_and_io(swapper: InswapperSwapper, swapper_path: Path) -> None:
    assert np.array_equal(swapper.emap, emap_of(swapper_path).astype(np.float32))
    assert swapper.input_size == 128 and swapper.template == "arcface_128"
    assert swapper.embedding_space == W600K_R50_SPACE and swapper.dimension == 512


def test_projection_matches_numpy_reference(swapper: InswapperSwapper, swapper_path: Path, source: Identity) -> None:
    centroid = unit(unit(source.embeddings).mean(axis=0))
    expected = unit(centroid @ emap_of(swapper_path))
    latent = swapper.project(source)
    assert latent.shape == (512,) and latent.dtype == np.float32
    np.testing.assert_allclose(latent, expected, atol=1e-6)


def test_facefusion_latent_rule_is_not_renormalised(swapper: InswapperSwapper, swapper_path: Path, source: Identity) -> None:
    """FaceFusion feeds ``raw @ emap / |raw|`` (= unit centroid @ emap) as is; insightface re-normalises it (the default)."""
    centroid = unit(unit(source.embeddings).mean(axis=0))
    plain = centroid @ emap_of(swapper_path)
    assert abs(np.linalg.norm(plain) - 1.0) > 0.01  # the rules differ for this emap (norm 1.027)
    np.testing.assert_allclose(swapper.project(source, "facefusion"), plain, atol=1e-6)
    recorded, backend = recording(swapper)
    image = np.full((200, 200, 3), 0.5, np.float32)
    points = template_points("arcface_128", 112) + 44.0
    face = Face(np.array([44.0, 44.0, 156.0, 156.0]), 0.99, points.astype(np.float32))
    swap_faces(recorded, [image], source, [[face]], SwapSettings(inswapper_latent="facefusion"))
    swap_faces(recorded, [image], source, [[face]])
    np.testing.assert_allclose(backend.sources[0][0], plain, atol=1e-6)
    np.testing.assert_allclose(backend.sources[1][0], unit(plain), atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="inswapper_latent"):
        SwapSettings(inswapper_latent="reactor")


def test_inswapper_default_paste_is_insightface_and_switches_to_facefusion(
    swapper: InswapperSwapper, source: Identity, two_people: NDArray[np.float32], two_people_faces: list[Face]
) -> None:
    faces = [two_people_faces[:1]]
    default = swap_faces(swapper, [two_people], source, faces)
    insightface = swap_faces(swapper, [two_people], source, faces, SwapSettings(paste="insightface"))
    facefusion = swap_faces(swapper, [two_people], source, faces, SwapSettings(paste="facefusion"))
    assert swapper.facts.paste == "insightface"
    assert np.array_equal(default.images[0], insightface.images[0]) and np.array_equal(default.masks[0], insightface.masks[0])
    matrix = facefusion.targets[0][0].align_matrix
    assert matrix is not None
    warped, (x1, y1, x2, y2) = paste_crop_mask(box_mask(128, 0.3), matrix, *two_people.shape[:2])
    weight = np.zeros(two_people.shape[:2], np.float32)
    weight[y1:y2, x1:x2] = warped
    assert np.array_equal(facefusion.masks[0], weight)
    assert np.abs(facefusion.images[0] - default.images[0]).max() > 0.01


@pytest.mark.parametrize(
    ("model_id", "dimension"),
    [
        ("w600k_mbf_int8_dynamic@6ec6d779", 512),
        ("facenet512", 512),
        (W600K_R50_SPACE, 128),
        ("arcface_glintr100", 512),
        ("auraface_v1", 512),
    ],
)
def test_refuses_identity_from_another_space(swapper: InswapperSwapper, model_id: str, dimension: int) -> None:
    """Also antelopev2's glintr100 and AuraFace (512-d like w600k_r50, other spaces): the message names both spaces
    and says to embed the face with w600k_r50."""
    identity = Identity(np.ones((1, dimension), np.float32), model_id)
    with pytest.raises(IncompatibleIdentitiesError, match="arcface_w600k_r50") as refused:
        swapper.project(identity)
    assert model_id in str(refused.value) and "embed the source face with the arcface_w600k_r50 recognizer" in str(refused.value)
    with pytest.raises(IncompatibleIdentitiesError):
        swap_faces(swapper, [np.zeros((8, 8, 3), np.float32)], identity, [[]])
    with pytest.raises(IncompatibleIdentitiesError):
        detect_and_swap(swapper, None, [np.zeros((8, 8, 3), np.float32)], identity)  # refused before detection


def test_refuses_a_recognizer_as_swapper(tiny_recognizer_path: Path) -> None:
    with pytest.raises(ModelMismatchError, match="not a face swapper"):
        load_swapper(tiny_recognizer_path, providers="cpu", allow_download=False)


def test_refuses_swapper_whose_last_initializer_is_not_an_emap(swapper_path: Path, tmp_path: Path) -> None:
    model = onnx.load(str(swapper_path))
    initializers = list(model.graph.initializer)
    del model.graph.initializer[:]
    model.graph.initializer.extend([initializers[-1], *initializers[:-1]])  # emap first, a small tensor last
    moved = tmp_path / "no_emap_last.onnx"
    onnx.save(model, str(moved))
    with pytest.raises(ModelMismatchError, match="emap"):
        load_swapper(moved, providers="cpu", allow_download=False)


def test_unknown_backend_is_refused(swapper_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="backend"):
        load_swapper(swapper_path, providers="cpu", allow_download=False, backend="tensorflow")


# --- strength ---------------------------------------------------------------------------------


def test_strength_formula(swapper: InswapperSwapper, swapper_path: Path, source: Identity) -> None:
    emap = emap_of(swapper_path)
    source_latent = swapper.project(source)
    targets = unit(np.random.default_rng(3).normal(size=(3, 512)))
    target_latents = unit(targets @ emap)
    half = blend_latents(source_latent, target_latents, 0.5)
    np.testing.assert_allclose(half, unit(0.5 * unit(source_latent.astype(np.float64)) + 0.5 * target_latents), atol=1e-6)
    full = blend_latents(source_latent, target_latents, 1.0)
    np.testing.assert_allclose(full, np.repeat(source_latent[None], 3, axis=0), atol=1e-6)
    np.testing.assert_allclose(blend_latents(source_latent, target_latents, 0.0), target_latents, atol=1e-6)
    assert np.abs(half - full).max() > 0.05


def test_strength_below_one_blends_target_identity_end_to_end(
    swapper: InswapperSwapper,
    swapper_path: Path,
    source: Identity,
    tiny_recognizer_path: Path,
    two_people: NDArray[np.float32],
    two_people_faces: list[Face],
    small_recognizer: ArcFaceRecognizer,
) -> None:
    # A tiny synthetic IResNet stands in for the real 166 MB recognizer. It keeps its own tiny_iresnet@<crc32> space
    # and the swapper is told explicitly to take that space, so no stand-in claims w600k_r50's.
    stand_in = load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)
    assert stand_in.model_id.startswith("tiny_iresnet@")
    swapper = load_swapper(swapper_path, providers="cpu", allow_download=False, embedding_space=stand_in.model_id)
    source = Identity(source.embeddings, stand_in.model_id)
    watched, backend = recording(swapper)
    faces = [two_people_faces[:1]]
    half = swap_faces(watched, [two_people], source, faces, SwapSettings(strength=0.5), recognizer=stand_in)
    full = swap_faces(swapper, [two_people], source, faces, SwapSettings(strength=1.0))
    uint8 = np.clip(np.rint(two_people * 255), 0, 255).astype(np.uint8)
    target = stand_in.embed_faces([uint8], faces)[0].normalised.astype(np.float64)
    emap = emap_of(swapper_path)
    expected = unit(0.5 * unit(unit(unit(source.embeddings).mean(axis=0)) @ emap) + 0.5 * unit(target @ emap))
    np.testing.assert_allclose(backend.sources[0][0], expected[0], atol=1e-5)
    assert np.abs(half.images[0] - full.images[0]).max() > 0.01
    with pytest.raises(InvalidArgumentError, match="recognizer"):
        swap_faces(swapper, [two_people], source, faces, SwapSettings(strength=0.5))
    with pytest.raises(IncompatibleIdentitiesError, match=re.escape(stand_in.model_id)):
        swap_faces(swapper, [two_people], source, faces, SwapSettings(strength=0.5), recognizer=small_recognizer)


def test_settings_are_validated() -> None:
    with pytest.raises(InvalidArgumentError):
        SwapSettings(pixel_boost=3)
    with pytest.raises(InvalidArgumentError):
        SwapSettings(strength=1.5)
    with pytest.raises(InvalidArgumentError):
        SwapSettings(mask_blur=-1.0)
    with pytest.raises(InvalidArgumentError):
        TargetSelection("indices")
    with pytest.raises(InvalidArgumentError):
        TargetSelection("reference")
    with pytest.raises(InvalidArgumentError):
        TargetSelection("everyone")
    with pytest.raises(InvalidArgumentError):
        TargetSelection(order="tallest")


# --- pixel boost ------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_pixel_boost_split_and_merge_are_inverse(factor: int) -> None:
    crop = np.random.default_rng(factor).random((128 * factor, 128 * factor, 3)).astype(np.float32)
    tiles = split_pixel_boost(crop, factor)
    assert tiles.shape == (factor * factor, 128, 128, 3)
    for row in range(factor):
        for column in range(factor):
            assert np.array_equal(tiles[row * factor + column], crop[row::factor, column::factor])
    assert np.array_equal(merge_pixel_boost(tiles, factor), crop)
    assert np.array_equal(split_pixel_boost(merge_pixel_boost(tiles, factor), factor), tiles)


def test_pixel_boost_two_runs_end_to_end(
    swapper: InswapperSwapper, source: Identity, two_people: NDArray[np.float32], two_people_faces: list[Face]
) -> None:
    watched, backend = recording(swapper)
    result = swap_faces(watched, [two_people], source, [two_people_faces[:1]], SwapSettings(pixel_boost=2))
    fed = np.concatenate(backend.targets)
    assert fed.shape == (4, 3, 128, 128)  # one face, 2 x 2 phase tiles
    assert np.all(np.concatenate(backend.sources) == swapper.project(source))
    assert result.targets[0][0].crop_size == 256
    mask = result.masks[0]
    assert np.array_equal(result.images[0][mask == 0], two_people[mask == 0])
    assert np.abs(result.images[0] - two_people)[mask > 0.99].mean() > 0.05
    single = swap_faces(swapper, [two_people], source, [two_people_faces[:1]], SwapSettings(pixel_boost=1))
    assert not np.array_equal(single.images[0], result.images[0])


# --- paste-back -------------------------------------------------------------------------------


def test_paste_back_is_exact_outside_the_mask_and_changes_inside(
    swapper: InswapperSwapper, source: Identity, two_people: NDArray[np.float32], two_people_faces: list[Face]
) -> None:
    obama, biden = two_people_faces
    result = swap_faces(swapper, [two_people], source, [[obama]])
    image, mask = result.images[0], result.masks[0]
    assert image.dtype == np.float32 and mask.shape == two_people.shape[:2]
    assert result.swapped_counts == (1,)
    outside = mask == 0
    assert outside.sum() > 0.8 * mask.size
    assert np.array_equal(image[outside], two_people[outside])
    assert np.abs(image - two_people)[mask > 0.99].mean() > 0.05
    nose_x, nose_y = np.rint(obama.landmarks[2]).astype(int)
    assert mask[nose_y, nose_x] > 0.99
    biden_x, biden_y = np.rint(biden.landmarks[2]).astype(int)
    assert mask[biden_y, biden_x] == 0 and np.array_equal(image[biden_y, biden_x], two_people[biden_y, biden_x])


def test_face_area_mask_keeps_crop_corners_and_stays_exact(
    swapper: InswapperSwapper, source: Identity, two_people: NDArray[np.float32], two_people_faces: list[Face]
) -> None:
    faces = [two_people_faces[:1]]
    square = swap_faces(swapper, [two_people], source, faces)
    area = swap_faces(swapper, [two_people], source, faces, SwapSettings(face_area_mask=True))
    assert 0 < area.masks[0].sum() < 0.8 * square.masks[0].sum()
    matrix = area.targets[0][0].align_matrix
    assert matrix is not None
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))
    corner_x, corner_y = np.rint(inverse[:2] @ np.array([0.15 * 128, 0.15 * 128, 1.0])).astype(int)
    assert square.masks[0][corner_y, corner_x] > 0.5
    assert area.masks[0][corner_y, corner_x] == 0
    nose_x, nose_y = np.rint(two_people_faces[0].landmarks[2]).astype(int)
    assert area.masks[0][nose_y, nose_x] > 0.99
    crop_landmarks = landmarks_in_crop(two_people_faces[0].landmarks, matrix)
    assert np.all((crop_landmarks > 0) & (crop_landmarks < 128))
    outside = area.masks[0] == 0
    assert np.array_equal(area.images[0][outside], two_people[outside])


def test_mask_blur_widens_the_feather(
    swapper: InswapperSwapper, source: Identity, two_people: NDArray[np.float32], two_people_faces: list[Face]
) -> None:
    faces = [two_people_faces[:1]]
    default = swap_faces(swapper, [two_people], source, faces).masks[0]
    soft = swap_faces(swapper, [two_people], source, faces, SwapSettings(mask_blur=3.0)).masks[0]
    feather = lambda mask: int(np.count_nonzero((mask > 0.01) & (mask < 0.99)))  # noqa: E731
    assert feather(soft) > 1.5 * feather(default)


# --- fp16 -------------------------------------------------------------------------------------


def test_fp16_model_is_fed_float16_and_returns_float32(
    fp16_swapper_path: Path, swapper: InswapperSwapper, source: Identity
) -> None:
    half = load_swapper(fp16_swapper_path, providers="cpu", allow_download=False)
    assert half.model is not None and all(info.is_float16 for info in half.model.inputs)
    assert "float16" in half.backend.describe()
    np.testing.assert_array_equal(half.emap, swapper.emap)  # same seed, same emap
    crops = np.random.default_rng(5).random((3, 128, 128, 3)).astype(np.float32)
    latents = np.repeat(half.project(source)[None], 3, axis=0)
    out_half = half.swap_crops(crops, latents)
    out_full = swapper.swap_crops(crops, latents)
    assert out_half.dtype == np.float32 and out_half.shape == (3, 128, 128, 3)
    np.testing.assert_allclose(out_half, out_full, atol=5e-3)
    assert np.abs(out_full - crops).mean() > 0.05


# --- target selection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "reference_photo", "expected_side"),
    [
        (TWO_PEOPLE, "faces/barack_obama/face_recognition_obama.jpg", "left"),
        (TWO_PEOPLE, "faces/joe_biden/face_recognition_knn_train_biden_biden2.jpg", "right"),
        (KIT_WITH_ROSE, "faces/rose_leslie/face_recognition_knn_train_rose_leslie_img1.jpg", "left"),
        (KIT_WITH_ROSE, "faces/kit_harington/face_recognition_knn_train_kit_harington_john1.jpeg", "right"),
    ],
)
def test_reference_selection_picks_the_right_face(
    shared_data: Path,
    detector: FaceDetector,
    small_recognizer: ArcFaceRecognizer,
    group: str,
    reference_photo: str,
    expected_side: str,
) -> None:
    image = read_image(shared_data / group)
    faces = order_faces(detector.detect(image), "left-right")
    assert len(faces) == 2
    reference = photo_identity(small_recognizer, detector, shared_data / reference_photo)
    scores = reference_similarities(small_recognizer, [image], [faces], reference)[0]
    wanted = 0 if expected_side == "left" else 1
    assert scores[wanted] >= MBF_INT8_THRESHOLD > scores[1 - wanted]
    selection = TargetSelection("reference", reference=reference, threshold=MBF_INT8_THRESHOLD)
    chosen = select_targets([image], [faces], selection, small_recognizer)[0]
    assert chosen == [faces[wanted]]


def test_reference_selection_needs_a_recognizer_of_the_reference_space(
    small_recognizer: ArcFaceRecognizer, two_people: NDArray[np.float32], two_people_faces: list[Face], source: Identity
) -> None:
    selection = TargetSelection("reference", reference=source)  # a w600k_r50 reference, an int8-space recognizer
    with pytest.raises(IncompatibleIdentitiesError, match="reference"):
        select_targets([two_people], [two_people_faces], selection, small_recognizer)
    with pytest.raises(InvalidArgumentError, match="recognizer"):
        select_targets([two_people], [two_people_faces], selection, None)


def test_index_selection_follows_the_order(two_people: NDArray[np.float32], two_people_faces: list[Face]) -> None:
    obama, biden = two_people_faces
    shuffled = [[biden, obama]]
    assert select_targets([two_people], shuffled, TargetSelection("indices", order="left-right", indices=(1,))) == [[biden]]
    assert select_targets([two_people], shuffled, TargetSelection("indices", order="right-left", indices=(1, 0))) == [
        [obama, biden]
    ]
    assert select_targets([two_people], shuffled, TargetSelection("indices", order="left-right", indices=(5,))) == [[]]
    assert select_targets([two_people], shuffled, TargetSelection("all", order="left-right")) == [[obama, biden]]


# --- batches ----------------------------------------------------------------------------------


def test_batch_with_faceless_and_unmatched_frames(
    swapper: InswapperSwapper,
    detector: FaceDetector,
    small_recognizer: ArcFaceRecognizer,
    source: Identity,
    shared_data: Path,
    two_people: NDArray[np.float32],
) -> None:
    blank = np.full((120, 160, 3), 0.5, dtype=np.float32)
    kit_with_rose = read_image(shared_data / KIT_WITH_ROSE).astype(np.float32) / 255.0
    frames = [two_people, blank, kit_with_rose]
    reference = photo_identity(small_recognizer, detector, shared_data / "faces/barack_obama/face_recognition_obama.jpg")
    selection = TargetSelection("reference", reference=reference, threshold=MBF_INT8_THRESHOLD)
    quick = detector.with_settings(retry_smaller=False, pad_retry=False)  # the blank frame would retry 7 times
    watched, backend = recording(swapper)
    result = detect_and_swap(watched, quick, frames, source, selection=selection, reference_recognizer=small_recognizer)
    assert result.swapped_counts == (1, 0, 0)
    assert result.skipped == (False, True, True) and result.skipped_count == 2
    assert sum(batch.shape[0] for batch in backend.targets) == 1
    for index in (1, 2):
        assert np.array_equal(result.images[index], frames[index])
        assert not result.masks[index].any()
    assert np.abs(result.images[0] - two_people).max() > 0.05

    everyone = detect_and_swap(swapper, quick, frames, source, selection=TargetSelection("all"))
    assert everyone.swapped_counts == (2, 0, 2) and everyone.skipped == (False, True, False)
    assert np.array_equal(everyone.images[1], blank)
    both = everyone.masks[0]
    for face in everyone.targets[0]:
        nose_x, nose_y = np.rint(face.landmarks[2]).astype(int)
        assert both[nose_y, nose_x] > 0.99


# --- torch backend (face_identity.convert) ---------------------------------------------------


@pytest.mark.parametrize("float16_model", [False, True])
def test_torch_backend_matches_onnxruntime(
    swapper_path: Path,
    fp16_swapper_path: Path,
    source: Identity,
    two_people: NDArray[np.float32],
    two_people_faces: list[Face],
    float16_model: bool,
) -> None:
    pytest.importorskip("torch")
    path = fp16_swapper_path if float16_model else swapper_path
    onnx_swapper = load_swapper(path, providers="cpu", allow_download=False)
    torch_swapper = load_swapper(path, providers="cpu", allow_download=False, backend="torch", device="cpu")
    assert isinstance(torch_swapper.backend, ModelRunner) and torch_swapper.backend.name == "torch"
    assert torch_swapper.backend.batch_size == 1  # the synthetic graph hard-codes batch 1 in a Reshape, like the export
    crops = np.random.default_rng(9).random((3, 128, 128, 3)).astype(np.float32)
    latents = np.repeat(onnx_swapper.project(source)[None], 3, axis=0)
    tolerance = 2e-3 if float16_model else 1e-5
    np.testing.assert_allclose(torch_swapper.swap_crops(crops, latents), onnx_swapper.swap_crops(crops, latents), atol=tolerance)
    settings = SwapSettings(pixel_boost=2)
    torch_result = swap_faces(torch_swapper, [two_people], source, [two_people_faces], settings)
    onnx_result = swap_faces(onnx_swapper, [two_people], source, [two_people_faces], settings)
    np.testing.assert_allclose(torch_result.images[0], onnx_result.images[0], atol=tolerance)
    assert np.array_equal(torch_result.masks[0], onnx_result.masks[0])


def test_torch_backend_refuses_an_inexact_conversion(swapper_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from face_identity import convert

    class WrongGraph:
        input_names = ("target", "source")
        device, dtype = torch.device("cpu"), torch.float32

        def __call__(self, target: object, source: object) -> tuple[object, ...]:
            return (torch.zeros((1, 3, 128, 128)),)

    monkeypatch.setattr(convert, "convert_model", lambda *arguments, **options: WrongGraph())
    with pytest.raises(ModelConversionError, match="differs from onnxruntime"):
        load_swapper(swapper_path, providers="cpu", allow_download=False, backend="torch", device="cpu")


def test_auto_backend_keeps_onnxruntime_on_cpu(swapper_path: Path) -> None:
    loaded = load_swapper(swapper_path, providers="cpu", allow_download=False, backend="auto", device="cpu")
    assert loaded.backend.name == "onnxruntime"
