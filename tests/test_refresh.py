"""POST /refresh: rotation, single use, and theft detection."""

import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from service.config import Settings
from service.models import Login
from tests.helpers import (
    OTHER_PASSWORD,
    Account,
    assert_error,
    claims_of,
    login,
    me,
    refresh,
    sign,
)


def test_refresh_is_200_with_a_new_token_pair(client: TestClient, user: Account) -> None:
    response = refresh(client, user.refresh_token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["access_token"] != user.access_token
    assert body["refresh_token"] != user.refresh_token


def test_refresh_response_is_not_cacheable(client: TestClient, user: Account) -> None:
    response = refresh(client, user.refresh_token)

    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_refreshed_access_token_works(client: TestClient, user: Account) -> None:
    access_token = refresh(client, user.refresh_token).json()["access_token"]

    assert me(client, access_token).json()["id"] == user.id


def test_refreshed_refresh_token_can_be_refreshed_again(client: TestClient, user: Account) -> None:
    second = refresh(client, user.refresh_token).json()["refresh_token"]

    response = refresh(client, second)

    assert response.status_code == 200, response.text


def test_refresh_keeps_the_login_session(client: TestClient, user: Account) -> None:
    new_pair = refresh(client, user.refresh_token).json()

    assert claims_of(new_pair["refresh_token"])["sid"] == claims_of(user.refresh_token)["sid"]


def test_spent_refresh_token_is_401_invalid_grant(client: TestClient, user: Account) -> None:
    refresh(client, user.refresh_token)

    response = refresh(client, user.refresh_token)

    assert_error(response, 401, "invalid_token", None, oauth_error="invalid_grant")


def test_reusing_spent_refresh_token_revokes_the_newer_refresh_token(
    client: TestClient, user: Account
) -> None:
    newer = refresh(client, user.refresh_token).json()

    refresh(client, user.refresh_token)

    assert_error(refresh(client, newer["refresh_token"]), 401, "invalid_token")


def test_reusing_spent_refresh_token_revokes_the_newer_access_token(
    client: TestClient, user: Account
) -> None:
    newer = refresh(client, user.refresh_token).json()

    refresh(client, user.refresh_token)

    assert_error(me(client, newer["access_token"]), 401, "invalid_token")


def test_reusing_spent_refresh_token_revokes_the_original_access_token(
    client: TestClient, user: Account
) -> None:
    refresh(client, user.refresh_token)

    refresh(client, user.refresh_token)

    assert me(client, user.access_token).status_code == 401


def test_reusing_spent_refresh_token_leaves_another_login_signed_in(
    client: TestClient, user: Account
) -> None:
    other_login = login(client, user.email, user.password)
    refresh(client, user.refresh_token)

    refresh(client, user.refresh_token)

    assert me(client, other_login["access_token"]).status_code == 200
    assert refresh(client, other_login["refresh_token"]).status_code == 200


def test_reusing_spent_refresh_token_leaves_other_users_signed_in(
    client: TestClient, user: Account, other_user: Account
) -> None:
    refresh(client, user.refresh_token)

    refresh(client, user.refresh_token)

    assert refresh(client, other_user.refresh_token).status_code == 200


def test_refresh_with_access_token_is_401(client: TestClient, user: Account) -> None:
    response = refresh(client, user.access_token)

    assert_error(response, 401, "invalid_token", oauth_error="invalid_grant")


def test_refresh_with_garbage_is_401_invalid_grant(client: TestClient) -> None:
    response = refresh(client, "garbage")

    assert_error(response, 401, "invalid_token", None, oauth_error="invalid_grant")


def test_refresh_with_wrong_signature_is_401(client: TestClient, user: Account) -> None:
    forged = sign(claims_of(user.refresh_token), "another-key-" * 4)

    assert_error(refresh(client, forged), 401, "invalid_token", oauth_error="invalid_grant")


def test_refresh_with_expired_token_is_401_token_expired(
    client: TestClient, user: Account, settings: Settings
) -> None:
    claims = claims_of(user.refresh_token)
    past = int(time.time()) - 60
    expired = sign({**claims, "iat": past - 3600, "exp": past}, settings.signing_key)

    assert_error(refresh(client, expired), 401, "token_expired", oauth_error="invalid_grant")


def test_refresh_after_logout_is_401(client: TestClient, user: Account) -> None:
    client.post("/logout", json={"refresh_token": user.refresh_token})

    assert_error(refresh(client, user.refresh_token), 401, "invalid_token")


def test_refresh_of_session_past_its_max_lifetime_is_401(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    sid = claims_of(user.refresh_token)["sid"]
    with db_engine.begin() as connection:
        connection.execute(
            update(Login)
            .where(Login.id == sid)
            .values(created_at=datetime.now(UTC) - timedelta(days=91))
        )

    assert refresh(client, user.refresh_token).status_code == 401


def test_refresh_of_session_within_its_max_lifetime_succeeds(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    sid = claims_of(user.refresh_token)["sid"]
    with db_engine.begin() as connection:
        connection.execute(
            update(Login)
            .where(Login.id == sid)
            .values(created_at=datetime.now(UTC) - timedelta(days=89))
        )

    assert refresh(client, user.refresh_token).status_code == 200


def test_refresh_never_extends_past_the_session_max_lifetime(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    sid = claims_of(user.refresh_token)["sid"]
    login_time = datetime.now(UTC) - timedelta(days=89)
    with db_engine.begin() as connection:
        connection.execute(update(Login).where(Login.id == sid).values(created_at=login_time))

    new_refresh = refresh(client, user.refresh_token).json()["refresh_token"]

    deadline = login_time + timedelta(days=90)
    assert claims_of(new_refresh)["exp"] <= int(deadline.timestamp()) + 1


def test_refresh_without_refresh_token_is_422_invalid_request(client: TestClient) -> None:
    response = client.post("/refresh", json={})

    assert_error(response, 422, "field_required", "refresh_token", oauth_error="invalid_request")


def test_another_users_password_change_leaves_this_session_refreshable(
    client: TestClient, user: Account, other_user: Account
) -> None:
    client.post(
        "/users/me/password",
        headers=other_user.headers,
        json={"current_password": OTHER_PASSWORD, "new_password": "fresh-orbit-lantern-77"},
    )

    assert refresh(client, user.refresh_token).status_code == 200
