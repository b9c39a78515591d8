"""The model catalog: names, roles, preprocessing, licences and download URLs, built without I/O."""

from __future__ import annotations

import socket

import pytest

from face_identity.catalog import FACEFUSION_REPO, W600K_R50_SPACE, build_catalog, get_spec, names_for_role
from face_identity.errors import InvalidArgumentError
from face_identity.model_facts import build_model_facts

# (name, role, input size, template, mean, std) as published by insightface / FaceFusion
EXPECTED = [
    ("arcface_w600k_r50", "recognizer", (112, 112), "arcface_112", 127.5, 127.5),
    ("scrfd_2.5g", "detector", (640, 640), None, 127.5, 128.0),
    ("retinaface_10g", "detector", (640, 640), None, 127.5, 128.0),
    ("yoloface_8n", "detector", (640, 640), None, 0.0, 255.0),
    ("inswapper_128", "swapper", (128, 128), "arcface_128", 0.0, 255.0),
    ("inswapper_128_fp16", "swapper", (128, 128), "arcface_128", 0.0, 255.0),
]


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail on any socket at all (stricter than no_network: not even loopback)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the catalog opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_building_and_reading_the_catalog_touches_no_network(no_network: None, no_sockets: None) -> None:
    catalog = build_catalog()
    for spec in catalog.values():
        spec.url()
    get_spec("arcface_w600k_r50")
    names_for_role("detector")


@pytest.mark.parametrize(("name", "role", "size", "template", "mean", "std"), EXPECTED, ids=[row[0] for row in EXPECTED])
def test_entry_fields(name: str, role: str, size: tuple[int, int], template: str | None, mean: float, std: float) -> None:
    spec = get_spec(name)
    assert spec.name == name
    assert spec.role == role
    assert spec.input_size == size
    assert spec.template == template
    assert (spec.input_mean, spec.input_std) == (mean, std)
    assert spec.repo_id == FACEFUSION_REPO == "facefusion/models-3.0.0"
    assert spec.filename == f"{name}.onnx"
    assert spec.hash_filename == f"{name}.hash"
    assert spec.licence.strip()
    assert spec.url() == f"https://huggingface.co/facefusion/models-3.0.0/resolve/main/{name}.onnx"
    assert (
        spec.url("http://mirror.example/", spec.hash_filename)
        == f"http://mirror.example/facefusion/models-3.0.0/resolve/main/{name}.hash"
    )


FACEFUSION_SWAPPERS = {
    "hyperswap_1a_256": ("models-3.3.0", 256, "arcface_128"),
    "hyperswap_1b_256": ("models-3.3.0", 256, "arcface_128"),
    "hyperswap_1c_256": ("models-3.3.0", 256, "arcface_128"),
    "simswap_256": ("models-3.0.0", 256, "arcface_112_v1"),
    "simswap_unofficial_512": ("models-3.0.0", 512, "arcface_112_v1"),
    "ghost_1_256": ("models-3.0.0", 256, "arcface_112_v1"),
    "ghost_2_256": ("models-3.0.0", 256, "arcface_112_v1"),
    "ghost_3_256": ("models-3.0.0", 256, "arcface_112_v1"),
    "hififace_unofficial_256": ("models-3.1.0", 256, "mtcnn_512"),
    "alphaface_256": ("models-3.9.0", 256, "arcface_128"),
}
CONVERTERS = ("crossface_simswap", "crossface_ghost", "crossface_hififace")


def test_exactly_the_expected_entries() -> None:
    downloadable_facts = {name for name, facts in build_model_facts().items() if facts.release}
    assert set(build_catalog()) == {row[0] for row in EXPECTED} | set(FACEFUSION_SWAPPERS) | set(
        CONVERTERS
    ) | downloadable_facts | {"arcface_glintr100", "auraface_v1"}


@pytest.mark.parametrize("name", sorted(FACEFUSION_SWAPPERS))
def test_facefusion_swapper_entries(name: str) -> None:
    release, size, template = FACEFUSION_SWAPPERS[name]
    spec = get_spec(name)
    assert (spec.role, spec.input_size, spec.template) == ("swapper", (size, size), template)
    assert (spec.embedding_space, spec.embedding_dim) == (W600K_R50_SPACE, 512)
    assert spec.hash_filename == f"{name}.hash" and spec.licence.strip()
    assert spec.url() == f"https://huggingface.co/facefusion/{release}/resolve/main/{name}.onnx"


@pytest.mark.parametrize("name", CONVERTERS)
def test_crossface_converter_entries(name: str) -> None:
    spec = get_spec(name)
    assert spec.role == "converter" and spec.hash_filename == f"{name}.hash"
    assert spec.url() == f"https://huggingface.co/facefusion/models-3.4.0/resolve/main/{name}.onnx"


def test_licences_say_what_restricts_use() -> None:
    for name in ("arcface_w600k_r50", "scrfd_2.5g", "retinaface_10g", "inswapper_128", "inswapper_128_fp16"):
        assert "non-commercial" in get_spec(name).licence
    assert "GPL" in get_spec("yoloface_8n").licence


def test_detector_families_and_embedding_spaces() -> None:
    assert get_spec("scrfd_2.5g").family == "scrfd"
    assert get_spec("retinaface_10g").family == "scrfd"
    assert get_spec("yoloface_8n").family == "yoloface"
    for name in ("arcface_w600k_r50", "inswapper_128", "inswapper_128_fp16"):
        spec = get_spec(name)
        assert (spec.embedding_space, spec.embedding_dim) == (W600K_R50_SPACE, 512)


