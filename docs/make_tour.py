"""Run the commands of docs/tour.md with the small test models and render its pictures into docs/tour/.

The tour's outputs and pictures come from here: each `face-identity` command of the tour runs
in-process (SCRFD-2.5G and the int8 w600k_mbf of the project's test data as --detector and
--recognizer) in a scratch folder holding copies of the test photos under the tour's names, and its
output is printed as a Markdown block to paste under the command. Pictures hold public-domain photo
pixels only (the 1927 Solvay conference photo, the Newton and Gauss paintings) or none (charts):
the other test photos have unclear rights and are never committed.

    python docs/make_tour.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from face_identity import FaceSelection, load_identity  # noqa: E402
from face_identity.align import norm_crop  # noqa: E402
from face_identity.cli import main as cli_main  # noqa: E402
from face_identity.detect import load_detector  # noqa: E402
from face_identity.draw import draw_faces, similarity_chart  # noqa: E402
from face_identity.embed import load_recognizer  # noqa: E402
from face_identity.images import read_image, save_image  # noqa: E402
from face_identity.pipeline import analyze  # noqa: E402

TOUR_COMMANDS = [
    ["analyze", "solvay_conference_1927.png"],
    ["compare", "isaac_newton.jpg", "carl_friedrich_gauss.jpg", "--threshold", "0.32"],
    ["identity", "build", "Barack Obama", "barack_obama/"],
    ["identity", "show", "Barack Obama.safetensors"],
    ["score", "generated/", "--reference", "Barack Obama.safetensors", "--threshold", "0.32", "--out", "scores.csv"],
]
"""The tour's commands, in its order (the small models are appended to those that load models)."""
PICTURE_WIDTH = 560


def scratch_folder(data: Path, folder: Path) -> None:
    """The tour's input files, copied from the test data under the names the tour uses."""
    faces = data / "faces"
    shutil.copy(data / "groups" / "solvay_conference_1927.png", folder)
    for name in ("isaac_newton", "carl_friedrich_gauss"):
        shutil.copy(next((faces / name).iterdir()), folder / f"{name}.jpg")
    obama = sorted((faces / "barack_obama").iterdir())
    (folder / "barack_obama").mkdir()
    for photo in obama[:3]:
        shutil.copy(photo, folder / "barack_obama")
    (folder / "generated").mkdir()
    for photo in [obama[3], *sorted((faces / "joe_biden").iterdir()), *sorted((faces / "kit_harington").iterdir())]:
        shutil.copy(photo, folder / "generated")


def run(argv: list[str], models: list[str]) -> str:
    """One CLI command in-process; its stdout and stderr together, as a terminal would show them."""
    loads_models = argv[0] in ("analyze", "compare", "score") or argv[:2] == ["identity", "build"]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            status = cli_main([*argv, *(models if loads_models else [])])
        except SystemExit as exit_:
            status = exit_.code  # type: ignore[assignment]
    if status not in (0, None):
        raise SystemExit(f"face-identity {' '.join(argv)} exited {status}:\n{buffer.getvalue()}")
    return buffer.getvalue()


def fit(image: NDArray[np.uint8], width: int = PICTURE_WIDTH) -> NDArray[np.uint8]:
    if image.shape[1] <= width:
        return image
    height = round(image.shape[0] * width / image.shape[1])
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


def labelled(image: NDArray[np.uint8], label: str) -> NDArray[np.uint8]:
    strip = np.full((26, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, image])


def pictures(folder: Path, out: Path, detector_path: str, recognizer_path: str) -> None:
    """analyze.png (boxes on Solvay 1927), compare.png (the two paintings' aligned crops), identity.png, score.png."""
    detector = load_detector(detector_path, providers="cpu", allow_download=False)
    recognizer = load_recognizer(recognizer_path, providers="cpu", allow_download=False)
    group = read_image(folder / "solvay_conference_1927.png")
    faces = analyze(detector, recognizer, [group]).faces.faces_per_image[0]
    top = max(int(min(face.bbox[1] for face in faces)) - 60, 0)
    bottom = min(int(max(face.bbox[3] for face in faces)) + 60, group.shape[0])
    save_image(out / "analyze.png", fit(draw_faces(group, list(faces), show_scores=False)[top:bottom]))

    crops, identities = [], []
    for name, label in (("isaac_newton", "Newton"), ("carl_friedrich_gauss", "Gauss")):
        image = read_image(folder / f"{name}.jpg")
        result = analyze(detector, recognizer, [image], FaceSelection(max_faces=1))
        crops.append(labelled(norm_crop(image, result.faces.faces_per_image[0][0].landmarks, 112), label))
        identities.append(result.identity)
    score = float(np.dot(identities[0].centroid(), identities[1].centroid()))  # type: ignore[union-attr]
    pair = np.concatenate([crops[0], np.full((crops[0].shape[0], 8, 3), 255, np.uint8), crops[1]], axis=1)
    save_image(out / "compare.png", labelled(pair, f"similarity {score:.3f}"))

    person = load_identity(folder / "Barack Obama.safetensors")
    photos = sorted((folder / "barack_obama").iterdir())
    rows = analyze(detector, recognizer, [read_image(p) for p in photos], FaceSelection(max_faces=1)).identity
    matrix = rows.embeddings @ person.centroid()[:, None]  # type: ignore[union-attr]
    chart = similarity_chart(matrix, 0.32, [f"photo {n}" for n in range(1, len(photos) + 1)], ["identity"])
    save_image(out / "identity.png", chart)
    save_image(out / "score.png", fit(read_image(folder / "scores.histogram.png")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="the project's test data")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "tour")
    arguments = parser.parse_args()
    detector = str(arguments.data / "models" / "scrfd_2.5g_bnkps_640.onnx")
    recognizer = str(arguments.data / "models" / "w600k_mbf_int8_dynamic.onnx")
    models = ["--detector", detector, "--recognizer", recognizer]
    arguments.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        scratch_folder(arguments.data, folder)
        here = Path.cwd()
        os.chdir(folder)
        try:
            for argv in TOUR_COMMANDS:
                output = run(argv, models).rstrip().replace(str(arguments.data), "../shared/data")
                print(f"$ face-identity {shlex.join(argv)}\n```text\n{output}\n```\n")  # noqa: T201
            pictures(folder, arguments.out, detector, recognizer)
        finally:
            os.chdir(here)
    print(f"wrote {', '.join(sorted(p.name for p in arguments.out.glob('*.png')))} to {arguments.out}")  # noqa: T201


if __name__ == "__main__":
    main()
