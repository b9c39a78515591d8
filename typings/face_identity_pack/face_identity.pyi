# The library as the nodes see it (``from ..face_identity import ...``): its public API, face_identity.__all__.
from face_identity import *
