"""The /users/{id} routes and GET /users: who may do what (403/404 rules)."""

import pytest
from fastapi.testclient import TestClient
from passlib.context import CryptContext
from sqlalchemy import Engine, insert

from service.models import User
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    assert_error,
    auth_headers,
    count_sessions,
    login,
    login_response,
    me,
    refresh,
    stored_user,
)

NEW_PASSWORD = "fresh-orbit-lantern-77"
HUGE_ID = 2**63


def insert_users(engine: Engine, count: int) -> None:
    """Many accounts at once, straight into the database, with one shared hash."""
    hashed = CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash(STRONG_PASSWORD)
    with engine.begin() as connection:
        connection.execute(
            insert(User),
            [
                {"email": f"user{n:03d}@example.com", "hashed_password": hashed}
                for n in range(count)
            ],
        )


def ids(response_body: list[dict]) -> list[int]:
    return [user["id"] for user in response_body]


# GET /users


def test_list_users_as_superuser_is_ordered_by_id(
    client: TestClient, superuser: Account, user: Account, other_user: Account
) -> None:
    response = client.get("/users", headers=superuser.headers)

    assert response.status_code == 200, response.text
    assert ids(response.json()) == sorted([superuser.id, user.id, other_user.id])


def test_list_users_entries_are_user_objects_without_hashes(
    client: TestClient, superuser: Account
) -> None:
    body = client.get("/users", headers=superuser.headers).json()

    assert body[0]["email"] == "root@example.com"
    assert set(body[0]) == {
        "id",
        "email",
        "full_name",
        "is_active",
        "is_superuser",
        "role",
        "is_verified",
        "pending_email",
        "created_at",
        "updated_at",
    }


def test_list_users_default_limit_is_50(
    client: TestClient, superuser: Account, db_engine: Engine
) -> None:
    insert_users(db_engine, 60)

    response = client.get("/users", headers=superuser.headers)

    assert len(response.json()) == 50


def test_list_users_skip_and_limit_give_a_page(
    client: TestClient, superuser: Account, db_engine: Engine
) -> None:
    insert_users(db_engine, 10)
    everyone = ids(client.get("/users", headers=superuser.headers).json())

    response = client.get("/users", headers=superuser.headers, params={"skip": 3, "limit": 4})

    assert ids(response.json()) == everyone[3:7]


def test_list_users_accepts_limit_100(
    client: TestClient, superuser: Account, db_engine: Engine
) -> None:
    insert_users(db_engine, 120)

    response = client.get("/users", headers=superuser.headers, params={"limit": 100})

    assert response.status_code == 200
    assert len(response.json()) == 100


def test_list_users_accepts_limit_1(client: TestClient, superuser: Account, user: Account) -> None:
    response = client.get("/users", headers=superuser.headers, params={"limit": 1})

    assert ids(response.json()) == [superuser.id]


def test_list_users_skip_past_the_end_is_an_empty_list(
    client: TestClient, superuser: Account
) -> None:
    response = client.get("/users", headers=superuser.headers, params={"skip": 10})

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_list_users_with_limit_out_of_range_is_422_on_limit(
    client: TestClient, superuser: Account, limit: int
) -> None:
    response = client.get("/users", headers=superuser.headers, params={"limit": limit})

    assert_error(response, 422, "invalid_value", "limit")


def test_list_users_with_negative_skip_is_422_on_skip(
    client: TestClient, superuser: Account
) -> None:
    response = client.get("/users", headers=superuser.headers, params={"skip": -1})

    assert_error(response, 422, "invalid_value", "skip")


def test_list_users_with_non_integer_limit_is_422_on_limit(
    client: TestClient, superuser: Account
) -> None:
    response = client.get("/users", headers=superuser.headers, params={"limit": "many"})

    assert_error(response, 422, "invalid_value", "limit")


def test_list_users_with_both_bounds_wrong_lists_both(
    client: TestClient, superuser: Account
) -> None:
    response = client.get("/users", headers=superuser.headers, params={"skip": -1, "limit": 0})

    entries = assert_error(response, 422, "invalid_value", "limit")
    assert {entry["field"] for entry in entries} == {"skip", "limit"}


def test_list_users_as_normal_user_is_403_forbidden(client: TestClient, user: Account) -> None:
    response = client.get("/users", headers=user.headers)

    assert_error(response, 403, "forbidden")


def test_list_users_without_token_is_401(client: TestClient) -> None:
    assert_error(client.get("/users"), 401, "not_authenticated", None)


# GET /users/{id}


def test_get_own_user_as_normal_user_is_200(client: TestClient, user: Account) -> None:
    response = client.get(f"/users/{user.id}", headers=user.headers)

    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"


def test_get_other_existing_user_as_normal_user_is_403(
    client: TestClient, user: Account, other_user: Account
) -> None:
    response = client.get(f"/users/{other_user.id}", headers=user.headers)

    assert_error(response, 403, "forbidden")


def test_get_non_existing_user_as_normal_user_is_403(client: TestClient, user: Account) -> None:
    response = client.get(f"/users/{user.id + 1000}", headers=user.headers)

    assert_error(response, 403, "forbidden")


