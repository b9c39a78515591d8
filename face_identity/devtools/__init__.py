"""Developer tools, not the runtime path: synthetic ONNX models for the tests, the benchmark and docs.

Nothing under ``face_identity.devtools`` is imported by the library's runtime modules or the nodes.
"""
