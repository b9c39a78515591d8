"""The README's node reference, generated from the node classes so it cannot drift.

python scripts/node_reference.py          # print it
python scripts/node_reference.py --write  # replace the part of README.md between the markers
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_workflows import REPO, load_pack  # noqa: E402

BEGIN, END = "<!-- node-reference:begin -->", "<!-- node-reference:end -->"


def _row(direction: str, name: str, entry: Any) -> str:
    kind, options = entry[0], entry[1] if len(entry) > 1 else {}
    type_name = "choice" if isinstance(kind, list) else str(kind)
    default = f" Default `{options['default']}`." if "default" in options else ""
    return f"| {direction} | `{name}` | {type_name} | {options.get('tooltip', '')}{default} |"


def node_reference() -> str:
    pack = load_pack()
    lines = []
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        lines += [f"### {pack.NODE_DISPLAY_NAME_MAPPINGS[node_id]} (`{node_id}`)", "", cls.DESCRIPTION, ""]
        lines += ["| | name | type | meaning |", "|---|---|---|---|"]
        spec = cls.INPUT_TYPES()
        lines += [_row("in", name, entry) for name, entry in spec.get("required", {}).items()]
        lines += [_row("in, optional", name, entry) for name, entry in spec.get("optional", {}).items()]
        outputs = zip(cls.RETURN_NAMES, cls.RETURN_TYPES, cls.OUTPUT_TOOLTIPS, strict=True)
        lines += [f"| out | `{name}` | {kind} | {tip} |" for name, kind, tip in outputs]
        lines.append("")
    return "\n".join(lines)


def readme_with_reference(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + node_reference() + "\n" + readme[end:]


if __name__ == "__main__":
    if "--write" in sys.argv:
        path = REPO / "README.md"
        path.write_text(readme_with_reference(path.read_text()))
    else:
        print(node_reference())  # noqa: T201
