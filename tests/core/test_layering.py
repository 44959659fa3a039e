"""The core's dependency direction: lower layers never import the plugin host, the box, built-ins,
the CLI or the test kit, not even for type checking."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "receiver_core"
TOP = {"app", "cli", "testing", "builtin", "plugins"}  # may import anything below them
FORBIDDEN = {"app", "cli", "testing", "builtin", "plugins"}


def imported_core_modules(path: Path) -> set[str]:
    """First components of ``receiver_core`` modules that ``path`` imports (relative or absolute)."""
    package = path.relative_to(ROOT).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                parts = base + (node.module.split(".") if node.module else [])
                names = [parts] if node.module else [base + [alias.name] for alias in node.names]
            elif node.module and node.module.startswith("receiver_core"):
                names = [node.module.split(".")[1:]]
            else:
                continue
            found.update(n[0] for n in names if n)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("receiver_core."))
    return found


def test_lower_layers_import_no_top_layer() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        layer = path.relative_to(ROOT).parts[0].removesuffix(".py")
        if layer in TOP or path.name == "__init__.py" and path.parent == ROOT:
            continue
        bad = imported_core_modules(path) & FORBIDDEN
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_the_plugin_host_imports_neither_the_box_nor_the_kit() -> None:
    assert imported_core_modules(ROOT / "plugins.py") & {"app", "cli", "testing", "builtin"} == set()


def test_the_check_sees_relative_imports() -> None:
    assert "app" in imported_core_modules(ROOT / "testing" / "__init__.py")
    assert "attribution" in imported_core_modules(ROOT / "registry.py")
