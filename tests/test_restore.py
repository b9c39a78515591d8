"""Face restoration with synthetic restorers of known output, the drift report, and chunking."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_identity.align import alignment_matrix, template_points
from face_identity.catalog import get_spec, names_for_role
from face_identity.devtools import synthetic_masks
from face_identity.embed import load_recognizer
from face_identity.errors import IncompatibleIdentitiesError, InvalidArgumentError
from face_identity.face_models import FaceModel, load_face_model
from face_identity.geometry import paste_crop_mask
from face_identity.masks import MaskSpec, box_mask
from face_identity.model_facts import build_model_facts, facts_for
from face_identity.restore import RestoreSettings, restore_crops, restore_faces
from face_identity.types import Face

HEIGHT, WIDTH = 360, 420


def _gradient_image() -> np.ndarray:
    """A linear colour ramp: bilinear warps reproduce it exactly, so warp -> unwarp is lossless."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    return np.stack([0.1 + 0.7 * x / WIDTH, 0.2 + 0.6 * y / HEIGHT, 0.9 - 0.4 * (x + y) / (WIDTH + HEIGHT)], axis=-1).astype(
        np.float32
    )


def _face(scale: float = 0.35, offset: tuple[float, float] = (120.0, 90.0), image_index: int = 0) -> Face:
    points = template_points("ffhq_512", 512) * scale + np.array(offset)
    return Face(
        bbox=[offset[0], offset[1], offset[0] + 512 * scale, offset[1] + 512 * scale],
        score=0.9,
        landmarks=points,
        image_index=image_index,
    )


@pytest.fixture(scope="module")
def restorers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("restorers")
    return {
        "identity": synthetic_masks.build_restorer_like(folder / "gfpgan_1.4.onnx"),
        "identity_batched": synthetic_masks.build_restorer_like(folder / "batched" / "gfpgan_1.4.onnx", batch="N"),
        "black": synthetic_masks.build_restorer_like(folder / "black" / "gpen_bfr_512.onnx", scale=0.0, offset=-1.0),
        "codeformer": synthetic_masks.build_restorer_like(folder / "codeformer.onnx", with_weight=True, weight_gain=0.2),
        "gpen_256": synthetic_masks.build_restorer_like(folder / "gpen_bfr_256.onnx", size=256),
    }


def _load(path: Path, **options: object) -> FaceModel:
    return load_face_model(path, "restorer", providers="cpu", allow_download=False, **options)  # type: ignore[arg-type]


def test_restorer_facts_match_facefusion() -> None:
    facts = build_model_facts()
    for name in ("gfpgan_1.2", "gfpgan_1.3", "gfpgan_1.4", "codeformer", "restoreformer_plus_plus", "gpen_bfr_512"):
        assert (facts[name].template, facts[name].size) == ("ffhq_512", 512)
    assert (facts["gpen_bfr_256"].template, facts["gpen_bfr_256"].size) == ("arcface_128", 256)
    assert facts["gpen_bfr_1024"].size == 1024 and facts["gpen_bfr_2048"].size == 2048
    assert facts["codeformer"].optional_inputs == ("weight",) and facts["gfpgan_1.4"].optional_inputs == ()
    for name in names_for_role("restorer"):
        row = facts[name]
        assert (row.layout, row.colour, row.mean, row.std, row.output_range) == (
            "NCHW",
            "RGB",
            (0.5,) * 3,
            (0.5,) * 3,
            (-1.0, 1.0),
        )
        assert get_spec(name).repo_id == "facefusion/models-3.0.0" and get_spec(name).hash_filename == f"{name}.hash"
    assert "non-commercial" in facts["codeformer"].licence and "non-commercial" in facts["gpen_bfr_512"].licence
    assert "GPL" in facts["xseg_1"].licence and (facts["xseg_1"].layout, facts["xseg_1"].colour) == ("NHWC", "BGR")
    assert (
        get_spec("xseg_3").repo_id == "facefusion/models-3.2.0"
        and get_spec("bisenet_resnet_18").repo_id == "facefusion/models-3.1.0"
    )
    assert facts["bisenet_resnet_34"].mean == (0.485, 0.456, 0.406) and facts["bisenet_resnet_34"].size == 512
    assert facts_for("/models/gfpgan_1.4.onnx", "restorer").name == "gfpgan_1.4"
    with pytest.raises(InvalidArgumentError, match="gfpgan_1.4"):
        facts_for("my_restorer.onnx", "restorer")


