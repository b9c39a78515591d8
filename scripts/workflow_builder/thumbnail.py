"""Template thumbnails: a diagram of a workflow's graph, its nodes labelled by their display names."""

from __future__ import annotations

from typing import Any

from .graph import Workflow
from .schemas import load_pack


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
