"""The CLI's model options (``--detector``, ``--recognizer``, providers, device, det size ...) and loading from them.

Shared by every subcommand that loads models (``analyze``, ``compare``, ``calibrate``, ``score``,
``identity build``, ``swap``); the numbers go through the library's one number policy (``validate``). Also the
identity a source/reference argument names (an identity file, or a photo read with the loaded models).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from .catalog import names_for_role
from .detect import DetectionSettings, FaceDetector, load_detector
from .embed import ArcFaceRecognizer, load_recognizer
from .errors import FaceIdentityError, NoFaceFoundError
from .images import read_image
from .pipeline import analyze
from .protocols import Detector, Recognizer
from .runtime import PROVIDER_CHOICES
from .select import FaceSelection, parse_index_list
from .store import IDENTITY_SUFFIX, load_identity
from .types import Identity
from .validate import integer_argument, number_argument

DEFAULT_DETECTOR = "retinaface_10g"
DEFAULT_RECOGNIZER = "arcface_w600k_r50"
logger = logging.getLogger("face_identity.cli")


def det_size_argument(text: str) -> tuple[int, int]:
    parts = [part for part in text.lower().replace(",", "x").split("x") if part]
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"det size {text!r}: write 640 or 640x480")
    sides: list[Any] = [int(part) if part.isdecimal() else part for part in parts]
    try:  # DetectionSettings' own rule: whole multiples of 32 in 32..MAX_DET_SIZE (4096)
        settings = DetectionSettings(det_size=(sides[0], sides[-1]))
    except FaceIdentityError as error:
        raise argparse.ArgumentTypeError(f"det size {text!r}: {error}") from None
    return settings.det_size or (0, 0)


def indices_argument(text: str) -> tuple[int, ...] | None:
    try:  # parse_index_list: whole numbers >= 0, each listed once ("1,1" would pick face 1 twice)
        return tuple(parse_index_list(text) or ()) or None
    except FaceIdentityError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_model_options(parser: argparse.ArgumentParser, recognizer: bool = True) -> None:
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
            type=integer_argument("--batch-size", minimum=1, automatic="auto"),
            default=None,
            help="faces per recognizer call, >= 1, or auto (the default: 1 for int8 models whose results depend on the batch)",
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
    group.add_argument("--det-size", type=det_size_argument, default=None, help="detector input, e.g. 640 or 640x480")
    group.add_argument(
        "--det-thresh",
        type=number_argument("--det-thresh", 0.0, 1.0),
        default=0.5,
        help="detector score threshold, 0..1 (default 0.5)",
    )
    group.add_argument(
        "--model-dir", action="append", default=[], help="folder to search for models before downloading (repeatable)"
    )


def runtime_choice(args: argparse.Namespace) -> tuple[Any, int, Any]:
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


def load_detector_from(args: argparse.Namespace) -> FaceDetector:
    providers, device_id, _ = runtime_choice(args)
    settings = DetectionSettings(det_size=args.det_size, score_threshold=args.det_thresh)
    return load_detector(
        args.detector, args.model_dir, providers=providers, strict=args.strict, settings=settings, device_id=device_id
    )


def load_recognizer_from(args: argparse.Namespace) -> ArcFaceRecognizer:
    providers, device_id, torch_device = runtime_choice(args)
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


def load_models_from(args: argparse.Namespace) -> tuple[FaceDetector, ArcFaceRecognizer]:
    """Both models, saying so first on stderr (loading can take seconds; a download, minutes)."""
    print(f"loading detector {args.detector} and recognizer {args.recognizer} ...", file=sys.stderr, flush=True)
    detector, recognizer = load_detector_from(args), load_recognizer_from(args)
    logger.info("%r; recognizer %s runs on %s", detector, recognizer.name, recognizer.backend.describe())
    return detector, recognizer


def is_identity_file(path: Path) -> bool:
    """Whether a path argument names a saved identity (``.safetensors``) rather than a photo."""
    return path.suffix.lower() == IDENTITY_SUFFIX


def identity_of(path: Path, detector: Detector | None, recognizer: Recognizer | None, flip: bool = False) -> Identity:
    """The identity a path argument names: an identity file's, or that of the photo's first face (largest).

    A photo needs both models; without them the path is read as an identity file (whose error names the problem).
    ``flip``: the photo's embedding is averaged with that of the mirrored face. Used by compare, swap and score.
    """
    if is_identity_file(path) or detector is None or recognizer is None:
        return load_identity(path)
    analysis = analyze(detector, recognizer, [read_image(path)], FaceSelection(max_faces=1), flip=flip)
    if analysis.identity is None:
        raise NoFaceFoundError(f"no face found in {path}; try --det-thresh 0.3 or a larger, frontal photo")
    return analysis.identity
