"""Messages that say what to do: a model file that does not fit names what is supported and the next command.

One table: the call, the words the message must contain, and the words it must not (the empty
"known models: ." list, the old dead end "Pick a detector model file").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import run_cli

from face_identity import MaskSpec
from face_identity.catalog import get_spec
from face_identity.detect import load_detector
from face_identity.download import resolve_model
from face_identity.embed import load_recognizer
from face_identity.errors import FaceIdentityError
from face_identity.face_models import load_face_model
from face_identity.swap import load_swapper

DETECTOR_HINT = ("SCRFD / RetinaFace-10g", "YOLOFace-8n", "retinaface_10g", "`face-identity download retinaface_10g`")
RECOGNIZER_HINT = ("ArcFace-style", "arcface_w600k_r50", "`face-identity download arcface_w600k_r50`")
CATALOG_HINT = ("detector: retinaface_10g, scrfd_2.5g, yoloface_8n", "`face-identity models`", "`face-identity download NAME`")
KINDS = ("landmarker_pfld (landmarks_68_pfld)", "restorer (gfpgan_1.4", "occluder (xseg_1")
NEVER = ("known models: .", "Pick a detector model file", "Pick a recognizer model file")

Call = Callable[[Path], object]
CASES: list[tuple[str, Call, tuple[str, ...]]] = [
    (
        "yunet as detector",
        lambda m: load_detector(m / "face_detection_yunet_2026may.onnx", providers="cpu", allow_download=False),
        ("is not a face detector", "YuNet", "not supported", *DETECTOR_HINT),
    ),
    (
        "retinaface-mnet as detector",
        lambda m: load_detector(m / "retinaface_mnet025_640.onnx", providers="cpu", allow_download=False),
        ("RetinaFace-mobilenet", "not supported", *DETECTOR_HINT),
    ),
    (
        "recognizer as detector",
        lambda m: load_detector(m / "w600k_mbf_int8_dynamic.onnx", providers="cpu", allow_download=False),
        ("is a face recognizer (embedding model), not a face detector", *DETECTOR_HINT),
    ),
    (
        "landmarker as recognizer",
        lambda m: load_recognizer(m / "landmarks_68_pfld.onnx", providers="cpu", allow_download=False),
        ("68-point landmarker", "landmarker_pfld", *RECOGNIZER_HINT),
    ),
    (
        "detector as recognizer",
        lambda m: load_recognizer(m / "scrfd_2.5g_bnkps_640.onnx", providers="cpu", allow_download=False),
        ("is a face detector, not a face recognizer", *RECOGNIZER_HINT),
    ),
    (
        "recognizer as swapper",
        lambda m: load_swapper(m / "w600k_mbf_int8_dynamic.onnx", providers="cpu", allow_download=False),
        ("not a face swapper", "Supported swappers", "inswapper_128", "`face-identity download inswapper_128`"),
    ),
    (
        "a kind that does not exist",
        lambda m: load_face_model(m / "landmarks_68_pfld.onnx", "landmarks", allow_download=False),  # type: ignore[arg-type]
        ("unknown model kind 'landmarks'", *KINDS),
    ),
    (
        "a model of another kind",
        lambda m: load_face_model(m / "landmarks_68_pfld.onnx", "restorer", allow_download=False),
        ("landmarks_68_pfld is a landmarker_pfld model, not a restorer", "restorer models: gfpgan_1.4", *KINDS),
    ),
    (
        "a renamed file",
        lambda m: load_face_model(m / "mask.onnx", "occluder", allow_download=False),
        ("no model facts for", "occluder models: xseg_1, xseg_2, xseg_3", "facts=facts_for('xseg_1')", "`face-identity models`"),
    ),
    (
        "a region mask without a parser",
        lambda m: MaskSpec(types=("region",)),
        ("needs a face parser model", "bisenet_resnet_34, bisenet_resnet_18", "`face-identity download bisenet_resnet_34`"),
    ),
    (
        "an occlusion mask without an occluder",
        lambda m: MaskSpec(types=("occlusion",)),
        ("needs an occluder model", "xseg_1, xseg_2, xseg_3", "load_face_model(NAME, 'occluder')"),
    ),
    ("an unknown catalog name", lambda m: get_spec("retinaface_mnet"), ("unknown model 'retinaface_mnet'", *CATALOG_HINT)),
    (
        "a missing file",
        lambda m: resolve_model(m / "missing.onnx", allow_download=False),
        ("neither a file nor a catalog name", *CATALOG_HINT),
    ),
]


@pytest.mark.parametrize(("case", "call", "expected"), CASES, ids=[case for case, _, _ in CASES])
def test_message_lists_what_is_supported_and_the_next_command(
    shared_data: Path, case: str, call: Call, expected: tuple[str, ...]
) -> None:
    with pytest.raises(FaceIdentityError) as caught:
        call(shared_data / "models")
    message = str(caught.value)
    missing = [words for words in expected if words not in message]
    assert not missing, f"{case}: {missing} not in: {message}"
    assert not [words for words in NEVER if words in message], message


@pytest.mark.parametrize("detector", ["face_detection_yunet_2026may.onnx", "retinaface_mnet025_640.onnx"])
def test_cli_names_the_supported_detectors(
    shared_data: Path, real_models: dict[str, Path], tmp_path: Path, detector: str
) -> None:
    photo = shared_data / "groups" / "insightface_t1.jpg"
    result = run_cli(
        "analyze", photo, "--detector", shared_data / "models" / detector, "--recognizer", real_models["mbf_int8"], home=tmp_path
    )
    assert result.returncode != 0
    assert all(words in result.stderr for words in DETECTOR_HINT), result.stderr


def test_identity_build_without_any_face_says_how_to_look(real_models: dict[str, Path], tmp_path: Path) -> None:
    import numpy as np

    from face_identity.images import save_image

    blank = save_image(tmp_path / "wall.png", np.full((160, 160, 3), 200, np.uint8))
    result = run_cli(
        "identity", "build", "Nobody", blank, "--out", tmp_path, "--detector", real_models["scrfd"],
        "--recognizer", real_models["mbf_int8"], home=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0 and not (tmp_path / "Nobody.safetensors").exists()
    assert "nothing was saved" in result.stderr and "`face-identity analyze PHOTO...`" in result.stderr, result.stderr
    assert "--det-thresh" in result.stderr


@pytest.mark.parametrize("role", ["detector", "recognizer", "swapper"])
def test_hints_name_only_commands_and_options_that_exist(role: str) -> None:
    import re

    from face_identity.catalog import names_for_role
    from face_identity.cli import build_parser
    from face_identity.model_hints import role_hint

    hint = role_hint(role)  # type: ignore[arg-type]
    for option, value in re.findall(r"`(--[\w-]+) (\S+)`", hint):
        build_parser().parse_args(["analyze", "x.jpg", option, value])  # exits 2 on an unknown option
    (download,) = re.findall(r"`face-identity download (\S+)`", hint)
    assert download in names_for_role(role)  # type: ignore[arg-type]
    assert build_parser().parse_args(["download", download]).names == [download]


def test_a_role_stands_for_its_kinds(shared_data: Path) -> None:
    """``landmarker`` (the role) accepts each of its three kinds: the PFLD file loads without naming ``landmarker_pfld``."""
    model = load_face_model(shared_data / "models" / "landmarks_68_pfld.onnx", "landmarker", allow_download=False)
    assert model.facts.kind == "landmarker_pfld"
