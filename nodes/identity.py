"""Identity nodes: embed faces, compare, average, save and load identities."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..face_identity import (
    Detector,
    FaceBatch,
    Frames,
    Identity,
    InvalidArgumentError,
    NoFaceFoundError,
    Recognizer,
    SkippedFace,
    average_identities,
    check,
    choices,
    compare,
    drop_outlier_rows,
    identify,
    load_identity,
    render,
    save_identity,
)
from . import sockets
from .comfy import identity_folders, progress_hook, use_models
from .tensors import to_image
from .validation import identity_name_answer

if TYPE_CHECKING:  # torch is imported inside the node functions, not at pack import
    import torch

IDENTITY_CATEGORY = f"{sockets.CATEGORY}/identity"
_THRESHOLD_TOOLTIP = (
    "Cosine similarity at or above which faces count as the same person. 0.4 is the w600k_r50 default "
    "(FaceFusion's and insightface's); calibrate other models with `python -m face_identity calibrate`."
)


def threshold_input() -> tuple[str, dict[str, Any]]:
    return (
        "FLOAT",
        {"default": choices().default_match_threshold, "min": -1.0, "max": 1.0, "step": 0.01, "tooltip": _THRESHOLD_TOOLTIP},
    )


class FaceEmbed:
    DESCRIPTION = (
        "Turns faces into an IDENTITY: one ArcFace embedding per face, remembering which image and face it came from. "
        "Give source images with FACES (or a detector), or crops already aligned for the recognizer (112 px arcface_112)."
    )
    CATEGORY = IDENTITY_CATEGORY
    FUNCTION = "embed"
    RETURN_TYPES = (sockets.IDENTITY, "INT", "STRING")
    RETURN_NAMES = ("identity", "face_count", "info")
    OUTPUT_TOOLTIPS = (
        "One row per face (average it with Identity Average for a single person).",
        "Number of faces embedded.",
        "Which images had no face, and the embedding space.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "recognizer": (sockets.RECOGNIZER, {"tooltip": "From Load ArcFace Model."}),
                "image": ("IMAGE", {"tooltip": "Source images (with FACES or a detector), or aligned crops from Face Align."}),
                "flip": (
                    "BOOLEAN",
                    {
                        "default": False,
                        "tooltip": "Average each embedding with that of the mirrored face (slightly more robust, twice the work).",
                    },
                ),
            },
            "optional": {
                "faces": (
                    sockets.FACES,
                    {"tooltip": "Faces from Face Detect on these images (or from Face Align with its crops as IMAGE)."},
                ),
                "detector": (sockets.DETECTOR, {"tooltip": "Or a detector: every face is embedded, largest first."}),
            },
        }

    def embed(
        self,
        recognizer: Recognizer,
        image: torch.Tensor,
        flip: bool,
        faces: FaceBatch | None = None,
        detector: Detector | None = None,
    ) -> tuple[Identity, int, str]:
        use_models(recognizer, detector)
        frames = Frames.of(image, "Face Embed")  # the one validation of this IMAGE
        outcome = identify(recognizer, frames, faces, detector, flip=flip, on_progress=progress_hook(), context="Face Embed")
        if outcome.source == "aligned crops":
            identity = outcome.identity
            assert identity is not None  # every aligned crop is one face
            return identity, len(identity), f"{len(identity)} aligned crop(s) | space {identity.model_id}"
        assert outcome.faces is not None  # detected or given faces come back
        return _embedding_outputs(outcome.faces, outcome.identity, SkippedFace.lines(outcome.skipped))


def _embedding_outputs(faces: FaceBatch, identity: Identity | None, skipped: str = "") -> tuple[Identity, int, str]:
    """Face Embed's outputs, or NoFaceFoundError when no image of the batch had a face (``skipped``: faces left out, named)."""
    if identity is None:
        raise NoFaceFoundError(
            f"Face Embed: no face in any of the {len(faces)} image(s). Lower the detector's score threshold, or use larger, frontal photos."
            + (f" Skipped: {skipped}" if skipped else "")
        )
    empty = [str(i) for i, image_faces in enumerate(faces.faces_per_image) if not image_faces]
    info = f"{len(identity)} face(s) from {len(faces) - len(empty)} image(s) | space {identity.model_id}"
    info += f" | no face in image(s) {', '.join(empty[:64])}" if empty else ""
    return identity, len(identity), info + (f"\n{skipped}" if skipped else "")


