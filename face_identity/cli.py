"""Command line: ``face-identity [-v] {analyze,compare,calibrate,models,download,score,identity,swap} ...`` (or ``python -m face_identity``).

Batches never stop for one bad file: ``analyze`` and ``calibrate`` report each unreadable image on
stderr (``error: <file>: ...``), process the rest, print the results of the readable ones and exit
with status 2 at the end when any file failed. Folders given to ``analyze`` expand to their images
(``images.IMAGE_EXTENSIONS``, sorted). Models are loaded only when a command needs them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .calibrate import calibrate_folder, labelled_images, read_pairs
from .catalog import HF_ENDPOINT_DEFAULT, build_catalog
from .cli_models import (
    add_model_options,
    identity_of,
    indices_argument,
    is_identity_file,
    load_models_from,
)
from .compare import match_threshold, similarity, verdict
from .detect import FaceDetector
from .download import default_model_dir, find_local_copy, resolve_model
from .embed import ArcFaceRecognizer
from .errors import FaceIdentityError
from .identity_cli import add_identity_parser
from .images import IMAGE_EXTENSIONS, find_images, read_image
from .pipeline import analyze
from .progress import Progress, ProgressReporter
from .score.cli import add_score_parser
from .select import FACE_ORDERS, FaceSelection
from .swap_cli import add_swap_arguments
from .validate import integer_argument, number_argument

EXIT_FAILED = 2
"""Exit status when the command failed, or when any file of a batch could not be processed."""
MODULE_PROG = "python -m face_identity"
THRESHOLD = number_argument("--threshold", -1.0, 1.0)
"""compare's ``--threshold`` (score's is made the same way): NaN, infinity and values outside -1..1 are refused."""


def _rounded(values: Iterable[float], digits: int = 7) -> list[float]:
    return [round(float(v), digits) for v in values]


def _report_failure(path: Path | str, message: str) -> None:
    text = message if str(path) in message else f"{path}: {message}"
    print(f"error: {text}", file=sys.stderr)


def _expand_inputs(inputs: Sequence[Path]) -> list[Path | dict[str, Any]]:
    """Files as given, folders as their images (sorted), in input order; a missing file or an image-less
    folder becomes its error entry at once (reported on stderr), so it needs no model."""
    items: list[Path | dict[str, Any]] = []
    for given in inputs:
        found = find_images([given])
        if given.is_dir() and not found:
            message = f"{given} is a folder with no images (looked for {', '.join(IMAGE_EXTENSIONS)})"
            _report_failure(given, message)
            items.append({"image": str(given), "error": message, "faces": []})
        for path in found:
            if path.is_file():
                items.append(path)
                continue
            try:
                read_image(path)  # raises: names the missing path
            except FaceIdentityError as error:
                _report_failure(path, str(error))
                items.append({"image": str(path), "error": str(error), "faces": []})
    return items


def _face_entries(analysis: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    identity = analysis.identity
    if identity is None:  # no face: rows exist only with an identity
        return entries
    for face, row in zip(analysis.faces.faces_per_image[0], analysis.rows_of_image(0)):
        embedding = identity.embeddings[row]
        entries.append(
            {
                "bbox": _rounded(face.bbox, 2),
                "score": round(face.score, 5),
                "kps": [_rounded(point, 2) for point in face.landmarks],
                "embedding": _rounded(embedding),
            }
        )
    return entries


def _analyze_file(
    path: Path, detector: FaceDetector, recognizer: ArcFaceRecognizer, selection: FaceSelection, flip: bool
) -> dict[str, Any]:
    """One image's report entry; a file that cannot be processed gets an ``error`` entry (and a line on stderr)."""
    try:
        analysis = analyze(detector, recognizer, [read_image(path)], selection, flip=flip)
    except FaceIdentityError as error:  # this file only; the batch goes on
        _report_failure(path, str(error))
        return {"image": str(path), "error": str(error), "faces": []}
    return {"image": str(path), "faces": _face_entries(analysis)}


