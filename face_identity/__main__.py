"""``python -m face_identity``: see ``face_identity.cli``."""

from .cli import main

raise SystemExit(main())
