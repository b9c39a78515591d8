"""Loader nodes: ArcFace recognizer, face detector, face swapper, and the landmark, mask and restore models."""

from __future__ import annotations

from typing import Any

from ..face_identity import (
    BACKEND_CHOICES,
    PROVIDER_CHOICES,
    TORCH_PRECISIONS,
    ArcFaceRecognizer,
    DetectionSettings,
    EmbeddingSwapper,
    FaceDetector,
    FaceModel,
    InswapperSwapper,
    ModelKind,
    Role,
    TorchFaceDetector,
    check_number,
    describe_facts,
    load_face_detector,
    load_face_model,
    load_recognizer,
    load_swapper,
    names_for_role,
    spec_for_file,
)
from . import sockets
from .comfy import gpu_index, model_folders, torch_device
from .sockets import LANDMARKER, OCCLUDER, PARSER, RESTORER

LOADERS_CATEGORY = f"{sockets.CATEGORY}/loaders"
ALL_OCCLUDERS = "many (xseg_1 + xseg_2 + xseg_3)"


def local_model_files(role: Role) -> list[str]:
    """``.onnx`` files in the model folders, relative to their folder, leaving out known models of another role."""
    found: list[str] = []
    for folder in model_folders():
        if not folder.is_dir() or folder.name == "models":
            continue  # the models root itself is searched for aliases, not listed
        for path in sorted(folder.rglob("*.onnx")):
            spec = spec_for_file(path)
            relative = path.relative_to(folder).as_posix()
            if spec is not None and (spec.role != role or relative == spec.filename):
                continue  # another role's model, or a catalog file already listed under its catalog name
            found.append(relative)
    return list(dict.fromkeys(found))


def model_choices(role: Role) -> list[str]:
    """Combo entries: catalog names of the role (downloaded on first use), then local files."""
    catalog = names_for_role(role)
    return catalog + [name for name in local_model_files(role) if name not in catalog]


def model_input(role: Role, tooltip: str) -> tuple[list[str], dict[str, Any]]:
    choices = model_choices(role)
    return (choices, {"default": choices[0], "tooltip": tooltip})


def provider_input() -> tuple[list[str], dict[str, Any]]:
    return (
        list(PROVIDER_CHOICES),
        {"default": "auto", "tooltip": "onnxruntime execution provider. auto = the GPU provider this onnxruntime has, else CPU."},
    )


def strict_input() -> tuple[str, dict[str, Any]]:
    return (
        "BOOLEAN",
        {"default": False, "tooltip": "Fail instead of silently running on the CPU when the GPU provider cannot load."},
    )


class LoadArcFaceModel:
    DESCRIPTION = (
        "Loads an ArcFace recognizer (InsightFace w600k_r50 by default). Catalog models are downloaded from Hugging Face on "
        "first use and verified; an existing models/insightface/models/buffalo_l/w600k_r50.onnx is reused."
    )
    CATEGORY = LOADERS_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (sockets.RECOGNIZER, "STRING")
    RETURN_NAMES = ("recognizer", "info")
    OUTPUT_TOOLTIPS = (
        "The recognizer, for Face Embed, Identity Consistency and Face Swap.",
        "Model, embedding space, backend and the providers actually running it.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model_name": model_input(
                    "recognizer", "Catalog name (downloaded on demand) or a file in models/face_identity or models/insightface."
                ),
                "backend": (
                    list(BACKEND_CHOICES),
                    {
                        "default": "auto",
                        "tooltip": "auto: torch on a GPU device, onnxruntime on the CPU. torch runs on ComfyUI's device.",
                    },
                ),
                "provider": provider_input(),
                "precision": (
                    list(TORCH_PRECISIONS),
                    {
                        "default": "float32",
                        "tooltip": "Torch backend precision (float16/bfloat16 only where the device supports them).",
                    },
                ),
                "batch_size": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": 4096,
                        "tooltip": "Faces per model call; 0 = automatic (1 for int8 models whose results depend on the batch).",
                    },
                ),
                "strict": strict_input(),
            }
        }

    def load(
        self, model_name: str, backend: str, provider: str, precision: str, batch_size: int, strict: bool
    ) -> tuple[ArcFaceRecognizer, str]:
        recognizer = load_recognizer(
            model_name,
            model_folders(),
            providers=provider,
            strict=strict,
            batch_size=batch_size or None,
            backend=backend,
            device=torch_device(),
            dtype=precision,
            device_id=gpu_index(),
        )
        info = (
            f"{recognizer.name} | space {recognizer.model_id} | {recognizer.dimension}-d | batch {recognizer.batch_size} | "
            f"{recognizer.backend.report()}"
        )
        return recognizer, info


