"""The package's layers import downward only: no import cycles, no private names taken from another module."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "finrisk_nlp"
# Top to bottom; a module may import from its own layer or the ones below it.
LAYERS = ["cli", "serving", "registry", "training", "evaluation", "modeling", "data", ""]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    sub = parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""
    return LAYERS.index(sub if sub in LAYERS else "")


def _imports() -> dict[str, list[tuple[str, list[str], bool]]]:
    """module -> [(imported module, names, at type-checking time only)] for imports of finrisk_nlp modules."""
    out: dict[str, list[tuple[str, list[str], bool]]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("finrisk_nlp"):
                out[module].append((node.module, [a.name for a in node.names], id(node) in typing_only))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("finrisk_nlp"):
                        out[module].append((alias.name, [], id(node) in typing_only))
    return out


def test_imports_run_downward_only():
    upward = []
    for module, imports in _imports().items():
        if module == "finrisk_nlp":
            continue  # the package root re-exports the public API
        for target, _, _ in imports:
            if _layer(target) < _layer(module):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that climb a layer:\n" + "\n".join(sorted(upward))


def test_no_private_names_are_imported_from_another_module():
    private = [f"{module} imports {name} from {target}" for module, imports in _imports().items()
               for target, names, _ in imports for name in names
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


def test_the_command_line_parser_and_the_package_load_without_torch():
    # `finrisk --help`, `finrisk registry list` and `import finrisk_nlp` should not pay torch's ~7 s import.
    code = ("import sys; import finrisk_nlp; from finrisk_nlp.cli.main import build_parser; build_parser(); "
            "heavy = sorted({'torch', 'transformers', 'peft', 'fastapi', 'optuna', 'ray'} & set(sys.modules)); "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
