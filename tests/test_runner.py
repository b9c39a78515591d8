"""The one model runner (``face_identity.runner``): one options value, one tolerance rule, the facts check, the probe."""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from face_identity import runner as runner_module
from face_identity.detect import load_detector, load_face_detector, load_torch_detector
from face_identity.devtools import synthetic, synthetic_masks
from face_identity.embed import load_recognizer
from face_identity.errors import InvalidArgumentError, ModelConversionError, ModelMismatchError
from face_identity.face_models import load_face_model
from face_identity.io_facts import IOFacts, check_io
from face_identity.runner import TORCH_MATCH_TOLERANCE, LoadKeywords, LoadOptions, ModelRunner, load_options, probe_difference
from face_identity.runtime import open_session
from face_identity.swap import load_swapper


def test_one_options_value_and_the_old_keywords_give_the_same_loader(tiny_recognizer_path: Path) -> None:
    by_keywords = load_recognizer(tiny_recognizer_path, providers="cpu", batch_size=3)
    by_options = load_recognizer(tiny_recognizer_path, (), LoadOptions(providers="cpu"), batch_size=3)
    assert isinstance(by_options.backend, ModelRunner) and by_options.backend.name == by_keywords.backend.name
    crops = np.random.default_rng(1).integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_array_equal(by_options.embed_crops(crops).raw, by_keywords.embed_crops(crops).raw)
    assert load_options(LoadOptions(providers="cpu"), {"strict": True}) == LoadOptions(providers="cpu", strict=True)
    assert set(LoadKeywords.__annotations__) == {option.name for option in fields(LoadOptions)}  # one list, as keywords too
    assert LoadOptions(providers=["CPUExecutionProvider"]).providers == ("CPUExecutionProvider",)
    with pytest.raises(InvalidArgumentError, match="unknown loader option"):
        load_options(None, {"provider": "cpu"})
    with pytest.raises(InvalidArgumentError, match="unknown backend"):
        load_recognizer(tiny_recognizer_path, providers="cpu", backend="tensorflow")


def test_one_tolerance_rule_for_every_kind() -> None:
    from face_identity import face_models, swap
    from face_identity.swap import backends

    assert swap.TORCH_MATCH_TOLERANCE is TORCH_MATCH_TOLERANCE is backends.TORCH_MATCH_TOLERANCE
    assert not hasattr(face_models, "TORCH_MATCH_TOLERANCE")
    assert set(TORCH_MATCH_TOLERANCE) == {"float32", "float16", "bfloat16"}
    small = np.array([[0.0, 0.5]], np.float32)  # a range under 1: the difference counts as it is
    assert probe_difference([small], [small + 0.01]) == pytest.approx(0.01)
    wide = np.array([[0.0, 50.0]], np.float32)  # a wider range: the difference relative to it
    assert probe_difference([wide], [wide + 0.5]) == pytest.approx(0.01)
    assert probe_difference([wide], [wide[:, :1]]) == np.inf
    assert probe_difference([wide, small], [wide * np.nan, small]) == np.inf  # NaN never passes, whatever follows


def test_a_file_that_differs_from_its_facts_is_refused_naming_what_differs(tmp_path: Path) -> None:
    path = synthetic_masks.build_restorer_like(tmp_path / "gfpgan_1.4.onnx", size=64)
    with pytest.raises(ModelMismatchError, match=r"gfpgan_1\.4\.onnx does not match the gfpgan_1\.4 facts.*axis 2: 64, not 512"):
        load_face_model(path, "restorer", providers="cpu")
    swapper_path = synthetic.build_embedding_swapper_like(tmp_path / "other.onnx", size=128)
    with pytest.raises(ModelMismatchError, match="other.onnx does not match the hyperswap facts.*128, not 256"):
        load_swapper(swapper_path, family="hyperswap", providers="cpu", allow_download=False)
    model = open_session(swapper_path, "cpu")
    check_io(model, IOFacts("the test facts", {"target": (None, 3, 128, 128), "source": (None, 512)}, ((None, 3, 128, 128),)))
    with pytest.raises(ModelMismatchError, match="no input 'image'"):
        check_io(model, IOFacts("the test facts", {"image": (None, 3, 128, 128)}))
    with pytest.raises(ModelMismatchError, match="rank 2"):
        check_io(model, IOFacts("the test facts", outputs=((None, 3),)))


class WrongGraph:
    """A stand-in conversion whose outputs are all zeros: the probe must catch it."""

    def __init__(self, graph: object) -> None:
        self.inner = graph
        self.input_names = graph.input_names  # type: ignore[attr-defined]
        self.device, self.dtype = graph.device, graph.dtype  # type: ignore[attr-defined]

    def __call__(self, *inputs: object) -> list[object]:
        return [output * 0 + 3 for output in self.inner(*inputs)]  # type: ignore[operator]


def test_recognizer_and_detector_conversions_are_probe_checked(
    tiny_recognizer_path: Path, scrfd_like_dynamic_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("torch")
    from face_identity import convert

    real = convert.convert_model
    monkeypatch.setattr(convert, "convert_model", lambda *arguments, **options: WrongGraph(real(*arguments, **options)))
    with pytest.raises(ModelConversionError, match="differs from onnxruntime"):
        load_recognizer(tiny_recognizer_path, providers="cpu", backend="torch", device="cpu")
    with pytest.raises(ModelConversionError, match="differs from onnxruntime"):
        load_torch_detector(load_detector(scrfd_like_dynamic_path, providers="cpu"), device="cpu", cache=False)
    with caplog.at_level(logging.WARNING, logger="face_identity.runner"):
        kept = load_face_detector(scrfd_like_dynamic_path, providers="cpu", backend="auto", device="meta")
    assert kept.backend.name == "onnxruntime" and "using onnxruntime instead" in caplog.text


def test_torch_detector_through_the_runner_releases_its_session(scrfd_like_dynamic_path: Path) -> None:
    pytest.importorskip("torch")
    detector = load_face_detector(scrfd_like_dynamic_path, providers="cpu", backend="torch", device="cpu")
    assert detector.backend.name == "torch" and not detector.model.has_session
    assert runner_module.converted_graphs(detector) == [detector.backend.graph]
    image = np.random.default_rng(3).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    reference = load_detector(scrfd_like_dynamic_path, providers="cpu")
    assert len(detector.detect(image)) == len(reference.detect(image))


def test_every_swapper_family_follows_the_onnxruntime_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only inswapper: an embedding-driven swapper also runs its conversion without onnxruntime, and keeps no session."""
    pytest.importorskip("torch")
    import sys

    path = synthetic.build_embedding_swapper_like(tmp_path / "hyper.onnx", size=256, mask=True)
    converted = load_swapper(path, family="hyperswap", providers="cpu", backend="torch", device="cpu", allow_download=False)
    assert converted.backend.name == "torch" and not converted.model.has_session  # compared, then released
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    alone = load_swapper(path, family="hyperswap", backend="auto", device="cpu", allow_download=False)
    assert alone.backend.name == "torch" and "onnxruntime not installed" in alone.backend.report()
    crops = np.random.default_rng(5).random((3, 256, 256, 3), dtype=np.float32)
    rows = np.random.default_rng(6).normal(size=(3, 512)).astype(np.float32)
    np.testing.assert_allclose(alone.swap_crops(crops, rows), converted.swap_crops(crops, rows), atol=1e-5)
