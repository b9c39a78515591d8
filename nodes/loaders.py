"""Loader nodes: ArcFace recognizer, face detector, face swapper."""

from __future__ import annotations

from typing import Any

from ..face_identity import (
    BACKEND_CHOICES,
    PROVIDER_CHOICES,
    TORCH_PRECISIONS,
    ArcFaceRecognizer,
    DetectionSettings,
    FaceDetector,
    InswapperSwapper,
    ModelSession,
    Role,
    TorchFaceDetector,
    check_number,
    load_face_detector,
    load_recognizer,
    load_swapper,
    names_for_role,
    spec_for_file,
)
from . import sockets
from .comfy import gpu_index, model_folders, torch_device

LOADERS_CATEGORY = f"{sockets.CATEGORY}/loaders"


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


def provider_note(model: ModelSession) -> str:
    """``"providers: CUDA, CPU"``, with a warning when a requested GPU provider is not the one running."""
    if not model.has_session:  # the torch backend runs it (requested_providers says why)
        return f"onnxruntime: not used ({', '.join(model.requested_providers) or 'torch backend'})"
    active = ", ".join(name.replace("ExecutionProvider", "") for name in model.active_providers)
    wanted = [n for n in model.requested_providers if n != "CPUExecutionProvider"]
    if wanted and not model.on_gpu:
        return f"providers: {active} (WARNING: {', '.join(wanted)} requested but not active)"
    return f"providers: {active}"


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
            f"{recognizer.name} | space {recognizer.model_id} | {recognizer.dimension}-d | backend {recognizer.backend.describe()} | "
            f"batch {recognizer.batch_size} | {provider_note(recognizer.model)}"
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
        runs_on = f" | backend {detector.describe()}" if isinstance(detector, TorchFaceDetector) else ""
        return detector, f"{detector.name} ({detector.family}){runs_on} | {provider_note(detector.model)}"


class LoadFaceSwapper:
    DESCRIPTION = (
        "Loads inswapper_128 (fp32 or fp16) for Face Swap; an existing models/insightface/inswapper_128.onnx is reused. "
        "Licence: InsightFace non-commercial research only."
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

    def load(self, model_name: str, backend: str, provider: str, precision: str, strict: bool) -> tuple[InswapperSwapper, str]:
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
        return swapper, f"{swapper.name} | backend {swapper.backend.describe()} | {provider_note(swapper.model)}"
