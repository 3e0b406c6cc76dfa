"""The layers of docs/ARCHITECTURE.md: each module imports only its own layer
and the ones below, HTTP stays at the top, and routes never touch the
database or threads."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.sqlite_only

SERVICE = Path(__file__).resolve().parent.parent / "service"

# Lowest first; docs/ARCHITECTURE.md draws the same table.
LAYERS: dict[str, int] = {
    # 0. Depends on nothing of ours
    "config": 0,
    "smtp_url": 0,
    "networks": 0,
    "text": 0,
    "problems": 0,
    "logging_setup": 0,
    "security": 0,
    "signing_keys": 0,
    "threads": 0,
    "csrf": 0,
    "links": 0,
    "server_metadata": 0,
    "scopes": 0,
    # 1. Tables, the database, and the plain values the domain passes around
    "models": 1,
    "audit_events": 1,
    "database": 1,
    "ratelimit_storage": 1,
    "counters": 1,
    "quotas": 1,
    "emails": 1,
    "passwords": 1,
    "requester": 1,
    "throttle_keys": 1,
    "login_values": 1,
    "devices": 1,
    # 2. Domain parts: each owns one table or one concern
    "account_tokens": 2,
    "logins": 2,
    "login_sql": 2,
    "superusers": 2,
    "throttling": 2,
    "outbox": 2,
    "account_mail": 2,
    "schemas": 2,
    "audit": 2,
    # 3. Services, wired once in create_app
    "accounts": 3,
    "authentication": 3,
    "recovery": 3,
    "login_sessions": 3,
    "email_change": 3,
    "parts": 3,
    # 4. HTTP, and the process
    "errors": 4,
    "error_handlers": 4,
    "openapi": 4,
    "client_address": 4,
    "methods": 4,
    "middleware": 4,
    "ratelimit_headers": 4,
    "deps": 4,
    "cookie_logins": 4,
    "pages": 4,
    "routes": 4,
    "main": 4,
    "__main__": 4,
}
HTTP_PACKAGES = ("fastapi", "starlette")
NOT_IN_ROUTES = ("sqlalchemy", "anyio", "starlette.concurrency", "service.threads")


def modules() -> list[Path]:
    return sorted(path for path in SERVICE.rglob("*.py") if path.name != "__init__.py")


def layer_name(path: Path) -> str:
    relative = path.relative_to(SERVICE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imports(path: Path) -> set[str]:
    """Every module `path` imports, `from service import x` as `service.x`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "service":
                found.update(f"service.{alias.name}" for alias in node.names)
    return found


def ours(imported: set[str]) -> set[str]:
    return {name.split(".")[1] for name in imported if name.startswith("service.")}


def test_every_module_has_a_layer() -> None:
    assert {layer_name(path) for path in modules()} <= LAYERS.keys()


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(SERVICE)))
def test_a_module_imports_only_its_layer_and_below(path: Path) -> None:
    own = LAYERS[layer_name(path)]
    above = {name for name in ours(imports(path)) if LAYERS[name] > own}

    assert not above, f"{path.name} (layer {own}) imports {above}"


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(SERVICE)))
def test_only_the_http_layer_speaks_http(path: Path) -> None:
    if LAYERS[layer_name(path)] == 4:
        return
    speaking = {name for name in imports(path) if name.split(".")[0] in HTTP_PACKAGES}

    assert not speaking, f"{path.name} imports {speaking}"


@pytest.mark.parametrize("path", sorted((SERVICE / "routes").glob("*.py")), ids=lambda p: p.name)
def test_routes_leave_the_database_and_threads_to_the_services(path: Path) -> None:
    touching = {name for name in imports(path) if name.startswith(NOT_IN_ROUTES)}

    assert not touching, f"{path.name} imports {touching}"
