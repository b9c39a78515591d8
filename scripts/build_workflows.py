"""Write the example workflows in both formats from one description: workflows/*.json (UI) and workflows/api/*.json.

Run from the repository root after changing a node's inputs: ``python scripts/build_workflows.py``.
Widget order comes from the node classes themselves (required, then optional inputs, as ComfyUI's
frontend orders ``widgets_values``), so the two formats cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}

CORE_NODES: dict[str, dict[str, Any]] = {
    # ComfyUI core nodes used by the examples: inputs (name, type), widget names, outputs (name, type).
    "LoadImage": {"inputs": [], "widgets": ["image", "upload"], "outputs": [("IMAGE", "IMAGE"), ("MASK", "MASK")]},
    "ImageBatch": {"inputs": [("image1", "IMAGE"), ("image2", "IMAGE")], "widgets": [], "outputs": [("IMAGE", "IMAGE")]},
    "PreviewImage": {"inputs": [("images", "IMAGE")], "widgets": [], "outputs": []},
    "SaveImage": {"inputs": [("images", "IMAGE")], "widgets": ["filename_prefix"], "outputs": []},
    "PreviewAny": {"inputs": [("source", "*")], "widgets": [], "outputs": []},
    "ImageBlur": {"inputs": [("image", "IMAGE")], "widgets": ["blur_radius", "sigma"], "outputs": [("IMAGE", "IMAGE")]},
    "ImageCompositeMasked": {
        "inputs": [("destination", "IMAGE"), ("source", "IMAGE"), ("mask", "MASK")],
        "widgets": ["x", "y", "resize_source"],
        "outputs": [("IMAGE", "IMAGE")],
    },
    "MaskPreview": {"inputs": [("mask", "MASK")], "widgets": [], "outputs": []},
    "LoadVideo": {"inputs": [], "widgets": ["file", "upload"], "outputs": [("VIDEO", "VIDEO")]},
    "GetVideoComponents": {
        "inputs": [("video", "VIDEO")],
        "widgets": [],
        "outputs": [("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT")],
    },
    "CreateVideo": {
        "inputs": [("images", "IMAGE"), ("audio", "AUDIO")],
        "widgets": ["fps"],
        "widget_types": {"fps": "FLOAT"},
        "outputs": [("VIDEO", "VIDEO")],
    },
    "SaveVideo": {"inputs": [("video", "VIDEO")], "widgets": ["filename_prefix", "format", "codec"], "outputs": []},
}
FRONTEND_ONLY = ("Note",)
"""Nodes the frontend draws but never queues (no /object_info entry, absent from the API twin)."""


OTHER_PACK_SCHEMAS = ("ipadapter_plus_nodes.json", "instantid_nodes.json", "pulid_nodes.json")
"""Nodes of other custom node packs (ComfyUI_IPAdapter_plus, ComfyUI_InstantID, PuLID_ComfyUI): a workflow using
them gets no API twin (it cannot run without that pack and its models)."""
TRANSCRIBED_SCHEMAS = ("comfy_generation_nodes.json", *OTHER_PACK_SCHEMAS)
"""/object_info-style schemas of the other nodes the generation examples use (ComfyUI's generation nodes and the
other packs'), transcribed under tests/data/, where the workflow tests read them too."""
AUTO_WIDGETS = ("upload", "control_after_generate")
"""Widget values the frontend keeps that are not node inputs (LoadImage's upload button, a seed's control)."""


def transcribed_schemas() -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for name in TRANSCRIBED_SCHEMAS:
        nodes.update(json.loads((REPO / "tests" / "data" / name).read_text())["nodes"])
    return nodes


def _schema_from_object_info(info: dict[str, Any]) -> dict[str, Any]:
    inputs, widgets = [], []
    for section in ("required", "optional"):
        for name, entry in info["input"].get(section, {}).items():
            kind = entry[0]
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                widgets.append(name)
                if len(entry) > 1 and entry[1].get("control_after_generate"):
                    widgets.append("control_after_generate")
            else:
                inputs.append((name, kind))
    return {"inputs": inputs, "widgets": widgets, "outputs": list(zip(info["output_name"], info["output"]))}


def load_pack() -> Any:
    """The pack imported as a package (as ComfyUI does), so its relative imports work."""
    name = "face_identity_pack"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def node_schema(node_type: str) -> dict[str, Any]:
    """Inputs (linkable sockets), widget names in frontend order, outputs, for a core node or one of ours."""
    if node_type in CORE_NODES:
        return CORE_NODES[node_type]
    transcribed = transcribed_schemas()
    if node_type in transcribed:
        return _schema_from_object_info(transcribed[node_type])
    node_class = load_pack().NODE_CLASS_MAPPINGS[node_type]
    spec = node_class.INPUT_TYPES()
    inputs, widgets = [], []
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            kind = entry[0]
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                widgets.append(name)
            else:
                inputs.append((name, kind))
    names = node_class.RETURN_NAMES or node_class.RETURN_TYPES
    return {"inputs": inputs, "widgets": widgets, "outputs": list(zip(names, node_class.RETURN_TYPES))}


@dataclass
class Node:
    id: int
    type: str
    pos: tuple[int, int]
    values: dict[str, Any]
    links: dict[str, tuple[int, int]] = field(default_factory=dict)
    title: str | None = None


@dataclass
class Workflow:
    name: str
    nodes: list[Node] = field(default_factory=list)
    notes: list[tuple[tuple[int, int], str]] = field(default_factory=list)

    def note(self, pos: tuple[int, int], text: str) -> None:
        """A frontend Note (text only): in the UI workflow, not in the API twin."""
        self.notes.append((pos, text))

    def add(self, node_type: str, pos: tuple[int, int], title: str | None = None, **values: Any) -> Node:
        node = Node(len(self.nodes) + 1, node_type, pos, {}, {}, title)
        schema = node_schema(node_type)
        socket_names = {name for name, _ in schema["inputs"]}
        for key, value in values.items():
            if isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], Node):  # (node, slot, widget value)
                if key not in schema.get("widget_types", {}):
                    raise KeyError(f"{node_type} has no linkable widget {key!r}")
                node.links[key] = (value[0].id, value[1])
                node.values[key] = value[2]  # kept in widgets_values, as the frontend saves a linked widget
            elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Node):
                if key not in socket_names:
                    raise KeyError(f"{node_type} has no input socket {key!r}")
                node.links[key] = (value[0].id, value[1])
            else:
                if key not in schema["widgets"]:
                    raise KeyError(f"{node_type} has no widget {key!r}")
                node.values[key] = value
        missing = [w for w in schema["widgets"] if w not in node.values]
        if missing:
            raise KeyError(f"{node_type} (node {node.id}) lacks values for {missing}")
        self.nodes.append(node)
        return node

    def api(self) -> dict[str, Any]:
        prompt = {}
        for node in self.nodes:
            inputs: dict[str, Any] = {k: v for k, v in node.values.items() if k not in AUTO_WIDGETS}
            inputs.update({k: [str(src), slot] for k, (src, slot) in node.links.items()})
            entry: dict[str, Any] = {"class_type": node.type, "inputs": inputs}
            if node.title:
                entry["_meta"] = {"title": node.title}
            prompt[str(node.id)] = entry
        return prompt

    def ui(self) -> dict[str, Any]:
        links, link_rows = {}, []
        for node in self.nodes:
            schema = node_schema(node.type)
            shown = _shown_inputs(node, schema)
            for index, (name, _kind) in enumerate(shown):
                if name in node.links:
                    source_id, slot = node.links[name]
                    source = next(n for n in self.nodes if n.id == source_id)
                    link_type = node_schema(source.type)["outputs"][slot][1]
                    link_id = len(link_rows) + 1
                    link_rows.append([link_id, source_id, slot, node.id, index, link_type])
                    links[(node.id, name)] = link_id
        ui_nodes = []
        for order, node in enumerate(self.nodes):
            schema = node_schema(node.type)
            inputs: list[dict[str, Any]] = [
                {"name": name, "type": kind, "link": links.get((node.id, name))} for name, kind in _shown_inputs(node, schema)
            ]
            for entry in inputs:
                if entry["name"] in schema.get("widget_types", {}):
                    entry["widget"] = {"name": entry["name"]}  # a widget fed by a link
            outputs = []
            for slot, (name, kind) in enumerate(schema["outputs"]):
                targets = [row[0] for row in link_rows if row[1] == node.id and row[2] == slot]
                outputs.append({"name": name, "type": kind, "links": targets or None, "slot_index": slot})
            widget_count = len(schema["widgets"])
            height = 60 + 24 * (max(len(inputs), len(outputs)) + widget_count)
            if node.type in ("LoadImage", "PreviewImage", "SaveImage", "LoadVideo", "SaveVideo"):
                height = max(height, 320)
            entry: dict[str, Any] = {
                "id": node.id,
                "type": node.type,
                "pos": list(node.pos),
                "size": [300, height],
                "flags": {},
                "order": order,
                "mode": 0,
                "inputs": inputs,
                "outputs": outputs,
                "properties": {"Node name for S&R": node.type},
                "widgets_values": [node.values[w] for w in schema["widgets"]],
            }
            if node.title:
                entry["title"] = node.title
            ui_nodes.append(entry)
        for number, (pos, text) in enumerate(self.notes):
            ui_nodes.append(
                {
                    "id": len(self.nodes) + number + 1,
                    "type": "Note",
                    "pos": list(pos),
                    "size": [420, 160],
                    "flags": {},
                    "order": len(self.nodes) + number,
                    "mode": 0,
                    "inputs": [],
                    "outputs": [],
                    "properties": {},
                    "widgets_values": [text],
                    "color": "#432",
                    "bgcolor": "#653",
                }
            )
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"face-identity/{self.name}")),
            "revision": 0,
            "last_node_id": len(self.nodes) + len(self.notes),
            "last_link_id": len(link_rows),
            "nodes": ui_nodes,
            "links": link_rows,
            "groups": [],
            "config": {},
            "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}},
            "version": 0.4,
        }


