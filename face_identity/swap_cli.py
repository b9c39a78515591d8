"""The ``swap`` subcommand: ``face-identity swap SOURCE TARGET... --out DIR``.

SOURCE is a photo (its largest face) or an identity file (``.safetensors``, as ``identity build``
writes); TARGETs are images, folders (their images and videos, sorted) and video files (PyAV, the
``video`` extra). Each output goes to DIR under its target's name (a video keeps its container when
its audio can be copied into it, else ``.mkv``). The options carry the nodes' names (Face Swap, Face
Mask, Face Restore). Progress goes to stderr; one line per finished target to stdout.

Resume: the settings and what is finished are recorded in ``DIR/.face-identity-swap`` (``swap_resume``);
rerunning the same command after an interruption skips the finished images and continues a video
after its last finished segment. Nothing existing is overwritten unless ``--if-exists overwrite``.
Memory: a video goes through in chunks of ``--chunk-frames`` frames (default: ``frames.frames_per_chunk``
of its size and ``swap_video.VIDEO_MEMORY_BUDGET_MB``), each encoded as soon as it is swapped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .cli_models import (
    add_model_options,
    identity_of,
    indices_argument,
    is_identity_file,
    load_detector_from,
    load_recognizer_from,
    runtime_choice,
)
from .errors import FaceIdentityError, InvalidArgumentError
from .face_models import FaceModel, load_face_model
from .images import IMAGE_EXTENSIONS, read_image, save_image
from .masks import AREAS, MASK_TYPES, REGIONS, MaskSpec
from .progress import Progress
from .restore import DEFAULT_BLEND, DEFAULT_FIDELITY, RestoreSettings
from .roles import Role
from .select import FACE_ORDERS
from .smoothing import SMOOTHERS
from .store import load_identity
from .swap import SELECTION_MODES, SwapSettings, TargetSelection, load_swapper
from .swap.crops import PIXEL_BOOST_FACTORS
from .swap.job import SwapJob
from .swap_resume import IF_EXISTS_CHOICES, RunState, file_digest
from .swap_video import swap_video_file
from .swapper_facts import LATENT_RULES, PASTE_STYLES
from .timeline import TIMELINE_SUFFIXES
from .tracks import DEFAULT_TRACKING, TrackSettings
from .validate import integer_argument, number_argument
from .video_io import VIDEO_EXTENSIONS, is_video_file, output_suffix, probe_video

EXIT_FAILED = 2
DEFAULT_SWAPPER = "inswapper_128"
SETTINGS_KEYS = (
    *("swapper", "detector", "recognizer", "det_size", "det_thresh"),
    *("target_mode", "order", "indices", "threshold", "pixel_boost", "strength", "mask_blur", "face_area_mask"),
    *("learned_mask", "paste", "inswapper_latent", "masks", "box_blur", "padding", "regions", "areas"),
    *("occluder", "parser", "landmarker", "restore", "blend", "fidelity"),
    *("track", "max_gap", "min_overlap", "smoothing", "smoother", "fallback", "retention_floor"),
)
"""The options that decide the outputs (with the source's and the reference's bytes): the resume digest."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _padding(text: str) -> tuple[float, float, float, float]:
    check = number_argument("--padding", 0.0, 100.0)
    parts = [check(part) for part in _names(text)]
    if len(parts) == 1:
        parts *= 4
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"--padding {text!r}: write one value or four (top,right,bottom,left), % of the crop")
    return parts[0], parts[1], parts[2], parts[3]


def _timeline_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (*TIMELINE_SUFFIXES, ".png"):
        raise argparse.ArgumentTypeError(f"--timeline {text!r}: end it in .csv, .json or .png")
    return path


def expand_targets(given: Sequence[Path]) -> list[Path]:
    """Files as given; folders as their images and videos (sorted, not sub-folders)."""
    found: list[Path] = []
    for path in given:
        if path.is_dir():
            kinds = (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS)
            found.extend(sorted(item for item in path.iterdir() if item.is_file() and item.suffix.lower() in kinds))
        else:
            found.append(path)
    return found


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What decides the outputs (the resume digest): the source's bytes, the models by name, every swap option."""
    settings = {key: getattr(args, key) for key in SETTINGS_KEYS}
    settings["source"] = file_digest(args.source)
    settings["reference"] = file_digest(args.reference) if args.reference else None
    settings["timeline"] = args.timeline is not None  # scored or not: a resumed video needs every chunk's rows
    return {key: list(value) if isinstance(value, tuple) else value for key, value in settings.items()}


