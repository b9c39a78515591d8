"""Example workflows: UI files checked against the node schemas, API twins executed through the real node classes.

Core ComfyUI nodes are checked against their /object_info schemas (tests/data/comfy_core_nodes.json,
from ComfyUI 0.3.64) and executed by small stand-ins here; our nodes run for real, on the small real
models placed under the catalog file names (see the ``model_folder`` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, build_stand_in_mask_models, build_stand_in_swappers, stand_in_space

WORKFLOW_DIR = REPO_ROOT / "workflows"
CORE_SCHEMAS: dict[str, Any] = json.loads((REPO_ROOT / "tests" / "data" / "comfy_core_nodes.json").read_text())
OTHER_PACK_SCHEMAS = ("ipadapter_plus_nodes.json", "instantid_nodes.json", "pulid_nodes.json")
"""Transcribed nodes of ComfyUI_IPAdapter_plus, ComfyUI_InstantID and PuLID_ComfyUI (the generation examples)."""
for _transcribed in ("comfy_generation_nodes.json", *OTHER_PACK_SCHEMAS):  # the generation examples' other nodes
    CORE_SCHEMAS.update(json.loads((REPO_ROOT / "tests" / "data" / _transcribed).read_text())["nodes"])
FILE_COMBOS = {("FaceIdentity_LoadIdentity", "identity_file")}
"""Combos listing the user's files: any value is valid in a template (transcribed ones read ``["<... files>"]``)."""
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
"""Input types drawn as widgets; ``COMBO`` is how /object_info lists a V3 node's combo (``["COMBO", {"options": [...]}]``)."""
UPLOAD_WIDGET = {"LoadImage", "LoadVideo"}
"""Core nodes whose upload button keeps a value in ``widgets_values`` (``"image"``, as the frontend saves it)."""
FRONTEND_ONLY = {"Note"}
"""Nodes the frontend draws but never queues (no /object_info entry; absent from the API twin)."""
UI_FILES = sorted(WORKFLOW_DIR.glob("*.json"))
API_FILES = sorted((WORKFLOW_DIR / "api").glob("*.json"))


def schema_of(pack: Any, node_type: str) -> dict[str, Any]:
    """/object_info-style schema: {"required": {...}, "optional": {...}, "output": [types]}."""
    if node_type in CORE_SCHEMAS:
        info = CORE_SCHEMAS[node_type]
        return {
            "required": info["input"].get("required", {}),
            "optional": info["input"].get("optional", {}),
            "output": info["output"],
        }
    cls = pack.NODE_CLASS_MAPPINGS[node_type]
    spec = cls.INPUT_TYPES()
    return {"required": spec.get("required", {}), "optional": spec.get("optional", {}), "output": list(cls.RETURN_TYPES)}


def is_widget(entry: Any) -> bool:
    return isinstance(entry[0], list) or entry[0] in WIDGET_TYPES


def widget_names(schema: dict[str, Any], node_type: str) -> list[str]:
    names = []
    for section in ("required", "optional"):
        for name, entry in schema[section].items():
            if is_widget(entry):
                names.append(name)
                if len(entry) > 1 and entry[1].get("control_after_generate"):
                    names.append("control_after_generate")  # the frontend's seed control keeps a value
    return names + (["upload"] if node_type in UPLOAD_WIDGET else [])  # the frontend's upload button keeps a value


def choices_of(entry: Any) -> list[Any] | None:
    """A combo input's choices (V1: a list as the type; V3: ``["COMBO", {"options": [...]}]``), else None."""
    if isinstance(entry[0], list):
        return list(entry[0])
    return list(entry[1]["options"]) if entry[0] == "COMBO" else None


def lists_files(node_type: str, name: str, choices: list[Any]) -> bool:
    return (node_type, name) in FILE_COMBOS or all(str(choice).startswith("<") for choice in choices)


def all_inputs(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema["required"], **schema["optional"]}


OTHER_PACK_NODES = {
    name for schema in OTHER_PACK_SCHEMAS for name in json.loads((REPO_ROOT / "tests" / "data" / schema).read_text())["nodes"]
}
"""Nodes of other packs: a workflow using them has no API twin (it cannot run without that pack's models)."""


def needs_other_packs(path: Path) -> bool:
    return any(node["type"] in OTHER_PACK_NODES for node in json.loads(path.read_text())["nodes"])