def _shown_inputs(node: Node, schema: dict[str, Any]) -> list[tuple[str, str]]:
    """The input slots the frontend saves, in slot order: sockets (linked or required), then widgets fed by a link."""
    sockets = [(name, kind) for name, kind in schema["inputs"] if name in node.links or not _optional(node.type, name)]
    widgets = [(name, kind) for name, kind in schema.get("widget_types", {}).items() if name in node.links]
    return sockets + widgets


def _optional(node_type: str, name: str) -> bool:
    if node_type in CORE_NODES:
        return False
    transcribed = transcribed_schemas()
    if node_type in transcribed:
        return name in transcribed[node_type]["input"].get("optional", {})
    return name in load_pack().NODE_CLASS_MAPPINGS[node_type].INPUT_TYPES().get("optional", {})


def _loaders(wf: Workflow, x: int, y: int) -> tuple[Node, Node]:
    recognizer = wf.add(
        "FaceIdentity_LoadArcFaceModel",
        (x, y),
        model_name="arcface_w600k_r50",
        backend="auto",
        provider="auto",
        precision="float32",
        batch_size=0,
        strict=False,
    )
    detector = wf.add(
        "FaceIdentity_LoadFaceDetector",
        (x, y + 260),
        model_name="retinaface_10g",
        det_size=640,
        score_threshold=0.5,
        nms_threshold=0.4,
        provider="auto",
        strict=False,
    )
    return recognizer, detector


def _embed(wf: Workflow, pos: tuple[int, int], recognizer: Node, detector: Node, photo: Node, title: str | None = None) -> Node:
    """A Face Embed node reading ``photo`` with the detector (no flip)."""
    return wf.add(
        "FaceIdentity_FaceEmbed",
        pos,
        title=title,
        recognizer=(recognizer, 0),
        image=(photo, 0),
        detector=(detector, 0),
        flip=False,
    )


