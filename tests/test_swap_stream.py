"""detect_and_swap: a batch swapped chunk by chunk equals the whole batch swapped at once, whatever the chunking.

The swapper is synthetic (``synthetic.build_inswapper_like``: inswapper's I/O); detection uses the
small real SCRFD of ../shared/data on a real group photo. The source is a synthetic stand-in in the
w600k_r50 space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.catalog import W600K_R50_SPACE
from face_identity.detect import FaceDetector
from face_identity.errors import IncompatibleIdentitiesError, InvalidArgumentError, InvalidImageError
from face_identity.images import read_image
from face_identity.swap import InswapperSwapper, SwapSettings, TargetSelection, detect_and_swap
from face_identity.types import Identity

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def video(shared_data: Path) -> NDArray[np.uint8]:
    """``[4, H, W, 3]`` uint8: two people, a blank frame, the mirrored photo, the photo again."""
    group = read_image(shared_data / "groups/face_recognition_two_people.jpg")
    return np.stack([group, np.full_like(group, 128), np.ascontiguousarray(group[:, ::-1]), group])


def test_chunked_equals_unchunked_equals_detect_and_swap(
    inswapper_like: InswapperSwapper, scrfd_quick: FaceDetector, random_source: Identity, video: NDArray[np.uint8]
) -> None:
    settings, selection = SwapSettings(face_area_mask=True), TargetSelection("indices", "left-right", (1,))
    expected = detect_and_swap(inswapper_like, scrfd_quick, list(video), random_source, settings, selection)
    assert expected.swapped_counts == (1, 0, 1, 1)
    for chunk in (None, 1, 3):
        done: list[int] = []
        result = detect_and_swap(
            inswapper_like, scrfd_quick, video, random_source, settings, selection, chunk_frames=chunk, on_frames_done=done.append
        )
        assert result.swapped_counts == expected.swapped_counts and result.skipped == (False, True, False, False)
        assert result.images.shape == (*video.shape[:3], 3) and result.images.dtype == np.float32
        np.testing.assert_array_equal(result.images, np.stack(expected.images))
        np.testing.assert_array_equal(result.masks, np.stack(expected.masks))
        assert sum(done) == len(video) and len(done) == (1 if chunk is None else -(-len(video) // chunk))
        assert [face.image_index for faces in result.targets for face in faces] == [0, 2, 3]  # batch indices, not chunk ones
        for faces, reference in zip(result.targets, expected.targets, strict=True):
            for face, other in zip(faces, reference, strict=True):
                np.testing.assert_array_equal(face.align_matrix, other.align_matrix)
    assert np.array_equal(result.images[1], video[1] / np.float32(255.0)) and not result.masks[1].any()


def test_torch_rgba_float_frames_and_preallocated_outputs(
    inswapper_like: InswapperSwapper, scrfd_quick: FaceDetector, random_source: Identity, video: NDArray[np.uint8]
) -> None:
    torch = pytest.importorskip("torch")
    frames = video[:2].astype(np.float32) / 255.0
    rgba = torch.from_numpy(np.concatenate([frames, np.ones_like(frames[..., :1])], axis=-1))
    out_images = np.full((2, *video.shape[1:3], 3), np.nan, np.float32)
    out_masks = np.full((2, *video.shape[1:3]), np.nan, np.float32)
    result = detect_and_swap(
        inswapper_like, scrfd_quick, rgba, random_source, chunk_frames=1, out_images=out_images, out_masks=out_masks
    )
    assert result.images is out_images and result.masks is out_masks and not np.isnan(out_images).any()
    expected = detect_and_swap(inswapper_like, scrfd_quick, list(frames), random_source)
    np.testing.assert_array_equal(result.images, np.stack(expected.images))
    np.testing.assert_array_equal(result.masks, np.stack(expected.masks))
    assert result.swapped_total == expected.swapped_total == 2
    with pytest.raises(InvalidArgumentError, match="out_images must be a writable float32"):
        detect_and_swap(inswapper_like, scrfd_quick, rgba, random_source, out_images=out_images[:1])


def test_cancel_stops_between_frames_and_bad_input_is_refused_before_any_work(
    inswapper_like: InswapperSwapper, scrfd_quick: FaceDetector, random_source: Identity, video: NDArray[np.uint8]
) -> None:
    class CancelledError(Exception):
        pass

    calls: list[int] = []

    def cancel_on_third_call() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise CancelledError

    with pytest.raises(CancelledError):
        detect_and_swap(inswapper_like, scrfd_quick, video, random_source, chunk_frames=2, check_cancel=cancel_on_third_call)
    assert len(calls) == 3  # before the chunk, after frame 0, after frame 1: stopped before swapping

    class NeverCalled:
        def detect_batch(self, *arguments: object, **options: object) -> None:
            raise AssertionError("detection ran")

    foreign = Identity(np.ones((1, 128), np.float32), "other@1234")
    with pytest.raises(IncompatibleIdentitiesError, match=W600K_R50_SPACE):
        detect_and_swap(inswapper_like, NeverCalled(), video, foreign)
    with pytest.raises(InvalidImageError, match=r"got shape \(4, 8\)"):
        detect_and_swap(inswapper_like, NeverCalled(), np.zeros((4, 8), np.float32), random_source)
    with pytest.raises(InvalidArgumentError, match="chunk_frames"):
        detect_and_swap(inswapper_like, NeverCalled(), video, random_source, chunk_frames=0)
