"""No engine function over 80 lines (issue 10: the engine reads as recipes of small named steps).

ast-based, no import of the modules: fast, and a syntax error shows up here too. config.py is generated
(`bun run codegen`) and excluded.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "qc_engine"
MAX_LINES = 80
GENERATED = {ENGINE / "config.py"}


def long_functions(root: Path, limit: int) -> list[str]:
    """'file:line name (N lines)' for every def (nested ones too, methods included) longer than limit."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path in GENERATED:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # decorators excluded, docstring included
                if lines > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_engine_function_is_over_80_lines():
    too_long = long_functions(ENGINE, MAX_LINES)
    assert not too_long, ("split these into named steps (see train.TrainRecipe, evaluate.EvaluateRecipe): "
                          + "; ".join(too_long))


def test_the_scan_finds_a_long_function(tmp_path):
    pkg = tmp_path / "qc_engine"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))  # def line + 80 = 81 lines
    (pkg / "m.py").write_text(f"class C:\n    def short(self):\n        pass\n\n\ndef long():\n{body}\n")
    assert long_functions(pkg, MAX_LINES) == [f"qc_engine/m.py:6 long ({MAX_LINES + 1} lines)"]
    assert long_functions(pkg, MAX_LINES + 1) == []
