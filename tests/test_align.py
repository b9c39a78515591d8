"""Alignment: templates, the Umeyama fit against independent estimators, cv2/torch warps, paste-back masks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from face_identity.align import align_faces, alignment_matrix, estimate_similarity, template_points, warp_faces_torch
from face_identity.detect import FaceDetector
from face_identity.errors import InvalidArgumentError, InvalidImageError, InvalidLandmarksError
from face_identity.geometry import crop_validity_mask, paste_back, paste_mask, warp_face
from face_identity.types import Face

if TYPE_CHECKING:
    import torch

INSIGHTFACE_ARCFACE_DST = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
"""insightface ``utils/face_align.py`` ``arcface_dst``, transcribed from upstream."""
FACEFUSION_ARCFACE_128 = np.array(
    [
        [0.36167656, 0.40387734],
        [0.63696719, 0.40235469],
        [0.50019687, 0.56044219],
        [0.38710391, 0.72160547],
        [0.61507734, 0.72034453],
    ]
)
"""FaceFusion ``WARP_TEMPLATE_SET['arcface_128']`` (normalised), transcribed from upstream."""


# --- independent estimators and helpers --------------------------------------------------------------------


def complex_similarity_fit(source: NDArray[np.floating], target: NDArray[np.floating]) -> NDArray[np.float64]:
    """Closed-form least-squares similarity ``w = a z + b`` over complex numbers z = x + iy; ``[2, 3]`` matrix."""
    z = source[:, 0].astype(np.float64) + 1j * source[:, 1].astype(np.float64)
    w = target[:, 0].astype(np.float64) + 1j * target[:, 1].astype(np.float64)
    z_centred, w_centred = z - z.mean(), w - w.mean()
    a = np.sum(np.conj(z_centred) * w_centred) / np.sum(np.abs(z_centred) ** 2)
    b = w.mean() - a * z.mean()
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def apply_matrix(matrix: NDArray[np.floating], points: NDArray[np.floating]) -> NDArray[np.float64]:
    points64 = np.asarray(points, dtype=np.float64)
    return points64 @ np.asarray(matrix, dtype=np.float64)[:, :2].T + np.asarray(matrix, dtype=np.float64)[:, 2]


def random_similarity(rng: np.random.Generator) -> NDArray[np.float64]:
    angle = rng.uniform(-math.pi, math.pi)
    scale = rng.uniform(0.3, 6.0)
    shift = rng.uniform(-300.0, 1500.0, 2)
    cosine, sine = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[cosine, -sine, shift[0]], [sine, cosine, shift[1]]])


def noisy_landmark_sets(count: int, seed: int) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """``(landmarks in an image, template)``: the template moved by a random similarity, plus noise."""
    rng = np.random.default_rng(seed)
    template = template_points("arcface_112", 112)
    sets = []
    for _ in range(count):
        transform = random_similarity(rng)
        noise = rng.normal(0.0, rng.uniform(0.0, 4.0), (5, 2)) * transform[0, :2].dot(transform[0, :2]) ** 0.5
        sets.append((apply_matrix(transform, template) + noise, template))
    return sets


# --- templates -----------------------------------------------------------------------------------------------


def test_arcface_112_is_insightface_arcface_dst() -> None:
    np.testing.assert_allclose(template_points("arcface_112", 112), INSIGHTFACE_ARCFACE_DST, rtol=0, atol=1e-5)


def test_facefusion_arcface_112_v2_equals_arcface_dst() -> None:
    np.testing.assert_allclose(template_points("arcface_112_v2", 112), INSIGHTFACE_ARCFACE_DST, rtol=0, atol=1e-4)


def test_arcface_128_is_insightface_128_rule_and_facefusion_template() -> None:
    expected = INSIGHTFACE_ARCFACE_DST.astype(np.float64) + np.array([8.0, 0.0])
    np.testing.assert_allclose(template_points("arcface_128", 128), expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(template_points("arcface_128", 128), FACEFUSION_ARCFACE_128 * 128, rtol=0, atol=1e-4)


@pytest.mark.parametrize("size", [112, 160, 224, 448])
def test_arcface_112_scales_like_insightface_estimate_norm(size: int) -> None:
    ratio = size / 112.0
    np.testing.assert_allclose(template_points("arcface_112", size), INSIGHTFACE_ARCFACE_DST * ratio, rtol=0, atol=1e-4)


@pytest.mark.parametrize("size", [128, 256, 512])
def test_arcface_128_scales_like_insightface_estimate_norm(size: int) -> None:
    # insightface: ratio = size / 128, dst = arcface_dst * ratio, dst[:, 0] += 8 * ratio.
    ratio = size / 128.0
    expected = INSIGHTFACE_ARCFACE_DST.astype(np.float64) * ratio
    expected[:, 0] += 8.0 * ratio
    np.testing.assert_allclose(template_points("arcface_128", size), expected, rtol=0, atol=1e-4)


def test_normalised_templates_scale_linearly() -> None:
    for name in ("arcface_112_v1", "arcface_112_v2", "ffhq_512"):
        np.testing.assert_allclose(template_points(name, 512), template_points(name, 256) * 2.0, rtol=0, atol=1e-9)
        points = template_points(name, 100) / 100.0
        assert np.all((points > 0.3) & (points < 0.85)), name
    # FaceFusion's arcface_112_v1 x 112, as printed in the anchor study (rounded there to 3 decimals).
    v1 = [[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]]
    np.testing.assert_allclose(template_points("arcface_112_v1", 112), v1, rtol=0, atol=1e-3)


def test_unknown_template_and_tiny_crop_raise() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown alignment template"):
        template_points("arcface_999", 112)
    with pytest.raises(InvalidArgumentError, match="at least 16"):
        template_points("arcface_112", 8)


@pytest.mark.parametrize("name,size", [("arcface_112", 112), ("arcface_112", 224), ("arcface_128", 128), ("ffhq_512", 512)])
def test_template_points_map_to_themselves(name: str, size: int) -> None:
    matrix = alignment_matrix(template_points(name, size).astype(np.float32), name, size)
    np.testing.assert_allclose(matrix, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], rtol=0, atol=1e-4)


# --- Umeyama against independent estimators -------------------------------------------------------------------


def test_estimate_similarity_matches_complex_least_squares_on_noisy_landmarks() -> None:
    worst = 0.0
    for landmarks, template in noisy_landmark_sets(300, seed=11):
        ours = estimate_similarity(landmarks, template)
        reference = complex_similarity_fit(landmarks, template)
        worst = max(worst, float(np.abs(apply_matrix(ours, landmarks) - apply_matrix(reference, landmarks)).max()))
        np.testing.assert_allclose(ours, reference, rtol=1e-7, atol=1e-7)
    assert worst <= 1e-4


def test_estimate_similarity_recovers_exact_transform() -> None:
    rng = np.random.default_rng(5)
    template = template_points("arcface_112", 112)
    for _ in range(50):
        transform = random_similarity(rng)
        landmarks = apply_matrix(transform, template)
        # landmarks -> template is the inverse of the planted transform.
        expected = cv2.invertAffineTransform(transform)
        np.testing.assert_allclose(estimate_similarity(landmarks, template), expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("count", [2, 3, 5, 7, 20])
def test_estimate_similarity_matches_complex_least_squares_on_arbitrary_points(count: int) -> None:
    rng = np.random.default_rng(100 + count)
    for _ in range(60):
        source = rng.uniform(-50.0, 900.0, (count, 2))
        target = rng.uniform(0.0, 200.0, (count, 2))
        ours = estimate_similarity(source, target)
        reference = complex_similarity_fit(source, target)
        assert np.abs(apply_matrix(ours, source) - apply_matrix(reference, source)).max() <= 1e-4
        np.testing.assert_allclose(ours, reference, rtol=1e-7, atol=1e-9)


def test_estimate_similarity_on_collinear_points() -> None:
    """Rank-1 covariance (all source points on a line): the branch skimage special-cases."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        direction = rng.normal(size=2)
        source = rng.uniform(-100, 100, (6, 1)) * direction + rng.uniform(0, 500, 2)
        target = rng.uniform(0.0, 112.0, (6, 2))
        ours = estimate_similarity(source, target)
        reference = complex_similarity_fit(source, target)
        assert np.abs(apply_matrix(ours, source) - apply_matrix(reference, source)).max() <= 1e-4


