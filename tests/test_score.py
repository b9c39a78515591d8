"""``face-identity score``: dataset scoring with the small real models, both engines, resume, reports, copies."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from face_identity.cli import main
from face_identity.errors import InvalidArgumentError
from face_identity.score import (
    ResultStore,
    apply_threshold,
    copy_passed,
    draw_histogram,
    expand_dataset,
    plan_actors,
    read_rows,
    summarize,
)
from face_identity.score.output import parquet_available
from face_identity.score.rows import COLUMNS, empty_row

THRESHOLD = 0.33
"""Below every same-person pair (min 0.369) and above every different-person pair (max 0.265) of faces/
for w600k_mbf_int8 with SCRFD-2.5G (../shared/data/README.md), with one photo as the reference."""
OBAMA = ("face_recognition_obama.jpg", "face_recognition_obama2.jpg")


def score(*args: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """Run ``score`` in this process with ``--json``; (exit status, the printed summary JSON)."""
    status = main(["score", *map(str, args), "--json", "--no-progress"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return status, (json.loads(lines[-1]) if lines else {})


@pytest.fixture(scope="module")
def models(real_models: dict[str, Path]) -> list[str]:
    return ["--detector", real_models["scrfd"], "--recognizer", real_models["mbf_int8"], "--providers", "cpu"]


def link(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source, target)
    return target


@pytest.fixture
def small_dataset(tmp_path: Path, shared_data: Path) -> Path:
    """Obama's 4 photos, Biden's 2, Newton, Gauss; an unreadable .jpg; a face-less image (in a sub-folder)."""
    folder = tmp_path / "dataset"
    faces = shared_data / "faces"
    for person in ("barack_obama", "joe_biden"):
        for image in sorted((faces / person).iterdir()):
            link(image, folder / person / image.name)
    link(faces / "isaac_newton" / "newton.png", folder / "painters" / "newton.png")
    link(faces / "carl_friedrich_gauss" / "gauss.png", folder / "painters" / "gauss.png")
    (folder / "broken").mkdir()
    (folder / "broken" / "not_an_image.jpg").write_bytes(b"this is text, not a JPEG")
    cv2.imwrite(str(folder / "broken" / "grey.png"), np.full((200, 300, 3), 128, np.uint8))
    return folder


def by_path(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {Path(row["path"]).name: row for row in rows}


def test_same_person_passes_other_people_fail_and_bad_files_get_rows(
    small_dataset: Path, shared_data: Path, models: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    references = [arg for name in OBAMA for arg in ("--reference", shared_data / "faces" / "barack_obama" / name)]
    out = tmp_path / ("scores.parquet" if parquet_available() else "scores.csv")  # Parquet needs pyarrow (an extra)
    status, payload = score(small_dataset, *references, "--out", out, "--threshold", THRESHOLD, *models, capsys=capsys)
    assert status == 2  # one unreadable file: every row written, then exit 2
    rows = by_path(read_rows(out))
    assert len(rows) == 10
    for name, row in rows.items():
        assert list(row) == list(COLUMNS)
        if name.startswith("face_recognition") and "obama" in name:
            assert row["pass"] and row["similarity"] >= THRESHOLD and row["faces"] == 1, row
        elif name.endswith(("biden.jpg", "biden2.jpg", "newton.png", "gauss.png")):
            assert not row["pass"] and row["similarity"] < THRESHOLD, row
    unreadable, faceless = rows["not_an_image.jpg"], rows["grey.png"]
    assert unreadable["error"] and "not an image" in unreadable["error"] and unreadable["faces"] == 0
    assert not unreadable["pass"] and unreadable["similarity"] is None
    assert faceless["error"] is None and faceless["faces"] == 0 and faceless["similarity"] is None and not faceless["pass"]
    summary = payload["summary"]
    assert (summary["images"], summary["scored"], summary["no_face"], summary["unreadable"], summary["passed"]) == (
        10,
        8,
        1,
        1,
        4,
    )
    assert summary["pass_rate"] == pytest.approx(0.4)
    assert summary["p5"] <= summary["median"] <= summary["p95"]
    histogram = cv2.imread(payload["histogram"])
    assert histogram is not None and histogram.shape[2] == 3
    assert Path(payload["out"]) == out and (tmp_path / "scores.summary.json").is_file()


def test_gallery_assigns_the_twenty_identities(
    shared_data: Path, models: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Gallery: the first photo of each of the 20 identities; dataset: the last photo of each (for 18 of them another photo)."""
    gallery, dataset = tmp_path / "gallery", tmp_path / "dataset"
    for person in sorted((shared_data / "faces").iterdir()):
        photos = sorted(person.iterdir())
        link(photos[0], gallery / person.name / photos[0].name)
        link(photos[-1], dataset / person.name / photos[-1].name)
    out = tmp_path / "gallery.csv"
    status, payload = score(dataset, "--gallery", gallery, "--out", out, "--threshold", THRESHOLD, *models, capsys=capsys)
    assert status == 0
    rows = read_rows(out)
    assert len(rows) == 20 and payload["summary"]["passed"] == 20
    for row in rows:
        assert row["identity"] == row["nearest"] == Path(row["path"]).parent.name, row
    assert sorted(payload["summary"]["identities"]) == sorted(p.name for p in gallery.iterdir())
    # Rerun at a threshold only the two identical photos (Newton, Gauss: one photo each) reach: nothing is
    # scored again, and every other image becomes "unknown" while keeping its nearest identity.
    status, payload = score(dataset, "--gallery", gallery, "--out", out, "--threshold", 0.99, *models, capsys=capsys)
    assert status == 0 and payload["scored_now"] == 0
    for row in read_rows(out):
        person = Path(row["path"]).parent.name
        assert row["nearest"] == person
        assert row["identity"] == (person if person in ("isaac_newton", "carl_friedrich_gauss") else "unknown"), row
    assert payload["summary"]["identities"]["unknown"] == 18


