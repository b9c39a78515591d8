"""onnxruntime sessions with explicit providers, the providers actually active, and ONNX signature checks.

onnxruntime silently falls back to the CPU when a GPU provider cannot load (microsoft/onnxruntime#23372).
``open_session`` compares what was asked for with ``session.get_providers()`` and warns loudly, or
raises ``ProviderUnavailableError`` when the caller asked for strict GPU use.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from .errors import InvalidArgumentError, ModelFileError, ModelMismatchError, ProviderUnavailableError
from .model_hints import role_hint
from .onnx_graph import load_model_proto
from .roles import ROLE_WORDS, Role

logger = logging.getLogger(__name__)

ProviderChoice = Literal["auto", "cuda", "tensorrt", "rocm", "migraphx", "directml", "coreml", "openvino", "cpu"]
PROVIDER_CHOICES: tuple[str, ...] = get_args(ProviderChoice)
"""``open_session``'s provider choices: the values of ``ProviderChoice``."""
BackendChoice = Literal["auto", "onnxruntime", "torch"]
BACKEND_CHOICES: tuple[str, ...] = get_args(BackendChoice)
"""What runs a model (``load_recognizer``/``load_swapper``'s ``backend``): onnxruntime, a torch conversion, or auto."""
TorchPrecision = Literal["float32", "float16", "bfloat16"]
TORCH_PRECISIONS: tuple[str, ...] = get_args(TorchPrecision)
"""Precisions a torch backend runs in."""
CPU_PROVIDER = "CPUExecutionProvider"
_PROVIDER_NAMES: dict[str, tuple[str, ...]] = {
    "cuda": ("CUDAExecutionProvider",),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider"),
    "rocm": ("ROCMExecutionProvider",),
    "migraphx": ("MIGraphXExecutionProvider",),
    "directml": ("DmlExecutionProvider",),
    "coreml": ("CoreMLExecutionProvider",),
    "openvino": ("OpenVINOExecutionProvider",),
    "cpu": (),
}
_AUTO_GPU_ORDER = ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")

Dim = int | str | None


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: its name, shape (int, or a name/None for dynamic axes) and ONNX type."""

    name: str
    shape: tuple[Dim, ...]
    type: str

    @property
    def is_float16(self) -> bool:
        return self.type == "tensor(float16)"


@dataclass(frozen=True)
class ModelSession:
    """An onnxruntime session and what it really runs on."""

    session: Any
    path: Path
    requested_providers: tuple[str, ...]
    active_providers: tuple[str, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    @property
    def on_gpu(self) -> bool:
        return bool(self.active_providers) and self.active_providers[0] != CPU_PROVIDER

    def describe_providers(self) -> str:
        """``"CUDAExecutionProvider, CPUExecutionProvider"`` style text of the active providers."""
        return ", ".join(self.active_providers)

    @property
    def has_session(self) -> bool:
        """False for a ``graph_session`` (the torch backend runs the model; no onnxruntime session is open)."""
        return self.session is not None

    def run(self, feeds: dict[str, Any], output_names: Sequence[str] | None = None) -> list[Any]:
        if self.session is None:
            raise ProviderUnavailableError(f"{self.path.name} has no onnxruntime session here (it runs with the torch backend)")
        return list(self.session.run(list(output_names) if output_names else None, feeds))

    def custom_metadata(self) -> dict[str, str]:
        """The model file's ONNX ``metadata_props`` (key -> value); empty when it has none."""
        if self.session is None:
            return {entry.key: entry.value for entry in load_model_proto(self.path).metadata_props}
        try:
            return dict(self.session.get_modelmeta().custom_metadata_map)
        except Exception:  # a session stand-in without model metadata
            return {}


EMBEDDING_SPACE_METADATA_KEY = "face_identity.embedding_space"
"""ONNX ``metadata_props`` key with which a swapper file states the identity space its projection takes.

Honoured for swappers only (what they accept), never for recognizers (what they produce), so a
file cannot claim a real recognizer's space. The test stand-ins use it to pair a stand-in swapper
with the stand-in recognizer whose ``<stem>@<crc32>`` identities it is fed.
"""


def declared_embedding_space(model: ModelSession) -> str | None:
    """The identity space a swapper file declares in its metadata (``EMBEDDING_SPACE_METADATA_KEY``), if any."""
    value = model.custom_metadata().get(EMBEDDING_SPACE_METADATA_KEY, "").strip()
    return value or None


