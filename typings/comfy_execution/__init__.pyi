# ComfyUI's comfy_execution package (ComfyUI 0.3.64): only the submodules the nodes use.