def test_every_workflow_has_an_api_twin_and_thumbnail() -> None:
    assert {p.name for p in UI_FILES if not needs_other_packs(p)} == {p.name for p in API_FILES}
    assert len(UI_FILES) >= 3
    for path in UI_FILES:
        assert path.with_suffix(".jpg").is_file(), f"{path.name} has no thumbnail"


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_ui_workflow_matches_schemas(pack: Any, path: Path) -> None:
    workflow = json.loads(path.read_text())
    for key in ("version", "last_node_id", "last_link_id", "nodes", "links"):
        assert key in workflow, f"{path.name} lacks {key}"
    nodes = {node["id"]: node for node in workflow["nodes"]}
    assert workflow["last_node_id"] >= max(nodes) and workflow["last_link_id"] >= max(
        (link[0] for link in workflow["links"]), default=0
    )
    for node in nodes.values():
        for key in ("flags", "properties", "order", "mode", "size", "inputs", "outputs", "widgets_values"):
            assert key in node, f"node {node['id']} lacks {key}"
        if node["type"] in FRONTEND_ONLY:  # a Note: one text widget, no sockets
            assert node["inputs"] == node["outputs"] == [] and [type(v) for v in node["widgets_values"]] == [str]
            continue
        assert node["type"] in CORE_SCHEMAS or node["type"] in pack.NODE_CLASS_MAPPINGS, f"unknown node type {node['type']}"
        schema = schema_of(pack, node["type"])
        inputs = all_inputs(schema)
        for entry in node["inputs"]:
            assert entry["name"] in inputs, f"{node['type']} has no input {entry['name']}"
            declared = inputs[entry["name"]][0]
            assert declared == "*" or entry["type"] == declared
        linked = {entry["name"] for entry in node["inputs"] if entry["link"] is not None}
        for name, entry in schema["required"].items():
            if not is_widget(entry):
                assert name in linked, f"{node['type']} (node {node['id']}) required input {name} is not connected"
        widgets = widget_names(schema, node["type"])
        assert len(node["widgets_values"]) == len(widgets), f"{node['type']}: widgets {widgets} vs {node['widgets_values']}"
        for name, value in zip(widgets, node["widgets_values"]):
            choices = None if name not in inputs else choices_of(inputs[name])
            if choices is not None and not lists_files(node["type"], name, choices):
                assert value in choices, f"{node['type']}.{name} = {value!r} is not one of its choices"
        assert [o["type"] for o in node["outputs"]] == schema["output"]
    for link_id, origin, origin_slot, target, target_slot, link_type in workflow["links"]:
        assert schema_of(pack, nodes[origin]["type"])["output"][origin_slot] == link_type
        assert link_id in (nodes[origin]["outputs"][origin_slot]["links"] or [])
        target_input = nodes[target]["inputs"][target_slot]
        assert target_input["link"] == link_id
        assert target_input["type"] in (link_type, "*")


