"""Which images a scoring run covers: folders, globs, lists of paths in text, CSV or Parquet files."""

from __future__ import annotations

import csv
import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from .. import InvalidArgumentError
from ..images import IMAGE_EXTENSIONS, find_images

logger = logging.getLogger(__name__)

LIST_SUFFIXES = (".txt", ".lst")
"""A dataset argument with one of these suffixes is a text file with one image path per line."""
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
"""A dataset argument with one of these suffixes is a table whose ``path_column`` lists the images."""
DEFAULT_PATH_COLUMN = "path"
"""The column a table of paths is read from (the scores' own ``path`` column, so an output can be scored again)."""
GLOB_CHARACTERS = frozenset("*?[")


def _resolve(text: str, base: Path) -> Path:
    """A listed path: absolute as is, relative ones against the folder of the list that names them."""
    path = Path(text.strip())
    return path if path.is_absolute() else base / path


def read_path_list(path: Path) -> list[Path]:
    """Paths listed one per line in a text file; blank lines and lines starting with ``#`` are skipped.

    Relative paths are taken relative to the list file's folder (so a list travels with its images).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    return [_resolve(line, path.parent) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def read_path_column(path: Path, column: str = DEFAULT_PATH_COLUMN) -> list[Path]:
    """The ``column`` of a CSV/TSV or Parquet file as paths (relative ones against the file's folder).

    A table with a single column is read whatever that column's name. Empty cells are skipped.

    Raises:
        InvalidArgumentError: the column is missing (the message lists the columns), or Parquet
            without pyarrow.
    """
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as parquet
        except ImportError as error:
            raise InvalidArgumentError(
                f'{path} is a Parquet file; reading it needs pyarrow: pip install "face-identity[parquet]"'
            ) from error
        names = parquet.read_schema(path).names
        chosen = column if column in names or len(names) != 1 else names[0]
        if chosen not in names:
            raise InvalidArgumentError(
                f"{path} has no column {column!r} (columns: {', '.join(names)}); pick one with --path-column"
            )
        values = parquet.read_table(path, columns=[chosen]).column(0).to_pylist()
    else:
        with path.open(newline="", encoding="utf-8") as handle:
            sample = handle.readline()
            handle.seek(0)
            reader = csv.DictReader(handle, delimiter="\t" if "\t" in sample else ",")
            names = list(reader.fieldnames or [])
            chosen = column if column in names or len(names) != 1 else names[0]
            if chosen not in names:
                raise InvalidArgumentError(
                    f"{path} has no column {column!r} (columns: {', '.join(names)}); pick one with --path-column"
                )
            values = [row.get(chosen) for row in reader]
    return [_resolve(str(value), path.parent) for value in values if value is not None and str(value).strip()]


def expand_dataset(
    items: Sequence[str | os.PathLike[str]],
    path_column: str = DEFAULT_PATH_COLUMN,
    left_out: list[tuple[str, str]] | None = None,
) -> list[Path]:
    """Every image a scoring run covers, in the order given, each path once.

    Each item is one of:

    - a folder: its image files (``IMAGE_EXTENSIONS``), sub-folders included, sorted by path;
    - a glob (``*``, ``?``, ``[``; ``**`` spans folders): the matching files, whatever their
      extension, sorted (folders that match are expanded as above);
    - a ``.txt``/``.lst`` file: one path per line;
    - a ``.csv``/``.tsv``/``.parquet`` file: the paths in its ``path_column``;
    - anything else: taken as one image path, kept even when it does not exist or is no image,
      so that the run reports it in its row rather than dropping it silently.

    A folder, list or table that yields no image contributes nothing: it is appended to
    ``left_out`` as ``(item, reason)`` when a list is given (and logged), never dropped without a word.

    Raises:
        InvalidArgumentError: a glob that matches nothing, or a table without the column.
    """
    found: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text)
        before = len(found)
        if path.is_dir():
            found.extend(find_images([path], recursive=True))
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            found.extend(read_path_list(path))
        elif path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
            found.extend(read_path_column(path, path_column))
        elif not path.exists() and GLOB_CHARACTERS & set(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InvalidArgumentError(f"the pattern {text!r} matches no file")
            for match in matches:
                match_path = Path(match)
                found.extend(find_images([match_path], recursive=True) if match_path.is_dir() else [match_path])
        else:
            found.append(path)
        if len(found) == before:
            if path.is_dir():
                reason = f"a folder with no images ({', '.join(IMAGE_EXTENSIONS)})"
            else:
                reason = "lists no image paths" if path.is_file() else "a pattern that matches no image"
            logger.warning("dataset: %s left out: %s", text, reason)
            if left_out is not None:
                left_out.append((text, reason))
    unique: dict[str, Path] = {}
    for image in found:
        unique.setdefault(str(image), image)
    return list(unique.values())
