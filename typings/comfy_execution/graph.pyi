# comfy_execution/graph.py (ComfyUI 0.3.64): re-exports graph_utils' ExecutionBlocker (older ComfyUI defined it here).
from .graph_utils import ExecutionBlocker as ExecutionBlocker
