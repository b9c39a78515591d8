"""README and docs stay true: the quick-start commands work as written, the node table is the generated one,
every workflow and CLI subcommand is described, every documented CLI line parses, every relative link resolves."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

README_PATH = REPO_ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
README_MAX_BYTES = 15_360
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def section(markdown: str, title: str) -> str:
    """The text of the ``## title`` section, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def code_blocks(markdown: str, language: str = "bash") -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, re.S | re.M)


def commands(block: str) -> list[list[str]]:
    """Shell commands of a code block: continuation lines joined, comments dropped, split like the shell does."""
    joined = block.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def quick_start() -> tuple[list[list[str]], list[list[str]]]:
    """(setup-and-run commands, test commands) of README's quick start."""
    blocks = code_blocks(section(README, "Quick start"))
    assert len(blocks) == 2, "the quick start has two bash blocks: set up + run, then the tests"
    return commands(blocks[0]), commands(blocks[1])


def ci_commands() -> list[str]:
    return [
        line.strip() for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


# --- size and structure --------------------------------------------------------------------------------------------


def test_readme_stays_short() -> None:
    size = len(README.encode("utf-8"))
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move reference material to docs/ (limit {README_MAX_BYTES})"


def test_quick_start_is_two_commands_then_one_test_command() -> None:
    setup, tests = quick_start()
    assert [words[:2] for words in setup] == [["pip", "install"], ["face-identity", "analyze"]]
    assert len(tests) == 1


# --- the quick-start commands, as written ---------------------------------------------------------------------------


def test_install_command_installs_the_face_identity_console_script() -> None:
    tomllib = pytest.importorskip("tomllib")
    setup, _ = quick_start()
    target = REPO_ROOT / setup[0][-1]
    project = tomllib.loads((target / "pyproject.toml").read_text())["project"]
    module_name, _, function = project["scripts"]["face-identity"].partition(":")
    assert callable(getattr(importlib.import_module(module_name), function))
    assert not [dep for dep in project["dependencies"] if re.match(r"torch\b", dep)], "pip install . must not pull torch"


def test_analyze_command_is_accepted_by_the_cli() -> None:
    from face_identity.cli import build_parser, command_analyze

    setup, _ = quick_start()
    args = build_parser().parse_args(setup[1][1:])
    assert args.handler is command_analyze and [str(p) for p in args.images] == setup[1][2:]


def test_analyze_runs_without_torch(shared_data: Path, real_models: dict[str, Path]) -> None:
    """The quick start installs no torch: the analyze path must not import it (the small real models stand in)."""
    setup, _ = quick_start()
    argv = [*setup[1][1:], "--detector", str(real_models["scrfd"]), "--recognizer", str(real_models["mbf_int8"])]
    argv[1] = str(shared_data / "groups" / "solvay_conference_1927.png")
    script = "import sys; sys.modules['torch'] = None; from face_identity.cli import main; raise SystemExit(main(sys.argv[1:]))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script, *argv], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"solvay_conference_1927\.png: \d+ face\(s\)", result.stdout), result.stdout


def test_test_command_is_the_script_ci_runs() -> None:
    _, tests = quick_start()
    command = shlex.join(tests[0])
    assert tests[0][0] == "bash" and (REPO_ROOT / tests[0][1]).is_file()
    ci = ci_commands()
    assert command in ci, f".ci/run must call the README's test command {command!r}"
    torch_line = next(i for i, line in enumerate(ci) if re.search(r"pip install .*torch==", line))
    assert torch_line < ci.index(command), ".ci/run installs torch before the test command"


def test_test_script_installs_only_the_cpu_torch_and_runs_pytest() -> None:
    _, tests = quick_start()
    script = (REPO_ROOT / tests[0][1]).read_text()
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    torch_installs = [line for line in lines if re.search(r"pip_install.*\btorch\b", line)]
    # the CPU index after one short look (no minutes of pip retries), else PyPI's pinned build, never a plain `torch`
    assert len(torch_installs) == 2 and "cpu_index" in torch_installs[0] and "--retries 1" in torch_installs[0]
    assert torch_installs[1].split()[-1] == "torch==2.13.0"
    assert f"cpu_index={CPU_TORCH_INDEX}" in script and "timeout=5" in script and "not reachable" in script
    assert any('import torch"' in line for line in lines), "torch is installed only when it is not importable"
    assert any(re.search(r"pip_install.*-r requirements\.txt -r tests/requirements\.txt", line) for line in lines)
    assert re.search(r'exec "\$python" -m pytest --durations=15 "\$@"', script)


def test_readme_says_how_to_get_the_cpu_torch() -> None:
    assert f"pip install torch --index-url {CPU_TORCH_INDEX}" in README


def test_python_library_example_runs(
    shared_data: Path, real_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's library example as written, with the small real models standing in for the catalog names."""
    (code,) = code_blocks(section(README, "Python library"), "python")
    code = code.replace('"retinaface_10g"', repr(str(real_models["scrfd"]))).replace(
        '"arcface_w600k_r50"', repr(str(real_models["mbf_int8"]))
    )
    faces = shared_data / "faces"
    for name, source in (("a1.jpg", "barack_obama"), ("a2.jpg", "barack_obama"), ("b.jpg", "joe_biden")):
        photos = sorted((faces / source).iterdir())
        (tmp_path / name).write_bytes(photos[name == "a2.jpg"].read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "person.safetensors").is_file()


# --- nodes, workflows, CLI -----------------------------------------------------------------------------------------


def test_node_table_and_reference_are_current(pack: object) -> None:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from node_reference import NODES_DOC, nodes_doc, readme_with_table

    assert readme_with_table(README) == README, "run: python scripts/node_reference.py --write"
    assert NODES_DOC.read_text(encoding="utf-8") == nodes_doc(), "run: python scripts/node_reference.py --write"


def test_node_table_lists_exactly_the_registered_nodes(pack: object) -> None:
    table = README[README.index("<!-- node-table:begin -->") : README.index("<!-- node-table:end -->")]
    rows = re.findall(r"^\| \[(.+?)\]\(docs/nodes\.md#(.+?)\)", table, re.M)
    registered = pack.NODE_DISPLAY_NAME_MAPPINGS  # type: ignore[attr-defined]
    assert [name for name, _ in rows] == list(registered.values())
    assert all(node_id.lower() in anchor for node_id, (_, anchor) in zip(registered, rows))


def test_every_workflow_is_described() -> None:
    for path in sorted((REPO_ROOT / "workflows").glob("*.json")):
        assert f"`{path.stem}`" in README and f"workflows/{path.stem}.jpg" in README


def documented_cli_lines() -> list[tuple[str, list[str]]]:
    found = []
    for path in [README_PATH, *DOCS]:
        for block in code_blocks(path.read_text(encoding="utf-8")):
            found += [(path.name, words) for words in commands(block) if words[0] == "face-identity"]
    return found


def test_every_cli_subcommand_is_documented() -> None:
    from face_identity.cli import build_parser

    documented = {words[1] if words[1] != "-v" else words[2] for _, words in documented_cli_lines()}
    subcommands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(subcommands) <= documented, f"no example of: {sorted(set(subcommands) - documented)}"


def test_every_documented_cli_line_parses() -> None:
    from face_identity.cli import build_parser

    lines = documented_cli_lines()
    assert len(lines) >= 8
    for source, words in lines:
        try:
            build_parser().parse_args(words[1:])
        except SystemExit as error:
            raise AssertionError(f"{source}: `{shlex.join(words)}` is rejected by the CLI") from error


# --- links --------------------------------------------------------------------------------------------------------


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors of a Markdown text."""
    headings = re.findall(r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("path", [README_PATH, *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue  # http(s), mailto
        target, _, fragment = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        if not resolved.exists():
            broken.append(link)
            continue
        if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text(encoding="utf-8")):
            broken.append(link)
    assert not broken, f"{path.name}: links to missing files or headings: {broken}"


def test_test_script_keeps_the_insightface_reference_out_of_pips_sight() -> None:
    """insightface 2.1 without its dependencies in site-packages makes every later pip run print a red ERROR."""
    from conftest import REFERENCE_PACKAGES

    script = (REPO_ROOT / "scripts" / "test.sh").read_text()
    (install,) = [line for line in script.splitlines() if "insightface==2.1" in line and "pip_install" in line]
    assert "--no-deps" in install and '--target "$reference_dir"' in install
    assert f'reference_dir=$("$python" -c "import sys; print(sys.prefix)")/{REFERENCE_PACKAGES}' in script


def test_models_doc_lists_the_whole_catalog() -> None:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from model_reference import MODELS_DOC, models_doc

    from face_identity.catalog import build_catalog

    text = MODELS_DOC.read_text(encoding="utf-8")
    assert models_doc(text) == text, "run: python scripts/model_reference.py --write"
    assert all(f"| `{name}` |" in text for name in build_catalog())
