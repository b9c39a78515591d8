"""``face-identity identity``: build from real photos (outliers and unreadable photos named), show, average, ReActor export/import."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_cli import run_cli

from face_identity.catalog import W600K_R50_SPACE
from face_identity.cli import main
from face_identity.compare import UncalibratedThresholdWarning, match_threshold
from face_identity.store import identity_file_metadata, load_identity, save_identity
from face_identity.types import Identity


def _unit_rows(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, 512)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_build_drops_the_other_person_names_the_unreadable_photo_and_records_sources(
    shared_data: Path, real_models: dict[str, Path], tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in sorted((shared_data / "faces" / "barack_obama").iterdir())[:4]:
        shutil.copy(path, photos / path.name)
    shutil.copy(sorted((shared_data / "faces" / "angelina_jolie").iterdir())[0], photos / "zz_other.jpg")
    (photos / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "ids"
    out.mkdir()
    models = ["--detector", real_models["scrfd"], "--recognizer", real_models["mbf_int8"]]
    result = run_cli("identity", "build", "Barack Obama", photos, "--out", out, *models, home=tmp_path)
    assert result.returncode == 2, result.stderr  # a photo failed: said, the rest used
    lines = result.stderr.splitlines()
    assert lines[0].startswith("loading detector")  # something shows before the models load
    assert any("[1/6]" in line and "broken.jpg: skipped" in line for line in lines)
    assert any(line.startswith("dropped ") and "zz_other.jpg" in line for line in lines)
    assert "has no calibrated match threshold" in result.stderr  # mbf int8 is not w600k_r50: warned, once
    assert result.stderr.count("no calibrated match threshold") == 1
    written = out / "Barack Obama.safetensors"
    assert result.stdout.startswith(str(written)) and "4 of 6 photo(s)" in result.stdout
    sources = json.loads(identity_file_metadata(written)["sources"])
    assert [Path(source).name for source in sources] == sorted(p.name for p in photos.iterdir())[1:5]
    again = run_cli("identity", "build", "Barack Obama", photos, "--out", out, *models, home=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr  # never overwritten without --if-exists


def test_show_average_export_import_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _unit_rows(3, 0)
    first = Identity(embeddings=rows, model_id=W600K_R50_SPACE, norms=np.array([20.0, 22.0, 24.0], np.float32))
    save_identity(first, tmp_path / "a.safetensors", sources=["one.jpg", "two.jpg", "three.jpg"])
    save_identity(Identity(embeddings=_unit_rows(1, 1), model_id=W600K_R50_SPACE), tmp_path / "b.safetensors")

    assert main(["identity", "show", str(tmp_path / "a.safetensors"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model_id"] == W600K_R50_SPACE and shown["dimension"] == 512 and shown["rows"] == 3
    assert shown["norms"] == [20.0, 22.0, 24.0] and shown["sources"] == ["one.jpg", "two.jpg", "three.jpg"]

    assert (
        main(
            [
                "identity",
                "average",
                str(tmp_path / "a.safetensors"),
                str(tmp_path / "b.safetensors"),
                "--out",
                str(tmp_path / "m.safetensors"),
            ]
        )
        == 0
    )
    merged = load_identity(tmp_path / "m.safetensors")
    expected = np.concatenate([rows, _unit_rows(1, 1)]).mean(axis=0)
    np.testing.assert_allclose(merged.centroid(), expected / np.linalg.norm(expected), atol=1e-6)
    assert json.loads(identity_file_metadata(tmp_path / "m.safetensors")["sources"])[:3] == ["one.jpg", "two.jpg", "three.jpg"]
    capsys.readouterr()

    reactor = tmp_path / "reactor.safetensors"
    assert main(["identity", "export", str(tmp_path / "a.safetensors"), "--reactor", "--out", str(reactor)]) == 0
    assert main(["identity", "import", str(reactor), "--out", str(tmp_path / "back.safetensors")]) == 0
    back = load_identity(tmp_path / "back.safetensors")
    np.testing.assert_allclose(back.centroid(), first.centroid(), atol=1e-6)
    assert back.norms[0] == pytest.approx(22.0, rel=1e-5)  # the raw vector: unit centroid x mean raw norm
    assert main(["identity", "export", str(tmp_path / "a.safetensors"), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "--reactor" in capsys.readouterr().err
    assert main(["identity", "import", str(reactor), "--out", str(tmp_path / "back.safetensors")]) == 2  # exists
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["nan", "inf", "1.5", "-2", "x"])
def test_min_similarity_outside_its_range_is_refused(bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "identity",
                "average",
                str(tmp_path / "a.safetensors"),
                "--out",
                str(tmp_path / "m.safetensors"),
                "--min-similarity",
                bad,
            ]
        )
    assert exit_info.value.code == 2 and "--min-similarity" in capsys.readouterr().err


def test_an_uncalibrated_space_warns_and_w600k_r50_does_not() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert match_threshold(W600K_R50_SPACE) == 0.4
        assert match_threshold("some_model@1234") == 0.4
        assert match_threshold("some_model@1234", warn=False) == 0.4
    assert [type(w.message) for w in caught] == [UncalibratedThresholdWarning]
    assert "face-identity calibrate" in str(caught[0].message)
