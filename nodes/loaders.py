"""Loader nodes: ArcFace recognizer, face detector, face swapper, and the landmark, mask and restore models."""

from __future__ import annotations

from typing import Any, Literal

from ..face_identity import Detector, FaceModel, Recognizer, Swapper, check, choices, load_model
from . import sockets
from .comfy import gpu_index, model_folders, torch_device
from .sockets import LANDMARKER, OCCLUDER, PARSER, RESTORER

LOADERS_CATEGORY = f"{sockets.CATEGORY}/loaders"
FaceModelRole = Literal["landmarker", "occluder", "parser", "restorer"]
DOWNLOADED = (
    "Catalog models are downloaded on first use from their Hugging Face release and checked (.hash file or SHA-256); "
    "licences per model in docs/models.md."
)


def catalog_names(role: str) -> str:
    """The catalog names of a role in words, the default first: ``a (default), b or c`` (node descriptions and tooltips)."""
    names = choices().names(role)
    words = [f"{names[0]} (default)", *names[1:]]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def reused_copies(role: str) -> str:
    """The alias paths under ``models/`` where an existing copy of a catalog model of the role is reused."""
    paths = [f"models/{alias}" for name in choices().names(role) for alias in choices().spec(name).aliases]
    return f" Existing copies are reused: {', '.join(paths)}." if paths else ""


def all_occluders() -> str:
    """The occluder combo entry that loads every catalog occluder (their masks combined by minimum)."""
    return f"many ({' + '.join(choices().names('occluder'))})"


def local_model_files(role: str) -> list[str]:
    """``.onnx`` files in the model folders, relative to their folder, leaving out known models of another role."""
    found: list[str] = []
    for folder in model_folders():
        if not folder.is_dir() or folder.name == "models":
            continue  # the models root itself is searched for aliases, not listed
        for path in sorted(folder.rglob("*.onnx")):
            spec = choices().spec_for_file(path)
            relative = path.relative_to(folder).as_posix()
            if spec is not None and (spec.role != role or relative == spec.filename):
                continue  # another role's model, or a catalog file already listed under its catalog name
            found.append(relative)
    return list(dict.fromkeys(found))


def model_choices(role: str) -> list[str]:
    """Combo entries: catalog names of the role (downloaded on first use), then local files."""
    catalog = choices().names(role)
    return catalog + [name for name in local_model_files(role) if name not in catalog]


def model_input(role: str, tooltip: str) -> tuple[list[str], dict[str, Any]]:
    names = model_choices(role)
    return (names, {"default": names[0], "tooltip": tooltip})


def provider_input() -> tuple[list[str], dict[str, Any]]:
    return (
        list(choices().providers),
        {"default": "auto", "tooltip": "onnxruntime execution provider. auto = the GPU provider this onnxruntime has, else CPU."},
    )


def strict_input() -> tuple[str, dict[str, Any]]:
    return (
        "BOOLEAN",
        {"default": False, "tooltip": "Fail instead of silently running on the CPU when the GPU provider cannot load."},
    )


class LoadArcFaceModel:
    DESCRIPTION = f"Loads an ArcFace recognizer: {catalog_names('recognizer')}. {DOWNLOADED}{reused_copies('recognizer')}"
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
                    list(choices().backends),
                    {
                        "default": "auto",
                        "tooltip": "auto: torch on a GPU device, onnxruntime on the CPU. torch runs on ComfyUI's device.",
                    },
                ),
                "provider": provider_input(),
                "precision": (
                    list(choices().precisions),
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
    ) -> tuple[Recognizer, str]:
        recognizer = load_model(
            model_name,
            "recognizer",
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
        f"Loads a 5-landmark face detector: {catalog_names('detector')}. Faces are searched again at smaller sizes and "
        f"on a padded copy when none is found (close-ups, tight crops). {DOWNLOADED}{reused_copies('detector')}"
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
    ) -> tuple[Detector, str]:
        changes = {
            "det_size": (det_size, det_size),
            "score_threshold": check("number", score_threshold, "score_threshold", "Load Face Detector", 0.0, 1.0),
            "nms_threshold": check("number", nms_threshold, "nms_threshold", "Load Face Detector", 0.0, 1.0),
        }
        # Without onnxruntime an SCRFD detector runs converted to torch on ComfyUI's device.
        loaded = load_model(
            model_name,
            "detector",
            model_folders(),
            providers=provider,
            strict=strict,
            device_id=gpu_index(),
            device=torch_device(),
        )
        detector = loaded.with_settings(**changes)  # the catalog's defaults replaced by these widgets
        return detector, f"{detector.name} ({detector.family}) | {detector.backend.report()}"


