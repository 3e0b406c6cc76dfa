"""Proving an address is one's own: POST /users/me/verify mails a link, POST
/verify redeems its token; and REQUIRE_VERIFIED_EMAIL, which keeps unverified
users from logging in. Through HTTP and a real SMTP server."""

import hashlib
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    assert_error,
    auth_headers,
    login,
    login_response,
    me,
    promote,
    register,
    set_user,
    signup,
)
from tests.mailserver import (
    EMAIL_CHANGE_ASKED_SUBJECT,
    EMAIL_CHANGE_SUBJECT,
    EMAIL_CHANGED_SUBJECT,
    VERIFY_SUBJECT,
    Inbox,
    body_of,
    change_email_confirmed,
    expire_tokens,
    mailed_reset_token,
    mailed_verification_token,
    request_verification,
    reset,
    settle,
    token_in,
    token_rows,
    verify,
)

NEW_EMAIL = "ada@lovelace.example"
NEW_PASSWORD = "fresh-orbit-lantern-77"
WRONG_PASSWORD = "wrong-guess-000"

MakeClient = Callable[..., TestClient]


def change_email(client: TestClient, account: Account, email: str) -> httpx.Response:
    return client.patch(
        "/users/me",
        headers=account.headers,
        json={"email": email, "current_password": account.password},
    )


def is_verified(client: TestClient, account: Account) -> bool:
    response = me(client, account.access_token)
    assert response.status_code == 200, response.text
    return response.json()["is_verified"]


@pytest.fixture
def ada(mail_client: TestClient) -> Account:
    return register(mail_client, email="ada@example.com", password=STRONG_PASSWORD)


@pytest.fixture
def bob(mail_client: TestClient) -> Account:
    return register(mail_client, email="bob@example.com", password=OTHER_PASSWORD)


@pytest.fixture
def strict_client(make_mail_client: MakeClient) -> TestClient:
    """An app with REQUIRE_VERIFIED_EMAIL=true."""
    return make_mail_client(require_verified_email=True)


def signed_up_and_verified(client: TestClient, inbox: Inbox, email: str) -> Account:
    """With REQUIRE_VERIFIED_EMAIL: sign up, follow the link mailed, log in."""
    assert signup(client, email).status_code == 201
    token = token_in(inbox.wait_for_message(to=email, subject=VERIFY_SUBJECT))
    assert verify(client, token).status_code == 200
    tokens = login(client, email, STRONG_PASSWORD)
    return Account(
        id=me(client, tokens["access_token"]).json()["id"],
        email=email,
        password=STRONG_PASSWORD,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )


# The flag on the user


def test_a_new_user_is_not_verified(mail_client: TestClient) -> None:
    response = signup(mail_client, "ada@example.com")

    assert response.status_code == 201
    assert response.json()["is_verified"] is False


