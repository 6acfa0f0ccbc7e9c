"""The package layout's rules: which half may import which, no import cycles, no TensorFlow on the
camera box, and ARCHITECTURE.md naming only modules that exist."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import visord

PACKAGE = Path(visord.__file__).resolve().parent
ROOT = PACKAGE.parent


def module_files() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = module_files()


def _owner(name: str) -> str | None:
    """The visord module (or package) an imported name belongs to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path) -> set[str]:
    """Every visord module the file imports, at any depth (inside functions too), but not the ones
    imported only for type checking."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_block(node):
            return
        if isinstance(node, ast.Import):
            found.update(filter(None, (_owner(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                owner = _owner(full) if full in MODULES else _owner(node.module)
                if owner:
                    found.add(owner)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def importers(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    """'a imports b' for each module under `prefix` that imports a module under `forbidden`."""
    return sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name == prefix or name.startswith(prefix + ".")
        for target in targets
        if target.startswith(forbidden)
    )


def test_the_camera_box_imports_neither_training_nor_the_command_line_nor_the_harness():
    assert "visord.daemon.runtime" in GRAPH  # the walk found the daemon
    assert importers("visord.daemon", ("visord.training", "visord.commands", "visord.cli")) == []
    assert importers("visord.daemon", ("visord.testing",)) == []


def test_the_shared_contract_and_the_scenes_import_neither_half():
    halves = ("visord.daemon", "visord.training", "visord.commands", "visord.testing")
    assert importers("visord.contract", halves) == []
    assert importers("visord.scenes", halves) == []


def test_the_label_page_imports_only_the_contract():
    halves = ("visord.daemon", "visord.training", "visord.commands", "visord.testing")
    assert "visord.label.server" in GRAPH
    assert importers("visord.label", halves) == []


def test_training_does_not_import_the_camera_box_runtime():
    assert importers("visord.training", ("visord.daemon", "visord.commands")) == []


def test_the_rule_checker_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def later():\n    from visord.training.train import train\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import visord.commands.run\n"
    )
    assert imports_of(bad) == {"visord.training.train"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_even_through_imports_inside_functions():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles(GRAPH) == []


def test_nothing_imports_the_tests_or_edits_sys_path():
    offenders = []
    for folder in ("visord", "bench", "scripts", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == Path(__file__).resolve():
                continue
            text = path.read_text()
            if re.search(r"^\s*(from tests[. ]|import tests\b)", text, re.M) or "sys.path." in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_package_never_imports_the_benchmarks():
    # bench/ sits beside the package and is not in its wheel: `python -m bench.NAME` only
    offenders = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(from bench[. ]|import bench\b)", path.read_text(), re.M)
    ]
    assert offenders == []


def test_the_camera_box_and_the_command_line_never_load_tensorflow():
    names = sorted(n for n in MODULES if n.startswith(("visord.daemon", "visord.contract")))
    names += ["visord.cli", "visord.scenes"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf2onnx', 'optuna'))\n"
        "mine = sorted(m for m in sys.modules "
        "if m.startswith(('visord.training', 'visord.testing')))\n"
        "print(heavy, mine)\nsys.exit(1 if heavy or mine else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_architecture_md_names_only_modules_and_paths_that_exist():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    dotted = set(re.findall(r"`(visord(?:\.\w+)+)", text))
    paths = set(
        re.findall(r"`((?:visord|tests|bench|config|scripts|systemd|models|docs)/[\w./-]*)`", text)
    )
    assert len(dotted) + len(paths) > 30  # it is a map, not a summary
    missing = sorted(name for name in dotted if name not in MODULES and _owner(name) is None)
    missing += sorted(path for path in paths if not (ROOT / path).exists())
    assert missing == []
    named = set(re.findall(r"`([\w.]+)`", text))
    undocumented = sorted(
        name
        for name in MODULES
        if name.count(".") == 2
        and not name.startswith(("visord.testing", "visord.scenes"))
        and not {name, name.rpartition(".")[2]} & named
    )
    assert undocumented == []  # each module under the halves is named


# Backticked words in ARCHITECTURE.md that are not visord's names: config keys and values, and
# other projects' names. Each must still appear there (test_not_code_words_are_still_used).
NOT_CODE = {
    "auto": "the `model: auto` config value",
    "metadata_props": "the ONNX file's field the manifest sits in",
    "os.replace": "the standard library's",
    "labels.jsonl": "a file the label page writes",
}

IDENTIFIER = re.compile(r"@?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(.*\))?")


def definitions(path: Path) -> set[str]:
    """The names a module defines: its functions, classes and assigned names at module level (in
    `if`/`try` blocks too) and the members of its classes; not the names it imports."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.add(node.name)
                if isinstance(node, ast.ClassDef):
                    visit(node.body)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    found.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, []):
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child])

    visit(ast.parse(path.read_text(), str(path)).body)
    return found


