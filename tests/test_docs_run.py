"""Docs that run: every command line and Python snippet of README.md and docs/*.md is executed here.

Each `face-identity` line runs in-process, in order, in a scratch folder holding the files the docs
name (photo.jpg, jane/, people/, ...: real photos of the test data), with the small real models for
``--detector``/``--recognizer``. Each Python snippet runs with catalog names replaced by the small
real models or by synthetic stand-ins with the real models' I/O (tests never download). What cannot
run here is in ``SKIPPED``, with the reason; an entry that matches no documented line fails.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from test_readme import code_blocks, commands

from face_identity.cli import main
from face_identity.devtools import synthetic, synthetic_masks

DOC_PATHS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

SKIPPED: dict[str, str] = {
    "pip install": "installs packages; the test environment is already installed",
    "python -m pip install": "installs packages; the test environment is already installed",
    "bash scripts/test.sh": "runs the whole test suite (the suite is what runs this test)",
    "cd ": "a folder change of the ComfyUI install steps",
    "git clone": "needs the network",
    "python install.py": "installs onnxruntime into ComfyUI's Python",
    "python -m face_identity.bench": "a benchmark of minutes (tests/test_bench.py runs its code on a tiny model)",
    "scripts/gpu_check.sh": "needs a GPU",
    "GPU_CHECK_QUICK=1 scripts/gpu_check.sh": "needs a GPU",
    "python scripts/bench_score.py": "a benchmark of minutes over the whole test data",
    "face-identity download": "downloads about 190 MB (tests never download; tests/test_download.py covers it offline)",
    "face-identity swap": "loads catalog swappers (530 MB inswapper_128, HyperSwap); tests/test_swap_cli.py runs the command with stand-ins",
    "face-identity score /shared/outputs": "needs Ray (pip install face-identity[ray]) and a cluster",
    "git --git-dir=/path/to/facefusion.git archive": "extracts a FaceFusion checkout (not in the test environment)",
    "python scripts/facefusion_parity.py": "needs a FaceFusion 3.8.1 checkout outside the repository (tests never download)",
    "python docs/make_swap_example.py": "renders the synthetic swap picture; test_make_swap_example_* below run the script",
    "face-identity calibrate faces/ --pairs pairs_deepface_published_mapped.tsv": (
        "about a minute over 499 pairs on 2 cores; its output is pasted under it, and tests/test_cli.py runs calibrate"
    ),
}
SKIPPED_SNIPPETS: dict[str, str] = {
    "faceid.md#1": "needs a diffusers StableDiffusionPipeline on CUDA and the h94/IP-Adapter-FaceID weights (a download)",
    "workflows.md#1": "queues a workflow on a running ComfyUI server",
    "workflows.md#2": "edits the video workflow of a ComfyUI install (custom_nodes/face-identity); test_workflows_video runs it",
}

MODEL_COMMANDS = {"analyze", "compare", "calibrate", "score", "build"}
"""Subcommands (``identity build`` by its action) that load a detector and a recognizer."""


def documented_lines(path: Path) -> list[list[str]]:
    """The shell commands of a Markdown file's ``bash`` blocks."""
    return [words for block in code_blocks(path.read_text(encoding="utf-8")) for words in commands(block)]


def skip_reason(words: list[str]) -> str | None:
    line = " ".join(words)
    return next((reason for prefix, reason in SKIPPED.items() if line.startswith(prefix)), None)


def snippets() -> Iterator[tuple[str, str]]:
    for path in DOC_PATHS:
        for number, code in enumerate(code_blocks(path.read_text(encoding="utf-8"), "python"), 1):
            yield f"{path.name}#{number}", code


def with_small_models(words: list[str], models: dict[str, Path], data: Path) -> list[str]:
    """A documented command line with the small real models as detector and recognizer, and ../shared/data resolved."""
    argv = [word.replace("../shared/data", str(data)) for word in words[1:]]
    if not MODEL_COMMANDS & set(argv):
        return argv
    out: list[str] = []
    skip_next = False
    for word in argv:
        if skip_next:
            skip_next = False
            continue
        if word in ("--detector", "--recognizer"):
            skip_next = True
            continue
        out.append(word)
    return [*out, "--detector", str(models["scrfd"]), "--recognizer", str(models["mbf_int8"])]


def copy_photos(source: Path, target: Path, count: int, start: int = 0) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    photos = sorted(source.iterdir())[start : start + count]
    return [Path(shutil.copy(photo, target / photo.name)) for photo in photos]


