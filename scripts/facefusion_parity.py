"""Parity of Face Swap and Face Restore with FaceFusion 3.8.1: FaceFusion's own functions against ours, same inputs.

    python scripts/facefusion_parity.py --facefusion /tmp/facefusion-3.8.1 [--data ../shared/data] [--json out.json]

``--facefusion`` is an extracted FaceFusion checkout (``git archive 3.8.1``); this script contains none of its
code, it imports it and calls ``face_swapper.core.swap_face`` (crop, masks, model, ``paste_back``) and
``face_enhancer.core.enhance_face`` per face, in order, as its ``process_frame`` does. FaceFusion's models are
the synthetic stand-ins of ``face_identity.devtools`` written under FaceFusion's model paths
(``<checkout>/.assets/models/<name>.onnx``, replacing what is there); its settings go through its
``state_manager``. Our side runs ``swap_faces`` / ``restore_faces`` on the same files.

Same inputs on both sides: a photo of the test data (``groups/face_recognition_two_people.jpg`` with its left
200 columns cut off, so the left face's crop reaches past the left and top edges: the border case; or, for the
``crowded`` cases, ``groups/deepface_selfie-many-people.jpg``, six faces whose crops overlap, where the order
of the faces shows), its faces found by the SCRFD-2.5G detector of the test data (the same float32 5 points
given to both; 68 points made from them by the stand-in fan_68_5 matrix), and one seeded raw 512-d source
embedding (FaceFusion: ``embedding`` = raw, ``embedding_norm`` = unit; ours: a one-row identity with that norm).
The faces' own embeddings, which FaceFusion's weight (our strength) mixes in, come from a tiny IResNet stand-in
declared w600k_r50: FaceFusion gets them as each target ``Face.embedding``, ours embeds the faces with it.

FaceFusion truncates its frame to uint8 after each paste; ours stays float32. Ours is quantised as FaceFusion
does (``floor(x * 255)``, with 1e-3 grey level of slack so an untouched ``k / 255`` stays ``k``) before
comparing. Reported per case over the pixels either side changed: the largest difference over the colour
channels (grey levels 0..255), its 99.9th percentile, and the share of those pixels off by more than 1.

Diagnosis and controls: ``--float-frame`` hands FaceFusion a float32 frame and compares ours unquantised (what
is left is not the uint8 steps); ``--paste insightface --latent insightface`` runs our other recipe; ``--ours
PATH --keep-models`` measures another checkout's ``face_identity`` (e.g. ``git archive 967d84c face_identity``,
before the restructure) on the stand-ins a run of this one wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def ours_root(argv: list[str]) -> Path:
    """``--ours PATH``: the checkout whose ``face_identity`` is measured (default: this one), read before importing it."""
    for index, value in enumerate(argv):
        if value == "--ours" and index + 1 < len(argv):
            return Path(argv[index + 1]).resolve()
        if value.startswith("--ours="):
            return Path(value.split("=", 1)[1]).resolve()
    return REPO_ROOT


sys.path.insert(0, str(ours_root(sys.argv[1:])))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from face_identity.catalog import W600K_R50_SPACE  # noqa: E402
from face_identity.detect import load_detector  # noqa: E402
from face_identity.devtools import synthetic, synthetic_masks  # noqa: E402
from face_identity.embed import load_recognizer  # noqa: E402
from face_identity.face_models import load_face_model  # noqa: E402
from face_identity.images import read_image  # noqa: E402
from face_identity.masks import MaskSpec  # noqa: E402
from face_identity.restore import RestoreSettings, restore_faces  # noqa: E402
from face_identity.swap import SwapSettings, load_swapper, swap_faces  # noqa: E402
from face_identity.types import Face, Identity  # noqa: E402

PHOTO = "groups/face_recognition_two_people.jpg"
CUT_LEFT = 200
"""Columns cut off the photo's left side: the left face's swap crop then reaches past the image edge."""
CROWDED = "groups/deepface_selfie-many-people.jpg"
"""Six faces whose crops overlap: the order in which faces are swapped or restored shows here."""
RECOGNIZER = "parity_tiny_recognizer.onnx"
"""A tiny IResNet stand-in for w600k_r50 (not a FaceFusion file): embeds the target faces for the weight cases."""
PHOTOS: dict[str, tuple[str, int]] = {"two": (PHOTO, CUT_LEFT), "crowded": (CROWDED, 0)}
"""Photo key -> (path under the data folder, columns cut off its left side)."""
DETECTOR = "models/scrfd_2.5g_bnkps_640.onnx"
SOURCE_SEED = 19
SOURCE_NORM = 21.0
"""Raw norm of the seeded source embedding (w600k_r50's raw norms are about 20)."""
PARSER_MARGIN = 0.06
"""Stand-in parser: ``R - G > 0.06`` scores a face region, i.e. most skin of the photo."""
BOX_BLUR, BOX_PADDING = 0.5, (5.0, 10.0, 15.0, 20.0)
"""The box-mask case's settings (the family cases use FaceFusion's default box: blur 0.3, no padding)."""
SWAPPERS: dict[str, tuple[str, int, str | None]] = {
    "inswapper_128": ("inswapper", 128, None),
    "hyperswap_1a_256": ("hyperswap", 256, None),
    "simswap_256": ("simswap", 256, "crossface_simswap"),
    "simswap_unofficial_512": ("simswap", 512, "crossface_simswap"),
    "ghost_1_256": ("ghost", 256, "crossface_ghost"),
    "hififace_unofficial_256": ("hififace", 256, "crossface_hififace"),
}
"""FaceFusion model name -> (our family, crop side, crossface converter)."""
CONVERTER_SEEDS = {"crossface_simswap": 1, "crossface_ghost": 2, "crossface_hififace": 3}


@dataclass(frozen=True)
class Case:
    """One comparison: a swapper (or the restorer when ``swapper`` is None) and FaceFusion's settings for it."""

    name: str
    swapper: str | None
    mask_types: tuple[str, ...] = ("box",)
    pixel_boost: int = 1
    blur: float = 0.3
    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    note: str = ""
    photo: str = "two"
    weight: float = 0.5
    """FaceFusion's ``face_swapper_weight`` (0..0.5); ours is ``strength = 2 * weight`` (the same target share)."""


CASES: tuple[Case, ...] = (
    Case("inswapper_128", "inswapper_128", note="paste=facefusion, inswapper_latent=facefusion"),
    Case("hyperswap_1a_256", "hyperswap_1a_256"),
    Case("simswap_256", "simswap_256"),
    Case("simswap_unofficial_512", "simswap_unofficial_512"),
    Case("ghost_1_256", "ghost_1_256"),
    Case("hififace_unofficial_256", "hififace_unofficial_256"),
    Case("box mask", "hyperswap_1a_256", blur=BOX_BLUR, padding=BOX_PADDING, note="blur 0.5, padding 5 10 15 20"),
    Case("occlusion mask", "hyperswap_1a_256", ("box", "occlusion"), note="box + xseg_1"),
    Case("region mask", "hyperswap_1a_256", ("box", "region"), note="box + bisenet_resnet_34, all regions"),
    Case("area mask", "hyperswap_1a_256", ("box", "area"), note="box + the three areas"),
    Case("all four masks", "hyperswap_1a_256", ("box", "occlusion", "region", "area")),
    Case("pixel boost 2x", "hyperswap_1a_256", pixel_boost=2, note="512 px crop"),
    Case("pixel boost 2x, inswapper", "inswapper_128", pixel_boost=2, note="256 px crop; FaceFusion's latent and paste"),
    Case("GFPGAN restore", None, note="gfpgan_1.4, blend 80, box mask"),
    Case("hyperswap_1a_256, weight 0.2", "hyperswap_1a_256", weight=0.2, note="strength 0.4: unit target embedding"),
    Case("ghost_1_256, weight 0.2", "ghost_1_256", weight=0.2, note="strength 0.4: raw target embedding"),
    Case("hyperswap_1a_256, crowded", "hyperswap_1a_256", note="6 faces, crops overlap", photo="crowded"),
    Case("GFPGAN restore, crowded", None, note="6 faces, crops overlap", photo="crowded"),
)


def build_models(folder: Path) -> None:
    """Write every stand-in under FaceFusion's file names (its ``.assets/models``)."""
    folder.mkdir(parents=True, exist_ok=True)
    synthetic.build_inswapper_like(folder / "inswapper_128.onnx", seed=3)
    for name, (family, size, _) in SWAPPERS.items():
        if family != "inswapper":
            synthetic.build_embedding_swapper_like(folder / f"{name}.onnx", size, "linear", mask=family == "hyperswap", seed=5)
    for converter, seed in CONVERTER_SEEDS.items():
        synthetic.build_crossface_like(folder / f"{converter}.onnx", seed=seed)
    synthetic_masks.build_xseg_like(folder / "xseg_1.onnx", batch=1)
    synthetic_masks.build_bisenet_like(folder / "bisenet_resnet_34.onnx", batch=1, margin=PARSER_MARGIN)
    synthetic_masks.build_restorer_like(folder / "gfpgan_1.4.onnx", 512, scale=0.8, offset=0.1)
    synthetic.build_iresnet(folder / RECOGNIZER, synthetic.TINY_IRESNET, seed=0)


@dataclass(frozen=True)
class Inputs:
    """What both sides get: the RGB uint8 photo, our faces (5 and 68 points), the raw source embedding and the
    faces' own raw embeddings (``[F, 512]``, by the stand-in recognizer: FaceFusion's ``Face.embedding``)."""

    photo: NDArray[np.uint8]
    faces: tuple[Face, ...]
    raw_source: NDArray[np.float32]
    raw_targets: NDArray[np.float32]


def load_stand_in_recognizer(models: Path) -> Any:
    """The tiny recognizer, declared w600k_r50 so that every swapper takes its embeddings."""
    return load_recognizer(models / RECOGNIZER, model_id=W600K_R50_SPACE)


def make_inputs(data: Path, models: Path, key: str = "two") -> Inputs:
    """The photo ``PHOTOS[key]``, its faces found by the test data's SCRFD-2.5G, and the source embedding."""
    path, cut = PHOTOS[key]
    photo = np.ascontiguousarray(read_image(data / path)[:, cut:])
    detected = load_detector(data / DETECTOR).detect(photo)
    spread = synthetic_masks.fan_68_5_matrix(0).astype(np.float64)
    faces = tuple(
        Face(face.bbox, face.score, face.landmarks, landmarks_68=spread @ np.asarray(face.landmarks, np.float64))
        for face in detected
    )
    raw = np.random.default_rng(SOURCE_SEED).normal(size=512)
    raw = (raw / np.linalg.norm(raw) * SOURCE_NORM).astype(np.float32)
    embedded, _ = load_stand_in_recognizer(models).embed_faces([photo], [list(faces)])
    return Inputs(photo, faces, raw, np.asarray(embedded.raw, np.float32))


def facefusion_modules(checkout: Path) -> dict[str, Any]:
    """Import FaceFusion's swapper, enhancer and state manager from ``checkout`` (nothing is copied)."""
    sys.path.insert(0, str(checkout))
    from facefusion import state_manager
    from facefusion.processors.modules.face_enhancer import core as enhancer
    from facefusion.processors.modules.face_swapper import core as swapper
    from facefusion.types import Face as FaceFusionFace

    return {"state": state_manager, "swapper": swapper, "enhancer": enhancer, "Face": FaceFusionFace}


def facefusion_state(ff: dict[str, Any], case: Case) -> None:
    """FaceFusion's settings for ``case`` (its defaults elsewhere: weight 0.5, blend 80, CPU)."""
    size = SWAPPERS[case.swapper][1] * case.pixel_boost if case.swapper else 0
    items = {
        "download_providers": [],  # no URL is resolved (nothing is downloaded)
        "execution_device_ids": [0],
        "execution_providers": ["cpu"],
        "execution_thread_count": 1,
        "video_memory_strategy": "tolerant",
        "workflow_mode": "image-to-image",
        "face_swapper_model": case.swapper,
        "face_swapper_pixel_boost": f"{size}x{size}",
        "face_swapper_weight": case.weight,
        "face_mask_types": list(case.mask_types),
        "face_mask_blur": case.blur,
        "face_mask_padding": case.padding,
        "face_mask_areas": ["upper-face", "lower-face", "mouth"],
        "face_mask_regions": [
            "skin",
            "left-eyebrow",
            "right-eyebrow",
            "left-eye",
            "right-eye",
            "glasses",
            "nose",
            "mouth",
            "upper-lip",
            "lower-lip",
        ],
        "face_occluder_model": "xseg_1",
        "face_parser_model": "bisenet_resnet_34",
        "face_enhancer_model": "gfpgan_1.4",
        "face_enhancer_blend": 80,
        "face_enhancer_weight": 0.5,
    }
    for key, value in items.items():
        ff["state"].init_item(key, value)


def facefusion_faces(ff: dict[str, Any], inputs: Inputs) -> tuple[Any, list[Any]]:
    """FaceFusion ``Face`` tuples: the source (raw embedding and its unit) and the targets (our 5 and 68 points)."""
    make = ff["Face"]

    def face(one: Face, raw: NDArray[np.float32]) -> Any:
        landmark_set = {"5": one.landmarks, "5/68": one.landmarks, "68": one.landmarks_68, "68/5": one.landmarks_68}
        scores = {"detector": 1.0, "landmarker": 1.0}
        return make(None, one.bbox, scores, landmark_set, 0, raw, raw / np.linalg.norm(raw), None, None, None)

    source = face(inputs.faces[0], inputs.raw_source)
    targets = [face(one, raw) for one, raw in zip(inputs.faces, inputs.raw_targets, strict=True)]
    return source, targets


def run_facefusion(ff: dict[str, Any], case: Case, inputs: Inputs, float_frame: bool = False) -> NDArray[np.generic]:
    """FaceFusion's frame (RGB, 0..255) after its swap_face / enhance_face on each face in order.

    ``float_frame``: hand FaceFusion a float32 frame (0..255) instead of uint8 (its functions take either), which takes
    its uint8 steps on the frame out (crop sampling, the truncation after each paste); the enhancer still rounds
    its restored crop to uint8.
    """
    facefusion_state(ff, case)
    source, targets = facefusion_faces(ff, inputs)
    frame = np.ascontiguousarray(inputs.photo[:, :, ::-1])  # FaceFusion works in BGR
    if float_frame:
        frame = frame.astype(np.float32)
    for target in targets:
        if case.swapper is None:
            frame = ff["enhancer"].enhance_face(target, frame)
        else:
            frame = ff["swapper"].swap_face(source, target, frame, frame)
    return np.ascontiguousarray(frame[:, :, ::-1])


def run_ours(
    case: Case, inputs: Inputs, models: Path, paste: str = "facefusion", latent: str = "facefusion"
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Our image (float32 RGB 0..1) and paste weight for ``case`` (``paste``, ``latent``: ``SwapSettings``' fields)."""
    image = inputs.photo.astype(np.float32) / 255.0
    occluders = (load_face_model(models / "xseg_1.onnx", "occluder"),) if "occlusion" in case.mask_types else ()
    parser = load_face_model(models / "bisenet_resnet_34.onnx", "parser") if "region" in case.mask_types else None
    spec = MaskSpec(types=case.mask_types, blur=case.blur, padding=case.padding, occluders=occluders, parser=parser)
    if case.swapper is None:
        restorer = load_face_model(models / "gfpgan_1.4.onnx", "restorer")
        restored = restore_faces(restorer, [image], [list(inputs.faces)], RestoreSettings(mask=spec))
        return restored.images[0], restored.masks[0]
    family, _, converter = SWAPPERS[case.swapper]
    swapper = load_swapper(
        models / f"{case.swapper}.onnx", family=family, converter=None if converter is None else models / f"{converter}.onnx"
    )
    norm = float(np.linalg.norm(inputs.raw_source))
    source = Identity((inputs.raw_source / norm)[None], W600K_R50_SPACE, norms=np.array([norm], np.float32))
    strength = 2.0 * case.weight  # FaceFusion's target share 0.35 - 0.7 weight = ours 0.35 (1 - strength)
    wanted = {"pixel_boost": case.pixel_boost, "strength": strength, "masks": spec, "paste": paste, "inswapper_latent": latent}
    known = {item.name for item in fields(SwapSettings)}  # an older checkout (--ours) lacks paste and latent
    settings = SwapSettings(**{key: value for key, value in wanted.items() if key in known})
    recognizer = load_stand_in_recognizer(models) if strength < 1.0 else None
    result = swap_faces(swapper, [image], source, [list(inputs.faces)], settings, recognizer=recognizer)
    return result.images[0], result.masks[0]


def quantise(image: NDArray[np.floating]) -> NDArray[np.uint8]:
    """FaceFusion's ``astype(uint8)`` (truncation) of ``image * 255``, with 1e-3 grey level of float slack."""
    return np.clip(np.floor(np.asarray(image, np.float64) * 255.0 + 1e-3), 0, 255).astype(np.uint8)


def compare(ours: NDArray[np.generic], theirs: NDArray[np.generic], photo: NDArray[np.uint8]) -> dict[str, float]:
    """Max, 99.9th percentile and share (> 1 grey level) of the per-pixel largest channel difference, over the
    pixels either side changed (by more than 1e-3 grey level). All three arrays are RGB on the 0..255 scale."""
    ours64, theirs64, photo64 = (np.asarray(a, np.float64) for a in (ours, theirs, photo))
    touched = np.any(np.abs(ours64 - photo64) > 1e-3, axis=2) | np.any(np.abs(theirs64 - photo64) > 1e-3, axis=2)
    diff = np.abs(ours64 - theirs64).max(axis=2)[touched]
    if diff.size == 0:
        return {"pixels": 0, "max": 0.0, "p999": 0.0, "over_1_percent": 0.0}
    return {
        "pixels": int(diff.size),
        "max": float(diff.max()),
        "p999": float(np.percentile(diff, 99.9)),
        "over_1_percent": float(100.0 * np.mean(diff > 1)),
    }


def border_reach(inputs: Inputs) -> str:
    """Which faces' 128/256 swap crops reach past the image edge (the border case)."""
    from face_identity.align import alignment_matrix

    height, width = inputs.photo.shape[:2]
    notes = []
    square = np.array([[0, 0, 1], [256, 0, 1], [0, 256, 1], [256, 256, 1]], np.float64)
    for index, face in enumerate(inputs.faces):
        corners = square @ cv2.invertAffineTransform(alignment_matrix(face.landmarks, "arcface_128", 256)).T
        outside = corners.min() < 0 or corners[:, 0].max() > width or corners[:, 1].max() > height
        notes.append(f"face {index}: crop {'reaches past' if outside else 'inside'} the edge")
    return "; ".join(notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facefusion", type=Path, required=True, help="an extracted FaceFusion 3.8.1 checkout")
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="the shared test data")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    parser.add_argument(
        "--float-frame",
        action="store_true",
        help="diagnosis: FaceFusion gets a float32 frame and ours is compared unquantised (the uint8 steps taken out)",
    )
    parser.add_argument("--paste", default="facefusion", help="our SwapSettings.paste (insightface: a control)")
    parser.add_argument("--latent", default="facefusion", help="our SwapSettings.inswapper_latent (insightface: a control)")
    parser.add_argument("--ours", type=Path, help="measure the face_identity of this checkout instead (e.g. an older commit)")
    parser.add_argument(
        "--keep-models", action="store_true", help="use the stand-ins already written (by a run of this checkout)"
    )
    args = parser.parse_args(argv)
    models = args.facefusion / ".assets" / "models"
    if not args.keep_models:
        build_models(models)
    ff = facefusion_modules(args.facefusion.resolve())
    photos = {key: make_inputs(args.data, models, key) for key in PHOTOS}
    mode = "float frames, unquantised" if args.float_frame else "uint8 frames, ours truncated to uint8"
    ours = ours_root(sys.argv[1:] if argv is None else argv)
    print(f"FaceFusion {args.facefusion}; ours {ours}; {mode}; our paste={args.paste}, inswapper_latent={args.latent}")
    for key, inputs in photos.items():
        size = f"{inputs.photo.shape[1]}x{inputs.photo.shape[0]}"
        print(f"photo {key}: {PHOTOS[key][0]} minus {PHOTOS[key][1]} left columns ({size}), {len(inputs.faces)} faces")
        print(f"  {border_reach(inputs)}")
    rows: list[dict[str, Any]] = []
    print("| case | max | p99.9 | % > 1 | pixels | note |\n|---|---|---|---|---|---|")
    for case in CASES:
        if args.only and case.name not in args.only:
            continue
        inputs = photos[case.photo]
        theirs = run_facefusion(ff, case, inputs, args.float_frame)
        try:
            ours, _ = run_ours(case, inputs, models, args.paste, args.latent)
        except Exception as error:  # an older checkout (--ours) may not offer a case's settings
            print(f"| {case.name} | - | - | - | - | ours failed: {type(error).__name__}: {error} |", flush=True)
            continue
        ours_scaled = ours.astype(np.float64) * 255.0 if args.float_frame else quantise(ours)
        figures = compare(ours_scaled, theirs, inputs.photo)
        rows.append({"case": case.name, "note": case.note, **figures})
        print(
            f"| {case.name} | {figures['max']:.3g} | {figures['p999']:.3g} | {figures['over_1_percent']:.2f} | "
            f"{figures['pixels']} | {case.note} |",
            flush=True,
        )
    if args.json:
        record = {"facefusion": "3.8.1", "photos": PHOTOS, "mode": mode, "paste": args.paste, "cases": rows}
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
