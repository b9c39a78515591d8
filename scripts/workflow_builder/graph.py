"""One workflow description, written as both formats: the UI workflow (workflows/*.json) and its API twin.

Nodes are added in the order they get their ids; values are checked against the node's schema (schemas.py) as
they are added, so a renamed or missing widget fails the build instead of writing a workflow that cannot load.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .schemas import AUTO_WIDGETS, is_optional, node_schema


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
    sockets = [(name, kind) for name, kind in schema["inputs"] if name in node.links or not is_optional(node.type, name)]
    widgets = [(name, kind) for name, kind in schema.get("widget_types", {}).items() if name in node.links]
    return sockets + widgets
