"""Issue 23, class 6: every input that contributes nothing is named in the output (summary, CLI text, log).

One table of inputs that contribute nothing, each run through the CLI command that takes it (with
the small real models); plus the library functions that collect them, model-free.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from face_identity.calibrate import labelled_images, read_pairs
from face_identity.cli import main
from face_identity.score import expand_dataset
from face_identity.score.references import gallery_members


@pytest.fixture(scope="module")
def models(real_models: dict[str, Path]) -> list[str]:
    return ["--detector", str(real_models["scrfd"]), "--recognizer", str(real_models["mbf_int8"]), "--providers", "cpu"]


def link(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source, target)
    return target


def _grey(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((120, 160, 3), 128, np.uint8))


def _score_setup(root: Path, faces: Path) -> list[str]:
    """A gallery with two good members, an empty member folder, a member whose only photo has no face and a
    notes file; a dataset of one good folder and one folder without images."""
    gallery, dataset = root / "gallery", root / "dataset"
    link(faces / "barack_obama" / "face_recognition_obama.jpg", gallery / "obama" / "1.jpg")
    link(faces / "joe_biden" / "face_recognition_biden.jpg", gallery / "biden.jpg")
    (gallery / "nobody").mkdir()
    _grey(gallery / "faceless" / "grey.png")
    (gallery / "notes.txt").write_text("who is who")
    link(faces / "barack_obama" / "face_recognition_obama2.jpg", dataset / "photos" / "a.jpg")
    (dataset / "empty").mkdir(parents=True)
    (dataset / "empty" / "readme.txt").write_text("no images here")
    return ["score", str(dataset / "photos"), str(dataset / "empty"), "--gallery", str(gallery), "--out", str(root / "s.csv")]


def _calibrate_setup(root: Path, faces: Path) -> list[str]:
    """Two identities, an identity subfolder with no images, and an image outside the subfolders (no label)."""
    folder = root / "people"
    for person in ("barack_obama", "joe_biden"):
        for photo in sorted((faces / person).iterdir())[:2]:
            link(photo, folder / person / photo.name)
    (folder / "empty_person").mkdir()
    link(faces / "isaac_newton" / "newton.png", folder / "loose.png")
    return ["calibrate", str(folder)]


SILENT_DROPS: list[tuple[str, Callable[[Path, Path], list[str]], list[tuple[str, str]]]] = [
    (
        "score",
        _score_setup,
        [
            ("gallery/nobody", "a member folder with no images"),
            ("grey.png", "no face"),
            ("gallery/faceless", "none of its 1 file(s) could be used"),
            ("notes.txt", "neither an image nor an identity file"),
            ("dataset/empty", "a folder with no images"),
        ],
    ),
    (
        "calibrate",
        _calibrate_setup,
        [("people/empty_person", "an identity subfolder with no images"), ("loose.png", "outside the identity subfolders")],
    ),
]


@pytest.mark.parametrize("setup, expected", [row[1:] for row in SILENT_DROPS], ids=[row[0] for row in SILENT_DROPS])
def test_inputs_that_contribute_nothing_are_named_in_json_text_and_log(
    tmp_path: Path,
    shared_data: Path,
    models: list[str],
    setup: Callable[[Path, Path], list[str]],
    expected: list[tuple[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = setup(tmp_path, shared_data / "faces") + models
    assert main([*argv, "--json", *(["--no-progress"] if argv[0] == "score" else [])]) == 0
    captured = capsys.readouterr()
    payload: dict[str, Any] = json.loads([line for line in captured.out.splitlines() if line.startswith("{")][-1])
    named = [(entry["input"], entry["reason"]) for entry in payload["left_out"]]
    assert main(argv + (["--no-progress"] if argv[0] == "score" else [])) == 0
    text = capsys.readouterr()
    for where, why in expected:
        assert any(where in item and why in reason for item, reason in named), (where, named)
        assert any(where in line and why in line for line in text.out.splitlines() if line.startswith("left out: ")), text.out
        assert where in captured.err and why in captured.err  # the log (stderr)


def test_library_collects_what_contributes_nothing(tmp_path: Path) -> None:
    (tmp_path / "data" / "empty").mkdir(parents=True)
    (tmp_path / "data" / "one.jpg").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("# nothing\n")
    left_out: list[tuple[str, str]] = []
    assert expand_dataset([tmp_path / "data", tmp_path / "data" / "empty", tmp_path / "list.txt"], left_out=left_out)
    assert [reason for _, reason in left_out] == [left_out[0][1], "lists no image paths"] and "no images" in left_out[0][1]
    gallery_left: list[tuple[str, str]] = []
    (tmp_path / "gallery" / "empty").mkdir(parents=True)
    (tmp_path / "gallery" / "ann.jpg").write_bytes(b"x")
    assert list(gallery_members(tmp_path / "gallery", gallery_left)) == ["ann"]
    assert gallery_left == [(str(tmp_path / "gallery" / "empty"), "a member folder with no images or identity files")]
    pairs = tmp_path / "pairs.csv"
    (tmp_path / "a.jpg").write_bytes(b"x")
    pairs.write_text("file_a,file_b,same\na.jpg,a.jpg,1\na.jpg,a.jpg,maybe\n\nonly_one_column\n")
    pairs_left: list[tuple[Path, str]] = []
    assert len(read_pairs(pairs, tmp_path, pairs_left)) == 1
    assert [str(path) for path, _ in pairs_left] == [f"{pairs}:3", f"{pairs}:5"]
    labels_left: list[tuple[Path, str]] = []
    (tmp_path / "people" / "p").mkdir(parents=True)
    (tmp_path / "people" / "p" / "1.jpg").write_bytes(b"x")
    (tmp_path / "people" / "q").mkdir()
    assert labelled_images(tmp_path / "people", labels_left) == [(tmp_path / "people" / "p" / "1.jpg", "p")]
    assert labels_left == [(tmp_path / "people" / "q", "an identity subfolder with no images")]


def test_identity_average_node_names_inputs_of_weight_zero(pack: Any) -> None:
    """The node's info output names an input that contributes nothing (weight 0) instead of counting it as used."""
    node = pack.NODE_CLASS_MAPPINGS["FaceIdentity_IdentityAverage"]()
    make = pack.face_identity.Identity
    first = make(embeddings=np.array([[1.0, 0.0, 0.0]], np.float32), model_id="m")
    second = make(embeddings=np.array([[0.0, 1.0, 0.0], [0.0, 0.9, 0.1]], np.float32), model_id="m")
    identity, info = node.average(first, 1.0, -1.0, second, 0.0)
    assert "averaged 1 row(s) from 1 input(s)" in info and "identity_2 left out (weight 0)" in info
    np.testing.assert_allclose(identity.embeddings[0], [1.0, 0.0, 0.0], atol=1e-6)
    _, info = node.average(first, 1.0, 0.5, second, 0.0)
    assert "dropped 0 below 0.50" in info and "identity_2 left out (weight 0)" in info