def test_identity_restorer_returns_the_image_within_one_grey_level(restorers: dict[str, Path]) -> None:
    restorer = _load(restorers["identity"])
    image = _gradient_image()
    for face in (_face(), _face(scale=0.5, offset=(60.0, 40.0))):
        result = restore_faces(restorer, [image], [[face]])
        assert np.abs(result.images[0] - image).max() <= 1 / 255
        assert result.masks[0].max() == pytest.approx(0.8, abs=1e-3)  # blend 0.8 x box mask 1 in the middle
    assert result.restored_counts == (1,)


def test_black_restorer_darkens_by_blend_times_the_box_mask(restorers: dict[str, Path]) -> None:
    restorer = _load(restorers["black"], facts=facts_for("gfpgan_1.4"))
    image = _gradient_image()
    face = _face()
    result = restore_faces(restorer, [image], [[face]], RestoreSettings(blend=0.6))
    matrix = alignment_matrix(face.landmarks, "ffhq_512", 512)
    warped, (x1, y1, x2, y2) = paste_crop_mask(box_mask(512, 0.3), matrix, HEIGHT, WIDTH)
    weight = np.zeros((HEIGHT, WIDTH), np.float32)
    weight[y1:y2, x1:x2] = warped * 0.6
    np.testing.assert_allclose(result.images[0], image * (1 - weight[..., None]), atol=1e-5)
    np.testing.assert_allclose(result.masks[0], weight, atol=1e-6)


def test_overlapping_faces_are_restored_one_after_another(tmp_path: Path) -> None:
    """FaceFusion's enhancer cuts each face from the frame the previous face was pasted into."""
    restorer = _load(synthetic_masks.build_restorer_like(tmp_path / "gfpgan_1.4.onnx", scale=0.5))  # x -> x / 2 + 1 / 4
    image = _gradient_image()
    faces = [_face(0.35, (100.0, 80.0)), _face(0.35, (150.0, 110.0))]  # their crops overlap by about half
    result = restore_faces(restorer, [image], [faces])
    in_one_step = restore_faces(restorer, [image, image], [faces, faces[:1]], RestoreSettings(faces_per_step=1))
    sequential, parallel = image, image
    for face in faces:
        matrix = alignment_matrix(face.landmarks, "ffhq_512", 512)
        inverse = cv2.invertAffineTransform(matrix)
        weight = 0.8 * cv2.warpAffine(box_mask(512, 0.3), inverse, (WIDTH, HEIGHT)).clip(0, 1)[..., None]
        outputs = []
        for frame in (sequential, image):  # cut from the frame so far, or always from the original
            crop = cv2.warpAffine(frame, matrix, (512, 512), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            restored = restore_crops(restorer, crop[None])[0]
            outputs.append(cv2.warpAffine(restored, inverse, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE))
        sequential = sequential * (1 - weight) + outputs[0] * weight
        parallel = parallel * (1 - weight) + outputs[1] * weight
    np.testing.assert_allclose(result.images[0], sequential, atol=1e-5)
    assert np.abs(parallel - sequential).max() > 0.02  # the order shows where the faces overlap
    assert np.array_equal(in_one_step.images[0], result.images[0])


def test_codeformer_weight_is_fed_only_when_the_graph_has_it(restorers: dict[str, Path]) -> None:
    codeformer = _load(restorers["codeformer"])
    assert codeformer.has_input("weight")
    crops = np.full((2, 512, 512, 3), 0.5, np.float32)
    # output = input + 0.2 * w in -1..1 units: + 0.1 * w in 0..1
    np.testing.assert_allclose(restore_crops(codeformer, crops, fidelity=0.5), 0.55, atol=1e-6)
    np.testing.assert_allclose(restore_crops(codeformer, crops, fidelity=1.0), 0.6, atol=1e-6)
    plain = _load(restorers["identity"])
    assert not plain.has_input("weight")
    np.testing.assert_allclose(restore_crops(plain, crops, fidelity=1.0), 0.5, atol=1e-6)


def test_gpen_256_uses_its_own_template_and_size(restorers: dict[str, Path]) -> None:
    restorer = _load(restorers["gpen_256"])
    assert (restorer.facts.template, restorer.facts.size) == ("arcface_128", 256)
    image = _gradient_image()
    result = restore_faces(restorer, [image], [[_face()]])
    assert np.abs(result.images[0] - image).max() <= 1 / 255
    assert result.masks[0].max() > 0.7


def test_faceless_frames_pass_through_and_chunked_equals_unchunked(restorers: dict[str, Path]) -> None:
    black = _load(restorers["black"], facts=facts_for("gfpgan_1.4"))
    batched = _load(restorers["identity_batched"], batch_size=3)
    assert batched.batch_size == 3 and black.batch_size == 1
    image = _gradient_image()
    images = [image, image[::-1].copy(), image]
    faces = [[_face(), _face(scale=0.25, offset=(250.0, 150.0))], [], [_face(image_index=2)]]
    one = restore_faces(black, images, faces, RestoreSettings(faces_per_step=1))
    many = restore_faces(black, images, faces, RestoreSettings(faces_per_step=16))
    for a, b in zip(one.images, many.images):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_array_equal(one.images[1], images[1])
    assert one.masks[1].max() == 0 and one.restored_counts == (2, 0, 1)
    via_batch = restore_faces(batched, images, faces, RestoreSettings(faces_per_step=16))
    assert np.abs(via_batch.images[0] - image).max() <= 1 / 255


def test_identity_restorer_drift_is_one(restorers: dict[str, Path], tiny_recognizer_path: Path) -> None:
    recognizer = load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)
    restorer = _load(restorers["identity"])
    image = _gradient_image()
    rng = np.random.default_rng(0)
    image = (image + 0.02 * rng.random(image.shape, dtype=np.float32)).clip(0, 1)  # texture for the embedding
    face = _face()
    embedded, _ = recognizer.embed_faces([np.rint(image * 255).astype(np.uint8)], [[face]])
    source = recognizer.identity(embedded, [face])
    result = restore_faces(restorer, [image], [[face]], recognizer=recognizer, source=source)
    drift = result.drift.faces[0]
    assert drift.to_before == pytest.approx(1.0, abs=2e-3)
    assert drift.source_before == pytest.approx(1.0, abs=1e-4) and drift.source_after == pytest.approx(1.0, abs=2e-3)
    assert "image 0 face 0" in result.drift.summary() and "<-" not in result.drift.summary()
    black = _load(restorers["black"], facts=facts_for("gfpgan_1.4"))
    changed = restore_faces(black, [image], [[face]], RestoreSettings(blend=1.0), recognizer=recognizer)
    assert changed.drift.faces[0].to_before < result.drift.faces[0].to_before
    assert restore_faces(restorer, [image], [[]], recognizer=recognizer).drift.summary() == "no face restored"
    assert "not measured" in restore_faces(restorer, [image], [[face]]).drift.summary()
    other = source.__class__(source.embeddings, model_id="another_space")
    with pytest.raises(IncompatibleIdentitiesError):
        restore_faces(restorer, [image], [[face]], recognizer=recognizer, source=other)


