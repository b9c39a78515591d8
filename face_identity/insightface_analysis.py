"""insightface's ``FaceAnalysis`` on our detector and recognizer, as other ComfyUI packs use it (see docs/faceid.md).

``FaceAnalysis(name, root, allowed_modules, providers)`` loads the pack's models (``insightface_packs``);
``prepare`` may be called again; ``get`` returns ``insightface_app.Face`` dicts, highest detector score first;
``det_model.input_size`` set after ``prepare`` is honoured, as in insightface 0.7.x.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .align import norm_crop
from .insightface_app import DEFAULT_DET_SIZE, DEFAULT_DET_THRESH, DetectionModel, Face, check_bgr, pair
from .insightface_packs import load_pack

CPU_PROVIDER = "CPUExecutionProvider"


def provider_list(providers: str | Sequence[str] | None) -> str | tuple[str, ...]:
    """Our provider choice for insightface's ``providers``: ``None``/empty -> ``"auto"``; a list of onnxruntime
    names gets ``CPUExecutionProvider`` appended when missing (onnxruntime falls back to it anyway)."""
    if not providers:
        return "auto"
    if isinstance(providers, str):
        return providers
    names = tuple(str(name) for name in providers)
    return names if CPU_PROVIDER in names else (*names, CPU_PROVIDER)


class FaceAnalysis:
    """insightface's ``FaceAnalysis`` (detection, recognition) on our detector and recognizer.

    Args:
        name: the model pack (``buffalo_l``, ``antelopev2``, or another folder name), or a folder path.
        root: insightface's root; the pack is looked for in ``<root>/models/<name>/`` and ``<root>/models/<name>/<name>/``.
        allowed_modules: the tasks to load (``["detection"]``, ``["detection", "recognition"]``; ``None`` = all);
            insightface's other tasks (landmarks, gender/age) are not provided and are skipped with a log line.
        providers: onnxruntime provider names (``["CUDAExecutionProvider", "CPUExecutionProvider"]``) or one of
            our choices (``"auto"``, ``"cpu"``...); ``None`` = ``"auto"``.

    Raises:
        ModelNotAvailableError: the pack is nowhere on disk and cannot be downloaded; the message says where to put it.
        ModelMismatchError: the pack folder holds no detector.
    """

    def __init__(
        self,
        name: str = "buffalo_l",
        root: str = "~/.insightface",
        allowed_modules: Iterable[str] | None = None,
        providers: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        allowed = None if allowed_modules is None else list(allowed_modules)
        self.models: dict[str, Any] = load_pack(name, root, allowed, provider_list(providers))
        self.det_model: DetectionModel = self.models["detection"]
        self.det_thresh = DEFAULT_DET_THRESH
        self.det_size = DEFAULT_DET_SIZE

    def __repr__(self) -> str:
        return f"FaceAnalysis({', '.join(f'{task}={model!r}' for task, model in self.models.items())})"

    def prepare(self, ctx_id: int = 0, det_thresh: float = DEFAULT_DET_THRESH, det_size: object = DEFAULT_DET_SIZE) -> None:
        """Set the detection threshold and size; may be called again on the same object (``ctx_id`` is ignored)."""
        self.det_thresh = det_thresh
        self.det_size = pair(det_size if det_size is not None else DEFAULT_DET_SIZE, "det_size")
        for model in self.models.values():
            if model.taskname == "detection":
                model.prepare(ctx_id, input_size=self.det_size, det_thresh=det_thresh)
            else:
                model.prepare(ctx_id)

    def get(self, img: NDArray[np.uint8], max_num: int = 0, det_metric: str = "default") -> list[Face]:
        """The faces of one ``[H, W, 3]`` uint8 BGR image at ``det_model.input_size``, highest score first.

        Each ``Face`` has ``bbox``, ``kps``, ``det_score`` and, when a recognizer is loaded, the raw ``embedding``
        (``normed_embedding`` by attribute). ``[]`` when none is found.
        """
        found = self.det_model.detect_faces(img, max_num=max_num, metric=det_metric)
        faces = [
            Face(
                bbox=np.array(face.bbox, dtype=np.float32),
                kps=np.array(face.landmarks, dtype=np.float32),
                det_score=np.float32(face.score),
            )
            for face in found
        ]
        recognition = self.models.get("recognition")
        if recognition is not None and faces:
            bgr = check_bgr(img)
            crops = np.stack([norm_crop(bgr, face.kps, recognition.input_size[0]) for face in faces])
            for face, vector in zip(faces, recognition.get_feat(crops), strict=True):
                face.embedding = vector
        return faces

    def draw_on(self, img: NDArray[np.uint8], faces: Sequence[Face]) -> NDArray[np.uint8]:
        """A copy of ``img`` with each face's box (red) and keypoints drawn."""
        import cv2

        out = np.array(img, copy=True)
        for face in faces:
            x1, y1, x2, y2 = (int(v) for v in face.bbox)
            cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), 2)
            for x, y in np.asarray(face.kps if face.kps is not None else []).astype(int):
                cv2.circle(out, (int(x), int(y)), 1, (0, 255, 0), 2)
        return out
