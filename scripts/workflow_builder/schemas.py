"""Node schemas for the workflow builder: inputs (linkable sockets), widget names in frontend order, outputs.

Ours come from the node classes themselves (required, then optional inputs, as ComfyUI's frontend orders
``widgets_values``), ComfyUI's core nodes from CORE_NODES, other nodes from the /object_info transcriptions under
tests/data/.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
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


def _read_schemas(names: tuple[str, ...]) -> dict[str, Any]:
    """The ``nodes`` of the named tests/data/ transcriptions, merged: node type -> /object_info entry."""
    nodes: dict[str, Any] = {}
    for name in names:
        nodes.update(json.loads((REPO / "tests" / "data" / name).read_text())["nodes"])
    return nodes


def transcribed_schemas() -> dict[str, Any]:
    return _read_schemas(TRANSCRIBED_SCHEMAS)


def _sockets_and_widgets(input_types: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """Sockets (name, type) and widget names, required then optional, of an ``INPUT_TYPES()``-style dict.

    A widget with ``control_after_generate`` (a seed) is followed by that control's value, as the frontend saves it.
    """
    inputs, widgets = [], []
    for section in ("required", "optional"):
        for name, entry in input_types.get(section, {}).items():
            kind = entry[0]
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                widgets.append(name)
                if len(entry) > 1 and entry[1].get("control_after_generate"):
                    widgets.append("control_after_generate")
            else:
                inputs.append((name, kind))
    return inputs, widgets


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
        info = transcribed[node_type]
        inputs, widgets = _sockets_and_widgets(info["input"])
        return {"inputs": inputs, "widgets": widgets, "outputs": list(zip(info["output_name"], info["output"]))}
    node_class = load_pack().NODE_CLASS_MAPPINGS[node_type]
    inputs, widgets = _sockets_and_widgets(node_class.INPUT_TYPES())
    names = node_class.RETURN_NAMES or node_class.RETURN_TYPES
    return {"inputs": inputs, "widgets": widgets, "outputs": list(zip(names, node_class.RETURN_TYPES))}


def is_optional(node_type: str, name: str) -> bool:
    """Whether input ``name`` of ``node_type`` is optional (core nodes: none of the ones used)."""
    if node_type in CORE_NODES:
        return False
    transcribed = transcribed_schemas()
    if node_type in transcribed:
        return name in transcribed[node_type]["input"].get("optional", {})
    return name in load_pack().NODE_CLASS_MAPPINGS[node_type].INPUT_TYPES().get("optional", {})


def other_pack_node_types() -> set[str]:
    """Node types of other custom node packs (IPAdapter_plus, InstantID, PuLID)."""
    return set(_read_schemas(OTHER_PACK_SCHEMAS))