def requested_provider_list(choice: str, available: Sequence[str]) -> list[str]:
    """The provider list to hand to onnxruntime for a user choice, CPU always last.

    ``auto`` takes the first GPU provider this onnxruntime build offers (CUDA, ROCm, DirectML,
    CoreML), then CPU. An explicit GPU choice is asked for even when this build lacks it, so the
    caller learns about it (``open_session`` warns or raises).
    """
    key = choice.lower()
    if key not in _PROVIDER_NAMES and key != "auto":
        raise InvalidArgumentError(f"unknown provider choice {choice!r}; use one of: {', '.join(PROVIDER_CHOICES)}")
    if key == "auto":
        gpu = [name for name in _AUTO_GPU_ORDER if name in available][:1]
        return [*gpu, CPU_PROVIDER]
    return [*_PROVIDER_NAMES[key], CPU_PROVIDER]


def _provider_options(name: str, device_id: int, cache_dir: Path | None) -> dict[str, Any]:
    if name == "CUDAExecutionProvider":
        return {"device_id": device_id}
    if name == "TensorrtExecutionProvider":
        options: dict[str, Any] = {"device_id": device_id, "trt_fp16_enable": True}
        if cache_dir is not None:
            options.update(
                trt_engine_cache_enable=True,
                trt_engine_cache_path=str(cache_dir),
                trt_timing_cache_enable=True,
                trt_timing_cache_path=str(cache_dir),
            )
        return options
    if name in ("ROCMExecutionProvider", "MIGraphXExecutionProvider", "DmlExecutionProvider"):
        return {"device_id": device_id}
    return {}