def tour_inputs(data: Path, folder: Path) -> None:
    """The files docs/tour.md names, made by docs/make_tour.py's own function (the tour's outputs come from it)."""
    spec = importlib.util.spec_from_file_location("make_tour", REPO_ROOT / "docs" / "make_tour.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.scratch_folder(data, folder)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, real_models: dict[str, Path]) -> Path:
    """A folder with every file the docs name, made of the test data's real photos."""
    from face_identity import FaceSelection, save_identity
    from face_identity.detect import load_detector
    from face_identity.embed import load_recognizer
    from face_identity.images import read_image
    from face_identity.pipeline import analyze

    root = tmp_path_factory.mktemp("docs_workspace")
    faces, groups = shared_data / "faces", shared_data / "groups"
    obama, biden = sorted((faces / "barack_obama").iterdir()), sorted((faces / "joe_biden").iterdir())
    files = {
        "photo.jpg": groups / "face_recognition_two_people.jpg",
        "target.jpg": groups / "face_recognition_two_people.jpg",
        "group.jpg": groups / "insightface_t1.jpg",
        "me.jpg": obama[0],
        "me_1.jpg": obama[0],
        "me_2.jpg": obama[1],
        "a1.jpg": obama[0],
        "a2.jpg": obama[1],
        "source.jpg": obama[0],
        "someone.jpg": biden[0],
        "b.jpg": biden[0],
    }
    for name, source in files.items():
        shutil.copy(source, root / name)
    copy_photos(faces / "angelina_jolie", root / "jane", 3)
    for folder in ("photos", "people"):
        for person, count in (("barack_obama", 3), ("joe_biden", 2), ("kit_harington", 2)):
            copy_photos(faces / person, root / folder / person, count)
    photos = sorted((root / "photos" / "barack_obama").iterdir())
    biden_photo = sorted((root / "photos" / "joe_biden").iterdir())[0]
    (root / "pairs.tsv").write_text(
        f"barack_obama/{photos[0].name}\tbarack_obama/{photos[1].name}\t1\n"
        f"barack_obama/{photos[0].name}\tjoe_biden/{biden_photo.name}\t0\n"
    )
    for folder in ("outputs", "frames"):
        copy_photos(faces / "barack_obama", root / folder, 2, start=2)
        copy_photos(faces / "joe_biden", root / folder, 1, start=1)
    detector = load_detector(real_models["scrfd"], providers="cpu", allow_download=False)
    recognizer = load_recognizer(real_models["mbf_int8"], providers="cpu", allow_download=False)
    tour_inputs(shared_data, root)
    # person.safetensors stands for a w600k_r50 identity (ReActor export); the small w600k_mbf is trained like it
    declared = load_recognizer(real_models["mbf_int8"], providers="cpu", allow_download=False, model_id="arcface_w600k_r50")
    one = FaceSelection(max_faces=1)
    for name, images, embedder in (
        ("person", obama[:2], declared),
        ("me", obama[:2], recognizer),
        ("jane_2024", sorted((faces / "angelina_jolie").iterdir())[3:5], recognizer),
    ):
        identity = analyze(detector, embedder, [read_image(p) for p in images], one).identity
        assert identity is not None
        save_identity(identity, root / f"{name}.safetensors")
    return root


@pytest.fixture
def scratch(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the workspace as the current folder, offline."""
    folder = tmp_path / "work"
    shutil.copytree(workspace, folder)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FACE_IDENTITY_HOME", str(tmp_path / "home"))
    return folder


@pytest.mark.parametrize("path", DOC_PATHS, ids=lambda p: p.name)
def test_documented_commands_run(
    path: Path, scratch: Path, shared_data: Path, real_models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ran = 0
    for words in documented_lines(path):
        if skip_reason(words) is not None:
            continue
        assert words[0] == "face-identity", f"{path.name}: `{' '.join(words)}` is neither run here nor in SKIPPED"
        argv = with_small_models(words, real_models, shared_data)
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code  # type: ignore[assignment]
        captured = capsys.readouterr()
        assert status in (0, None), f"{path.name}: `{' '.join(words)}` exited {status}:\n{captured.err[-3000:]}"
        ran += 1
    if path.name in ("cli.md", "scoring.md", "tour.md"):
        assert ran >= 3, f"{path.name}: only {ran} commands ran"


def test_every_skip_names_a_documented_line() -> None:
    lines = [" ".join(words) for path in DOC_PATHS for words in documented_lines(path)]
    stale = [prefix for prefix in SKIPPED if not any(line.startswith(prefix) for line in lines)]
    assert not stale, f"SKIPPED entries that match no documented command: {stale}"
    names = [name for name, _ in snippets()]
    assert set(SKIPPED_SNIPPETS) <= set(names), f"SKIPPED_SNIPPETS that match no snippet: {set(SKIPPED_SNIPPETS) - set(names)}"


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, real_models: dict[str, Path]) -> dict[str, str]:
    """Catalog names of the snippets -> Python source of the small real model or synthetic stand-in that replaces them."""
    folder = tmp_path_factory.mktemp("stand_ins")
    swapper = synthetic.build_embedding_swapper_like(folder / "hyperswap_like.onnx", mask=True)
    xseg = synthetic_masks.build_xseg_like(folder / "xseg_1.onnx")
    bisenet = synthetic_masks.build_bisenet_like(folder / "bisenet_resnet_34.onnx")
    restorer = synthetic_masks.build_restorer_like(folder / "gfpgan_1.4.onnx")
    return {
        '"retinaface_10g"': repr(str(real_models["scrfd"])),
        '"det.onnx"': repr(str(real_models["scrfd"])),
        '"rec.onnx"': repr(str(real_models["mbf_int8"])),
        # the small recognizer is w600k_mbf, trained like w600k_r50: declared in its space so swappers take it
        '"arcface_w600k_r50", "recognizer"': f"{str(real_models['mbf_int8'])!r}, 'recognizer', model_id='arcface_w600k_r50'",
        '"arcface_w600k_r50"': f"{str(real_models['mbf_int8'])!r}, model_id='arcface_w600k_r50'",
        '"hyperswap_1a_256"': repr(str(swapper)),
        '"2dfan4"': repr(str(shared_data / "models" / "landmarks_68_pfld.onnx")),
        '"xseg_1"': repr(str(xseg)),
        '"bisenet_resnet_34"': repr(str(bisenet)),
        '"gfpgan_1.4"': repr(str(restorer)),
    }


@pytest.mark.parametrize(("name", "code"), list(snippets()), ids=[name for name, _ in snippets()])
def test_documented_snippets_run(name: str, code: str, scratch: Path, stand_ins: dict[str, str]) -> None:
    if name in SKIPPED_SNIPPETS:
        pytest.skip(SKIPPED_SNIPPETS[name])
    for catalog_name, replacement in stand_ins.items():
        code = code.replace(catalog_name, replacement)
    assert not re.search(r'load_\w+\("[a-z][\w.]*"', code), f"{name}: a catalog name without a stand-in:\n{code}"
    exec(compile(code, name, "exec"), {"__name__": "__doc_snippet__"})


def test_cli_reference_covers_every_subcommand_and_identity_action() -> None:
    from face_identity.cli import build_parser

    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    examples = [words for words in documented_lines(REPO_ROOT / "docs" / "cli.md") if words[0] == "face-identity"]
    shown = {word for words in examples for word in words[1:3]}
    for name, sub in subcommands.items():
        assert f"| `{name}" in text and name in shown, f"docs/cli.md: no table row or example of `{name}`"
        if name == "identity":
            actions = sub._subparsers._group_actions[0].choices  # type: ignore[union-attr]
            shown_actions = {words[words.index("identity") + 1] for words in examples if "identity" in words}
            assert set(actions) <= shown_actions, f"no example of identity {set(actions) - shown_actions}"
            assert all(f"| `identity {action}" in text for action in actions)


def make_swap_example(*args: str) -> subprocess.CompletedProcess[str]:
    script = REPO_ROOT / "docs" / "make_swap_example.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)


def test_make_swap_example_refuses_photos_without_a_swapper(tmp_path: Path) -> None:
    output = tmp_path / "swap.png"
    result = make_swap_example("--source-image", "me.jpg", "--output", str(output))
    assert result.returncode == 2 and not output.exists()
    assert "--source-image is used only for a real swap: add --swapper" in result.stderr


def test_make_swap_example_renders_the_documented_picture(tmp_path: Path) -> None:
    from face_identity.images import read_image

    """tour.md's swap step as written: the synthetic picture, the layout of the committed docs/swap_example.png.

    (Not its bytes: OpenCV versions draw the labels' text differently.)
    """
    output = tmp_path / "swap.png"
    result = make_swap_example("--output", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {output} (1680 x 348)"
    assert read_image(output).shape == read_image(REPO_ROOT / "docs" / "swap_example.png").shape
