"""Face mask nodes: load landmark/occluder/parser models, and Face Mask (FaceFusion-style masks as a ComfyUI MASK).

The loaders live here for now (the coordinator may move them to ``loaders.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..face_identity.face_models import FaceModel, load_face_model
from ..face_identity.masks import AREAS, DEFAULT_BLUR, REGIONS, MaskSpec, face_masks
from ..face_identity.model_facts import ModelKind
from ..face_identity.types import FaceBatch
from . import sockets
from .comfy import gpu_index, model_folders, torch_device
from .faces import check_faces_match
from .loaders import BACKENDS, PRECISIONS, model_choices, provider_input, provider_note
from .tensors import image_size, image_to_float_list, to_image, to_mask

LANDMARKER = "FACEID_LANDMARKER"
"""face_identity.face_models.FaceModel of a 68-point landmarker kind"""
OCCLUDER = "FACEID_OCCLUDER"
"""tuple of face_identity.face_models.FaceModel (XSeg occluders; several are combined by minimum)"""
PARSER = "FACEID_PARSER"
"""face_identity.face_models.FaceModel (BiSeNet face parser)"""
MASK_SPEC = "FACEID_MASK_SPEC"
"""face_identity.masks.MaskSpec: which masks, with their models and options"""
MASK_CATEGORY = f"{sockets.CATEGORY}/masks"
LOADER_CATEGORY = f"{sockets.CATEGORY}/loaders"
ALL_OCCLUDERS = "many (xseg_1 + xseg_2 + xseg_3)"
PREVIEW_COLOUR = np.array([1.0, 0.15, 0.1], np.float32)


def load_kind(name: str, kinds: ModelKind | tuple[ModelKind, ...], backend: str, provider: str, precision: str) -> FaceModel:
    """One model of ``model_facts`` from the model folders (or downloaded), as the loaders below configure it."""
    return load_face_model(
        name,
        kinds,
        model_folders(),
        providers=provider,
        backend=backend,
        device=torch_device(),
        dtype=precision,
        device_id=gpu_index(),
    )


def loader_inputs(role: str, tooltip: str, extra: list[str] | None = None) -> dict[str, Any]:
    choices = (extra or []) + model_choices(role)  # type: ignore[arg-type]
    return {
        "required": {
            "model_name": (choices, {"default": choices[0], "tooltip": tooltip}),
            "backend": (
                list(BACKENDS),
                {"default": "onnxruntime", "tooltip": "torch runs the graph converted by the pack when it matches onnxruntime."},
            ),
            "provider": provider_input(),
            "precision": (list(PRECISIONS), {"default": "float32", "tooltip": "Torch backend precision."}),
        }
    }


def describe(model: FaceModel) -> str:
    note = provider_note(model.model) if model.model is not None else ""
    return f"{model.name} ({model.facts.kind}, {model.facts.licence}) | backend {model.backend.describe()} | {note}"


class LoadFaceLandmarker:
    DESCRIPTION = (
        "Loads a 68-point landmarker for the area masks: fan_68_5 (5 detector points -> 68, tiny), 2dfan4 (68 points from "
        "the face), or landmarks_68_pfld.onnx placed in models/face_identity (PFLD, MIT)."
    )
    CATEGORY = LOADER_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (LANDMARKER, "STRING")
    RETURN_NAMES = ("landmarker", "info")
    OUTPUT_TOOLTIPS = ("The landmarker, for Face Mask (area masks).", "Model, licence, backend and providers.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return loader_inputs("landmarker", "fan_68_5 / 2dfan4 (downloaded on demand) or a local landmarker file.")

    def load(self, model_name: str, backend: str, provider: str, precision: str) -> tuple[FaceModel, str]:
        model = load_kind(model_name, ("landmarker_68_5", "landmarker_2dfan4", "landmarker_pfld"), backend, provider, precision)
        return model, describe(model)


class LoadFaceOccluder:
    DESCRIPTION = (
        "Loads an XSeg occluder (DeepFaceLab, GPL-3.0) for occlusion masks: hands, hair, glasses and objects in front of "
        "the face are left out. 'many' loads all three; their masks are combined by minimum."
    )
    CATEGORY = LOADER_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (OCCLUDER, "STRING")
    RETURN_NAMES = ("occluder", "info")
    OUTPUT_TOOLTIPS = ("The occluder(s), for Face Mask and Face Restore.", "Models, licence, backend and providers.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        inputs = loader_inputs("occluder", "xseg_1 is FaceFusion's default.", [ALL_OCCLUDERS])
        if "xseg_1" in inputs["required"]["model_name"][0]:
            inputs["required"]["model_name"][1]["default"] = "xseg_1"
        return inputs

    def load(self, model_name: str, backend: str, provider: str, precision: str) -> tuple[tuple[FaceModel, ...], str]:
        names = ["xseg_1", "xseg_2", "xseg_3"] if model_name == ALL_OCCLUDERS else [model_name]
        models = tuple(load_kind(name, "occluder", backend, provider, precision) for name in names)
        return models, "\n".join(describe(model) for model in models)


class LoadFaceParser:
    DESCRIPTION = (
        "Loads a BiSeNet face parser (yakhyo, MIT; 19 classes) for region masks: skin, brows, eyes, glasses, nose, mouth, lips."
    )
    CATEGORY = LOADER_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (PARSER, "STRING")
    RETURN_NAMES = ("parser", "info")
    OUTPUT_TOOLTIPS = ("The parser, for Face Mask (region masks).", "Model, licence, backend and providers.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        inputs = loader_inputs("parser", "bisenet_resnet_34 is FaceFusion's default; _18 is smaller.")
        choices = inputs["required"]["model_name"][0]
        if "bisenet_resnet_34" in choices:
            inputs["required"]["model_name"][1]["default"] = "bisenet_resnet_34"
        return inputs

    def load(self, model_name: str, backend: str, provider: str, precision: str) -> tuple[FaceModel, str]:
        model = load_kind(model_name, "parser", backend, provider, precision)
        return model, describe(model)


def _names(text: str) -> tuple[str, ...]:
    """``"skin, eyes"`` -> ``("skin", "eyes")`` (commas or spaces; MaskSpec rejects unknown names with the list)."""
    return tuple(part.strip() for part in text.replace(" ", ",").split(",") if part.strip())


class FaceMask:
    DESCRIPTION = (
        "FaceFusion's face masks, one MASK per image (maximum over its faces), usable by any node (inpainting, compositing): "
        "box (feathered crop square), occlusion (XSeg), region (BiSeNet classes), area (68-point hulls). Each is computed "
        "in the face's ffhq_512 crop and the chosen ones are combined by minimum. Also outputs the spec for Face Restore."
    )
    CATEGORY = MASK_CATEGORY
    FUNCTION = "mask"
    RETURN_TYPES = ("MASK", "IMAGE", MASK_SPEC, "STRING")
    RETURN_NAMES = ("mask", "preview", "mask_spec", "info")
    OUTPUT_TOOLTIPS = (
        "Per image, 0..1: 1 inside the masked face area(s); an image without faces gets an all-zero mask.",
        "The images with the mask tinted red.",
        "These mask settings (with their models), for Face Restore.",
        "The mask settings in words.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        def toggle(default: bool, tooltip: str) -> tuple[str, dict[str, Any]]:
            return ("BOOLEAN", {"default": default, "tooltip": tooltip})

        def padding(side: str) -> tuple[str, dict[str, Any]]:
            return (
                "INT",
                {"default": 0, "min": 0, "max": 100, "step": 1, "tooltip": f"Box padding at the {side}, % of the crop side."},
            )

        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images the faces are in."}),
                "faces": (sockets.FACES, {"tooltip": "Faces from Face Detect on the same images (all of them are masked)."}),
                "box": toggle(True, "Box mask: the crop square, feathered by blur and shrunk by padding."),
                "occlusion": toggle(False, "Occlusion mask (needs an occluder): leaves out what covers the face."),
                "region": toggle(False, "Region mask (needs a parser): only the selected face regions."),
                "area": toggle(False, "Area mask (needs a landmarker unless the faces have 68 points): 68-point hulls."),
                "blur": (
                    "FLOAT",
                    {
                        "default": DEFAULT_BLUR,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Box feather, 0..1 of half the crop side (FaceFusion 0.3).",
                    },
                ),
                "padding_top": padding("top"),
                "padding_right": padding("right"),
                "padding_bottom": padding("bottom"),
                "padding_left": padding("left"),
                "regions": (
                    "STRING",
                    {"default": ", ".join(REGIONS), "tooltip": f"Region mask classes, comma separated: {', '.join(REGIONS)}."},
                ),
                "areas": (
                    "STRING",
                    {"default": ", ".join(AREAS), "tooltip": f"Area mask parts, comma separated: {', '.join(AREAS)} (one hull)."},
                ),
            },
            "optional": {
                "occluder": (OCCLUDER, {"tooltip": "From Load Face Occluder (for the occlusion mask)."}),
                "parser": (PARSER, {"tooltip": "From Load Face Parser (for the region mask)."}),
                "landmarker": (LANDMARKER, {"tooltip": "From Load Face Landmarker (for the area mask)."}),
            },
        }

    def mask(
        self,
        image: Any,
        faces: FaceBatch,
        box: bool,
        occlusion: bool,
        region: bool,
        area: bool,
        blur: float,
        padding_top: int,
        padding_right: int,
        padding_bottom: int,
        padding_left: int,
        regions: str,
        areas: str,
        occluder: tuple[FaceModel, ...] | None = None,
        parser: FaceModel | None = None,
        landmarker: FaceModel | None = None,
    ) -> tuple[Any, Any, MaskSpec, str]:
        check_faces_match(faces, image, "Face Mask")
        types = tuple(name for name, on in (("box", box), ("occlusion", occlusion), ("region", region), ("area", area)) if on)
        spec = MaskSpec(
            types=types,
            blur=blur,
            padding=(padding_top, padding_right, padding_bottom, padding_left),
            regions=_names(regions),
            areas=_names(areas),
            occluders=tuple(occluder or ()),
            parser=parser,
            landmarker=landmarker,
        )
        frames = image_to_float_list(image)
        masks = face_masks(frames, faces, spec)
        previews = [frame * (1 - 0.5 * m[..., None]) + PREVIEW_COLOUR * 0.5 * m[..., None] for frame, m in zip(frames, masks)]
        size = image_size(image)
        return to_mask(masks, size), to_image(previews, size), spec, spec.describe()