DEFINED = {name: definitions(path) for name, path in MODULES.items()}


def _defined(anchor: str) -> set[str]:
    """What a module, or a Python file outside the package named by its path, defines."""
    return DEFINED[anchor] if anchor in DEFINED else definitions(ROOT / anchor)


def blocks(text: str) -> list[str]:
    """ARCHITECTURE.md cut into the units a name is read in: paragraphs, list items, table rows
    (code blocks left out)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    found: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        found += re.split(r"\n(?=\s*(?:[-*|]|\d+\.) )", paragraph)
    return found


def _path_module(path: str) -> str | None:
    if not path.startswith("visord/"):
        return None
    name = path.rstrip("/").removesuffix(".py").replace("/", ".")
    return name if name in MODULES else None


def lies_in(block: str) -> list[str]:
    """Each backticked name in one block of ARCHITECTURE.md that is not what the block says it is:
    a dotted `visord.x.NAME` that its module does not define, a `visord CMD` with no command module,
    and a bare `NAME` (or `NAME()`, `@NAME(...)`, `NAME.attr`) that is neither a sub-module of a
    module the block names nor defined in one (for a folder, `visord/x/`, in one of its modules)."""
    tokens = re.findall(r"`([^`]+)`", block)
    anchors: set[str] = set()  # the modules the block names
    lies: list[str] = []
    for token in tokens:
        if re.fullmatch(r"visord(\.\w+)+", token):
            owner = _owner(token)
            if owner is None:
                lies.append(token)
                continue
            anchors.add(owner)
            rest = token[len(owner) + 1 :].split(".")[0] if token != owner else ""
            if rest and rest not in DEFINED[owner]:
                lies.append(token)
        elif token.endswith(".py") and not token.startswith("visord/"):  # bench/x.py, scripts/
            if (ROOT / token).is_file():
                anchors.add(token)
        elif (module := _path_module(token)) is not None:
            anchors.add(module)
            if token.endswith("/"):  # a folder: what its modules define is named with it
                anchors.update(m for m in MODULES if m.rpartition(".")[0] == module)
        elif token.startswith("visord "):  # a command line: `visord NAME ...`
            if f"visord.commands.{token.split()[1].replace('-', '_')}" not in MODULES:
                lies.append(token)
    bare = []
    for token in tokens:
        match = IDENTIFIER.fullmatch(token)
        if match and not token.startswith("visord") and token not in NOT_CODE:
            bare.append((token, match.group(1).split(".")[0]))
    grown = True
    while grown:  # `sources` ... `kinds`: a sub-module named is named with its package
        before = len(anchors)
        parents = {a.rpartition(".")[0] for a in anchors} | anchors
        anchors.update(
            f"{p}.{head}" for p in parents for _, head in bare if f"{p}.{head}" in MODULES
        )
        grown = len(anchors) > before
    parents = {a.rpartition(".")[0] for a in anchors} | anchors
    for token, head in bare:
        submodule = any(f"{p}.{head}" in MODULES for p in parents)
        if not submodule and not any(head in _defined(a) for a in anchors):
            lies.append(token)
    return lies


def architecture_lies(text: str) -> list[str]:
    return [lie for block in blocks(text) for lie in lies_in(block)]


def test_every_backticked_name_in_architecture_md_is_defined_where_it_is_named():
    assert architecture_lies((ROOT / "ARCHITECTURE.md").read_text()) == []


@pytest.mark.parametrize(
    ("true", "made_up"),
    [
        (
            "`classify_source` in `visord.daemon.config.sources`",
            "`source_kind` in `visord.daemon.config.sources`",
        ),
        ("(`Pacer`)", "(`Pacemaker`)"),
        ("`visord.cli.COMMANDS`", "`visord.cli.SUBCOMMANDS`"),
        ("`visord check`", "`visord verify`"),
        ("`daemon` is the running daemon", "`conductor` is the running daemon"),
        ("`visord.training.finetune`", "`visord.training.finetuning`"),
    ],
)
def test_a_made_up_name_in_architecture_md_is_caught(true, made_up):
    text = (ROOT / "ARCHITECTURE.md").read_text()
    assert true in text  # the doctored copy changes a real sentence
    assert architecture_lies(text.replace(true, made_up, 1)) != []


def test_not_code_words_are_still_used():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    assert sorted(word for word in NOT_CODE if f"`{word}`" not in text) == []
