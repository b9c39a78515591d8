"""Identity Consistency: score a generated batch against a reference identity; best-of-N and gating."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..face_identity import Detector, Frames, Identity, Recognizer, check, consistency_scores, identify, render
from . import sockets
from .comfy import blocked_output, progress_hook, use_models
from .faces import make_selection, selection_inputs
from .identity import IDENTITY_CATEGORY, threshold_input
from .tensors import to_image
from .validation import index_list_answer

if TYPE_CHECKING:  # torch is imported inside the node functions, not at pack import
    import torch

    from .comfy import Blocked

NODE = "Identity Consistency"


class IdentityConsistency:
    DESCRIPTION = (
        "Scores every image of a batch by how much its best face looks like the reference identity; picks the best "
        "image (best-of-N) and passes on the images at or above the threshold (gate). Images with no face score 0 "
        "and are flagged, never an error. When no image passes, only the nodes fed by passing_images are skipped."
    )
    CATEGORY = IDENTITY_CATEGORY
    FUNCTION = "check"
    RETURN_TYPES = ("IMAGE", "IMAGE", "INT", "FLOAT", "INT", "STRING", "IMAGE", "STRING")
    RETURN_NAMES = ("best_image", "passing_images", "best_index", "best_score", "pass_count", "scores", "chart", "info")
    OUTPUT_TOOLTIPS = (
        "The image whose face is most similar to the reference.",
        "The images at or above the threshold, in batch order. When none passes it is blocked: the nodes fed by it "
        "(e.g. Save Image) are skipped without an error, and info says why.",
        "Batch index of the best image (-1 for an empty batch).",
        "Similarity of the best image (0 when no image has a face).",
        "How many images passed.",
        "JSON list: per image its score, the face index that scored, has_face and passed.",
        "Bar chart of the per-image scores with the threshold (grey = no face).",
        "How many passed and the best image; when nothing passes, that passing_images was blocked and why.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "reference": (sockets.IDENTITY, {"tooltip": "Who the images should show (e.g. an averaged identity)."}),
                "images": ("IMAGE", {"tooltip": "The batch to score, e.g. N generations of one prompt."}),
                "recognizer": (sockets.RECOGNIZER, {"tooltip": "The recognizer the reference was made with."}),
                "detector": (sockets.DETECTOR, {"tooltip": "From Load Face Detector."}),
                "threshold": threshold_input(),
                **selection_inputs(),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, indices: str | None = None) -> bool | str:
        """Checks the face index list before the run (ComfyUI still checks every other input)."""
        return index_list_answer(indices)

    def check(
        self,
        reference: Identity,
        images: torch.Tensor,
        recognizer: Recognizer,
        detector: Detector,
        threshold: float,
        order: str,
        indices: str,
        max_faces: int,
        min_size: int,
    ) -> tuple[torch.Tensor | Blocked, torch.Tensor | Blocked, int, float, int, str, torch.Tensor, str]:
        import torch

        frames = Frames.of(images, NODE)  # the one validation of this IMAGE
        count = frames.count
        threshold = check("number", threshold, "threshold", NODE)
        use_models(recognizer, detector)
        selection = make_selection(order, indices, max_faces, min_size)
        # An empty batch has no face to embed (identify refuses it): every output says so below.
        embedded = (
            identify(recognizer, frames, None, detector, selection=selection, on_progress=progress_hook(), context=NODE).identity
            if count
            else None
        )
        result = consistency_scores(reference, embedded, count, threshold)
        batch = images if images.ndim == 4 else images[None]
        passed = int(result.passed.sum())
        report = [
            {
                "index": i,
                "score": round(float(result.scores[i]), 5),
                "face": int(result.best_faces[i]),
                "has_face": bool(result.has_face[i]),
                "passed": bool(result.passed[i]),
            }
            for i in range(count)
        ]
        found = bool(result.has_face.any())
        chart = render(
            "scores", result.scores.tolist(), threshold, result.has_face.tolist(), result.best_image if found else None
        )
        best = result.best_image
        best_score = float(result.scores[best]) if count else 0.0
        # A gate that passes nothing blocks only what needs the passed images (ComfyUI skips those nodes
        # silently); an empty batch has no best image either. Everything else flows.
        passing = batch[torch.from_numpy(np.nonzero(result.passed)[0]).to(batch.device)] if passed else blocked_output()
        best_image = batch[best : best + 1] if count else blocked_output()
        info = _summary(count, passed, threshold, best if count else -1, best_score, found)
        return (
            best_image,
            passing,
            best if count else -1,
            best_score,
            passed,
            json.dumps(report),
            to_image([chart]),
            info,
        )


def _summary(count: int, passed: int, threshold: float, best: int, best_score: float, found: bool) -> str:
    """Identity Consistency's info output: how many passed, the best image, and what was blocked and why."""
    if count == 0:
        return "empty batch: no image to score; best_image and passing_images are blocked (nodes fed by them do not run)"
    best_text = f"best image {best} (score {best_score:.3f})" if found else "no face in any image"
    if passed:
        return f"{passed} of {count} image(s) passed the threshold {threshold:.2f}; {best_text}"
    return (
        f"no image passed the threshold {threshold:.2f} ({best_text}): passing_images is blocked, so the nodes fed by it "
        "do not run; best_image, scores and chart still flow"
    )
