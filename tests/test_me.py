"""GET, PATCH and DELETE /users/me: the signed-in user's own account."""

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import (
    STRONG_PASSWORD,
    Account,
    assert_error,
    count_sessions,
    login_response,
    me,
    refresh,
    signup,
    stored_user,
)


def test_get_me_returns_the_signed_in_user(client: TestClient, user: Account) -> None:
    response = me(client, user.access_token)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == user.id
    assert body["email"] == "ada@example.com"
    assert not [key for key in body if "password" in key or "hash" in key]


def test_get_me_without_token_is_401_not_authenticated(client: TestClient) -> None:
    response = client.get("/users/me")

    assert_error(response, 401, "not_authenticated", None)


def test_get_me_with_non_bearer_scheme_is_401(client: TestClient, user: Account) -> None:
    response = client.get("/users/me", headers={"Authorization": f"Basic {user.access_token}"})

    assert_error(response, 401, "not_authenticated", None)


def test_patch_me_changes_full_name(client: TestClient, user: Account) -> None:
    response = client.patch("/users/me", headers=user.headers, json={"full_name": "Ada King"})

    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Ada King"
    assert me(client, user.access_token).json()["full_name"] == "Ada King"


def test_patch_me_full_name_null_clears_it(client: TestClient, user: Account) -> None:
    client.patch("/users/me", headers=user.headers, json={"full_name": "Ada King"})

    response = client.patch("/users/me", headers=user.headers, json={"full_name": None})

    assert response.status_code == 200, response.text
    assert response.json()["full_name"] is None


def test_patch_me_leaves_absent_fields_unchanged(client: TestClient, user: Account) -> None:
    client.patch("/users/me", headers=user.headers, json={"full_name": "Ada King"})

    response = client.patch("/users/me", headers=user.headers, json={})

    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Ada King"
    assert response.json()["email"] == "ada@example.com"


def test_patch_me_email_with_current_password_asks_for_it_normalized(
    client: TestClient, user: Account
) -> None:
    # The change itself waits for the new mailbox: tests/test_email_change.py.
    response = client.patch(
        "/users/me",
        headers=user.headers,
        json={"email": " Ada.King@Example.com ", "current_password": STRONG_PASSWORD},
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "ada@example.com"
    assert response.json()["pending_email"] == "ada.king@example.com"


def test_patch_me_email_without_current_password_is_422_field_required(
    client: TestClient, user: Account
) -> None:
    response = client.patch(
        "/users/me", headers=user.headers, json={"email": "ada.king@example.com"}
    )

    assert_error(response, 422, "field_required", "current_password")
    assert me(client, user.access_token).json()["pending_email"] is None


def test_patch_me_email_with_wrong_current_password_is_403_invalid_current_password(
    client: TestClient, user: Account
) -> None:
    response = client.patch(
        "/users/me",
        headers=user.headers,
        json={"email": "ada.king@example.com", "current_password": "wrong-horse-battery-9"},
    )

    assert_error(response, 403, "invalid_current_password", "current_password")
    assert me(client, user.access_token).json()["pending_email"] is None


def test_patch_me_email_to_taken_address_is_409_email_taken(
    client: TestClient, user: Account, other_user: Account
) -> None:
    response = client.patch(
        "/users/me",
        headers=user.headers,
        json={"email": "BOB@example.com", "current_password": STRONG_PASSWORD},
    )

    assert_error(response, 409, "email_taken", "email")
    assert me(client, user.access_token).json()["pending_email"] is None


def test_patch_me_to_own_email_differently_cased_keeps_it(
    client: TestClient, user: Account
) -> None:
    response = client.patch(
        "/users/me",
        headers=user.headers,
        json={"email": "ADA@example.com", "current_password": STRONG_PASSWORD},
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "ada@example.com"


def test_patch_me_with_invalid_email_is_422_invalid_email(
    client: TestClient, user: Account
) -> None:
    response = client.patch(
        "/users/me",
        headers=user.headers,
        json={"email": "not-an-email", "current_password": STRONG_PASSWORD},
    )

    assert_error(response, 422, "invalid_email", "email")


def test_patch_me_with_unknown_field_is_422_invalid_value(
    client: TestClient, user: Account
) -> None:
    response = client.patch("/users/me", headers=user.headers, json={"full_nmae": "Ada"})

    assert_error(response, 422, "invalid_value", "full_nmae")


def test_patch_me_with_full_name_over_200_characters_is_422_invalid_value(
    client: TestClient, user: Account
) -> None:
    response = client.patch("/users/me", headers=user.headers, json={"full_name": "x" * 201})

    assert_error(response, 422, "invalid_value", "full_name")


def test_patch_me_with_is_superuser_is_422_invalid_value_and_changes_nothing(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    # PATCH /users/me takes no flags: is_superuser is an unknown field there.
    response = client.patch("/users/me", headers=user.headers, json={"is_superuser": True})

    assert_error(response, 422, "invalid_value", "is_superuser")
    assert stored_user(db_engine, "ada@example.com").is_superuser is False


def test_patch_me_without_token_is_401(client: TestClient) -> None:
    response = client.patch("/users/me", json={"full_name": "Ada"})

    assert_error(response, 401, "not_authenticated", None)


def test_delete_me_is_204_with_no_body(client: TestClient, user: Account) -> None:
    response = client.delete("/users/me", headers=user.headers)

    assert response.status_code == 204
    assert response.content == b""


def test_delete_me_removes_the_account(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    client.delete("/users/me", headers=user.headers)

    assert stored_user(db_engine, "ada@example.com") is None
    assert_error(
        login_response(client, "ada@example.com", STRONG_PASSWORD), 401, "invalid_credentials"
    )


def test_delete_me_makes_its_access_token_fail(client: TestClient, user: Account) -> None:
    client.delete("/users/me", headers=user.headers)

    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_delete_me_makes_its_refresh_token_fail(client: TestClient, user: Account) -> None:
    client.delete("/users/me", headers=user.headers)

    assert refresh(client, user.refresh_token).status_code == 401


def test_delete_me_removes_its_sessions(
    client: TestClient, user: Account, db_engine: Engine
) -> None:
    client.delete("/users/me", headers=user.headers)

    assert count_sessions(db_engine, user.id) == 0


def test_delete_me_frees_the_email(client: TestClient, user: Account) -> None:
    client.delete("/users/me", headers=user.headers)

    assert signup(client, email="Ada@example.com").status_code == 201


def test_old_tokens_do_not_open_a_new_account_with_the_same_email(
    client: TestClient, user: Account
) -> None:
    client.delete("/users/me", headers=user.headers)
    signup(client, email="ada@example.com")

    assert me(client, user.access_token).status_code == 401
    assert refresh(client, user.refresh_token).status_code == 401


def test_delete_me_leaves_other_users(
    client: TestClient, user: Account, other_user: Account
) -> None:
    client.delete("/users/me", headers=user.headers)

    assert me(client, other_user.access_token).status_code == 200


def test_delete_me_without_token_is_401(client: TestClient) -> None:
    assert_error(client.delete("/users/me"), 401, "not_authenticated", None)