def test_estimate_similarity_agrees_with_opencv_ransac_100() -> None:
    """FaceFusion's estimator (RANSAC with threshold 100, then LM refinement) gives the same crops."""
    cv2.setRNGSeed(1234)
    worst = 0.0
    for landmarks, template in noisy_landmark_sets(100, seed=23):
        ours = estimate_similarity(landmarks, template)
        opencv, inliers = cv2.estimateAffinePartial2D(
            landmarks.astype(np.float32), template.astype(np.float32), method=cv2.RANSAC, ransacReprojThreshold=100
        )
        assert opencv is not None and inliers.all()
        worst = max(worst, float(np.abs(apply_matrix(ours, landmarks) - apply_matrix(opencv, landmarks)).max()))
    # OpenCV refines in float32 with Levenberg-Marquardt; it converges to the same optimum within ~3e-4 px.
    assert worst <= 1e-3


@pytest.mark.parametrize(
    "landmarks",
    [
        np.full((5, 2), 50.0),
        np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0], [6.0, 7.0], [8.0, 9.0]]),
        np.array([[1.0, 2.0], [np.inf, 3.0], [4.0, 5.0], [6.0, 7.0], [8.0, 9.0]]),
        np.zeros((4, 2)) + np.arange(4)[:, None],
        np.zeros((5, 3)) + np.arange(5)[:, None],
        np.arange(10.0),
    ],
    ids=["all-equal", "nan", "inf", "four-points", "three-columns", "flat"],
)
def test_degenerate_landmarks_raise(landmarks: NDArray[np.float64]) -> None:
    with pytest.raises(InvalidLandmarksError):
        alignment_matrix(landmarks)


