"""Face swap: paste a source identity onto chosen faces of images, one module per concern.

- ``embedding_swapper``: ``EmbeddingSwapper``, every family (inswapper, HyperSwap, SimSwap, GHOST,
  HifiFace, AlphaFace) run from its row of ``swapper_facts``, and the crossface ``EmbeddingConverter``.
- ``inswapper``: ``InswapperSwapper``, the same class built from an emap (inswapper's constructor).
- ``loading``: ``load_swapper`` for any family (catalog name, graph facts or ``family=``); ``load_inswapper``.
- ``backends``: ``SwapperBackend``, what a swapper asks of its runner (``face_identity.runner``: onnxruntime, or
  the torch conversion checked against it).
- ``targets``: which faces to swap (all, by index, or by likeness to a reference identity).
- ``crops``: pixel boost split/merge and the face-area mask.
- ``run``: ``swap_faces`` (the chosen faces of given frames) for any swapper with the ``run.Swapper`` surface.
- ``retention``: ``measure_retention``: each swapped face re-detected and scored against the source
  identity (retention) and the face it replaced (leakage), per face and per image.
- ``selfcheck``: ``swap_checked``: each swapped face scored (``FaceCheck``), swapped again with the next
  model of a given order when its retention is below a floor.
- ``plan``: ``plan_swaps`` (pass 1 of a clip: detect, track, choose, smooth) and its ``SwapPlan``.
- ``stream``: ``detect_and_swap``, the one entry point: any batch (photos, an IMAGE tensor, a video), chunk by chunk.

Images are ``[H, W, 3]`` float32 RGB in 0..1 (ComfyUI's IMAGE convention); pixels outside the paste
mask come back bit-identical. Each family is cut and pasted as its authors do (its ``paste`` fact in
``swapper_facts``: insightface's recipe for inswapper, FaceFusion's for the others; ``SwapSettings.paste``
switches). Additions: FaceFusion-style pixel boost, a face-area mask, a swap strength that blends the
target's own identity in, and target selection by reference identity.
"""

from __future__ import annotations

from .backends import TORCH_MATCH_TOLERANCE, SwapperBackend
from .crops import PIXEL_BOOST_FACTORS, face_area_mask, landmarks_in_crop, merge_pixel_boost, split_pixel_boost
from .embedding_swapper import EmbeddingConverter, EmbeddingSwapper, blend_latents, describe_facts
from .inswapper import INSWAPPER_INPUT_SIZE, INSWAPPER_TEMPLATE, InswapperSwapper, project_embeddings
from .loading import load_converter, load_inswapper, load_swapper
from .plan import SwapPlan, plan_swaps
from .retention import FaceRetention, ImageRetention, RetentionReport, match_swapped, measure_retention
from .run import CROPS_PER_STEP, DEFAULT_SWAP, Swapper, SwapResult, SwapSettings, swap_faces
from .selfcheck import FaceCheck, swap_checked
from .stream import SwappedBatch, detect_and_swap
from .targets import EVERY_TARGET, SELECTION_MODES, SelectionMode, TargetSelection, reference_similarities, select_targets

__all__ = [
    "CROPS_PER_STEP",
    "DEFAULT_SWAP",
    "EVERY_TARGET",
    "INSWAPPER_INPUT_SIZE",
    "INSWAPPER_TEMPLATE",
    "PIXEL_BOOST_FACTORS",
    "SELECTION_MODES",
    "TORCH_MATCH_TOLERANCE",
    "EmbeddingConverter",
    "FaceCheck",
    "FaceRetention",
    "ImageRetention",
    "RetentionReport",
    "EmbeddingSwapper",
    "InswapperSwapper",
    "SelectionMode",
    "SwapPlan",
    "SwapResult",
    "SwapSettings",
    "SwappedBatch",
    "Swapper",
    "SwapperBackend",
    "TargetSelection",
    "blend_latents",
    "describe_facts",
    "detect_and_swap",
    "face_area_mask",
    "landmarks_in_crop",
    "load_converter",
    "load_inswapper",
    "load_swapper",
    "match_swapped",
    "measure_retention",
    "merge_pixel_boost",
    "plan_swaps",
    "project_embeddings",
    "reference_similarities",
    "select_targets",
    "split_pixel_boost",
    "swap_checked",
    "swap_faces",
]
