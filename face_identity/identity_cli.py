"""The ``identity`` subcommand: build, average, show, export and import identity files from the command line.

``face-identity identity build NAME PHOTO...``   embed the largest face of each photo, drop the photos that
                                                 disagree with the rest, save ``NAME.safetensors``
``face-identity identity average FILE... --out F``  merge identity files into one row (optionally dropping outliers)
``face-identity identity show FILE``             space, dimension, rows, norms, source photos (``--json``)
``face-identity identity export FILE --reactor --out F``  a ReActor face model (raw w600k_r50 embedding)
``face-identity identity import FILE --out F``   a ReActor face model as one of our identity files

``face_identity.cli`` registers it with ``add_identity_parser(commands)``; the model options are ``cli_models``'. Nothing existing is overwritten unless ``--if-exists overwrite``.
Photos that give nothing (unreadable, no face) are named on stderr and the rest are used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cli_models import add_model_options, load_models_from
from .compare import agreeing_rows, average_identities, match_threshold
from .errors import FaceIdentityError, InvalidArgumentError
from .images import find_images, read_image
from .pipeline import analyze
from .select import FaceSelection
from .store import (
    FORMAT_NAME,
    IF_EXISTS_CHOICES,
    export_reactor_face,
    identity_file_metadata,
    load_identity,
    safe_identity_filename,
    save_identity,
)
from .types import Identity
from .validate import check_number

EXIT_FAILED = 2
KEEP_ALL = -1.0
"""``--min-similarity`` that keeps every row."""


def _say(message: str) -> None:
    """A progress or summary line on stderr (stdout stays the command's result)."""
    print(message, file=sys.stderr, flush=True)


def _min_similarity(text: str) -> float:
    try:
        return check_number(text, "--min-similarity", "", -1.0, 1.0)
    except FaceIdentityError as error:
        raise argparse.ArgumentTypeError(f"{error} (-1 keeps every row)") from error


def _output_path(out: Path | None, name: str) -> Path:
    """``--out`` as given (a folder gets ``<name>.safetensors`` inside it), else ``<name>.safetensors`` here."""
    filename = safe_identity_filename(name)
    if out is None:
        return Path(filename)
    return out / filename if out.is_dir() else out


def _kept(identities: Sequence[Identity], min_similarity: float) -> tuple[Identity, list[int]]:
    """The average of the agreeing rows, and the indices (into ``identities``, one row each) that were dropped."""
    if min_similarity <= KEEP_ALL or len(identities) < 3:  # with two rows, neither can be told the outlier
        return average_identities(list(identities)), []
    keep = agreeing_rows(identities, None, min_similarity)
    dropped = [index for index, kept in enumerate(keep) if not kept]
    return average_identities([identity for identity, kept in zip(identities, keep) if kept]), dropped


def command_build(args: argparse.Namespace) -> int:
    photos = find_images(args.photos)
    if not photos:
        raise InvalidArgumentError(f"no photos found in {', '.join(map(str, args.photos))}; give image files or folders of them")
    path = _output_path(args.out, args.name)
    detector, recognizer = load_models_from(args)
    rows: list[Identity] = []
    used: list[str] = []
    failed = 0
    for number, photo in enumerate(photos, start=1):
        try:
            analysis = analyze(detector, recognizer, [read_image(photo)], FaceSelection(max_faces=1), flip=args.flip)
        except FaceIdentityError as error:
            failed += 1
            _say(f"[{number}/{len(photos)}] {photo}: skipped ({error})")
            continue
        if analysis.identity is None:
            failed += 1
            _say(f"[{number}/{len(photos)}] {photo}: skipped (no face found; try --det-thresh 0.3)")
            continue
        rows.append(analysis.identity)
        used.append(str(photo))
        _say(f"[{number}/{len(photos)}] {photo}: 1 face")
    if not rows:
        raise InvalidArgumentError(
            f"none of the {len(photos)} photo(s) gave a face; nothing was saved. `face-identity analyze PHOTO...` shows "
            "what the detector finds; small or profile faces may need a lower --det-thresh (e.g. 0.3)"
        )
    threshold = match_threshold(recognizer.model_id) if args.min_similarity is None else args.min_similarity
    identity, dropped = _kept(rows, threshold)
    for index in dropped:
        _say(f"dropped {used[index]}: it disagrees with the other photos (similarity below {threshold:.2f})")
    sources = [source for index, source in enumerate(used) if index not in dropped]
    written = save_identity(identity, path, args.if_exists, sources=sources)
    print(f"{written}: {args.name}, {len(sources)} of {len(photos)} photo(s), {identity.model_id} ({identity.dimension}-d)")
    return EXIT_FAILED if failed else 0


def command_average(args: argparse.Namespace) -> int:
    identities = [load_identity(path) for path in args.files]
    if args.min_similarity is None or args.min_similarity <= KEEP_ALL:
        merged = average_identities(identities)
        note = f"averaged {sum(map(len, identities))} row(s) of {len(identities)} file(s)"
    else:
        rows = [identity.select([row]) for identity in identities for row in range(len(identity))]
        merged, dropped = _kept(rows, args.min_similarity)
        note = (
            f"averaged {len(rows) - len(dropped)} of {len(rows)} row(s); dropped {len(dropped)} below {args.min_similarity:.2f}"
        )
    sources = [source for path in args.files for source in _sources(path) or [str(path)]]
    written = save_identity(merged, args.out, args.if_exists, sources=sources)
    print(f"{written}: {note}, {merged.model_id} ({merged.dimension}-d)")
    return 0


def _sources(path: Path) -> list[str]:
    text = identity_file_metadata(path).get("sources")
    try:
        values = json.loads(text) if text else []
    except json.JSONDecodeError:
        return []
    return [str(value) for value in values] if isinstance(values, list) else []


def identity_summary(path: Path) -> dict[str, Any]:
    """What ``show`` prints: format, space, dimension, rows, raw norms, weights, source photos."""
    identity = load_identity(path)
    metadata = identity_file_metadata(path)
    return {
        "file": str(path),
        "format": "face-identity identity" if metadata.get("format") == FORMAT_NAME else "ReActor face model",
        "model_id": identity.model_id,
        "dimension": identity.dimension,
        "rows": len(identity),
        "norms": [round(float(value), 4) for value in identity.norms],
        "weights": [round(float(value), 4) for value in identity.weights],
        "sources": _sources(path),
    }


def command_show(args: argparse.Namespace) -> int:
    summary = identity_summary(args.file)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['file']}: {summary['format']}")
    print(f"  space {summary['model_id']}, {summary['dimension']}-d, {summary['rows']} row(s)")
    norms = summary["norms"]
    known = [value for value in norms if value > 0]
    print(
        f"  raw norms: {', '.join(f'{v:.2f}' for v in norms[:8])}{' ...' if len(norms) > 8 else ''}"
        if known
        else "  raw norms: not stored"
    )
    for source in summary["sources"] or ["(no source photos recorded)"]:
        print(f"  source: {source}")
    return 0


