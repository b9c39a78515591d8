"""Face restore nodes: load a restorer (GFPGAN, CodeFormer, GPEN-BFR, RestoreFormer++), restore faces, report identity drift.

The loader lives here for now (the coordinator may move it to ``loaders.py``).
"""

from __future__ import annotations

from typing import Any

from ..face_identity.embed import ArcFaceRecognizer
from ..face_identity.face_models import FaceModel
from ..face_identity.masks import DEFAULT_BLUR, MaskSpec
from ..face_identity.restore import DEFAULT_BLEND, DEFAULT_FIDELITY, RestoreSettings, restore_faces
from ..face_identity.types import FaceBatch, Identity
from . import sockets
from .faces import check_faces_match
from .masks import LOADER_CATEGORY, MASK_SPEC, describe, load_kind, loader_inputs
from .tensors import image_size, image_to_float_list, to_image, to_mask

RESTORER = "FACEID_RESTORER"
"""face_identity.face_models.FaceModel of the restorer kind"""
RESTORE_CATEGORY = f"{sockets.CATEGORY}/restore"


class LoadFaceRestorer:
    DESCRIPTION = (
        "Loads a face restorer: gfpgan_1.4 (default), 1.2, 1.3 (Apache-2.0), codeformer (S-Lab, non-commercial), "
        "gpen_bfr_256/512/1024/2048 (non-commercial), restoreformer_plus_plus (Apache-2.0). Downloaded on first use "
        "from FaceFusion's Hugging Face releases and checked against their .hash files."
    )
    CATEGORY = LOADER_CATEGORY
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


class FaceRestore:
    DESCRIPTION = (
        "Restores every face in FACES (select them upstream, e.g. only the swapped ones) with FaceFusion's recipe: crop, "
        "restore, paste inside the mask (the box mask by default, or a Face Mask spec), blend. With a recognizer it reports "
        "how far the restorer moved each identity: cosine restored vs before (1 = unchanged) and, with a source identity, "
        "the similarity to it before and after."
    )
    CATEGORY = RESTORE_CATEGORY
    FUNCTION = "restore"
    RETURN_TYPES = ("IMAGE", "MASK", "FLOAT", "FLOAT", "STRING")
    RETURN_NAMES = ("image", "mask", "drift", "source_similarity", "report")
    OUTPUT_IS_LIST = (False, False, True, True, False)
    OUTPUT_TOOLTIPS = (
        "The images with the faces restored (images without faces unchanged).",
        "Where each image was changed: blend x mask, 0..1.",
        "Per restored face, cosine restored vs before (a list; empty without a recognizer).",
        "Per restored face, cosine to the source identity after restoring (a list; empty without a source).",
        "The drift report in words; faces below 0.6 are flagged.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images the faces are in."}),
                "faces": (sockets.FACES, {"tooltip": "The faces to restore (from Face Detect on the same images)."}),
                "restorer": (RESTORER, {"tooltip": "From Load Face Restorer."}),
                "blend": (
                    "FLOAT",
                    {
                        "default": DEFAULT_BLEND,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Weight of the restored face (FaceFusion 0.8).",
                    },
                ),
                "fidelity": (
                    "FLOAT",
                    {
                        "default": DEFAULT_FIDELITY,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "CodeFormer only: 0 = strongest restoration, 1 = closest to the input.",
                    },
                ),
                "mask_blur": (
                    "FLOAT",
                    {
                        "default": DEFAULT_BLUR,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Box mask feather when no mask spec is connected.",
                    },
                ),
            },
            "optional": {
                "mask_spec": (
                    MASK_SPEC,
                    {"tooltip": "From Face Mask: use its masks (e.g. box + occlusion) instead of the plain box."},
                ),
                "recognizer": (sockets.RECOGNIZER, {"tooltip": "Measures identity drift (embeds each face before and after)."}),
                "source": (sockets.IDENTITY, {"tooltip": "Identity to compare with before and after (e.g. the swap source)."}),
            },
        }

    def restore(
        self,
        image: Any,
        faces: FaceBatch,
        restorer: FaceModel,
        blend: float,
        fidelity: float,
        mask_blur: float,
        mask_spec: MaskSpec | None = None,
        recognizer: ArcFaceRecognizer | None = None,
        source: Identity | None = None,
    ) -> tuple[Any, Any, list[float], list[float], str]:
        check_faces_match(faces, image, "Face Restore")
        settings = RestoreSettings(blend=blend, fidelity=fidelity, mask=mask_spec or MaskSpec(types=("box",), blur=mask_blur))
        result = restore_faces(restorer, image_to_float_list(image), faces, settings, recognizer, source)
        size = image_size(image)
        return (
            to_image(result.images, size),
            to_mask(result.masks, size),
            result.drift.to_before(),
            result.drift.source_after(),
            result.drift.summary(),
        )