def test_estimate_similarity_rejects_mismatched_and_single_points() -> None:
    with pytest.raises(InvalidLandmarksError):
        estimate_similarity(np.zeros((5, 2)) + np.arange(5)[:, None], np.zeros((4, 2)))
    with pytest.raises(InvalidLandmarksError):
        estimate_similarity(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(InvalidLandmarksError):
        estimate_similarity(np.arange(10.0).reshape(5, 2), np.full((5, 2), np.nan))


# --- cv2 warp ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,channels", [(np.uint8, 3), (np.float32, 3), (np.uint8, 4), (np.uint8, 1), (np.float32, 1)])
def test_warp_face_equals_hand_written_warp_affine(newton_image: NDArray[np.uint8], dtype: type, channels: int) -> None:
    base = newton_image if dtype == np.uint8 else newton_image.astype(np.float32) / 255.0
    if channels == 4:
        image = np.concatenate([base, np.full(base.shape[:2] + (1,), 200, base.dtype)], axis=2)
    elif channels == 1:
        image = np.ascontiguousarray(base[:, :, 1:2])
    else:
        image = base
    landmarks = np.array([[371, 143], [419, 145], [399, 177], [371, 197], [409, 199]], dtype=np.float32)
    matrix = alignment_matrix(landmarks, "arcface_112", 112)
    expected = cv2.warpAffine(image, matrix, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    crop = warp_face(image, matrix, 112)
    assert crop.shape == (112, 112, channels) and crop.dtype == image.dtype
    assert np.array_equal(crop, expected.reshape(112, 112, channels))


def test_warp_face_rejects_bad_images() -> None:
    matrix = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    with pytest.raises(InvalidImageError):
        warp_face(np.zeros((10, 10), np.uint8), matrix, 112)
    with pytest.raises(InvalidImageError):
        warp_face(np.zeros((10, 10, 2), np.uint8), matrix, 112)


def test_align_faces_cuts_each_face_and_records_its_matrix(solvay_image: NDArray[np.uint8], scrfd_detector: FaceDetector) -> None:
    faces = scrfd_detector.detect(solvay_image)[:4]
    assert len(faces) == 4
    crops, aligned = align_faces(solvay_image, faces, "arcface_128", 128)
    assert crops.shape == (4, 128, 128, 3) and crops.dtype == np.uint8
    for face, crop, done in zip(faces, crops, aligned, strict=True):
        matrix = estimate_similarity(face.landmarks, template_points("arcface_128", 128))
        np.testing.assert_allclose(done.align_matrix, matrix, rtol=0, atol=1e-9)
        assert done.crop_size == 128 and done.template == "arcface_128"
        assert np.array_equal(crop, cv2.warpAffine(solvay_image, matrix, (128, 128), borderValue=0))
        # The landmarks land near the template in the crop (the fit is least squares, so not exactly).
        assert np.abs(apply_matrix(matrix, face.landmarks) - template_points("arcface_128", 128)).max() < 10.0
    empty_crops, empty_faces = align_faces(solvay_image, [], "arcface_112", 112)
    assert empty_crops.shape == (0, 112, 112, 3) and empty_faces == []


# --- batched torch warp --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_warp_case(
    solvay_image: NDArray[np.uint8], newton_image: NDArray[np.uint8], scrfd_detector: FaceDetector
) -> tuple[list[NDArray[np.float32]], list[NDArray[np.float64]], list[int]]:
    """Three equal-size float images (0..1) and alignment matrices of faces in them, some cut by the border."""
    side = 420
    solvay_faces = scrfd_detector.detect(solvay_image)
    origins = [(800, 150), (830, 1050)]  # (y, x): two bands of the front rows, faces cut by the edges
    images = [solvay_image[y : y + side, x : x + side] for y, x in origins]
    newton = np.ascontiguousarray(newton_image[:side, 250 : 250 + side])
    images.append(newton)
    matrices, indices = [], []
    for index, (y, x) in enumerate(origins):
        for face in solvay_faces:
            landmarks = face.landmarks - np.array([x, y], np.float32)
            centre = landmarks.mean(axis=0)
            if -10 <= centre[0] <= side + 10 and -10 <= centre[1] <= side + 10:
                matrices.append(alignment_matrix(landmarks, "arcface_112", 112))
                indices.append(index)
    newton_faces = scrfd_detector.detect(newton)
    assert newton_faces
    matrices.append(alignment_matrix(newton_faces[0].landmarks, "arcface_112", 112))
    indices.append(2)
    # A face whose crop runs off the image: Newton's landmarks shifted so the face hangs over the left edge.
    matrices.append(
        alignment_matrix(
            newton_faces[0].landmarks - np.array([newton_faces[0].landmarks[:, 0].min() + 20, 0]), "arcface_112", 112
        )
    )
    indices.append(2)
    return [image.astype(np.float32) / 255.0 for image in images], matrices, indices


def _torch_batch(images: list[NDArray[np.float32]]) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy())


