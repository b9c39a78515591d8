"""Issue 23, class 2: files the user owns are never overwritten or escaped, and failed writes leave nothing behind.

Tables: report files a score run must not replace; gallery names that must not become paths or
reserved labels; every writer under a full disk (OSError ENOSPC).
"""

from __future__ import annotations

import errno
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from face_identity import integrity
from face_identity.errors import IdentityFileError, InvalidArgumentError
from face_identity.files import write_atomic
from face_identity.score import ResultStore, apply_threshold, copy_passed, score_dataset, write_rows
from face_identity.score.references import gallery_members
from face_identity.score.rows import empty_row
from face_identity.store import save_identity
from face_identity.types import Identity


def _no_models() -> Any:
    raise AssertionError("the refusal must come before any model is loaded")


# --------------------------------------------------------------------------------------------------
# Report files: only a summary this command wrote for this --out (and the histogram it names) is replaced


def _foreign_summary(folder: Path, out: Path) -> None:
    (folder / "scores.summary.json").write_text('{"my": "notes"}')


def _foreign_histogram(folder: Path, out: Path) -> None:
    (folder / "scores.histogram.png").write_bytes(b"my picture")


def _other_runs_summary(folder: Path, out: Path) -> None:
    payload = {"summary": {}, "out": str(folder / "other.csv"), "histogram": str(folder / "scores.histogram.png")}
    (folder / "scores.summary.json").write_text(json.dumps(payload))


def _unclaimed_histogram(folder: Path, out: Path) -> None:
    payload = {"summary": {}, "out": str(out), "histogram": str(folder / "elsewhere.png")}
    (folder / "scores.summary.json").write_text(json.dumps(payload))
    _foreign_histogram(folder, out)


REPORT_FILES = [
    ("foreign_summary_json", _foreign_summary, "scores.summary.json"),
    ("foreign_histogram_png", _foreign_histogram, "scores.histogram.png"),
    ("summary_of_another_out", _other_runs_summary, "scores.summary.json"),
    ("histogram_not_named_by_our_summary", _unclaimed_histogram, "scores.histogram.png"),
]


@pytest.mark.parametrize("make, name", [row[1:] for row in REPORT_FILES], ids=[row[0] for row in REPORT_FILES])
def test_score_never_replaces_report_files_it_did_not_write(
    tmp_path: Path, make: Callable[[Path, Path], None], name: str
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jpg").write_bytes(b"x")
    out = tmp_path / "scores.csv"
    make(tmp_path, out)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    with pytest.raises(InvalidArgumentError, match=f"{name} exists and was not written by a score run"):
        score_dataset([tmp_path / "data"], out, _no_models, references=["ref.safetensors"])
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()} == before


def test_a_rerun_may_replace_its_own_summary_and_histogram(tmp_path: Path) -> None:
    from face_identity.score.report import check_report_targets

    out, summary, histogram = tmp_path / "s.csv", tmp_path / "s.summary.json", tmp_path / "s.histogram.png"
    summary.write_text(json.dumps({"summary": {}, "out": str(out), "histogram": str(histogram)}))
    histogram.write_bytes(b"png")
    check_report_targets(summary, histogram, out)  # ours: no error


# --------------------------------------------------------------------------------------------------
# Names that become paths: one safe-name rule, reserved labels in every form, no case-only twins

GALLERY_NAMES = [
    ("dot_dot_stem", ["...jpg"], "is not allowed"),
    ("hidden_stem", [".hidden.jpg"], "is not allowed"),
    ("windows_device", ["con.jpg"], "is not allowed"),
    ("colon", ["a:b.png"], "is not allowed"),
    ("newline", ["a\nb.jpg"], "is not allowed"),
    ("trailing_space_folder", ["ann /1.jpg"], "is not allowed"),
    ("unknown_stem", ["unknown.jpg"], "reserved label"),
    ("Unknown_stem", ["Unknown.png"], "reserved label"),
    ("UNKNOWN_identity_file", ["UNKNOWN.safetensors"], "reserved label"),
    ("unknown_folder", ["unknown/1.jpg"], "reserved label"),
    ("Unknown_folder", ["Unknown/1.jpg"], "reserved label"),
    ("case_twins", ["Ann/1.jpg", "ann.jpg"], "names must differ in more than case"),
]


@pytest.mark.parametrize("files, message", [row[1:] for row in GALLERY_NAMES], ids=[row[0] for row in GALLERY_NAMES])
def test_gallery_member_names_are_safe_and_not_reserved(tmp_path: Path, files: list[str], message: str) -> None:
    gallery = tmp_path / "gallery"
    (gallery / "Bob").mkdir(parents=True)
    (gallery / "Bob" / "1.jpg").write_bytes(b"x")
    for name in files:
        (gallery / name).parent.mkdir(parents=True, exist_ok=True)
        (gallery / name).write_bytes(b"x")
    with pytest.raises(InvalidArgumentError, match=message):
        gallery_members(gallery)


