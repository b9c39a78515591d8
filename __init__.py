"""ComfyUI entry point of the face-identity node pack (V1 node API).

Imports nothing from ComfyUI at module level: ComfyUI modules are imported inside the functions
that need them, so the pack (and its tests) import without ComfyUI. Relative imports only: ComfyUI
loads the pack under a path-derived module name, and a top-level ``nodes`` is ComfyUI's own.
"""

NODE_CLASS_MAPPINGS: dict[str, type]
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str]

if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:
    # Imported as a plain module, not as the pack: pytest does this (for xunit setup functions) when the
    # repository folder is not a valid package name, e.g. a clone named comfyui-face-identity.
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
