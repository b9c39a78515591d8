"""The public API's coarse entry points: ``load_model``, ``choices``, ``compare``, ``render``, ``check``, ``save_identity``.

Each is a door onto the library's own functions; these tests pin that the door gives what the function
behind it gives, and refuses what it does not know. tests/test_layout.py checks the size of
``face_identity.__all__``, its page in docs/api.md, and that the nodes use nothing else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from face_identity import (
    Identity,
    InvalidArgumentError,
    check,
    choices,
    compare,
    load_identity,
    load_model,
    render,
    save_identity,
)
from face_identity.catalog import names_for_role
from face_identity.compare import UncalibratedThresholdWarning, similarity, similarity_matrix, verdict
from face_identity.detect import FaceDetector
from face_identity.draw import score_chart, similarity_chart
from face_identity.embed import load_recognizer
from face_identity.errors import IdentityFileError
from face_identity.masks import AREAS
from face_identity.select import FACE_ORDERS
from face_identity.store import load_identity as load_from_store


def identity(*rows: list[float], model_id: str = "space") -> Identity:
    return Identity(embeddings=np.asarray(rows, np.float32), model_id=model_id)


def test_load_model_hands_each_role_to_its_loader(tiny_recognizer_path: Path, scrfd_like_path: Path) -> None:
    detector = load_model(scrfd_like_path, "detector", providers="cpu", allow_download=False)
    assert isinstance(detector, FaceDetector) and detector.settings.score_threshold == 0.5
    tuned = detector.with_settings(score_threshold=0.3, det_size=(320, 320))
    assert tuned.settings.score_threshold == 0.3 and tuned.settings.det_size == (320, 320) and tuned.model is detector.model
    recognizer = load_model(tiny_recognizer_path, "recognizer", providers="cpu", allow_download=False, batch_size=3)
    direct = load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False, batch_size=3)
    assert (recognizer.model_id, recognizer.dimension, recognizer.batch_size) == (direct.model_id, direct.dimension, 3)
    with pytest.raises(InvalidArgumentError, match="unknown model role 'converter'"):
        load_model(tiny_recognizer_path, "converter")  # type: ignore[call-overload]
    with pytest.raises(InvalidArgumentError, match="unknown loader option"):
        load_model(tiny_recognizer_path, "recognizer", allow_download=False, providers="cpu", colour="blue")  # type: ignore[call-overload]


def test_choices_are_the_owning_modules_values() -> None:
    known = choices()
    assert known.face_orders == FACE_ORDERS and known.mask_areas == tuple(AREAS)
    assert known.names("detector") == names_for_role("detector") and known.names("no such role") == []
    first = known.names("recognizer")[0]
    assert known.spec(first).role == "recognizer" and known.spec_for_file(Path(known.spec(first).filename)) == known.spec(first)
    with pytest.raises(InvalidArgumentError, match="unknown model"):
        known.spec("no_such_model")
    with pytest.raises(AttributeError):
        known.face_orders = ()  # type: ignore[misc]  # frozen


def test_compare_is_similarity_matrix_and_verdict() -> None:
    a, b = identity([1.0, 0.0], [0.8, 0.6]), identity([0.6, 0.8])
    result = compare(a, b, 0.5)
    assert result.score == pytest.approx(similarity(a, b))
    np.testing.assert_array_equal(result.matrix, similarity_matrix(a, b))
    assert result.verdict == verdict(result.score, 0.5) and result.match == (result.score >= 0.5)
    with pytest.warns(UncalibratedThresholdWarning):  # no threshold: the space's (0.4, with a warning for this one)
        assert compare(a, a).threshold == pytest.approx(0.4)
    with pytest.raises(InvalidArgumentError, match="threshold"):
        compare(a, b, float("nan"))


def test_render_draws_what_the_named_function_draws() -> None:
    matrix = np.array([[0.9, 0.1]], np.float32)
    np.testing.assert_array_equal(render("similarity", matrix, 0.4), similarity_chart(matrix, 0.4))
    np.testing.assert_array_equal(
        render("scores", [0.5, 0.2], 0.4, [True, False], 0), score_chart([0.5, 0.2], 0.4, [True, False], 0)
    )
    with pytest.raises(InvalidArgumentError, match="unknown picture 'pie'"):
        render("pie")  # type: ignore[call-overload]


def test_check_applies_the_rule_of_its_kind() -> None:
    assert check("number", "0.5", "blend", "Face Restore", 0.0, 1.0) == 0.5
    with pytest.raises(InvalidArgumentError, match="Face Restore"):
        check("number", 2.0, "blend", "Face Restore", 0.0, 1.0)
    assert check("indices", "2, 0") == [2, 0] and check("indices", " ") is None
    with pytest.raises(InvalidArgumentError, match="twice|once"):
        check("indices", "1,1")
    assert check("identity name", " Jane Doe ") == "Jane Doe.safetensors"
    with pytest.raises(IdentityFileError):
        check("identity name", "../escape")
    with pytest.raises(InvalidArgumentError, match="unknown check"):
        check("colour", "red")  # type: ignore[call-overload]


def test_save_identity_writes_either_format(tmp_path: Path) -> None:
    ours = identity([1.0, 0.0], [0.0, 1.0])
    path = save_identity(ours, tmp_path / "two.safetensors")
    assert len(load_identity(path)) == 2
    reactor = Identity(embeddings=np.eye(1, 512, dtype=np.float32), model_id="arcface_w600k_r50")
    written = save_identity(reactor, tmp_path / "reactor.safetensors", file_format="reactor")
    assert len(load_from_store(written)) == 1 and load_from_store(written).model_id == "arcface_w600k_r50"
    with pytest.raises(IdentityFileError, match="w600k_r50"):
        save_identity(ours, tmp_path / "no.safetensors", file_format="reactor")
    with pytest.raises(InvalidArgumentError, match="unknown identity file format"):
        save_identity(ours, tmp_path / "no.safetensors", file_format="json")