def _consistency(
    wf: Workflow, pos: tuple[int, int], reference: Node, images: Node, recognizer: Node, detector: Node, title: str | None = None
) -> Node:
    """An Identity Consistency node scoring ``images`` against ``reference`` at the default threshold, every face."""
    return wf.add(
        "FaceIdentity_IdentityConsistency",
        pos,
        title=title,
        reference=(reference, 0),
        images=(images, 0),
        recognizer=(recognizer, 0),
        detector=(detector, 0),
        threshold=0.4,
        order="large-small",
        indices="",
        max_faces=0,
        min_size=0,
    )


def compare_two_faces() -> Workflow:
    wf = Workflow("compare_two_faces")
    recognizer, detector = _loaders(wf, 0, 0)
    photo_a = wf.add("LoadImage", (0, 520), title="Photo A", image="face_identity_person_a_1.jpg", upload="image")
    photo_b = wf.add("LoadImage", (0, 880), title="Photo B", image="face_identity_person_a_2.jpg", upload="image")
    embed_a = _embed(wf, (360, 200), recognizer, detector, photo_a, "Face Embed A")
    embed_b = _embed(wf, (360, 460), recognizer, detector, photo_b, "Face Embed B")
    compare = wf.add(
        "FaceIdentity_IdentitySimilarity", (720, 300), identity_a=(embed_a, 0), identity_b=(embed_b, 0), threshold=0.4
    )
    wf.add("PreviewAny", (1080, 200), title="Similarity report", source=(compare, 2))
    wf.add("PreviewImage", (1080, 460), title="Similarity chart", images=(compare, 3))
    faces = wf.add(
        "FaceIdentity_FaceDetect",
        (360, 760),
        image=(photo_a, 0),
        detector=(detector, 0),
        order="large-small",
        indices="",
        max_faces=0,
        min_size=0,
    )
    preview = wf.add(
        "FaceIdentity_PreviewFaces", (720, 760), image=(photo_a, 0), faces=(faces, 0), show_scores=True, show_landmarks=True
    )
    wf.add("PreviewImage", (1080, 840), title="Faces found in photo A", images=(preview, 0))
    return wf


def best_of_n_identity_check() -> Workflow:
    wf = Workflow("best_of_n_identity_check")
    recognizer, detector = _loaders(wf, 0, 0)
    reference = wf.add("LoadImage", (0, 520), title="Reference photo", image="face_identity_person_a_1.jpg", upload="image")
    candidates = [
        wf.add("LoadImage", (360, 520 + 360 * i), title=f"Candidate {i}", image=name, upload="image")
        for i, name in enumerate(("face_identity_person_a_2.jpg", "face_identity_person_b.jpg", "face_identity_person_a_3.jpg"))
    ]
    batch = wf.add("ImageBatch", (720, 560), image1=(candidates[0], 0), image2=(candidates[1], 0))
    batch = wf.add(
        "ImageBatch", (720, 800), title="Candidates (in practice: VAE Decode)", image1=(batch, 0), image2=(candidates[2], 0)
    )
    embed = _embed(wf, (360, 120), recognizer, detector, reference, "Reference identity")
    check = _consistency(wf, (1080, 200), embed, batch, recognizer, detector)
    wf.add("PreviewImage", (1440, 0), title="Best image", images=(check, 0))
    wf.add("SaveImage", (1440, 360), title="Images that passed", images=(check, 1), filename_prefix="face_identity_passed")
    wf.add("PreviewImage", (1440, 720), title="Scores chart", images=(check, 6))
    wf.add("PreviewAny", (1800, 200), title="Scores", source=(check, 5))
    wf.add("PreviewAny", (1800, 480), title="Gate result (what passed, what was blocked)", source=(check, 7))
    return wf


def build_and_save_identity() -> Workflow:
    wf = Workflow("build_and_save_identity")
    recognizer, detector = _loaders(wf, 0, 0)
    embeds = []
    for i, name in enumerate(("face_identity_person_a_1.jpg", "face_identity_person_a_2.jpg", "face_identity_person_a_3.jpg")):
        photo = wf.add("LoadImage", (360, 360 * i), title=f"Photo {i + 1}", image=name, upload="image")
        embeds.append(_embed(wf, (720, 60 + 300 * i), recognizer, detector, photo))
    average = wf.add(
        "FaceIdentity_IdentityAverage",
        (1080, 300),
        identity_1=(embeds[0], 0),
        weight_1=1.0,
        min_similarity=0.2,
        identity_2=(embeds[1], 0),
        weight_2=1.0,
        identity_3=(embeds[2], 0),
        weight_3=1.0,
        weight_4=1.0,
    )
    save = wf.add(
        "FaceIdentity_SaveIdentity",
        (1440, 200),
        identity=(average, 0),
        name="example_person",
        file_format="face_identity",
        if_exists="new name",
    )
    wf.add("PreviewAny", (1800, 200), title="Saved file", source=(save, 0))
    compare = wf.add(
        "FaceIdentity_IdentitySimilarity", (1440, 500), identity_a=(average, 0), identity_b=(embeds[0], 0), threshold=0.4
    )
    wf.add("PreviewAny", (1800, 500), title="Average vs photo 1", source=(compare, 2))
    return wf


def _swapper(wf: Workflow, pos: tuple[int, int], model_name: str, title: str | None = None) -> Node:
    return wf.add(
        "FaceIdentity_LoadFaceSwapper",
        pos,
        title=title,
        model_name=model_name,
        backend="auto",
        provider="auto",
        precision="float32",
        strict=False,
    )


