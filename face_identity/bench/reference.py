"""The reference the benchmark compares with: insightface 2.1's own code, run as its ``FaceAnalysis`` runs it.

``FaceAnalysis.get`` detects with ``model_zoo.SCRFD``, then for each face calls ``ArcFaceONNX.get``:
``utils.face_align.norm_crop`` and one onnxruntime call per face. The reference here calls exactly
those classes and functions on the same model files; nothing of ours is used. insightface is a
test/benchmark-only dependency (``pip install --no-deps "insightface==2.1"`` plus scikit-image and
scipy, so that its ``opencv-python`` requirement does not replace ``opencv-python-headless``). When it
is not importable the benchmark says so and leaves the reference rows out.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

INSTALL_HINT = 'python -m pip install --no-deps "insightface==2.1" && python -m pip install scikit-image scipy'


def insightface_missing() -> str | None:
    """``None`` when insightface's model_zoo and face_align import, else why not (with the install command)."""
    try:
        import insightface  # noqa: F401
        from insightface.model_zoo import SCRFD, ArcFaceONNX  # noqa: F401
        from insightface.utils import face_align  # noqa: F401
    except ImportError as error:
        return f"insightface is not importable ({error}); install it with: {INSTALL_HINT}"
    return None


def insightface_version() -> str | None:
    """The installed insightface version, ``None`` when it is not importable."""
    if insightface_missing() is not None:
        return None
    import insightface

    return str(insightface.__version__)


class InsightFaceReference:
    """insightface's per-face loop on BGR images: its SCRFD, its ``norm_crop``, its ``ArcFaceONNX``.

    ``spinning=False`` turns onnxruntime's idle-thread spinning off in both sessions (insightface leaves
    it on; two alternating sessions whose threads spin slow each other down on few cores).
    """

    def __init__(self, detector_path: Path | None, recognizer_path: Path, providers: list[str], spinning: bool = True) -> None:
        import onnxruntime
        from insightface.model_zoo import SCRFD, ArcFaceONNX

        options = onnxruntime.SessionOptions()
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        context = 0 if providers[0] != "CPUExecutionProvider" else -1

        def session(path: Path) -> Any:
            return onnxruntime.InferenceSession(str(path), options, providers=providers)

        self.recognizer = ArcFaceONNX(model_file=str(recognizer_path), session=session(recognizer_path))
        self.recognizer.prepare(context)
        self.detector = None
        if detector_path is not None:
            self.detector = SCRFD(model_file=str(detector_path), session=session(detector_path))
            # what FaceAnalysis.prepare(ctx_id, det_thresh=0.5, det_size=(640, 640)) sets
            self.detector.prepare(context, input_size=(640, 640), det_thresh=0.5)

    def embed_one(self, crop_bgr: np.ndarray) -> np.ndarray:
        """Raw embedding ``[D]`` of one aligned BGR crop (``ArcFaceONNX.get_feat``)."""
        return np.asarray(self.recognizer.get_feat(crop_bgr)).reshape(-1)

    def analyze(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        """Unit-length embeddings of every face of one BGR image, in insightface's order (``FaceAnalysis.get``)."""
        from insightface.app.common import Face

        assert self.detector is not None
        boxes, landmarks = self.detector.detect(image_bgr, max_num=0, metric="default")
        embeddings = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # scikit-image 0.26 deprecates the call norm_crop makes
            for index in range(boxes.shape[0]):
                face = Face(bbox=boxes[index, :4], kps=landmarks[index], det_score=boxes[index, 4])
                self.recognizer.get(image_bgr, face)
                embeddings.append(np.asarray(face.normed_embedding, dtype=np.float32))
        return embeddings
