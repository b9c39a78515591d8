"""Identity Consistency: score a generated batch against a reference identity; best-of-N and gating."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..face_identity import ArcFaceRecognizer, FaceDetector, Identity, analyze_stream, consistency_scores, score_chart
from . import sockets
from .comfy import Progress
from .faces import batch_size_of, make_selection, selection_inputs
from .identity import IDENTITY_CATEGORY, threshold_input
from .tensors import to_image


class IdentityConsistency:
    DESCRIPTION = (
        "Scores every image of a batch by how much its best face looks like the reference identity; picks the best "
        "image (best-of-N) and passes on the images at or above the threshold (gate). Images with no face score 0 "
        "and are flagged, never an error."
    )
    CATEGORY = IDENTITY_CATEGORY
    FUNCTION = "check"
    RETURN_TYPES = ("IMAGE", "IMAGE", "INT", "FLOAT", "INT", "STRING", "IMAGE")
    RETURN_NAMES = ("best_image", "passing_images", "best_index", "best_score", "pass_count", "scores", "chart")
    OUTPUT_TOOLTIPS = (
        "The image whose face is most similar to the reference.",
        "The images at or above the threshold, in batch order (an empty batch when none passes).",
        "Batch index of the best image.",
        "Similarity of the best image (0 when no image has a face).",
        "How many images passed.",
        "JSON list: per image its score, the face index that scored, has_face and passed.",
        "Bar chart of the per-image scores with the threshold (grey = no face).",
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

    def check(
        self,
        reference: Identity,
        images: Any,
        recognizer: ArcFaceRecognizer,
        detector: FaceDetector,
        threshold: float,
        order: str,
        indices: str,
        max_faces: int,
        min_size: int,
    ) -> tuple[Any, Any, int, float, int, str, Any]:
        import torch

        count = batch_size_of(images)
        progress = Progress(count)
        selection = make_selection(order, indices, max_faces, min_size)
        analysis = analyze_stream(detector, recognizer, images, selection, on_frames_done=progress.per_count())
        result = consistency_scores(reference, analysis.identity, count, threshold)
        batch = images if images.ndim == 4 else images[None]
        passing = batch[torch.from_numpy(np.nonzero(result.passed)[0]).to(batch.device)]
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
        chart = score_chart(
            result.scores.tolist(), threshold, result.has_face.tolist(), result.best_image if result.has_face.any() else None
        )
        best = result.best_image
        return (
            batch[best : best + 1],
            passing,
            best,
            float(result.scores[best]),
            int(result.passed.sum()),
            json.dumps(report),
            to_image([chart]),
        )