def _swap(
    wf: Workflow,
    pos: tuple[int, int],
    targets: Node,
    source: Node,
    swapper: Node,
    recognizer: Node,
    detector: Node,
    mask_spec: Node | None = None,
    tracking: Node | None = None,
) -> Node:
    """A Face Swap of every face at the defaults (each family's own paste), with the retention scores on (and a mask
    spec, Face Track's settings)."""
    extra: dict[str, Any] = {} if mask_spec is None else {"mask_spec": (mask_spec, 2)}
    if tracking is not None:
        extra["tracking"] = (tracking, 0)
    return wf.add(
        "FaceIdentity_FaceSwap",
        pos,
        image=(targets, 0),
        source=(source, 0),
        swapper=(swapper, 0),
        detector=(detector, 0),
        target_mode="all",
        order="large-small",
        indices="0",
        threshold=0.4,
        pixel_boost="1",
        strength=1.0,
        mask_blur=1.0,
        face_area_mask=False,
        recognizer=(recognizer, 0),
        learned_mask=False,
        measure_retention=True,
        paste="auto",
        inswapper_latent="insightface",
        **extra,
    )


def _targets(wf: Workflow, x: int, y: int) -> Node:
    target_1 = wf.add("LoadImage", (x, y), title="Target 1", image="face_identity_swap_target.jpg", upload="image")
    target_2 = wf.add("LoadImage", (x, y + 360), title="Target 2", image="face_identity_person_b.jpg", upload="image")
    return wf.add(
        "ImageBatch", (x + 360, y + 40), title="Targets (in practice: video frames)", image1=(target_1, 0), image2=(target_2, 0)
    )


def _source_identity(wf: Workflow, recognizer: Node, detector: Node) -> Node:
    """Identity Average of Face Embed of the two person_a photos."""
    embeds = []
    for i, name in enumerate(("face_identity_person_a_1.jpg", "face_identity_person_a_2.jpg")):
        photo = wf.add("LoadImage", (360, 360 * i), title=f"Source photo {i + 1}", image=name, upload="image")
        embeds.append(_embed(wf, (720, 40 + 260 * i), recognizer, detector, photo))
    return wf.add(
        "FaceIdentity_IdentityAverage",
        (1080, 120),
        title="Source identity",
        identity_1=(embeds[0], 0),
        weight_1=1.0,
        min_similarity=-1.0,
        identity_2=(embeds[1], 0),
        weight_2=1.0,
        weight_3=1.0,
        weight_4=1.0,
    )


def face_swap() -> Workflow:
    wf = Workflow("face_swap")
    recognizer, detector = _loaders(wf, 0, 0)
    swapper = _swapper(wf, (0, 520), "hyperswap_1a_256")
    source = _source_identity(wf, recognizer, detector)
    targets = _targets(wf, 360, 760)
    swap = _swap(wf, (1080, 520), targets, source, swapper, recognizer, detector)
    wf.add("SaveImage", (1440, 300), title="Swapped", images=(swap, 0), filename_prefix="face_identity_swap")
    wf.add("PreviewAny", (1440, 680), title="Faces swapped per image", source=(swap, 3))
    wf.add("PreviewAny", (1440, 860), title="Identity retention and leakage", source=(swap, 5))
    wf.add("PreviewImage", (1800, 300), title="Retention chart", images=(swap, 6))
    check = _consistency(wf, (1440, 1040), source, swap, recognizer, detector, "Does the result look like the source?")
    wf.add("PreviewImage", (1800, 760), title="Identity check chart", images=(check, 6))
    wf.add("PreviewAny", (1800, 1100), title="Identity scores", source=(check, 5))
    return wf


def video_face_swap() -> Workflow:
    """A clip through Face Swap with Face Track (tracking, smoothing, fallback), back to a video with its audio and fps."""
    wf = Workflow("video_face_swap")
    recognizer, detector = _loaders(wf, 0, 0)
    swapper = _swapper(wf, (0, 520), "hyperswap_1a_256")
    source = _source_identity(wf, recognizer, detector)
    clip = wf.add("LoadVideo", (0, 760), title="Clip", file="face_identity_clip.mp4", upload="image")
    parts = wf.add("GetVideoComponents", (360, 760), video=(clip, 0))
    track = wf.add(
        "FaceIdentity_FaceTrack",
        (720, 960),
        tracking=True,
        max_gap=8,
        smoothing=0.5,
        smoother="centred",
        fallback="inswapper_128",
        retention_floor=0.4,
        min_overlap=0.3,
    )
    swap = _swap(wf, (1080, 520), parts, source, swapper, recognizer, detector, tracking=track)
    video = wf.add("CreateVideo", (1440, 300), images=(swap, 0), audio=(parts, 1), fps=(parts, 2, 24.0))
    wf.add(
        "SaveVideo",
        (1800, 300),
        title="Swapped clip",
        video=(video, 0),
        filename_prefix="video/face_identity_swap",
        format="auto",
        codec="auto",
    )
    wf.add("PreviewImage", (1440, 620), title="Identity over time", images=(swap, 7))
    wf.add("PreviewAny", (1800, 760), title="Retention and flagged frames", source=(swap, 5))
    return wf


def _mask_model(wf: Workflow, pos: tuple[int, int], node_type: str, model_name: str) -> Node:
    return wf.add(node_type, pos, model_name=model_name, backend="auto", provider="auto", precision="float32")


def _detect(wf: Workflow, pos: tuple[int, int], image: Node, detector: Node, title: str | None = None) -> Node:
    return wf.add(
        "FaceIdentity_FaceDetect",
        pos,
        title=title,
        image=(image, 0),
        detector=(detector, 0),
        order="large-small",
        indices="",
        max_faces=0,
        min_size=0,
    )