def test_asking_for_a_new_email_keeps_the_user_verified(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    # The proven address stays the account's until the new one is confirmed,
    # and the confirmation proves the new one (tests/test_email_change.py).
    verify(mail_client, mailed_verification_token(mail_client, inbox, ada))

    response = change_email(mail_client, ada, NEW_EMAIL)

    assert response.status_code == 200, response.text
    assert response.json()["is_verified"] is True
    assert is_verified(mail_client, ada) is True


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_a_superuser_changing_a_users_email_makes_it_unverified(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine, method: str
) -> None:
    admin = register(mail_client, email="root@example.com", password=OTHER_PASSWORD)
    admin = promote(mail_client, db_engine, admin)
    verify(mail_client, mailed_verification_token(mail_client, inbox, ada))

    response = mail_client.request(
        method, f"/users/{ada.id}", headers=admin.headers, json={"email": NEW_EMAIL}
    )

    assert response.status_code == 200, response.text
    assert response.json()["is_verified"] is False


def test_changing_only_the_name_keeps_the_user_verified(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    verify(mail_client, mailed_verification_token(mail_client, inbox, ada))

    mail_client.patch("/users/me", headers=ada.headers, json={"full_name": "Ada Lovelace"})

    assert is_verified(mail_client, ada) is True


def test_setting_the_same_email_again_keeps_the_user_verified(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    verify(mail_client, mailed_verification_token(mail_client, inbox, ada))

    response = change_email(mail_client, ada, "ADA@example.com")

    assert response.status_code == 200, response.text
    assert is_verified(mail_client, ada) is True


# Asking for a link


def test_request_verification_is_202_accepted(mail_client: TestClient, ada: Account) -> None:
    response = request_verification(mail_client, ada.access_token)

    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}


def test_request_verification_mails_a_link_to_the_current_address(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    change_email_confirmed(mail_client, inbox, ada, NEW_EMAIL)

    request_verification(mail_client, ada.access_token)

    message = inbox.wait_for_message(to=NEW_EMAIL, subject=VERIFY_SUBJECT)
    assert f"http://localhost:8000/pages/verify-email?token={token_in(message)}" in body_of(message)
    settle(mail_client)
    assert inbox.matching(to=ada.email, subject=VERIFY_SUBJECT) == []


def test_request_verification_mails_the_current_address_not_a_pending_one(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    change_email(mail_client, ada, NEW_EMAIL)

    request_verification(mail_client, ada.access_token)

    inbox.wait_for_message(to=ada.email, subject=VERIFY_SUBJECT)
    settle(mail_client)
    assert inbox.matching(to=NEW_EMAIL, subject=VERIFY_SUBJECT) == []


def test_request_verification_without_a_token_is_401(mail_client: TestClient) -> None:
    response = mail_client.post("/users/me/verify")

    assert_error(response, 401, "not_authenticated")


def test_request_verification_with_a_bad_token_is_401(mail_client: TestClient) -> None:
    response = mail_client.post("/users/me/verify", headers=auth_headers("not-a-jwt"))

    assert response.status_code == 401


def test_the_verification_link_is_built_from_public_app_url_and_the_template(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(
        public_app_url="https://app.example.com",
        verify_email_url="{PUBLIC_APP_URL}/confirm?token={token}",
    )
    account = register(app_client)

    token = mailed_verification_token(app_client, inbox, account)

    body = body_of(inbox.wait_for_message(to=account.email, subject=VERIFY_SUBJECT))
    assert f"https://app.example.com/confirm?token={token}" in body.splitlines()


def test_the_verification_message_says_who_asked_and_how_long_the_link_works(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    mail_client.post("/users/me/verify", headers={**ada.headers, "User-Agent": "AdaBrowser/2.1"})

    body = body_of(inbox.wait_for_message(to=ada.email, subject=VERIFY_SUBJECT))
    assert "UTC, from testclient (AdaBrowser/2.1)" in body
    assert "within 24 hours" in body


def test_the_verification_token_lives_verify_token_expire_minutes(
    make_mail_client: MakeClient, inbox: Inbox, db_engine: Engine
) -> None:
    app_client = make_mail_client(verify_token_expire_minutes=90)
    account = register(app_client)

    mailed_verification_token(app_client, inbox, account)

    (row,) = token_rows(db_engine)
    assert row.expires_at - row.created_at == timedelta(minutes=90)
    assert "within 1.5 hours" in body_of(inbox.wait_for_message(to=account.email))


def test_the_verification_token_is_stored_only_as_its_digest(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    token = mailed_verification_token(mail_client, inbox, ada)

    (row,) = token_rows(db_engine)
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    assert (row.user_id, row.purpose, row.email) == (ada.id, "verify_email", ada.email)
    for value in row:
        assert token not in str(value)


def test_request_verification_is_429_past_the_per_user_limit(
    make_mail_client: MakeClient,
) -> None:
    app_client = make_mail_client(verify_limit_per_account="2/hour")
    account = register(app_client)

    statuses = [request_verification(app_client, account.access_token).status_code for _ in "ab"]
    response = request_verification(app_client, account.access_token)

    assert statuses == [202, 202]
    assert_error(response, 429, "rate_limited", None)
    assert int(response.headers["retry-after"]) > 0


def test_the_verification_limit_is_per_user(make_mail_client: MakeClient) -> None:
    app_client = make_mail_client(verify_limit_per_account="1/hour")
    ada = register(app_client, email="ada@example.com")
    bob = register(app_client, email="bob@example.com", password=OTHER_PASSWORD)
    request_verification(app_client, ada.access_token)

    assert request_verification(app_client, bob.access_token).status_code == 202


def test_a_throttled_verification_request_mails_nothing(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(verify_limit_per_account="1/hour")
    account = register(app_client)

    statuses = [request_verification(app_client, account.access_token).status_code for _ in "ab"]
    settle(app_client)

    assert statuses == [202, 429]
    assert len(inbox.messages) == 1


# Verifying


def test_verify_with_the_mailed_token_is_200_with_the_user_verified(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_verification_token(mail_client, inbox, ada)

    response = verify(mail_client, token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["email"], body["is_verified"]) == (ada.id, ada.email, True)
    assert "hashed_password" not in body


def test_verify_marks_the_user_verified(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    assert is_verified(mail_client, ada) is False

    verify(mail_client, mailed_verification_token(mail_client, inbox, ada))

    assert is_verified(mail_client, ada) is True


def test_verify_signs_no_one_out(mail_client: TestClient, ada: Account, inbox: Inbox) -> None:
    verify(mail_client, mailed_verification_token(mail_client, inbox, ada))

    assert me(mail_client, ada.access_token).status_code == 200
    assert login_response(mail_client, ada.email, STRONG_PASSWORD).status_code == 200


def test_verify_with_a_spent_token_is_400_invalid_token(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_verification_token(mail_client, inbox, ada)
    assert verify(mail_client, token).status_code == 200

    response = verify(mail_client, token)

    assert_error(response, 400, "invalid_token", "token")


def test_verify_with_an_expired_token_is_400_invalid_token(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    token = mailed_verification_token(mail_client, inbox, ada)
    expire_tokens(db_engine)

    response = verify(mail_client, token)

    assert_error(response, 400, "invalid_token", "token")
    assert is_verified(mail_client, ada) is False


@pytest.mark.parametrize("token", ["x" * 43, "a", "A" * 128])
def test_verify_with_an_unknown_token_is_400_invalid_token(
    mail_client: TestClient, ada: Account, token: str
) -> None:
    response = verify(mail_client, token)

    assert_error(response, 400, "invalid_token", "token")


def test_verify_without_a_token_is_422_on_token(mail_client: TestClient) -> None:
    response = mail_client.post("/verify", json={})

    assert_error(response, 422, "field_required", "token")


def test_verify_with_a_reset_token_is_400_and_the_reset_token_still_resets(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_reset_token(mail_client, inbox, ada.email)

    response = verify(mail_client, token)

    assert_error(response, 400, "invalid_token", "token")
    assert is_verified(mail_client, ada) is False
    assert reset(mail_client, token, NEW_PASSWORD).status_code == 204


def test_a_verification_token_dies_when_the_email_changes(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_verification_token(mail_client, inbox, ada)
    change_email_confirmed(mail_client, inbox, ada, NEW_EMAIL)

    response = verify(mail_client, token)

    assert_error(response, 400, "invalid_token", "token")


def test_a_verification_token_dies_when_the_account_is_deactivated(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    token = mailed_verification_token(mail_client, inbox, ada)
    set_user(db_engine, ada.id, is_active=False)

    response = verify(mail_client, token)

    assert_error(response, 400, "invalid_token", "token")


def test_a_verification_token_verifies_only_its_own_user(
    mail_client: TestClient, ada: Account, bob: Account, inbox: Inbox
) -> None:
    ada_token = mailed_verification_token(mail_client, inbox, ada)
    bob_token = mailed_verification_token(mail_client, inbox, bob)

    assert verify(mail_client, bob_token).json()["id"] == bob.id

    assert (is_verified(mail_client, ada), is_verified(mail_client, bob)) == (False, True)
    assert verify(mail_client, ada_token).json()["id"] == ada.id


def test_any_of_several_outstanding_links_verifies(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    first = mailed_verification_token(mail_client, inbox, ada)
    mailed_verification_token(mail_client, inbox, ada)

    assert verify(mail_client, first).status_code == 200


# REQUIRE_VERIFIED_EMAIL=false (the default)


def test_without_required_verification_sign_up_mails_nothing(
    mail_client: TestClient, inbox: Inbox, db_engine: Engine
) -> None:
    assert signup(mail_client, "ada@example.com").status_code == 201
    settle(mail_client)

    assert inbox.messages == []
    assert token_rows(db_engine) == []


def test_without_required_verification_an_unverified_user_logs_in(
    mail_client: TestClient, inbox: Inbox
) -> None:
    signup(mail_client, "ada@example.com")

    response = login_response(mail_client, "ada@example.com", STRONG_PASSWORD)
    settle(mail_client)

    assert response.status_code == 200, response.text
    assert inbox.messages == []


def test_without_required_verification_an_email_change_mails_no_verification_link(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    change_email_confirmed(mail_client, inbox, ada, NEW_EMAIL)
    settle(mail_client)

    assert sorted((message["To"], message["Subject"]) for message in inbox.messages) == [
        (ada.email, EMAIL_CHANGE_ASKED_SUBJECT),
        (ada.email, EMAIL_CHANGED_SUBJECT),
        (NEW_EMAIL, EMAIL_CHANGE_SUBJECT),
    ]


# REQUIRE_VERIFIED_EMAIL=true


def test_with_required_verification_sign_up_mails_a_verification_link(
    strict_client: TestClient, inbox: Inbox
) -> None:
    assert signup(strict_client, "ada@example.com").status_code == 201

    message = inbox.wait_for_message(to="ada@example.com", subject=VERIFY_SUBJECT)
    assert "http://localhost:8000/pages/verify-email?token=" in body_of(message)


def test_with_required_verification_the_sign_up_link_verifies(
    strict_client: TestClient, inbox: Inbox
) -> None:
    signup(strict_client, "ada@example.com")
    token = token_in(inbox.wait_for_message(to="ada@example.com", subject=VERIFY_SUBJECT))

    response = verify(strict_client, token)

    assert response.status_code == 200, response.text
    assert response.json()["is_verified"] is True


def test_with_required_verification_login_before_verifying_is_401_email_not_verified(
    strict_client: TestClient,
) -> None:
    signup(strict_client, "ada@example.com")

    response = login_response(strict_client, "ada@example.com", STRONG_PASSWORD)

    assert_error(response, 401, "email_not_verified", None, oauth_error="invalid_grant")
    assert "access_token" not in response.json()


def test_with_required_verification_a_refused_login_mails_a_new_link(
    strict_client: TestClient, inbox: Inbox
) -> None:
    signup(strict_client, "ada@example.com")
    first = token_in(inbox.wait_for_message(to="ada@example.com", subject=VERIFY_SUBJECT))

    login_response(strict_client, "ada@example.com", STRONG_PASSWORD)

    message = inbox.wait_for_message(to="ada@example.com", subject=VERIFY_SUBJECT, nth=2)
    second = token_in(message)
    assert second != first
    assert verify(strict_client, second).status_code == 200


def test_with_required_verification_a_wrong_password_is_401_invalid_credentials_and_mails_nothing(
    strict_client: TestClient, inbox: Inbox
) -> None:
    signup(strict_client, "ada@example.com")

    response = login_response(strict_client, "ada@example.com", WRONG_PASSWORD)
    settle(strict_client)

    assert_error(response, 401, "invalid_credentials")
    assert len(inbox.matching(to="ada@example.com", subject=VERIFY_SUBJECT)) == 1


def test_with_required_verification_login_after_verifying_is_200(
    strict_client: TestClient, inbox: Inbox
) -> None:
    signup(strict_client, "ada@example.com")
    verify(
        strict_client,
        token_in(inbox.wait_for_message(to="ada@example.com", subject=VERIFY_SUBJECT)),
    )

    response = login_response(strict_client, "ada@example.com", STRONG_PASSWORD)

    assert response.status_code == 200, response.text


def test_with_required_verification_refused_logins_mail_within_the_verify_limit(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(require_verified_email=True, verify_limit_per_account="2/hour")
    signup(app_client, "ada@example.com")

    responses = [login_response(app_client, "ada@example.com", STRONG_PASSWORD) for _ in "abcd"]
    settle(app_client)

    for response in responses:
        assert_error(response, 401, "email_not_verified", None, oauth_error="invalid_grant")
    # One at sign-up, then one for each of the first two logins: the limit, silently.
    assert len(inbox.matching(to="ada@example.com", subject=VERIFY_SUBJECT)) == 3


def test_with_required_verification_a_confirmed_new_address_logs_in_at_once(
    strict_client: TestClient, inbox: Inbox
) -> None:
    # The confirmation link reached the new mailbox: no verification link is needed.
    account = signed_up_and_verified(strict_client, inbox, "ada@example.com")

    change_email_confirmed(strict_client, inbox, account, NEW_EMAIL)

    assert login_response(strict_client, NEW_EMAIL, STRONG_PASSWORD).status_code == 200
    settle(strict_client)
    assert inbox.matching(to=NEW_EMAIL, subject=VERIFY_SUBJECT) == []


def test_with_required_verification_asking_for_an_email_change_mails_no_verification_link(
    strict_client: TestClient, inbox: Inbox
) -> None:
    account = signed_up_and_verified(strict_client, inbox, "ada@example.com")

    change_email(strict_client, account, NEW_EMAIL)

    notice = inbox.wait_for_message(to="ada@example.com", subject=EMAIL_CHANGE_ASKED_SUBJECT)
    assert NEW_EMAIL in body_of(notice)
    settle(strict_client)
    assert len(inbox.matching(to="ada@example.com", subject=VERIFY_SUBJECT)) == 1
    assert inbox.matching(to=NEW_EMAIL, subject=VERIFY_SUBJECT) == []


def test_with_required_verification_an_address_a_superuser_set_must_be_verified_to_log_in(
    strict_client: TestClient, inbox: Inbox, db_engine: Engine
) -> None:
    account = signed_up_and_verified(strict_client, inbox, "ada@example.com")
    admin = signed_up_and_verified(strict_client, inbox, "root@example.com")
    admin = promote(strict_client, db_engine, admin)
    changed = strict_client.patch(
        f"/users/{account.id}", headers=admin.headers, json={"email": NEW_EMAIL}
    )
    assert changed.status_code == 200, changed.text

    response = login_response(strict_client, NEW_EMAIL, STRONG_PASSWORD)

    assert_error(response, 401, "email_not_verified", None, oauth_error="invalid_grant")
    inbox.wait_for_message(to=NEW_EMAIL, subject=VERIFY_SUBJECT)
