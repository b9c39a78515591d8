"""Socket type names of the pack, each bound to the library class its values are.

Our own ``FACEID_`` prefix keeps other packs' objects (``FACE_MODEL``, ``FACEANALYSIS``, ...) from
connecting to our inputs and failing at run time.
"""

RECOGNIZER = "FACEID_RECOGNIZER"
"""face_identity.embed.ArcFaceRecognizer"""
DETECTOR = "FACEID_DETECTOR"
"""face_identity.detect.FaceDetector"""
SWAPPER = "FACEID_SWAPPER"
"""face_identity.swap.InswapperSwapper"""
FACES = "FACEID_FACES"
"""face_identity.types.FaceBatch: per image, the list of Face (an image with no face keeps an empty list)"""
IDENTITY = "FACEID_IDENTITY"
"""face_identity.types.Identity: one or more unit embeddings of one recognizer, with their sources"""

LANDMARKER = "FACEID_LANDMARKER"
"""face_identity.FaceModel of a 68-point landmarker kind"""
OCCLUDER = "FACEID_OCCLUDER"
"""tuple of face_identity.FaceModel (XSeg occluders; several are combined by minimum)"""
PARSER = "FACEID_PARSER"
"""face_identity.FaceModel (BiSeNet face parser)"""
RESTORER = "FACEID_RESTORER"
"""face_identity.FaceModel of the restorer kind"""
MASK_SPEC = "FACEID_MASK_SPEC"
"""face_identity.MaskSpec: which masks, with their models and options"""
TRACKING = "FACEID_TRACKING"
"""nodes.track.FaceTracking: Face Track's tracking, smoothing and fallback settings for Face Swap"""

CATEGORY = "face_identity"
"""Root of the pack's "Add Node" menu."""
