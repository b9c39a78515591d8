"""The node table in README.md and the full node reference docs/nodes.md, generated from the node classes.

python scripts/node_reference.py          # print the full reference
python scripts/node_reference.py --write  # rewrite docs/nodes.md and README.md's table (between its markers)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workflow_builder.schemas import REPO, load_pack  # noqa: E402

BEGIN, END = "<!-- node-table:begin -->", "<!-- node-table:end -->"
NODES_DOC = REPO / "docs" / "nodes.md"

NODES_DOC_HEADER = """\
# Node reference

Generated from the node classes by `python scripts/node_reference.py --write`; do not edit by hand.

All nodes are under `face_identity/` in the Add Node menu. Ids are prefixed `FaceIdentity_` so they
never clash with other packs (ComfyUI_FaceAnalysis already has `FaceAlign`). Sockets of our own
types (`FACEID_RECOGNIZER`, `FACEID_DETECTOR`, `FACEID_SWAPPER`, `FACEID_FACES`, `FACEID_IDENTITY`)
carry library objects, so other packs' objects cannot be plugged in by mistake. Every node works on
whole IMAGE batches (`[B,H,W,C]`, RGB, grey and RGBA accepted), shows a progress bar on long
batches and can be cancelled.

- `FACEID_FACES` holds, per image, the list of faces in the chosen order; an image with no face
  keeps an empty list.
- `FACEID_IDENTITY` holds one L2-normalised embedding per face (with its image and face index, box
  and landmarks) and the embedding space it belongs to.
"""


def _row(direction: str, name: str, entry: Any) -> str:
    kind, options = entry[0], entry[1] if len(entry) > 1 else {}
    type_name = "choice" if isinstance(kind, list) else str(kind)
    default = f" Default `{options['default']}`." if "default" in options else ""
    return f"| {direction} | `{name}` | {type_name} | {options.get('tooltip', '')}{default} |"


def heading(display_name: str, node_id: str) -> str:
    return f"{display_name} (`{node_id}`)"


def anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than ``-`` and ``_`` dropped, spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def node_reference() -> str:
    """The full reference: per node its description and a table of inputs and outputs (Markdown)."""
    pack = load_pack()
    lines = []
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        lines += [f"## {heading(pack.NODE_DISPLAY_NAME_MAPPINGS[node_id], node_id)}", "", cls.DESCRIPTION, ""]
        lines += ["| | name | type | meaning |", "|---|---|---|---|"]
        spec = cls.INPUT_TYPES()
        lines += [_row("in", name, entry) for name, entry in spec.get("required", {}).items()]
        lines += [_row("in, optional", name, entry) for name, entry in spec.get("optional", {}).items()]
        outputs = zip(cls.RETURN_NAMES, cls.RETURN_TYPES, cls.OUTPUT_TOOLTIPS, strict=True)
        lines += [f"| out | `{name}` | {kind} | {tip} |" for name, kind, tip in outputs]
        lines.append("")
    return "\n".join(lines)


def first_sentence(text: str) -> str:
    """The description's first sentence (a sentence ends at ``.`` followed by a capital letter)."""
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip(), maxsplit=1)[0]


SUMMARY_CHARS = 80
"""Longest summary in README's table; docs/nodes.md has every description whole."""


def summary(text: str) -> str:
    """The first sentence without its parentheses, at most ``SUMMARY_CHARS`` (cut at a word, marked with an ellipsis)."""
    sentence = re.sub(r"\s*\([^()]*\)", "", first_sentence(text)).rstrip(".")
    if len(sentence) > SUMMARY_CHARS:
        sentence = sentence[: SUMMARY_CHARS + 1].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return sentence


def node_table() -> str:
    """README's table: one row per node, linked to its section of docs/nodes.md."""
    pack = load_pack()
    lines = ["| node | does |", "|---|---|"]
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        name = pack.NODE_DISPLAY_NAME_MAPPINGS[node_id]
        lines.append(f"| [{name}](docs/nodes.md#{anchor(heading(name, node_id))}) | {summary(cls.DESCRIPTION)} |")
    return "\n".join(lines)


def nodes_doc() -> str:
    return NODES_DOC_HEADER + "\n" + node_reference()


def readme_with_table(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + node_table() + "\n" + readme[end:]


if __name__ == "__main__":
    if "--write" in sys.argv:
        NODES_DOC.write_text(nodes_doc())
        path = REPO / "README.md"
        path.write_text(readme_with_table(path.read_text()))
    else:
        print(node_reference())  # noqa: T201