def test_get_existing_and_missing_users_look_the_same_to_normal_user(
    client: TestClient, user: Account, other_user: Account
) -> None:
    existing = client.get(f"/users/{other_user.id}", headers=user.headers)
    missing = client.get(f"/users/{other_user.id + 1000}", headers=user.headers)

    assert existing.status_code == missing.status_code == 403
    assert existing.json() == missing.json()


def test_get_id_too_large_for_database_as_normal_user_is_403(
    client: TestClient, user: Account
) -> None:
    response = client.get(f"/users/{HUGE_ID}", headers=user.headers)

    assert_error(response, 403, "forbidden")


def test_get_other_user_as_superuser_is_200(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.get(f"/users/{user.id}", headers=superuser.headers)

    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"


def test_get_unknown_user_as_superuser_is_404_not_found(
    client: TestClient, superuser: Account
) -> None:
    response = client.get(f"/users/{superuser.id + 1000}", headers=superuser.headers)

    assert_error(response, 404, "not_found", None)


def test_get_id_too_large_for_database_as_superuser_is_404(
    client: TestClient, superuser: Account
) -> None:
    response = client.get(f"/users/{HUGE_ID}", headers=superuser.headers)

    assert_error(response, 404, "not_found", None)


def test_get_user_with_non_integer_id_is_422_on_user_id(
    client: TestClient, superuser: Account
) -> None:
    response = client.get("/users/abc", headers=superuser.headers)

    assert_error(response, 422, "invalid_value", "user_id")


def test_get_user_without_token_is_401(client: TestClient, user: Account) -> None:
    assert_error(client.get(f"/users/{user.id}"), 401, "not_authenticated", None)


# PUT/PATCH /users/{id}


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_own_full_name_through_user_route(
    client: TestClient, user: Account, method: str
) -> None:
    response = client.request(
        method, f"/users/{user.id}", headers=user.headers, json={"full_name": "Ada King"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Ada King"
    assert response.json()["email"] == "ada@example.com"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("flag", ["is_superuser", "is_active"])
@pytest.mark.parametrize("value", [True, False])
def test_normal_user_setting_a_superuser_flag_on_itself_is_403(
    client: TestClient, user: Account, db_engine: Engine, method: str, flag: str, value: bool
) -> None:
    response = client.request(method, f"/users/{user.id}", headers=user.headers, json={flag: value})

    assert_error(response, 403, "forbidden")
    row = stored_user(db_engine, "ada@example.com")
    assert (row.is_superuser, row.is_active) == (False, True)


def test_normal_user_refused_flag_leaves_other_fields_unchanged(
    client: TestClient, user: Account
) -> None:
    client.patch(
        f"/users/{user.id}",
        headers=user.headers,
        json={"full_name": "Ada King", "is_superuser": True},
    )

    assert me(client, user.access_token).json()["full_name"] is None


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_normal_user_updating_other_user_is_403(
    client: TestClient, user: Account, other_user: Account, method: str
) -> None:
    response = client.request(
        method, f"/users/{other_user.id}", headers=user.headers, json={"full_name": "Hacked"}
    )

    assert_error(response, 403, "forbidden")
    assert me(client, other_user.access_token).json()["full_name"] is None


def test_normal_user_updating_non_existing_user_is_403(client: TestClient, user: Account) -> None:
    response = client.patch(
        f"/users/{user.id + 1000}", headers=user.headers, json={"full_name": "Ghost"}
    )

    assert_error(response, 403, "forbidden")


def test_superuser_updating_unknown_user_is_404(client: TestClient, superuser: Account) -> None:
    response = client.patch(
        f"/users/{superuser.id + 1000}", headers=superuser.headers, json={"full_name": "Ghost"}
    )

    assert_error(response, 404, "not_found", None)


def test_own_email_change_through_user_route_without_current_password_is_422(
    client: TestClient, user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=user.headers, json={"email": "ada.king@example.com"}
    )

    assert_error(response, 422, "field_required", "current_password")


def test_superuser_changes_other_users_full_name(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.put(
        f"/users/{user.id}", headers=superuser.headers, json={"full_name": "Countess"}
    )

    assert response.status_code == 200, response.text
    assert me(client, user.access_token).json()["full_name"] == "Countess"


def test_superuser_changes_other_users_email_without_a_password(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=superuser.headers, json={"email": "Countess@Example.com"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "countess@example.com"
    assert login_response(client, "countess@example.com", STRONG_PASSWORD).status_code == 200


def test_superuser_changing_email_to_a_taken_one_is_409(
    client: TestClient, superuser: Account, user: Account, other_user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=superuser.headers, json={"email": "BOB@example.com"}
    )

    assert_error(response, 409, "email_taken", "email")


def test_superuser_promotes_a_user(client: TestClient, superuser: Account, user: Account) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=superuser.headers, json={"is_superuser": True}
    )

    assert response.json()["is_superuser"] is True
    promoted = login(client, user.email, user.password)
    assert client.get("/users", headers=auth_headers(promoted["access_token"])).status_code == 200


def test_superuser_deactivating_user_makes_its_access_token_fail(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=superuser.headers, json={"is_active": False}
    )

    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_superuser_deactivating_user_makes_its_refresh_token_fail(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_active": False})

    assert_error(refresh(client, user.refresh_token), 401, "invalid_token")


def test_superuser_deactivating_user_makes_its_login_fail(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_active": False})

    response = login_response(client, user.email, STRONG_PASSWORD)

    assert_error(response, 401, "invalid_credentials")


def test_superuser_reactivating_user_lets_it_log_in_again(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_active": False})

    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_active": True})

    assert login_response(client, user.email, STRONG_PASSWORD).status_code == 200


def test_reactivating_user_does_not_revive_its_old_tokens(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_active": False})

    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_active": True})

    assert me(client, user.access_token).status_code == 401
    assert refresh(client, user.refresh_token).status_code == 401


def test_superuser_changing_users_password_needs_no_current_password(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=superuser.headers, json={"password": NEW_PASSWORD}
    )

    assert response.status_code == 200, response.text
    assert login_response(client, user.email, NEW_PASSWORD).status_code == 200
    assert login_response(client, user.email, STRONG_PASSWORD).status_code == 401


def test_superuser_changing_users_password_makes_its_access_token_fail(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"password": NEW_PASSWORD})

    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_superuser_changing_users_password_makes_its_refresh_token_fail(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"password": NEW_PASSWORD})

    assert_error(refresh(client, user.refresh_token), 401, "invalid_token")


def test_superuser_changing_users_password_keeps_the_superuser_signed_in(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"password": NEW_PASSWORD})

    assert me(client, superuser.access_token).status_code == 200


def test_superuser_setting_weak_password_is_422_on_password(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.patch(
        f"/users/{user.id}", headers=superuser.headers, json={"password": "short"}
    )

    assert_error(response, 422, "weak_password", "password")
    assert login_response(client, user.email, STRONG_PASSWORD).status_code == 200


def test_superuser_changing_own_password_through_user_route_needs_current_password(
    client: TestClient, superuser: Account
) -> None:
    response = client.patch(
        f"/users/{superuser.id}", headers=superuser.headers, json={"password": NEW_PASSWORD}
    )

    assert_error(response, 422, "field_required", "current_password")


def test_update_with_unknown_field_is_422_invalid_value(client: TestClient, user: Account) -> None:
    response = client.patch(f"/users/{user.id}", headers=user.headers, json={"nickname": "A"})

    assert_error(response, 422, "invalid_value", "nickname")


# DELETE /users/{id}


def test_superuser_deletes_a_user_with_204(
    client: TestClient, superuser: Account, user: Account
) -> None:
    response = client.delete(f"/users/{user.id}", headers=superuser.headers)

    assert response.status_code == 204
    assert response.content == b""


def test_deleted_users_access_token_is_401(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.delete(f"/users/{user.id}", headers=superuser.headers)

    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_deleted_users_refresh_token_is_401(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.delete(f"/users/{user.id}", headers=superuser.headers)

    assert_error(refresh(client, user.refresh_token), 401, "invalid_token")


def test_deleting_a_user_removes_its_sessions(
    client: TestClient, superuser: Account, user: Account, db_engine: Engine
) -> None:
    client.delete(f"/users/{user.id}", headers=superuser.headers)

    assert count_sessions(db_engine, user.id) == 0
    assert stored_user(db_engine, user.email) is None


def test_deleted_user_is_404_for_superuser(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.delete(f"/users/{user.id}", headers=superuser.headers)

    assert_error(client.get(f"/users/{user.id}", headers=superuser.headers), 404, "not_found")


def test_user_deletes_itself_through_user_route(client: TestClient, user: Account) -> None:
    response = client.delete(f"/users/{user.id}", headers=user.headers)

    assert response.status_code == 204
    assert login_response(client, user.email, STRONG_PASSWORD).status_code == 401


def test_normal_user_deleting_other_user_is_403_and_deletes_nothing(
    client: TestClient, user: Account, other_user: Account
) -> None:
    response = client.delete(f"/users/{other_user.id}", headers=user.headers)

    assert_error(response, 403, "forbidden")
    assert login_response(client, other_user.email, OTHER_PASSWORD).status_code == 200


def test_normal_user_deleting_non_existing_user_is_403(client: TestClient, user: Account) -> None:
    response = client.delete(f"/users/{user.id + 1000}", headers=user.headers)

    assert_error(response, 403, "forbidden")


def test_superuser_deleting_unknown_user_is_404(client: TestClient, superuser: Account) -> None:
    response = client.delete(f"/users/{superuser.id + 1000}", headers=superuser.headers)

    assert_error(response, 404, "not_found", None)


def test_demoted_superuser_loses_access_to_the_list(
    client: TestClient, superuser: Account, user: Account
) -> None:
    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_superuser": True})
    tokens = login(client, user.email, STRONG_PASSWORD)

    client.patch(f"/users/{user.id}", headers=superuser.headers, json={"is_superuser": False})

    # The demotion ended the login: a token of it is refused outright.
    response = client.get("/users", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert_error(response, 401, "invalid_token")