def test_buffalo_l_alias_of_the_recognizer() -> None:
    assert "insightface/models/buffalo_l/w600k_r50.onnx" in get_spec("arcface_w600k_r50").aliases


def test_inswapper_is_declared_once_in_the_swapper_facts_with_its_aliases() -> None:
    """inswapper's catalog entries are built from its swapper_facts rows, as every swapper's, keeping insightface's paths."""
    from face_identity.swapper_facts import SWAPPER_FACTS

    for name in ("inswapper_128", "inswapper_128_fp16"):
        spec, row = get_spec(name), SWAPPER_FACTS[name]
        assert spec.aliases == row.aliases == (f"insightface/{name}.onnx",)
        assert (spec.input_size, spec.template, spec.repo_id) == ((128, 128), row.facts.template, f"facefusion/{row.release}")
        assert spec.description.startswith(row.description) and spec.licence == row.licence


def test_names_for_role_keep_catalog_order_and_cover_every_entry() -> None:
    roles = ("recognizer", "detector", "swapper", "converter", "landmarker", "occluder", "parser", "restorer")
    by_role = {role: names_for_role(role) for role in roles}
    assert by_role["recognizer"] == ["arcface_w600k_r50", "arcface_glintr100", "auraface_v1"]  # w600k_r50 stays the default
    assert set(by_role["detector"]) == {"scrfd_2.5g", "retinaface_10g", "yoloface_8n"}
    assert by_role["swapper"] == ["inswapper_128", "inswapper_128_fp16", *FACEFUSION_SWAPPERS]
    assert by_role["converter"] == list(CONVERTERS)
    assert sorted(sum(by_role.values(), [])) == sorted(build_catalog())
    order = list(build_catalog())
    assert by_role["detector"] == sorted(by_role["detector"], key=order.index)


def test_unknown_name_is_an_invalid_argument_listing_known_names() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        get_spec("arcface_w600k_r100")
    for name in build_catalog():
        assert name in str(caught.value)


def test_specs_are_frozen() -> None:
    spec = get_spec("scrfd_2.5g")
    with pytest.raises(AttributeError):
        spec.filename = "other.onnx"  # type: ignore[misc]


def test_one_role_vocabulary_for_catalog_facts_and_sessions() -> None:
    """catalog.Role is roles.Role; every model_facts kind maps to one of its roles, as its catalog entry says."""
    from face_identity import catalog, roles
    from face_identity.model_facts import build_model_facts, role_of

    assert catalog.Role is roles.Role
    assert {spec.role for spec in build_catalog().values()} == set(roles.ROLES)
    for name, facts in build_model_facts().items():
        assert role_of(facts.kind) in roles.ROLES
        if facts.release:
            assert get_spec(name).role == role_of(facts.kind)
    assert set(roles.ROLES) | {"unknown"} == set(roles.ROLE_WORDS)


def test_glintr100_is_a_second_recognizer_in_its_own_space() -> None:
    """antelopev2's recognizer (issue 20): its own space, 512-d, checked by SHA-256 (no FaceFusion sidecar exists)."""
    spec = get_spec("arcface_glintr100")
    assert (spec.role, spec.filename, spec.input_size, spec.template) == (
        "recognizer",
        "glintr100.onnx",
        (112, 112),
        "arcface_112",
    )
    assert (spec.embedding_space, spec.embedding_dim) == ("arcface_glintr100", 512) != (W600K_R50_SPACE, 512)
    assert spec.hash_filename is None and spec.sha256 is not None and len(spec.sha256) == 64
    assert "non-commercial" in spec.licence and "Glint360K" in spec.licence
    assert "insightface/models/antelopev2/glintr100.onnx" in spec.aliases
    assert spec.url() == "https://huggingface.co/DIAMONIK7777/antelopev2/resolve/main/glintr100.onnx"


def test_auraface_is_a_commercially_usable_recognizer_in_its_own_space() -> None:
    """fal/AuraFace-v1 (issue 20): Apache-2.0, 112 px ArcFace crops, 512-d; neither w600k_r50's nor glintr100's space.
    Published as ``glintr100.onnx`` (antelopev2's recognizer's name), so it is saved as ``auraface_v1.onnx``; checked
    by the SHA-256 Hugging Face lists for that file (no FaceFusion sidecar)."""
    spec = get_spec("auraface_v1")
    assert (spec.role, spec.filename, spec.published_filename, spec.input_size, spec.template) == (
        "recognizer",
        "auraface_v1.onnx",
        "glintr100.onnx",
        (112, 112),
        "arcface_112",
    )
    assert (spec.input_mean, spec.input_std) == (127.5, 127.5)
    assert spec.embedding_dim == 512 and spec.embedding_space == "auraface_v1"
    assert spec.embedding_space not in (W600K_R50_SPACE, get_spec("arcface_glintr100").embedding_space)
    assert spec.hash_filename is None and spec.sha256 == "a7933ea5330113b01c9b60351d8f4c33003f145d8470ac5f0e52ee2effe25c60"
    assert spec.licence.startswith("Apache-2.0") and "non-commercial" not in spec.licence.split(".")[0]
    assert spec.url() == "https://huggingface.co/fal/AuraFace-v1/resolve/main/glintr100.onnx"
    assert spec.filename not in {other.filename for other in build_catalog().values() if other.name != spec.name}
    assert not spec.aliases  # a bare glintr100.onnx would be antelopev2's model
