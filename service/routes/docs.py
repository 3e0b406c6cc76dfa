"""The documentation pages, Swagger UI at /docs and ReDoc at /redoc, served
whole by the service: the built files of the pinned `fastapi-offline` package
(Swagger UI 5, ReDoc 2) and two scripts of our own in service/static. So the
pages work with no way out to a CDN, under a CSP that lets them load nothing
from anywhere else and run no inline script.

FastAPI's own pages are off (create_app): they start Swagger UI from an inline
script and load it from a CDN.
"""

import hashlib
from dataclasses import dataclass
from html import escape
from importlib.util import find_spec
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from service.problems import DomainError, Problem


def _package_directory(name: str) -> Path:
    # Found without importing it: the package's own code builds a FastAPI app we do not use.
    spec = find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the {name} package is not installed (requirements.txt pins it)")
    return Path(spec.origin).parent


PACKAGE_STATIC = _package_directory("fastapi_offline") / "static"
OWN_STATIC = Path(__file__).resolve().parent.parent / "static"


@dataclass(frozen=True)
class Asset:
    path: Path
    media_type: str


# Every file the pages load, and nothing else of either directory (no source maps).
ASSETS: dict[str, Asset] = {
    "swagger-ui-bundle.js": Asset(PACKAGE_STATIC / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": Asset(PACKAGE_STATIC / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": Asset(PACKAGE_STATIC / "redoc.standalone.js", "text/javascript"),
    "favicon.png": Asset(PACKAGE_STATIC / "favicon.png", "image/png"),
    "swagger-ui-init.js": Asset(OWN_STATIC / "swagger-ui-init.js", "text/javascript"),
    "oauth2-redirect.js": Asset(OWN_STATIC / "oauth2-redirect.js", "text/javascript"),
}


def _assets_version() -> str:
    """A digest of every asset: their URLs change exactly when a file does,
    so browsers may keep them for good."""
    digest = hashlib.sha256()
    for name, asset in sorted(ASSETS.items()):
        digest.update(name.encode() + b"\0" + asset.path.read_bytes())
    return digest.hexdigest()[:16]


ASSETS_VERSION = _assets_version()
ASSETS_PREFIX = f"/docs/assets/{ASSETS_VERSION}"

# What each page needs and no more: its scripts and styles from this origin,
# the data: images of Swagger UI's stylesheet, and its calls (the document,
# Authorize's POST /login, Execute) to this origin.
_PAGE_CSP_TAIL = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SWAGGER_UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    f"connect-src 'self'; {_PAGE_CSP_TAIL}"
)
# ReDoc fails to render without styles written at run time (styled-components'
# <style> elements) or a worker made from a blob (its search). Its attribution
# logo, an image from cdn.redoc.ly, is refused; ReDoc then leaves it out.
REDOC_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    f"img-src 'self' data:; connect-src 'self'; worker-src blob:; {_PAGE_CSP_TAIL}"
)
OAUTH2_REDIRECT_CSP = f"default-src 'none'; script-src 'self'; {_PAGE_CSP_TAIL}"
# A page is kept but asked for again: after a deploy it names other asset URLs.
PAGE_CACHE_CONTROL = "no-cache"
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"

_SWAGGER_UI_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}" data-oauth2-redirect-url="{redirect_url}">
</div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui-init.js"></script>
</body>
</html>
"""
_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - ReDoc</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi_url}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""
_OAUTH2_REDIRECT_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Swagger UI: OAuth2 Redirect</title>
</head>
<body>
<script src="{assets}/oauth2-redirect.js"></script>
</body>
</html>
"""

DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
REDOC_PATH = "/redoc"

router = APIRouter(include_in_schema=False)


def _page(template: str, request: Request, csp: str) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    html = template.format(
        title=escape(request.app.title),
        assets=escape(root + ASSETS_PREFIX),
        openapi_url=escape(root + (request.app.openapi_url or "")),
        redirect_url=escape(root + OAUTH2_REDIRECT_PATH),
    )
    headers = {"Content-Security-Policy": csp, "Cache-Control": PAGE_CACHE_CONTROL}
    return HTMLResponse(html, headers=headers)


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    return _page(_SWAGGER_UI_PAGE, request, SWAGGER_UI_CSP)


@router.get(OAUTH2_REDIRECT_PATH)
async def swagger_ui_oauth2_redirect(request: Request) -> HTMLResponse:
    return _page(_OAUTH2_REDIRECT_PAGE, request, OAUTH2_REDIRECT_CSP)


@router.get(REDOC_PATH)
async def redoc(request: Request) -> HTMLResponse:
    return _page(_REDOC_PAGE, request, REDOC_CSP)


@router.get("/docs/assets/{version}/{name}")
async def asset(version: str, name: str) -> FileResponse:
    # An old version's URL is a 404, not today's file under a name kept forever.
    found = ASSETS.get(name)
    if version != ASSETS_VERSION or found is None:
        raise DomainError(Problem.NOT_FOUND)
    return FileResponse(
        found.path,
        media_type=found.media_type,
        headers={"Cache-Control": ASSET_CACHE_CONTROL},
    )
