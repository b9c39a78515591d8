"""Writing score rows to Parquet or CSV so that an interrupted run resumes where it stopped.

While a run goes, each finished batch is appended to a journal next to the output
(``OUT.partial.jsonl``, one JSON row per line, flushed per batch). At the end the rows of the
existing output, of the journal and of this run are written together to a temporary file that
then replaces ``OUT`` (so ``OUT`` is always complete, and never loses a row it held), and the
journal is deleted. A rerun with the same ``OUT`` reads both and skips every image that already
has a row without an error; images whose row has an error are tried again.

``OUT.settings.json`` records what the scores depend on (models, detector settings, references);
a rerun with other settings is refused, since its rows would not be comparable. The threshold is
not among them: ``pass`` and ``identity`` are decided again for every row at the end of each run.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import InvalidArgumentError
from ..files import temporary_beside, write_atomic
from .rows import COLUMNS, Row

logger = logging.getLogger(__name__)

INT_COLUMNS = ("faces", "best_face")
FLOAT_COLUMNS = ("box_x1", "box_y1", "box_x2", "box_y2", "det_score", "similarity")
TEXT_COLUMNS = ("path", "identity", "nearest", "error")
PARQUET_INSTALL_HINT = 'pip install "face-identity[parquet]" (or write CSV: --out scores.csv)'


def output_format(path: Path) -> str:
    """``parquet`` or ``csv`` from the output's suffix.

    Raises:
        InvalidArgumentError: another suffix.
    """
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise InvalidArgumentError(f"--out {path}: write scores to a .parquet or .csv file")


def parquet_available() -> bool:
    """Whether pyarrow (needed for Parquet) can be imported."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def arrow_schema() -> Any:
    """The pyarrow schema of score rows (column order ``COLUMNS``)."""
    import pyarrow as pa

    types = {name: pa.int64() for name in INT_COLUMNS}
    types.update({name: pa.float64() for name in FLOAT_COLUMNS})
    types.update({name: pa.string() for name in TEXT_COLUMNS})
    types["pass"] = pa.bool_()
    types["face_scores"] = pa.list_(pa.float64())
    return pa.schema([(name, types[name]) for name in COLUMNS])


def rows_to_table(rows: Sequence[Row]) -> Any:
    """Rows as a pyarrow Table with ``arrow_schema()``."""
    import pyarrow as pa

    return pa.Table.from_pylist([{name: row.get(name) for name in COLUMNS} for row in rows], schema=arrow_schema())


def _checked(row: dict[str, Any]) -> Row:
    for name in FLOAT_COLUMNS:
        value = row.get(name)
        if value is not None and not math.isfinite(float(value)):
            row[name] = None  # no NaN reaches an output
    return {name: row.get(name) for name in COLUMNS}


def _ends_a_line(path: Path) -> bool:
    """Whether a file is empty or ends with a newline (reads its last byte only)."""
    with path.open("rb") as handle:
        if not handle.seek(0, os.SEEK_END):
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _cell_type_ok(name: str, value: Any) -> bool:
    """Whether a journal cell has its column's type (``None`` always does)."""
    if value is None:
        return True
    if name in INT_COLUMNS:
        return isinstance(value, int) and not isinstance(value, bool)
    if name in FLOAT_COLUMNS:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "pass":
        return isinstance(value, bool)
    if name == "face_scores":
        return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return isinstance(value, str)


def _journal_row(line: bytes) -> Row | None:
    """One journal line as a row, or ``None`` when it is not a JSON object with a text ``path`` and valid cells."""
    try:
        value = json.loads(line.decode("utf-8"))
        if not isinstance(value, dict) or not isinstance(value.get("path"), str) or not value["path"]:
            return None
        if not all(_cell_type_ok(name, value.get(name)) for name in COLUMNS):
            return None
        return _checked(value)
    except (UnicodeDecodeError, ValueError, TypeError):
        return None


def _cell(text: str, name: str) -> Any:
    if name == "face_scores":
        return [float(v) for v in json.loads(text)] if text else []
    if text == "":
        return None
    if name in INT_COLUMNS:
        return int(text)
    if name in FLOAT_COLUMNS:
        return float(text)
    if name == "pass":
        return text.strip().lower() in ("true", "1")
    return text


def read_rows(path: Path) -> list[Row]:
    """The rows of an output file written by ``write_rows`` (Parquet or CSV)."""
    if output_format(path) == "parquet":
        import pyarrow.parquet as parquet

        return [_checked(row) for row in parquet.read_table(path).to_pylist()]
    with path.open(newline="", encoding="utf-8") as handle:
        return [_checked({name: _cell(row.get(name) or "", name) for name in COLUMNS}) for row in csv.DictReader(handle)]


def write_rows(rows: Sequence[Row], path: Path) -> None:
    """Write rows to ``path`` (Parquet or CSV by suffix) through a temporary file, then replace ``path``.

    CSV cells: empty = none; ``face_scores`` as a JSON list; floats in full precision.
    """
    with temporary_beside(path) as temporary:  # deleted on every failure path (e.g. a full disk)
        if output_format(path) == "parquet":
            import pyarrow.parquet as parquet

            parquet.write_table(rows_to_table(rows), temporary)
        else:
            with temporary.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                for row in rows:
                    writer.writerow(
                        [
                            json.dumps(row.get(name) or [])
                            if name == "face_scores"
                            else ("" if row.get(name) is None else row[name])
                            for name in COLUMNS
                        ]
                    )