def command_export(args: argparse.Namespace) -> int:
    if not args.reactor:
        raise InvalidArgumentError("say which format to export to: --reactor (ReActor's face model, the one export there is)")
    written = export_reactor_face(load_identity(args.file), args.out, args.if_exists)
    print(f"{written}: ReActor face model (raw w600k_r50 embedding of the centroid)")
    return 0


def command_import(args: argparse.Namespace) -> int:
    identity = load_identity(args.file)  # a ReActor face model is read as one w600k_r50 row
    written = save_identity(identity, args.out, args.if_exists, sources=[str(args.file)])
    print(f"{written}: {len(identity)} row(s), {identity.model_id} ({identity.dimension}-d)")
    return 0


def add_identity_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``identity`` with its subcommands to the CLI's subparsers."""
    parser = commands.add_parser(
        "identity",
        help="build, average, show, export and import identity files",
        description="Identity files (.safetensors): build from photos, average, show, export for ReActor, import ReActor's.",
    )
    actions = parser.add_subparsers(
        dest="identity_command", required=True, metavar="ACTION", help="build, average, show, export or import"
    )
    if_exists = {
        "choices": IF_EXISTS_CHOICES,
        "default": "error",
        "help": "when the output exists: error (default), 'new name' or overwrite",
    }
    similarity_help = "drop rows whose similarity to the mean of the others is below this (-1 keeps all)"

    build = actions.add_parser(
        "build",
        help="one identity from photos of one person",
        description="Embed the largest face of each photo; photos that disagree with the rest are dropped.",
    )
    build.add_argument("name", metavar="NAME", help="the identity's name: the file is NAME.safetensors")
    build.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="image files or folders of them")
    build.add_argument("--out", type=Path, default=None, help="output file or folder (default: NAME.safetensors here)")
    build.add_argument(
        "--min-similarity",
        type=_min_similarity,
        default=None,
        help=similarity_help + " (default: the recognizer's match threshold)",
    )
    build.add_argument("--if-exists", **if_exists)
    add_model_options(build)
    build.set_defaults(handler=command_build)

    average = actions.add_parser(
        "average", help="merge identity files into one row", description="The weighted mean of the unit rows, re-normalised."
    )
    average.add_argument("files", nargs="+", type=Path, metavar="FILE", help="identity files of one embedding space")
    average.add_argument("--out", type=Path, required=True, help="the file to write")
    average.add_argument("--min-similarity", type=_min_similarity, default=None, help=similarity_help + " (default: keep all)")
    average.add_argument("--if-exists", **if_exists)
    average.set_defaults(handler=command_average)

    show = actions.add_parser(
        "show", help="what an identity file holds", description="Space, dimension, rows, norms, source photos."
    )
    show.add_argument("file", type=Path, metavar="FILE", help="an identity file (ours or a ReActor face model)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=command_show)

    export = actions.add_parser(
        "export", help="write an identity for another pack", description="Export to ReActor's face model format."
    )
    export.add_argument("file", type=Path, metavar="FILE")
    export.add_argument("--reactor", action="store_true", help="ReActor's face model (models/reactor/faces/*.safetensors)")
    export.add_argument("--out", type=Path, required=True, help="the file to write")
    export.add_argument("--if-exists", **if_exists)
    export.set_defaults(handler=command_export)

    imported = actions.add_parser(
        "import",
        help="a ReActor face model as an identity file",
        description="Read a ReActor face model; write our identity file.",
    )
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--out", type=Path, required=True, help="the file to write")
    imported.add_argument("--if-exists", **if_exists)
    imported.set_defaults(handler=command_import)
    return parser