def ui_to_api(pack: Any, workflow: dict[str, Any]) -> dict[str, Any]:
    """What the frontend would queue for a UI workflow (widget values by position, links by id)."""
    links = {row[0]: row for row in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        schema = schema_of(pack, node["type"])
        inputs = {
            name: value
            for name, value in zip(widget_names(schema, node["type"]), node["widgets_values"])
            if name not in ("upload", "control_after_generate")
        }
        for entry in node["inputs"]:
            if entry["link"] is not None:
                _, origin, slot, _, _, _ = links[entry["link"]]
                inputs[entry["name"]] = [str(origin), slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


@pytest.mark.parametrize("path", API_FILES, ids=lambda p: p.stem)
def test_api_twin_equals_ui_workflow(pack: Any, path: Path) -> None:
    api = json.loads(path.read_text())
    converted = ui_to_api(pack, json.loads((WORKFLOW_DIR / path.name).read_text()))
    assert {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()} == converted
    for node_id, node in api.items():
        schema = schema_of(pack, node["class_type"])
        for name in schema["required"]:
            assert name in node["inputs"], f"node {node_id} {node['class_type']} lacks required input {name}"
        for name, value in node["inputs"].items():
            if isinstance(value, list):
                source = api[value[0]]
                produced = schema_of(pack, source["class_type"])["output"][value[1]]
                declared = all_inputs(schema)[name][0]
                assert declared in (produced, "*"), f"node {node_id}.{name}: {produced} into {declared}"


class CoreNodes:
    """Stand-ins for the ComfyUI core nodes the examples use."""

    def __init__(self, input_dir: Path) -> None:
        self.input_dir = input_dir
        self.shown: list[Any] = []

    def LoadImage(self, image: str) -> tuple[Any, Any]:
        from face_identity.images import read_image

        pixels = read_image(self.input_dir / image).astype(np.float32) / 255.0
        tensor = torch.from_numpy(pixels)[None]
        return tensor, torch.zeros((1, 64, 64))

    def ImageBatch(self, image1: Any, image2: Any) -> tuple[Any]:
        """As ComfyUI: image2 is centre-cropped to image1's aspect ratio and resized to its size."""
        if image1.shape[1:] != image2.shape[1:]:
            height, width = image1.shape[1:3]
            old_height, old_width = image2.shape[1:3]
            if old_width / old_height > width / height:
                keep = round(old_height * width / height)
                image2 = image2[:, :, (old_width - keep) // 2 : (old_width - keep) // 2 + keep]
            else:
                keep = round(old_width * height / width)
                image2 = image2[:, (old_height - keep) // 2 : (old_height - keep) // 2 + keep]
            resized = torch.nn.functional.interpolate(image2.movedim(-1, 1), size=(height, width), mode="bilinear")
            image2 = resized.movedim(1, -1)
        return (torch.cat([image1, image2]),)

    def PreviewImage(self, images: Any) -> tuple[()]:
        self.shown.append(images)
        return ()

    def SaveImage(self, images: Any, filename_prefix: str) -> tuple[()]:
        self.shown.append(images)
        return ()

    def PreviewAny(self, source: Any) -> tuple[()]:
        self.shown.append(source)
        return ()

    def MaskPreview(self, mask: Any) -> tuple[()]:
        self.shown.append(mask)
        return ()

    def ImageBlur(self, image: Any, blur_radius: int, sigma: float) -> tuple[Any]:
        """As ComfyUI: a (2r+1)-tap Gaussian per channel over a reflect-padded image."""
        side = 2 * blur_radius + 1
        axis = torch.linspace(-1, 1, side)
        xs, ys = torch.meshgrid(axis, axis, indexing="ij")
        kernel = torch.exp(-(xs**2 + ys**2) / (2 * sigma**2))
        kernel = (kernel / kernel.sum()).repeat(image.shape[-1], 1, 1, 1)
        padded = torch.nn.functional.pad(image.movedim(-1, 1), (blur_radius,) * 4, "reflect")
        blurred = torch.nn.functional.conv2d(padded, kernel, groups=image.shape[-1])
        return (blurred.movedim(1, -1),)

    def ImageCompositeMasked(
        self, destination: Any, source: Any, x: int, y: int, resize_source: bool, mask: Any = None
    ) -> tuple[Any]:
        """As ComfyUI at x = y = 0 with a same-size source: ``mask * source + (1 - mask) * destination``."""
        assert (x, y, resize_source) == (0, 0, False) and source.shape == destination.shape
        weight = torch.ones_like(destination[..., :1]) if mask is None else mask[..., None]
        return (weight * source + (1 - weight) * destination,)


def run_api_workflow(pack: Any, prompt: dict[str, Any], core: CoreNodes) -> dict[str, tuple[Any, ...]]:
    """Execute an API prompt through the real node classes, in dependency order; returns every node's outputs."""
    outputs: dict[str, tuple[Any, ...]] = {}
    pending = dict(prompt)
    while pending:
        ready = [
            key for key, node in pending.items() if all(v[0] in outputs for v in node["inputs"].values() if isinstance(v, list))
        ]
        assert ready, f"cycle or dangling link among {sorted(pending)}"
        for key in ready:
            node = pending.pop(key)
            arguments = {name: outputs[v[0]][v[1]] if isinstance(v, list) else v for name, v in node["inputs"].items()}
            if node["class_type"] in CORE_SCHEMAS:
                result = getattr(core, node["class_type"])(**arguments)
            else:
                cls = pack.NODE_CLASS_MAPPINGS[node["class_type"]]
                result = getattr(cls(), cls.FUNCTION)(**arguments)
            outputs[key] = result["result"] if isinstance(result, dict) else result
    return outputs


def find(prompt: dict[str, Any], class_type: str) -> list[str]:
    return [key for key, node in prompt.items() if node["class_type"] == class_type]


def test_compare_two_faces_runs(pack: Any, model_folder: Path, example_inputs: Path) -> None:
    prompt = json.loads((WORKFLOW_DIR / "api" / "compare_two_faces.json").read_text())
    outputs = run_api_workflow(pack, prompt, CoreNodes(example_inputs))
    similarity, match, report, chart = outputs[find(prompt, "FaceIdentity_IdentitySimilarity")[0]]
    assert match and similarity > 0.4 and "same person" in report
    preview = outputs[find(prompt, "FaceIdentity_PreviewFaces")[0]][0]
    assert preview.shape[0] == 1 and chart.shape[0] == 1


def test_best_of_n_runs(pack: Any, model_folder: Path, example_inputs: Path) -> None:
    prompt = json.loads((WORKFLOW_DIR / "api" / "best_of_n_identity_check.json").read_text())
    outputs = run_api_workflow(pack, prompt, CoreNodes(example_inputs))
    best, passing, best_index, best_score, pass_count, scores, chart, info = outputs[
        find(prompt, "FaceIdentity_IdentityConsistency")[0]
    ]
    report = json.loads(scores)
    assert [row["passed"] for row in report] == [True, False, True]  # person A, person B, person A
    assert best_index in (0, 2) and pass_count == 2 and passing.shape[0] == 2 and best_score > 0.4
    assert info.startswith("2 of 3 image(s) passed")


def test_build_and_save_identity_runs(pack: Any, model_folder: Path, example_inputs: Path) -> None:
    prompt = json.loads((WORKFLOW_DIR / "api" / "build_and_save_identity.json").read_text())
    outputs = run_api_workflow(pack, prompt, CoreNodes(example_inputs))
    saved = Path(outputs[find(prompt, "FaceIdentity_SaveIdentity")[0]][0])
    assert saved == model_folder / "identities" / "example_person.safetensors" and saved.is_file()
    identity = pack.face_identity.store.load_identity(saved)
    assert len(identity) == 1 and identity.model_id == stand_in_space(model_folder / "arcface_w600k_r50.onnx")
    similarity = outputs[find(prompt, "FaceIdentity_IdentitySimilarity")[0]][0]
    assert similarity > 0.5


def test_face_swap_runs(pack: Any, model_folder: Path, example_inputs: Path) -> None:
    build_stand_in_swappers(model_folder)  # stand-ins with the real I/O, paired with the stand-in recognizer
    prompt = json.loads((WORKFLOW_DIR / "api" / "face_swap.json").read_text())
    assert prompt[find(prompt, "FaceIdentity_LoadFaceSwapper")[0]]["inputs"]["model_name"] == "hyperswap_1a_256"
    outputs = run_api_workflow(pack, prompt, CoreNodes(example_inputs))
    swapped, mask, total, counts, retention, summary, chart, _timeline = outputs[find(prompt, "FaceIdentity_FaceSwap")[0]]
    assert len(retention) == 3 and "3 face(s)" in summary and chart.shape[0] == 1
    targets = outputs[find(prompt, "ImageBatch")[0]][0]
    assert json.loads(counts) == [2, 1] and total == 3
    assert swapped.shape == targets.shape and mask.shape == targets.shape[:3]
    unchanged = mask == 0
    assert torch.equal(swapped[unchanged], targets[unchanged]) and float(mask.max()) > 0.95  # learned mask peaks at 0.98
    scores = json.loads(outputs[find(prompt, "FaceIdentity_IdentityConsistency")[0]][5])
    assert len(scores) == 2


def test_swapper_comparison_runs(pack: Any, model_folder: Path, example_inputs: Path) -> None:
    build_stand_in_swappers(model_folder)
    prompt = json.loads((WORKFLOW_DIR / "api" / "swapper_comparison.json").read_text())
    loaders = find(prompt, "FaceIdentity_LoadFaceSwapper")
    assert [prompt[key]["inputs"]["model_name"] for key in loaders] == ["hyperswap_1a_256", "inswapper_128", "simswap_256"]
    outputs = run_api_workflow(pack, prompt, CoreNodes(example_inputs))
    results = [outputs[key] for key in find(prompt, "FaceIdentity_FaceSwap")]
    assert len(results) == 3
    for _image, _mask, total, counts, retention, summary, _chart, _timeline in results:
        assert json.loads(counts) == [2, 1] and total == 3 and len(retention) == 3
        assert all(-1.0 <= score <= 1.0 for score in retention) and "retention" in summary
    assert not torch.equal(results[0][0], results[2][0])  # different swappers, different faces


def test_face_swap_masked_restored_runs(pack: Any, model_folder: Path, example_inputs: Path) -> None:
    build_stand_in_swappers(model_folder)
    build_stand_in_mask_models(model_folder)
    prompt = json.loads((WORKFLOW_DIR / "api" / "face_swap_masked_restored.json").read_text())
    spec_link = prompt[find(prompt, "FaceIdentity_FaceSwap")[0]]["inputs"]["mask_spec"]
    assert prompt[spec_link[0]]["class_type"] == "FaceIdentity_FaceMask" and spec_link[1] == 2
    outputs = run_api_workflow(pack, prompt, CoreNodes(example_inputs))
    _mask, _preview, spec, info = outputs[find(prompt, "FaceIdentity_FaceMask")[0]]
    assert spec.types == ("occlusion", "region") and "xseg_1" in info and "bisenet_resnet_34" in info
    swapped, mask, total, counts, _retention, _summary, _chart, _timeline = outputs[find(prompt, "FaceIdentity_FaceSwap")[0]]
    targets = outputs[find(prompt, "ImageBatch")[0]][0]
    assert json.loads(counts) == [2, 1] and total == 3
    unchanged = mask == 0
    assert torch.equal(swapped[unchanged], targets[unchanged])
    restored, _used, drift, to_source, report = outputs[find(prompt, "FaceIdentity_FaceRestore")[0]]
    assert restored.shape == targets.shape and len(drift) == len(to_source) >= 1 and "drift" in report.lower()
    assert all(value > 0.95 for value in drift)  # the stand-in restorer gives its input back (int8 stand-in recognizer)
    scores = json.loads(outputs[find(prompt, "FaceIdentity_IdentityConsistency")[0]][5])
    assert len(scores) == 2


def test_face_mask_workflow_runs(pack: Any, model_folder: Path, example_inputs: Path) -> None:
    build_stand_in_mask_models(model_folder)
    prompt = json.loads((WORKFLOW_DIR / "api" / "face_mask.json").read_text())
    ui = json.loads((WORKFLOW_DIR / "face_mask.json").read_text())
    notes = [node["widgets_values"][0] for node in ui["nodes"] if node["type"] == "Note"]
    assert len(notes) == 1 and "VAEEncodeForInpaint" in notes[0] and "InpaintModelConditioning" in notes[0]
    core = CoreNodes(example_inputs)
    outputs = run_api_workflow(pack, prompt, core)
    mask, preview, spec, _info = outputs[find(prompt, "FaceIdentity_FaceMask")[0]]
    assert spec.types == ("box", "region")
    image = outputs[find(prompt, "LoadImage")[0]][0]
    composite = outputs[find(prompt, "ImageCompositeMasked")[0]][0]
    assert mask.shape == image.shape[:3] and preview.shape == image.shape
    outside = mask == 0
    assert torch.equal(composite[outside], image[outside])  # the image is untouched outside the mask
    assert any(item is mask for item in core.shown)  # the MASK reaches MaskPreview as is


@pytest.mark.parametrize(
    ("stem", "loader", "apply_node", "socket"),
    [
        ("instantid_identity_check", "InstantIDFaceAnalysis", "ApplyInstantID", "insightface"),
        ("pulid_identity_check", "PulidInsightFaceLoader", "ApplyPulid", "face_analysis"),
    ],
)
def test_generation_workflows_feed_the_packs_loader_and_check_the_identity(
    pack: Any, stem: str, loader: str, apply_node: str, socket: str
) -> None:
    """InstantID / PuLID (issue 20): the pack's own FACEANALYSIS loader (our insightface-compatible module behind it)
    feeds its apply node; our Face Embed + Identity Consistency score the generated images against the same photo.
    No API twin and a Note saying why it cannot be queued here (it needs SDXL and the pack's weights)."""
    path = WORKFLOW_DIR / f"{stem}.json"
    assert needs_other_packs(path) and not (WORKFLOW_DIR / "api" / path.name).exists()
    ui = json.loads(path.read_text())
    notes = [node["widgets_values"][0] for node in ui["nodes"] if node["type"] == "Note"]
    assert len(notes) == 1 and "cannot be queued" in notes[0] and "SDXL" in notes[0]
    assert "models/insightface/models/antelopev2" in notes[0] and "insightface package" in notes[0]
    prompt = ui_to_api(pack, ui)
    (applied,) = find(prompt, apply_node)
    analyser = prompt[applied]["inputs"][socket][0]
    assert prompt[analyser]["class_type"] == loader
    photo = prompt[applied]["inputs"]["image"][0]
    assert prompt[photo]["class_type"] == "LoadImage"
    (check,) = find(prompt, "FaceIdentity_IdentityConsistency")
    reference = prompt[prompt[check]["inputs"]["reference"][0]]
    assert reference["class_type"] == "FaceIdentity_FaceEmbed" and reference["inputs"]["image"][0] == photo
    generated = prompt[prompt[check]["inputs"]["images"][0]]
    assert generated["class_type"] == "VAEDecode"
    sampler = prompt[generated["inputs"]["samples"][0]]
    assert sampler["class_type"] == "KSampler" and sampler["inputs"]["model"][0] == applied
    assert not {"FaceIdentity_InsightFaceAnalysis"} & {node["class_type"] for node in prompt.values()}  # INSIGHTFACE, w600k_r50
