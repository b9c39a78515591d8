"""detect_and_swap with tracking: the plan, chunking, resume from a plan, handing chunks over.

The swapper is synthetic (inswapper's I/O); detection is the small real SCRFD of ../shared/data on a
short clip made by sliding a real two-person photo by whole and half pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.detect import FaceDetector
from face_identity.embed import load_recognizer
from face_identity.errors import InvalidArgumentError
from face_identity.images import read_image
from face_identity.swap import InswapperSwapper, SwapPlan, TargetSelection, detect_and_swap, plan_swaps
from face_identity.tracks import TrackSettings
from face_identity.types import Identity

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> NDArray[np.uint8]:
    """``[7, H, W, 3]`` uint8: the two-people photo shifted 0.7 px right per frame; frame 4 is blank (a gap)."""
    group = read_image(shared_data / "groups/face_recognition_two_people.jpg")
    group = cv2.resize(group, (group.shape[1] // 2, group.shape[0] // 2), interpolation=cv2.INTER_AREA)
    height, width = group.shape[:2]
    frames = []
    for t in range(7):
        matrix = np.array([[1.0, 0.0, 0.7 * t], [0.0, 1.0, 0.0]])
        frames.append(cv2.warpAffine(group, matrix, (width, height), borderMode=cv2.BORDER_REFLECT))
    frames[4] = np.full_like(group, 128)
    return np.stack(frames)


def test_tracked_swap_bridges_the_gap_and_does_not_depend_on_the_chunks(
    inswapper_like: InswapperSwapper, scrfd_quick: FaceDetector, random_source: Identity, clip: NDArray[np.uint8]
) -> None:
    tracking, selection = TrackSettings(max_gap=2), TargetSelection("indices", "left-right", (1,))
    expected = detect_and_swap(inswapper_like, scrfd_quick, clip, random_source, selection=selection, tracking=tracking)
    assert expected.plan is not None and expected.plan.bridged == (4,) and expected.plan.no_face == ()
    assert expected.swapped_counts == (1,) * 7  # the blank frame gets the bridged face
    assert len({ids for ids in expected.plan.track_ids}) == 1  # one person, one track, every frame
    untracked = detect_and_swap(inswapper_like, scrfd_quick, clip, random_source, selection=selection)
    assert untracked.plan is None and untracked.swapped_counts == (1, 1, 1, 1, 0, 1, 1)
    for chunk in (1, 3):
        planned: list[int] = []
        swapped: list[int] = []
        result = detect_and_swap(
            inswapper_like,
            scrfd_quick,
            clip,
            random_source,
            selection=selection,
            tracking=tracking,
            chunk_frames=chunk,
            on_frames_planned=planned.append,
            on_frames_done=swapped.append,
        )
        assert planned == swapped and sum(planned) == len(clip) and len(planned) == -(-len(clip) // chunk)
        np.testing.assert_array_equal(result.images, expected.images)
        np.testing.assert_array_equal(result.masks, expected.masks)
        assert result.plan is not None and result.plan.to_json() == expected.plan.to_json()


def test_resume_from_a_plan_with_a_start_frame_and_chunks_handed_over(
    inswapper_like: InswapperSwapper, scrfd_quick: FaceDetector, random_source: Identity, clip: NDArray[np.uint8]
) -> None:
    tracking = TrackSettings(max_gap=2)
    whole = detect_and_swap(inswapper_like, scrfd_quick, clip, random_source, tracking=tracking)
    assert whole.plan is not None
    plan = SwapPlan.from_json(whole.plan.to_json())
    handed: list[tuple[int, NDArray[np.float32], NDArray[np.float32]]] = []
    resumed = detect_and_swap(
        inswapper_like, None, clip, random_source, plan=plan, start_frame=3, chunk_frames=2, on_chunk=lambda *c: handed.append(c)
    )
    assert resumed.images.shape == (0, *clip.shape[1:]) and resumed.masks.shape == (0, *clip.shape[1:3])
    assert [start for start, _, _ in handed] == [3, 5] and resumed.swapped_counts == whole.swapped_counts[3:]
    assert [face.image_index for faces in resumed.targets for face in faces][:2] == [3, 3]
    np.testing.assert_array_equal(np.concatenate([images for _, images, _ in handed]), whole.images[3:])
    np.testing.assert_array_equal(np.concatenate([masks for _, _, masks in handed]), whole.masks[3:])
    tail = detect_and_swap(inswapper_like, None, clip, random_source, plan=plan, start_frame=5)
    np.testing.assert_array_equal(tail.images, whole.images[5:])
    with pytest.raises(InvalidArgumentError, match="covers 7 frames but 3"):
        detect_and_swap(inswapper_like, None, clip[:3], random_source, plan=plan)
    with pytest.raises(InvalidArgumentError, match="start frame"):
        detect_and_swap(inswapper_like, None, clip, random_source, plan=plan, start_frame=8)
    with pytest.raises(InvalidArgumentError, match="not both"):
        detect_and_swap(
            inswapper_like, None, clip, random_source, plan=plan, on_chunk=print, out_images=np.zeros((7, 1, 1, 3), np.float32)
        )


def test_frames_of_different_sizes_are_handed_over_one_by_one(
    inswapper_like: InswapperSwapper, scrfd_quick: FaceDetector, random_source: Identity, clip: NDArray[np.uint8]
) -> None:
    frames = [clip[0], clip[1][:-8], clip[2][:-8]]
    handed: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []
    result = detect_and_swap(
        inswapper_like,
        scrfd_quick,
        frames,
        random_source,
        on_chunk=lambda start, images, masks: handed.append((start, images.shape, masks.shape)),
    )
    height, width = clip.shape[1:3]
    assert handed == [
        (0, (1, height, width, 3), (1, height, width)),
        (1, (2, height - 8, width, 3), (2, height - 8, width)),
    ]
    assert result.images == () and result.masks == () and result.swapped_counts == (2, 2, 2)


def test_tracking_by_identity_does_not_depend_on_the_chunks(
    inswapper_like: InswapperSwapper,
    scrfd_quick: FaceDetector,
    random_source: Identity,
    clip: NDArray[np.uint8],
    tiny_recognizer_path: Path,
) -> None:
    """With a float recognizer (each face embedded on its own) the plan is the same whatever the chunking."""
    recognizer = load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)
    tracking = TrackSettings(max_gap=2, min_similarity=0.0)
    plans = [
        plan_swaps(scrfd_quick, clip, TargetSelection("indices", "left-right", (0,)), tracking, recognizer, chunk_frames=chunk)
        for chunk in (None, 1, 3)
    ]
    assert plans[0].bridged == (4,) and plans[0].no_face == ()
    assert plans[1].to_json() == plans[0].to_json() and plans[2].to_json() == plans[0].to_json()
