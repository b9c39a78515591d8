"""Write the example workflows in both formats from one description: workflows/*.json (UI) and workflows/api/*.json.

Run from the repository root after changing a node's inputs: ``python scripts/build_workflows.py``.
Widget order comes from the node classes themselves (required, then optional inputs, as ComfyUI's
frontend orders ``widgets_values``), so the two formats cannot drift apart. The workflows themselves are
described in scripts/workflow_builder/.
"""

from __future__ import annotations

import json

from workflow_builder.generation import instantid_identity_check, ipadapter_faceid_identity, pulid_identity_check
from workflow_builder.graph import Workflow
from workflow_builder.identity import best_of_n_identity_check, build_and_save_identity, compare_two_faces
from workflow_builder.masks import face_mask, face_swap_masked_restored
from workflow_builder.schemas import REPO, other_pack_node_types
from workflow_builder.swap import face_swap, swapper_comparison, video_face_swap
from workflow_builder.thumbnail import thumbnail

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


def other_pack_nodes(wf: Workflow) -> set[str]:
    """Node types of ``wf`` from other custom node packs (IPAdapter_plus, InstantID, PuLID)."""
    others = other_pack_node_types()
    return {node.type for node in wf.nodes if node.type in others}


def main() -> int:
    import cv2

    out_ui, out_api = REPO / "workflows", REPO / "workflows" / "api"
    out_api.mkdir(parents=True, exist_ok=True)
    for builder in WORKFLOWS:
        wf = builder()
        (out_ui / f"{wf.name}.json").write_text(json.dumps(wf.ui(), indent=1) + "\n")
        others = other_pack_nodes(wf)
        if others:  # no API twin: it cannot run (nor be tested) without that pack and its models
            print(f"wrote workflows/{wf.name}.json (needs {', '.join(sorted(others))}; no API twin)")
        else:
            (out_api / f"{wf.name}.json").write_text(json.dumps(wf.api(), indent=1) + "\n")
        cv2.imwrite(str(out_ui / f"{wf.name}.jpg"), thumbnail(wf)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        if not others:
            print(f"wrote workflows/{wf.name}.json and workflows/api/{wf.name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