def _row_labels(identity: Identity) -> list[str]:
    return [
        f"i{int(image)}f{int(face)}" if image >= 0 and face >= 0 else f"r{row}"
        for row, (image, face) in enumerate(zip(identity.image_indices, identity.face_indices))
    ]


class IdentitySimilarity:
    DESCRIPTION = (
        "Compares two identities: cosine similarity of their averaged embeddings (-1..1; about 0 for strangers), whether "
        "that reaches the threshold, and a chart of every face-to-face similarity."
    )
    CATEGORY = IDENTITY_CATEGORY
    FUNCTION = "compare"
    RETURN_TYPES = ("FLOAT", "BOOLEAN", "STRING", "IMAGE")
    RETURN_NAMES = ("similarity", "match", "report", "chart")
    OUTPUT_TOOLTIPS = (
        "Cosine similarity of the two identities' mean embeddings.",
        "True when the similarity is at or above the threshold.",
        "Text report: verdict, per-face similarities.",
        "Heat map of the face-by-face similarity matrix (green = match).",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "identity_a": (sockets.IDENTITY, {"tooltip": "First identity (rows = faces)."}),
                "identity_b": (sockets.IDENTITY, {"tooltip": "Second identity, from the same recognizer."}),
                "threshold": threshold_input(),
            }
        }

    def compare(self, identity_a: Identity, identity_b: Identity, threshold: float) -> tuple[float, bool, str, torch.Tensor]:
        threshold = check("number", threshold, "threshold", "Identity Similarity")
        comparison = compare(identity_a, identity_b, threshold)
        score, matrix = comparison.score, comparison.matrix
        lines = [
            f"similarity {score:.4f}: {comparison.verdict} (threshold {threshold:.2f})",
            f"space {identity_a.model_id}; a: {len(identity_a)} face(s), b: {len(identity_b)} face(s)",
            f"face-to-face: min {matrix.min():.3f}, mean {matrix.mean():.3f}, max {matrix.max():.3f}",
        ]
        for row, label in enumerate(_row_labels(identity_a)[:32]):
            lines.append(f"  {label}: " + " ".join(f"{value:.3f}" for value in matrix[row, :16]))
        chart = render("similarity", matrix, threshold, _row_labels(identity_a), _row_labels(identity_b))
        return score, comparison.match, "\n".join(lines), to_image([chart])


class IdentityAverage:
    DESCRIPTION = (
        "Merges identities (e.g. several photos of one person) into one: the weighted mean of the unit embeddings, "
        "re-normalised. Optionally drops rows that disagree with the rest (wrong person, bad photo)."
    )
    CATEGORY = IDENTITY_CATEGORY
    FUNCTION = "average"
    RETURN_TYPES = (sockets.IDENTITY, "STRING")
    RETURN_NAMES = ("identity", "info")
    OUTPUT_TOOLTIPS = ("A one-row identity.", "Rows used and dropped; an input of weight 0 is named (it contributes nothing).")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        weight = {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.05, "tooltip": "Relative weight of this input's faces."}
        return {
            "required": {
                "identity_1": (sockets.IDENTITY, {"tooltip": "Identity to average (all its rows count)."}),
                "weight_1": ("FLOAT", weight),
                "min_similarity": (
                    "FLOAT",
                    {
                        "default": -1.0,
                        "min": -1.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "Drop rows whose similarity to the first average is below this (-1 keeps all).",
                    },
                ),
            },
            "optional": {
                "identity_2": (sockets.IDENTITY, {"tooltip": "Optional second identity."}),
                "weight_2": ("FLOAT", weight),
                "identity_3": (sockets.IDENTITY, {"tooltip": "Optional third identity."}),
                "weight_3": ("FLOAT", weight),
                "identity_4": (sockets.IDENTITY, {"tooltip": "Optional fourth identity."}),
                "weight_4": ("FLOAT", weight),
            },
        }

    def average(
        self,
        identity_1: Identity,
        weight_1: float,
        min_similarity: float,
        identity_2: Identity | None = None,
        weight_2: float = 1.0,
        identity_3: Identity | None = None,
        weight_3: float = 1.0,
        identity_4: Identity | None = None,
        weight_4: float = 1.0,
    ) -> tuple[Identity, str]:
        min_similarity = check("number", min_similarity, "min_similarity", "Identity Average")
        numbered = [
            (n, i, check("number", w, f"weight_{n}", "Identity Average", 0.0))
            for n, (i, w) in enumerate(
                ((identity_1, weight_1), (identity_2, weight_2), (identity_3, weight_3), (identity_4, weight_4)), start=1
            )
            if i is not None
        ]
        pairs = [(i, w) for _, i, w in numbered]
        idle = [f"identity_{n}" for n, _, w in numbered if w == 0]  # named: they contribute nothing
        note = f"; {', '.join(idle)} left out (weight 0)" if idle else ""
        combined = average_identities([i for i, _ in pairs], [w for _, w in pairs])
        rows = sum(len(i) for i, w in pairs if w > 0)
        if min_similarity <= -1.0:
            return combined, f"averaged {rows} row(s) from {len(pairs) - len(idle)} input(s){note}"
        kept, dropped = drop_outlier_rows([i for i, _ in pairs], [w for _, w in pairs], min_similarity)
        dropped -= sum(len(i) for i, w in pairs if w == 0)  # zero-weight rows are named above, not "below"
        return kept, (
            f"averaged {rows - dropped} row(s) from {len(pairs) - len(idle)} input(s); dropped {dropped} below "
            f"{min_similarity:.2f}{note}"
        )


