"""Face Swap with a mask spec: box/occlusion judged on the target crop before the swap, region/area on the swapped
crop after it, combined by minimum with the box mask and the learned mask; under HyperSwap's (FaceFusion's) paste
that mask alone is the paste weight (synthetic models only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.align import template_points
from face_identity.catalog import W600K_R50_SPACE
from face_identity.devtools import synthetic, synthetic_masks
from face_identity.face_models import FaceModel, load_face_model
from face_identity.masks import MaskSpec, face_masks
from face_identity.swap import EmbeddingSwapper, SwapSettings, detect_and_swap, load_swapper, swap_faces
from face_identity.types import Face, Identity

pytestmark = pytest.mark.usefixtures("no_network")

RED = (slice(175, 205), slice(140, 185))
"""Where the target gets a pure red rectangle: the synthetic parser's "mouth"."""
BLUE = (slice(168, 212), slice(130, 192))
"""Where the target gets a pure blue rectangle: the synthetic XSeg's occluder (1 - blue)."""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("swap_mask_models")
    for mode in ("identity", "linear"):
        synthetic.build_embedding_swapper_like(folder / mode / "hyperswap_1a_256.onnx", 256, mode, mask=True, seed=5)
    synthetic_masks.build_xseg_like(folder / "xseg_1.onnx", batch="N")
    synthetic_masks.build_bisenet_like(folder / "bisenet_resnet_34.onnx")
    synthetic_masks.build_fan_68_5_like(folder / "fan_68_5.onnx")
    return folder


def swapper(models: Path, mode: str) -> EmbeddingSwapper:
    loaded = load_swapper("hyperswap_1a_256", [models / mode], providers="cpu", allow_download=False)
    assert isinstance(loaded, EmbeddingSwapper)
    return loaded


def model(models: Path, name: str, kind: str) -> FaceModel:
    return load_face_model(models / f"{name}.onnx", kind, providers="cpu", allow_download=False)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def source() -> Identity:
    return Identity(np.random.default_rng(11).normal(size=(2, 512)).astype(np.float32), W600K_R50_SPACE)