def _face_model(args: argparse.Namespace, name: str | None, kind: Role) -> FaceModel | None:
    if not name:
        return None
    providers, device_id, _ = runtime_choice(args)
    return load_face_model(name, kind, args.model_dir, providers=providers, strict=args.strict, device_id=device_id)


def build_job(args: argparse.Namespace) -> SwapJob:
    """Load the models the options name and make the ``SwapJob`` (says what it loads on stderr)."""
    providers, device_id, torch_device = runtime_choice(args)
    _say(f"loading swapper {args.swapper} and detector {args.detector} ...")
    swapper = load_swapper(
        args.swapper, args.model_dir, providers=providers, strict=args.strict, device_id=device_id, device=torch_device
    )
    detector = load_detector_from(args)
    photo_source = not is_identity_file(args.source)
    checking = bool(args.fallback) or args.retention_floor is not None or args.timeline is not None
    needs_recognizer = photo_source or args.target_mode == "reference" or args.strength < 1.0 or checking
    recognizer = load_recognizer_from(args) if needs_recognizer else None
    source = identity_of(args.source, detector, recognizer)
    reference = identity_of(args.reference, detector, recognizer) if args.reference else None
    spec = None
    if args.masks:
        spec = MaskSpec(
            types=args.masks,
            blur=args.box_blur,
            padding=args.padding,
            regions=args.regions,
            areas=args.areas,
            occluders=tuple(model for model in [_face_model(args, args.occluder, "occluder")] if model is not None),
            parser=_face_model(args, args.parser, "parser"),
            landmarker=_face_model(args, args.landmarker, "landmarker"),
        )
    settings = SwapSettings(
        args.pixel_boost,
        args.strength,
        args.mask_blur,
        args.face_area_mask,
        args.learned_mask,
        spec,
        args.paste,
        args.inswapper_latent,
    )
    selection = TargetSelection(args.target_mode, args.order, args.indices or (), reference, args.threshold)
    restorer = _face_model(args, args.restore, "restorer")
    restore = RestoreSettings(blend=args.blend, fidelity=args.fidelity) if restorer is not None else None
    tracking = None
    if args.track is not False:  # None: on for videos (images never use it); False: --no-track
        tracking = TrackSettings(args.max_gap, args.min_overlap, None, args.smoothing, args.smoother)
    fallback = tuple(
        load_swapper(name, args.model_dir, providers=providers, strict=args.strict, device_id=device_id, device=torch_device)
        for name in args.fallback
    )
    return SwapJob(
        swapper,
        detector,
        source,
        settings,
        selection,
        recognizer,
        None,
        restorer,
        restore,
        tracking,
        fallback,
        args.retention_floor,
        checking,
    )


def _plan_outputs(args: argparse.Namespace, state: RunState, targets: list[Path]) -> list[tuple[Path, Path | None, str]]:
    """``(target, output or None, error)`` per target; outputs chosen (and refused) before any model loads."""
    planned: list[tuple[Path, Path | None, str]] = []
    taken: set[str] = set()
    for target in targets:
        try:
            if not target.is_file():
                raise InvalidArgumentError(f"{target} does not exist" if not target.exists() else f"{target} is not a file")
            wanted = target.stem + output_suffix(probe_video(target)) if is_video_file(target) else target.name
        except FaceIdentityError as error:  # this target only; the others go on
            planned.append((target, None, str(error)))
            continue
        # an output that exists (and is no finished part of this run) stops the run here, before any work
        planned.append((target, state.output_for(target, wanted, args.if_exists, taken), ""))
    return planned


def _swap_image(job: SwapJob, target: Path, output: Path) -> str:
    result = job.run([read_image(target)], context=str(target))  # images: one by one, never tracked
    save_image(output, result.images[0])
    return f"{output}: {result.swapped_counts[0]} face(s) swapped"


def _timeline_paths(args: argparse.Namespace, output: Path, videos: int) -> tuple[Path, ...]:
    """Where a video's identity-over-time goes: ``--timeline`` (its stem + the video's with several videos),
    else ``<output>.timeline.csv`` and ``.png`` beside the output; nothing without a self-check."""
    if args.timeline is not None:
        path = Path(args.timeline)
        return (path if videos == 1 else path.with_name(f"{path.stem}_{output.stem}{path.suffix}"),)
    return (output.with_suffix(".timeline.csv"), output.with_suffix(".timeline.png"))