def _identity_files() -> list[tuple[str, Path]]:
    files = []
    for label, folder in identity_folders():
        if folder.is_dir():
            files += [(f"{label}/{path.name}", path) for path in sorted(folder.glob("*.safetensors"))]
    return list(dict(files).items())


def _identity_path(choice: str) -> Path:
    for label, path in _identity_files():
        if label == choice:
            return path
    folders = ", ".join(str(folder) for _, folder in identity_folders())
    raise InvalidArgumentError(f"identity file {choice!r} not found; identity files live in: {folders}")


class SaveIdentity:
    DESCRIPTION = (
        "Saves an identity as .safetensors in models/face_identity/identities/ (or as a ReActor face model in "
        "models/reactor/faces/). An existing file is never replaced unless 'if exists' says overwrite."
    )
    CATEGORY = IDENTITY_CATEGORY
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Where the file was written.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "identity": (sockets.IDENTITY, {"tooltip": "The identity to save."}),
                "name": (
                    "STRING",
                    {"default": "my_identity", "tooltip": "File name (letters, digits, space, _ - .); .safetensors is added."},
                ),
                "file_format": (
                    ["face_identity", "reactor"],
                    {
                        "default": "face_identity",
                        "tooltip": "face_identity keeps every row and its source; reactor writes one averaged face model ReActor can load.",
                    },
                ),
                "if_exists": (
                    list(choices().if_exists),
                    {
                        "default": "new name",
                        "tooltip": "When the name is taken: save as name_2, name_3, ... (new name), stop with an error, or replace the file (overwrite).",
                    },
                ),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, name: str | None = None) -> bool | str:
        """Checks the file name before the run (ComfyUI still checks every other input)."""
        return identity_name_answer(name)

    def save(self, identity: Identity, name: str, file_format: str, if_exists: str) -> dict[str, Any]:
        filename = check("identity name", name)
        folders = dict(identity_folders())
        if file_format == "reactor":
            path = save_identity(identity, folders["reactor"] / filename, if_exists=if_exists, file_format="reactor")
        else:
            path = save_identity(identity, folders["identities"] / filename, if_exists=if_exists)
        return {"ui": {"text": [str(path)]}, "result": (str(path),)}


class LoadIdentity:
    DESCRIPTION = "Loads a saved identity, or a ReActor face model (imported as a w600k_r50 identity)."
    CATEGORY = IDENTITY_CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (sockets.IDENTITY, "STRING")
    RETURN_NAMES = ("identity", "info")
    OUTPUT_TOOLTIPS = ("The identity.", "Rows, embedding space and file.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        choices = [label for label, _ in _identity_files()] or ["none: save an identity first"]
        return {
            "required": {
                "identity_file": (choices, {"tooltip": "identities/ = saved by Save Identity; reactor/ = ReActor face models."})
            }
        }

    @classmethod
    def IS_CHANGED(cls, identity_file: str) -> str:
        # Save Identity can replace a file under the same name (if exists = overwrite): key the cache on its mtime.
        try:
            return f"{identity_file}:{os.path.getmtime(_identity_path(identity_file))}"
        except InvalidArgumentError:  # not (or no longer) among the identity files: ComfyUI says so at the run
            return identity_file

    def load(self, identity_file: str) -> tuple[Identity, str]:
        path = _identity_path(identity_file)
        identity = load_identity(path)
        return identity, f"{len(identity)} row(s) | space {identity.model_id} | {identity.dimension}-d | {path}"
