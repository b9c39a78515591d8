"""Cosine similarity, averaging, compatibility checks, verdicts and Identity invariants."""

from __future__ import annotations

import numpy as np
import pytest

from face_identity.catalog import W600K_R50_SPACE
from face_identity.compare import (
    DEFAULT_MATCH_THRESHOLD,
    UNCERTAIN_MARGIN,
    average_identities,
    cosine_matrix,
    match_threshold,
    similarity,
    similarity_matrix,
    verdict,
)
from face_identity.errors import IncompatibleIdentitiesError, InvalidArgumentError
from face_identity.types import Identity, concatenate_identities


def random_rows(count: int, dimension: int = 512, seed: int = 0, scale: float = 20.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(count, dimension)) * scale).astype(np.float32)


def unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def naive_cosine(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    result = np.zeros((len(first), len(second)))
    for i, a in enumerate(first.astype(np.float64)):
        for j, b in enumerate(second.astype(np.float64)):
            result[i, j] = sum(x * y for x, y in zip(a, b)) / (np.sqrt(sum(x * x for x in a)) * np.sqrt(sum(y * y for y in b)))
    return result


def test_cosine_matrix_matches_a_naive_implementation() -> None:
    first, second = random_rows(4, 64, seed=1), random_rows(3, 64, seed=2, scale=0.01)
    second[1] = first[2] * 3.0  # same direction, other length
    second[2] = -first[0]
    matrix = cosine_matrix(first, second)
    assert matrix.shape == (4, 3) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, naive_cosine(first, second), atol=1e-6)
    assert matrix[2, 1] == pytest.approx(1.0, abs=1e-6) and matrix[0, 2] == pytest.approx(-1.0, abs=1e-6)


def test_similarity_matrix_and_similarity_use_rows_and_centroids() -> None:
    a = Identity(embeddings=random_rows(3, seed=3), model_id=W600K_R50_SPACE, weights=np.array([1.0, 3.0, 0.5]))
    b = Identity(embeddings=random_rows(2, seed=4), model_id=W600K_R50_SPACE)
    np.testing.assert_allclose(similarity_matrix(a, b), naive_cosine(a.embeddings, b.embeddings), atol=1e-6)

    weights = np.array([1.0, 3.0, 0.5])
    centroid_a = unit((a.embeddings.astype(np.float64) * weights[:, None]).sum(axis=0))
    centroid_b = unit(b.embeddings.astype(np.float64).sum(axis=0))
    expected = float(centroid_a @ centroid_b)
    assert similarity(a, b) == pytest.approx(expected, abs=1e-6)
    # the centroid similarity is not the mean pairwise similarity (a different, wrong reading of "similarity")
    assert abs(similarity(a, b) - float(similarity_matrix(a, b).mean())) > 1e-4


def test_similarity_of_an_identity_with_a_rescaled_copy_is_one() -> None:
    rows = random_rows(2, seed=5)
    assert similarity(Identity(embeddings=rows, model_id="m"), Identity(embeddings=rows * 7, model_id="m")) == pytest.approx(
        1.0, abs=1e-6
    )


def test_average_is_the_weighted_mean_of_unit_rows_renormalised() -> None:
    first = Identity(embeddings=random_rows(2, seed=6), model_id=W600K_R50_SPACE, weights=np.array([1.0, 2.0]))
    second = Identity(embeddings=random_rows(3, seed=7, scale=3.0), model_id=W600K_R50_SPACE)
    factors = [0.25, 1.5]

    averaged = average_identities([first, second], factors)

    rows = np.concatenate([first.embeddings, second.embeddings]).astype(np.float64)
    row_weights = np.concatenate([first.weights * factors[0], second.weights * factors[1]]).astype(np.float64)
    expected = unit((rows * row_weights[:, None]).sum(axis=0) / row_weights.sum())
    assert len(averaged) == 1 and averaged.model_id == W600K_R50_SPACE
    np.testing.assert_allclose(averaged.embeddings[0], expected, atol=1e-6)
    assert np.linalg.norm(averaged.embeddings[0]) == pytest.approx(1.0, abs=1e-6)
    norms = np.concatenate([first.norms, second.norms]).astype(np.float64)
    assert averaged.norms[0] == pytest.approx(float((norms * row_weights).sum() / row_weights.sum()), rel=1e-5)


