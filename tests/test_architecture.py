"""The package's floors: every import runs down a floor, never up or sideways; no import cycles; no private names
taken from another module. No module is exempt."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "finrisk_nlp"
FACE = "finrisk_nlp"  # the package root re-exports the public API: users import it, the package's own modules never
# Top to bottom. A room is a subpackage or a top-level module; it imports only from rooms on lower floors (and from
# itself). Rooms on one floor are siblings: neither imports the other.
FLOORS: list[set[str]] = [
    {"cli"},  # the finrisk commands and the recipes' entry point
    {"service", "scoring", "export"},  # the REST service / archive scoring / a model in a deployable format
    {"inference"},  # one model's predictions, in the precision that passed its quality gate
    {"registry", "training"},  # where models are kept / how they are made
    {"evaluation", "modeling"},  # judging probabilities / the network, saved and loaded
    {"data"},  # tables, splits, fields, windows, the shipped demo data
    {"config"},  # the typed recipe config and the choices it names
    {"tasks", "provenance", "precision", "version", "formatting"},
    {"errors"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else FACE


def _floor(room: str) -> int:
    """Index in FLOORS (0 is the top); the face is above every floor."""
    if room == FACE:
        return -1
    return next(i for i, floor in enumerate(FLOORS) if room in floor)


def _imports() -> dict[str, list[tuple[str, list[str], bool]]]:
    """module -> [(imported module, names, at type-checking time only)] for imports of finrisk_nlp modules."""
    out: dict[str, list[tuple[str, list[str], bool]]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                target = ".".join([*base, *([node.module] if node.module else [])])
                out[module].append((target, [a.name for a in node.names], id(node) in typing_only))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == FACE:
                out[module].append((node.module, [a.name for a in node.names], id(node) in typing_only))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == FACE:
                        out[module].append((alias.name, [], id(node) in typing_only))
    return out


def test_every_room_has_a_floor():
    rooms = {_room(_module_name(path)) for path in PACKAGE.rglob("*.py")} - {FACE}
    listed = set().union(*FLOORS)
    assert rooms == listed, f"rooms on no floor: {sorted(rooms - listed)}; listed, not there: {sorted(listed - rooms)}"


def test_imports_run_down_a_floor():
    wrong = []
    for module, imports in _imports().items():
        for target, _, _ in imports:
            room, other = _room(module), _room(target)
            if other == room:
                continue
            if other == FACE:
                wrong.append(f"{module} -> {target}: the package face is for users; import the module that owns it")
            elif _floor(other) == _floor(room):
                wrong.append(f"{module} -> {target}: {room} and {other} are siblings")
            elif _floor(other) < _floor(room):
                wrong.append(f"{module} -> {target}: {other} is above {room}")
    assert not wrong, "imports that do not run down a floor:\n" + "\n".join(sorted(wrong))


def test_no_private_names_are_imported_from_another_module():
    private = [f"{module} imports {name} from {target}" for module, imports in _imports().items()
               for target, names, _ in imports for name in [*target.split(".")[1:], *names]
               if name.startswith("_") and not name.startswith("__") and target != module]
    assert not private, "\n".join(private)


def test_no_import_cycles():
    graph = {m: {t for t, _, typing_only in imps if not typing_only and t != m} for m, imps in _imports().items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]) if nxt in stack else f"{node}->{nxt}")
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checks_catch_what_they_are_for(tmp_path, monkeypatch):
    """An upward import, a sibling import, the face, a private name and a cycle, each in a throwaway package."""
    package = tmp_path / FACE
    for room, code in {
        "errors.py": "from finrisk_nlp.config import X\n",  # upward
        "config/__init__.py": "X = 1\nfrom finrisk_nlp.config.b import _y\n",  # private, and a cycle with b
        "config/b.py": "from finrisk_nlp.config import X\n_y = X\n",
        "modeling/__init__.py": "from finrisk_nlp.evaluation import Z\n",  # sibling
        "evaluation/__init__.py": "Z = 1\n",
        "data/__init__.py": "from finrisk_nlp import Y\n",  # the face
        "__init__.py": "Y = 1\n",
    }.items():
        (package / room).parent.mkdir(parents=True, exist_ok=True)
        (package / room).write_text(code)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    monkeypatch.setattr(sys.modules[__name__], "FLOORS", [{"evaluation", "modeling"}, {"data"}, {"config"}, {"errors"}])
    with pytest.raises(AssertionError) as upward:
        test_imports_run_down_a_floor()
    assert "config is above errors" in str(upward.value) and "siblings" in str(upward.value)
    assert "package face" in str(upward.value)
    with pytest.raises(AssertionError, match="_y"):
        test_no_private_names_are_imported_from_another_module()
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles()


def test_inference_needs_no_training_code():
    # Loading a model for prediction, scoring or serving (and its quality gate) must not pull in the trainer.
    graph = {m: {t for t, _, _ in imps} for m, imps in _imports().items()}
    reached, todo = set(), [m for m in graph if m.startswith("finrisk_nlp.inference")]
    while todo:
        module = todo.pop()
        for target in graph.get(module, ()):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    training = sorted(m for m in reached if m.startswith("finrisk_nlp.training"))
    assert not training, f"finrisk_nlp.inference reaches {training}"


def test_the_command_line_parser_and_the_package_load_without_torch():
    # `finrisk --help`, `finrisk registry list` and `import finrisk_nlp` should not pay torch's ~7 s import.
    code = ("import sys; import finrisk_nlp; from finrisk_nlp.cli.main import build_parser; build_parser(); "
            "heavy = sorted({'torch', 'transformers', 'peft', 'fastapi', 'optuna', 'ray'} & set(sys.modules)); "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
