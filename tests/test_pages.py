"""The service's own pages for the mailed links (/pages/...): opening a link
spends nothing, the forms spend the token, every problem is an HTML page with
the API's status, and what a screen reader needs is there. Through HTTP and a
real SMTP server; the browser runs them in tests/test_pages_browser.py."""

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.passwords import password_rules
from service.problems import DomainError, Problem
from service.throttling import throttled
from tests.helpers import STRONG_PASSWORD, Account, login_response, me, register, signup
from tests.mailserver import (
    Inbox,
    expire_tokens,
    mailed_email_change_token,
    mailed_reset_token,
    mailed_verification_token,
    token_rows,
)
from tests.pages_html import (
    EMAIL_CHANGE_PAGE,
    NO_LONGER_WORKS,
    PAGE_CSP,
    RESET_PAGE,
    VERIFY_PAGE,
    alert_text,
    page_of,
)

NEW_PASSWORD = "fresh-orbit-lantern-77"
NEW_EMAIL = "ada@lovelace.example"
TEMPLATES = Path(__file__).resolve().parent.parent / "service" / "templates"


@pytest.fixture
def ada(mail_client: TestClient) -> Account:
    return register(mail_client, email="ada@example.com", password=STRONG_PASSWORD)


@pytest.fixture
def reset_token(mail_client: TestClient, inbox: Inbox, ada: Account) -> str:
    return mailed_reset_token(mail_client, inbox, ada.email)


@pytest.fixture
def verification_token(mail_client: TestClient, inbox: Inbox, ada: Account) -> str:
    return mailed_verification_token(mail_client, inbox, ada)


def post_reset(
    client: TestClient, token: str, password: str, confirm: str | None = None
) -> httpx.Response:
    confirm = password if confirm is None else confirm
    return client.post(
        RESET_PAGE,
        data={"token": token, "new_password": password, "confirm_password": confirm},
    )


def logs_in(client: TestClient, email: str, password: str) -> bool:
    return login_response(client, email, password).status_code == 200


# The reset page


def test_opening_the_reset_link_shows_the_form_with_the_token_in_a_hidden_field(
    mail_client: TestClient, reset_token: str
) -> None:
    response = mail_client.get(RESET_PAGE, params={"token": reset_token})

    page = page_of(response)
    assert response.status_code == 200
    assert page.title() == "Choose a new password"
    token_field = page.field("token")
    assert token_field.attrs == {"type": "hidden", "name": "token", "value": reset_token}
    (form,) = page.all("form")
    assert form.attrs == {"method": "post", "action": "reset-password"}


def test_opening_the_reset_link_does_not_spend_the_token(
    mail_client: TestClient, reset_token: str, db_engine: Engine, ada: Account
) -> None:
    for _ in range(3):
        assert mail_client.get(RESET_PAGE, params={"token": reset_token}).status_code == 200

    assert len(token_rows(db_engine)) == 1
    assert post_reset(mail_client, reset_token, NEW_PASSWORD).status_code == 200


def test_the_reset_form_shows_every_password_rule_and_points_the_input_at_them(
    mail_client: TestClient, reset_token: str
) -> None:
    page = page_of(mail_client.get(RESET_PAGE, params={"token": reset_token}))

    rules = page.by_id("password-rules")
    assert rules is not None
    shown = [item.text.strip() for item in page.all("li")]
    assert shown == password_rules(min_length=8)
    password = page.field("new_password")
    assert password.attrs["aria-describedby"] == "password-rules"
    assert password.attrs["autocomplete"] == "new-password"


def test_the_reset_form_names_the_account_for_password_managers(
    mail_client: TestClient, reset_token: str, ada: Account
) -> None:
    page = page_of(mail_client.get(RESET_PAGE, params={"token": reset_token}))

    username = page.field("username")
    assert username.attrs["value"] == ada.email
    assert username.attrs["autocomplete"] == "username"


def test_the_reset_form_sets_the_password_and_says_so(
    mail_client: TestClient, reset_token: str, ada: Account
) -> None:
    response = post_reset(mail_client, reset_token, NEW_PASSWORD)

    assert response.status_code == 200
    assert page_of(response).title() == "Your password is changed"
    assert "Sign in with the new password." in response.text
    assert logs_in(mail_client, ada.email, NEW_PASSWORD)
    assert not logs_in(mail_client, ada.email, STRONG_PASSWORD)


def test_the_reset_form_signs_out_every_session(
    mail_client: TestClient, reset_token: str, ada: Account
) -> None:
    post_reset(mail_client, reset_token, NEW_PASSWORD)

    assert me(mail_client, ada.access_token).status_code == 401


@pytest.mark.parametrize(
    ("password", "broken"),
    [
        ("qz7!wv", ["Password must be at least 8 characters"]),
        (
            "12345678",
            ["Password must not be entirely numeric", "Password is too common"],
        ),
        ("password", ["Password is too common"]),
        ("ada-example-com", ["Password is too similar to the email address"]),
        ("é" * 40, ["Password must be at most 72 bytes in UTF-8"]),
    ],
)
def test_each_broken_rule_is_explained_in_an_alert(
    mail_client: TestClient, reset_token: str, password: str, broken: list[str]
) -> None:
    response = post_reset(mail_client, reset_token, password)

    assert response.status_code == 422
    said = alert_text(response)
    assert said.startswith("The password was not changed")
    for message in broken:
        assert message in said
    assert said.count("Password ") == len(broken)