def _swap_video(job: SwapJob, target: Path, output: Path, state: RunState, args: argparse.Namespace, videos: int) -> str:
    if args.track is False:
        job = replace(job, tracking=None)
    paths = _timeline_paths(args, output, videos) if job.checking else ()
    report = swap_video_file(job, target, output, state.parts_folder(output), args.chunk_frames, paths)
    lines = [f"{output}: {report.frames} frames; this run swapped {report.swapped_now}, {report.with_face} with a face"]
    lines += [f"{path}: identity over time" for path in report.timeline_files]
    return "\n".join(lines)


def command_swap(args: argparse.Namespace) -> int:
    if not args.source.is_file():
        raise InvalidArgumentError(f"source {args.source} does not exist; give a photo or an identity file (.safetensors)")
    if is_identity_file(args.source):
        load_identity(args.source)  # a damaged identity file fails before any model loads
    else:
        read_image(args.source)
    if args.fallback and args.retention_floor is None:
        raise InvalidArgumentError("--fallback models are tried on faces below --retention-floor; give one too (e.g. 0.5)")
    if args.reference is not None and args.target_mode != "reference":
        raise InvalidArgumentError("--reference says who to replace in --target-mode reference; add that, or drop --reference")
    if args.indices and args.target_mode != "indices":
        raise InvalidArgumentError("--indices says which faces to replace in --target-mode indices; add that, or drop --indices")
    targets = expand_targets(args.targets)
    if not targets:
        raise InvalidArgumentError(f"no images or videos found in {', '.join(map(str, args.targets))}")
    args.out.mkdir(parents=True, exist_ok=True)
    state = RunState.open(args.out, run_settings(args), args.if_exists)
    planned = _plan_outputs(args, state, targets)
    state.save()
    failed = [(target, error) for target, output, error in planned if output is None]
    for target, error in failed:
        _say(f"error: {target}: {error}")
    todo = [(target, output) for target, output, _ in planned if output is not None and not state.is_done(target)]
    skipped = sum(1 for target, output, _ in planned if output is not None and state.is_done(target))
    if skipped:
        _say(f"{skipped} target(s) already done in {args.out} (resumed run): skipped")
    if todo:
        job = build_job(args)
        images = [item for item in todo if not is_video_file(item[0])]
        if images and args.track:
            _say("note: --track applies to video files; images are swapped one by one (unrelated pictures)")
        videos = sum(1 for target, output, _ in planned if output is not None and is_video_file(target))
        with Progress(len(images), "swapped", "images", enabled=len(images) > 1) as progress:
            for target, output in todo:
                try:
                    if is_video_file(target):
                        line = _swap_video(job, target, output, state, args, videos)
                    else:
                        line = _swap_image(job, target, output)
                        progress.update()
                except FaceIdentityError as error:
                    _say(f"error: {target}: {error}")
                    failed.append((target, str(error)))
                    continue
                state.mark_done(target)
                print(line, flush=True)
    if failed:
        _say(f"error: {len(failed)} of {len(planned)} target(s) failed; the others were swapped")
        return EXIT_FAILED
    return 0