def _face_mask(
    wf: Workflow,
    pos: tuple[int, int],
    image: Node,
    faces: Node,
    regions: str,
    occluder: Node | None = None,
    parser: Node | None = None,
    box: bool = True,
) -> Node:
    models = {name: (node, 0) for name, node in (("occluder", occluder), ("parser", parser)) if node is not None}
    return wf.add(
        "FaceIdentity_FaceMask",
        pos,
        image=(image, 0),
        faces=(faces, 0),
        box=box,
        occlusion=occluder is not None,
        region=parser is not None,
        area=False,
        blur=0.3,
        padding_top=0,
        padding_right=0,
        padding_bottom=0,
        padding_left=0,
        regions=regions,
        areas="upper-face, lower-face, mouth",
        **models,
    )


def face_swap_masked_restored() -> Workflow:
    """HyperSwap through occlusion + region masks (FaceFusion's order), GFPGAN on the swapped faces, then the identity check."""
    wf = Workflow("face_swap_masked_restored")
    recognizer, detector = _loaders(wf, 0, 0)
    swapper = _swapper(wf, (0, 520), "hyperswap_1a_256")
    source = _source_identity(wf, recognizer, detector)
    targets = _targets(wf, 360, 760)
    occluder = _mask_model(wf, (0, 800), "FaceIdentity_LoadFaceOccluder", "xseg_1")
    parser = _mask_model(wf, (0, 1040), "FaceIdentity_LoadFaceParser", "bisenet_resnet_34")
    faces = _detect(wf, (720, 1040), targets, detector, "Target faces")
    regions = "skin, brows, eyes, glasses, nose, mouth, lips"
    mask = _face_mask(wf, (1080, 900), targets, faces, regions, occluder, parser, box=False)
    wf.add("PreviewImage", (1440, 1100), title="Mask on the targets", images=(mask, 1))
    swap = _swap(wf, (1440, 520), targets, source, swapper, recognizer, detector, mask)
    wf.add("PreviewAny", (1800, 1100), title="Retention and leakage after the swap", source=(swap, 5))
    swapped_faces = _detect(wf, (1800, 520), swap, detector, "Swapped faces")
    restorer = _mask_model(wf, (1800, 200), "FaceIdentity_LoadFaceRestorer", "gfpgan_1.4")
    restored = wf.add(
        "FaceIdentity_FaceRestore",
        (2160, 520),
        image=(swap, 0),
        faces=(swapped_faces, 0),
        restorer=(restorer, 0),
        blend=0.8,
        fidelity=0.5,
        mask_blur=0.3,
        recognizer=(recognizer, 0),
        source=(source, 0),
    )
    wf.add(
        "SaveImage", (2520, 120), title="Swapped, masked, restored", images=(restored, 0), filename_prefix="face_identity_masked"
    )
    wf.add("PreviewAny", (2520, 520), title="Restorer drift report", source=(restored, 4))
    check = _consistency(wf, (2520, 760), source, restored, recognizer, detector, "Does the final image look like the source?")
    wf.add("PreviewImage", (2880, 520), title="Identity check chart", images=(check, 6))
    wf.add("PreviewAny", (2880, 900), title="Identity scores", source=(check, 5))
    return wf


INPAINT_NOTE = (
    "Face Mask's MASK is an ordinary ComfyUI mask (one per image, 0..1). Here it only composites a blurred copy inside "
    "the faces so the example runs without a checkpoint. In a real pipeline feed it to an inpainting node: "
    "VAE Encode (for Inpainting) (VAEEncodeForInpaint) or InpaintModelConditioning, with the same image."
)


def face_mask() -> Workflow:
    """Masks as inpainting input: Face Detect -> Face Mask (box + region) -> a MASK any node takes."""
    wf = Workflow("face_mask")
    detector = wf.add(
        "FaceIdentity_LoadFaceDetector",
        (0, 0),
        model_name="retinaface_10g",
        det_size=640,
        score_threshold=0.5,
        nms_threshold=0.4,
        provider="auto",
        strict=False,
    )
    parser = _mask_model(wf, (0, 260), "FaceIdentity_LoadFaceParser", "bisenet_resnet_34")
    image = wf.add("LoadImage", (0, 480), title="Image", image="face_identity_swap_target.jpg", upload="image")
    faces = _detect(wf, (360, 0), image, detector)
    mask = _face_mask(wf, (720, 200), image, faces, "skin, brows, eyes, nose, mouth, lips", parser=parser)
    blurred = wf.add("ImageBlur", (720, 760), image=(image, 0), blur_radius=15, sigma=8.0)
    composite = wf.add(
        "ImageCompositeMasked",
        (1080, 560),
        title="Blurred inside the mask (in practice: inpainting)",
        destination=(image, 0),
        source=(blurred, 0),
        x=0,
        y=0,
        resize_source=False,
        mask=(mask, 0),
    )
    wf.add("PreviewImage", (1440, 560), title="Result", images=(composite, 0))
    wf.add("MaskPreview", (1080, 0), title="MASK (to an inpainting node)", mask=(mask, 0))
    wf.add("PreviewImage", (1440, 0), title="Mask preview", images=(mask, 1))
    wf.add("PreviewAny", (1080, 320), title="Mask settings", source=(mask, 3))
    wf.note((1080, 920), INPAINT_NOTE)
    return wf


COMPARED_SWAPPERS = ("hyperswap_1a_256", "inswapper_128", "simswap_256")
"""The swappers side by side in swapper_comparison: FaceFusion's default, insightface's classic, one crossface-fed family."""


def swapper_comparison() -> Workflow:
    wf = Workflow("swapper_comparison")
    recognizer, detector = _loaders(wf, 0, 0)
    photo = wf.add("LoadImage", (360, 0), title="Source photo", image="face_identity_person_a_1.jpg", upload="image")
    source = _embed(wf, (720, 40), recognizer, detector, photo, "Source identity")
    targets = _targets(wf, 360, 400)
    for row, name in enumerate(COMPARED_SWAPPERS):
        y = 560 * row
        swapper = _swapper(wf, (1080, y), name, f"Swapper {row + 1}: {name}")
        swap = _swap(wf, (1440, y), targets, source, swapper, recognizer, detector)
        wf.add("SaveImage", (1800, y), title=f"{name}: swapped", images=(swap, 0), filename_prefix=f"face_identity_{name}")
        wf.add("PreviewImage", (2160, y), title=f"{name}: retention chart", images=(swap, 6))
        wf.add("PreviewAny", (2160, y + 300), title=f"{name}: retention and leakage", source=(swap, 5))
    return wf


