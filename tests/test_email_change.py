"""Changing one's email, confirmed at the new address: PATCH /users/me (or the
user route on oneself) asks and mails a link there, POST /email/confirm
redeems it. Through HTTP, on the real database and a real SMTP server; the
race of two confirmations against real server processes."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    assert_error,
    login,
    login_response,
    me,
    promote,
    refresh,
    register,
    set_user,
    signup,
)
from tests.mailserver import (
    EMAIL_CHANGE_ASKED_SUBJECT,
    EMAIL_CHANGE_SUBJECT,
    EMAIL_CHANGED_SUBJECT,
    Inbox,
    MailServer,
    ask_email_change,
    body_of,
    confirm_email,
    expire_tokens,
    mailed_email_change_token,
    mailed_verification_token,
    settle,
    token_in,
    token_rows,
    verify,
)
from tests.servers import ServerProcess, client_of, start_servers, stop_servers

NEW_EMAIL = "ada@lovelace.example"
LATER_EMAIL = "countess@lovelace.example"
NEW_PASSWORD = "fresh-orbit-lantern-77"

MakeClient = Callable[..., TestClient]


@pytest.fixture
def ada(mail_client: TestClient) -> Account:
    return register(mail_client, email="ada@example.com", password=STRONG_PASSWORD)


@pytest.fixture
def admin(mail_client: TestClient, db_engine: Engine) -> Account:
    account = register(mail_client, email="root@example.com", password=OTHER_PASSWORD)
    return promote(mail_client, db_engine, account)


def current(client: TestClient, account: Account) -> dict:
    response = me(client, account.access_token)
    assert response.status_code == 200, response.text
    return response.json()


def logs_in(client: TestClient, email: str, password: str = STRONG_PASSWORD) -> bool:
    return login_response(client, email, password).status_code == 200


# Asking


def test_asking_answers_the_user_unchanged_with_the_pending_address(
    mail_client: TestClient, ada: Account
) -> None:
    response = ask_email_change(mail_client, ada, " Ada@Lovelace.Example ")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["email"], body["pending_email"]) == ("ada@example.com", NEW_EMAIL)
    assert current(mail_client, ada)["pending_email"] == NEW_EMAIL


def test_asking_mails_a_single_use_link_to_the_new_address(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    ask_email_change(mail_client, ada, NEW_EMAIL)

    message = inbox.wait_for_message(to=NEW_EMAIL, subject=EMAIL_CHANGE_SUBJECT)
    body = body_of(message)
    assert f"http://localhost:8000/pages/confirm-email?token={token_in(message)}" in body
    assert "the account ada@example.com asked to change its email address" in body
    assert "within 24 hours" in body
    assert "The link works once" in body


def test_asking_mails_a_notice_without_the_link_to_the_old_address(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    mail_client.patch(
        "/users/me",
        headers={**ada.headers, "User-Agent": "AdaBrowser/1.0"},
        json={"email": NEW_EMAIL, "current_password": STRONG_PASSWORD},
    )

    notice = body_of(inbox.wait_for_message(to=ada.email, subject=EMAIL_CHANGE_ASKED_SUBJECT))
    assert f"to {NEW_EMAIL}, on " in notice
    assert "UTC, from testclient (AdaBrowser/1.0)" in notice
    assert "If this was not you, change your password at once" in notice
    assert "token=" not in notice


def test_the_old_address_still_logs_in_while_the_change_is_pending(
    mail_client: TestClient, ada: Account
) -> None:
    ask_email_change(mail_client, ada, NEW_EMAIL)

    assert logs_in(mail_client, ada.email)


def test_the_new_address_does_not_log_in_before_it_is_confirmed(
    mail_client: TestClient, ada: Account
) -> None:
    ask_email_change(mail_client, ada, NEW_EMAIL)

    assert_error(
        login_response(mail_client, NEW_EMAIL, STRONG_PASSWORD), 401, "invalid_credentials"
    )


def test_asking_again_replaces_the_pending_address(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    first = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    later = mailed_email_change_token(mail_client, inbox, ada, LATER_EMAIL)

    assert current(mail_client, ada)["pending_email"] == LATER_EMAIL
    assert_error(confirm_email(mail_client, first), 400, "invalid_token", "token")
    assert confirm_email(mail_client, later).json()["email"] == LATER_EMAIL


def test_asking_for_ones_current_address_calls_a_pending_change_off(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)

    # No password: calling off only undoes.
    response = mail_client.patch(
        "/users/me", headers=ada.headers, json={"email": "ADA@example.com"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["pending_email"] is None
    assert_error(confirm_email(mail_client, token), 400, "invalid_token", "token")


def test_asking_without_the_current_password_is_422_and_mails_nothing(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    response = mail_client.patch("/users/me", headers=ada.headers, json={"email": NEW_EMAIL})
    settle(mail_client)

    assert_error(response, 422, "field_required", "current_password")
    assert inbox.messages == []


def test_asking_with_a_wrong_current_password_is_403_and_mails_nothing(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    response = mail_client.patch(
        "/users/me",
        headers=ada.headers,
        json={"email": NEW_EMAIL, "current_password": "wrong-horse-battery-9"},
    )
    settle(mail_client)

    assert_error(response, 403, "invalid_current_password", "current_password")
    assert inbox.messages == []
    assert token_rows(db_engine) == []


def test_asking_for_an_address_another_account_has_is_409_and_mails_nothing(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    register(mail_client, email="bob@example.com", password=OTHER_PASSWORD)

    response = ask_email_change(mail_client, ada, "BOB@example.com")
    settle(mail_client)

    assert_error(response, 409, "email_taken", "email")
    assert inbox.messages == []


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_asking_through_the_user_route_waits_for_confirmation_too(
    mail_client: TestClient, ada: Account, inbox: Inbox, method: str
) -> None:
    response = mail_client.request(
        method,
        f"/users/{ada.id}",
        headers=ada.headers,
        json={"email": NEW_EMAIL, "current_password": STRONG_PASSWORD},
    )

    assert response.status_code == 200, response.text
    assert (response.json()["email"], response.json()["pending_email"]) == (ada.email, NEW_EMAIL)
    inbox.wait_for_message(to=NEW_EMAIL, subject=EMAIL_CHANGE_SUBJECT)


def test_a_new_password_in_the_same_request_leaves_the_link_working(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    # The link is bound to the credentials the request leaves, not those it ends.
    response = mail_client.patch(
        f"/users/{ada.id}",
        headers=ada.headers,
        json={"email": NEW_EMAIL, "password": NEW_PASSWORD, "current_password": STRONG_PASSWORD},
    )
    assert response.status_code == 200, response.text
    token = token_in(inbox.wait_for_message(to=NEW_EMAIL, subject=EMAIL_CHANGE_SUBJECT))

    assert confirm_email(mail_client, token).status_code == 200
    assert logs_in(mail_client, NEW_EMAIL, NEW_PASSWORD)


def test_asking_is_429_past_the_per_user_limit_and_mails_no_more(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    client = make_mail_client(verify_limit_per_account="2/hour")
    account = register(client)
    answers = [ask_email_change(client, account, f"ada{n}@lovelace.example") for n in range(3)]
    settle(client)

    assert [answer.status_code for answer in answers[:2]] == [200, 200]
    assert_error(answers[2], 429, "rate_limited", None)
    assert len([m for m in inbox.messages if m["Subject"] == EMAIL_CHANGE_SUBJECT]) == 2


def test_a_change_token_is_stored_only_as_its_digest_with_the_address_it_confirms(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)

    (row,) = token_rows(db_engine)
    assert (row.purpose, row.email, row.new_email) == ("email_change", ada.email, NEW_EMAIL)
    assert token not in row.digest


# Confirming


def test_confirming_moves_the_account_to_the_new_address_verified(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)

    response = confirm_email(mail_client, token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["email"], body["pending_email"]) == (ada.id, NEW_EMAIL, None)
    assert body["is_verified"] is True
    assert current(mail_client, ada)["email"] == NEW_EMAIL


def test_after_confirming_the_new_address_logs_in_and_the_old_one_does_not(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    confirm_email(mail_client, mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL))

    assert logs_in(mail_client, NEW_EMAIL)
    assert not logs_in(mail_client, ada.email)


def test_confirming_notifies_the_old_address(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)

    confirm_email(mail_client, token)

    notice = body_of(inbox.wait_for_message(to=ada.email, subject=EMAIL_CHANGED_SUBJECT))
    assert f"was changed to {NEW_EMAIL}" in notice
    assert "confirmed with the link sent to the new address" in notice


def test_confirming_signs_no_one_out(mail_client: TestClient, ada: Account, inbox: Inbox) -> None:
    confirm_email(mail_client, mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL))

    assert me(mail_client, ada.access_token).status_code == 200
    assert refresh(mail_client, ada.refresh_token).status_code == 200


def test_confirming_ends_links_sent_to_the_old_address(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    verification = mailed_verification_token(mail_client, inbox, ada)

    confirm_email(mail_client, mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL))

    assert_error(verify(mail_client, verification), 400, "invalid_token", "token")


def test_a_change_token_works_once(mail_client: TestClient, ada: Account, inbox: Inbox) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    assert confirm_email(mail_client, token).status_code == 200

    assert_error(confirm_email(mail_client, token), 400, "invalid_token", "token")


def test_a_change_token_dies_with_a_password_change_and_so_does_the_pending_address(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    changed = mail_client.post(
        "/users/me/password",
        headers=ada.headers,
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text

    assert_error(confirm_email(mail_client, token), 400, "invalid_token", "token")
    # The password change ended the access token the change was asked with.
    after = me(mail_client, login(mail_client, ada.email, NEW_PASSWORD)["access_token"]).json()
    assert (after["email"], after["pending_email"]) == (ada.email, None)


def test_an_expired_change_token_is_400(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    expire_tokens(db_engine)

    assert_error(confirm_email(mail_client, token), 400, "invalid_token", "token")
    assert current(mail_client, ada)["email"] == ada.email


def test_a_change_token_of_a_deactivated_user_is_400(
    mail_client: TestClient, ada: Account, inbox: Inbox, db_engine: Engine
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    set_user(db_engine, ada.id, is_active=False)

    assert_error(confirm_email(mail_client, token), 400, "invalid_token", "token")


def test_tokens_of_the_other_purposes_do_not_cross(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    change = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    verification = mailed_verification_token(mail_client, inbox, ada)

    assert_error(confirm_email(mail_client, verification), 400, "invalid_token", "token")
    assert_error(verify(mail_client, change), 400, "invalid_token", "token")
    assert confirm_email(mail_client, change).status_code == 200


def test_confirm_with_an_unknown_token_is_400(mail_client: TestClient) -> None:
    assert_error(confirm_email(mail_client, "not-a-link"), 400, "invalid_token", "token")


def test_confirm_without_a_token_is_422(mail_client: TestClient) -> None:
    response = mail_client.post("/email/confirm", json={})

    assert_error(response, 422, "field_required", "token")


# The pending address reserves nothing


def test_the_pending_address_is_not_reserved_against_sign_up(
    mail_client: TestClient, ada: Account
) -> None:
    ask_email_change(mail_client, ada, NEW_EMAIL)

    assert signup(mail_client, NEW_EMAIL, OTHER_PASSWORD).status_code == 201


def test_confirming_an_address_taken_since_is_409_and_changes_nothing(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    signup(mail_client, NEW_EMAIL, OTHER_PASSWORD)

    response = confirm_email(mail_client, token)

    assert_error(response, 409, "email_taken", "token")
    after = current(mail_client, ada)
    assert (after["email"], after["pending_email"]) == (ada.email, NEW_EMAIL)
    assert logs_in(mail_client, ada.email)
    assert logs_in(mail_client, NEW_EMAIL, OTHER_PASSWORD)


def test_a_link_refused_for_a_taken_address_works_once_the_address_is_free(
    mail_client: TestClient, ada: Account, inbox: Inbox
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, NEW_EMAIL)
    other = register(mail_client, email=NEW_EMAIL, password=OTHER_PASSWORD)
    assert confirm_email(mail_client, token).status_code == 409
    mail_client.delete("/users/me", headers=other.headers)

    assert confirm_email(mail_client, token).json()["email"] == NEW_EMAIL


# Superusers


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_a_superuser_changes_another_users_email_at_once(
    mail_client: TestClient, ada: Account, admin: Account, inbox: Inbox, method: str
) -> None:
    token = mailed_email_change_token(mail_client, inbox, ada, LATER_EMAIL)

    response = mail_client.request(
        method, f"/users/{ada.id}", headers=admin.headers, json={"email": NEW_EMAIL}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["email"], response.json()["pending_email"]) == (NEW_EMAIL, None)
    assert logs_in(mail_client, NEW_EMAIL)
    # The change its owner had asked for is called off.
    assert_error(confirm_email(mail_client, token), 400, "invalid_token", "token")


def test_a_superusers_own_new_email_waits_for_confirmation(
    mail_client: TestClient, admin: Account
) -> None:
    response = ask_email_change(mail_client, admin, "root@lovelace.example")

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "root@example.com"
    assert response.json()["pending_email"] == "root@lovelace.example"


# Two confirmations of one link at once, on two server processes


@pytest.fixture
def servers(
    smtp_server: MailServer, database_url: str, tmp_path: Path
) -> Iterator[list[ServerProcess]]:
    started = start_servers(
        2,
        database_url=database_url,
        workdir=tmp_path,
        env={"SMTP_URL": smtp_server.url(), "VERIFY_LIMIT_PER_ACCOUNT": "1000/hour"},
    )
    yield started
    stop_servers(started)


def confirm_twice_at_once(servers: list[ServerProcess], token: str) -> list[httpx.Response]:
    """Two confirmations of `token`, one to each server, released together."""
    barrier = Barrier(2)

    def confirm(index: int) -> httpx.Response:
        with client_of(servers, index) as racer:
            barrier.wait()
            return racer.post("/email/confirm", json={"token": token})

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(confirm, range(2)))


def test_two_simultaneous_confirmations_of_one_link_one_succeeds(
    servers: list[ServerProcess], inbox: Inbox
) -> None:
    with client_of(servers) as client:
        account = register(client)
        for round_ in range(3):
            new_email = f"ada{round_}@lovelace.example"
            token = mailed_email_change_token(client, inbox, account, new_email)

            answers = confirm_twice_at_once(servers, token)

            assert sorted(answer.status_code for answer in answers) == [200, 400], answers
            assert me(client, account.access_token).json()["email"] == new_email