class LoadFaceSwapper:
    DESCRIPTION = (
        f"Loads a swapper for Face Swap: {catalog_names('swapper')}. Families fed through a crossface converter "
        f"download it with them. {DOWNLOADED} Each family's facts: docs/swap.md.{reused_copies('swapper')}"
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
                    list(choices().backends),
                    {
                        "default": "auto",
                        "tooltip": "auto: torch on a GPU device when its conversion matches onnxruntime, else onnxruntime.",
                    },
                ),
                "provider": provider_input(),
                "precision": (list(choices().precisions), {"default": "float32", "tooltip": "Torch backend precision."}),
                "strict": strict_input(),
            }
        }

    def load(self, model_name: str, backend: str, provider: str, precision: str, strict: bool) -> tuple[Swapper, str]:
        swapper = load_model(
            model_name,
            "swapper",
            model_folders(),
            providers=provider,
            strict=strict,
            backend=backend,
            device=torch_device(),
            dtype=precision,
            device_id=gpu_index(),
        )
        known = choices()
        licence = known.spec(swapper.name).licence if swapper.name in known.names("swapper") else "licence: see the file's source"
        return swapper, f"{known.swapper_facts(swapper)} | {licence} | {swapper.backend.report()}"


def load_kind(name: str, kinds: FaceModelRole, backend: str, provider: str, precision: str) -> FaceModel:
    """One model of ``model_facts`` from the model folders (or downloaded), as the loaders below configure it."""
    return load_model(
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
    names = (extra or []) + model_choices(role)
    return {
        "required": {
            "model_name": (names, {"default": names[0], "tooltip": tooltip}),
            "backend": (
                list(choices().backends),
                {"default": "onnxruntime", "tooltip": "torch runs the graph converted by the pack when it matches onnxruntime."},
            ),
            "provider": provider_input(),
            "precision": (list(choices().precisions), {"default": "float32", "tooltip": "Torch backend precision."}),
        }
    }


def describe(model: FaceModel) -> str:
    return f"{model.name} ({model.facts.kind}, {model.facts.licence}) | {model.backend.report()}"


class LoadFaceLandmarker:
    DESCRIPTION = (
        f"Loads a 68-point landmarker (area masks): {catalog_names('landmarker')}. Or a landmarker file named like its "
        f"model (e.g. landmarks_68_pfld.onnx) placed in models/face_identity. {DOWNLOADED}"
    )
    CATEGORY = LOADERS_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (LANDMARKER, "STRING")
    RETURN_NAMES = ("landmarker", "info")
    OUTPUT_TOOLTIPS = ("The landmarker, for Face Mask (area masks).", "Model, licence, backend and providers.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return loader_inputs("landmarker", f"{catalog_names('landmarker')} (downloaded on demand) or a local landmarker file.")

    def load(self, model_name: str, backend: str, provider: str, precision: str) -> tuple[FaceModel, str]:
        model = load_kind(model_name, "landmarker", backend, provider, precision)
        return model, describe(model)


class LoadFaceOccluder:
    DESCRIPTION = (
        f"Loads an occluder (occlusion masks): {catalog_names('occluder')}. Hands, hair, glasses and objects in front of "
        f"the face are left out. 'many' loads them all; their masks are combined by minimum. {DOWNLOADED}"
    )
    CATEGORY = LOADERS_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (OCCLUDER, "STRING")
    RETURN_NAMES = ("occluder", "info")
    OUTPUT_TOOLTIPS = ("The occluder(s), for Face Mask and Face Restore.", "Models, licence, backend and providers.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        default = choices().names("occluder")[0]
        inputs = loader_inputs("occluder", f"{catalog_names('occluder')}.", [all_occluders()])
        inputs["required"]["model_name"][1]["default"] = default
        return inputs

    def load(self, model_name: str, backend: str, provider: str, precision: str) -> tuple[tuple[FaceModel, ...], str]:
        names = choices().names("occluder") if model_name == all_occluders() else [model_name]
        models = tuple(load_kind(name, "occluder", backend, provider, precision) for name in names)
        return models, "\n".join(describe(model) for model in models)


class LoadFaceParser:
    DESCRIPTION = (
        f"Loads a face parser (region masks): {catalog_names('parser')}. 19 classes: skin, brows, eyes, glasses, nose, "
        f"mouth, lips. {DOWNLOADED}"
    )
    CATEGORY = LOADERS_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (PARSER, "STRING")
    RETURN_NAMES = ("parser", "info")
    OUTPUT_TOOLTIPS = ("The parser, for Face Mask (region masks).", "Model, licence, backend and providers.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return loader_inputs("parser", f"{catalog_names('parser')}.")

    def load(self, model_name: str, backend: str, provider: str, precision: str) -> tuple[FaceModel, str]:
        model = load_kind(model_name, "parser", backend, provider, precision)
        return model, describe(model)


class LoadFaceRestorer:
    DESCRIPTION = f"Loads a face restorer: {catalog_names('restorer')}. {DOWNLOADED}"
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