def ipadapter_faceid_identity() -> Workflow:
    """SD1.5 + IP-Adapter FaceID Plus v2 (ComfyUI_IPAdapter_plus) conditioned on a saved identity, no insightface package.

    Needs ComfyUI_IPAdapter_plus and its FaceID files: ip-adapter-faceid-plusv2_sd15.bin (models/ipadapter),
    its LoRA (models/loras), CLIP-ViT-H-14-laion2B-s32B-b79K (models/clip_vision), an SD1.5 checkpoint.
    """
    wf = Workflow("ipadapter_faceid_identity")
    recognizer, detector = _loaders(wf, 0, 0)
    identity = wf.add(
        "FaceIdentity_LoadIdentity",
        (0, 520),
        title="Saved identity",
        identity_file="identities/example_person.safetensors",
    )
    analysis = wf.add(
        "FaceIdentity_InsightFaceAnalysis",
        (360, 260),
        detector=(detector, 0),
        recognizer=(recognizer, 0),
        identity=(identity, 0),
    )
    photo = wf.add(
        "LoadImage", (360, 520), title="Face photo (FaceID Plus crop)", image="face_identity_person_a_1.jpg", upload="image"
    )
    checkpoint = wf.add("CheckpointLoaderSimple", (0, 760), ckpt_name="v1-5-pruned-emaonly.safetensors")
    lora = wf.add(
        "LoraLoaderModelOnly",
        (360, 900),
        title="FaceID Plus v2 LoRA",
        model=(checkpoint, 0),
        lora_name="ip-adapter-faceid-plusv2_sd15_lora.safetensors",
        strength_model=0.6,
    )
    ipadapter = wf.add("IPAdapterModelLoader", (360, 1080), ipadapter_file="ip-adapter-faceid-plusv2_sd15.bin")
    clip_vision = wf.add("CLIPVisionLoader", (360, 1200), clip_name="CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")
    faceid = wf.add(
        "IPAdapterFaceID",
        (720, 400),
        model=(lora, 0),
        ipadapter=(ipadapter, 0),
        image=(photo, 0),
        clip_vision=(clip_vision, 0),
        insightface=(analysis, 0),
        weight=0.85,
        weight_faceidv2=1.0,
        weight_type="linear",
        combine_embeds="concat",
        start_at=0.0,
        end_at=1.0,
        embeds_scaling="V only",
    )
    positive = wf.add(
        "CLIPTextEncode",
        (720, 800),
        title="Positive",
        text="portrait photo of a person in a garden, natural light",
        clip=(checkpoint, 1),
    )
    negative = wf.add(
        "CLIPTextEncode", (720, 1040), title="Negative", text="blurry, lowres, deformed, watermark", clip=(checkpoint, 1)
    )
    latent = wf.add("EmptyLatentImage", (720, 1260), width=512, height=768, batch_size=1)
    sampler = wf.add(
        "KSampler",
        (1080, 400),
        model=(faceid, 0),
        seed=0,
        control_after_generate="fixed",
        steps=30,
        cfg=6.0,
        sampler_name="dpmpp_2m",
        scheduler="karras",
        positive=(positive, 0),
        negative=(negative, 0),
        latent_image=(latent, 0),
        denoise=1.0,
    )
    decoded = wf.add("VAEDecode", (1440, 400), samples=(sampler, 0), vae=(checkpoint, 2))
    wf.add("SaveImage", (1800, 400), title="Generated", images=(decoded, 0), filename_prefix="face_identity_faceid")
    wf.add("PreviewImage", (1080, 0), title="Face crop IPAdapter used", images=(faceid, 1))
    wf.add("PreviewAny", (720, 0), title="Analyser", source=(analysis, 1))
    return wf


SDXL_CHECKPOINT = "sd_xl_base_1.0.safetensors"
"""The SDXL checkpoint the InstantID and PuLID examples name (any SDXL checkpoint does; pick yours in the node)."""
NO_QUEUE = (
    "{what} It cannot be queued on a machine without these weights (this pack's checks load it in ComfyUI's "
    "frontend and never queue it). No insightface package is needed: face-identity's prestartup_script.py registers "
    "an insightface-compatible module, so {loader} builds antelopev2's FaceAnalysis on face-identity's code. "
    "antelopev2 (insightface, non-commercial) goes in models/insightface/models/antelopev2/: glintr100.onnx and "
    "scrfd_10g_bnkps.onnx; if that folder is missing, glintr100.onnx is downloaded and checked against its SHA-256, "
    "with retinaface_10g standing in for the detector. Face Embed + Identity Consistency (arcface_w600k_r50, "
    "threshold 0.4, face-identity's own models, downloaded on first use) then score every generated image against "
    "the reference photo: an identity check by a recognizer other than the one the generator was conditioned on."
)


def _sdxl_prompts(wf: Workflow, x: int, y: int, positive_text: str) -> tuple[Node, Node, Node, Node]:
    """Checkpoint, positive and negative CLIP Text Encode, Empty Latent Image (2 images at 1016 x 1016)."""
    checkpoint = wf.add("CheckpointLoaderSimple", (x, y), ckpt_name=SDXL_CHECKPOINT)
    positive = wf.add("CLIPTextEncode", (x + 360, y - 460), title="Positive", text=positive_text, clip=(checkpoint, 1))
    negative = wf.add(
        "CLIPTextEncode",
        (x + 360, y - 220),
        title="Negative",
        text="blurry, lowres, deformed, watermark, text",
        clip=(checkpoint, 1),
    )
    latent = wf.add("EmptyLatentImage", (x + 360, y + 20), width=1016, height=1016, batch_size=2)
    return checkpoint, positive, negative, latent


