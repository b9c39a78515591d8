"""The real node classes on real tensors ([B,H,W,C] float 0..1), with the small real models as catalog stand-ins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, build_paired_swapper, stand_in_space

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}


def photo(shared_data: Path, relative: str) -> torch.Tensor:
    """A photo as a ComfyUI IMAGE [1, H, W, 3] float32 0..1, made the way LoadImage makes it (u8 / 255)."""
    from face_identity.images import read_image

    return torch.from_numpy(read_image(shared_data / relative).astype(np.float32) / 255.0)[None]


@pytest.fixture
def loaded(nodes: dict[str, Any], model_folder: Path) -> tuple[Any, Any]:
    recognizer, info = nodes["LoadArcFaceModel"].load("arcface_w600k_r50", "auto", "cpu", "float32", 0, False)
    assert "onnxruntime" in info and "providers: CPU" in info and "space arcface_w600k_r50" in info
    detector, info = nodes["LoadFaceDetector"].load("retinaface_10g", 640, 0.5, 0.4, "cpu", False)
    assert "providers: CPU" in info
    return recognizer, detector


def test_mappings_are_prefixed_and_complete(pack: Any) -> None:
    mappings, names = pack.NODE_CLASS_MAPPINGS, pack.NODE_DISPLAY_NAME_MAPPINGS
    assert set(mappings) == set(names)
    assert all(key.startswith("FaceIdentity_") for key in mappings)
    for required in ("Face Align", "Face Embed", "Identity Similarity", "Identity Consistency", "Face Detect"):
        assert required in names.values()
    assert "FaceAlign" not in mappings  # ComfyUI_FaceAnalysis owns that id


@pytest.mark.parametrize(
    "node_key",
    [
        "FaceIdentity_LoadArcFaceModel",
        "FaceIdentity_LoadFaceDetector",
        "FaceIdentity_FaceDetect",
        "FaceIdentity_FaceAlign",
        "FaceIdentity_FaceEmbed",
        "FaceIdentity_IdentitySimilarity",
        "FaceIdentity_IdentityAverage",
        "FaceIdentity_IdentityConsistency",
        "FaceIdentity_SaveIdentity",
        "FaceIdentity_LoadIdentity",
        "FaceIdentity_FacePaste",
        "FaceIdentity_PreviewFaces",
        "FaceIdentity_LoadFaceSwapper",
        "FaceIdentity_FaceSwap",
        "FaceIdentity_FaceTrack",
    ],
)
def test_every_node_documents_itself(pack: Any, node_key: str) -> None:
    cls = pack.NODE_CLASS_MAPPINGS[node_key]
    assert cls.DESCRIPTION and cls.CATEGORY.startswith("face_identity")
    assert callable(getattr(cls(), cls.FUNCTION))
    assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)
    assert all(tip for tip in cls.OUTPUT_TOOLTIPS)
    for section in cls.INPUT_TYPES().values():
        for name, entry in section.items():
            assert len(entry) == 2 and entry[1].get("tooltip"), f"{node_key}.{name} has no tooltip"


def test_pack_imports_nothing_from_comfyui() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('pack', r'{REPO_ROOT / '__init__.py'}', submodule_search_locations=[r'{REPO_ROOT}'])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['pack'] = m; spec.loader.exec_module(m)\n"
        "bad = [n for n in sys.modules if n in ('folder_paths', 'comfy', 'server', 'nodes') or n.startswith('comfy.')]\n"
        "heavy = [n for n in ('onnxruntime', 'torch') if n in sys.modules]\n"
        "print(len(m.NODE_CLASS_MAPPINGS), bad, heavy)\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    assert int(output[0]) >= 12
    assert output[1].strip() == "[] []"


def test_detect_batch_keeps_images_without_faces(nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path) -> None:
    _, detector = loaded
    face = photo(shared_data, "faces/isaac_newton/newton.png")
    blank = torch.full_like(face, 0.5)
    faces, count, info = nodes["FaceDetect"].detect(torch.cat([blank, face, blank]), detector, "large-small", "", 0, 0)
    assert [len(f) for f in faces.faces_per_image] == [0, 1, 0]
    assert count == 1 and "no face in image(s) 0, 2" in info
    assert faces.faces_per_image[1][0].image_index == 1


def test_rgba_grey_and_changing_sizes(nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path) -> None:
    _, detector = loaded
    rgb = photo(shared_data, "faces/isaac_newton/newton.png")
    rgba = torch.cat([rgb, torch.ones_like(rgb[..., :1])], dim=-1)
    grey = rgb.mean(dim=-1, keepdim=True)
    detect = nodes["FaceDetect"]
    reference, _, _ = detect.detect(rgb, detector, "large-small", "", 0, 0)
    from_rgba, _, _ = detect.detect(rgba, detector, "large-small", "", 0, 0)
    from_grey, _, _ = detect.detect(grey, detector, "large-small", "", 0, 0)
    np.testing.assert_allclose(from_rgba.all_faces()[0].bbox, reference.all_faces()[0].bbox, atol=1e-3)
    assert from_grey.face_count == 1
    other = photo(shared_data, "groups/face_recognition_two_people.jpg")  # another size, same node instance
    faces, count, _ = detect.detect(other, detector, "left-right", "", 0, 0)
    assert count == 2 and faces.image_sizes == (tuple(other.shape[1:3]),)
    assert faces.all_faces()[0].bbox[0] < faces.all_faces()[1].bbox[0]


def test_align_embed_compare_chain(nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path) -> None:
    recognizer, detector = loaded
    obama = photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg")
    obama2 = photo(shared_data, "faces/barack_obama/face_recognition_obama2.jpg")
    biden = photo(shared_data, "faces/joe_biden/face_recognition_biden.jpg")
    faces, _, _ = nodes["FaceDetect"].detect(obama, detector, "large-small", "", 0, 0)
    aligned, aligned_faces, mask = nodes["FaceAlign"].align(obama, "arcface_112", 112, faces=faces)
    assert aligned.shape == (1, 112, 112, 3) and mask.shape == (1, 112, 112)
    assert aligned_faces.all_faces()[0].align_matrix is not None
    from_crops, _, _ = nodes["FaceEmbed"].embed(recognizer, aligned, False, faces=aligned_faces)
    from_source, _, _ = nodes["FaceEmbed"].embed(recognizer, obama, False, faces=faces)
    # Face Align's crops are the uint8 crops / 255, so embedding them equals embedding from the source image.
    assert float(from_crops.embeddings[0] @ from_source.embeddings[0]) > 0.99999
    same, _, _ = nodes["FaceEmbed"].embed(recognizer, obama2, False, detector=detector)
    other, _, _ = nodes["FaceEmbed"].embed(recognizer, biden, False, detector=detector)
    score, match, report, chart = nodes["IdentitySimilarity"].compare(from_source, same, 0.4)
    low, no_match, _, _ = nodes["IdentitySimilarity"].compare(from_source, other, 0.4)
    assert match and not no_match and score > low + 0.3
    assert "same person" in report and chart.shape[0] == 1 and chart.shape[-1] == 3
    assert float(chart.min()) >= 0.0 and float(chart.max()) <= 1.0


def test_embed_refuses_wrongly_aligned_crops(
    nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path, pack: Any
) -> None:
    recognizer, detector = loaded
    obama = photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg")
    aligned, faces, _ = nodes["FaceAlign"].align(obama, "ffhq_512", 112, detector=detector)
    with pytest.raises(pack.face_identity.errors.InvalidArgumentError, match="arcface_112"):
        nodes["FaceEmbed"].embed(recognizer, aligned, False, faces=faces)
    with pytest.raises(pack.face_identity.errors.InvalidArgumentError, match="Face Detect"):
        nodes["FaceEmbed"].embed(recognizer, obama, False)
    blank = torch.zeros((2, 64, 64, 3))
    with pytest.raises(pack.face_identity.errors.NoFaceFoundError):
        nodes["FaceEmbed"].embed(recognizer, blank, False, detector=detector)


def test_average_consistency_and_files(
    nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path, model_folder: Path, pack: Any
) -> None:
    recognizer, detector = loaded
    ids = [
        nodes["FaceEmbed"].embed(recognizer, photo(shared_data, f"faces/barack_obama/{name}"), False, detector=detector)[0]
        for name in ("face_recognition_obama.jpg", "face_recognition_obama2.jpg", "face_recognition_knn_test_obama1.jpg")
    ]
    biden_id = nodes["FaceEmbed"].embed(
        recognizer, photo(shared_data, "faces/joe_biden/face_recognition_biden.jpg"), False, detector=detector
    )[0]
    average, info = nodes["IdentityAverage"].average(ids[0], 1.0, -1.0, ids[1], 1.0, ids[2], 2.0)
    expected = ids[0].embeddings[0] + ids[1].embeddings[0] + 2 * ids[2].embeddings[0]
    np.testing.assert_allclose(average.embeddings[0], expected / np.linalg.norm(expected), atol=1e-5)
    filtered, info = nodes["IdentityAverage"].average(ids[0], 1.0, 0.2, ids[1], 1.0, biden_id, 1.0)
    assert "dropped 1" in info and float(filtered.embeddings[0] @ biden_id.embeddings[0]) < 0.3

    candidates = photo(shared_data, "faces/barack_obama/face_recognition_obama2.jpg")
    stranger = torch.nn.functional.interpolate(
        photo(shared_data, "faces/joe_biden/face_recognition_biden.jpg").permute(0, 3, 1, 2), size=candidates.shape[1:3]
    ).permute(0, 2, 3, 1)
    batch = torch.cat([stranger, torch.zeros_like(candidates), candidates])
    best, passing, best_index, best_score, passed, scores, chart, info = nodes["IdentityConsistency"].check(
        average, batch, recognizer, detector, 0.4, "large-small", "", 0, 0
    )
    import json

    report = json.loads(scores)
    assert best_index == 2 and passed == 1 and passing.shape[0] == 1
    assert torch.equal(passing[0], batch[2]) and torch.equal(best[0], batch[2])
    assert report[1] == {"index": 1, "score": 0.0, "face": -1, "has_face": False, "passed": False}
    assert report[0]["has_face"] and report[0]["score"] < 0.4 and best_score == pytest.approx(report[2]["score"], abs=1e-4)
    assert chart.shape[0] == 1 and info.startswith("1 of 3 image(s) passed")

    saved = nodes["SaveIdentity"].save(average, "Obama average", "face_identity", "error")
    path = Path(saved["result"][0])
    assert path == model_folder / "identities" / "Obama average.safetensors" and path.is_file()
    before = path.read_bytes()
    with pytest.raises(pack.face_identity.errors.IdentityFileError, match="exists"):
        nodes["SaveIdentity"].save(ids[0], "Obama average", "face_identity", "error")
    assert path.read_bytes() == before
    renamed = Path(nodes["SaveIdentity"].save(ids[0], "Obama average", "face_identity", "new name")["result"][0])
    assert renamed.name == "Obama average_2.safetensors" and path.read_bytes() == before
    for bad in ("../escape", "a/b", ".."):
        with pytest.raises(pack.face_identity.errors.IdentityFileError):
            nodes["SaveIdentity"].save(average, bad, "face_identity", "new name")
    with pytest.raises(pack.face_identity.errors.IdentityFileError, match="w600k_r50"):
        nodes["SaveIdentity"].save(average, "obama", "reactor", "error")  # the stand-in's identities are not w600k_r50's
    # ReActor files hold w600k_r50 embeddings: the same rows, declared a (synthetic) w600k_r50 identity, go through
    declared = pack.face_identity.types.Identity(
        embeddings=average.embeddings, model_id=pack.face_identity.catalog.W600K_R50_SPACE, norms=average.norms
    )
    reactor = Path(nodes["SaveIdentity"].save(declared, "obama", "reactor", "error")["result"][0])
    assert reactor.parent == model_folder.parent / "reactor" / "faces"
    choices = pack.NODE_CLASS_MAPPINGS["FaceIdentity_LoadIdentity"].INPUT_TYPES()["required"]["identity_file"][0]
    assert "identities/Obama average.safetensors" in choices and "reactor/obama.safetensors" in choices
    loaded_back, info = nodes["LoadIdentity"].load("identities/Obama average.safetensors")
    np.testing.assert_array_equal(loaded_back.embeddings, average.embeddings)
    from_reactor, _ = nodes["LoadIdentity"].load("reactor/obama.safetensors")
    assert float(from_reactor.embeddings[0] @ average.embeddings[0]) > 0.9999


def test_paste_and_preview(nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path) -> None:
    _, detector = loaded
    group = photo(shared_data, "groups/face_recognition_two_people.jpg")
    aligned, faces, _ = nodes["FaceAlign"].align(group, "arcface_128", 128, detector=detector)
    assert aligned.shape == (2, 128, 128, 3)
    edited = 1.0 - aligned
    upscaled = torch.nn.functional.interpolate(edited.permute(0, 3, 1, 2), scale_factor=2, mode="bilinear").permute(0, 2, 3, 1)
    for crops in (edited, upscaled):
        pasted, mask = nodes["FacePaste"].paste(group, crops, faces, 1.0)
        assert pasted.shape == group.shape and mask.shape == group.shape[:3]
        outside = mask[0] == 0
        assert torch.equal(pasted[0][outside], group[0][outside])
        for face in faces.all_faces():
            cx, cy = (int(v) for v in face.landmarks[2])
            assert mask[0, cy, cx] > 0.99 and (pasted[0, cy, cx] - group[0, cy, cx]).abs().max() > 0.05
    preview = nodes["PreviewFaces"].preview(group, faces, True, True)[0]
    assert preview.shape == group.shape and not torch.equal(preview, group)
    with pytest.raises(Exception, match="same images"):
        nodes["PreviewFaces"].preview(group[:, :100], faces, True, True)


def test_face_swap_node(nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path, model_folder: Path, pack: Any) -> None:
    recognizer, detector = loaded
    build_paired_swapper(model_folder)  # declares the stand-in recognizer's space, which the swapper then takes
    swapper, info = nodes["LoadFaceSwapper"].load("inswapper_128", "auto", "cpu", "float32", False)
    assert "onnxruntime" in info and "providers: CPU" in info
    obama = nodes["FaceEmbed"].embed(
        recognizer, photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg"), False, detector=detector
    )[0]
    group = photo(shared_data, "groups/face_recognition_two_people.jpg")
    batch = torch.cat([group, torch.zeros_like(group), group])
    swap = nodes["FaceSwap"].swap
    image, mask, total, counts, retention, summary, chart, _ = swap(
        batch, obama, swapper, detector, "reference", "large-small", "0", 0.37, "1", 1.0, 1.0, False, obama, recognizer
    )
    assert json.loads(counts) == [1, 0, 1] and total == 2
    assert len(retention) == 2 and all(-1.0 <= score <= 1.0 for score in retention)
    assert "2 face(s)" in summary and "image 1:" not in summary and chart.ndim == 4 and chart.shape[-1] == 3
    assert torch.equal(image[1], batch[1]) and float(mask[1].max()) == 0.0
    swap_module = sys.modules[f"{pack.__name__}.face_identity.swap.stream"]
    with pytest.MonkeyPatch.context() as patch:  # one frame per chunk, as a long 4K video would go
        patch.setattr(swap_module, "frames_per_chunk", lambda height, width, memory_budget_mb: 1)
        chunked = swap(
            batch, obama, swapper, detector, "reference", "large-small", "0", 0.37, "1", 1.0, 1.0, False, obama, recognizer
        )
    assert chunked[2:4] == (total, counts)
    assert torch.allclose(chunked[0], image, atol=1e-5) and torch.allclose(chunked[1], mask, atol=1e-5)
    left_half = mask[0, :, : group.shape[2] // 2]
    assert float(left_half.max()) > 0.99 and float(mask[0, :, group.shape[2] // 2 :].max()) == 0.0  # Obama stands on the left
    image, mask, total, counts, retention, summary, *_ = swap(
        group, obama, swapper, detector, "indices", "left-right", "1", 0.4, "2", 1.0, 1.0, True, None, None
    )
    assert json.loads(counts) == [1] and float(mask[0, :, group.shape[2] // 2 :].max()) > 0.99
    assert retention == [] and "not measured" in summary
    foreign = pack.face_identity.types.Identity(embeddings=np.ones((1, 128), np.float32), model_id="other@1234")
    with pytest.raises(pack.face_identity.errors.IncompatibleIdentitiesError, match="arcface_w600k_r50"):
        swap(group, foreign, swapper, detector, "all", "large-small", "0", 0.4, "1", 1.0, 1.0, False, None, None)


def test_face_swap_node_with_a_hyperswap_stand_in(
    nodes: dict[str, Any], loaded: tuple[Any, Any], shared_data: Path, model_folder: Path, pack: Any, tiny_recognizer_path: Path
) -> None:
    from face_identity.devtools import synthetic

    recognizer, detector = loaded
    choices = nodes["LoadFaceSwapper"].INPUT_TYPES()["required"]["model_name"][0]
    assert set(pack.face_identity.swapper_facts.SWAPPER_FACTS) <= set(choices) and not any(
        "crossface" in name for name in choices
    )
    space = stand_in_space(model_folder / "arcface_w600k_r50.onnx")
    synthetic.build_embedding_swapper_like(
        model_folder / "hyperswap_1a_256.onnx", mode="linear", mask=True, embedding_space=space
    )
    swapper, info = nodes["LoadFaceSwapper"].load("hyperswap_1a_256", "onnxruntime", "cpu", "float32", False)
    assert "hyperswap, 256 px, arcface_128" in info
    obama = nodes["FaceEmbed"].embed(
        recognizer, photo(shared_data, "faces/barack_obama/face_recognition_obama.jpg"), False, detector=detector
    )[0]
    group = photo(shared_data, "groups/face_recognition_two_people.jpg")
    arguments = (group, obama, swapper, detector, "all", "large-small", "0", 0.4, "1", 1.0, 1.0, False, None, recognizer)
    learned = nodes["FaceSwap"].swap(*arguments, learned_mask=True)
    square = nodes["FaceSwap"].swap(*arguments)  # the learned mask is off by default, as FaceFusion ignores it
    assert learned[2] == square[2] == 2
    assert float(learned[1].sum()) < 0.9 * float(square[1].sum())  # the MASK output is the learned mask actually used
    assert len(learned[4]) == 2 and "2 face(s)" in learned[5]
    outside = learned[1][0] == 0
    assert torch.equal(learned[0][0][outside], group[0][outside])
    one_sided = nodes["FaceSwap"].swap(*arguments, second_recognizer=recognizer)
    assert "second opinion skipped" in one_sided[5]
    other = pack.face_identity.embed.load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)
    unscored = nodes["FaceSwap"].swap(*arguments[:-1], other)  # a recognizer of another space: swapped, not scored
    assert unscored[2] == 2 and unscored[4] == [] and "not measured" in unscored[5]


@pytest.mark.parametrize(
    ("device", "expected"), [(torch.device("cuda", 1), 1), (torch.device("cuda"), 0), (torch.device("cpu"), 0)]
)
def test_onnxruntime_gpu_index_follows_comfyui_device(
    pack: Any, monkeypatch: pytest.MonkeyPatch, device: torch.device, expected: int
) -> None:
    import types

    comfy = sys.modules[f"{pack.__name__}.nodes.comfy"]
    management = types.ModuleType("comfy.model_management")
    management.get_torch_device = lambda: device  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "comfy", types.ModuleType("comfy"))
    monkeypatch.setitem(sys.modules, "comfy.model_management", management)
    assert comfy.gpu_index() == expected


def test_image_shape_checks_name_the_shape(pack: Any) -> None:
    """The shape of an IMAGE is checked once, by ``Frames.of``; ``image_size`` then reads it."""
    convert = sys.modules[f"{pack.__name__}.nodes.tensors"]
    assert convert.image_size(torch.zeros((2, 5, 7, 4))) == (5, 7)
    assert convert.image_size(torch.zeros((5, 7, 1))) == (5, 7)
    for bad in (torch.zeros((5, 7)), torch.zeros((2, 5, 7, 2))):
        with pytest.raises(pack.face_identity.errors.InvalidImageError, match="1, 3 or 4 channels"):
            pack.face_identity.Frames.of(bad, "Face Align")


def test_loader_nodes_read_their_model_names_from_the_catalog(nodes: dict[str, Any], pack: Any) -> None:
    """Each loader's description names every catalog model of its role, the default first: a new row shows up unedited."""
    roles = {
        "LoadArcFaceModel": "recognizer",
        "LoadFaceDetector": "detector",
        "LoadFaceSwapper": "swapper",
        "LoadFaceLandmarker": "landmarker",
        "LoadFaceOccluder": "occluder",
        "LoadFaceParser": "parser",
        "LoadFaceRestorer": "restorer",
    }
    for node, role in roles.items():
        names = pack.face_identity.catalog.names_for_role(role)
        description = type(nodes[node]).DESCRIPTION
        assert f"{names[0]} (default)" in description, node
        assert all(name in description for name in names), node
        options = type(nodes[node]).INPUT_TYPES()["required"]["model_name"][1]
        assert options["default"] == names[0], node
    assert "alphaface_256" in type(nodes["LoadFaceSwapper"]).DESCRIPTION
    assert "models/insightface/inswapper_128.onnx" in type(nodes["LoadFaceSwapper"]).DESCRIPTION
