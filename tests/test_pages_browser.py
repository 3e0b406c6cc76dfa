"""The service's own pages end to end, as a person uses them: a real server
(uvicorn) mailing through a real SMTP server, and headless Chromium opening
the link from the message. Once with JavaScript off, to show none is needed.

With PAGES_SCREENSHOTS=<dir> each page is saved there as a PNG
(docs/screenshots/make.py does that for the README).
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser import ACTION_TIMEOUT_MS
from tests.helpers import STRONG_PASSWORD
from tests.mailserver import RESET_SUBJECT, VERIFY_SUBJECT, MailServer, body_of
from tests.pages_html import NO_LONGER_WORKS
from tests.servers import ServerProcess

pytestmark = pytest.mark.sqlite_only

NEW_PASSWORD = "fresh-orbit-lantern-77"
LINK = re.compile(r"^(http://\S+/pages/\S+\?token=[A-Za-z0-9_-]+)$", re.MULTILINE)
SCREENSHOTS = os.environ.get("PAGES_SCREENSHOTS")


class PagesServer(ServerProcess):
    """A server whose links point at itself: PUBLIC_URL is its own address."""

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "PUBLIC_URL": self.url}


@pytest.fixture(scope="module")
def mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(
    database_url: str, mail_server: MailServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PagesServer]:
    running = PagesServer(
        database_url=database_url,
        workdir=tmp_path_factory.mktemp("pages-server"),
        env={"SMTP_URL": mail_server.url()},
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture
def api(server: PagesServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def no_script_page(browser: Browser) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def sign_up(api: httpx.Client, email: str) -> None:
    response = api.post("/users", json={"email": email, "password": STRONG_PASSWORD})
    assert response.status_code == 201, response.text


def access_token(api: httpx.Client, email: str, password: str) -> str:
    response = api.post("/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def logs_in(api: httpx.Client, email: str, password: str) -> bool:
    return api.post("/login", data={"username": email, "password": password}).status_code == 200


def mailed_link(mail_server: MailServer, *, to: str, subject: str) -> str:
    found = LINK.search(body_of(mail_server.inbox.wait_for_message(to=to, subject=subject)))
    assert found, "no link to the service's pages in the message"
    return found.group(1)


def reset_link(api: httpx.Client, mail_server: MailServer, email: str) -> str:
    sign_up(api, email)
    assert api.post("/password/forgot", json={"email": email}).status_code == 202
    return mailed_link(mail_server, to=email, subject=RESET_SUBJECT)


def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def heading(page: Page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def choose_password(page: Page, password: str) -> None:
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password, again").fill(password)
    page.get_by_role("button", name="Set the new password").click()


def test_a_password_is_reset_from_the_mailed_link_and_logs_in(
    page: Page, api: httpx.Client, mail_server: MailServer, server: PagesServer
) -> None:
    link = reset_link(api, mail_server, "ada@example.com")
    assert link.startswith(f"{server.url}/pages/reset-password?token=")

    opened = page.goto(link)
    assert opened is not None
    assert opened.status == 200
    assert heading(page) == "Choose a new password"
    shot(page, "reset-form")

    choose_password(page, "12345678")
    alert = page.get_by_role("alert")
    assert "Password must not be entirely numeric" in alert.inner_text()
    assert "Password is too common" in alert.inner_text()
    shot(page, "reset-broken-rule")

    choose_password(page, NEW_PASSWORD)
    assert heading(page) == "Your password is changed"
    shot(page, "reset-done")

    assert logs_in(api, "ada@example.com", NEW_PASSWORD)
    assert not logs_in(api, "ada@example.com", STRONG_PASSWORD)


def test_a_spent_reset_link_shows_a_clear_page(
    page: Page, api: httpx.Client, mail_server: MailServer
) -> None:
    link = reset_link(api, mail_server, "bob@example.com")
    page.goto(link)
    choose_password(page, NEW_PASSWORD)
    assert heading(page) == "Your password is changed"

    again = page.goto(link)

    assert again is not None
    assert again.status == 400
    assert heading(page) == NO_LONGER_WORKS
    assert "Ask for a new password reset link" in page.get_by_role("alert").inner_text()
    shot(page, "spent-link")


def test_an_address_is_confirmed_with_the_button_after_a_mail_scanner_opened_the_link(
    page: Page, api: httpx.Client, mail_server: MailServer
) -> None:
    sign_up(api, "cy@example.com")
    token = access_token(api, "cy@example.com", STRONG_PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.post("/users/me/verify", headers=headers).status_code == 202
    link = mailed_link(mail_server, to="cy@example.com", subject=VERIFY_SUBJECT)
    # A scanner follows every link of a message before its reader does.
    assert httpx.get(link, timeout=10).status_code == 200

    page.goto(link)
    assert heading(page) == "Confirm your email address"
    shot(page, "verify")
    page.get_by_role("button", name="Confirm my address").click()

    assert heading(page) == "Your email address is confirmed"
    shot(page, "verified")
    assert api.get("/users/me", headers=headers).json()["is_verified"] is True


def test_the_reset_works_with_javascript_off(
    no_script_page: Page, api: httpx.Client, mail_server: MailServer
) -> None:
    link = reset_link(api, mail_server, "dee@example.com")

    no_script_page.goto(link)
    choose_password(no_script_page, "dee-example-com")
    assert "too similar to the email address" in no_script_page.get_by_role("alert").inner_text()
    choose_password(no_script_page, NEW_PASSWORD)

    assert heading(no_script_page) == "Your password is changed"
    assert logs_in(api, "dee@example.com", NEW_PASSWORD)


def test_the_verification_works_with_javascript_off(
    no_script_page: Page, api: httpx.Client, mail_server: MailServer
) -> None:
    sign_up(api, "eve@example.com")
    token = access_token(api, "eve@example.com", STRONG_PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    api.post("/users/me/verify", headers=headers)
    link = mailed_link(mail_server, to="eve@example.com", subject=VERIFY_SUBJECT)

    no_script_page.goto(link)
    no_script_page.get_by_role("button", name="Confirm my address").click()

    assert heading(no_script_page) == "Your email address is confirmed"
    assert api.get("/users/me", headers=headers).json()["is_verified"] is True


def test_the_pages_load_their_stylesheet_under_their_csp(
    page: Page, api: httpx.Client, mail_server: MailServer
) -> None:
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text))
    link = reset_link(api, mail_server, "flo@example.com")

    page.goto(link)

    # The stylesheet applied: the button has the page's accent colour, and
    # the CSP refused nothing the page asked for.
    colour = page.get_by_role("button").evaluate("b => getComputedStyle(b).backgroundColor")
    assert colour == "rgb(26, 86, 176)"
    assert not [text for text in refused if "Content Security Policy" in text]
