"""``python -m face_identity.bench``."""

from .cli import main

raise SystemExit(main())