def _preload_gpu_libraries(ort: Any) -> None:
    """Let onnxruntime (>= 1.21) load CUDA/cuDNN from torch's or nvidia's site-packages before the session."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload()
    except Exception as error:  # preload is best effort; the provider check below reports the outcome
        logger.debug("onnxruntime.preload_dlls() failed: %s", error)


def _torch_sees_cuda() -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken CUDA install must not stop a CPU run
        return False


def _tensor_infos(nodes: Sequence[Any]) -> tuple[TensorInfo, ...]:
    return tuple(TensorInfo(node.name, tuple(node.shape), node.type) for node in nodes)


ONNXRUNTIME_INSTALL_HINT = (
    "pip install onnxruntime (CPU) or onnxruntime-gpu (NVIDIA GPU; only one of the two) into ComfyUI's Python, "
    "or run the pack's install.py, which picks the right one"
)


def onnxruntime_available() -> bool:
    """Whether the ``onnxruntime`` package can be imported (ComfyUI installs do not always have it)."""
    import importlib.util

    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"] is not None
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):
        return False


def _onnx_type(elem_type: int) -> str:
    import onnx

    return f"tensor({onnx.TensorProto.DataType.Name(elem_type).lower()})"


def graph_session(path: str | os.PathLike[str], note: str = "torch backend") -> ModelSession:
    """A ``ModelSession`` without an onnxruntime session: the file's inputs and outputs read with ``onnx``.

    For models the torch backend runs (``load_recognizer``/``load_detector``/``load_swapper`` use it
    when onnxruntime is not installed, or once the torch backend is chosen, so no onnxruntime
    session keeps a second copy of the weights). ``run`` raises; ``active_providers`` is empty and
    ``requested_providers`` holds ``note``.

    Raises:
        ModelFileError: the file is missing or not a readable ONNX model.
    """
    model_path = Path(path)
    if not model_path.is_file():
        raise ModelFileError(f"model file {model_path} does not exist")
    graph = load_model_proto(model_path).graph
    initializers = {tensor.name for tensor in graph.initializer}

    def info(value: Any) -> TensorInfo:
        tensor = value.type.tensor_type
        dims = tuple(int(dim.dim_value) if dim.HasField("dim_value") else (dim.dim_param or None) for dim in tensor.shape.dim)
        return TensorInfo(value.name, dims, _onnx_type(tensor.elem_type))

    return ModelSession(
        session=None,
        path=model_path,
        requested_providers=(note,),
        active_providers=(),
        inputs=tuple(info(value) for value in graph.input if value.name not in initializers),
        outputs=tuple(info(value) for value in graph.output),
    )


def session_for_backend(
    path: str | os.PathLike[str],
    backend: str,
    providers: str | Sequence[str] = "auto",
    *,
    strict: bool = False,
    device_id: int = 0,
) -> tuple[ModelSession, str]:
    """The session a loader opens for ``backend`` (one of ``BACKEND_CHOICES``), and the backend that then applies.

    With onnxruntime installed: an onnxruntime session (``open_session``), the backend unchanged; a
    loader that then runs the torch conversion checks it against this session and replaces it with
    ``graph_session``. Without onnxruntime, ``auto`` and ``torch`` get a ``graph_session`` and
    ``"torch"`` (ComfyUI always has torch); ``onnxruntime`` raises.

    Raises:
        ModelFileError, ProviderUnavailableError: as ``open_session`` / ``graph_session``.
    """
    if backend != "onnxruntime" and not onnxruntime_available():
        return graph_session(path, "torch backend (onnxruntime not installed)"), "torch"
    return open_session(path, providers, strict=strict, device_id=device_id), backend


def open_session(
    path: str | os.PathLike[str],
    providers: str | Sequence[str] = "auto",
    *,
    strict: bool = False,
    device_id: int = 0,
    intra_op_threads: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ModelSession:
    """Open an ONNX model with onnxruntime and report the providers really in use.

    Args:
        path: the ``.onnx`` file.
        providers: a choice from ``PROVIDER_CHOICES`` or an explicit list of onnxruntime provider names.
        strict: raise instead of warning when a requested GPU provider is not active.
        device_id: GPU index for GPU providers.
        intra_op_threads: CPU threads for one call (default: onnxruntime's choice).
        cache_dir: where TensorRT keeps its engine and timing caches.

    Raises:
        ModelFileError: the file is missing or not a valid ONNX model.
        ProviderUnavailableError: strict and a requested GPU provider is not active, or onnxruntime
            is not installed (the message says how to install it, or to use the torch backend).
    """
    if not onnxruntime_available():
        raise ProviderUnavailableError(
            f"{Path(path).name} needs onnxruntime, which is not installed: {ONNXRUNTIME_INSTALL_HINT}. "
            "Or choose backend auto/torch, which runs the model with torch."
        )
    import onnxruntime as ort

    model_path = Path(path)
    if not model_path.is_file():
        raise ModelFileError(f"model file {model_path} does not exist")
    available = list(ort.get_available_providers())
    if isinstance(providers, str):
        requested = requested_provider_list(providers, available)
        if providers.lower() == "auto" and requested == [CPU_PROVIDER] and _torch_sees_cuda():
            logger.warning(
                "a CUDA GPU is present but this onnxruntime has no CUDA provider, so %s runs on the CPU. "
                "Install onnxruntime-gpu (and uninstall onnxruntime) to use the GPU, or use the torch backend.",
                model_path.name,
            )
    else:
        requested = list(providers) if providers else [CPU_PROVIDER]
    missing = [name for name in requested if name not in available]
    if missing:
        message = (
            f"{', '.join(missing)} requested for {model_path.name} but this onnxruntime build only offers "
            f"{', '.join(available)}. Install the matching onnxruntime package (onnxruntime-gpu for CUDA, "
            "onnxruntime-directml for DirectML, ...) with only one onnxruntime package installed."
        )
        if strict and any(name != CPU_PROVIDER for name in missing):
            raise ProviderUnavailableError(message)
        logger.warning(message + " Falling back to %s.", ", ".join(n for n in requested if n in available))
        requested = [name for name in requested if name in available] or [CPU_PROVIDER]
    if any(name in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for name in requested):
        _preload_gpu_libraries(ort)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if intra_op_threads:
        options.intra_op_num_threads = int(intra_op_threads)
    provider_cache = Path(cache_dir) if cache_dir is not None else None
    provider_list = [(name, _provider_options(name, device_id, provider_cache)) for name in requested]
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=provider_list)
    except Exception as error:  # onnxruntime raises its own unexported exception types
        text = str(error)
        if "protobuf" in text.lower() or "INVALID_PROTOBUF" in text or "Load model" in text:
            raise ModelFileError(
                f"{model_path} is not a valid ONNX model ({text.splitlines()[0][:200]}). "
                "It may be truncated or corrupt: delete it and download it again."
            ) from error
        raise ModelFileError(f"onnxruntime could not open {model_path}: {text[:500]}") from error
    active = tuple(session.get_providers())
    wanted_gpu = [name for name in requested if name != CPU_PROVIDER]
    if wanted_gpu and (not active or active[0] != wanted_gpu[0]):
        on_cpu = not active or active[0] not in wanted_gpu
        message = (
            f"{model_path.name}: asked for {', '.join(wanted_gpu)} but onnxruntime runs it on "
            f"{', '.join(active)}. The {wanted_gpu[0]} failed to load (CUDA/cuDNN/TensorRT version mismatch, or "
            "both onnxruntime and onnxruntime-gpu installed); see the onnxruntime log above."
        )
        if strict and on_cpu:
            raise ProviderUnavailableError(message)
        logger.warning("!!! %s", message)
    return ModelSession(
        session=session,
        path=model_path,
        requested_providers=tuple(requested),
        active_providers=active,
        inputs=_tensor_infos(session.get_inputs()),
        outputs=_tensor_infos(session.get_outputs()),
    )


@dataclass(frozen=True)
class Signature:
    """What a model's inputs and outputs say it is.

    ``family`` names the detector decoder (``scrfd`` for SCRFD/RetinaFace-style anchor outputs,
    ``yoloface`` for YOLOv8-face rows) and is ``None`` for other kinds.
    """

    kind: Role | Literal["unknown"]
    family: str | None
    detail: str


def _static(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def classify_signature(inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> Signature:
    """Tell recognizer, detector and swapper apart by their ONNX inputs and outputs.

    - swapper: two inputs, ``target`` ``[1,3,S,S]`` and ``source`` ``[1,D]`` (inswapper).
    - recognizer: one ``[N,3,S,S]`` input (S >= 112, multiple of 16) and one ``[N,D]`` output.
    - detector ``scrfd``: one image input and 6, 9, 10 or 15 outputs (insightface's SCRFD/RetinaFace layouts).
    - detector ``yoloface``: one ``[1,20,A]`` (or ``[1,A,20]``) output: cx, cy, w, h, score, 5 x (x, y, visibility).
    """
    names = {info.name for info in inputs}
    if len(inputs) == 2 and {"target", "source"} <= names:
        return Signature("swapper", None, "inputs target + source")
    if len(inputs) == 2:
        ranks = sorted(len(info.shape) for info in inputs)
        if ranks == [2, 4]:
            return Signature("swapper", None, "an image input and a vector input")
    if len(inputs) != 1:
        return Signature("unknown", None, f"{len(inputs)} inputs")
    image = inputs[0]
    if len(image.shape) != 4 or _static(image.shape[1]) not in (3, None):
        return Signature("unknown", None, f"input shape {list(image.shape)}")
    height, width = _static(image.shape[2]), _static(image.shape[3])
    square = height is not None and height == width and height >= 112 and height % 16 == 0
    if len(outputs) == 1 and len(outputs[0].shape) == 2 and _static(outputs[0].shape[1]) == 136:
        return Signature(
            "unknown",
            None,
            "a 68-point landmarker ([N,136] output), for the area masks: load_face_model(path, 'landmarker_pfld') or Load Face Landmarker",
        )
    if len(outputs) == 1 and len(outputs[0].shape) == 2 and square:
        return Signature("recognizer", None, f"[N,3,{height},{width}] -> {list(outputs[0].shape)}")
    if len(outputs) == 1 and len(outputs[0].shape) == 3:
        dims = [_static(d) for d in outputs[0].shape]
        if dims[1] == 20 or dims[2] == 20:
            return Signature("detector", "yoloface", f"output {list(outputs[0].shape)}")
    if len(outputs) in (6, 9, 10, 15):
        return Signature("detector", "scrfd", f"{len(outputs)} outputs")
    output_names = {info.name for info in outputs}
    if {"cls_8", "obj_8", "bbox_8"} <= output_names:
        return Signature("unknown", None, "a YuNet detector (cls/obj/bbox/kps outputs), which is not supported")
    last_dims = sorted(_static(o.shape[-1]) or 0 for o in outputs if len(o.shape) == 3)
    if len(outputs) == 3 and last_dims == [2, 4, 10]:
        return Signature(
            "unknown", None, "a RetinaFace-mobilenet detector (biubug6 loc/conf/landms outputs), which is not supported"
        )
    return Signature("unknown", None, f"{len(outputs)} outputs {[list(o.shape) for o in outputs][:4]}")


def require_kind(model: ModelSession, expected: Role) -> Signature:
    """Check a session's signature against the role the caller wants.

    Raises:
        ModelMismatchError: e.g. "det_10g.onnx is a face detector, not a face recognizer (...)", followed by
            what the role supports and the next command (``model_hints.role_hint``).
    """
    signature = classify_signature(model.inputs, model.outputs)
    if signature.kind != expected:
        found = f"is {ROLE_WORDS[signature.kind]}, not" if signature.kind != "unknown" else "is not"
        raise ModelMismatchError(f"{model.path.name} {found} {ROLE_WORDS[expected]} ({signature.detail}). {role_hint(expected)}")
    return signature
