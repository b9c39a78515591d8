"""The catalog table of docs/models.md, generated from ``face_identity.catalog.build_catalog()``.

python scripts/model_reference.py          # print the table
python scripts/model_reference.py --write  # rewrite docs/models.md between its markers
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from face_identity.catalog import build_catalog  # noqa: E402

BEGIN, END = "<!-- catalog-table:begin -->", "<!-- catalog-table:end -->"
MODELS_DOC = REPO / "docs" / "models.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalog_table() -> str:
    """One row per catalog entry: name, role, source (Hugging Face repository and file), copies reused, licence, what it is."""
    rows = [
        "| catalog name | role | source (Hugging Face) | copies reused if present | licence | what it is |",
        "|---|---|---|---|---|---|",
    ]
    for spec in build_catalog().values():
        role = spec.role + (f", {spec.embedding_dim}-d" if spec.role == "recognizer" and spec.embedding_dim else "")
        saved_as = f", saved as `{spec.filename}`" if spec.remote_filename else ""
        source = f"`{spec.repo_id}` `{spec.published_filename}`{saved_as}" + (
            " + `.hash`" if spec.hash_filename else " (SHA-256 checked)" if spec.sha256 else ""
        )
        reused = " ".join(f"`{alias}`" for alias in spec.aliases)
        rows.append(f"| `{spec.name}` | {role} | {source} | {reused} | {_cell(spec.licence)} | {_cell(spec.description)} |")
    return "\n".join(rows)


def models_doc(text: str) -> str:
    """``text`` with the part between the markers replaced by the current table."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{catalog_table()}\n{END}{tail}"


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        MODELS_DOC.write_text(models_doc(MODELS_DOC.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(catalog_table())