def target(seed: int = 0) -> NDArray[np.float32]:
    """Slow colours with no blue (nothing occluded) and no strong red (no "mouth"), 320 x 320."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:320, 0:320].astype(np.float32)
    channels = []
    for _ in range(2):
        fy, fx, phase = rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.08), rng.uniform(0, 6)
        channels.append(0.5 + 0.3 * np.sin(fy * ys + phase) * np.cos(fx * xs))
    return np.stack([*channels, np.zeros_like(ys)], axis=-1).astype(np.float32)


def planted_face(scale: float = 1.3, image_index: int = 0) -> Face:
    points = (template_points("arcface_128", 112) - 56.0) * scale + 160.0
    half = 56.0 * scale
    return Face(np.array([160 - half, 160 - half, 160 + half, 160 + half]), 0.99, points.astype(np.float32), image_index)


def test_region_mask_limits_the_paste_to_that_region(models: Path, source: Identity) -> None:
    image = target()
    image[RED] = (1.0, 0.0, 0.0)
    parser = model(models, "bisenet_resnet_34", "parser")
    spec = MaskSpec(types=("region",), parser=parser, regions=("mouth",))
    plain = swap_faces(swapper(models, "linear"), [image], source, [[planted_face()]], SwapSettings(learned_mask=False))
    # identity swapper: the swapped crop is the target crop, so the red rectangle is still there after the swap
    masked = swap_faces(
        swapper(models, "identity"), [image], source, [[planted_face()]], SwapSettings(learned_mask=False, masks=spec)
    )
    region = face_masks([image], [[planted_face()]], spec, "arcface_128", 256)[0]
    assert region[190, 162] == pytest.approx(1.0) and region.sum() > 0.5 * (30 * 45)
    # the mask used = the box mask (the plain swap's) and the region mask by minimum: zero everywhere outside the rectangle
    np.testing.assert_allclose(masked.masks[0], plain.masks[0] * region, atol=1e-4)
    outside = np.ones(image.shape[:2], bool)
    outside[174:206, 139:186] = False
    assert masked.masks[0][outside].max() == 0 and masked.masks[0][190, 162] > 0.95
    assert np.array_equal(masked.images[0][masked.masks[0] == 0], image[masked.masks[0] == 0])
    # region is judged after the swap: a swapper that changes the colours leaves no red, hence nothing pasted
    changed = swap_faces(
        swapper(models, "linear"), [image], source, [[planted_face()]], SwapSettings(learned_mask=False, masks=spec)
    )
    assert changed.masks[0].max() == 0 and np.array_equal(changed.images[0], image)


def test_occluder_keeps_the_target_pixels_bit_identical(models: Path, source: Identity) -> None:
    image = target()
    image[BLUE] = (0.0, 0.0, 1.0)
    spec = MaskSpec(types=("occlusion",), occluders=(model(models, "xseg_1", "occluder"),))
    plain = swap_faces(swapper(models, "linear"), [image], source, [[planted_face()]], SwapSettings(learned_mask=False))
    # linear swapper: the swapped crop has no blue left, so only a mask judged BEFORE the swap can see the occluder
    masked = swap_faces(
        swapper(models, "linear"), [image], source, [[planted_face()]], SwapSettings(learned_mask=False, masks=spec)
    )
    inner = (slice(BLUE[0].start + 8, BLUE[0].stop - 8), slice(BLUE[1].start + 8, BLUE[1].stop - 8))
    assert np.array_equal(masked.images[0][inner], image[inner]) and masked.masks[0][inner].max() == 0
    assert np.abs(plain.images[0][inner] - image[inner]).max() > 0.05  # unmasked, those pixels are swapped
    assert np.abs(masked.images[0][140, 160] - image[140, 160]).max() > 0.02  # outside the occluder the swap is pasted
    assert np.array_equal(masked.masks[0][140, 100:220], plain.masks[0][140, 100:220])


def test_spec_combines_with_the_learned_mask_by_minimum(models: Path, source: Identity) -> None:
    image = target()
    spec = MaskSpec(types=("box",), blur=0.0, padding=(0.0, 0.0, 50.0, 0.0))  # keeps the top half of the crop only
    faces = [[planted_face()]]
    # the learned mask under a box with no feather (a 1 px border): close to the learned mask alone
    learned = swap_faces(
        swapper(models, "linear"), [image], source, faces, SwapSettings(learned_mask=True, masks=MaskSpec(blur=0.0))
    )
    box_only = swap_faces(swapper(models, "linear"), [image], source, faces, SwapSettings(masks=spec))
    both = swap_faces(swapper(models, "linear"), [image], source, faces, SwapSettings(learned_mask=True, masks=spec))
    assert np.all(both.masks[0] <= np.minimum(learned.masks[0], box_only.masks[0]) + 1e-5)
    assert both.masks[0][120:150].sum() > 0.5 * learned.masks[0][120:150].sum()  # the top half is kept
    assert both.masks[0][200:].max() == 0 and learned.masks[0][200:].max() > 0.1  # the bottom half is gone
    default_box = swap_faces(swapper(models, "linear"), [image], source, faces, SwapSettings(learned_mask=True))
    none = swap_faces(swapper(models, "linear"), [image], source, faces, SwapSettings(learned_mask=True, masks=None))
    assert np.array_equal(none.images[0], default_box.images[0]) and np.array_equal(none.masks[0], default_box.masks[0])


def test_area_mask_from_the_landmarker_at_the_swap_crop(models: Path, source: Identity) -> None:
    image = target()
    spec = MaskSpec(types=("area",), areas=("mouth",), landmarker=model(models, "fan_68_5", "landmarker_68_5"))
    faces = [[planted_face()]]
    plain = swap_faces(swapper(models, "linear"), [image], source, faces, SwapSettings(learned_mask=False))
    masked = swap_faces(swapper(models, "linear"), [image], source, faces, SwapSettings(learned_mask=False, masks=spec))
    area = face_masks([image], faces, spec, "arcface_128", 256)[0]
    assert area.max() > 0.9 and 0 < area.sum() < 0.5 * plain.masks[0].sum()
    np.testing.assert_allclose(masked.masks[0], plain.masks[0] * area, atol=1e-4)


class PlantedDetector:
    """One planted face in every frame but the faceless ones."""

    def __init__(self, faceless: set[int]) -> None:
        self.faceless = faceless
        self.offset = 0

    def detect_batch(self, images: list[NDArray[np.uint8]], **_hooks: object) -> list[list[Face]]:
        found = []
        for index in range(len(images)):
            frame = self.offset + index
            found.append([] if frame in self.faceless else [planted_face(1.2 + 0.05 * frame, index)])
        self.offset += len(images)
        return found


def test_chunked_equals_unchunked_with_masks(models: Path, source: Identity) -> None:
    frames = []
    for seed in range(5):
        frame = target(seed)
        frame[RED] = (1.0, 0.0, 0.0)
        frame[120:135, 120:200] = (0.0, 0.0, 1.0)
        frames.append(frame)
    batch = np.stack(frames)
    spec = MaskSpec(
        types=("box", "occlusion", "region"),
        occluders=(model(models, "xseg_1", "occluder"),),
        parser=model(models, "bisenet_resnet_34", "parser"),
        regions=("mouth", "skin"),
    )
    settings = SwapSettings(masks=spec)
    identity = swapper(models, "identity")
    whole = detect_and_swap(identity, PlantedDetector({1, 3}), batch, source, settings)
    chunked = detect_and_swap(identity, PlantedDetector({1, 3}), batch, source, settings, chunk_frames=2)
    assert whole.swapped_counts == chunked.swapped_counts == (1, 0, 1, 0, 1)
    assert np.array_equal(whole.images, chunked.images) and np.array_equal(whole.masks, chunked.masks)
    assert whole.masks[0].max() > 0.5 and whole.masks[0][125, 160] == 0
