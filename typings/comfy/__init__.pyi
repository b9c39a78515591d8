# ComfyUI's comfy package (ComfyUI 0.3.64): only the submodules the nodes use.