def test_resume_skips_finished_rows_and_rethresholds(
    small_dataset: Path, shared_data: Path, models: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = ["--reference", shared_data / "faces" / "barack_obama" / OBAMA[0]]
    out = tmp_path / "resume.csv"
    status, first = score(
        small_dataset / "barack_obama", *reference, "--out", out, "--threshold", THRESHOLD, *models, capsys=capsys
    )
    assert status == 0 and first["scored_now"] == 4 and first["skipped"] == 0
    before = by_path(read_rows(out))
    status, second = score(
        small_dataset / "barack_obama",
        small_dataset / "joe_biden",
        *reference,
        "--out",
        out,
        "--threshold",
        0.99,
        *models,
        capsys=capsys,
    )
    assert status == 0 and second["scored_now"] == 2 and second["skipped"] == 4
    after = by_path(read_rows(out))
    assert len(after) == 6
    for name, row in before.items():  # kept as scored, pass decided again at the new threshold
        assert after[name]["similarity"] == row["similarity"] and after[name]["face_scores"] == row["face_scores"]
        assert after[name]["pass"] == (row["similarity"] >= 0.99)
    assert not any(row["pass"] for name, row in after.items() if name != OBAMA[0])
    # Other references: the old rows would not be comparable, so the run is refused.
    other = ["--reference", small_dataset / "painters" / "newton.png"]
    assert main(["score", str(small_dataset / "joe_biden"), *map(str, other), "--out", str(out), *map(str, models)]) == 2
    assert "other settings" in capsys.readouterr().err


def test_store_resumes_a_killed_run_from_its_journal(tmp_path: Path) -> None:
    out = tmp_path / "rows.csv"
    store = ResultStore(out, {"recognizer": "m"})
    row = dict(empty_row("a.jpg"), faces=1, similarity=0.5, face_scores=[0.5, 0.1], best_face=0)
    store.append([row, empty_row("b.jpg", "InvalidImageError: b.jpg is not an image")])
    del store  # killed before finish(): only the journal holds the rows
    resumed = ResultStore(out, {"recognizer": "m"})
    assert resumed.done() == {"a.jpg"}  # the failed file is tried again
    rows = resumed.finish(["a.jpg", "b.jpg"], lambda r: apply_threshold(r, 0.4, False))
    assert [r["path"] for r in rows] == ["a.jpg", "b.jpg"] and rows[0]["pass"] and rows[0]["face_scores"] == [0.5, 0.1]
    assert read_rows(out) == rows and not resumed.journal.exists()
    with pytest.raises(InvalidArgumentError, match="other settings"):
        ResultStore(out, {"recognizer": "other"})
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("path\nx.jpg\n")
    with pytest.raises(InvalidArgumentError, match="not written by face-identity"):
        ResultStore(foreign, {"recognizer": "m"})


def test_copy_passed_never_overwrites(tmp_path: Path) -> None:
    sources = tmp_path / "data"
    (sources / "a").mkdir(parents=True)
    (sources / "b").mkdir()
    for folder, content in (("a", b"first"), ("b", b"second")):
        (sources / folder / "same_name.jpg").write_bytes(content)
    (sources / "a" / "failed.jpg").write_bytes(b"failed")
    rows = [
        dict(empty_row(str(sources / "a" / "same_name.jpg")), similarity=0.9),
        dict(empty_row(str(sources / "b" / "same_name.jpg")), similarity=0.8),
        dict(empty_row(str(sources / "a" / "failed.jpg")), similarity=0.1),
    ]
    rows = [apply_threshold(row, 0.5, False) for row in rows]
    target = tmp_path / "passed"
    (target / "b").mkdir(parents=True)
    (target / "b" / "same_name.jpg").write_bytes(b"someone else's file")
    for mode in ("auto", "copy"):
        result = copy_passed(rows, target, mode)
        assert result.conflicts == (target / "b" / "same_name.jpg",)
        assert (target / "b" / "same_name.jpg").read_bytes() == b"someone else's file"
        assert (target / "a" / "same_name.jpg").read_bytes() == b"first"
        assert not (target / "a" / "failed.jpg").exists()
    assert (result.placed, result.already_there) == (0, 1)  # the second pass found its own earlier copy
    assert (sources / "a" / "same_name.jpg").read_bytes() == b"first" and (
        sources / "b" / "same_name.jpg"
    ).read_bytes() == b"second"


def test_expand_dataset_folders_globs_lists_and_tables(tmp_path: Path) -> None:
    for name in ("x/1.jpg", "x/deep/2.PNG", "x/notes.txt", "y/3.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in expand_dataset([tmp_path / "x"])] == ["1.jpg", "2.PNG"]
    assert [p.name for p in expand_dataset([str(tmp_path / "**" / "*.webp")])] == ["3.webp"]
    listing = tmp_path / "list.txt"
    listing.write_text("# images\nx/1.jpg\n\ny/3.webp\nmissing.jpg\n")
    assert expand_dataset([listing]) == [tmp_path / "x/1.jpg", tmp_path / "y/3.webp", tmp_path / "missing.jpg"]
    table = tmp_path / "table.csv"
    table.write_text("id,path\n1,x/1.jpg\n2,y/3.webp\n")
    assert expand_dataset([table, tmp_path / "x"]) == [tmp_path / "x/1.jpg", tmp_path / "y/3.webp", tmp_path / "x/deep/2.PNG"]
    with pytest.raises(InvalidArgumentError, match="no column 'file'"):
        expand_dataset([table], path_column="file")
    with pytest.raises(InvalidArgumentError, match="matches no file"):
        expand_dataset([str(tmp_path / "*.gif")])
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    parquet.write_table(pyarrow.table({"path": ["y/3.webp"]}), tmp_path / "table.parquet")
    assert expand_dataset([tmp_path / "table.parquet"]) == [tmp_path / "y/3.webp"]


def test_summary_and_histogram_mark_the_threshold() -> None:
    rows = [apply_threshold(dict(empty_row(f"{i}.jpg"), similarity=s), 0.4, False) for i, s in enumerate([0.1, 0.2, 0.5, 0.9])]
    rows += [empty_row("none.jpg"), empty_row("bad.jpg", "unreadable")]
    summary = summarize(rows, 0.4)
    assert (summary.images, summary.scored, summary.no_face, summary.unreadable, summary.passed) == (6, 4, 1, 1, 2)
    assert summary.mean == pytest.approx(0.425) and summary.median == pytest.approx(0.35)
    image = draw_histogram([0.1, 0.2, 0.5, 0.9], 0.4)
    red = (image[:, :, 2] > 200) & (image[:, :, 1] < 50) & (image[:, :, 0] < 50)
    columns = np.nonzero(red[200])[0]  # the threshold line crosses the middle row
    width = image.shape[1]
    expected = 60 + (0.4 + 0.2) / 1.2 * (width - 80)
    assert columns.size and abs(columns.mean() - expected) <= 2


def test_plan_actors_leaves_room_for_ray_data_tasks() -> None:
    two_actors = plan_actors(2.0, 0.0, [2.0], requested=2)
    assert two_actors.actors == 2 and two_actors.num_cpus * 2 < 2.0  # two 1-CPU actors on 2 CPUs would hang
    assert plan_actors(2.0, 0.0, [2.0]).actors == 1
    cluster = plan_actors(64.0, 0.0, [16.0] * 4)
    assert cluster.actors == 4 and cluster.num_cpus <= 15.5
    gpus = plan_actors(32.0, 4.0, [16.0, 16.0])
    assert (gpus.actors, gpus.num_gpus) == (4, 1.0)
    assert plan_actors(8.0, 1.0, [8.0], requested=2).num_gpus == 0.5


def test_ray_engine_without_ray_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, small_dataset: Path, models: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now raises ImportError
    arguments = ["score", small_dataset / "painters", "--reference", small_dataset / "painters" / "newton.png"]
    assert main([*map(str, arguments), "--engine", "ray", "--out", str(tmp_path / "r.csv"), *map(str, models)]) == 2
    error = capsys.readouterr().err
    assert 'pip install "face-identity[ray]"' in error and "images" not in error  # refused before any work
    assert not (tmp_path / "r.csv").exists()


def ray_module() -> Any:
    """Ray, required under CI (a missing Ray fails there), skipped elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        import ray

        return ray
    return pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Any:
    ray = ray_module()
    pytest.importorskip("pyarrow")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def test_ray_engine_gives_the_rows_of_the_embedded_engine(
    local_ray: Any, small_dataset: Path, shared_data: Path, models: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "ray_dataset"
    for name in ("barack_obama/face_recognition_obama2.jpg", "joe_biden/face_recognition_biden.jpg", "painters/newton.png",
                 "broken/not_an_image.jpg", "broken/grey.png"):  # fmt: skip
        (dataset / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(small_dataset / name, dataset / name)
    listing = tmp_path / "paths.txt"
    listing.write_text("\n".join(str(p) for p in sorted(dataset.rglob("*.*"))) + "\n")
    reference = ["--reference", shared_data / "faces" / "barack_obama" / OBAMA[0], "--threshold", THRESHOLD]
    outputs = {}
    for engine in ("embedded", "ray"):
        out = tmp_path / f"{engine}.parquet"
        status, payload = score(
            listing, *reference, "--engine", engine, "--actors", 2, "--batch-images", 2, "--out", out, *models, capsys=capsys
        )
        assert status == 2 and payload["engine"] == engine
        outputs[engine] = read_rows(out)
    assert len(outputs["ray"]) == 5
    assert outputs["ray"] == outputs["embedded"]  # same order (the dataset's) and bit-identical values
    assert by_path(outputs["ray"])["face_recognition_obama2.jpg"]["pass"]


def test_gallery_loading_shows_progress_before_scoring(
    shared_data: Path, models: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Loading a gallery (one embedding per member photo) says so from its first file, not only once scoring starts."""
    gallery, dataset = tmp_path / "gallery", tmp_path / "dataset"
    people = sorted((shared_data / "faces").iterdir())[:3]
    for person in people:
        photos = sorted(person.iterdir())
        link(photos[0], gallery / person.name / photos[0].name)
        link(photos[-1], dataset / person.name / photos[-1].name)
    status = main(["score", str(dataset), "--gallery", str(gallery), "--out", str(tmp_path / "g.csv"), *map(str, models)])
    err = capsys.readouterr().err
    assert status == 0
    loaded_first, loaded_last = err.index("loaded gallery 0/3 files"), err.index("loaded gallery 3/3 files")
    assert loaded_first < loaded_last < err.index("scored 0/3 images")