def test_warp_faces_torch_matches_cv2_on_real_photos(torch_warp_case: tuple) -> None:
    images, matrices, indices = torch_warp_case
    assert len(matrices) >= 6 and set(indices) == {0, 1, 2}
    # Interleave the faces so one call holds faces of different images in a mixed order.
    order = np.random.default_rng(0).permutation(len(matrices))
    matrices = [matrices[i] for i in order]
    indices = [indices[i] for i in order]
    crops = warp_faces_torch(_torch_batch(images), np.stack(matrices), indices, 112)
    assert tuple(crops.shape) == (len(matrices), 3, 112, 112)
    border_cases = 0
    for crop, matrix, index in zip(crops.numpy(), matrices, indices, strict=True):
        expected = warp_face(images[index], matrix, 112)
        difference = np.abs(crop.transpose(1, 2, 0) - expected)
        assert difference.mean() <= 1.0 / 255.0
        assert difference.max() <= 4.0 / 255.0  # no local misalignment (edges, borders) hidden in the mean
        validity = crop_validity_mask(images[index].shape[0], images[index].shape[1], matrix, 112)
        border_cases += int((validity < 0.5).any())
        # Sanity: the same matrix applied to another image gives a clearly different crop.
        other = warp_face(images[(index + 1) % len(images)], matrix, 112)
        assert np.abs(crop.transpose(1, 2, 0) - other).mean() > 5.0 / 255.0
    assert border_cases >= 2


