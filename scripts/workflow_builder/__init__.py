"""The example workflows' builder, used by ``python scripts/build_workflows.py``.

schemas.py: the node schemas (ours from the node classes, ComfyUI's core nodes, the transcribed other packs');
graph.py: Workflow, which writes one description as both formats (UI and API); parts.py: node groups the examples
share; identity.py, swap.py, masks.py, generation.py: the workflows, by what they show; thumbnail.py: their diagrams.
"""