def test_raw_vector_of_an_average_is_the_unit_centroid_times_the_mean_raw_norm() -> None:
    """One definition (Identity.raw_centroid): the same for the averaged identity and for the rows it came from."""
    first = Identity(embeddings=random_rows(2, seed=6), model_id=W600K_R50_SPACE, weights=np.array([1.0, 2.0]))
    second = Identity(embeddings=random_rows(3, seed=7, scale=3.0), model_id=W600K_R50_SPACE)
    averaged = average_identities([first, second], [0.25, 1.5])
    together = Identity(
        embeddings=np.concatenate([first.embeddings, second.embeddings]),
        model_id=W600K_R50_SPACE,
        weights=np.concatenate([first.weights * 0.25, second.weights * 1.5]),
        norms=np.concatenate([first.norms, second.norms]),
    )
    expected = averaged.centroid().astype(np.float64) * float(averaged.norms[0])
    np.testing.assert_allclose(averaged.raw_centroid(), expected, rtol=1e-5)
    np.testing.assert_allclose(together.raw_centroid(), averaged.raw_centroid(), rtol=1e-5)
    # one row: its raw vector is the raw embedding itself
    single = Identity(embeddings=random_rows(1, seed=3, scale=20.0), model_id=W600K_R50_SPACE)
    np.testing.assert_allclose(single.raw_centroid(), single.raw_embeddings()[0], rtol=1e-5)
    # unknown norms stay unknown through averaging, and have no raw vector
    unknown = Identity(embeddings=first.embeddings, model_id=W600K_R50_SPACE, norms=np.array([0.0, 20.0]))
    assert average_identities([unknown, second]).raw_norm == 0.0
    with pytest.raises(IncompatibleIdentitiesError, match="raw norm"):
        average_identities([unknown, second]).raw_centroid()


def test_average_weights_are_respected() -> None:
    first = Identity(embeddings=random_rows(1, seed=8), model_id="m")
    second = Identity(embeddings=random_rows(1, seed=9), model_id="m")
    only_first = average_identities([first, second], [1.0, 0.0])
    np.testing.assert_allclose(only_first.embeddings[0], first.embeddings[0], atol=1e-6)
    leaning = average_identities([first, second], [1.0, 4.0])
    assert similarity(leaning, second) > similarity(leaning, first)
    equal = average_identities([first, second])
    assert similarity(equal, first) == pytest.approx(similarity(equal, second), abs=1e-6)


@pytest.mark.parametrize("weights", [[0.0, 0.0], [1.0, -0.5], [-1.0, -1.0], [1.0]])
def test_average_rejects_bad_weights(weights: list[float]) -> None:
    identities = [Identity(embeddings=random_rows(1, seed=s), model_id="m") for s in (10, 11)]
    with pytest.raises(InvalidArgumentError):
        average_identities(identities, weights)


def test_average_rejects_no_identities_and_rows_that_cancel() -> None:
    with pytest.raises(InvalidArgumentError):
        average_identities([])
    row = random_rows(1, seed=12)
    with pytest.raises(InvalidArgumentError, match="cancel"):
        average_identities([Identity(embeddings=row, model_id="m"), Identity(embeddings=-row, model_id="m")])


@pytest.mark.parametrize("difference", ["model", "dimension"])
def test_incompatible_identities_are_refused_everywhere(difference: str) -> None:
    base = Identity(embeddings=random_rows(2, seed=13), model_id=W600K_R50_SPACE)
    if difference == "model":
        other = Identity(embeddings=random_rows(2, seed=14), model_id="w600k_mbf@0badc0de")
    else:
        other = Identity(embeddings=random_rows(2, dimension=128, seed=14), model_id=W600K_R50_SPACE)
    for operation in (
        lambda: similarity(base, other),
        lambda: similarity_matrix(base, other),
        lambda: average_identities([base, other]),
        lambda: concatenate_identities([base, other]),
    ):
        with pytest.raises(IncompatibleIdentitiesError) as caught:
            operation()
        assert base.model_id in str(caught.value) and other.model_id in str(caught.value)


