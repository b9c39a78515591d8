# comfy_execution/graph_utils.py (ComfyUI 0.3.64): only the names the nodes use.
class ExecutionBlocker:
    message: str | None
    def __init__(self, message: str | None) -> None: ...
