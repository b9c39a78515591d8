# comfy/utils.py (ComfyUI 0.3.64): only the names the nodes use.
from typing import Any

class ProgressBar:
    total: int
    current: int
    def __init__(self, total: int, node_id: str | None = ...) -> None: ...
    # preview: ComfyUI's ("JPEG"/"PNG", PIL image, max size) triple; the nodes never send one.
    def update_absolute(self, value: int, total: int | None = ..., preview: tuple[str, Any, int | None] | None = ...) -> None: ...
    def update(self, value: int) -> None: ...
