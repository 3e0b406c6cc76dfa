"""POST /logout and POST /logout/all: ending login sessions."""

import time

from fastapi.testclient import TestClient

from service.config import Settings
from tests.helpers import (
    Account,
    assert_error,
    claims_of,
    login,
    logout,
    me,
    refresh,
    sign,
)


def test_logout_is_204_with_no_body(client: TestClient, user: Account) -> None:
    response = logout(client, user.refresh_token)

    assert response.status_code == 204
    assert response.content == b""


def test_logout_makes_that_refresh_token_fail(client: TestClient, user: Account) -> None:
    logout(client, user.refresh_token)

    assert_error(refresh(client, user.refresh_token), 401, "invalid_token")


def test_logout_makes_that_sessions_access_token_fail(client: TestClient, user: Account) -> None:
    logout(client, user.refresh_token)

    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_logout_ends_the_session_of_a_rotated_token(client: TestClient, user: Account) -> None:
    rotated = refresh(client, user.refresh_token).json()

    logout(client, rotated["refresh_token"])

    assert me(client, rotated["access_token"]).status_code == 401


def test_logout_twice_is_204_both_times(client: TestClient, user: Account) -> None:
    first = logout(client, user.refresh_token)
    second = logout(client, user.refresh_token)

    assert (first.status_code, second.status_code) == (204, 204)


def test_logout_with_garbage_token_is_204(client: TestClient) -> None:
    assert logout(client, "garbage").status_code == 204


def test_logout_with_forged_token_is_204_and_ends_nothing(
    client: TestClient, user: Account
) -> None:
    forged = sign(claims_of(user.refresh_token), "another-key-" * 4)

    assert logout(client, forged).status_code == 204
    assert me(client, user.access_token).status_code == 200


def test_logout_with_expired_refresh_token_ends_its_session(
    client: TestClient, user: Account, settings: Settings
) -> None:
    past = int(time.time()) - 60
    expired = sign(
        {**claims_of(user.refresh_token), "iat": past - 3600, "exp": past}, settings.signing_key
    )

    assert logout(client, expired).status_code == 204
    assert me(client, user.access_token).status_code == 401


def test_logout_with_access_token_is_204_and_ends_nothing(
    client: TestClient, user: Account
) -> None:
    assert logout(client, user.access_token).status_code == 204
    assert refresh(client, user.refresh_token).status_code == 200


def test_logout_leaves_the_users_other_sessions_signed_in(
    client: TestClient, user: Account
) -> None:
    other_login = login(client, user.email, user.password)

    logout(client, user.refresh_token)

    assert me(client, other_login["access_token"]).status_code == 200
    assert refresh(client, other_login["refresh_token"]).status_code == 200


def test_logout_without_refresh_token_is_422_field_required(client: TestClient) -> None:
    response = client.post("/logout", json={})

    assert_error(response, 422, "field_required", "refresh_token")


def test_login_after_logout_works(client: TestClient, user: Account) -> None:
    logout(client, user.refresh_token)

    tokens = login(client, user.email, user.password)

    assert me(client, tokens["access_token"]).status_code == 200


def test_logout_all_is_204_with_no_body(client: TestClient, user: Account) -> None:
    response = client.post("/logout/all", headers=user.headers)

    assert response.status_code == 204
    assert response.content == b""


def test_logout_all_makes_every_refresh_token_fail(client: TestClient, user: Account) -> None:
    other_login = login(client, user.email, user.password)

    client.post("/logout/all", headers=user.headers)

    assert refresh(client, user.refresh_token).status_code == 401
    assert refresh(client, other_login["refresh_token"]).status_code == 401


def test_logout_all_ends_the_calling_access_token(client: TestClient, user: Account) -> None:
    client.post("/logout/all", headers=user.headers)

    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_logout_all_ends_other_sessions_access_tokens(client: TestClient, user: Account) -> None:
    other_login = login(client, user.email, user.password)

    client.post("/logout/all", headers=user.headers)

    assert me(client, other_login["access_token"]).status_code == 401


def test_logout_all_leaves_other_users_signed_in(
    client: TestClient, user: Account, other_user: Account
) -> None:
    client.post("/logout/all", headers=user.headers)

    assert me(client, other_user.access_token).status_code == 200
    assert refresh(client, other_user.refresh_token).status_code == 200


def test_login_after_logout_all_works(client: TestClient, user: Account) -> None:
    client.post("/logout/all", headers=user.headers)

    tokens = login(client, user.email, user.password)

    assert me(client, tokens["access_token"]).status_code == 200


def test_logout_all_without_token_is_401_not_authenticated(client: TestClient) -> None:
    response = client.post("/logout/all")

    assert_error(response, 401, "not_authenticated", None)


def test_logout_all_with_refresh_token_as_bearer_is_401(client: TestClient, user: Account) -> None:
    response = client.post("/logout/all", headers={"Authorization": f"Bearer {user.refresh_token}"})

    assert_error(response, 401, "invalid_token")
    assert me(client, user.access_token).status_code == 200
