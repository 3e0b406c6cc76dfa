"""Cookie logins end to end, in headless Chromium: a web app served from a
second origin (listed in CORS_ORIGINS) logs in, reads and changes the account,
refreshes and logs out with `credentials: "include"`; a page of a third origin
can neither read the account nor act with the cookies the browser holds."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser import StaticSite
from tests.helpers import STRONG_PASSWORD
from tests.servers import ServerProcess

pytestmark = pytest.mark.sqlite_only

SITE = Path(__file__).parent / "browser_site"
EMAIL = "ada@example.com"


@pytest.fixture(scope="module")
def app_site() -> Iterator[StaticSite]:
    with StaticSite(SITE) as site:
        yield site


@pytest.fixture(scope="module")
def foreign_site() -> Iterator[StaticSite]:
    with StaticSite(SITE) as site:
        yield site


@pytest.fixture(scope="module")
def running(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, app_site: StaticSite
) -> Iterator[str]:
    """A running service that lists the app's origin, on http://localhost."""
    server = ServerProcess(
        database_url=database_url,
        workdir=tmp_path_factory.mktemp("cookie-service"),
        # Throttling has tests of its own; here it would only count the logins.
        env={
            "CORS_ORIGINS": app_site.url(),
            "ENVIRONMENT": "development",
            "RATE_LIMIT_ENABLED": "false",
            # The default window, so two tabs refreshing at once both stay signed in.
            "REFRESH_REUSE_GRACE_SECONDS": "10",
        },
    )
    server.start()
    try:
        yield f"http://localhost:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def service(running: str) -> str:
    """The running service, with Ada signed up (each test starts from an empty database)."""
    signed_up = httpx.post(
        f"{running}/users", json={"email": EMAIL, "password": STRONG_PASSWORD}, timeout=30
    )
    assert signed_up.status_code == 201, signed_up.text
    return running


def cookies_of(context: BrowserContext) -> dict[str, dict[str, Any]]:
    """Every cookie the browser holds for the service, whatever its path."""
    return {
        cookie["name"]: cookie for cookie in context.cookies() if cookie["domain"] == "localhost"
    }


def open_app(context: BrowserContext, site: StaticSite, service: str) -> Page:
    page = context.new_page()
    page.goto(f"{site.url()}/app.html?api={service}")
    page.wait_for_function("typeof window.logIn === 'function'")
    return page


def run(page: Page, script: str, *args: Any) -> Any:
    return page.evaluate(script, list(args))


def logged_in_app(context: BrowserContext, site: StaticSite, service: str) -> Page:
    page = open_app(context, site, service)
    result = run(page, "([u, p]) => logIn(u, p)", EMAIL, STRONG_PASSWORD)
    assert result["status"] == 200, result
    return page


def test_the_app_logs_in_and_reads_the_account_with_cookies_only(
    browser_context: BrowserContext, app_site: StaticSite, service: str
) -> None:
    page = logged_in_app(browser_context, app_site, service)
    me = run(page, "() => me()")
    assert me["status"] == 200
    assert me["body"]["email"] == EMAIL


def test_no_token_is_readable_by_the_apps_scripts(
    browser_context: BrowserContext, app_site: StaticSite, service: str
) -> None:
    page = logged_in_app(browser_context, app_site, service)
    assert "access_token" not in run(page, "() => readableCookies()")
    stored = cookies_of(browser_context)
    assert stored["access_token"]["httpOnly"] is True
    assert stored["refresh_token"]["httpOnly"] is True
    assert stored["refresh_token"]["path"] == "/cookie"
    assert stored["csrf_token"]["httpOnly"] is False


def test_the_app_changes_the_account_with_its_csrf_token(
    browser_context: BrowserContext, app_site: StaticSite, service: str
) -> None:
    page = logged_in_app(browser_context, app_site, service)
    renamed = run(page, "() => rename('Ada Lovelace')")
    assert renamed["status"] == 200
    assert renamed["body"]["full_name"] == "Ada Lovelace"


def test_a_change_without_the_csrf_token_is_refused(
    browser_context: BrowserContext, app_site: StaticSite, service: str
) -> None:
    page = logged_in_app(browser_context, app_site, service)
    refused = run(page, "() => rename('Mallory', false)")
    assert refused["status"] == 403
    assert refused["body"]["errors"][0]["code"] == "csrf_failed"


def test_the_app_refreshes_and_stays_signed_in(
    browser_context: BrowserContext, app_site: StaticSite, service: str
) -> None:
    page = logged_in_app(browser_context, app_site, service)
    before = {name: cookie["value"] for name, cookie in cookies_of(browser_context).items()}
    refreshed = run(page, "() => refresh()")
    assert refreshed["status"] == 200
    after = {name: cookie["value"] for name, cookie in cookies_of(browser_context).items()}
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert run(page, "() => me()")["status"] == 200


def test_two_tabs_refreshing_at_once_both_stay_signed_in(
    browser_context: BrowserContext, app_site: StaticSite, service: str
) -> None:
    """Both send the same refresh cookie: one rotates it, the other is inside
    the grace window; whichever answer the browser keeps is a live login."""
    first = logged_in_app(browser_context, app_site, service)
    second = open_app(browser_context, app_site, service)
    assert run(second, "() => recoverCsrfToken()")["status"] == 200
    for tab in (first, second):
        tab.evaluate("() => { window.pending = refresh(); }")
    assert [run(tab, "() => window.pending")["status"] for tab in (first, second)] == [200, 200]
    assert run(first, "() => me()")["status"] == 200
    assert run(second, "() => refresh()")["status"] == 200


def test_a_reloaded_app_gets_its_csrf_token_back(
    browser_context: BrowserContext, app_site: StaticSite, service: str
) -> None:
    page = logged_in_app(browser_context, app_site, service)
    page.reload()
    page.wait_for_function("typeof window.logIn === 'function'")
    assert run(page, "() => rename('Before')")["status"] == 403
    assert run(page, "() => recoverCsrfToken()")["status"] == 200
    assert run(page, "() => rename('After')")["status"] == 200


def test_logging_out_ends_the_login_and_clears_the_cookies(
    browser_context: BrowserContext, app_site: StaticSite, service: str
) -> None:
    page = logged_in_app(browser_context, app_site, service)
    assert run(page, "() => logOut()")["status"] == 204
    assert cookies_of(browser_context) == {}
    assert run(page, "() => me()")["status"] == 401


def test_a_page_of_another_origin_cannot_read_the_account(
    browser_context: BrowserContext,
    app_site: StaticSite,
    foreign_site: StaticSite,
    service: str,
) -> None:
    logged_in_app(browser_context, app_site, service)
    foreign = open_app(browser_context, foreign_site, service)
    read = run(foreign, "() => me()")
    assert read["status"] == 0, read  # CORS shares nothing with it


def test_a_page_of_another_origin_cannot_act_with_the_cookies(
    browser_context: BrowserContext,
    app_site: StaticSite,
    foreign_site: StaticSite,
    service: str,
) -> None:
    """localhost on another port is the same site, so SameSite lets the
    cookies go: the origin check is what refuses the forged request."""
    app = logged_in_app(browser_context, app_site, service)
    foreign = open_app(browser_context, foreign_site, service)
    assert run(foreign, "() => forgeSignOutEverywhere()") == "sent"
    assert run(app, "() => me()")["status"] == 200
    assert run(app, "() => refresh()")["status"] == 200
