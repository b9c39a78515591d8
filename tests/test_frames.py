"""The one frame source (frames.Frames): an IMAGE is validated once and converted once on its way through
Face Embed and Face Swap; conversions equal images.as_rgb_uint8 / as_float_image; no library module on
these paths imports a module above it."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from face_identity.errors import InvalidImageError
from face_identity.frames import Frames, frames_per_chunk
from face_identity.images import as_float_image, as_rgb_uint8

ROOT = Path(__file__).resolve().parents[1]


def test_conversions_equal_the_image_rules_and_chunks_equal_the_whole() -> None:
    rng = np.random.default_rng(3)
    batch = rng.uniform(-0.01, 1.01, (5, 7, 9, 4)).astype(np.float32)
    frames = Frames.of(batch, "test")
    assert frames.count == len(frames) == 5 and frames.size == (7, 9) and not frames.is_tensor
    whole_u8, whole_f = frames.uint8(), frames.floats()
    for index in range(5):
        np.testing.assert_array_equal(whole_u8[index], as_rgb_uint8(batch[index]))
        np.testing.assert_array_equal(whole_f[index], as_float_image(np.clip(batch[index, ..., :3], 0, 1)))
    chunked = [frame for start, stop in frames.chunks(2) for frame in frames.uint8(start, stop)]
    assert [stop - start for start, stop in frames.chunks(2)] == [2, 2, 1]
    for a, b in zip(chunked, whole_u8, strict=True):
        np.testing.assert_array_equal(a, b)
    window = frames.window(1, 3)
    np.testing.assert_array_equal(window.uint8()[1], whole_u8[2])
    grey = Frames.of([np.full((4, 6), 7, np.uint8), np.zeros((3, 3, 1), np.float32)])
    assert grey.sizes == ((4, 6), (3, 3)) and grey.size is None
    assert grey.uint8()[0].shape == (4, 6, 3) and int(grey.uint8()[0].max()) == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        frames.context = "other"  # type: ignore[misc]
    assert Frames.of(frames) is frames  # a Frames passes as it is: no second check


def test_policy_applies_once_with_the_caller_named() -> None:
    with pytest.raises(InvalidImageError, match=r"Face Swap: image 1 of the batch has NaN"):
        Frames.of(np.stack([np.zeros((4, 4, 3)), np.full((4, 4, 3), np.nan)]).astype(np.float32), "Face Swap")
    with pytest.raises(InvalidImageError, match=r"embed: image 1 of the batch has values 255..255.*divide it by 255"):
        Frames.of([np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255.0, np.float32)], "embed")
    empty_in_a_list = Frames.of([np.zeros((0, 4, 3), np.uint8), np.zeros((2, 2, 3), np.uint8)])
    assert empty_in_a_list.sizes == ((0, 4), (2, 2))  # "no face" for that image, not an error (validate.py)


def test_host_and_device_frames_agree() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.uniform(0, 1, (3, 5, 6, 3)).astype(np.float32))
    frames = Frames.of(batch)
    assert frames.is_tensor and frames.size == (5, 6)
    (group, indices), *_ = frames.device_groups(0, 3, "cpu")
    assert indices == [0, 1, 2] and group.shape == (3, 3, 5, 6) and group.dtype == torch.float32
    np.testing.assert_allclose(group.permute(0, 2, 3, 1).numpy() / 255.0, batch.numpy(), atol=1e-6)
    np.testing.assert_array_equal(np.stack(frames.uint8()), np.stack(Frames.of(batch.numpy()).uint8()))


def test_frames_needs_neither_torch_nor_comfyui() -> None:
    code = "import sys, face_identity.frames, face_identity.pipeline, face_identity.swap.stream; print(sorted({'torch', 'comfy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_chunk_size_follows_the_memory_budget() -> None:
    assert frames_per_chunk(1080, 1920, 1) == 1
    assert frames_per_chunk(8, 8, 10_000) == 256
    assert frames_per_chunk(1080, 1920, 1024, device_frames=False) > frames_per_chunk(1080, 1920, 1024)


# --------------------------------------------------------------------------------------------------
# Face Embed and Face Swap: one validation and one conversion of each input pixel


class Counter:
    """Values of the input that the policy scanned and that were converted to uint8 and to float32."""

    def __init__(self, pack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.scanned = self.to_uint8 = self.to_float = 0
        validate = sys.modules[f"{pack.__name__}.face_identity.validate"]
        images = sys.modules[f"{pack.__name__}.face_identity.images"]
        frames = sys.modules[f"{pack.__name__}.face_identity.frames"]
        checks, uint8, floats = validate._frame_checks, frames.rgb_uint8_unchecked, frames.rgb_float32_unchecked

        def counted_checks(chunk: Any) -> Any:
            self.scanned += int(np.prod(chunk.shape))
            return checks(chunk)

        def counted_range(image: Any, context: str = "image") -> None:
            self.scanned += int(np.asarray(image).size)

        def counted_uint8(array: Any) -> Any:
            self.to_uint8 += int(np.asarray(array)[..., :3].size)
            return uint8(array)

        def counted_floats(array: Any) -> Any:
            self.to_float += int(np.asarray(array)[..., :3].size)
            return floats(array)

        monkeypatch.setattr(validate, "_frame_checks", counted_checks)
        monkeypatch.setattr(images, "check_float_range", counted_range)
        monkeypatch.setattr(frames, "rgb_uint8_unchecked", counted_uint8)
        monkeypatch.setattr(frames, "rgb_float32_unchecked", counted_floats)


@pytest.fixture
def group(shared_data: Path) -> Iterator[Any]:
    torch = pytest.importorskip("torch")
    from face_identity.images import read_image

    picture = read_image(shared_data / "groups/face_recognition_two_people.jpg").astype(np.float32) / 255.0
    yield torch.from_numpy(picture)[None]


def test_face_embed_validates_and_converts_each_pixel_once(
    nodes: dict[str, Any], loaded: tuple[Any, Any], group: Any, pack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recognizer, detector = loaded
    counter = Counter(pack, monkeypatch)
    identity, count, _ = nodes["FaceEmbed"].embed(recognizer, group, False, detector=detector)
    assert count == 2 and len(identity) == 2
    assert counter.scanned == group.numel()  # was 2 scans per pixel before frames.Frames
    assert counter.to_uint8 == group.numel() and counter.to_float == 0


def test_face_swap_validates_each_pixel_once_and_converts_it_once(
    nodes: dict[str, Any], loaded: tuple[Any, Any], group: Any, pack: Any, model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from tests.conftest import build_paired_swapper

    recognizer, detector = loaded
    build_paired_swapper(model_folder)
    swapper, _ = nodes["LoadFaceSwapper"].load("inswapper_128", "auto", "cpu", "float32", False)
    source = nodes["FaceEmbed"].embed(recognizer, group, False, detector=detector)[0]
    batch = torch.cat([group, torch.zeros_like(group), group])
    swap = nodes["FaceSwap"].swap
    counter = Counter(pack, monkeypatch)
    _, _, total, *_ = swap(batch, source, swapper, detector, "all", "left-right", "", 0.4, "1", 1.0, 1.0, False, None, None)
    assert total == 4
    assert counter.scanned == batch.numel()  # was 3 scans per pixel before frames.Frames
    assert counter.to_uint8 == batch.numel() and counter.to_float == batch.numel()  # detection's uint8, the swap's float32
    counter.scanned = 0
    _, _, total, _, retention, *_ = swap(
        batch, source, swapper, detector, "all", "left-right", "", 0.4, "1", 1.0, 1.0, False, None, recognizer
    )
    assert total == 4 and len(retention) == 4
    assert counter.scanned == batch.numel()  # retention reads the same Frames, and the swap's own output unchecked


# --------------------------------------------------------------------------------------------------
# No climb back up: along the IMAGE's path, a module imports only modules of lower layers

LAYERS = [
    {"errors", "types", "validate"},
    {"images"},
    {"frames"},
    {"geometry", "align", "select", "detect", "embed", "masks", "restore", "protocols"},
    {"pipeline"},
    {"identify"},
]
SWAP_LAYERS = [{"swap.run", "swap.targets", "swap.crops"}, {"swap.stream", "swap.retention"}]


def _imports(module: str) -> set[str]:
    """face_identity modules imported (relative imports, resolved) by ``module`` (dotted, under face_identity)."""
    path = ROOT / "face_identity" / (module.replace(".", "/") + ".py")
    package = module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            found.add(".".join([*base, *(node.module or "").split(".")]).strip("."))
    return found


def _layer(module: str) -> int | None:
    for number, names in enumerate(LAYERS):
        if module in names or module.split(".")[0] in names and module.split(".")[0] != "swap":
            return number
    for number, names in enumerate(SWAP_LAYERS):
        if module in names:
            return len(LAYERS) + number
    return None


@pytest.mark.parametrize(
    "module", ["frames", "images", "pipeline", "identify", "masks", "restore", "swap.run", "swap.stream", "swap.retention"]
)
def test_no_module_on_the_image_path_imports_a_higher_layer(module: str) -> None:
    own = _layer(module)
    assert own is not None
    higher = sorted(name for name in _imports(module) if (_layer(name) or -1) > own)
    assert higher == [], f"{module} imports {higher}, which sit above it"


def test_largest_is_the_largest_height_and_the_largest_width_of_any_frames() -> None:
    frames = Frames.of([np.zeros((100, 50, 3), np.uint8), np.zeros((40, 200, 3), np.uint8)])
    assert frames.largest == (100, 200)  # not the size of the tallest frame: chunks must fit the widest too
    assert Frames.of([]).largest == (1, 1)