def test_warp_faces_torch_float16_and_tensor_matrices(torch_warp_case: tuple) -> None:
    import torch

    images, matrices, indices = torch_warp_case
    crops = warp_faces_torch(_torch_batch(images).half(), torch.from_numpy(np.stack(matrices)), indices, 112)
    assert crops.dtype == torch.float16
    for crop, matrix, index in zip(crops.float().numpy(), matrices, indices, strict=True):
        expected = warp_face(images[index], matrix, 112)
        assert np.abs(crop.transpose(1, 2, 0) - expected).mean() <= 1.0 / 255.0


def test_warp_faces_torch_pixel_centres_on_a_small_image() -> None:
    """On a tiny image any half-pixel convention error (align_corners, +-0.5) shows; on big photos it hides."""
    import torch

    ys, xs = np.mgrid[:20, :28].astype(np.float32)
    image = np.stack([np.sin(xs / 5.0), np.cos(ys / 4.0), (xs + ys) / 48.0], axis=-1) * 0.5 + 0.5
    rng = np.random.default_rng(8)
    matrices = []
    for _ in range(4):
        angle, scale = rng.uniform(-0.4, 0.4), rng.uniform(0.7, 1.3)
        centre = rng.uniform(8, 12, 2)
        rotation = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        matrices.append(np.hstack([rotation, (np.array([8.0, 8.0]) - rotation @ np.array([centre[0] + 4, centre[1]]))[:, None]]))
    crops = warp_faces_torch(torch.from_numpy(image.transpose(2, 0, 1)[None].copy()), np.stack(matrices), [0, 0, 0, 0], 16)
    for crop, matrix in zip(crops.numpy(), matrices, strict=True):
        expected = warp_face(image, matrix, 16)
        # cv2 quantises sample positions to 1/32 px; on this smooth image that is < 0.003.
        assert np.abs(crop.transpose(1, 2, 0) - expected).max() < 0.003


def test_warp_faces_torch_edge_cases(torch_warp_case: tuple) -> None:
    images, matrices, _ = torch_warp_case
    batch = _torch_batch(images)
    empty = warp_faces_torch(batch, np.zeros((0, 2, 3)), [], 112)
    assert tuple(empty.shape) == (0, 3, 112, 112)
    with pytest.raises(InvalidArgumentError):
        warp_faces_torch(batch, np.stack(matrices[:2]), [0, 7], 112)
    with pytest.raises(InvalidArgumentError):
        warp_faces_torch(batch, np.stack(matrices[:2]), [0], 112)
    with pytest.raises(InvalidImageError):
        warp_faces_torch(batch[0], np.stack(matrices[:1]), [0], 112)


# --- paste-back ---------------------------------------------------------------------------------------------


