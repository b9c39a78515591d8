"""README stays true: the node reference is the generated one, every workflow is described, CI runs the README's test command."""

from __future__ import annotations

import re
import sys

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_node_reference_is_current(pack: object) -> None:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from node_reference import readme_with_reference

    assert readme_with_reference(README) == README, "run: python scripts/node_reference.py --write"


def test_every_workflow_is_described() -> None:
    for path in sorted((REPO_ROOT / "workflows").glob("*.json")):
        assert f"`{path.stem}`" in README and f"workflows/{path.stem}.jpg" in README


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"## Tests\s+```bash\n(.+?)\n```", README).group(1).strip()  # type: ignore[union-attr]
    ci_lines = [
        line.strip() for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert command in ci_lines


def test_every_cli_command_is_documented() -> None:
    from face_identity.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"`{name}" in README