def add_swap_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``swap`` command's arguments on its subparser (``cli.build_parser`` makes it)."""
    parser.add_argument(
        "source", type=Path, metavar="SOURCE", help="who to paste in: a photo (its largest face) or an identity file"
    )
    parser.add_argument(
        "targets",
        nargs="+",
        type=Path,
        metavar="TARGET",
        help=f"images, folders (their images and videos) and video files ({', '.join(VIDEO_EXTENSIONS)}; needs PyAV)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; one file per target, same name)")
    parser.add_argument(
        "--if-exists",
        choices=IF_EXISTS_CHOICES,
        default="error",
        help="when an output exists (and is not a finished part of this same run): error (default), 'new name' or overwrite",
    )
    parser.add_argument(
        "--chunk-frames",
        type=integer_argument("--chunk-frames", minimum=1),
        default=None,
        help="video frames swapped and encoded at once (one resumable segment; default 21 at 720p, 9 at 1080p)",
    )
    swap = parser.add_argument_group("swap (the Face Swap node's inputs)")
    swap.add_argument("--swapper", default=DEFAULT_SWAPPER, help=f"catalog name or .onnx path (default {DEFAULT_SWAPPER})")
    swap.add_argument("--target-mode", choices=SELECTION_MODES, default="all", help="which faces: all, indices or reference")
    swap.add_argument("--order", choices=FACE_ORDERS, default="large-small", help="face order (default large-small)")
    swap.add_argument("--indices", type=indices_argument, default=None, help="indices mode: face positions, e.g. 0,2")
    swap.add_argument("--reference", type=Path, default=None, help="reference mode: a photo or identity file of who to replace")
    swap.add_argument(
        "--threshold", type=number_argument("--threshold", -1.0, 1.0), default=None, help="reference mode: similarity, -1..1"
    )
    swap.add_argument(
        "--pixel-boost", type=int, choices=PIXEL_BOOST_FACTORS, default=1, help="swap at 1x, 2x or 4x the model size"
    )
    swap.add_argument(
        "--strength", type=number_argument("--strength", 0.0, 1.0), default=1.0, help="1 = the source identity (0..1)"
    )
    swap.add_argument(
        "--mask-blur", type=number_argument("--mask-blur", 0.0, 8.0), default=1.0, help="insightface paste feather, 0..8"
    )
    swap.add_argument("--face-area-mask", action="store_true", help="paste only over the face area (keeps hair, background)")
    swap.add_argument("--learned-mask", action="store_true", help="paste through the swapper's learned mask (HyperSwap)")
    swap.add_argument("--paste", choices=("auto", *PASTE_STYLES), default="auto", help="how the face is cut and pasted")
    swap.add_argument("--inswapper-latent", choices=LATENT_RULES, default="insightface", help="inswapper's source latent rule")
    masks = parser.add_argument_group("masks (the Face Mask node's inputs)")
    masks.add_argument(
        "--masks",
        type=_names,
        default=(),
        help=f"mask types, comma separated: {', '.join(MASK_TYPES)} (default: the swapper's own paste mask)",
    )
    masks.add_argument("--box-blur", type=number_argument("--box-blur", 0.0, 1.0), default=0.3, help="box feather, 0..1 (0.3)")
    masks.add_argument(
        "--padding", type=_padding, default=(0.0, 0.0, 0.0, 0.0), help="box padding %%: one value or top,right,bottom,left"
    )
    masks.add_argument("--regions", type=_names, default=tuple(REGIONS), help=f"region mask classes: {', '.join(REGIONS)}")
    masks.add_argument("--areas", type=_names, default=tuple(AREAS), help=f"area mask parts: {', '.join(AREAS)}")
    masks.add_argument("--occluder", default=None, help="occlusion mask model (e.g. xseg_1)")
    masks.add_argument("--parser", default=None, help="region mask model (e.g. bisenet_resnet_34)")
    masks.add_argument("--landmarker", default=None, help="area mask 68-point model (e.g. 2dfan4)")
    restore = parser.add_argument_group("restore (the Face Restore node's inputs)")
    restore.add_argument(
        "--restore", default=None, metavar="RESTORER", help="restore the swapped faces with this model (e.g. gfpgan_1.4)"
    )
    restore.add_argument(
        "--blend",
        type=number_argument("--blend", 0.0, 1.0),
        default=DEFAULT_BLEND,
        help=f"restored face weight, 0..1 ({DEFAULT_BLEND})",
    )
    track = parser.add_argument_group("tracking and self-check (the Face Track node's inputs; video files)")
    track.add_argument(
        "--track",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="follow faces through a video, bridge short gaps, smooth the landmarks (default: on for videos; images never)",
    )
    track.add_argument(
        "--max-gap",
        type=integer_argument("--max-gap", minimum=0),
        default=DEFAULT_TRACKING.max_gap,
        help="missed frames bridged (8)",
    )
    track.add_argument(
        "--min-overlap",
        type=number_argument("--min-overlap", 0.0, 1.0),
        default=DEFAULT_TRACKING.min_overlap,
        help="box IoU linking a face to its track (0.3)",
    )
    track.add_argument(
        "--smoothing",
        type=number_argument("--smoothing", 0.0, 1.0),
        default=DEFAULT_TRACKING.smoothing,
        help="0 = off .. 1 = strongest (0.5)",
    )
    track.add_argument(
        "--smoother", choices=SMOOTHERS, default=DEFAULT_TRACKING.smoother, help="centred (look-ahead), causal (One Euro) or off"
    )
    track.add_argument(
        "--fallback",
        type=_names,
        default=(),
        help="swappers tried in order on a face below --retention-floor, e.g. hyperswap_1b_256,inswapper_128",
    )
    track.add_argument(
        "--retention-floor",
        type=number_argument("--retention-floor", -1.0, 1.0),
        default=None,
        help="lowest retention a swapped face may keep, -1..1",
    )
    track.add_argument(
        "--timeline",
        type=_timeline_path,
        default=None,
        help="write identity over time here (.csv, .json or .png chart); default with a floor or fallback: <output>.timeline.csv and .png",
    )
    restore.add_argument(
        "--fidelity", type=number_argument("--fidelity", 0.0, 1.0), default=DEFAULT_FIDELITY, help="CodeFormer's fidelity, 0..1"
    )
    add_model_options(parser)
    parser.set_defaults(handler=command_swap)
