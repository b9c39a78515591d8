"""Issue 23, class 4: one number policy (validate.check_number / check_integer / check_index_list) for the CLI,
the library, the nodes' index lists, the FaceID analyser and every stored field of an identity file.

Tables: CLI options; library values; identity files; FaceID ``det_model`` settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from face_identity.cli import build_parser
from face_identity.compare import verdict
from face_identity.detect import DetectionSettings
from face_identity.errors import IdentityFileError, InvalidArgumentError
from face_identity.select import FaceSelection, parse_index_list, select_faces
from face_identity.store import load_identity, save_identity
from face_identity.swap.targets import TargetSelection
from face_identity.types import Identity

CLI_REFUSED = [
    ("compare_threshold_nan", "compare a b --threshold nan", "--threshold is nan"),
    ("compare_threshold_inf", "compare a b --threshold inf", "--threshold is inf"),
    ("compare_threshold_5", "compare a b --threshold 5", "--threshold is 5, outside its range"),
    ("score_threshold_nan", "score d --reference r --threshold nan", "--threshold is nan"),
    ("score_threshold_minus_2", "score d --reference r --threshold -2", "outside its range"),
    ("batch_size_minus_4", "analyze x --batch-size -4", "--batch-size is -4"),
    ("batch_size_0", "compare a b --batch-size 0", "--batch-size is 0"),
    ("batch_size_2_5", "analyze x --batch-size 2.5", "whole number"),
    ("det_size_640_5", "analyze x --det-size 640.5", "whole number"),
    ("det_size_huge", "analyze x --det-size 32768", "outside its range (32..4096)"),
    ("det_size_not_32", "analyze x --det-size 650", "multiples of 32"),
    ("det_thresh_nan", "analyze x --det-thresh nan", "--det-thresh is nan"),
    ("det_thresh_2", "score d --reference r --det-thresh 2", "outside its range"),
    ("max_faces_minus_1", "analyze x --max-faces -1", "--max-faces is -1"),
    ("min_size_nan", "analyze x --min-size nan", "--min-size is nan"),
    ("indices_1_1", "analyze x --indices 1,1", "names face 1 more than once"),
    ("actors_0", "score d --reference r --actors 0", "--actors is 0"),
    ("batch_images_0", "score d --reference r --batch-images 0", "--batch-images is 0"),
    ("decode_workers_minus_1", "score d --reference r --decode-workers -1", "--decode-workers is -1"),
]


@pytest.mark.parametrize("argv, message", [row[1:] for row in CLI_REFUSED], ids=[row[0] for row in CLI_REFUSED])
def test_cli_refuses_bad_numbers_as_usage_errors(argv: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser("face-identity").parse_args(argv.split())
    assert stopped.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, attribute, value",
    [
        ("analyze x --batch-size auto", "batch_size", None),
        ("analyze x", "batch_size", None),
        ("analyze x --batch-size 8", "batch_size", 8),
        ("compare a b --threshold -0.5", "threshold", -0.5),
        ("analyze x --det-size 640x480", "det_size", (640, 480)),
        ("analyze x --indices 2,0", "indices", (2, 0)),
        ("score d --reference r --actors auto", "actors", None),
    ],
)
def test_cli_keeps_good_numbers(argv: str, attribute: str, value: Any) -> None:
    assert getattr(build_parser("face-identity").parse_args(argv.split()), attribute) == value


def _identity(**fields: Any) -> Identity:
    return Identity(embeddings=np.ones((1, 4), np.float32), model_id="m", **fields)


LIBRARY_REFUSED: list[tuple[str, Callable[[], object], str]] = [
    ("verdict_threshold_nan", lambda: verdict(1.0, float("nan")), "threshold is nan"),
    ("verdict_threshold_5", lambda: verdict(1.0, 5.0), "threshold is 5"),
    ("verdict_similarity_inf", lambda: verdict(float("inf"), 0.4), "similarity is inf"),
    ("det_size_640_5", lambda: DetectionSettings(det_size=(640.5, 640)), "whole number"),  # type: ignore[arg-type]
    ("det_size_32768", lambda: DetectionSettings(det_size=(32768, 32768)), "32..4096"),
    ("det_size_true", lambda: DetectionSettings(det_size=(True, 640)), "whole number"),  # type: ignore[arg-type]
    ("score_threshold_nan", lambda: DetectionSettings(score_threshold=float("nan")), "score threshold is nan"),
    ("nms_threshold_inf", lambda: DetectionSettings(nms_threshold=float("inf")), "NMS threshold is inf"),
    ("index_list_text_1_1", lambda: parse_index_list("1,1"), "names face 1 more than once"),
    ("selection_indices_1_1", lambda: FaceSelection(indices=(1, 1)), "more than once"),
    ("select_faces_indices_0_0", lambda: select_faces([], indices=[0, 2, 0]), "names face 0 more than once"),
    ("swap_targets_1_1", lambda: TargetSelection(mode="indices", indices=(1, 1)), "more than once"),
    ("swap_targets_negative", lambda: TargetSelection(mode="indices", indices=(-1,)), "outside its range"),
    ("swap_threshold_nan", lambda: TargetSelection(threshold=float("nan")), "similarity threshold is nan"),
    ("selection_max_faces_1_5", lambda: FaceSelection(max_faces=1.5), "whole number"),  # type: ignore[arg-type]
    ("selection_min_size_nan", lambda: FaceSelection(min_size=float("nan")), "min size is nan"),
    ("identity_norms_inf", lambda: _identity(norms=np.array([np.inf])), "norms must be finite"),
    ("identity_norms_nan", lambda: _identity(norms=np.array([np.nan])), "norms must be finite"),
    ("identity_norms_negative", lambda: _identity(norms=np.array([-1.0])), "norms must be finite and >= 0"),
    ("identity_face_index_minus_5", lambda: _identity(face_indices=np.array([-5])), "face_indices must be >= 0"),
    ("identity_bbox_inf", lambda: _identity(bboxes=np.array([[0, 0, np.inf, 1]])), "bboxes hold infinity"),
    ("identity_landmarks_minus_inf", lambda: _identity(landmarks=np.full((1, 5, 2), -np.inf)), "landmarks hold infinity"),
]


@pytest.mark.parametrize("call, message", [row[1:] for row in LIBRARY_REFUSED], ids=[row[0] for row in LIBRARY_REFUSED])
def test_library_refuses_bad_numbers(call: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_unknown_fields_stay_allowed() -> None:
    identity = _identity(norms=np.array([0.0]), face_indices=np.array([-1]))  # 0 = unknown norm, -1 = unknown index
    assert np.isnan(identity.bboxes).all()  # NaN = unknown box
    assert DetectionSettings(det_size=(640.0, 4096)).det_size == (640, 4096)  # type: ignore[arg-type]


STORED_FIELDS = [
    ("norms_inf", "norms", np.array([np.inf], np.float32)),
    ("norms_nan", "norms", np.array([np.nan], np.float32)),
    ("weights_inf", "weights", np.array([np.inf], np.float32)),
    ("embeddings_nan", "embeddings", np.array([[np.nan, 1, 0, 0]], np.float32)),
    ("image_indices_minus_7", "image_indices", np.array([-7], np.int64)),
    ("bboxes_inf", "bboxes", np.array([[0, 0, np.inf, 4]], np.float32)),
    ("landmarks_inf", "landmarks", np.full((1, 5, 2), np.inf, np.float32)),
]


@pytest.mark.parametrize("field, values", [row[1:] for row in STORED_FIELDS], ids=[row[0] for row in STORED_FIELDS])
def test_identity_files_with_non_finite_stored_fields_are_refused_at_load(tmp_path: Path, field: str, values: Any) -> None:
    from safetensors import safe_open
    from safetensors.numpy import save_file

    good = save_identity(_identity(norms=np.array([2.0])), tmp_path / "good.safetensors")
    with safe_open(str(good), framework="np") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    tensors[field] = values
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=metadata)
    with pytest.raises(IdentityFileError, match="bad.safetensors holds an invalid identity"):
        load_identity(bad)


FACEID_SETTINGS = [
    ("input_size_640_5", "input_size", (640.5, 640), "whole number"),
    ("input_size_32768", "input_size", (32768, 32768), "outside its range (32..4096)"),
    ("input_size_single", "input_size", 640, "(width, height) pair"),
    ("input_size_not_32", "input_size", (650, 650), "multiples of 32"),
    ("det_thresh_nan", "det_thresh", float("nan"), "det_model.det_thresh is nan"),
    ("nms_thresh_2", "nms_thresh", 2.0, "det_model.nms_thresh is 2"),
]


@pytest.mark.parametrize(
    "attribute, value, message", [row[1:] for row in FACEID_SETTINGS], ids=[row[0] for row in FACEID_SETTINGS]
)
def test_faceid_analyser_applies_the_number_policy_to_det_model(
    scrfd_like_path: Path, tiny_recognizer_path: Path, attribute: str, value: Any, message: str
) -> None:
    from face_identity.detect import load_detector
    from face_identity.embed import load_recognizer
    from face_identity.faceid import FaceAnalysisCompat

    analyser = FaceAnalysisCompat(
        load_detector(scrfd_like_path, providers="cpu", allow_download=False),
        load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False),
        require_space=None,
    )
    setattr(analyser.det_model, attribute, value)
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        analyser.get(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize("batch_size", [0, -4, 2.5, True])
def test_recognizer_batch_size_must_be_a_positive_whole_number(tiny_recognizer_path: Path, batch_size: Any) -> None:
    from face_identity.embed import load_recognizer

    with pytest.raises(InvalidArgumentError, match="batch_size"):
        load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False, batch_size=batch_size)
