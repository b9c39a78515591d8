"""Device and precision policy for converted graphs: names -> torch devices/dtypes, what a device can run."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import InvalidArgumentError, ModelConversionError

logger = logging.getLogger(__name__)


DTYPE_NAMES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
"""Accepted precision names -> torch dtype attribute names."""


def resolve_dtype(dtype: Any) -> Any:
    """``"float16"``/``"fp16"``/``torch.float16``... -> the torch dtype.

    Raises:
        InvalidArgumentError: not one of float32, float16, bfloat16.
    """
    import torch

    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise InvalidArgumentError(f"torch backend precision must be float32, float16 or bfloat16, got {dtype}")
        return dtype
    name = DTYPE_NAMES.get(str(dtype).lower().replace("torch.", ""))
    if name is None:
        raise InvalidArgumentError(f"unknown precision {dtype!r}; use float32, float16 or bfloat16")
    return getattr(torch, name)


def default_torch_device() -> Any:
    """CUDA (or ROCm) device 0 when available, else Apple MPS, else Intel XPU, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return torch.device("xpu")
    return torch.device("cpu")


def resolve_device(device: Any) -> Any:
    """``None`` -> ``default_torch_device()``; a string or ``torch.device`` -> ``torch.device``.

    Raises:
        InvalidArgumentError: a string torch does not understand.
    """
    import torch

    if device is None:
        return default_torch_device()
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InvalidArgumentError(f"unknown torch device {device!r}: {error}") from error


def device_problem(device: Any) -> str | None:
    """Why a tensor cannot be put on ``device`` (e.g. "Torch not compiled with CUDA enabled"), or ``None`` when it can."""
    import torch

    try:
        torch.zeros(1, device=device)
        return None
    except (RuntimeError, AssertionError, TypeError) as error:  # torch raises AssertionError for a CPU-only build
        return str(error).splitlines()[0] if str(error) else type(error).__name__


def dtype_supported(device: Any, dtype: Any) -> bool:
    """Whether a small convolution runs on ``device`` in ``dtype`` (probed: half support differs by device and build)."""
    import torch
    import torch.nn.functional as functional

    torch_dtype = resolve_dtype(dtype)
    if torch_dtype == torch.float32:
        return True
    try:
        with torch.inference_mode():
            x = torch.ones((1, 2, 4, 4), dtype=torch_dtype, device=device)
            weight = torch.ones((2, 2, 3, 3), dtype=torch_dtype, device=device)
            result = functional.conv2d(x, weight, padding=1)
            return bool(torch.isfinite(result.float()).all())
    except (RuntimeError, TypeError, NotImplementedError):
        return False


def default_channels_last(device: Any) -> bool:
    """Channels-last weights where measured to help: CUDA (NHWC tensor-core kernels) and the CPU (oneDNN)."""
    return resolve_device(device).type in ("cuda", "cpu")


def usable_dtype(device: Any, dtype: Any, what: str = "the torch backend") -> Any:
    """``dtype`` as a torch dtype when ``device`` runs it, else float32 (with a warning naming ``what``)."""
    torch_dtype = resolve_dtype(dtype)
    if not dtype_supported(device, torch_dtype):
        logger.warning("%s is not usable on %s; %s runs in float32", torch_dtype, device, what)
        torch_dtype = resolve_dtype("float32")
    return torch_dtype


def torch_target(name: str, backend: str, device: Any, dtype: Any) -> tuple[Any, Any] | None:
    """``(torch device, torch dtype)`` for converting the model file ``name``, or ``None`` when ``auto`` keeps onnxruntime.

    ``auto`` keeps onnxruntime without PyTorch, on the CPU (faster there: see the benchmark) and on
    a device torch cannot use (with a warning); ``torch`` raises in the first and last case and
    runs on the CPU. A precision the device cannot run becomes float32 with a warning.

    Raises:
        ModelConversionError: ``backend="torch"`` without PyTorch or on a device torch cannot use.
    """
    try:
        import torch  # noqa: F401
    except ImportError as error:
        if backend == "torch":
            raise ModelConversionError("the torch backend needs PyTorch; install torch or use the onnxruntime backend") from error
        return None
    torch_device = resolve_device(device)
    if backend == "auto" and torch_device.type == "cpu":
        logger.debug("backend auto on the CPU: keeping onnxruntime for %s", name)
        return None
    problem = device_problem(torch_device)
    if problem is not None:
        if backend == "torch":
            raise ModelConversionError(
                f"torch cannot use device {torch_device} ({problem}); pick another device or the onnxruntime backend"
            )
        logger.warning("torch cannot use device %s (%s); using onnxruntime for %s", torch_device, problem, name)
        return None
    return torch_device, usable_dtype(torch_device, dtype)