class ResultStore:
    """The rows of one output file: those already written, this run's journal, and the final write."""

    def __init__(self, out: str | os.PathLike[str], settings: dict[str, Any]) -> None:
        self.out = Path(out)
        self.format = output_format(self.out)
        if self.format == "parquet" and not parquet_available():
            raise InvalidArgumentError(f"--out {self.out}: Parquet output needs pyarrow: {PARQUET_INSTALL_HINT}")
        self.journal = self.out.with_name(self.out.name + ".partial.jsonl")
        self.settings_file = self.out.with_name(self.out.name + ".settings.json")
        self.settings = json.loads(json.dumps(settings))
        self._journal_handle: Any = None
        self._check_settings()
        self.previous: dict[str, Row] = {}
        self.damaged_journal_lines = 0
        if self.out.exists():
            try:
                earlier = read_rows(self.out)
            except Exception as error:  # a truncated Parquet, a CSV with foreign cells, ...
                raise InvalidArgumentError(
                    f"{self.out} is damaged and cannot be resumed ({type(error).__name__}: {str(error)[:160]}). "
                    f"Pick another --out, or delete {self.out.name} and {self.settings_file.name} to start over."
                ) from error
            for row in earlier:
                self.previous[str(row["path"])] = row
        for row in self._read_journal():
            self.previous[str(row["path"])] = row
        self.new: dict[str, Row] = {}

    def _write_settings(self) -> None:
        write_atomic(self.settings_file, (json.dumps(self.settings, indent=1, sort_keys=True) + "\n").encode("utf-8"))

    def _recorded_settings(self) -> dict[str, Any]:
        """The settings an earlier run recorded; a damaged file is an error naming it and the fix."""
        try:
            recorded = json.loads(self.settings_file.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            problem = f"cannot be read ({type(error).__name__}: {str(error)[:120]})"
        else:
            if isinstance(recorded, dict):
                return recorded
            problem = f"holds a JSON {type(recorded).__name__}, not the settings object"
        raise InvalidArgumentError(
            f"{self.settings_file} is damaged: it {problem}, so the scores in {self.out} cannot be checked for "
            f"comparability. Pick another --out, or delete {self.out.name}, {self.settings_file.name} and "
            f"{self.journal.name} (where present) to start over."
        )

    def _check_settings(self) -> None:
        if self.settings_file.exists() and (self.out.exists() or self.journal.exists()):
            recorded = self._recorded_settings()
            differing = sorted(key for key in set(recorded) | set(self.settings) if recorded.get(key) != self.settings.get(key))
            if differing:
                details = "; ".join(f"{key}: {recorded.get(key)!r} then, {self.settings.get(key)!r} now" for key in differing)
                raise InvalidArgumentError(
                    f"{self.out} holds scores made with other settings ({details}). Its rows would not be comparable: "
                    f"pick another --out, or delete {self.out} and {self.settings_file.name} to start over."
                )
        elif self.out.exists() and not self.settings_file.exists():
            raise InvalidArgumentError(
                f"{self.out} exists but was not written by face-identity score (no {self.settings_file.name}); "
                "pick another --out so it is not overwritten"
            )

    def _read_journal(self) -> list[Row]:
        """The journal's rows; damaged lines (undecodable, not a row object) are skipped, counted and warned about.

        A skipped line's image has no row, so it is scored again; ``damaged_journal_lines`` keeps the count.
        """
        if not self.journal.exists():
            return []
        rows, damaged = [], 0
        for line in self.journal.read_bytes().splitlines():
            if not line.strip():
                continue
            row = _journal_row(line)
            if row is None:
                damaged += 1  # e.g. the last line of a run killed mid-write, or bytes from a failing disk
            else:
                rows.append(row)
        self.damaged_journal_lines = damaged
        if damaged:
            logger.warning(
                "%s: skipped %d damaged line(s) that are not score rows; their images are scored again",
                self.journal,
                damaged,
            )
        return rows

    def done(self) -> set[str]:
        """Paths that already have a row without an error (a rerun skips them)."""
        return {path for path, row in self.previous.items() if not row.get("error")}

    def append(self, rows: Iterable[Row]) -> None:
        """Record finished rows in the journal (flushed, so a killed run keeps them)."""
        if self._journal_handle is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._write_settings()
            self._journal_handle = self.journal.open("a", encoding="utf-8")
            if not _ends_a_line(self.journal):
                self._journal_handle.write("\n")  # end a killed run's half line, so this run's first row stays whole
        for row in rows:
            row = _checked(dict(row))
            self.new[str(row["path"])] = row
            self._journal_handle.write(json.dumps(row) + "\n")
        self._journal_handle.flush()

    def finish(self, order: Sequence[str], finalize: Any = None) -> list[Row]:
        """Write every row (earlier ones, then this dataset's in its ``order``) to ``out``; delete the journal.

        ``finalize(row) -> row`` is applied to each row first (e.g. ``rows.apply_threshold``).

        Returns:
            The rows written.
        """
        if self._journal_handle is not None:
            self._journal_handle.close()
            self._journal_handle = None
        merged = dict(self.previous)
        merged.update(self.new)
        position = {path: index for index, path in enumerate(order)}
        earlier = [path for path in self.previous if path not in position]
        current = sorted((path for path in merged if path in position), key=position.__getitem__)
        rows = [merged[path] for path in earlier + current]
        if finalize is not None:
            rows = [finalize(row) for row in rows]
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if not self.settings_file.exists():
            self._write_settings()
        write_rows(rows, self.out)
        if self.journal.exists():
            self.journal.unlink()
        return rows
