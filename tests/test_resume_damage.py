"""Issue 23, class 3: a scoring run's own files (journal, settings, output) are checked before they are trusted.

One table: each way a file can be damaged, and what a rerun must do (skip and re-score, or a clear error).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from face_identity.errors import InvalidArgumentError
from face_identity.score import ResultStore, apply_threshold
from face_identity.score.rows import empty_row

SETTINGS = {"recognizer": "m"}


def _good_run(out: Path) -> ResultStore:
    """A run killed after one batch: the journal holds a.jpg (scored) and b.jpg (failed)."""
    store = ResultStore(out, SETTINGS)
    store.append([dict(empty_row("a.jpg"), faces=1, similarity=0.5, face_scores=[0.5], best_face=0)])
    return store


def _append_journal(data: bytes) -> Callable[[Path], None]:
    def damage(out: Path) -> None:
        with out.with_name(out.name + ".partial.jsonl").open("ab") as handle:
            handle.write(data)

    return damage


JOURNAL_DAMAGE = [
    ("random_bytes", _append_journal(b"\xff\xfe\x00\x81garbage\x9c\n"), 1),
    ("json_list", _append_journal(b"[1, 2, 3]\n"), 1),
    ("json_number", _append_journal(b"42\n"), 1),
    ("json_string", _append_journal(b'"c.jpg"\n'), 1),
    ("object_without_path", _append_journal(b'{"faces": 1}\n'), 1),
    ("wrong_cell_type", _append_journal(json.dumps(dict(empty_row("c.jpg"), faces="three")).encode() + b"\n"), 1),
    ("half_written_line", _append_journal(b'{"path": "c.jpg", "fa'), 1),
    ("three_bad_lines", _append_journal(b"\x00\x01\n[]\nnull\n"), 3),
]


@pytest.mark.parametrize("damage, count", [row[1:] for row in JOURNAL_DAMAGE], ids=[row[0] for row in JOURNAL_DAMAGE])
def test_damaged_journal_lines_are_skipped_counted_and_scored_again(
    tmp_path: Path, damage: Callable[[Path], None], count: int, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "scores.csv"
    _good_run(out)
    damage(out)
    ResultStore(out, SETTINGS).append([dict(empty_row("d.jpg"), faces=0)])  # a rerun, killed again after one batch
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="face_identity.score"):
        resumed = ResultStore(out, SETTINGS)
    assert resumed.damaged_journal_lines == count
    assert f"skipped {count} damaged line(s)" in caplog.text and "scored again" in caplog.text
    assert resumed.done() == {"a.jpg", "d.jpg"}  # c.jpg (only in a damaged line) is scored again
    rows = resumed.finish(["a.jpg", "c.jpg", "d.jpg"], lambda r: apply_threshold(r, 0.4, False))
    assert [row["path"] for row in rows] == ["a.jpg", "d.jpg"]


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def damage(out: Path) -> None:
        out.with_name(out.name + name).write_bytes(data)

    return damage


def _replace_out(data: bytes) -> Callable[[Path], None]:
    def damage(out: Path) -> None:
        out.write_bytes(data)

    return damage


FILE_DAMAGE = [
    ("settings_empty", _write(".settings.json", b""), "scores.csv.settings.json is damaged"),
    ("settings_random_bytes", _write(".settings.json", b"\xff\xfe\x81"), "scores.csv.settings.json is damaged"),
    ("settings_not_an_object", _write(".settings.json", b"[1, 2]"), "holds a JSON list"),
    ("settings_truncated", _write(".settings.json", b'{"recognizer": '), "scores.csv.settings.json is damaged"),
    ("output_random_bytes", _replace_out(b'path,faces\n"a.jpg,\xff\xfe\n'), "scores.csv is damaged"),
    ("output_bad_cells", _replace_out(b"path,faces\na.jpg,three\n"), "scores.csv is damaged"),
]


@pytest.mark.parametrize("damage, message", [row[1:] for row in FILE_DAMAGE], ids=[row[0] for row in FILE_DAMAGE])
def test_damaged_settings_or_output_is_a_clear_error_naming_it_and_the_fix(
    tmp_path: Path, damage: Callable[[Path], None], message: str
) -> None:
    out = tmp_path / "scores.csv"
    _good_run(out).finish(["a.jpg"])
    damage(out)
    with pytest.raises(InvalidArgumentError, match=message) as caught:
        ResultStore(out, SETTINGS)
    assert "another --out" in str(caught.value) and "to start over" in str(caught.value)
