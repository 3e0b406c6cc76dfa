"""Swagger UI at /docs in headless Chromium, on a real server, with every
request to another host refused: the page loads, breaks no rule of its CSP,
and Authorize and Execute work against the service itself.

`UPDATE_SCREENSHOTS=1` also writes the page to docs/screenshots/docs.png for
the README; otherwise the picture goes to the test's tmp_path only.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route, expect

from tests.helpers import STRONG_PASSWORD
from tests.servers import PROJECT_ROOT, ServerProcess

pytestmark = pytest.mark.sqlite_only

EMAIL = "ada@example.com"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
SCREENSHOT = PROJECT_ROOT / "docs" / "screenshots" / "docs.png"
# Registered before any script of the page runs, so no violation can go unseen.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        database_url=database_url, workdir=tmp_path_factory.mktemp("docs-server"), env={}
    )
    process.start()
    yield process
    process.stop()


@dataclass
class Offline:
    """What the page asked of other hosts (refused), and what the browser complained of."""

    served: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def offline(browser_context: BrowserContext, server: ServerProcess) -> Offline:
    seen = Offline()

    def only_the_service(route: Route) -> None:
        url = route.request.url
        if url == server.url or url.startswith(server.url + "/"):
            seen.served.append(url.removeprefix(server.url))
            route.continue_()
        else:
            seen.refused.append(url)
            route.abort("internetdisconnected")

    browser_context.route("**/*", only_the_service)
    browser_context.add_init_script(RECORD_VIOLATIONS)
    return seen


def open_offline(page: Page, offline: Offline, url: str) -> None:
    def note(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            offline.console_errors.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda error: offline.console_errors.append(str(error)))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url)


@pytest.fixture
def docs(page: Page, offline: Offline, server: ServerProcess) -> Page:
    open_offline(page, offline, f"{server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    return page


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__violations")


def sign_up(server: ServerProcess) -> None:
    response = httpx.post(
        f"{server.url}/users", json={"email": EMAIL, "password": STRONG_PASSWORD}, timeout=10
    )
    assert response.status_code == 201, response.text


def authorize(page: Page) -> None:
    page.click("button.btn.authorize")
    dialog = page.locator(".modal-ux")
    dialog.locator("#oauth_username").fill(EMAIL)
    dialog.locator("#oauth_password").fill(STRONG_PASSWORD)
    dialog.locator(".auth-btn-wrapper button.authorize").click()
    # Swagger UI says so, and offers Logout, once POST /login gave it a token.
    expect(dialog.get_by_role("heading", name="Authorized")).to_be_visible()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)


def execute_get_me(page: Page) -> None:
    operation = page.locator(".opblock-get", has=page.locator('[data-path="/users/me"]')).first
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status")).to_have_text("200")
    expect(live.locator("tbody .response-col_description")).to_contain_text(EMAIL)


def save_screenshot(page: Page, tmp_path: Path) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "docs.png"))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))


def test_docs_load_with_every_other_host_refused_and_no_csp_violation(
    docs: Page, offline: Offline
) -> None:
    expect(docs.locator(".info .title")).to_contain_text("Account service")

    # The blocking sees the page's requests: the bundle came from the service.
    assert any(url.endswith("/swagger-ui-bundle.js") for url in offline.served)
    assert offline.refused == []
    assert violations(docs) == []
    assert offline.console_errors == []


def test_authorize_and_execute_show_the_signed_in_users_email_offline(
    docs: Page, offline: Offline, server: ServerProcess, tmp_path: Path
) -> None:
    sign_up(server)

    authorize(docs)
    execute_get_me(docs)

    save_screenshot(docs, tmp_path)
    assert offline.refused == []
    assert violations(docs) == []
    assert offline.console_errors == []


def test_redoc_renders_the_document_with_every_other_host_refused_and_no_csp_violation(
    page: Page, offline: Offline, server: ServerProcess
) -> None:
    open_offline(page, offline, f"{server.url}/redoc")

    expect(page.locator("h1")).to_contain_text("Account service")
    expect(page.get_by_text("/users/me").first).to_be_attached()
    assert offline.refused == []
    # ReDoc's attribution logo: CSP refuses it before any request, and ReDoc then hides it.
    assert violations(page) == [f"img-src {REDOC_LOGO}"]
    assert [text for text in offline.console_errors if REDOC_LOGO not in text] == []