def test_ordinary_gallery_names_in_any_script_are_kept(tmp_path: Path) -> None:
    for name in ("Zoë Saldaña/1.jpg", "李小龙.png", "jane_doe-2.v1.jpg", "unknown person/1.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert sorted(gallery_members(tmp_path)) == sorted(["Zoë Saldaña", "李小龙", "jane_doe-2.v1", "unknown person"])


@pytest.mark.parametrize("identity", ["..", "../escape", "/abs", "a/../../b", "con"])
def test_copy_passed_never_leaves_its_folder_for_an_edited_identity(tmp_path: Path, identity: str) -> None:
    source = tmp_path / "data" / "a.jpg"
    source.parent.mkdir()
    source.write_bytes(b"image")
    row = dict(apply_threshold(dict(empty_row(str(source)), similarity=0.9), 0.5, True), identity=identity)
    target = tmp_path / "deep" / "passed"
    result = copy_passed([row], target, "copy", gallery=True)
    assert result.placed == 0 and len(result.conflicts) == 1
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == ["data/a.jpg"]


# --------------------------------------------------------------------------------------------------
# A full disk: every writer leaves neither a partial target nor a temporary file


class _FullDisk(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files opened for writing are created, then every write fails with ENOSPC (also in native writers)."""
    real_open = Path.open

    def open_full(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not any(flag in mode for flag in "wax"):
            return real_open(self, mode, *args, **kwargs)
        real_open(self, "wb").close()  # created 0-byte, as on a full disk
        raw = _FullDisk()
        return io.BufferedWriter(raw) if "b" in mode else io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")

    def native_full(*args: Any, **kwargs: Any) -> None:
        path = next(str(a) for a in (*args, *kwargs.values()) if isinstance(a, (str, os.PathLike)))
        open(path, "wb").close()  # noqa: SIM115  # created 0-byte (the builtin open is not patched)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "open", open_full)
    monkeypatch.setattr("safetensors.numpy.save_file", native_full)
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet") if _has_pyarrow() else None
    if pyarrow_parquet is not None:
        monkeypatch.setattr(pyarrow_parquet, "write_table", native_full)


def _has_pyarrow() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _rows_csv(folder: Path) -> None:
    write_rows([empty_row("a.jpg")], folder / "scores.csv")


def _rows_parquet(folder: Path) -> None:
    if not _has_pyarrow():
        pytest.skip("Parquet needs pyarrow")
    write_rows([empty_row("a.jpg")], folder / "scores.parquet")


def _summary(folder: Path) -> None:
    write_atomic(folder / "scores.summary.json", b"{}")


def _settings(folder: Path) -> None:
    ResultStore(folder / "scores.csv", {"recognizer": "m"}).finish([])


def _identity(folder: Path) -> None:
    save_identity(Identity(embeddings=np.ones((1, 4), np.float32), model_id="m"), folder / "face.safetensors")


def _crc_cache(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(folder))
    model = folder.parent / "model.onnx"
    with open(model, "wb") as handle:  # the builtin open is not patched
        handle.write(b"model bytes")
    assert integrity.cached_crc32(model) == integrity.file_crc32(model)  # the cache is optional: no error


def _torch_cache(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from face_identity.convert import cache as convert_cache
    from face_identity.convert.graph import GraphSpec

    spec = GraphSpec((), (), (), 13, {"w": np.ones(3, np.float32)})
    convert_cache.write_cache_file(folder / "m.00000000.torch.safetensors", spec, "00000000", "m.onnx")


WRITERS: list[tuple[str, Callable[..., None], bool]] = [
    ("score_rows_csv", _rows_csv, True),
    ("score_rows_parquet", _rows_parquet, True),
    ("summary_json", _summary, True),
    ("settings_json", _settings, True),
    ("identity_file", _identity, True),
    ("crc32_check_cache", _crc_cache, False),
    ("torch_conversion_cache", _torch_cache, True),
]


@pytest.mark.parametrize("write, raises", [row[1:] for row in WRITERS], ids=[row[0] for row in WRITERS])
def test_a_full_disk_leaves_no_temporary_or_partial_file(
    tmp_path: Path, full_disk: None, monkeypatch: pytest.MonkeyPatch, write: Callable[..., None], raises: bool
) -> None:
    folder = tmp_path / "target"
    folder.mkdir()
    arguments = (folder, monkeypatch) if write in (_crc_cache, _torch_cache) else (folder,)
    if raises:
        with pytest.raises((OSError, IdentityFileError)):
            write(*arguments)
    else:
        write(*arguments)
    assert [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()] == []