def _sample_and_check(
    wf: Workflow,
    x: int,
    model: tuple[Node, int],
    conditioning: tuple[tuple[Node, int], tuple[Node, int]],
    latent: Node,
    checkpoint: Node,
    reference: Node,
    recognizer: Node,
    detector: Node,
    prefix: str,
) -> Node:
    """KSampler -> VAE Decode -> Save Image, then Identity Consistency of the generated images against the reference."""
    sampler = wf.add(
        "KSampler",
        (x, 0),
        model=model,
        seed=0,
        control_after_generate="fixed",
        steps=30,
        cfg=4.5,
        sampler_name="dpmpp_2m",
        scheduler="karras",
        positive=conditioning[0],
        negative=conditioning[1],
        latent_image=(latent, 0),
        denoise=1.0,
    )
    decoded = wf.add("VAEDecode", (x + 360, 0), samples=(sampler, 0), vae=(checkpoint, 2))
    wf.add("SaveImage", (x + 360, 160), title="Generated", images=(decoded, 0), filename_prefix=prefix)
    embed = _embed(wf, (x - 360, 560), recognizer, detector, reference, "Reference identity")
    check = _consistency(wf, (x + 720, 0), embed, decoded, recognizer, detector, "Does the result look like the reference?")
    wf.add("PreviewImage", (x + 1080, 0), title="Identity check chart", images=(check, 6))
    wf.add("PreviewAny", (x + 1080, 360), title="Identity scores", source=(check, 5))
    wf.add("PreviewAny", (x + 1080, 620), title="Gate result (what passed, what was blocked)", source=(check, 7))
    return check


def instantid_identity_check() -> Workflow:
    """SDXL + InstantID (cubiq/ComfyUI_InstantID) on our insightface-compatible module, then our identity check."""
    wf = Workflow("instantid_identity_check")
    recognizer, detector = _loaders(wf, 0, 0)
    reference = wf.add("LoadImage", (0, 520), title="Reference photo", image="face_identity_person_a_1.jpg", upload="image")
    analysis = wf.add("InstantIDFaceAnalysis", (360, 0), provider="CPU")
    instantid = wf.add("InstantIDModelLoader", (360, 140), instantid_file="ip-adapter.bin")
    control_net = wf.add("ControlNetLoader", (360, 280), control_net_name="instantid/diffusion_pytorch_model.safetensors")
    checkpoint, positive, negative, latent = _sdxl_prompts(
        wf, 360, 460, "portrait photo of a person in a garden, natural light, detailed skin"
    )
    applied = wf.add(
        "ApplyInstantID",
        (1080, 0),
        instantid=(instantid, 0),
        insightface=(analysis, 0),
        control_net=(control_net, 0),
        image=(reference, 0),
        model=(checkpoint, 0),
        positive=(positive, 0),
        negative=(negative, 0),
        weight=0.8,
        start_at=0.0,
        end_at=1.0,
    )
    _sample_and_check(
        wf,
        1440,
        (applied, 0),
        ((applied, 1), (applied, 2)),
        latent,
        checkpoint,
        reference,
        recognizer,
        detector,
        "face_identity_instantid",
    )
    wf.note(
        (0, 880),
        NO_QUEUE.format(
            what="Needs ComfyUI_InstantID and its weights: an SDXL checkpoint in models/checkpoints (here "
            f"{SDXL_CHECKPOINT}); ip-adapter.bin (InstantX/InstantID) in models/instantid; the InstantID ControlNet "
            "(InstantX/InstantID ControlNetModel/diffusion_pytorch_model.safetensors) as "
            "models/controlnet/instantid/diffusion_pytorch_model.safetensors; antelopev2 (below).",
            loader="InstantID Face Analysis",
        ),
    )
    return wf


def pulid_identity_check() -> Workflow:
    """SDXL + PuLID (cubiq/PuLID_ComfyUI) on our insightface-compatible module, then our identity check."""
    wf = Workflow("pulid_identity_check")
    recognizer, detector = _loaders(wf, 0, 0)
    reference = wf.add("LoadImage", (0, 520), title="Reference photo", image="face_identity_person_a_1.jpg", upload="image")
    pulid = wf.add("PulidModelLoader", (360, 0), pulid_file="ip-adapter_pulid_sdxl_fp16.safetensors")
    analysis = wf.add("PulidInsightFaceLoader", (360, 140), provider="CPU")
    eva_clip = wf.add("PulidEvaClipLoader", (360, 280))
    checkpoint, positive, negative, latent = _sdxl_prompts(
        wf, 360, 460, "closeup portrait photo of a person, cinematic light, highly detailed"
    )
    applied = wf.add(
        "ApplyPulid",
        (1080, 0),
        model=(checkpoint, 0),
        pulid=(pulid, 0),
        eva_clip=(eva_clip, 0),
        face_analysis=(analysis, 0),
        image=(reference, 0),
        method="fidelity",
        weight=0.8,
        start_at=0.0,
        end_at=1.0,
    )
    _sample_and_check(
        wf,
        1440,
        (applied, 0),
        ((positive, 0), (negative, 0)),
        latent,
        checkpoint,
        reference,
        recognizer,
        detector,
        "face_identity_pulid",
    )
    wf.note(
        (0, 880),
        NO_QUEUE.format(
            what="Needs PuLID_ComfyUI and its weights: an SDXL checkpoint in models/checkpoints (here "
            f"{SDXL_CHECKPOINT}); ip-adapter_pulid_sdxl_fp16.safetensors (huchenlei/ipadapter_pulid) in "
            "models/pulid; EVA02-CLIP-L-14-336, which PuLID downloads into the Hugging Face cache on first use; "
            "facexlib's detection and parsing weights, which facexlib downloads on first use; antelopev2 (below).",
            loader="Load InsightFace (PuLID)",
        ),
    )
    return wf


