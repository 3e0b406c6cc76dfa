"""Changing one's own password: POST /users/me/password, and `password` on PUT/PATCH /users/{id}."""

import pytest
from fastapi.testclient import TestClient

from tests.helpers import (
    STRONG_PASSWORD,
    Account,
    assert_error,
    codes,
    login,
    login_response,
    me,
    refresh,
    register,
)

NEW_PASSWORD = "fresh-orbit-lantern-77"


def change_password(
    client: TestClient,
    account: Account,
    current_password: str = STRONG_PASSWORD,
    new_password: str = NEW_PASSWORD,
) -> int:
    response = client.post(
        "/users/me/password",
        headers=account.headers,
        json={"current_password": current_password, "new_password": new_password},
    )
    return response.status_code


def test_change_password_is_204_with_no_body(client: TestClient, user: Account) -> None:
    response = client.post(
        "/users/me/password",
        headers=user.headers,
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 204, response.text
    assert response.content == b""


def test_old_password_no_longer_logs_in_after_change(client: TestClient, user: Account) -> None:
    change_password(client, user)

    response = login_response(client, user.email, STRONG_PASSWORD)

    assert_error(response, 401, "invalid_credentials")


def test_new_password_logs_in_after_change(client: TestClient, user: Account) -> None:
    change_password(client, user)

    assert login_response(client, user.email, NEW_PASSWORD).status_code == 200


def test_change_password_makes_other_sessions_refresh_token_fail(
    client: TestClient, user: Account
) -> None:
    other_session = login(client, user.email, STRONG_PASSWORD)

    change_password(client, user)

    assert_error(refresh(client, other_session["refresh_token"]), 401, "invalid_token")


def test_change_password_makes_other_sessions_access_token_fail(
    client: TestClient, user: Account
) -> None:
    other_session = login(client, user.email, STRONG_PASSWORD)

    change_password(client, user)

    assert_error(me(client, other_session["access_token"]), 401, "invalid_token")


def test_change_password_keeps_the_current_sessions_refresh_token(
    client: TestClient, user: Account
) -> None:
    change_password(client, user)

    response = refresh(client, user.refresh_token)

    assert response.status_code == 200, response.text
    assert me(client, response.json()["access_token"]).status_code == 200


def test_change_password_ends_earlier_access_tokens_of_the_current_session(
    client: TestClient, user: Account
) -> None:
    change_password(client, user)

    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_change_password_leaves_other_users_signed_in(
    client: TestClient, user: Account, other_user: Account
) -> None:
    change_password(client, user)

    assert me(client, other_user.access_token).status_code == 200


def test_change_password_with_wrong_current_password_is_403_invalid_current_password(
    client: TestClient, user: Account
) -> None:
    response = client.post(
        "/users/me/password",
        headers=user.headers,
        json={"current_password": "wrong-horse-battery-9", "new_password": NEW_PASSWORD},
    )

    assert_error(response, 403, "invalid_current_password", "current_password")


def test_change_password_with_wrong_current_password_changes_nothing(
    client: TestClient, user: Account
) -> None:
    change_password(client, user, current_password="wrong-horse-battery-9")

    assert login_response(client, user.email, STRONG_PASSWORD).status_code == 200
    assert me(client, user.access_token).status_code == 200


def test_change_password_without_current_password_is_422_field_required(
    client: TestClient, user: Account
) -> None:
    response = client.post(
        "/users/me/password", headers=user.headers, json={"new_password": NEW_PASSWORD}
    )

    assert_error(response, 422, "field_required", "current_password")


def test_change_password_without_new_password_is_422_field_required(
    client: TestClient, user: Account
) -> None:
    response = client.post(
        "/users/me/password", headers=user.headers, json={"current_password": STRONG_PASSWORD}
    )

    assert_error(response, 422, "field_required", "new_password")


def test_change_password_to_weak_password_is_422_on_new_password(
    client: TestClient, user: Account
) -> None:
    response = client.post(
        "/users/me/password",
        headers=user.headers,
        json={"current_password": STRONG_PASSWORD, "new_password": "short"},
    )

    entries = assert_error(response, 422, "weak_password", "new_password")
    assert {field for _, field in codes(entries)} == {"new_password"}


def test_change_password_to_weak_password_changes_nothing(
    client: TestClient, user: Account
) -> None:
    change_password(client, user, new_password="password1")

    assert login_response(client, user.email, STRONG_PASSWORD).status_code == 200


def test_change_password_to_one_similar_to_the_email_is_422_on_new_password(
    client: TestClient,
) -> None:
    account = register(client, email="mercator@example.com")

    response = client.post(
        "/users/me/password",
        headers=account.headers,
        json={"current_password": STRONG_PASSWORD, "new_password": "mercator-projection"},
    )

    assert_error(response, 422, "weak_password", "new_password")


def test_change_password_to_over_72_bytes_is_422_on_new_password(
    client: TestClient, user: Account
) -> None:
    response = client.post(
        "/users/me/password",
        headers=user.headers,
        json={"current_password": STRONG_PASSWORD, "new_password": "é" * 37},
    )

    assert_error(response, 422, "weak_password", "new_password")


def test_change_password_without_token_is_401(client: TestClient) -> None:
    response = client.post(
        "/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert_error(response, 401, "not_authenticated", None)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_own_password_through_user_route_without_current_password_is_422(
    client: TestClient, user: Account, method: str
) -> None:
    response = client.request(
        method, f"/users/{user.id}", headers=user.headers, json={"password": NEW_PASSWORD}
    )

    assert_error(response, 422, "field_required", "current_password")
    assert login_response(client, user.email, STRONG_PASSWORD).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_own_password_through_user_route_with_wrong_current_password_is_403(
    client: TestClient, user: Account, method: str
) -> None:
    response = client.request(
        method,
        f"/users/{user.id}",
        headers=user.headers,
        json={"password": NEW_PASSWORD, "current_password": "wrong-horse-battery-9"},
    )

    assert_error(response, 403, "invalid_current_password", "current_password")


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_own_password_through_user_route_changes_it(
    client: TestClient, user: Account, method: str
) -> None:
    response = client.request(
        method,
        f"/users/{user.id}",
        headers=user.headers,
        json={"password": NEW_PASSWORD, "current_password": STRONG_PASSWORD},
    )

    assert response.status_code == 200, response.text
    assert login_response(client, user.email, NEW_PASSWORD).status_code == 200
    assert login_response(client, user.email, STRONG_PASSWORD).status_code == 401


def test_own_password_through_user_route_signs_out_other_sessions_only(
    client: TestClient, user: Account
) -> None:
    other_session = login(client, user.email, STRONG_PASSWORD)

    client.patch(
        f"/users/{user.id}",
        headers=user.headers,
        json={"password": NEW_PASSWORD, "current_password": STRONG_PASSWORD},
    )

    assert refresh(client, other_session["refresh_token"]).status_code == 401
    assert me(client, other_session["access_token"]).status_code == 401
    assert me(client, user.access_token).status_code == 401
    assert refresh(client, user.refresh_token).status_code == 200


def test_own_weak_password_through_user_route_is_422_on_password(
    client: TestClient, user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}",
        headers=user.headers,
        json={"password": "12345678", "current_password": STRONG_PASSWORD},
    )

    assert_error(response, 422, "weak_password", "password")
