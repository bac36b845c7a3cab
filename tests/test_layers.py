"""Arrows point inward: domain and vision import nothing of the rest of koopsuz, and no I/O."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "koopsuz"
ALLOWED = {"domain": {"koopsuz.domain"}, "vision": {"koopsuz.vision"}}
IO_MODULES = {"sqlalchemy", "fastapi", "av", "socket", "subprocess", "httpx", "requests"}


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_inner_layers_import_only_themselves(layer: str) -> None:
    files = list((SRC / layer).rglob("*.py"))
    assert files
    for f in files:
        for mod in imports(f):
            if mod.startswith("koopsuz"):
                assert any(mod == a or mod.startswith(a + ".") for a in ALLOWED[layer]), f"{f.name} imports {mod}"
            assert mod.split(".")[0] not in IO_MODULES, f"{f.name} imports I/O module {mod}"