def test_occlusion_mask_in_the_restore(restorers: dict[str, Path], tmp_path: Path) -> None:
    occluder = load_face_model(synthetic_masks.build_xseg_like(tmp_path / "xseg_1.onnx"), "occluder", providers="cpu")
    black = _load(restorers["black"], facts=facts_for("gfpgan_1.4"))
    image = _gradient_image()
    image[..., 2] = 0.0
    image[150:200, 180:240, 2] = 1.0  # occluded (blue) patch in the face
    spec = MaskSpec(types=("box", "occlusion"), occluders=(occluder,))
    result = restore_faces(black, [image], [[_face()]], RestoreSettings(blend=1.0, mask=spec))
    assert result.masks[0][170:180, 200:220].max() == 0  # the occluder is left alone
    np.testing.assert_array_equal(result.images[0][170:180, 200:220], image[170:180, 200:220])
    assert result.masks[0][230, 210] > 0.9


def test_torch_backend_matches_onnxruntime(restorers: dict[str, Path]) -> None:
    pytest.importorskip("torch")
    reference = _load(restorers["identity_batched"])
    converted = _load(restorers["identity_batched"], backend="torch", device="cpu")
    assert converted.backend.name == "torch"
    crops = np.random.default_rng(1).random((2, 512, 512, 3), dtype=np.float32)
    np.testing.assert_allclose(restore_crops(converted, crops), restore_crops(reference, crops), atol=1e-6)


def test_a_face_that_cannot_be_aligned_is_left_out_not_fatal(restorers: dict[str, Path], tiny_recognizer_path: Path) -> None:
    recognizer = load_recognizer(tiny_recognizer_path, providers="cpu", allow_download=False)
    black = _load(restorers["black"], facts=facts_for("gfpgan_1.4"))
    image = _gradient_image()
    bad = Face(bbox=[0, 0, 10, 10], score=0.9, landmarks=np.full((5, 2), 5.0))
    result = restore_faces(black, [image, image], [[bad, _face()], [bad]], recognizer=recognizer)
    assert result.restored_counts == (1, 0) and len(result.drift.faces) == 1
    np.testing.assert_array_equal(result.images[1], image)
    assert np.all(np.isfinite(result.images[0])) and result.masks[0].max() > 0.7
