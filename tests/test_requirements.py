"""Every library the service imports is pinned in requirements.txt itself:
one that arrives only through another package (or through requirements-dev)
is gone from a production install the day that package drops it, as
`cryptography` was when python-jose left."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {
        _normal(re.split(r"[\[=<>~! ]", line, maxsplit=1)[0])
        for line in (line.strip() for line in lines)
        if line and not line.startswith(("#", "-"))
    }


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"service"}


def test_every_library_the_service_imports_is_pinned_in_requirements_txt() -> None:
    distributions = importlib.metadata.packages_distributions()
    pinned = _pinned()
    unpinned = {
        module: distributions.get(module, [])
        for module in _imported_top_levels()
        if not {_normal(name) for name in distributions.get(module, [])} & pinned
    }
    assert unpinned == {}