def insightface_paste_mask(height: int, width: int, matrix: NDArray[np.float64], crop_size: int) -> NDArray[np.float32]:
    """insightface ``INSwapper.get`` paste-back mask, computed naively over the whole image."""
    inverse = cv2.invertAffineTransform(matrix)
    white = np.full((crop_size, crop_size), 255, dtype=np.float32)
    white = cv2.warpAffine(white, inverse, (width, height), borderValue=0.0)
    white[white > 20] = 255
    rows, columns = np.where(white == 255)
    mask_size = int(np.sqrt((rows.max() - rows.min()) * (columns.max() - columns.min())))
    erode = max(mask_size // 10, 10)
    white = cv2.erode(white, np.ones((erode, erode), np.uint8), iterations=1)
    blur = max(mask_size // 20, 5)
    white = cv2.GaussianBlur(white, (2 * blur + 1, 2 * blur + 1), 0)
    return white / 255


def paste_cases() -> list[tuple[str, int, int, NDArray[np.float64], int]]:
    """(name, height, width, matrix, crop size): straight, rotated 45 deg, small, large, near each border."""
    template = template_points("arcface_128", 128)
    cases = []

    def add(name: str, height: int, width: int, scale: float, angle: float, centre: tuple[float, float]) -> None:
        cosine, sine = scale * math.cos(angle), scale * math.sin(angle)
        placed = (template - 64.0) @ np.array([[cosine, sine], [-sine, cosine]]) + np.array(centre)
        cases.append((name, height, width, estimate_similarity(placed, template), 128))

    add("straight", 400, 500, 1.5, 0.0, (250.0, 200.0))
    add("rotated-45", 400, 500, 2.0, math.pi / 4, (260.0, 190.0))
    add("small-tilted", 300, 300, 0.6, 0.3, (150.0, 140.0))
    add("large", 600, 700, 4.0, -0.2, (350.0, 300.0))
    add("left-edge", 400, 500, 1.5, 0.1, (30.0, 200.0))
    add("bottom-right-corner", 400, 500, 1.5, -0.4, (480.0, 390.0))
    add("top-edge", 400, 500, 2.5, 2.0, (250.0, 10.0))
    return cases


@pytest.mark.parametrize("name,height,width,matrix,crop_size", paste_cases(), ids=[c[0] for c in paste_cases()])
def test_paste_mask_equals_naive_insightface_mask(
    name: str, height: int, width: int, matrix: NDArray[np.float64], crop_size: int
) -> None:
    full = insightface_paste_mask(height, width, matrix, crop_size)
    mask, (y1, y2, x1, x2) = paste_mask(height, width, matrix, crop_size)
    assert mask.dtype == np.float32 and mask.shape == (y2 - y1, x2 - x1)
    assert 0 <= y1 < y2 <= height and 0 <= x1 < x2 <= width
    np.testing.assert_allclose(mask, full[y1:y2, x1:x2], rtol=0, atol=1e-6)
    outside = full.copy()
    outside[y1:y2, x1:x2] = 0
    assert outside.max() == 0.0, "the naive mask is non-zero outside the region paste_mask computes"
    assert mask.max() > 0.99


def test_paste_mask_outside_the_image_is_empty() -> None:
    matrix = np.array([[1.0, 0.0, 5000.0], [0.0, 1.0, 5000.0]])
    mask, region = paste_mask(100, 100, matrix, 128)
    assert mask.size == 0 and region == (0, 0, 0, 0)


def test_paste_back_keeps_unmasked_pixels_and_changes_the_face(newton_image: NDArray[np.uint8]) -> None:
    image = newton_image.astype(np.float32) / 255.0
    landmarks = np.array([[371, 143], [419, 145], [399, 177], [371, 197], [409, 199]], dtype=np.float32)
    matrix = alignment_matrix(landmarks, "arcface_128", 128)
    crop = warp_face(image, matrix, 128)
    edited = 1.0 - crop
    blended, mask = paste_back(image, edited, matrix)
    assert blended.shape == image.shape and blended.dtype == np.float32 and mask.shape == image.shape[:2]
    assert np.array_equal(blended[mask == 0], image[mask == 0])
    assert (mask == 0).mean() > 0.8
    nose = np.round(apply_matrix(cv2.invertAffineTransform(matrix), template_points("arcface_128", 128)[2:3])[0]).astype(int)
    assert mask[nose[1], nose[0]] > 0.99
    assert np.abs(blended[nose[1], nose[0]] - image[nose[1], nose[0]]).max() > 0.1
    # Blend = mask * crop warped back + (1 - mask) * image (crop warped over the whole image, naively).
    warped_back = cv2.warpAffine(edited, cv2.invertAffineTransform(matrix), (image.shape[1], image.shape[0]), borderValue=0.0)
    expected = mask[:, :, None] * warped_back + (1 - mask[:, :, None]) * image
    np.testing.assert_allclose(blended, expected, rtol=0, atol=2e-3)
    np.testing.assert_allclose(mask, insightface_paste_mask(image.shape[0], image.shape[1], matrix, 128), rtol=0, atol=1e-6)


def test_paste_back_of_the_unchanged_crop_barely_changes_the_image(newton_image: NDArray[np.uint8]) -> None:
    image = newton_image.astype(np.float32) / 255.0
    landmarks = np.array([[371, 143], [419, 145], [399, 177], [371, 197], [409, 199]], dtype=np.float32)
    matrix = alignment_matrix(landmarks, "arcface_128", 128)
    blended, mask = paste_back(image, warp_face(image, matrix, 128), matrix)
    inside = mask > 0.99
    assert inside.sum() > 1000
    # Cutting and pasting back resamples twice; the face must still line up (no offset, no flip).
    assert np.abs(blended - image)[inside].mean() < 0.03


def test_crop_mask_limits_the_paste(newton_image: NDArray[np.uint8]) -> None:
    image = newton_image.astype(np.float32) / 255.0
    landmarks = np.array([[371, 143], [419, 145], [399, 177], [371, 197], [409, 199]], dtype=np.float32)
    matrix = alignment_matrix(landmarks, "arcface_128", 128)
    crop_mask = np.zeros((128, 128), np.float32)
    crop_mask[:, :64] = 1.0  # left half of the crop only
    _, half = paste_back(image, 1.0 - warp_face(image, matrix, 128), matrix, crop_mask=crop_mask)
    _, whole = paste_back(image, 1.0 - warp_face(image, matrix, 128), matrix)
    assert 0 < half.sum() < 0.7 * whole.sum()
    right_eye = np.round(apply_matrix(cv2.invertAffineTransform(matrix), template_points("arcface_128", 128)[1:2])[0]).astype(int)
    assert half[right_eye[1], right_eye[0]] < 0.05 < whole[right_eye[1], right_eye[0]]


def test_crop_validity_mask_marks_the_black_border() -> None:
    height, width = 200, 300
    template = template_points("arcface_112", 112)
    # Face centred 10 px from the left edge: the left part of the crop lies outside the image.
    landmarks = template - template.mean(axis=0) + np.array([10.0, 100.0])
    matrix = alignment_matrix(landmarks.astype(np.float32), "arcface_112", 112)
    validity = crop_validity_mask(height, width, matrix, 112)
    assert validity.shape == (112, 112) and validity.dtype == np.float32
    inverse = cv2.invertAffineTransform(matrix)
    ys, xs = np.mgrid[:112, :112]
    source = np.stack([xs.ravel(), ys.ravel()], axis=1) @ inverse[:, :2].T + inverse[:, 2]
    inside = ((source[:, 0] >= 1) & (source[:, 0] <= width - 2) & (source[:, 1] >= 1) & (source[:, 1] <= height - 2)).reshape(
        112, 112
    )
    outside = ((source[:, 0] < -1) | (source[:, 0] > width) | (source[:, 1] < -1) | (source[:, 1] > height)).reshape(112, 112)
    assert inside.any() and outside.any()
    np.testing.assert_allclose(validity[inside], 1.0, atol=1e-6)
    np.testing.assert_allclose(validity[outside], 0.0, atol=1e-6)
    assert validity.min() >= 0.0 and validity.max() <= 1.0 + 1e-6


def test_face_alignment_records_are_frozen() -> None:
    face = Face(bbox=[0, 0, 10, 10], score=0.9, landmarks=template_points("arcface_112", 112))
    aligned = face.with_alignment(alignment_matrix(face.landmarks), 112, "arcface_112")
    assert aligned.align_matrix is not None and not aligned.align_matrix.flags.writeable
    assert face.align_matrix is None