def test_concatenate_keeps_rows_in_order() -> None:
    a = Identity(embeddings=random_rows(2, seed=15), model_id="m", image_indices=np.array([0, 1]))
    b = Identity(embeddings=random_rows(1, seed=16), model_id="m", weights=np.array([3.0]))
    joined = concatenate_identities([a, b])
    np.testing.assert_array_equal(joined.embeddings, np.concatenate([a.embeddings, b.embeddings]))
    np.testing.assert_array_equal(joined.weights, [1.0, 1.0, 3.0])
    np.testing.assert_array_equal(joined.image_indices, [0, 1, -1])


def test_verdict_bands() -> None:
    threshold = 0.4
    assert verdict(0.9, threshold) == "same person"
    assert verdict(threshold, threshold) == "same person"
    assert verdict(threshold - UNCERTAIN_MARGIN / 2, threshold) == "uncertain"
    assert verdict(threshold - UNCERTAIN_MARGIN * 1.5, threshold) == "different people"
    assert verdict(-0.3, threshold) == "different people"
    assert verdict(0.5, 0.6) == "different people" and verdict(0.58, 0.6) == "uncertain"


def test_default_threshold_for_w600k_r50() -> None:
    assert match_threshold(W600K_R50_SPACE) == DEFAULT_MATCH_THRESHOLD == 0.4
    assert match_threshold("some_other_model@12345678") == DEFAULT_MATCH_THRESHOLD


# --- Identity invariants -----------------------------------------------------------------------------------------


def test_identity_rows_are_unit_length_and_raw_norms_kept() -> None:
    raw = random_rows(4, seed=30)
    identity = Identity(embeddings=raw, model_id="m")
    np.testing.assert_allclose(np.linalg.norm(identity.embeddings, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(identity.norms, np.linalg.norm(raw.astype(np.float64), axis=1), rtol=1e-6)
    np.testing.assert_allclose(identity.raw_embeddings(), raw, rtol=1e-5, atol=1e-5)
    assert identity.embeddings.dtype == np.float32 and identity.dimension == 512 and len(identity) == 4


def test_identity_arrays_are_read_only_and_copies() -> None:
    raw = random_rows(2, seed=31)
    identity = Identity(embeddings=raw, model_id="m")
    raw[:] = 0  # the caller's array changing later must not change the identity
    assert np.all(np.isfinite(identity.embeddings)) and np.abs(identity.embeddings).sum() > 0
    for field in ("embeddings", "weights", "norms", "image_indices", "face_indices", "bboxes", "landmarks"):
        with pytest.raises(ValueError):
            getattr(identity, field)[0] = 1
    with pytest.raises(AttributeError):
        identity.model_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Identity(embeddings=np.vstack([random_rows(1, seed=32), np.zeros((1, 512), np.float32)]), model_id="m"),
        lambda: Identity(embeddings=np.full((1, 8), np.nan, np.float32), model_id="m"),
        lambda: Identity(embeddings=np.zeros((0, 512), np.float32), model_id="m"),
        lambda: Identity(embeddings=random_rows(1, seed=33), model_id=""),
        lambda: Identity(embeddings=random_rows(2, seed=34), model_id="m", weights=np.array([1.0, -1.0])),
        lambda: Identity(embeddings=random_rows(2, seed=35), model_id="m", weights=np.array([0.0, 0.0])),
        lambda: Identity(embeddings=random_rows(2, seed=36), model_id="m", weights=np.array([1.0])),
    ],
    ids=["zero-row", "nan", "no-rows", "no-model-id", "negative-weight", "zero-weights", "weights-shape"],
)
def test_invalid_identities_are_refused(build: object) -> None:
    with pytest.raises(InvalidArgumentError):
        build()  # type: ignore[operator]