class LoadFaceDetector:
    DESCRIPTION = (
        "Loads a face detector with 5 landmarks: SCRFD / RetinaFace-10g (insightface det_10g) or YOLOFace-8n. Faces are searched "
        "again at smaller sizes and on a padded copy when none is found (close-ups, tight crops)."
    )
    CATEGORY = LOADERS_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (sockets.DETECTOR, "STRING")
    RETURN_NAMES = ("detector", "info")
    OUTPUT_TOOLTIPS = (
        "The detector, for Face Detect, Face Align, Face Embed, Identity Consistency and Face Swap.",
        "Model and the providers running it.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model_name": model_input(
                    "detector", "Catalog name (downloaded on demand) or a file in models/face_identity or models/insightface."
                ),
                "det_size": (
                    "INT",
                    {
                        "default": 640,
                        "min": 128,
                        "max": 2048,
                        "step": 32,
                        "tooltip": "Side the image is scaled to fit for detection (fixed-size models cap it at their input).",
                    },
                ),
                "score_threshold": (
                    "FLOAT",
                    {
                        "default": 0.5,
                        "min": 0.01,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Minimum detector confidence (insightface default 0.5).",
                    },
                ),
                "nms_threshold": (
                    "FLOAT",
                    {
                        "default": 0.4,
                        "min": 0.05,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Overlap above which the weaker of two boxes is dropped.",
                    },
                ),
                "provider": provider_input(),
                "strict": strict_input(),
            }
        }

    def load(
        self, model_name: str, det_size: int, score_threshold: float, nms_threshold: float, provider: str, strict: bool
    ) -> tuple[FaceDetector | TorchFaceDetector, str]:
        settings = DetectionSettings(
            det_size=(det_size, det_size),
            score_threshold=check_number(score_threshold, "score_threshold", "Load Face Detector", 0.0, 1.0),
            nms_threshold=check_number(nms_threshold, "nms_threshold", "Load Face Detector", 0.0, 1.0),
        )
        # Without onnxruntime an SCRFD detector runs converted to torch on ComfyUI's device.
        detector = load_face_detector(
            model_name,
            model_folders(),
            providers=provider,
            strict=strict,
            settings=settings,
            device_id=gpu_index(),
            device=torch_device(),
        )
        return detector, f"{detector.name} ({detector.family}) | {detector.backend.report()}"


class LoadFaceSwapper:
    DESCRIPTION = (
        "Loads a face swapper for Face Swap: inswapper_128 (fp32/fp16; an existing models/insightface/inswapper_128.onnx "
        "is reused), HyperSwap 1a/1b/1c 256 (FaceFusion's default), SimSwap 256/512, GHOST 1/2/3 256 or HifiFace 256 (the last "
        "three fed through their crossface converter, downloaded with them). Licences differ: inswapper and SimSwap are "
        "non-commercial, HyperSwap ResearchRAIL, GHOST Apache-2.0, HifiFace unknown (see docs/swap.md)."
    )
    CATEGORY = LOADERS_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (sockets.SWAPPER, "STRING")
    RETURN_NAMES = ("swapper", "info")
    OUTPUT_TOOLTIPS = ("The swapper, for Face Swap.", "Model, backend and the providers running it.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model_name": model_input(
                    "swapper", "Catalog name (downloaded on demand) or a file in models/face_identity or models/insightface."
                ),
                "backend": (
                    list(BACKEND_CHOICES),
                    {
                        "default": "auto",
                        "tooltip": "auto: torch on a GPU device when its conversion matches onnxruntime, else onnxruntime.",
                    },
                ),
                "provider": provider_input(),
                "precision": (list(TORCH_PRECISIONS), {"default": "float32", "tooltip": "Torch backend precision."}),
                "strict": strict_input(),
            }
        }

    def load(
        self, model_name: str, backend: str, provider: str, precision: str, strict: bool
    ) -> tuple[InswapperSwapper | EmbeddingSwapper, str]:
        swapper = load_swapper(
            model_name,
            model_folders(),
            providers=provider,
            strict=strict,
            backend=backend,
            device=torch_device(),
            dtype=precision,
            device_id=gpu_index(),
        )
        return swapper, f"{describe_facts(swapper)} | {swapper.backend.report()}"


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
                list(BACKEND_CHOICES),
                {"default": "onnxruntime", "tooltip": "torch runs the graph converted by the pack when it matches onnxruntime."},
            ),
            "provider": provider_input(),
            "precision": (list(TORCH_PRECISIONS), {"default": "float32", "tooltip": "Torch backend precision."}),
        }
    }


def describe(model: FaceModel) -> str:
    return f"{model.name} ({model.facts.kind}, {model.facts.licence}) | {model.backend.report()}"


class LoadFaceLandmarker:
    DESCRIPTION = (
        "Loads a 68-point landmarker for the area masks: fan_68_5 (5 detector points -> 68, tiny), 2dfan4 (68 points from "
        "the face), or landmarks_68_pfld.onnx placed in models/face_identity (PFLD, MIT)."
    )
    CATEGORY = LOADERS_CATEGORY
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
    CATEGORY = LOADERS_CATEGORY
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
    CATEGORY = LOADERS_CATEGORY
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


class LoadFaceRestorer:
    DESCRIPTION = (
        "Loads a face restorer: gfpgan_1.4 (default), 1.2, 1.3 (Apache-2.0), codeformer (S-Lab, non-commercial), "
        "gpen_bfr_256/512/1024/2048 (non-commercial), restoreformer_plus_plus (Apache-2.0). Downloaded on first use "
        "from FaceFusion's Hugging Face releases and checked against their .hash files."
    )
    CATEGORY = LOADERS_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (RESTORER, "STRING")
    RETURN_NAMES = ("restorer", "info")
    OUTPUT_TOOLTIPS = ("The restorer, for Face Restore.", "Model, licence, backend and providers.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return loader_inputs("restorer", "Catalog name (downloaded on demand) or a restorer file named like its catalog entry.")

    def load(self, model_name: str, backend: str, provider: str, precision: str) -> tuple[FaceModel, str]:
        model = load_kind(model_name, "restorer", backend, provider, precision)
        return model, describe(model)