WORKFLOWS = [
    compare_two_faces,
    best_of_n_identity_check,
    build_and_save_identity,
    face_swap,
    swapper_comparison,
    ipadapter_faceid_identity,
    face_swap_masked_restored,
    face_mask,
    instantid_identity_check,
    pulid_identity_check,
    video_face_swap,
]


def display_name(node_type: str) -> str:
    names = load_pack().NODE_DISPLAY_NAME_MAPPINGS
    core = {
        "LoadImage": "Load Image",
        "ImageBatch": "Batch Images",
        "PreviewImage": "Preview Image",
        "SaveImage": "Save Image",
        "PreviewAny": "Preview Any",
        "ImageBlur": "Image Blur",
        "ImageCompositeMasked": "ImageCompositeMasked",
        "MaskPreview": "MaskPreview",
        "LoadVideo": "Load Video",
        "GetVideoComponents": "Get Video Components",
        "CreateVideo": "Create Video",
        "SaveVideo": "Save Video",
        "Note": "Note",
        "CheckpointLoaderSimple": "Load Checkpoint",
        "LoraLoaderModelOnly": "LoRA (model only)",
        "CLIPVisionLoader": "Load CLIP Vision",
        "CLIPTextEncode": "CLIP Text Encode",
        "EmptyLatentImage": "Empty Latent Image",
        "KSampler": "KSampler",
        "VAEDecode": "VAE Decode",
        "IPAdapterModelLoader": "IPAdapter Model Loader",
        "IPAdapterFaceID": "IPAdapter FaceID",
        "ControlNetLoader": "Load ControlNet Model",
        "InstantIDModelLoader": "Load InstantID Model",
        "InstantIDFaceAnalysis": "InstantID Face Analysis",
        "ApplyInstantID": "Apply InstantID",
        "PulidModelLoader": "Load PuLID Model",
        "PulidInsightFaceLoader": "Load InsightFace (PuLID)",
        "PulidEvaClipLoader": "Load Eva Clip (PuLID)",
        "ApplyPulid": "Apply PuLID",
    }
    return names.get(node_type) or core.get(node_type, node_type)


def thumbnail(wf: Workflow, width: int = 960, height: int = 540) -> Any:
    """A diagram of the graph (boxes at the nodes' canvas positions, links as lines): the template's thumbnail."""
    import cv2
    import numpy as np

    ui = wf.ui()
    boxes = {n["id"]: (n["pos"][0], n["pos"][1], n["size"][0], min(n["size"][1], 200)) for n in ui["nodes"]}
    left = min(x for x, _, _, _ in boxes.values())
    top = min(y for _, y, _, _ in boxes.values())
    right = max(x + w for x, _, w, _ in boxes.values())
    bottom = max(y + h for _, y, _, h in boxes.values())
    scale = min((width - 40) / (right - left), (height - 70) / (bottom - top))

    def to_canvas(x: float, y: float) -> tuple[int, int]:
        return int(20 + (x - left) * scale), int(50 + (y - top) * scale)

    canvas = np.full((height, width, 3), (38, 38, 42), dtype=np.uint8)
    cv2.putText(canvas, wf.name.replace("_", " "), (20, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (235, 235, 235), 2, cv2.LINE_AA)
    for _, origin, _, target, _, _ in ui["links"]:
        ox, oy, ow, oh = boxes[origin]
        tx, ty, _, th = boxes[target]
        start, end = to_canvas(ox + ow, oy + oh / 2), to_canvas(tx, ty + th / 2)
        cv2.line(canvas, start, end, (150, 150, 160), 2, cv2.LINE_AA)
    for node in ui["nodes"]:
        x, y, w, h = boxes[node["id"]]
        ours = node["type"].startswith("FaceIdentity_")
        colour = (70, 120, 200) if "Load" in node["type"] and ours else ((60, 150, 90) if ours else (90, 90, 96))
        p1, p2 = to_canvas(x, y), to_canvas(x + w, y + h)
        cv2.rectangle(canvas, p1, p2, colour, -1)
        cv2.rectangle(canvas, p1, p2, (220, 220, 220), 1)
        label = node.get("title") or display_name(node["type"])
        font = 0.55
        while font > 0.3 and cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, 1)[0][0] > p2[0] - p1[0] - 8:
            font -= 0.025
        cv2.putText(canvas, label, (p1[0] + 4, p1[1] + 18), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def other_pack_nodes(wf: Workflow) -> set[str]:
    """Node types of ``wf`` from other custom node packs (IPAdapter_plus, InstantID, PuLID)."""
    others: set[str] = set()
    for name in OTHER_PACK_SCHEMAS:
        others.update(json.loads((REPO / "tests" / "data" / name).read_text())["nodes"])
    return {node.type for node in wf.nodes if node.type in others}


def needs_other_packs(wf: Workflow) -> bool:
    return bool(other_pack_nodes(wf))


def main() -> int:
    out_ui, out_api = REPO / "workflows", REPO / "workflows" / "api"
    out_api.mkdir(parents=True, exist_ok=True)
    for builder in WORKFLOWS:
        wf = builder()
        (out_ui / f"{wf.name}.json").write_text(json.dumps(wf.ui(), indent=1) + "\n")
        if needs_other_packs(wf):  # no API twin: it cannot run (nor be tested) without that pack and its models
            print(f"wrote workflows/{wf.name}.json (needs {', '.join(sorted(other_pack_nodes(wf)))}; no API twin)")
        else:
            (out_api / f"{wf.name}.json").write_text(json.dumps(wf.api(), indent=1) + "\n")
        import cv2

        cv2.imwrite(str(out_ui / f"{wf.name}.jpg"), thumbnail(wf)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        if not needs_other_packs(wf):
            print(f"wrote workflows/{wf.name}.json and workflows/api/{wf.name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
