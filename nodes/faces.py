"""Face nodes: detect, align, paste back, preview."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..face_identity import (
    Detector,
    FaceBatch,
    FaceSelection,
    Frames,
    InvalidArgumentError,
    align_frames,
    check,
    choices,
    detect_faces,
    paste_aligned,
    render,
)
from . import sockets
from .comfy import Progress, use_models
from .tensors import image_size, to_image, to_mask
from .validation import index_list_answer

if TYPE_CHECKING:  # torch is imported inside the node functions, not at pack import
    import torch

FACES_CATEGORY = f"{sockets.CATEGORY}/faces"


def selection_inputs() -> dict[str, Any]:
    """The face-selection widgets shared by every node that detects."""
    return {
        "order": (
            list(choices().face_orders),
            {
                "default": choices().default_order,
                "tooltip": "Face order within each image; index 0 is the first face in this order.",
            },
        ),
        "indices": (
            "STRING",
            {"default": "", "tooltip": 'Keep only these face indices (in the chosen order), e.g. "0,2". Empty = all faces.'},
        ),
        "max_faces": (
            "INT",
            {"default": 0, "min": 0, "max": 1000, "tooltip": "Keep at most this many faces per image (0 = no limit)."},
        ),
        "min_size": (
            "INT",
            {"default": 0, "min": 0, "max": 8192, "tooltip": "Ignore faces whose box is smaller than this many pixels."},
        ),
    }


def make_selection(order: str, indices: str = "", max_faces: int = 0, min_size: int = 0) -> FaceSelection:
    parsed = check("indices", indices)
    return FaceSelection(order, tuple(parsed) if parsed is not None else None, int(max_faces), float(min_size))


def detect_in_frames(detector: Detector, frames: Frames, selection: FaceSelection, node: str) -> FaceBatch:
    """Selected faces per frame, found chunk by chunk, with a progress bar."""
    progress = Progress(frames.count)
    return detect_faces(detector, frames, selection, on_frames_done=progress.per_count(), context=node)


def check_faces_match(faces: FaceBatch, frames: Frames, node: str) -> None:
    """Raise when FACES were detected on other images than the IMAGE given to ``node``."""
    height, width = frames.size or (0, 0)
    batch = frames.count
    sizes = faces.image_sizes
    if len(faces) != batch or (sizes and any(size != (height, width) for size in sizes)):
        raise InvalidArgumentError(
            f"{node}: FACES describe {len(faces)} image(s) of size {sizes[:1]}, but the IMAGE input holds {batch} of "
            f"{height}x{width}. Connect the same images that went into Face Detect."
        )


def faces_summary(faces: FaceBatch) -> str:
    counts = [len(image_faces) for image_faces in faces.faces_per_image]
    empty = [str(i) for i, count in enumerate(counts) if count == 0]
    text = f"{faces.face_count} face(s) in {len(counts)} image(s): " + ", ".join(str(c) for c in counts[:64])
    return text + (f"; no face in image(s) {', '.join(empty[:64])}" if empty else "")


class FaceDetect:
    DESCRIPTION = (
        "Finds faces and their 5 landmarks in every image of the batch, in a fixed order. Images without a face keep an "
        "empty entry (never an error), so one bad frame does not stop a batch."
    )
    CATEGORY = FACES_CATEGORY
    FUNCTION = "detect"
    RETURN_TYPES = (sockets.FACES, "INT", "STRING")
    RETURN_NAMES = ("faces", "face_count", "info")
    OUTPUT_TOOLTIPS = (
        "Faces per image, in the chosen order.",
        "Faces found in the whole batch.",
        "Faces per image and the images without one.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "Images to search."}),
                "detector": (sockets.DETECTOR, {"tooltip": "From Load Face Detector."}),
                **selection_inputs(),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, indices: str | None = None) -> bool | str:
        """Checks the face index list before the run (ComfyUI still checks every other input)."""
        return index_list_answer(indices)

    def detect(
        self, image: torch.Tensor, detector: Detector, order: str, indices: str, max_faces: int, min_size: int
    ) -> tuple[FaceBatch, int, str]:
        use_models(detector)
        # Frames are converted chunk by chunk, so a long video batch never sits on the host twice.
        frames = Frames.of(image, "Face Detect")  # the one validation of this IMAGE
        faces = detect_in_frames(detector, frames, make_selection(order, indices, max_faces, min_size), "Face Detect")
        return faces, faces.face_count, faces_summary(faces)


class FaceAlign:
    DESCRIPTION = (
        "Cuts an aligned crop of every face (insightface's alignment: similarity transform of the 5 landmarks onto the "
        "template, bilinear warp, black border). 112 px ArcFace crops by default."
    )
    CATEGORY = FACES_CATEGORY
    FUNCTION = "align"
    RETURN_TYPES = ("IMAGE", sockets.FACES, "MASK")
    RETURN_NAMES = ("aligned", "faces", "mask")
    OUTPUT_TOOLTIPS = (
        "One crop per face, image by image (an empty batch when there is no face).",
        "The faces, each remembering how its crop was cut (for Face Paste and Face Embed).",
        "Per crop: 1 where the crop shows the image, 0 in the black border.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images the faces are in."}),
                "template": (
                    list(choices().templates),
                    {
                        "default": "arcface_112",
                        "tooltip": "5-point template: arcface_112 for ArcFace, arcface_128 for inswapper, ffhq_512 for face restorers.",
                    },
                ),
                "crop_size": (
                    "INT",
                    {
                        "default": 112,
                        "min": 16,
                        "max": 2048,
                        "step": 1,
                        "tooltip": "Side of the square crop in pixels (the template scales with it).",
                    },
                ),
            },
            "optional": {
                "faces": (sockets.FACES, {"tooltip": "Faces from Face Detect on the same images."}),
                "detector": (sockets.DETECTOR, {"tooltip": "Or a detector: all faces are found here, largest first."}),
            },
        }

    def align(
        self,
        image: torch.Tensor,
        template: str,
        crop_size: int,
        faces: FaceBatch | None = None,
        detector: Detector | None = None,
    ) -> tuple[torch.Tensor, FaceBatch, torch.Tensor]:
        if faces is None and detector is None:
            raise InvalidArgumentError("Face Align needs FACES (from Face Detect) or a detector connected")
        frames = Frames.of(image, "Face Align")  # the one validation of this IMAGE
        if faces is None:
            assert detector is not None  # faces and detector both None was refused above
            use_models(detector)
            faces = detect_in_frames(detector, frames, FaceSelection(), "Face Align")
        else:
            check_faces_match(faces, frames, "Face Align")
        batch = align_frames(frames, faces, template, crop_size, "Face Align")
        size = (crop_size, crop_size)
        return to_image(batch.crops, size), batch.faces, to_mask(batch.masks, size)


class FacePaste:
    DESCRIPTION = (
        "Pastes (edited, restored or upscaled) aligned crops back onto their source images with insightface's feathered "
        "mask. Pixels outside the mask are left exactly as they were."
    )
    CATEGORY = FACES_CATEGORY
    FUNCTION = "paste"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    OUTPUT_TOOLTIPS = ("The source images with the crops pasted in.", "Where each image was changed (0..1).")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The source images the crops were cut from."}),
                "aligned": ("IMAGE", {"tooltip": "The crops, one per face in FACES order; any square size (e.g. upscaled)."}),
                "faces": (sockets.FACES, {"tooltip": "From Face Align: the faces with their crop matrices."}),
                "blur_scale": (
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.1,
                        "max": 5.0,
                        "step": 0.05,
                        "tooltip": "Feather width relative to insightface's (1 = same).",
                    },
                ),
            }
        }

    def paste(
        self, image: torch.Tensor, aligned: torch.Tensor, faces: FaceBatch, blur_scale: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        source = Frames.of(image, "Face Paste")  # each IMAGE validated once
        check_faces_match(faces, source, "Face Paste")
        blur_scale = check("number", blur_scale, "blur_scale", "Face Paste", 0.0)
        progress = Progress(faces.face_count)
        crops = Frames.of(aligned, "Face Paste (aligned)")  # each IMAGE validated once
        frames, masks = paste_aligned(source, crops, faces, blur_scale, progress.step, "Face Paste")
        size = image_size(image)
        return to_image(frames, size), to_mask(masks, size)


class PreviewFaces:
    DESCRIPTION = "Draws each face's box, index (the order used by every node), score and 5 landmarks, to debug face order."
    CATEGORY = FACES_CATEGORY
    FUNCTION = "preview"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The images with the faces drawn on them.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images the faces were found in."}),
                "faces": (sockets.FACES, {"tooltip": "From Face Detect or Face Align."}),
                "show_scores": ("BOOLEAN", {"default": True, "tooltip": "Print the detector score next to the index."}),
                "show_landmarks": (
                    "BOOLEAN",
                    {"default": True, "tooltip": "Draw the 5 landmarks (image-left eye red, right eye blue, nose green)."},
                ),
            }
        }

    def preview(self, image: torch.Tensor, faces: FaceBatch, show_scores: bool, show_landmarks: bool) -> tuple[torch.Tensor]:
        frames = Frames.of(image, "Preview Faces")  # the one validation of this IMAGE
        check_faces_match(faces, frames, "Preview Faces")
        drawn = render("faces", frames, faces, show_scores, show_landmarks, "Preview Faces")
        return (to_image(drawn, image_size(image)),)