def test_a_refused_password_keeps_the_form_and_the_token_for_another_try(
    mail_client: TestClient, reset_token: str, ada: Account
) -> None:
    page = page_of(post_reset(mail_client, reset_token, "short1"))

    assert page.field("token").attrs["value"] == reset_token
    password = page.field("new_password")
    assert password.attrs["aria-invalid"] == "true"
    assert password.attrs["aria-describedby"] == "password-problems password-rules"
    assert "autofocus" in password.attrs
    assert post_reset(mail_client, reset_token, NEW_PASSWORD).status_code == 200
    assert logs_in(mail_client, ada.email, NEW_PASSWORD)


def test_two_different_passwords_are_refused_and_nothing_changes(
    mail_client: TestClient, reset_token: str, ada: Account
) -> None:
    response = post_reset(mail_client, reset_token, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")

    assert response.status_code == 422
    assert "The two passwords are not the same" in alert_text(response)
    assert logs_in(mail_client, ada.email, STRONG_PASSWORD)


def test_a_spent_reset_link_shows_a_clear_page_when_opened(
    mail_client: TestClient, reset_token: str
) -> None:
    post_reset(mail_client, reset_token, NEW_PASSWORD)

    response = mail_client.get(RESET_PAGE, params={"token": reset_token})

    assert response.status_code == 400
    assert page_of(response).title() == NO_LONGER_WORKS
    assert "Ask for a new password reset link" in alert_text(response)


def test_a_spent_reset_link_shows_a_clear_page_when_posted_again(
    mail_client: TestClient, reset_token: str
) -> None:
    post_reset(mail_client, reset_token, NEW_PASSWORD)

    response = post_reset(mail_client, reset_token, "another-fresh-phrase-12")

    assert response.status_code == 400
    assert page_of(response).title() == NO_LONGER_WORKS


def test_an_expired_reset_link_shows_a_clear_page(
    mail_client: TestClient, reset_token: str, db_engine: Engine
) -> None:
    expire_tokens(db_engine)

    response = mail_client.get(RESET_PAGE, params={"token": reset_token})

    assert response.status_code == 400
    assert page_of(response).title() == NO_LONGER_WORKS


@pytest.mark.parametrize("page", [RESET_PAGE, VERIFY_PAGE, EMAIL_CHANGE_PAGE])
@pytest.mark.parametrize(
    "token", [None, "", "made-up-token-of-nobody", "a" * 129, "<script>", "x y", "ünïcode"]
)
def test_a_link_without_a_usable_token_shows_a_clear_page(
    client: TestClient, page: str, token: str | None
) -> None:
    response = client.get(page, params={} if token is None else {"token": token})

    assert response.status_code == 400
    assert page_of(response).title() == NO_LONGER_WORKS
    assert "<script>" not in response.text


# The verification page


def test_opening_the_verification_link_shows_a_button_and_spends_nothing(
    mail_client: TestClient, verification_token: str, ada: Account, db_engine: Engine
) -> None:
    response = mail_client.get(VERIFY_PAGE, params={"token": verification_token})

    page = page_of(response)
    assert response.status_code == 200
    assert page.title() == "Confirm your email address"
    assert ada.email in response.text
    (button,) = page.all("button")
    assert button.attrs["type"] == "submit"
    assert page.field("token").attrs["value"] == verification_token
    assert me(mail_client, ada.access_token).json()["is_verified"] is False
    assert len(token_rows(db_engine)) == 1


def test_the_verification_button_confirms_the_address(
    mail_client: TestClient, verification_token: str, ada: Account
) -> None:
    response = mail_client.post(VERIFY_PAGE, data={"token": verification_token})

    assert response.status_code == 200
    assert page_of(response).title() == "Your email address is confirmed"
    assert f"{ada.email} is confirmed" in response.text
    assert me(mail_client, ada.access_token).json()["is_verified"] is True


def test_a_spent_verification_link_shows_a_clear_page(
    mail_client: TestClient, verification_token: str
) -> None:
    mail_client.post(VERIFY_PAGE, data={"token": verification_token})

    opened = mail_client.get(VERIFY_PAGE, params={"token": verification_token})
    pressed = mail_client.post(VERIFY_PAGE, data={"token": verification_token})

    for response in (opened, pressed):
        assert response.status_code == 400
        assert page_of(response).title() == NO_LONGER_WORKS
        assert "Sign in and ask for a new confirmation link." in alert_text(response)


def test_a_reset_token_does_not_open_the_verification_page(
    mail_client: TestClient, reset_token: str
) -> None:
    response = mail_client.get(VERIFY_PAGE, params={"token": reset_token})

    assert response.status_code == 400


# The email change page


def test_the_email_change_page_moves_the_account_on_a_button_press(
    mail_client: TestClient, inbox: Inbox, ada: Account
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)

    opened = mail_client.get(EMAIL_CHANGE_PAGE, params={"token": token})
    assert opened.status_code == 200
    assert NEW_EMAIL in opened.text
    assert me(mail_client, ada.access_token).json()["email"] == ada.email

    pressed = mail_client.post(EMAIL_CHANGE_PAGE, data={"token": token})

    assert pressed.status_code == 200
    assert page_of(pressed).title() == "Your email address is changed"
    assert me(mail_client, ada.access_token).json()["email"] == NEW_EMAIL


def test_an_address_taken_meanwhile_shows_a_409_page(
    mail_client: TestClient, inbox: Inbox, ada: Account
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    assert signup(mail_client, NEW_EMAIL, "orbit-staple-lantern-5").status_code == 201

    response = mail_client.post(EMAIL_CHANGE_PAGE, data={"token": token})

    assert response.status_code == 409
    assert page_of(response).title() == "This address is taken"
    assert me(mail_client, ada.access_token).json()["pending_email"] == NEW_EMAIL


# Throttling: a 429 from the service is a page too


def test_a_throttled_request_shows_a_429_page_with_retry_after(
    mail_client: TestClient, reset_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(**_: object) -> None:
        raise throttled(42)

    monkeypatch.setattr(mail_client.app.state.recovery, "reset_password", refused)

    response = post_reset(mail_client, reset_token, NEW_PASSWORD)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "42"
    assert page_of(response).title() == "Too many attempts"
    assert "Wait 42 seconds" in alert_text(response)


def test_a_problem_without_words_of_its_own_is_a_page_with_the_apis_status(
    mail_client: TestClient, verification_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(**_: object) -> None:
        raise DomainError(Problem.FORBIDDEN)

    monkeypatch.setattr(mail_client.app.state.recovery, "verify_email", refused)

    response = mail_client.post(VERIFY_PAGE, data={"token": verification_token})

    assert response.status_code == 403
    assert page_of(response).title() == "Something went wrong"


# Headers, scripts, accessibility


@pytest.fixture
def every_page(
    mail_client: TestClient, inbox: Inbox, ada: Account, reset_token: str
) -> dict[str, httpx.Response]:
    verification = mailed_verification_token(mail_client, inbox, ada)
    return {
        "reset form": mail_client.get(RESET_PAGE, params={"token": reset_token}),
        "broken rule": post_reset(mail_client, reset_token, "short1"),
        "reset done": post_reset(mail_client, reset_token, NEW_PASSWORD),
        "verify": mail_client.get(VERIFY_PAGE, params={"token": verification}),
        "verified": mail_client.post(VERIFY_PAGE, data={"token": verification}),
        "spent": mail_client.get(VERIFY_PAGE, params={"token": verification}),
    }


def test_every_page_has_the_strict_csp_and_is_not_stored(
    every_page: dict[str, httpx.Response],
) -> None:
    for name, response in every_page.items():
        assert response.headers["content-security-policy"] == PAGE_CSP, name
        assert response.headers["cache-control"] == "no-store", name
        assert response.headers["referrer-policy"] == "no-referrer", name
        assert response.headers["x-frame-options"] == "DENY", name


def test_no_page_has_a_script_or_an_inline_style(every_page: dict[str, httpx.Response]) -> None:
    for name, response in every_page.items():
        page = page_of(response)
        assert not page.all("script"), name
        assert not page.all("style"), name
        for element in page.elements:
            handlers = [attr for attr in element.attrs if attr.startswith("on")]
            assert not handlers, (name, element)
            assert "style" not in element.attrs, (name, element)


def test_no_template_has_a_script() -> None:
    for template in TEMPLATES.glob("*.html"):
        assert "<script" not in template.read_text().lower(), template.name


def test_every_page_has_a_language_a_title_and_a_heading(
    every_page: dict[str, httpx.Response],
) -> None:
    for name, response in every_page.items():
        page = page_of(response)
        (html,) = page.all("html")
        assert html.attrs["lang"] == "en", name
        (title,) = page.all("title")
        assert page.title() in title.text, name


def test_every_visible_input_has_a_label_and_every_reference_a_target(
    every_page: dict[str, httpx.Response],
) -> None:
    for name, response in every_page.items():
        page = page_of(response)
        labelled = {label.attrs["for"] for label in page.all("label")}
        for field in page.all("input"):
            if field.attrs.get("type") == "hidden" or "hidden" in field.attrs:
                continue
            assert field.attrs["id"] in labelled, (name, field)
            for target in field.attrs.get("aria-describedby", "").split():
                assert page.by_id(target) is not None, (name, target)


def test_the_stylesheet_is_served_with_the_pages_csp(client: TestClient) -> None:
    response = client.get("/pages/pages.css")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["content-security-policy"] == PAGE_CSP


def test_api_answers_keep_their_own_csp(client: TestClient) -> None:
    response = client.get("/health")

    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )


def test_the_pages_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert not [path for path in paths if path.startswith("/pages")]
