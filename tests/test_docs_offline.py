"""The documentation pages load everything from the service itself, under a
CSP that allows only that, and leave the API's own strict headers alone."""

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from service.routes.docs import ASSETS, ASSETS_PREFIX

pytestmark = pytest.mark.sqlite_only

PAGE_TAIL = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP = {
    "/docs": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    f"connect-src 'self'; {PAGE_TAIL}",
    "/docs/oauth2-redirect": f"default-src 'none'; script-src 'self'; {PAGE_TAIL}",
    "/redoc": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    f"img-src 'self' data:; connect-src 'self'; worker-src blob:; {PAGE_TAIL}",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"
CONTENT_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-init.js": "text/javascript; charset=utf-8",
    "oauth2-redirect.js": "text/javascript; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


class _Loads(HTMLParser):
    """Every URL a page loads (scripts, stylesheets, icons), and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            if named.get("src"):
                self.urls.append(named["src"] or "")
            else:
                self._in_script_without_src = True
        elif tag == "link" and named.get("href"):
            self.urls.append(named["href"] or "")
        self.urls += [value or "" for name, value in attrs if name == "spec-url"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script_without_src = False

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1


def loads_of(client: TestClient, path: str) -> _Loads:
    parser = _Loads()
    parser.feed(client.get(path).text)
    return parser


@pytest.mark.parametrize("path", sorted(PAGE_CSP))
def test_page_loads_only_same_origin_urls(client: TestClient, path: str) -> None:
    urls = loads_of(client, path).urls

    assert urls
    assert [url for url in urls if not url.startswith("/")] == []
    assert [url for url in urls if url.startswith("//") or "cdn." in url] == []


@pytest.mark.parametrize("path", sorted(PAGE_CSP))
def test_page_has_no_inline_script(client: TestClient, path: str) -> None:
    html = client.get(path).text

    assert loads_of(client, path).inline_scripts == 0
    assert not re.search(r"\son[a-z]+\s*=", html), "no inline event handlers either"


@pytest.mark.parametrize("path", sorted(PAGE_CSP))
def test_every_url_a_page_loads_answers_200(client: TestClient, path: str) -> None:
    for url in loads_of(client, path).urls:
        assert client.get(url).status_code == 200, url


def test_swagger_ui_is_started_by_our_script_with_the_document_and_redirect_urls(
    client: TestClient,
) -> None:
    html = client.get("/docs").text

    assert f'<script src="{ASSETS_PREFIX}/swagger-ui-init.js">' in html
    assert 'data-openapi-url="/openapi.json"' in html
    assert 'data-oauth2-redirect-url="/docs/oauth2-redirect"' in html


def test_swagger_ui_keeps_no_token_and_calls_no_validator(client: TestClient) -> None:
    script = client.get(f"{ASSETS_PREFIX}/swagger-ui-init.js").text

    assert "persistAuthorization: false" in script
    assert "validatorUrl: null" in script


@pytest.mark.parametrize("path", sorted(PAGE_CSP))
def test_page_has_exactly_its_csp(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers.get_list("content-security-policy") == [PAGE_CSP[path]]


@pytest.mark.parametrize("path", sorted(PAGE_CSP))
def test_page_is_revalidated_before_each_use(client: TestClient, path: str) -> None:
    # A deploy changes the asset URLs a page names: a page kept without asking would 404 them.
    assert client.get(path).headers.get_list("cache-control") == ["no-cache"]


def test_openapi_document_loads_nothing_and_is_revalidated(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers.get_list("content-security-policy") == [API_CSP]
    assert response.headers.get_list("cache-control") == ["no-cache"]


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_asset_answers_200_with_its_content_type_cached_for_good(
    client: TestClient, name: str
) -> None:
    response = client.get(f"{ASSETS_PREFIX}/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPES[name]
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.content


def test_swagger_ui_is_version_5(client: TestClient) -> None:
    bundle = client.get(f"{ASSETS_PREFIX}/swagger-ui-bundle.js").text

    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', bundle)


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/0000000000000000/swagger-ui-bundle.js",
        f"{ASSETS_PREFIX}/swagger-ui-bundle.js.map",
        f"{ASSETS_PREFIX}/..%2F..%2Fmain.py",
        f"{ASSETS_PREFIX}/core.py",
    ],
)
def test_only_the_listed_assets_of_this_version_are_served(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    assert response.headers["cache-control"] == "no-store"


def test_documentation_routes_stay_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert [path for path in paths if path.startswith(("/docs", "/redoc"))] == []


@pytest.mark.parametrize("path", ["/health", "/users/me", "/no/such/route"])
def test_api_answers_keep_their_strict_csp(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.headers.get_list("content-security-policy") == [API_CSP]
    assert response.headers.get_list("cache-control") == ["no-store"]