def test_centroid_and_select() -> None:
    rows = random_rows(3, seed=37)
    identity = Identity(embeddings=rows, model_id="m", weights=np.array([2.0, 1.0, 1.0]))
    expected = unit((identity.embeddings.astype(np.float64) * np.array([2.0, 1.0, 1.0])[:, None]).sum(axis=0))
    np.testing.assert_allclose(identity.centroid(), expected, atol=1e-6)
    picked = identity.select([2, 0])
    np.testing.assert_array_equal(picked.embeddings, identity.embeddings[[2, 0]])
    np.testing.assert_array_equal(picked.weights, [1.0, 2.0])


# --- batch helpers: outlier rejection and per-image consistency ------------------------------------------------


def clustered_rows(count: int, centre_seed: int, spread: float, seed: int, dimension: int = 64) -> np.ndarray:
    centre = unit(np.random.default_rng(centre_seed).normal(size=dimension))
    return (centre + spread * np.random.default_rng(seed).normal(size=(count, dimension)) / np.sqrt(dimension)).astype(np.float32)


def test_drop_outlier_rows_removes_the_stranger_and_averages_the_rest() -> None:
    from face_identity.compare import drop_outlier_rows

    person = Identity(embeddings=clustered_rows(4, centre_seed=40, spread=0.3, seed=41), model_id="m")
    stranger = Identity(embeddings=clustered_rows(1, centre_seed=42, spread=0.3, seed=43), model_id="m")

    cleaned, dropped = drop_outlier_rows([person, stranger], None, min_similarity=0.6)

    assert dropped == 1
    np.testing.assert_allclose(cleaned.embeddings[0], average_identities([person]).embeddings[0], atol=1e-6)


def test_drop_outlier_rows_keeps_the_best_row_when_all_disagree() -> None:
    from face_identity.compare import drop_outlier_rows

    rows = Identity(embeddings=np.array([[1.0, 0.0, 0.0], [0.3, 1.0, 0.2], [0.0, 0.0, 1.0]], np.float32), model_id="m")
    cleaned, dropped = drop_outlier_rows([rows], None, min_similarity=0.99)
    assert dropped == 2 and len(cleaned) == 1
    centre = average_identities([rows]).embeddings[0]
    best = int(np.argmax(rows.embeddings @ centre))
    np.testing.assert_allclose(cleaned.embeddings[0], rows.embeddings[best], atol=1e-6)


def test_consistency_scores_take_each_images_best_face() -> None:
    from face_identity.compare import consistency_scores

    reference = Identity(embeddings=clustered_rows(2, centre_seed=50, spread=0.2, seed=51), model_id="m")
    near = clustered_rows(2, centre_seed=50, spread=0.5, seed=52)
    far = clustered_rows(1, centre_seed=53, spread=0.1, seed=54)
    faces = Identity(
        embeddings=np.vstack([far, near[0], near[1]]),
        model_id="m",
        image_indices=np.array([0, 0, 2]),
        face_indices=np.array([0, 1, 0]),
    )

    result = consistency_scores(reference, faces, image_count=4, threshold=0.5)

    expected = cosine_matrix(faces.embeddings, reference.centroid()[None, :])[:, 0]
    assert result.scores[0] == pytest.approx(max(expected[0], expected[1])) and result.best_faces[0] == 1
    assert result.scores[2] == pytest.approx(expected[2]) and result.best_faces[2] == 0
    np.testing.assert_array_equal(result.has_face, [True, False, True, False])
    np.testing.assert_array_equal(result.best_faces[[1, 3]], [-1, -1])
    np.testing.assert_array_equal(result.passed, result.has_face & (result.scores >= 0.5))
    assert result.best_image == int(np.argmax(np.where(result.has_face, result.scores, -np.inf)))
    with pytest.raises(IncompatibleIdentitiesError):
        consistency_scores(reference, Identity(embeddings=far, model_id="other"), 1, 0.5)
    empty = consistency_scores(reference, None, image_count=2, threshold=0.5)
    assert not empty.has_face.any() and empty.best_image == 0