def command_analyze(args: argparse.Namespace) -> int:
    items = _expand_inputs(args.images)
    detector: FaceDetector | None = None
    recognizer: ArcFaceRecognizer | None = None
    report = [item for item in items if not isinstance(item, Path)]
    if len(report) < len(items):  # models only when some file is there to read
        selection = FaceSelection(args.order, args.indices, args.max_faces, args.min_size)
        detector, recognizer = load_models_from(args)
        report = []
        with Progress(len(items), "analyzed") as progress:
            for item in items:
                report.append(
                    item if not isinstance(item, Path) else _analyze_file(item, detector, recognizer, selection, args.flip)
                )
                progress.update()
    readable = [entry for entry in report if "error" not in entry]
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    elif readable and detector is not None and recognizer is not None:
        print(
            f"detector {detector.name}, recognizer {recognizer.name} ({recognizer.model_id}, {recognizer.dimension}-d), "
            f"{recognizer.backend.describe()}"
        )
        for entry in readable:
            print(f"{entry['image']}: {len(entry['faces'])} face(s)")
            for index, face in enumerate(entry["faces"]):
                x1, y1, x2, y2 = face["bbox"]
                print(f"  [{index}] box ({x1:.0f},{y1:.0f})-({x2:.0f},{y2:.0f}) score {face['score']:.3f}")
    failed = len(report) - len(readable)
    if failed:
        others = "the others were processed" if readable else "nothing was analyzed"
        print(f"error: {failed} of {len(report)} input(s) failed; {others}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def command_compare(args: argparse.Namespace) -> int:
    paths = [Path(args.first), Path(args.second)]
    detector: FaceDetector | None = None
    recognizer: ArcFaceRecognizer | None = None
    if not all(is_identity_file(path) for path in paths):  # identity files need no model at all
        for path in paths:
            if not is_identity_file(path):
                read_image(path)  # a missing or damaged image fails before any model is loaded
        detector, recognizer = load_models_from(args)
    first, second = (identity_of(path, detector, recognizer) for path in paths)
    threshold = args.threshold if args.threshold is not None else match_threshold(first.model_id)
    score = similarity(first, second)
    outcome = verdict(score, threshold)
    if args.json:
        print(json.dumps({"similarity": round(score, 6), "threshold": threshold, "verdict": outcome, "model_id": first.model_id}))
    else:
        print(f"similarity {score:.4f}  {outcome} (threshold {threshold:.2f}, {first.model_id})")
    return 0


def command_calibrate(args: argparse.Namespace) -> int:
    if args.pairs is None:  # a missing or image-less folder, or a bad pairs file, fails before any model is loaded
        labelled_images(args.folder)
    else:
        read_pairs(args.pairs, args.folder)
    detector, recognizer = load_models_from(args)
    reporter = ProgressReporter("embedded")
    try:
        result = calibrate_folder(args.folder, detector, recognizer, args.pairs, flip=args.flip, progress=reporter)
    finally:
        reporter.close()
    report = result.report
    for path, reason in result.unreadable_images:
        _report_failure(path, reason)
    if args.json:
        payload = {key: getattr(report, key) for key in report.__dataclass_fields__}
        payload["tpr_at_fpr"] = {str(k): v for k, v in report.tpr_at_fpr.items()}
        payload["images_without_face"] = [str(p) for p in result.images_without_face]
        payload["unreadable_images"] = [{"image": str(p), "error": reason} for p, reason in result.unreadable_images]
        payload["left_out"] = [{"input": str(p), "reason": reason} for p, reason in result.left_out]
        payload["model_id"] = recognizer.model_id
        print(json.dumps(payload))
    else:
        print(f"recognizer {recognizer.name} ({recognizer.model_id}), detector {detector.name}")
        print(report.summary())
        for path in result.images_without_face:
            print(f"no face: {path}")
        for path, reason in result.left_out:
            print(f"left out: {path}: {reason}")
    if result.unreadable_images:
        count = len(result.unreadable_images)
        print(f"error: {count} image(s) could not be read and were left out; the rest were calibrated", file=sys.stderr)
        return EXIT_FAILED
    return 0


def command_models(args: argparse.Namespace) -> int:
    folders = [Path(p) for p in args.model_dir] + [default_model_dir()]
    for spec in build_catalog().values():
        local = find_local_copy(spec, folders)
        endpoint = os.environ.get("HF_ENDPOINT") or HF_ENDPOINT_DEFAULT
        where = str(local) if local else f"not downloaded ({spec.url(endpoint)})"
        print(f"{spec.name:20s} {spec.role:10s} {where}\n{'':31s} licence: {spec.licence}")
    return 0


def command_download(args: argparse.Namespace) -> int:
    target = Path(args.model_dir[0]) if args.model_dir else default_model_dir()
    if target.exists() and not target.is_dir():
        print(f"error: --model-dir {target} is a file, not a folder; give the folder to download into", file=sys.stderr)
        return EXIT_FAILED
    for name in args.names:
        resolved = resolve_model(name, [target], download_dir=target)
        print(f"{name}: {resolved.path}{' (downloaded and verified)' if resolved.downloaded else ' (already on disk)'}")
    return 0


def prog_name(argv0: str | None = None) -> str:
    """What ``--help`` calls the program: the console script's name, or ``python -m face_identity``."""
    name = os.path.basename(argv0 if argv0 is not None else (sys.argv[0] if sys.argv else ""))
    if name.lower().endswith(".exe"):
        name = name[:-4]
    if not name or name in ("-c", "-m") or name.endswith((".py", ".pyc")) or name.startswith("python"):
        return MODULE_PROG
    return name


def _verbose_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="log what happens (providers, downloads); accepted before or after the command",
    )


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or prog_name(),
        description="Face detection, alignment and ArcFace identities. Exit status 2: an error, or a file of a batch failed.",
    )
    _verbose_option(parser, False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _verbose_option(sub, argparse.SUPPRESS)  # after the command too, without resetting a -v given before it
        return sub

    analyze_parser = command("analyze", "detect and embed the faces of images")
    analyze_parser.add_argument(
        "images",
        nargs="+",
        type=Path,
        metavar="IMAGE",
        help=f"image files or folders (a folder: its {', '.join(IMAGE_EXTENSIONS)} files, sorted; not sub-folders)",
    )
    analyze_parser.add_argument("--json", action="store_true", help="print one JSON list, one object per image")
    analyze_parser.add_argument("--order", choices=FACE_ORDERS, default="large-small", help="face order (default large-small)")
    analyze_parser.add_argument(
        "--indices", type=indices_argument, default=None, help="keep only these face indices, e.g. 0,2 (each once)"
    )
    analyze_parser.add_argument(
        "--max-faces",
        type=integer_argument("--max-faces", minimum=0),
        default=0,
        help="keep at most this many faces per image (0 = all)",
    )
    analyze_parser.add_argument(
        "--min-size",
        type=number_argument("--min-size", minimum=0.0),
        default=0.0,
        help="drop faces smaller than this many pixels",
    )
    add_model_options(analyze_parser)
    analyze_parser.set_defaults(handler=command_analyze)

    compare_parser = command("compare", "similarity of two faces (images or identity files)")
    face_help = "an image (its largest face) or an identity file (.safetensors; needs no model)"
    compare_parser.add_argument("first", metavar="FIRST", help=face_help)
    compare_parser.add_argument("second", metavar="SECOND", help=face_help)
    compare_parser.add_argument("--threshold", type=THRESHOLD, default=None, help="match threshold, -1..1 (default: the model's)")
    compare_parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_model_options(compare_parser)
    compare_parser.set_defaults(handler=command_compare)

    calibrate_parser = command("calibrate", "ROC and best threshold on a folder of identity subfolders")
    calibrate_parser.add_argument(
        "folder", type=Path, metavar="FOLDER", help="a folder with one subfolder of photos per person (subfolder name = label)"
    )
    calibrate_parser.add_argument("--pairs", type=Path, default=None, help="score only these pairs (file_a, file_b, 0|1 per row)")
    calibrate_parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_model_options(calibrate_parser)
    calibrate_parser.set_defaults(handler=command_calibrate)

    models_parser = command("models", "list the catalog and where each model is on disk")
    models_parser.add_argument("--model-dir", action="append", default=[], help="folder to search for models (repeatable)")
    models_parser.set_defaults(handler=command_models)

    download_parser = command("download", "download and verify catalog models (for offline use later)")
    download_parser.add_argument(
        "names",
        nargs="+",
        choices=sorted(build_catalog()),
        metavar="NAME",
        help=f"catalog models: {', '.join(sorted(build_catalog()))}",
    )
    download_parser.add_argument(
        "--model-dir", action="append", default=[], help="download into this folder (default: $FACE_IDENTITY_HOME/models)"
    )
    download_parser.set_defaults(handler=command_download)

    add_score_parser(commands)
    add_identity_parser(commands)
    add_swap_arguments(command("swap", "swap a face into images, folders and videos (SOURCE TARGET... --out DIR)"))
    return parser


_CLI_HANDLER_FLAG = "_face_identity_cli"


def setup_logging(verbose: bool) -> None:
    """One stderr handler on the root logger (added once per process), INFO with ``-v``, else WARNING.

    ``huggingface_hub`` prints through its own handler; it stops propagating to the root logger so
    each of its warnings appears once.
    """
    root = logging.getLogger()
    if not any(getattr(handler, _CLI_HANDLER_FLAG, False) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        setattr(handler, _CLI_HANDLER_FLAG, True)
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("huggingface_hub").propagate = False
    warnings.showwarning = _log_warning  # the library's warnings (e.g. an uncalibrated threshold): one log line each


def _log_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None
) -> None:
    """``warnings.showwarning`` for the CLI: the message alone, as a WARNING log line (no source path)."""
    logging.getLogger("face_identity").warning("%s", message)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(bool(getattr(args, "verbose", False)))
    try:
        return int(args.handler(args))
    except FaceIdentityError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:  # a file or folder the command could not read or write
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


__all__ = ["main", "build_parser", "prog_name", "setup_logging"]
