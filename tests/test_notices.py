"""Security notices by mail, through the real SMTP test server: what each says,
that none blocks or fails its request, and that a setting turns each kind off."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from service.models import AuthEvent, Login
from tests.helpers import STRONG_PASSWORD, Account, claims_of, promote, refresh, register
from tests.mailserver import PASSWORD_CHANGED_SUBJECT, Inbox, body_of, settle

NEW_PASSWORD = "quartz-meadow-violin-77"
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SESSION_ENDED_SUBJECT = "An administrator signed you out"


def make_superuser(client: TestClient, engine: Engine) -> Account:
    return promote(client, engine, register(client, email="root@example.com"))


def log_in_from(client: TestClient, account: Account, user_agent: str) -> dict:
    response = client.post(
        "/login",
        data={"username": account.email, "password": account.password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    return response.json()


# A session ended by an administrator


def test_a_session_ended_by_a_superuser_is_told_to_its_owner_with_its_device(
    mail_client: TestClient, inbox: Inbox, db_engine: Engine
) -> None:
    user = register(mail_client)
    root = make_superuser(mail_client, db_engine)
    firefox = log_in_from(mail_client, user, FIREFOX)

    response = mail_client.delete(
        f"/users/{user.id}/sessions/{claims_of(firefox['access_token'])['sid']}",
        headers=root.headers,
    )

    assert response.status_code == 204
    notice = inbox.wait_for_message(to=user.email, subject=SESSION_ENDED_SUBJECT)
    assert "ended the session on Firefox on Ubuntu" in body_of(notice)
    assert "UTC, from testclient" in body_of(notice)


def test_every_session_ended_by_a_superuser_is_one_notice(
    mail_client: TestClient, inbox: Inbox, db_engine: Engine
) -> None:
    user = register(mail_client)
    root = make_superuser(mail_client, db_engine)
    log_in_from(mail_client, user, FIREFOX)

    response = mail_client.delete(f"/users/{user.id}/sessions", headers=root.headers)

    assert response.status_code == 204
    settle(mail_client)
    notices = inbox.matching(to=user.email, subject=SESSION_ENDED_SUBJECT)
    assert len(notices) == 1
    assert "ended every session" in body_of(notices[0])


@pytest.mark.parametrize("path", ["/users/me/sessions/{sid}", "/users/me/sessions"])
def test_ending_ones_own_sessions_mails_nothing(
    mail_client: TestClient, inbox: Inbox, path: str
) -> None:
    user = register(mail_client)
    firefox = log_in_from(mail_client, user, FIREFOX)

    sid = claims_of(firefox["access_token"])["sid"]
    assert mail_client.delete(path.format(sid=sid), headers=user.headers).status_code == 204

    settle(mail_client)
    assert inbox.matching(to=user.email, subject=SESSION_ENDED_SUBJECT) == []


def test_notify_session_ended_false_mails_nothing_and_still_ends_it(
    make_mail_client: Callable[..., TestClient], inbox: Inbox, db_engine: Engine
) -> None:
    client = make_mail_client(notify_session_ended=False)
    user = register(client)
    root = make_superuser(client, db_engine)

    response = client.delete(f"/users/{user.id}/sessions", headers=root.headers)

    assert response.status_code == 204
    assert client.get("/users/me", headers=user.headers).status_code == 401
    settle(client)
    assert inbox.matching(to=user.email, subject=SESSION_ENDED_SUBJECT) == []


# Password changes: the notice existed before; the setting is new


def test_notify_password_change_false_mails_no_password_notice(
    make_mail_client: Callable[..., TestClient], inbox: Inbox
) -> None:
    client = make_mail_client(notify_password_change=False)
    user = register(client)

    response = client.post(
        "/users/me/password",
        headers=user.headers,
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 204
    settle(client)
    assert inbox.matching(to=user.email, subject=PASSWORD_CHANGED_SUBJECT) == []


def test_a_notice_that_cannot_be_delivered_fails_nothing(
    make_client: Callable[..., TestClient], db_engine: Engine
) -> None:
    # An SMTP server that is not there: the outbox logs the failure, the request is done.
    client = make_client(smtp_url="smtp://127.0.0.1:1")
    user = register(client)
    root = make_superuser(client, db_engine)

    response = client.delete(f"/users/{user.id}/sessions", headers=root.headers)

    assert response.status_code == 204


# A sign-in from a device and address new to the account

NEW_LOGIN_SUBJECT = "New sign-in to your account"


def test_a_login_from_a_new_device_is_told_with_device_and_address(
    mail_client: TestClient, inbox: Inbox
) -> None:
    user = register(mail_client)

    log_in_from(mail_client, user, FIREFOX)

    notice = inbox.wait_for_message(to=user.email, subject=NEW_LOGIN_SUBJECT)
    assert "from Firefox on Ubuntu" in body_of(notice)
    assert "UTC, from testclient" in body_of(notice)
    assert "token" not in body_of(notice).lower().replace("tokens", "")


def test_the_first_login_from_the_sign_up_device_is_not_a_new_sign_in(
    mail_client: TestClient, inbox: Inbox
) -> None:
    # register() signs up and logs in from the same client at once.
    user = register(mail_client)

    settle(mail_client)
    assert inbox.matching(to=user.email, subject=NEW_LOGIN_SUBJECT) == []


def test_a_second_login_from_a_known_device_is_not_told(
    mail_client: TestClient, inbox: Inbox
) -> None:
    user = register(mail_client)
    log_in_from(mail_client, user, FIREFOX)
    inbox.wait_for_message(to=user.email, subject=NEW_LOGIN_SUBJECT)

    log_in_from(mail_client, user, FIREFOX)

    settle(mail_client)
    assert len(inbox.matching(to=user.email, subject=NEW_LOGIN_SUBJECT)) == 1


def test_a_known_device_from_a_new_address_is_told(
    make_mail_client: Callable[..., TestClient], inbox: Inbox
) -> None:
    client = make_mail_client()
    user = register(client)
    elsewhere = TestClient(client.app, client=("198.51.100.7", 5000))

    log_in_from(elsewhere, user, "testclient")

    notice = inbox.wait_for_message(to=user.email, subject=NEW_LOGIN_SUBJECT)
    assert "from 198.51.100.7" in body_of(notice)


def test_a_device_unseen_for_longer_than_the_memory_is_new_again(
    make_mail_client: Callable[..., TestClient], inbox: Inbox, db_engine: Engine
) -> None:
    client = make_mail_client(new_login_memory_days=30)
    user = register(client)
    log_in_from(client, user, FIREFOX)
    inbox.wait_for_message(to=user.email, subject=NEW_LOGIN_SUBJECT)
    # Reading the trail writes what is still queued of it, so all of it is back-dated.
    assert client.get("/users/me/events", headers=user.headers).status_code == 200
    long_ago = datetime.now(UTC) - timedelta(days=31)
    with db_engine.begin() as connection:
        connection.execute(update(Login).values(created_at=long_ago))
        connection.execute(update(AuthEvent).values(at=long_ago))

    log_in_from(client, user, FIREFOX)

    inbox.wait_for_message(to=user.email, subject=NEW_LOGIN_SUBJECT, nth=2)


def test_a_failed_login_from_a_new_device_is_not_told(
    mail_client: TestClient, inbox: Inbox
) -> None:
    user = register(mail_client)

    response = mail_client.post(
        "/login",
        data={"username": user.email, "password": "wrong-password-1"},
        headers={"User-Agent": FIREFOX},
    )

    assert response.status_code == 401
    settle(mail_client)
    assert inbox.matching(to=user.email, subject=NEW_LOGIN_SUBJECT) == []


def test_notify_new_login_false_mails_no_new_sign_in(
    make_mail_client: Callable[..., TestClient], inbox: Inbox
) -> None:
    client = make_mail_client(notify_new_login=False)
    user = register(client)

    log_in_from(client, user, FIREFOX)

    settle(client)
    assert inbox.matching(to=user.email, subject=NEW_LOGIN_SUBJECT) == []


# A spent refresh token presented again

REUSE_SUBJECT = "We signed a device out of your account"


def test_refresh_token_reuse_is_told_naming_the_signed_out_device(
    mail_client: TestClient, inbox: Inbox
) -> None:
    user = register(mail_client)
    firefox = log_in_from(mail_client, user, FIREFOX)
    assert refresh(mail_client, firefox["refresh_token"]).status_code == 200

    reused = refresh(mail_client, firefox["refresh_token"])

    assert reused.status_code == 401
    notice = inbox.wait_for_message(to=user.email, subject=REUSE_SUBJECT)
    assert "on Firefox on Ubuntu" in body_of(notice)
    assert "signed that device out" in body_of(notice)


def test_a_refresh_refused_for_another_reason_is_not_told_as_reuse(
    mail_client: TestClient, inbox: Inbox
) -> None:
    user = register(mail_client)
    mail_client.post("/logout", json={"refresh_token": user.refresh_token})

    assert refresh(mail_client, user.refresh_token).status_code == 401

    settle(mail_client)
    assert inbox.matching(to=user.email, subject=REUSE_SUBJECT) == []


def test_notify_token_reuse_false_mails_no_reuse_notice(
    make_mail_client: Callable[..., TestClient], inbox: Inbox
) -> None:
    client = make_mail_client(notify_token_reuse=False)
    user = register(client)
    refresh(client, user.refresh_token)

    assert refresh(client, user.refresh_token).status_code == 401

    settle(client)
    assert inbox.matching(to=user.email, subject=REUSE_SUBJECT) == []
