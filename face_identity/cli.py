"""Command line: ``python -m face_identity {analyze,compare,calibrate,models,download,score} ...``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .catalog import HF_ENDPOINT_DEFAULT, build_catalog, names_for_role
from .compare import match_threshold, similarity, verdict
from .detect import DetectionSettings, FaceDetector, load_detector
from .download import default_model_dir, find_local_copy, resolve_model
from .embed import ArcFaceRecognizer, load_recognizer
from .errors import FaceIdentityError, InvalidArgumentError, NoFaceFoundError
from .images import read_image
from .pipeline import FaceSelection, analyze
from .runtime import PROVIDER_CHOICES
from .select import FACE_ORDERS, parse_index_list
from .store import load_identity
from .types import Identity

DEFAULT_DETECTOR = "retinaface_10g"
DEFAULT_RECOGNIZER = "arcface_w600k_r50"


def _det_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = [int(part) for part in parts if part]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"det size {text!r}: write 640 or 640x480") from error
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise argparse.ArgumentTypeError(f"det size {text!r}: write 640 or 640x480")


def _add_model_options(parser: argparse.ArgumentParser, recognizer: bool = True) -> None:
    group = parser.add_argument_group("models and runtime")
    group.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        help=f"catalog name or .onnx path (default {DEFAULT_DETECTOR}; catalog: {', '.join(names_for_role('detector'))})",
    )
    if recognizer:
        group.add_argument(
            "--recognizer", default=DEFAULT_RECOGNIZER, help=f"catalog name or .onnx path (default {DEFAULT_RECOGNIZER})"
        )
        group.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="faces per recognizer call (default: automatic; 1 for int8 models whose results depend on the batch)",
        )
        group.add_argument(
            "--backend",
            choices=("onnxruntime", "torch", "auto"),
            default="onnxruntime",
            help="recognizer backend (default onnxruntime)",
        )
        group.add_argument("--flip", action="store_true", help="average each embedding with that of the mirrored face")
    group.add_argument(
        "--providers",
        default=None,
        help=f"onnxruntime providers: one of {', '.join(PROVIDER_CHOICES)}, or a comma-separated list of provider names",
    )
    group.add_argument("--device", default=None, help="cpu, cuda or cuda:N (sets providers and the GPU index)")
    group.add_argument("--strict", action="store_true", help="fail instead of falling back to the CPU")
    group.add_argument("--det-size", type=_det_size, default=None, help="detector input, e.g. 640 or 640x480")
    group.add_argument("--det-thresh", type=float, default=0.5, help="detector score threshold (default 0.5)")
    group.add_argument("--model-dir", action="append", default=[], help="folder to search for models (repeatable)")


def _runtime(args: argparse.Namespace) -> tuple[Any, int, Any]:
    device_id = 0
    providers: Any = "auto"
    torch_device = None
    if args.device:
        kind, _, index = args.device.partition(":")
        device_id = int(index) if index.isdigit() else 0
        providers = "cpu" if kind == "cpu" else "cuda"
        torch_device = args.device
    if args.providers:
        providers = args.providers if args.providers in PROVIDER_CHOICES else [p.strip() for p in args.providers.split(",")]
    return providers, device_id, torch_device


def _load_detector(args: argparse.Namespace) -> FaceDetector:
    providers, device_id, _ = _runtime(args)
    settings = DetectionSettings(det_size=args.det_size, score_threshold=args.det_thresh)
    return load_detector(
        args.detector, args.model_dir, providers=providers, strict=args.strict, settings=settings, device_id=device_id
    )


def _load_recognizer(args: argparse.Namespace) -> ArcFaceRecognizer:
    providers, device_id, torch_device = _runtime(args)
    return load_recognizer(
        args.recognizer,
        args.model_dir,
        providers=providers,
        strict=args.strict,
        batch_size=args.batch_size,
        backend=args.backend,
        device=torch_device,
        device_id=device_id,
    )


def _rounded(values: Sequence[float], digits: int = 7) -> list[float]:
    return [round(float(v), digits) for v in values]


def command_analyze(args: argparse.Namespace) -> int:
    detector, recognizer = _load_detector(args), _load_recognizer(args)
    selection = FaceSelection(args.order, tuple(parse_index_list(args.indices) or ()) or None, args.max_faces, args.min_size)
    report = []
    for path in args.images:
        analysis = analyze(detector, recognizer, [read_image(path)], selection, flip=args.flip)
        faces = analysis.faces.faces_per_image[0]
        entries = []
        for face, row in zip(faces, analysis.rows_of_image(0)):
            embedding = analysis.identity.embeddings[row]  # type: ignore[union-attr]  # rows exist only with an identity
            entries.append(
                {
                    "bbox": _rounded(face.bbox, 2),
                    "score": round(face.score, 5),
                    "kps": [_rounded(point, 2) for point in face.landmarks],
                    "embedding": _rounded(embedding),
                }
            )
        report.append({"image": str(path), "faces": entries})
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(
            f"detector {detector.name}, recognizer {recognizer.name} ({recognizer.model_id}, {recognizer.dimension}-d), "
            f"{recognizer.backend.describe()}"
        )
        for entry in report:
            print(f"{entry['image']}: {len(entry['faces'])} face(s)")
            for index, face in enumerate(entry["faces"]):
                x1, y1, x2, y2 = face["bbox"]
                print(f"  [{index}] box ({x1:.0f},{y1:.0f})-({x2:.0f},{y2:.0f}) score {face['score']:.3f}")
    return 0


def _identity_of(path: Path, detector: FaceDetector | None, recognizer: ArcFaceRecognizer) -> Identity:
    if path.suffix.lower() == ".safetensors" or detector is None:
        return load_identity(path)
    analysis = analyze(detector, recognizer, [read_image(path)], FaceSelection(max_faces=1))
    if analysis.identity is None:
        raise NoFaceFoundError(f"no face found in {path}; try --det-thresh 0.3 or a larger, frontal photo")
    return analysis.identity


def command_compare(args: argparse.Namespace) -> int:
    recognizer = _load_recognizer(args)
    needs_detector = any(Path(p).suffix.lower() != ".safetensors" for p in (args.first, args.second))
    detector = _load_detector(args) if needs_detector else None
    first = _identity_of(Path(args.first), detector, recognizer)
    second = _identity_of(Path(args.second), detector, recognizer)
    threshold = args.threshold if args.threshold is not None else match_threshold(first.model_id)
    score = similarity(first, second)
    outcome = verdict(score, threshold)
    if args.json:
        print(json.dumps({"similarity": round(score, 6), "threshold": threshold, "verdict": outcome, "model_id": first.model_id}))
    else:
        print(f"similarity {score:.4f}  {outcome} (threshold {threshold:.2f}, {first.model_id})")
    return 0


def command_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate_folder

    detector, recognizer = _load_detector(args), _load_recognizer(args)
    result = calibrate_folder(args.folder, detector, recognizer, args.pairs, flip=args.flip)
    report = result.report
    if args.json:
        payload = {key: getattr(report, key) for key in report.__dataclass_fields__}
        payload["tpr_at_fpr"] = {str(k): v for k, v in report.tpr_at_fpr.items()}
        payload["images_without_face"] = [str(p) for p in result.images_without_face]
        payload["model_id"] = recognizer.model_id
        print(json.dumps(payload))
    else:
        print(f"recognizer {recognizer.name} ({recognizer.model_id}), detector {detector.name}")
        print(report.summary())
        for path in result.images_without_face:
            print(f"no face: {path}")
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
    for name in args.names:
        resolved = resolve_model(name, [target], download_dir=target)
        print(f"{name}: {resolved.path}{' (downloaded and verified)' if resolved.downloaded else ' (already on disk)'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m face_identity", description="Face detection, alignment and ArcFace identities."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (providers, downloads)")
    commands = parser.add_subparsers(dest="command", required=True)

    analyze_parser = commands.add_parser("analyze", help="detect and embed the faces of images")
    analyze_parser.add_argument("images", nargs="+", type=Path)
    analyze_parser.add_argument("--json", action="store_true", help="print one JSON list, one object per image")
    analyze_parser.add_argument("--order", choices=FACE_ORDERS, default="large-small", help="face order (default large-small)")
    analyze_parser.add_argument("--indices", default="", help="keep only these face indices, e.g. 0,2")
    analyze_parser.add_argument("--max-faces", type=int, default=0, help="keep at most this many faces per image (0 = all)")
    analyze_parser.add_argument("--min-size", type=float, default=0.0, help="drop faces smaller than this many pixels")
    _add_model_options(analyze_parser)
    analyze_parser.set_defaults(handler=command_analyze)

    compare_parser = commands.add_parser("compare", help="similarity of two faces (images or identity files)")
    compare_parser.add_argument("first")
    compare_parser.add_argument("second")
    compare_parser.add_argument("--threshold", type=float, default=None, help="match threshold (default: the model's)")
    compare_parser.add_argument("--json", action="store_true")
    _add_model_options(compare_parser)
    compare_parser.set_defaults(handler=command_compare)

    calibrate_parser = commands.add_parser("calibrate", help="ROC and best threshold on a folder of identity subfolders")
    calibrate_parser.add_argument("folder", type=Path)
    calibrate_parser.add_argument("--pairs", type=Path, default=None, help="score only these pairs (file_a, file_b, 0|1 per row)")
    calibrate_parser.add_argument("--json", action="store_true")
    _add_model_options(calibrate_parser)
    calibrate_parser.set_defaults(handler=command_calibrate)

    models_parser = commands.add_parser("models", help="list the catalog and where each model is on disk")
    models_parser.add_argument("--model-dir", action="append", default=[])
    models_parser.set_defaults(handler=command_models)

    download_parser = commands.add_parser("download", help="download and verify catalog models (for offline use later)")
    download_parser.add_argument("names", nargs="+", choices=sorted(build_catalog()))
    download_parser.add_argument("--model-dir", action="append", default=[], help="download into this folder")
    download_parser.set_defaults(handler=command_download)

    from .score.cli import add_score_parser  # dataset scoring lives in its own package (docs/scoring.md)

    add_score_parser(commands, _add_model_options, _load_detector, _load_recognizer)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except (FaceIdentityError, InvalidArgumentError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


__all__ = ["main", "build_parser"]
